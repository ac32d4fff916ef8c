"""Shared node pieces that need no running graph: the publisher-reliability rule."""

from types import SimpleNamespace

from face_detector_ros.ros.common import publishers_reliability
from rclpy.qos import ReliabilityPolicy


def publisher(reliability):
    return SimpleNamespace(qos_profile=SimpleNamespace(reliability=reliability))


def test_reliability_that_matches_every_publisher():
    reliable, best_effort = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
    assert publishers_reliability([]) is None
    assert publishers_reliability([publisher(reliable)] * 2) == 'reliable'
    assert publishers_reliability([publisher(reliable), publisher(best_effort)]) == 'best_effort'
