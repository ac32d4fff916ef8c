"""Small pieces every node of this package shares: parameters, QoS, logging, main()."""

import contextlib
import logging
import signal
import sys
import threading
import time

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.exceptions import ParameterException
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

try:  # Humble has no ExternalShutdownException in rclpy.executors
    from rclpy.executors import ExternalShutdownException
except ImportError:  # pragma: no cover - Humble only
    class ExternalShutdownException(Exception):
        """Stand-in on distros without it."""


def declare_parameters(node, params):
    """Declare a {name: Param} mapping with descriptors; return {name: value}."""
    values = {}
    for name, param in params.items():
        descriptor = ParameterDescriptor(description=param.description,
                                         read_only=param.read_only,
                                         dynamic_typing=param.any_type)
        if param.low is not None:
            if isinstance(param.default, float):
                descriptor.floating_point_range = [FloatingPointRange(
                    from_value=float(param.low), to_value=float(param.high), step=0.0)]
            else:
                descriptor.integer_range = [IntegerRange(
                    from_value=int(param.low), to_value=int(param.high), step=1)]
        value = node.declare_parameter(name, param.default, descriptor).value
        values[name] = type(param.default)(value) if param.any_type else value
    return values


def matching_reliability(node, topic):
    """Return the reliability that receives what the publishers of `topic` send (or None)."""
    return publishers_reliability(
        node.get_publishers_info_by_topic(node.resolve_topic_name(topic)))


def publishers_reliability(publishers):
    """
    Return the reliability that receives what `publishers` (TopicEndpointInfo) send.

    'reliable' when every publisher is reliable (a best-effort reader would lose fragments of
    large images), 'best_effort' when any is (a reliable reader would not match it), None while
    there is no publisher yet.
    """
    if not publishers:
        return None
    reliable = all(info.qos_profile.reliability == ReliabilityPolicy.RELIABLE
                   for info in publishers)
    return 'reliable' if reliable else 'best_effort'


def qos_profile(reliability, depth):
    """Keep-last QoS with 'reliable' or 'best_effort' reliability."""
    policies = {'reliable': ReliabilityPolicy.RELIABLE,
                'best_effort': ReliabilityPolicy.BEST_EFFORT}
    if reliability not in policies:
        raise ValueError(f'QoS reliability {reliability!r} is not reliable or best_effort')
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=policies[reliability])


class SubscriberGate:
    """
    Tells when every publisher has `count` matched subscribers, and has had them a moment.

    A publisher sees a subscriber matched before the subscriber's side has finished matching
    it; messages sent in between are lost, so `ready()` waits `settle` seconds more (0.5 s
    still lost a frame now and then on a loaded machine). Once ready it stays ready. With
    count 0 it is ready at once.
    """

    def __init__(self, publishers, count, settle=1.0):
        self.publishers = list(publishers)
        self.count = count
        self.settle = settle
        self.matched_at = None
        self.open = count <= 0

    def ready(self):
        """Return True once the subscribers are there and settled."""
        if self.open:
            return True
        if any(p.get_subscription_count() < self.count for p in self.publishers):
            self.matched_at = None
            return False
        self.matched_at = self.matched_at or time.monotonic()
        self.open = time.monotonic() - self.matched_at >= self.settle
        return self.open


def wait_for_acknowledgements(publishers, timeout=2.0):
    """
    Wait until reliable subscribers acknowledged what was published (at most `timeout` s).

    A process that exits right after its last publish otherwise takes the messages not yet
    delivered with it (the end of a video file, of a played bag).
    """
    for publisher in publishers:
        publisher.wait_for_all_acked(Duration(seconds=timeout))


def steady_clock():
    """Return a clock for housekeeping timers that must run under use_sim_time too."""
    return Clock(clock_type=ClockType.STEADY_TIME)


@contextlib.contextmanager
def stop_on_signals():
    """
    Yield an Event that SIGINT and SIGTERM set; the previous handlers come back afterwards.

    rclpy's own handlers shut the context down from inside the signal, while a timer may be
    publishing or the executor building its wait set: "publisher's context is invalid",
    "failed to initialize wait set", a traceback and exit 1 in about half the tries. Here a
    signal only asks the spin loop to end; the node is then destroyed and rclpy shut down in
    order. SIGINT is taken even when it was ignored at start (a process started in the
    background by a shell), as ros2 launch and rclpy expect.
    """
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def init_rclpy(args):
    """rclpy.init without its signal handlers (stop_on_signals handles SIGINT and SIGTERM)."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)


def spin_until_stopped(nodes, stop):
    """Spin `nodes` on one thread until `stop` is set, rclpy shuts down or a node finished."""
    executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    try:
        while rclpy.ok() and not stop.is_set() and \
                not any(getattr(node, 'finished', False) for node in nodes):
            executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown(timeout_sec=1.0)


def exit_code(nodes):
    """Return the largest `exit_code` of the nodes (0 when none set one)."""
    return max([getattr(node, 'exit_code', 0) for node in nodes], default=0)


def run_node(make_node, args=None):
    """Run the node `make_node()` builds until shutdown; return a process exit code (run_nodes)."""
    return run_nodes(lambda nodes: nodes.append(make_node()), args)


def run_nodes(build, args=None, logger='face_detector_ros'):
    """
    Create rclpy, build nodes, spin them on one thread until shutdown; return an exit code.

    `build(nodes)` appends the nodes to the list `nodes` (those built before a failure are
    destroyed too). It may raise a RuntimeError or ValueError to refuse to start, and rclpy
    raises a ParameterException for a parameter of the wrong type: the message is logged as
    FATAL on `logger` and the process exits 1 (a launch file then shows the node as failed).
    A node with a `finished` attribute that turns true (end of a file source, a detector that
    could not configure) ends the spin cleanly, with the largest `exit_code` of the nodes.
    SIGINT and SIGTERM end it with status 0 (stop_on_signals). One thread: rclpy's
    MultiThreadedExecutor took a whole core and delivered 75-79 % of the frames at 65-116 ms
    in the one-process pipeline (benchmarks/bench_pipeline.py); the work per frame is a few
    milliseconds, so a single thread keeps up at 30 FPS with a third of the CPU.
    """
    with stop_on_signals() as stop:
        init_rclpy(args if args is not None else sys.argv)
        nodes = []
        try:
            try:
                build(nodes)
            except (RuntimeError, ValueError, ParameterException) as error:
                rclpy.logging.get_logger(logger).fatal(str(error))
                return 1
            spin_until_stopped(nodes, stop)
            return exit_code(nodes)
        except (KeyboardInterrupt, ExternalShutdownException):
            return 0
        finally:
            for node in nodes:
                node.destroy_node()
            rclpy.try_shutdown()


class _RosLogHandler(logging.Handler):
    """Sends Python logging records of the pure modules to a node's rclpy logger."""

    def __init__(self, ros_logger):
        super().__init__()
        self.ros_logger = ros_logger

    def emit(self, record):
        message = self.format(record)
        if record.levelno >= logging.ERROR:
            self.ros_logger.error(message)
        elif record.levelno >= logging.WARNING:
            self.ros_logger.warning(message)
        elif record.levelno >= logging.INFO:
            self.ros_logger.info(message)
        else:
            self.ros_logger.debug(message)


def forward_logging(name, ros_logger):
    """Return a Python logger whose records go to `ros_logger` (one handler per name)."""
    logger = logging.getLogger(name)
    logger.handlers = [_RosLogHandler(ros_logger)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger
