"""REP 155 (ROS4HRI) face data, without rclpy."""
