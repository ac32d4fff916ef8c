"""Face detection and tracking for ROS 2 robots."""

__version__ = '0.1.0'
