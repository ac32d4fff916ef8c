"""Rosbag2 bags without rosbag2: reading, writing, and the pipeline run over a bag."""
