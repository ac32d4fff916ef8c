"""
Write test/data/sample.mcap: the synthetic sample sequence as a small, deterministic rosbag2.

30 frames of 320x240 at 10 FPS (three real faces moving, two crossing), JPEG CompressedImage on
/camera/image_raw/compressed and a CameraInfo per frame on /camera/camera_info, stamped from
1700000000 s. Run from the repository root:

    .venv/bin/python test/data/make_sample_bag.py [OUT.mcap]

then regenerate the expected tracks (docs/bags.md) and review them before committing.
"""

from pathlib import Path
import shutil
import sys
import tempfile

import cv2
from face_detector_ros.bags.bag_io import add_typed_connection, bag_writer, typestore
from face_detector_ros.simulation.faces import sample_sequence
import numpy as np

IMAGE_TOPIC = '/camera/image_raw/compressed'
INFO_TOPIC = '/camera/camera_info'
FRAME_ID = 'camera_optical_frame'
WIDTH, HEIGHT, FPS, FRAMES = 320, 240, 10.0, 30
START_NS = 1_700_000_000 * 10**9
JPEG_QUALITY = 80


def camera_info(store, header):
    """Return a pinhole CameraInfo of a 320x240 camera with a 60 degree horizontal view."""
    info = store.types['sensor_msgs/msg/CameraInfo']
    roi = store.types['sensor_msgs/msg/RegionOfInterest']
    focal = WIDTH / 2 / np.tan(np.radians(30))
    cx, cy = WIDTH / 2, HEIGHT / 2
    return info(header=header, height=HEIGHT, width=WIDTH, distortion_model='plumb_bob',
                d=np.zeros(5), k=np.array([focal, 0, cx, 0, focal, cy, 0, 0, 1]),
                r=np.eye(3).ravel(), p=np.array([focal, 0, cx, 0, 0, focal, cy, 0, 0, 0, 1, 0]),
                binning_x=0, binning_y=0,
                roi=roi(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def write_sample_bag(path):
    """Write the sample bag as one .mcap file at `path`."""
    store = typestore()
    header_type = store.types['std_msgs/msg/Header']
    time_type = store.types['builtin_interfaces/msg/Time']
    compressed = store.types['sensor_msgs/msg/CompressedImage']
    sequence = sample_sequence(num_frames=FRAMES, width=WIDTH, height=HEIGHT, fps=FPS)
    with tempfile.TemporaryDirectory() as folder:
        bag = Path(folder) / 'sample'
        with bag_writer(bag, 'mcap') as writer:
            images = add_typed_connection(writer, IMAGE_TOPIC, compressed.__msgtype__)
            infos = add_typed_connection(writer, INFO_TOPIC, 'sensor_msgs/msg/CameraInfo')
            for index, frame in enumerate(sequence.frames):
                stamp_ns = START_NS + round(index * 1e9 / FPS)
                header = header_type(stamp=time_type(sec=stamp_ns // 10**9,
                                                     nanosec=stamp_ns % 10**9),
                                     frame_id=FRAME_ID)
                ok, jpeg = cv2.imencode('.jpg', frame.image, [cv2.IMWRITE_JPEG_QUALITY,
                                                              JPEG_QUALITY])
                assert ok
                image = compressed(header=header, format='jpeg', data=jpeg.ravel())
                writer.write(images, stamp_ns, store.serialize_cdr(image, image.__msgtype__))
                info = camera_info(store, header)
                writer.write(infos, stamp_ns, store.serialize_cdr(info, info.__msgtype__))
        shutil.copyfile(bag / 'sample.mcap', path)


if __name__ == '__main__':
    write_sample_bag(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / 'sample.mcap')
