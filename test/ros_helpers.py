"""Helpers for tests that run nodes in their own processes, as `ros2 launch` does."""

import time

from builtin_interfaces.msg import Time
# Re-exported for the tests.
from face_detector_ros.simulation.processes import executable, NodeProcess  # noqa: F401
from std_msgs.msg import Header


def spin_until(executor, predicate, timeout):
    """Spin `executor` until predicate() is true or `timeout` seconds pass; return predicate()."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return predicate()


def handshake(executor, send, answers, timeout=20, stamped=True):
    """
    Send messages until one is answered, then wait for the answer to the last one sent.

    A publisher that sees a subscription may not be seen by it yet, and what it sends until
    then is lost: a test whose first message was lost would wait in vain. send(header)
    publishes a message with that header (stamped before 100 s, or unstamped); `answers`
    collects the replies, which copy it. True once connected, with nothing still on its way.
    """
    sent = []
    deadline = time.monotonic() + timeout
    while not answers and time.monotonic() < deadline:
        count = len(sent)
        stamp = Time(sec=50 + count // 10, nanosec=count % 10 * 100_000_000)
        sent.append(Header(stamp=stamp if stamped else Time(), frame_id=f'handshake {count}'))
        send(sent[-1])
        spin_until(executor, lambda: answers, 0.2)
    return bool(answers) and spin_until(executor, lambda: answers[-1].header == sent[-1],
                                        timeout)
