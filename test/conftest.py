"""Test-wide settings: DDS stays on this machine, and every test gets a domain of its own."""

import itertools
import os

# Set at import, before any test creates an rclpy context; node subprocesses inherit it.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ['ROS_LOCALHOST_ONLY'] = '1'
os.environ['ROS_DOMAIN_ID'] = str(os.getpid() % 90 + 5)
os.environ.setdefault('RCUTILS_COLORIZED_OUTPUT', '0')
# Line-buffered node output, so a failing test shows what the node said.
os.environ['PYTHONUNBUFFERED'] = '1'


import pytest  # noqa: E402
import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

_test_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def ros_domain(monkeypatch):
    """
    Give each test its own ROS_DOMAIN_ID (inherited by the nodes it starts).

    Participants of an earlier test's nodes stay in discovery for seconds after the nodes end;
    in a shared domain they counted as matched subscribers and opened wait_for_subscribers
    gates too early, so the first frame of the next test could be lost.
    """
    domain = (os.getpid() + next(_test_numbers)) % 100 + 1
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
    return domain


@pytest.fixture
def ros_context():
    """Yield an initialised rclpy context, shut down after the test."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


@pytest.fixture
def ros_node(ros_context):
    """Yield (node, executor) in the test process, to subscribe to nodes under test."""
    node = rclpy.create_node('test_probe', context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        executor.shutdown()
        node.destroy_node()
