"""Face detection without ROS: model cards, OpenVINO engine, decoders, NMS, drawing."""
