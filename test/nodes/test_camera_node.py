"""camera_node in its own process, observed from this process over DDS."""

import cv2
from face_detector_ros.camera.calibration import (
    CalibrationError,
    camera_info_for_size,
    load_camera_info,
)
from face_detector_ros.camera.source import Backoff, open_source, SourceError
from face_detector_ros.ros.common import qos_profile
from face_detector_ros.ros.images import image_to_numpy
import numpy as np
import pytest
from ros_helpers import executable, NodeProcess, spin_until
from sensor_msgs.msg import CameraInfo, Image

pytestmark = pytest.mark.ros


def write_frames(folder, count, size=(64, 48)):
    """Write frames whose pixels encode their index, so content can be checked."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for index in range(count):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:, :, 0] = 10 * index
        frame[:, :, 1] = np.arange(size[0], dtype=np.uint8)[None, :]
        frame[:, :, 2] = 200
        cv2.imwrite(str(folder / f'frame_{index:03d}.png'), frame)
        frames.append(frame)
    return frames


class Recorder:
    """Subscribes to image_raw and camera_info and keeps everything received."""

    def __init__(self, node):
        self.images, self.infos = [], []
        qos = qos_profile('reliable', 10)
        node.create_subscription(Image, 'image_raw', self.images.append, qos)
        node.create_subscription(CameraInfo, 'camera_info', self.infos.append, qos)


def camera(tmp_path, *params):
    args = [executable('camera_node'), '--ros-args', '-p', 'wait_for_subscribers:=1']
    for param in params:
        args += ['-p', param]
    return NodeProcess(args, tmp_path / 'camera.log')


def test_publishes_every_frame_with_headers_and_content(tmp_path, ros_node):
    node, executor = ros_node
    frames = write_frames(tmp_path / 'frames', 6)
    recorder = Recorder(node)
    with camera(tmp_path, f'source:={tmp_path / "frames"}', 'fps:=20.0',
                'frame_id:=test_cam_optical', 'encoding:=rgb8') as process:
        spin_until(executor, lambda: len(recorder.infos) >= 6 and process.process.poll()
                   is not None, timeout=20)
        assert process.wait(timeout=5) == 0, process.output()
    assert len(recorder.images) == 6 and len(recorder.infos) == 6, process.output()
    stamps = []
    for image, info, frame in zip(recorder.images, recorder.infos, frames):
        assert (image.encoding, image.width, image.height) == ('rgb8', 64, 48)
        np.testing.assert_array_equal(image_to_numpy(image, 'bgr8'), frame)
        assert image.header.frame_id == 'test_cam_optical'
        assert info.header == image.header
        assert (info.width, info.height) == (64, 48) and not any(info.k)
        stamps.append(image.header.stamp.sec + image.header.stamp.nanosec * 1e-9)
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    # 20 fps: frames about 50 ms apart, whatever the scheduling jitter.
    assert 0.03 < np.median(np.diff(stamps)) < 0.08
    assert 'end of' in process.output()


def test_calibration_file_fills_camera_info(tmp_path, ros_node):
    node, executor = ros_node
    write_frames(tmp_path / 'frames', 2)
    calibration = tmp_path / 'camera.yaml'
    calibration.write_text(
        'image_width: 64\nimage_height: 48\ncamera_name: test\n'
        'camera_matrix: {rows: 3, cols: 3, data: [50, 0, 32, 0, 50, 24, 0, 0, 1]}\n'
        'distortion_model: plumb_bob\n'
        'distortion_coefficients: {rows: 1, cols: 5, data: [-0.1, 0.01, 0, 0, 0]}\n'
        'rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}\n'
        'projection_matrix: {rows: 3, cols: 4, data: [50, 0, 32, 0, 0, 50, 24, 0, 0, 0, 1, 0]}\n')
    recorder = Recorder(node)
    with camera(tmp_path, f'source:={tmp_path / "frames"}', 'fps:=20.0',
                f'camera_info_file:={calibration}') as process:
        spin_until(executor, lambda: len(recorder.infos) >= 2, timeout=20)
    assert len(recorder.infos) == 2, process.output()
    info = recorder.infos[0]
    assert list(info.k) == [50, 0, 32, 0, 50, 24, 0, 0, 1]
    assert list(info.d) == pytest.approx([-0.1, 0.01, 0, 0, 0])
    assert info.distortion_model == 'plumb_bob'


def write_calibration(path, width=64, height=48, fx='50'):
    path.write_text(
        f'image_width: {width}\nimage_height: {height}\n'
        f'camera_matrix: {{rows: 3, cols: 3, data: [{fx}, 0, 32, 0, 50, 24, 0, 0, 1]}}\n'
        'distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n'
        'projection_matrix: {rows: 3, cols: 4, data: [50, 0, 32, 0, 0, 50, 24, 0, 0, 0, 1, 0]}\n')
    return path


def test_calibration_of_size_zero_or_not_finite_is_one_error_and_exit_1(tmp_path):
    write_frames(tmp_path / 'frames', 2)
    with pytest.raises(CalibrationError, match='must be positive, got 0x48'):
        load_camera_info(write_calibration(tmp_path / 'zero.yaml', width=0))
    for value in ('.nan', '.inf', '-.inf'):
        with pytest.raises(CalibrationError, match='camera_matrix has values that are not fin'):
            load_camera_info(write_calibration(tmp_path / 'nan.yaml', fx=value))
    with pytest.raises(CalibrationError, match='must be positive'):
        camera_info_for_size({'width': 0, 'height': 48}, 64, 48)
    (tmp_path / 'binary.yaml').write_bytes(b'\xff\xfe\x00 binary')
    with pytest.raises(CalibrationError, match='binary.yaml.* is not a text YAML file'):
        load_camera_info(tmp_path / 'binary.yaml')
    # image_width 0 raised ZeroDivisionError at the first frame.
    with camera(tmp_path, f'source:={tmp_path / "frames"}',
                f'camera_info_file:={tmp_path / "zero.yaml"}') as process:
        assert process.wait(timeout=20) == 1, process.output()
    assert 'must be positive, got 0x48' in process.output()
    assert 'Traceback' not in process.output()


@pytest.mark.parametrize('loop', [False, True])
def test_folder_of_undecodable_images_says_so_and_exits_1(tmp_path, loop):
    folder = tmp_path / 'broken'
    folder.mkdir()
    for index in range(3):
        (folder / f'frame_{index}.png').write_bytes(b'not a png')
    with camera(tmp_path, f'source:={folder}', 'wait_for_subscribers:=0',
                f'loop:={str(loop).lower()}') as process:
        assert process.wait(timeout=20) == 1, process.output()  # loop re-read it at 30 Hz
    assert 'none of the 3 images' in process.output() and 'could be decoded' in process.output()


def test_unopenable_source_is_one_error_and_nonzero_exit(tmp_path):
    with camera(tmp_path, f'source:={tmp_path / "missing"}') as process:
        assert process.wait(timeout=20) == 1
    output = process.output()
    assert 'does not exist' in output and 'missing' in output
    assert 'Traceback' not in output


def test_device_index_given_as_a_number_and_wrong_types(tmp_path):
    # -p source:=7 arrives as an integer: accepted as the device /dev/video7 (absent here).
    with camera(tmp_path, 'source:=7') as process:
        assert process.wait(timeout=20) == 1
    assert "cannot open camera device '7'" in process.output(), process.output()
    with camera(tmp_path, 'fps:=fast') as process:
        assert process.wait(timeout=20) == 1
    assert "'fps'" in process.output() and 'Traceback' not in process.output()


def test_vanished_source_is_reopened_without_the_node_dying(tmp_path, ros_node):
    node, executor = ros_node
    folder = tmp_path / 'frames'
    write_frames(folder, 3)
    recorder = Recorder(node)
    with camera(tmp_path, f'source:={folder}', 'fps:=30.0', 'loop:=true') as process:
        assert spin_until(executor, lambda: len(recorder.images) >= 5, timeout=20)
        folder.rename(tmp_path / 'away')
        assert spin_until(executor, lambda: 'retrying' in process.output(), timeout=10), \
            process.output()
        executor.spin_once(timeout_sec=0.2)
        received_while_away = len(recorder.images)
        executor.spin_once(timeout_sec=1.0)
        assert len(recorder.images) - received_while_away <= 3  # at most the frames in flight
        (tmp_path / 'away').rename(folder)
        before = len(recorder.images)
        assert spin_until(executor, lambda: len(recorder.images) >= before + 5, timeout=20), \
            process.output()
        assert process.process.poll() is None
    assert 'is back' in process.output()


def test_sources_and_calibration_errors(tmp_path):
    write_frames(tmp_path / 'frames', 2)
    source = open_source(str(tmp_path / 'frames' / '*.png'), width=32, height=24)
    assert source.read().shape == (24, 32, 3)
    assert source.read() is not None and source.read() is None
    with pytest.raises(SourceError, match='no images'):
        open_source(str(tmp_path / '*.jpg'))
    with pytest.raises(SourceError, match='source is empty'):
        open_source('')
    (tmp_path / 'bad.yaml').write_text('image_width: 4\nimage_height: 3\ncamera_matrix: [1]\n'
                                       'distortion_coefficients: {data: [0, 0, 0, 0, 0]}\n')
    with pytest.raises(CalibrationError, match='missing or malformed camera_matrix'):
        load_camera_info(tmp_path / 'bad.yaml')
    calibration = {'width': 1280, 'height': 720, 'distortion_model': 'plumb_bob',
                   'd': [0.1] * 5, 'k': [1000, 0, 640, 0, 1000, 360, 0, 0, 1],
                   'r': [1, 0, 0, 0, 1, 0, 0, 0, 1],
                   'p': [1000, 0, 640, 0, 0, 1000, 360, 0, 0, 0, 1, 0]}
    half = camera_info_for_size(calibration, 640, 360)
    assert half['k'] == [500, 0, 320, 0, 500, 180, 0, 0, 1]
    assert half['p'] == [500, 0, 320, 0, 0, 500, 180, 0, 0, 0, 1, 0]
    assert half['d'] == calibration['d'] and camera_info_for_size(half, 640, 360) is half
    with pytest.raises(CalibrationError, match='is for 1280x720 images but the camera publishes '
                       '640x480'):
        camera_info_for_size(calibration, 640, 480)
    backoff = Backoff(first=0.5, cap=2.0)
    assert [backoff.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]


def test_video_file_source(tmp_path):
    path = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10, (64, 48))
    for frame in write_frames(tmp_path / 'frames', 4):
        writer.write(frame)
    writer.release()
    source = open_source(path)
    count = 0
    while source.read() is not None:
        count += 1
    assert count == 4 and not source.live
