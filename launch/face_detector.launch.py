"""
Camera, detector and tracker, each in its own process, configured by one YAML file.

ros2 launch face_detector_ros face_detector.launch.py [source:=/dev/video0] [device:=MYRIAD,CPU]
    [namespace:=front] [params_file:=my.yaml] [hri:=true]
"""

import os

from ament_index_python.packages import get_package_share_directory
from face_detector_ros.files import fastdds_environment
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def nodes(context):
    """Build the three nodes; source and device override the params file only when given."""
    def value(name):
        return LaunchConfiguration(name).perform(context)

    def overrides(*names):
        return [{name: ParameterValue(value(name), value_type=str)} for name in names
                if value(name)]

    common = {'package': 'face_detector_ros', 'namespace': value('namespace'),
              'output': 'screen', 'emulate_tty': True}
    params = [value('params_file')]
    hri = [Node(executable='hri_node', name='hri_faces', parameters=params,
                remappings=[('image', 'image_raw')], **common)]
    return fastdds_profile(value('fastdds_profile')) + [
        Node(executable='camera_node', name='camera',
             parameters=params + overrides('source'), **common),
        Node(executable='detector_node', name='face_detector',
             parameters=params + overrides('device'),
             remappings=[('image', 'image_raw')], **common),
        Node(executable='tracker_node', name='face_tracker', parameters=params,
             remappings=[('image', 'image_raw')], **common),
    ] + (hri if value('hri').lower() in ('true', '1') else [])


def fastdds_profile(path):
    """Point Fast DDS at a profile (files.fastdds_environment); '' keeps its defaults."""
    return [SetEnvironmentVariable(name, value)
            for name, value in fastdds_environment(path).items()]


def generate_launch_description():
    share = get_package_share_directory('face_detector_ros')
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'face_detector.yaml'),
                              description='Parameters of all nodes'),
        DeclareLaunchArgument('source', default_value='',
                              description='Camera source (device, video, folder); '
                                          'empty: the params file value'),
        DeclareLaunchArgument('device', default_value='',
                              description='Inference device list, e.g. MYRIAD,CPU; '
                                          'empty: the params file value'),
        DeclareLaunchArgument('namespace', default_value='', description='Namespace of all'),
        DeclareLaunchArgument('hri', default_value='false',
                              description='true: also publish the ROS4HRI (REP 155) face '
                                          'topics /humans/faces/... (hri_node)'),
        DeclareLaunchArgument('fastdds_profile',
                              default_value=os.path.join(share, 'config', 'fastdds.xml'),
                              description='Fast DDS profile: shared memory large enough for '
                                          'images; empty for the defaults'),
        OpaqueFunction(function=nodes),
    ])
