"""The ROS 2 nodes: rclpy Node classes and their main() only; the logic lives elsewhere."""
