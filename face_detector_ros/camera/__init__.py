"""Camera input without ROS: frame sources and CameraInfo calibration files."""
