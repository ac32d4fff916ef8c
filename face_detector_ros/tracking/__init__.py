"""Tracking without ROS: the Kalman tracker, its greedy baseline, face geometry."""
