"""
face-detector-pipeline: camera, detector and tracker in one process.

The nodes are the same classes `ros2 launch` starts in three processes, here on one
executor: no copies between processes, one DDS participant set, and a way to run the
whole pipeline where `ros2 launch` is not installed. Parameters come from the same YAML file:

    face-detector-pipeline [--without-camera] [--ros-args --params-file my.yaml]

Without `--params-file` the installed config/face_detector.yaml is used.
"""

import argparse
import functools
import sys

from face_detector_ros.files import default_params_file
from face_detector_ros.nodes.camera_node import CameraNode
from face_detector_ros.nodes.detector_node import DetectorNode
from face_detector_ros.nodes.tracker_node import TrackerNode
from face_detector_ros.ros.common import run_nodes
import rclpy

# Detector and tracker read the camera's image_raw, as the launch file remaps them.
IMAGE_REMAP = ['--ros-args', '-r', 'image:=image_raw']


def build_nodes(nodes, with_camera=True):
    """Append the pipeline's nodes to `nodes` (the caller destroys those built if one fails)."""
    if with_camera:
        nodes.append(CameraNode())
    nodes.append(DetectorNode(cli_args=IMAGE_REMAP))  # configures itself (autostart)
    nodes.append(TrackerNode(cli_args=IMAGE_REMAP))


def main(argv=None):
    """Run the pipeline until the camera's source ends or the process is interrupted."""
    argv = list(sys.argv if argv is None else argv)
    ros_args = rclpy.utilities.remove_ros_args(argv)
    parser = argparse.ArgumentParser(prog='face-detector-pipeline', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--without-camera', action='store_true',
                        help='detector and tracker only (images from a bag or another camera)')
    options = parser.parse_args(ros_args[1:])
    if '--params-file' not in argv:  # first, so that the user's -p overrides it
        argv[1:1] = ['--ros-args', '--params-file', str(default_params_file()), '--']
    # A node that ends with an error (the camera's FATAL, a detector that could not configure)
    # makes the pipeline fail: run_nodes returns the largest exit code of the nodes.
    return run_nodes(functools.partial(build_nodes, with_camera=not options.without_camera),
                     argv, logger='face_detector_pipeline')


if __name__ == '__main__':
    sys.exit(main())
