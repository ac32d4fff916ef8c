"""Helpers for tests that run nodes in their own processes, as `ros2 launch` does."""

import time

# Re-exported for the tests.
from face_detector_ros.simulation.processes import executable, NodeProcess  # noqa: F401


def spin_until(executor, predicate, timeout):
    """Spin `executor` until predicate() is true or `timeout` seconds pass; return predicate()."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return predicate()
