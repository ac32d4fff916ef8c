"""
Detector and tracker on a replayed rosbag, on the bag's clock.

face-detector-bag play BAG --clock   (or: ros2 bag play BAG --clock)
ros2 launch face_detector_ros replay.launch.py [image_topic:=/camera/image_raw]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory('face_detector_ros')
    params = [LaunchConfiguration('params_file'), {'use_sim_time': True}]
    image = ('image', LaunchConfiguration('image_topic'))
    profile = LaunchConfiguration('fastdds_profile')
    common = {'package': 'face_detector_ros', 'namespace': LaunchConfiguration('namespace'),
              'parameters': params, 'output': 'screen', 'emulate_tty': True}
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'face_detector.yaml')),
        DeclareLaunchArgument('image_topic', default_value='image_raw',
                              description='Image topic in the bag'),
        DeclareLaunchArgument('namespace', default_value=''),
        DeclareLaunchArgument('fastdds_profile',
                              default_value=os.path.join(share, 'config', 'fastdds.xml')),
        SetEnvironmentVariable('FASTRTPS_DEFAULT_PROFILES_FILE', profile),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', profile),
        Node(executable='detector_node', name='face_detector', remappings=[image], **common),
        Node(executable='tracker_node', name='face_tracker', remappings=[image], **common),
    ])
