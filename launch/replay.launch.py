"""
Detector and tracker on a replayed rosbag, on the bag's clock.

face-detector-bag play BAG --clock   (or: ros2 bag play BAG --clock)
ros2 launch face_detector_ros replay.launch.py [image_topic:=/camera/image_raw]
    [camera_info_topic:=/camera/camera_info]
"""

import os

from ament_index_python.packages import get_package_share_directory
from face_detector_ros.files import fastdds_environment
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def nodes(context):
    """Build detector and tracker on the bag's topics, with use_sim_time."""
    def value(name):
        return LaunchConfiguration(name).perform(context)

    remappings = [('image', value('image_topic')), ('camera_info', value('camera_info_topic'))]
    common = {'package': 'face_detector_ros', 'namespace': value('namespace'),
              'parameters': [value('params_file'), {'use_sim_time': True}],
              'remappings': remappings, 'output': 'screen', 'emulate_tty': True}
    profile = [SetEnvironmentVariable(name, path)
               for name, path in fastdds_environment(value('fastdds_profile')).items()]
    return profile + [
        Node(executable='detector_node', name='face_detector', **common),
        Node(executable='tracker_node', name='face_tracker', **common),
    ]


def generate_launch_description():
    share = get_package_share_directory('face_detector_ros')
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'face_detector.yaml')),
        DeclareLaunchArgument('image_topic', default_value='image_raw',
                              description='Image topic in the bag'),
        DeclareLaunchArgument('camera_info_topic', default_value='camera_info',
                              description='CameraInfo topic in the bag (bearing and range)'),
        DeclareLaunchArgument('namespace', default_value=''),
        DeclareLaunchArgument('fastdds_profile',
                              default_value=os.path.join(share, 'config', 'fastdds.xml'),
                              description="Fast DDS profile; '' for the defaults"),
        OpaqueFunction(function=nodes),
    ])
