"""Message glue: ROS messages <-> numpy, image encodings, stamps, QoS and parameters."""
