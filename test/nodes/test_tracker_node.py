"""tracker_node in its own process: detections in, tracks, faces and overlay images out."""

from builtin_interfaces.msg import Time
from face_detector_ros.ros.common import qos_profile
from face_detector_ros.ros.images import image_to_numpy, numpy_to_image
from face_detector_ros.ros.messages import boxes_to_detection_array, detection_array_to_boxes
from face_detector_ros.simulation.faces import background, face_crops, paste_face
from face_detector_ros.tracking.stamp_matcher import StampMatcher
import numpy as np
import pytest
from ros_helpers import executable, handshake, NodeProcess, spin_until
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, Detection3DArray

pytestmark = pytest.mark.ros

FX = 500.0


def header_at(seconds):
    stamp = Time(sec=int(seconds), nanosec=int(round((seconds % 1) * 1e9)))
    return Header(stamp=stamp, frame_id='head_cam_optical')


def camera_info(calibrated):
    info = CameraInfo(width=640, height=480, distortion_model='plumb_bob')
    if calibrated:
        info.k = [FX, 0.0, 320.0, 0.0, FX, 240.0, 0.0, 0.0, 1.0]
        info.d = [0.0] * 5
    return info


def face_boxes(frame):
    """Two faces 80 px wide walking towards each other, one row apart."""
    return np.array([[100 + 6 * frame, 200, 180 + 6 * frame, 280],
                     [460 - 6 * frame, 120, 540 - 6 * frame, 200]], dtype=float)


class Probe:
    """Publishes detections, camera_info and images; records what the tracker publishes."""

    def __init__(self, node):
        reliable = qos_profile('reliable', 50)
        self.tracks, self.faces, self.overlays = [], [], []
        node.create_subscription(Detection2DArray, 'tracks', self.tracks.append, reliable)
        node.create_subscription(Detection3DArray, 'faces', self.faces.append, reliable)
        self.detections = node.create_publisher(Detection2DArray, 'detections', reliable)
        self.info = node.create_publisher(CameraInfo, 'camera_info', qos_profile('reliable', 1))
        self.image = node.create_publisher(Image, 'image', reliable)
        self.node = node

    def connect(self, executor, images=False):
        """Exchange empty frames with the tracker until it answers, then forget its answers."""
        def send(header):
            if images:
                self.image.publish(numpy_to_image(np.zeros((48, 64, 3), np.uint8), 'bgr8',
                                                  header=header))
            self.detections.publish(boxes_to_detection_array(header, np.zeros((0, 4)), [], []))

        connected = handshake(executor, send, self.overlays if images else self.tracks)
        for received in (self.tracks, self.faces, self.overlays):
            del received[:]
        return connected

    def watch_overlay(self):
        self.node.create_subscription(Image, 'tracks_image', self.overlays.append,
                                      qos_profile('reliable', 50))


def tracker(tmp_path):
    return NodeProcess([executable('tracker_node')], tmp_path / 'tracker.log')


def publish_sequence(probe, executor, frames, skip=(), calibrated=True, images=False):
    headers = []
    for frame in range(frames):
        header = header_at(100.0 + frame / 10.0)
        headers.append(header)
        probe.info.publish(camera_info(calibrated))
        if images:
            pixels = np.full((480, 640, 3), 40, np.uint8)
            probe.image.publish(numpy_to_image(pixels, 'bgr8', header=header))
        boxes = face_boxes(frame) if frame not in skip else np.zeros((0, 4))
        probe.detections.publish(boxes_to_detection_array(header, boxes, [0.9] * len(boxes),
                                                          ['face'] * len(boxes)))
        spin_until(executor, lambda: False, timeout=0.03)
    return headers


def test_ids_stable_headers_kept_and_range_estimated(tmp_path, ros_node):
    node, executor = ros_node
    probe = Probe(node)
    with tracker(tmp_path) as process:
        assert probe.connect(executor), process.output()
        headers = publish_sequence(probe, executor, 20, skip=(8,))
        spin_until(executor, lambda: len(probe.tracks) >= 20, timeout=10)
    assert len(probe.tracks) == 20, process.output()
    assert [t.header for t in probe.tracks] == headers
    # min_hits = 3: the first two frames have no confirmed track.
    assert [len(t.detections) for t in probe.tracks[:3]] == [0, 0, 2]
    ids = [sorted(d.id for d in t.detections) for t in probe.tracks[2:]]
    assert all(frame_ids == ids[0] for frame_ids in ids), ids  # stable through the missed frame
    last = probe.tracks[-1]
    boxes, _, labels, _ = detection_array_to_boxes(last)
    assert labels == ['face', 'face']
    expected = face_boxes(19)
    for box in expected:
        assert np.abs(boxes - box).sum(axis=1).min() < 12  # smoothed, not lagging
    # An 80 px face at f = 500 px is 0.16 * 500 / 80 = 1.0 m away.
    for detection in last.detections:
        assert detection.results[0].pose.pose.position.z == pytest.approx(1.0, rel=0.05)
        assert detection.results[0].pose.covariance[0] > 0
    assert probe.faces and probe.faces[-1].header == last.header
    faces = probe.faces[-1].detections
    assert sorted(f.id for f in faces) == ids[-1]
    assert all(f.bbox.center.position.z == pytest.approx(1.0, rel=0.05) for f in faces)


def test_uncalibrated_camera_gives_tracks_without_pose(tmp_path, ros_node):
    node, executor = ros_node
    probe = Probe(node)
    with tracker(tmp_path) as process:
        assert probe.connect(executor), process.output()
        publish_sequence(probe, executor, 6, calibrated=False)
        spin_until(executor, lambda: len(probe.tracks) >= 6, timeout=10)
    assert len(probe.tracks[-1].detections) == 2
    assert not any(probe.tracks[-1].detections[0].results[0].pose.covariance)
    assert not probe.faces
    assert process.output().count('not calibrated') == 1


def test_nan_calibration_is_refused_with_one_warning_and_no_pose(tmp_path, ros_node):
    node, executor = ros_node
    probe = Probe(node)
    broken = camera_info(True)
    broken.k[2], broken.d[1] = float('nan'), float('inf')  # positions were NaN
    with tracker(tmp_path) as process:
        assert probe.connect(executor), process.output()
        for frame in range(6):
            header = header_at(100.0 + frame / 10.0)
            probe.info.publish(broken)
            boxes = face_boxes(frame)
            probe.detections.publish(boxes_to_detection_array(
                header, boxes, [0.9] * len(boxes), ['face'] * len(boxes)))
            spin_until(executor, lambda: False, timeout=0.03)
        spin_until(executor, lambda: len(probe.tracks) >= 6, timeout=10)
    assert len(probe.tracks) == 6 and len(probe.tracks[-1].detections) == 2, process.output()
    for detection in probe.tracks[-1].detections:
        position = detection.results[0].pose.pose.position
        assert (position.x, position.y, position.z) == (0.0, 0.0, 0.0)
        assert not any(detection.results[0].pose.covariance)
    assert not probe.faces
    assert process.output().count('not finite') == 1, process.output()


def test_track_ids_are_unique_across_restarts_and_int32(tmp_path, ros_node):
    """A restarted tracker never gives an id of the run before (a follower would mix people)."""
    node, executor = ros_node
    probe = Probe(node)
    runs = []
    for run in range(2):
        del probe.tracks[:]
        with NodeProcess([executable('tracker_node')], tmp_path / f'tracker{run}.log') as process:
            assert probe.connect(executor), process.output()
            publish_sequence(probe, executor, 5)
            assert spin_until(executor, lambda: len(probe.tracks) >= 5, timeout=10)
        runs.append({int(d.id) for t in probe.tracks for d in t.detections})
        assert len(runs[-1]) == 2 and 'track ids start at' in process.output()
        # Wait until the publisher of the stopped tracker left the graph.
        assert spin_until(executor, lambda: probe.detections.get_subscription_count() == 0, 10)
    assert not runs[0] & runs[1], runs
    assert all(1 <= track_id < 2**31 for ids in runs for track_id in ids), runs
    # first_track_id pins them, for replays compared with reviewed tracks.
    del probe.tracks[:]
    with NodeProcess([executable('tracker_node'), '--ros-args', '-p', 'first_track_id:=7'],
                     tmp_path / 'pinned.log'):
        assert probe.connect(executor)
        publish_sequence(probe, executor, 5)
        assert spin_until(executor, lambda: len(probe.tracks) >= 5, timeout=10)
    assert sorted(d.id for d in probe.tracks[-1].detections) == ['7', '8']


def test_overlay_images_match_tracks_by_stamp(tmp_path, ros_node):
    node, executor = ros_node
    probe = Probe(node)
    probe.watch_overlay()
    with tracker(tmp_path) as process:
        assert probe.connect(executor, images=True), process.output()
        headers = publish_sequence(probe, executor, 8, images=True)
        spin_until(executor, lambda: len(probe.overlays) >= 8, timeout=10)
    assert [o.header for o in probe.overlays] == headers
    drawn = image_to_numpy(probe.overlays[-1])
    assert (drawn != 40).any(axis=2).sum() > 500  # boxes and labels drawn on the grey image


def test_stamp_matcher_pairs_in_either_order_and_forgets_old():
    matcher = StampMatcher(capacity=2)
    assert matcher.add_tracks((1, 0), ['a']) == []
    assert matcher.add_image((1, 0), 'img1') == [('img1', ['a'])]
    assert matcher.add_image((2, 0), 'img2') == []
    assert matcher.add_tracks((2, 0), ['b']) == [('img2', ['b'])]
    for second in (3, 4, 5):
        matcher.add_image((second, 0), f'img{second}')
    assert matcher.add_tracks((3, 0), ['c']) == []  # img3 fell out of the buffer
    assert matcher.add_tracks((5, 0), ['e']) == [('img5', ['e'])]


def test_detection_array_round_trip():
    header = header_at(3.25)
    boxes = np.array([[10.0, 20.0, 50.0, 80.0], [0.5, 1.5, 2.5, 3.5]])
    array = boxes_to_detection_array(header, boxes, [0.9, 0.4], ['good', 'bad'], ids=['7', '9'])
    assert array.detections[0].header == header
    assert array.detections[0].bbox.center.position.x == 30.0
    back, scores, labels, ids = detection_array_to_boxes(array)
    np.testing.assert_allclose(back, boxes)
    assert list(scores) == [0.9, 0.4] and labels == ['good', 'bad'] and ids == ['7', '9']


def test_a_face_that_leaves_and_comes_back_gets_its_id_from_the_images(tmp_path, ros_node):
    """reid_timeout is on by default: appearances come from the image of each detection."""
    node, executor = ros_node
    probe = Probe(node)
    astronaut = face_crops()[0]
    with tracker(tmp_path) as process:
        assert spin_until(executor, lambda: probe.image.get_subscription_count() > 0,
                          timeout=20), process.output()
        assert probe.connect(executor), process.output()
        present = [*range(8), *range(22, 30)]  # gone for 1.4 s: longer than max_age
        frames = []
        for frame in range(31):
            pixels = background('brick', 320, 240)
            boxes = np.zeros((0, 4))
            if frame in present:
                x = 40 + 4 * frame if frame < 8 else 260 - 4 * (frame - 22)
                boxes = paste_face(pixels, astronaut, (x, 80, x + 50, 132))[None]
            if 2 <= frame < 8:  # a box beyond the image: no appearance, one warning
                boxes = np.vstack([boxes, [400, 10, 450, 60]])
            frames.append((header_at(100.0 + frame / 10.0), pixels, boxes))
        # Each image goes out a frame ahead of its detections: it is there when they arrive.
        probe.image.publish(numpy_to_image(frames[0][1], 'bgr8', header=frames[0][0]))
        for frame, (header, _, boxes) in enumerate(frames[:30]):
            following, pixels, _ = frames[frame + 1]
            probe.image.publish(numpy_to_image(pixels, 'bgr8', header=following))
            probe.detections.publish(boxes_to_detection_array(
                header, boxes, [0.9] * len(boxes), ['face'] * len(boxes)))
            spin_until(executor, lambda: len(probe.tracks) > frame, timeout=5)
    assert len(probe.tracks) == 30, process.output()
    ids = [[d.id for d in t.detections if d.bbox.center.position.x < 320]
           for t in probe.tracks]
    first, last = ids[7], ids[-1]
    assert len(first) == 1 and last == first, ids
    assert process.output().count('outside the 320x240 image') == 1, process.output()
    for t in probe.tracks:
        boxes, scores, _, _ = detection_array_to_boxes(t)
        assert np.isfinite(boxes).all() and np.isfinite(scores).all()
