"""
face-detector-bag: play, record and process rosbag2 bags without rosbag2.

    face-detector-bag play BAG [--rate R] [--loop] [--topics T ...] [--clock] [--pace-on T]
    face-detector-bag record OUT --topics T ... [--storage mcap|sqlite3] [--duration S]
    face-detector-bag process IN OUT [--image-topic T] [--annotate] [--mot TRACKS.txt]
    face-detector-bag process IN... OUT_DIR [--from-list L] [--workers N] [--ray-address A]

BAG and IN are rosbag2 directories or single .mcap / .db3 files; OUT is a new rosbag2 directory
that appears only when complete. play and record move CDR bytes, never decode messages. Given
several inputs, folders of bags, globs or a list, process writes one bag per input into
OUT_DIR, in parallel on Ray with --workers or --ray-address (face_detector_ros.fleet).
"""

import argparse
import contextlib
import glob
import importlib
from pathlib import Path
import signal
import sys
import threading
import time

from face_detector_ros import fleet
from face_detector_ros.bags.bag_io import (
    add_typed_connection,
    bag_writer,
    BagError,
    describe_differences,
    open_bag,
    read_messages,
    select_connections,
    STORAGES,
)
from face_detector_ros.bags.batch import BAG_SUFFIXES, BagWorker, find_bags
from face_detector_ros.detection.engine import EngineError
from face_detector_ros.detection.model_cards import ModelError
from face_detector_ros.files import check_apart
from face_detector_ros.ros.common import (
    matching_reliability,
    publishers_reliability,
    qos_profile,
    SubscriberGate,
    wait_for_acknowledgements,
)
from face_detector_ros.ros.stamps import stamp_key
from face_detector_ros.tools.cli import CliError, console_main
import rclpy
from rclpy.exceptions import InvalidTopicNameException
from rclpy.executors import SingleThreadedExecutor
from rclpy.serialization import deserialize_message
from rclpy.signals import SignalHandlerOptions
from rclpy.validate_topic_name import validate_topic_name
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from tqdm import tqdm


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-detector-bag',
        description='Play, record and process rosbag2 bags (mcap, sqlite3) without rosbag2.')
    commands = parser.add_subparsers(dest='command', required=True)

    play = commands.add_parser(
        'play', help='publish a bag on live topics at its recorded timing',
        description='Publish the messages of a bag on their topics at the recorded timing.')
    play.add_argument('bag', help='rosbag2 directory or .mcap / .db3 file')
    play.add_argument('--rate', type=float, default=1.0,
                      help='speed factor of the recorded timing (%(default)s)')
    play.add_argument('--loop', action='store_true', help='start again at the end')
    play.add_argument('--topics', nargs='+', metavar='TOPIC', help='play only these topics')
    play.add_argument('--clock', action='store_true',
                      help='publish the bag time on /clock (for use_sim_time nodes)')
    play.add_argument('--qos', choices=('reliable', 'best_effort'), default='reliable',
                      help='publisher reliability (%(default)s; best effort loses large images '
                      'between processes)')
    play.add_argument('--wait-for-subscribers', type=int, default=0, metavar='N',
                      help='start once every played topic has N subscribers (%(default)s)')
    play.add_argument('--pace-on', metavar='TOPIC',
                      help='publish the next message of the paced topic only once TOPIC has '
                      'answered the previous one (a message with its stamp or a later one), '
                      'so that a latest-frame-wins pipeline gets every frame')
    play.add_argument('--paced-topic', metavar='TOPIC',
                      help='the played topic that --pace-on paces (default: the only Image or '
                      'CompressedImage topic played)')
    play.add_argument('--pace-timeout', type=float, default=5.0, metavar='S',
                      help='go on, with a warning, after S seconds without an answer '
                      '(%(default)s)')

    record = commands.add_parser(
        'record', help='record live topics into a new bag',
        description='Record topics, each with the type and reliability of its publishers, '
        'until Ctrl-C / SIGTERM, --duration or --max-messages.')
    record.add_argument('output', help='new rosbag2 directory')
    record.add_argument('--topics', nargs='+', required=True, metavar='TOPIC')
    record.add_argument('--storage', choices=tuple(STORAGES), default='mcap',
                        help='storage format (%(default)s)')
    record.add_argument('--duration', type=float, metavar='S', help='stop after S seconds')
    record.add_argument('--max-messages', type=int, metavar='N',
                        help='stop after N messages (all topics together)')

    process = commands.add_parser(
        'process', help='run detector and tracker over bags into new bags',
        description='Run the detector and the tracker over every image of a bag, as fast as '
        'the machine allows and deterministically; write the input messages plus detections, '
        'tracks (and tracks_image) next to the image topic into a new bag. Several inputs '
        '(bags, folders searched for bags, quoted globs, --from-list) give one bag per input '
        'in the OUT folder, named after its path from the inputs\' common folder with "_" '
        'between folders (robot1/day2/run3.mcap: OUT/robot1_day2_run3), in parallel with '
        '--workers or --ray-address (Ray, pip install .[fleet]); a failed bag is retried once, '
        'the others go on.')
    process.add_argument('inputs', nargs='*', metavar='IN',
                         help='rosbag2 directory or .mcap / .db3 file; or folders, globs')
    process.add_argument('output', metavar='OUT',
                         help='new rosbag2 directory (several inputs: the folder of the bags)')
    fleet.add_arguments(process, 'bags', 'the bags and OUT')
    process.add_argument('--image-topic', help='image topic (default: the only Image or '
                         'CompressedImage topic of the bag)')
    process.add_argument('--params-file', help='node parameters YAML (default: the installed '
                         'config/face_detector.yaml)')
    process.add_argument('--model', help='model, overriding the parameters file')
    process.add_argument('--device', help='device list, overriding the parameters file')
    process.add_argument('--annotate', action='store_true',
                         help='also write bgr8 images with the tracks drawn (tracks_image)')
    process.add_argument('--storage', choices=tuple(STORAGES), default='mcap',
                         help='storage format of the output (%(default)s)')
    process.add_argument('--mot', metavar='TRACKS.txt',
                         help='also write the tracks as a MOTChallenge file (1-based frames); '
                         'several inputs: a folder with one NAME.txt per bag')
    process.add_argument('--strict', action='store_true',
                         help='stop at an image that cannot be decoded (default: skip it, '
                         'count it and say so)')
    args = parser.parse_args(argv)
    if args.command == 'play' and not args.rate > 0:
        parser.error('--rate must be positive')
    if args.command == 'play' and not args.pace_timeout > 0:
        parser.error('--pace-timeout must be positive')
    if args.command == 'play' and args.paced_topic and not args.pace_on:
        parser.error('--paced-topic needs --pace-on')
    if args.command == 'record':
        # --duration 0 recorded for ever and -5 stopped at once.
        if args.duration is not None and not 0 < args.duration < float('inf'):
            parser.error(f'--duration {args.duration} must be a positive number of seconds')
        if args.max_messages is not None and args.max_messages < 1:
            parser.error(f'--max-messages {args.max_messages} must be at least 1')
        for topic in args.topics:  # rcl raised an RCLError traceback at the subscription
            try:
                validate_topic_name(topic)
            except InvalidTopicNameException as error:
                parser.error(f'--topics {topic!r}: {str(error).splitlines()[0].rstrip(":")}')
    return args


@contextlib.contextmanager
def ros_node(name):
    """Yield (node, stop): a node in its own context; SIGINT and SIGTERM set `stop`."""
    context = rclpy.Context()
    rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    node = rclpy.create_node(name, context=context)
    try:
        yield node, stop
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def message_class(msgtype):
    """Return the ROS message class of 'pkg/msg/Name' (or a 'pkg/srv/Name_Event' topic type)."""
    parts = msgtype.split('/')
    if len(parts) != 3:
        raise CliError(f'message type {msgtype!r} is not of the form package/msg/Name')
    package, kind, name = parts
    try:
        return getattr(importlib.import_module(f'{package}.{kind}'), name)
    except (ImportError, AttributeError):
        raise CliError(f'message type {msgtype} is not installed; install the {package} '
                       'package or leave its topic out with --topics') from None


def playable(connections):
    """Return {connection id: message class} of the connections whose type is installed."""
    classes = {}
    for conn in connections:
        try:
            classes[conn.id] = message_class(conn.msgtype)
        except CliError as error:
            print(f'warning: skipping {conn.topic}: {error}', file=sys.stderr, flush=True)
    if not classes:
        raise CliError('none of the topics can be played: their message types are not '
                       'installed')
    return classes


def wait_until(deadline, stop):
    """Sleep until time.monotonic() reaches `deadline` or `stop` is set."""
    while not stop.is_set() and time.monotonic() < deadline:
        time.sleep(min(0.05, deadline - time.monotonic()))


IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')


def paced_topic(connections, requested):
    """Return the played topic that --pace-on paces: `requested`, or the only image topic."""
    topics = {conn.topic: conn.msgtype for conn in connections}
    if requested:
        if requested not in topics:
            raise CliError(f'--paced-topic {requested} is not played; played: '
                           f'{", ".join(sorted(topics))}')
        return requested
    images = sorted(topic for topic, msgtype in topics.items() if msgtype in IMAGE_TYPES)
    if len(images) != 1:
        found = f'image topics {", ".join(images)}' if images else 'no image topic'
        raise CliError(f'--pace-on needs one paced topic and the played topics have {found}: '
                       'choose one with --paced-topic')
    return images[0]


class Pacer:
    """
    Holds play until a pipeline answered the last paced message on the answer topic.

    An answer is a message on the answer topic whose header stamp is the paced message's or a
    later one (a frame the pipeline skipped is answered by the next); without headers on either
    side, any message that arrives after the paced one was published.
    """

    def __init__(self, node, topic, timeout):
        """Answers come on `topic` (resolved in the node's namespace); wait at most `timeout` s."""
        self.node = node
        self.topic = node.resolve_topic_name(topic)
        self.timeout = timeout
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(node)
        self.subscription = None
        self.answers = 0
        self.latest = None
        self.timeouts = 0

    def subscribe(self, stop):
        """Wait for a publisher of the answer topic, then subscribe with its type and QoS."""
        print(f'pacing on {self.topic}: waiting for its publisher', flush=True)
        while not stop.is_set():
            publishers = self.node.get_publishers_info_by_topic(self.topic)
            if publishers:
                break
            time.sleep(0.05)
        else:
            return
        types = {info.topic_type for info in publishers}
        if len(types) != 1:
            raise CliError(f'{self.topic} has publishers of several types: {sorted(types)}')
        reliability = matching_reliability(self.node, self.topic) or 'reliable'
        self.subscription = self.node.create_subscription(
            message_class(types.pop()), self.topic, self.on_answer,
            qos_profile(reliability, 10))
        # Matched on this side too (rclpy has no get_publisher_count before Iron: skip there).
        count = getattr(self.subscription, 'get_publisher_count', None)
        while count is not None and not stop.is_set() and count() < 1:
            self.executor.spin_once(timeout_sec=0.05)

    def on_answer(self, msg):
        self.answers += 1
        header = getattr(msg, 'header', None)
        if header is not None:
            key = stamp_key(header)
            self.latest = key if self.latest is None else max(self.latest, key)

    def restart(self):
        """Forget the stamps answered (a new pass of a loop replays the same stamps)."""
        self.latest = None

    def wait(self, stamp, answers_before, stop, label):
        """Spin until the message of `stamp` (None: no header) is answered, or time runs out."""
        def answered():
            if stamp is not None and self.latest is not None:
                return self.latest >= stamp
            return self.answers > answers_before

        deadline = time.monotonic() + self.timeout
        while not stop.is_set() and not answered():
            if time.monotonic() >= deadline:
                self.timeouts += 1
                print(f'warning: no answer on {self.topic} within {self.timeout:g} s of {label}; '
                      f'going on ({self.timeouts} so far)', file=sys.stderr, flush=True)
                return False
            self.executor.spin_once(timeout_sec=0.02)
        return True


def play(args):
    """Publish the bag's messages at the recorded timing, once or in a loop."""
    from builtin_interfaces.msg import Time
    from rosgraph_msgs.msg import Clock

    differences = []
    with open_bag(args.bag, differences) as reader, \
            ros_node('face_detector_bag_play') as (node, stop):
        connections = select_connections(reader, args.topics)
        classes = playable(connections)  # a type not installed skips its topic, with a line
        connections = [conn for conn in connections if conn.id in classes]
        played_topics = {conn.topic for conn in connections}
        differences = [(topic, what) for topic, what in differences if topic in played_topics]
        if differences:
            print(f'{describe_differences(args.bag, differences)}, published {args.qos}, '
                  'depth 10 (--qos)', flush=True)
        qos = qos_profile(args.qos, 10)
        by_topic = {conn.topic: node.create_publisher(classes[conn.id], conn.topic, qos)
                    for conn in connections}
        publishers = {conn.id: by_topic[conn.topic] for conn in connections}
        clock = node.create_publisher(Clock, '/clock', qos_profile('reliable', 1)) \
            if args.clock else None
        pacer = paced = None
        if args.pace_on:
            paced = paced_topic(connections, args.paced_topic)
            paced_class = next(classes[c.id] for c in connections if c.topic == paced)
            pacer = Pacer(node, args.pace_on, args.pace_timeout)
            pacer.subscribe(stop)
        if args.wait_for_subscribers > 0:
            print(f'waiting for {args.wait_for_subscribers} subscriber(s) on '
                  f'{", ".join(by_topic)}', flush=True)
            gate = SubscriberGate(by_topic.values(), args.wait_for_subscribers)
            while not stop.is_set() and not gate.ready():
                time.sleep(0.05)
        played, passes, started = 0, 0, time.monotonic()
        while not stop.is_set() and (passes == 0 or args.loop):
            passes += 1
            first = wall_start = None
            if pacer is not None:
                pacer.restart()
            for conn, timestamp, data in read_messages(reader, connections):
                if first is None:
                    first, wall_start = timestamp, time.monotonic()
                wait_until(wall_start + (timestamp - first) * 1e-9 / args.rate, stop)
                if stop.is_set():
                    break
                if clock is not None:
                    clock.publish(Clock(clock=Time(sec=timestamp // 10**9,
                                                   nanosec=timestamp % 10**9)))
                answers_before = pacer.answers if pacer is not None else 0
                publishers[conn.id].publish(bytes(data))
                played += 1
                if pacer is not None and conn.topic == paced:
                    # The next message: never before its recorded time, nor before this answer.
                    header = getattr(deserialize_message(bytes(data), paced_class), 'header',
                                     None)
                    stamp = stamp_key(header) if header is not None else None
                    pacer.wait(stamp, answers_before, stop, f'message {played} on {paced}')
            if first is None:
                break  # nothing to play: do not loop on an empty bag
        wait_for_acknowledgements([*publishers.values(), *([clock] if clock is not None else [])])
        if pacer is not None:
            pacer.executor.shutdown()
        listed = sum(conn.msgcount for conn in connections)
        if played == 0 and listed and not stop.is_set():
            # rosbags yields nothing from storage it cannot match: never call that success.
            raise CliError(f'played none of the {listed} messages that {args.bag} lists on '
                           'the played topics')
    timeouts = f'; {pacer.timeouts} answers on {pacer.topic} timed out' \
        if pacer is not None and pacer.timeouts else ''
    print(f'played {played} messages on {len(by_topic)} topics in '
          f'{time.monotonic() - started:.1f} s ({passes} pass{"es" if passes > 1 else ""})'
          f'{timeouts}')


def offered_qos(publishers):
    """Return the QoS profiles `publishers` offer as rosbags profiles, as rosbag2 records them."""
    def policy(enum, value):
        try:
            return enum(int(value))
        except ValueError:
            return enum.UNKNOWN

    def time(duration):
        return QosTime(*divmod(duration.nanoseconds, 10**9))

    profiles = []
    for info in publishers:
        qos = info.qos_profile
        profiles.append(Qos(
            policy(QosHistory, qos.history), qos.depth, policy(QosReliability, qos.reliability),
            policy(QosDurability, qos.durability), time(qos.deadline), time(qos.lifespan),
            policy(QosLiveliness, qos.liveliness), time(qos.liveliness_lease_duration),
            bool(qos.avoid_ros_namespace_conventions)))
    return profiles


class Recorder:
    """Subscribes raw to topics once their publishers show, and writes what arrives."""

    def __init__(self, node, writer, topics):
        """Record `topics` (resolved against the node's namespace) with `node` into `writer`."""
        self.node = node
        self.writer = writer
        self.pending = [node.resolve_topic_name(topic) for topic in topics]
        self.subscriptions = []
        self.count = 0

    def subscribe_ready(self):
        """Subscribe to every pending topic that now has publishers, with their type and QoS."""
        for topic in list(self.pending):
            publishers = self.node.get_publishers_info_by_topic(topic)
            if not publishers:
                continue
            types = {info.topic_type for info in publishers}
            if len(types) != 1:
                raise CliError(f'{topic} has publishers of several types: {sorted(types)}')
            msgtype = types.pop()
            reliability = publishers_reliability(publishers)
            # The offered profiles, which `ros2 bag play` offers again.
            connection = add_typed_connection(self.writer, topic, msgtype,
                                              offered_qos(publishers))
            self.subscriptions.append(self.node.create_subscription(
                message_class(msgtype), topic, lambda data, c=connection: self.write(c, data),
                qos_profile(reliability, 100), raw=True))
            self.pending.remove(topic)
            print(f'recording {topic} ({msgtype}, {reliability})', flush=True)

    def write(self, connection, data):
        """Write one received message at its reception time."""
        self.writer.write(connection, self.node.get_clock().now().nanoseconds, data)
        self.count += 1


def record(args):
    """Record until a signal, --duration or --max-messages; the bag is closed in every case."""
    started = time.monotonic()
    deadline = started + args.duration if args.duration else float('inf')
    # The bag closes inside ros_node, whose stop handler keeps a second Ctrl-C from aborting it.
    with ros_node('face_detector_bag_record') as (node, stop), \
            bag_writer(args.output, args.storage) as writer:
        recorder = Recorder(node, writer, args.topics)
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        print(f'waiting for publishers on {", ".join(recorder.pending)}', flush=True)
        while not stop.is_set() and time.monotonic() < deadline and (
                args.max_messages is None or recorder.count < args.max_messages):
            if recorder.pending:
                recorder.subscribe_ready()
            executor.spin_once(timeout_sec=0.05)
        # Stopped: write what already arrived (delivered and acknowledged, not yet taken), for
        # at most a second if the publishers go on.
        drain_until = time.monotonic() + 1.0
        while (args.max_messages is None or recorder.count < args.max_messages) and \
                time.monotonic() < drain_until:
            count = recorder.count
            executor.spin_once(timeout_sec=0.02)
            if recorder.count == count:
                break
        executor.shutdown()
    if recorder.pending:
        print(f'no publishers showed on {", ".join(recorder.pending)}', file=sys.stderr)
    print(f'recorded {recorder.count} messages in {time.monotonic() - started:.1f} s to '
          f'{args.output}')


def process(args):
    """Run detector and tracker over one bag, or over many into a folder; print a summary."""
    try:
        paths = fleet.expand_inputs(args.inputs, args.from_list)
        if not paths:
            raise CliError('give at least one bag (or --from-list)')
        # One bag named as such gives the bag OUT; folders, globs, lists and several give a folder.
        batch = len(paths) > 1 or args.from_list is not None or \
            any(glob.has_magic(text) for text in args.inputs) or \
            (Path(paths[0]).is_dir() and not (Path(paths[0]) / 'metadata.yaml').exists())
        items = batch_items(paths, args.output, args.mot) if batch else \
            [(str(paths[0]), args.output, args.mot)]
        options = {'params_file': args.params_file, 'model': args.model, 'device': args.device,
                   'image_topic': args.image_topic, 'annotate': args.annotate,
                   'storage': args.storage, 'strict': args.strict, 'progress': not batch}
        started = time.perf_counter()
        outputs = [path for _, output, mot in items for path in (output, mot) if path]
        try:
            results = fleet.run(BagWorker, options, items, args.workers, args.ray_address,
                                on_result=lambda result: tell(result, batch),
                                progress=None if batch else False)
        except KeyboardInterrupt:
            if not batch:
                raise
            print('face-detector-bag: interrupted; the bags finished so far are in '
                  f'{args.output}, the others not written', file=sys.stderr)
            return 130
        finally:
            fleet.remove_partials(outputs)
    except (EngineError, ModelError, fleet.FleetError) as error:
        raise CliError(str(error)) from None
    failed = [result for result in results if not result.ok]
    if not batch:
        if failed:
            raise CliError(failed[0].error)
        return 0
    print(fleet.summary_table(results, time.perf_counter() - started), file=sys.stderr)
    if failed:
        raise CliError(f'{len(failed)} of {len(results)} bags failed after a retry (warnings '
                       f'above); the others are in {args.output}')
    return 0


def batch_items(paths, output, mot):
    """Return (bag, output bag, MOT file or None) per bag `paths` name, outputs in folders."""
    bags = find_bags(paths)
    names = fleet.unique_names(bags, BAG_SUFFIXES)
    for folder in (output, mot):
        if folder is None:
            continue
        if Path(folder).exists() and not Path(folder).is_dir():
            raise CliError(f'{folder} is a file; with several inputs it names a folder (one '
                           'output per input)')
        check_apart(folder, [*paths, *bags])
    return [(str(bag), str(Path(output) / name),
             str(Path(mot) / f'{name}.txt') if mot else None) for bag, name in zip(bags, names)]


def tell(result, batch):
    """Print what became of one input, as soon as it and those before it are done."""
    source = result.item[0]
    if not result.ok:
        if batch:
            tqdm.write(f'face-detector-bag: warning: {source}: {result.error} (tried '
                       f'{result.tries} times)', file=sys.stderr)
        return
    for lines, stream in ((result.value['stdout'], sys.stdout),
                          (result.value['stderr'], sys.stderr)):
        for line in lines:
            tqdm.write(f'{source}: {line}' if batch else line, file=stream)


@console_main
def main(argv=None):
    """Run face-detector-bag."""
    args = parse_args(argv)
    try:
        return {'play': play, 'record': record, 'process': process}[args.command](args)
    except BagError as error:
        raise CliError(str(error)) from None


if __name__ == '__main__':
    sys.exit(main())
