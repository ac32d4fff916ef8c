"""ament_python setup for face_detector_ros."""

from glob import glob
import os

from setuptools import find_packages, setup

package_name = 'face_detector_ros'


def share_files(folder):
    """List (destination, files) pairs installing `folder` under share/<package>/."""
    pairs = []
    for root, _, files in os.walk(folder):
        if files:
            pairs.append((os.path.join('share', package_name, root),
                          [os.path.join(root, name) for name in sorted(files)]))
    return pairs


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'dev', 'benchmarks']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*')),
    ] + share_files('models'),
    install_requires=['setuptools'],
    extras_require={
        'test': ['pytest', 'pycocotools', 'scikit-image'],
        'train': ['torch', 'onnx'],
        'int8': ['nncf'],
        'fleet': ['ray'],
    },
    zip_safe=True,
    maintainer='face_detector_ros developers',
    maintainer_email='face-detector-ros@example.com',
    description='Face detection and tracking for ROS 2 robots, with OpenVINO.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'camera_node = face_detector_ros.nodes.camera_node:main',
            'detector_node = face_detector_ros.nodes.detector_node:main',
            'tracker_node = face_detector_ros.nodes.tracker_node:main',
            'hri_node = face_detector_ros.nodes.hri_node:main',
            'face-detector-pipeline = face_detector_ros.nodes.pipeline:main',
            'face-detector-bag = face_detector_ros.tools.bag:main',
            'face-detect = face_detector_ros.tools.detect:main',
            'face-sample-data = face_detector_ros.tools.sample_data:main',
            'face-track-eval = face_detector_ros.tools.track_eval:main',
            'face-voc2yolo = face_detector_ros.tools.voc2yolo:main',
            'face-yolo2voc = face_detector_ros.tools.yolo2voc:main',
            'face-wider2voc = face_detector_ros.tools.wider2voc:main',
            'face-fddb2voc = face_detector_ros.tools.fddb2voc:main',
            'face-merge = face_detector_ros.tools.merge:main',
            'face-split = face_detector_ros.tools.split:main',
            'face-show-boxes = face_detector_ros.tools.show_boxes:main',
            'face-darknet-config = face_detector_ros.tools.darknet_config:main',
            'face-eval = face_detector_ros.tools.evaluate:main',
            'face-train = face_detector_ros.training.train:main',
            'face-train-classifier = face_detector_ros.training.classifier:main',
            'face-finetune = face_detector_ros.training.finetune:main',
            'face-export = face_detector_ros.training.export:main',
        ],
    },
)
