"""
hri_node in a real graph: camera on the sample -> detector -> tracker -> hri_node.

Each node runs in its own process; the test reads REP 155 the way pyhri does: it follows
/humans/faces/tracked and subscribes to each new face's topics.
"""

import collections
import re
import time

import cv2
from face_detector_ros import demo
from face_detector_ros.detection.detections import Detections
from face_detector_ros.evaluation import mot
from face_detector_ros.files import default_params_file, fastdds_environment
from face_detector_ros.hri import rep155
from face_detector_ros.ros.common import qos_profile
from face_detector_ros.ros.images import numpy_to_image
from face_detector_ros.ros.messages import (
    boxes_to_detection_array,
    detection_array_to_boxes,
    keypoints_to_array,
)
from face_detector_ros.ros.stamps import stamp_key
from face_detector_ros.simulation import faces
from hri_msgs.msg import FacialLandmarks, IdsList, NormalizedRegionOfInterest2D
import numpy as np
import pytest
from ros_helpers import executable, NodeProcess, spin_until
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection2DArray

pytestmark = pytest.mark.ros

FRAMES = 30
EMPTY = 15  # frames with nobody at the end: 1.5 s at 10 FPS, longer than max_age (1 s)
CROP = (96, 64)  # humans.faces.width, height: not the default, so the parameters are checked
RETINAFACE_LANDMARKS = [30, 48, 54, 68, 69]


@pytest.fixture(scope='module')
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp('hri') / 'frames'
    faces.write_sample_sequence(folder, image_format='png', num_frames=FRAMES)
    for number in range(FRAMES, FRAMES + EMPTY):
        cv2.imwrite(str(folder / f'frame_{number:04d}.png'), np.full((480, 640, 3), 128, np.uint8))
    return folder


class HriListener:
    """What a pyhri-style consumer sees: tracked ids, then each face's topics as it appears."""

    def __init__(self, node):
        self.node = node
        self.tracked, self.transforms = [], []
        self.rois, self.crops = collections.defaultdict(list), collections.defaultdict(list)
        self.landmarks = collections.defaultdict(list)
        self.face_subscriptions = {}
        reliable = qos_profile('reliable', 50)
        node.create_subscription(IdsList, '/humans/faces/tracked', self.on_tracked, reliable)
        node.create_subscription(TFMessage, '/tf', self.transforms.append, reliable)

    def on_tracked(self, msg):
        self.tracked.append(msg)
        reliable = qos_profile('reliable', 50)
        for face in msg.ids:
            if face in self.face_subscriptions:
                continue
            prefix = f'/humans/faces/{face}/'
            self.face_subscriptions[face] = [
                self.node.create_subscription(NormalizedRegionOfInterest2D, prefix + 'roi',
                                              self.rois[face].append, reliable),
                self.node.create_subscription(Image, prefix + 'cropped', lambda msg, f=face:
                                              self.crops[f].append((msg.height, msg.width,
                                                                    msg.encoding)), reliable),
                self.node.create_subscription(FacialLandmarks, prefix + 'landmarks',
                                              self.landmarks[face].append, reliable)]

    def publishers_left(self):
        return sum(self.node.count_publishers(f'/humans/faces/{face}/{topic}')
                   for face in self.face_subscriptions for topic in ('roi', 'cropped',
                                                                     'landmarks'))


def start_graph(frames, log_dir, calibration, watcher):
    params = str(default_params_file())
    remap = ['-r', 'image:=image_raw']
    env = fastdds_environment(default_params_file().with_name('fastdds.xml'))
    processes = [
        NodeProcess([executable('hri_node'), '--ros-args', '--params-file', params, *remap,
                     '-p', f'humans.faces.width:={CROP[0]}', '-p',
                     f'humans.faces.height:={CROP[1]}'], log_dir / 'hri.log', env),
        NodeProcess([executable('tracker_node'), '--ros-args', '--params-file', params,
                     *remap], log_dir / 'tracker.log', env),
        NodeProcess([executable('detector_node'), '--ros-args', '--params-file', params,
                     *remap], log_dir / 'detector.log', env)]
    try:
        watcher.wait_for_publishers(processes)
        deadline = time.monotonic() + 60
        while not watcher.node.count_publishers('/humans/faces/tracked'):
            assert time.monotonic() < deadline, processes[0].output()
            watcher.executor.spin_once(timeout_sec=0.05)
    except BaseException:
        for process in processes:
            process.stop()
        raise
    # Image subscribers the camera waits for: detector, tracker (overlay), hri_node, watcher.
    camera = NodeProcess([executable('camera_node'), '--ros-args', '--params-file', params,
                          '-p', f'source:={frames}', '-p', 'fps:=10.0', '-p', 'width:=0', '-p',
                          'height:=0', '-p', 'wait_for_subscribers:=4', '-p',
                          f'camera_info_file:={calibration}'], log_dir / 'camera.log', env)
    return [camera] + processes


def test_rep155_topics_for_the_sample_sequence(frames, tmp_path):
    calibration = tmp_path / 'camera.yaml'
    calibration.write_text(
        'image_width: 640\nimage_height: 480\ncamera_name: sample\n'
        'camera_matrix: {rows: 3, cols: 3, data: [500, 0, 320, 0, 500, 240, 0, 0, 1]}\n'
        'distortion_model: plumb_bob\n'
        'distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n'
        'rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}\n'
        'projection_matrix: {rows: 3, cols: 4, data: [500, 0, 320, 0, 0, 500, 240, 0, 0, 0, 1, '
        '0]}\n')
    with demo.Watcher() as watcher:
        listener = HriListener(watcher.node)
        processes = start_graph(frames, tmp_path, calibration, watcher)
        try:
            # Until every frame was sent and every face came and left: tracked empty again,
            # per-face publishers gone.
            deadline = time.monotonic() + 120
            while not (processes[0].process.poll() is not None
                       and len(watcher.image_stamps) == FRAMES + EMPTY
                       and listener.face_subscriptions and listener.tracked
                       and not listener.tracked[-1].ids and not listener.publishers_left()):
                failed = [p for p in processes if p.process.poll() not in (None, 0)]
                assert not failed and time.monotonic() < deadline, \
                    '\n'.join(p.output()[-3000:] for p in failed or processes)
                watcher.executor.spin_once(timeout_sec=0.05)
        finally:
            for process in processes:
                process.stop()
    outputs = '\n'.join(p.output() for p in processes)
    assert all(p.process.returncode == 0 for p in processes), outputs

    tracks = {stamp_key(msg.header): msg for msg in watcher.tracks}
    frame_of = {stamp: index + 1 for index, stamp in enumerate(watcher.image_stamps)}
    assert len(frame_of) == FRAMES + EMPTY
    seen = list(listener.face_subscriptions)
    assert seen and all(re.fullmatch(r'f\d+', face) for face in seen), seen

    # tracked: the source image's header, the ids of that frame's tracks. The detector takes
    # the newest frame, so a busy machine skips some (32 of 45 with both cores loaded).
    assert len(listener.tracked) >= 0.5 * (FRAMES + EMPTY)
    for msg in listener.tracked:
        assert msg.header.frame_id == 'camera_optical_frame'
        ids = detection_array_to_boxes(tracks[stamp_key(msg.header)])[3]
        assert list(msg.ids) == [rep155.face_id(track_id) for track_id in ids]

    # roi: the track's box normalised, its score; each true face followed under one id.
    truth = mot.read_mot(frames / 'ground_truth.txt')
    faces_of_truth = collections.defaultdict(collections.Counter)
    for face, rois in listener.rois.items():
        assert rois, face
        for roi in rois:
            boxes, scores, _, ids = detection_array_to_boxes(tracks[stamp_key(roi.header)])
            row = ids.index(face[1:])
            box = np.array([roi.xmin * 640, roi.ymin * 480, roi.xmax * 640, roi.ymax * 480])
            assert box == pytest.approx(np.clip(boxes[row], 0, [640, 480, 640, 480]), abs=1e-3)
            assert roi.c == pytest.approx(scores[row], abs=1e-6)
            frame = frame_of[stamp_key(roi.header)]
            rows = truth[truth[:, 0] == frame]
            if len(rows):
                overlap = mot.iou_matrix(box[None] - [0, 0, *box[:2]], rows[:, 2:6])[0]
                if overlap.max() >= 0.5:
                    faces_of_truth[int(rows[overlap.argmax(), 1])][face] += 1
    assert sorted(faces_of_truth) == [1, 2, 3], faces_of_truth
    for truth_id, counts in faces_of_truth.items():
        assert len(counts) == 1, (truth_id, counts)  # never two face ids for one person

    # cropped: the parameters' size, one per roi.
    for face in seen:
        assert listener.crops[face] and set(listener.crops[face]) == {(CROP[1], CROP[0], 'bgr8')}

    # landmarks: RetinaFace's five points at their REP 155 indices, the rest absent.
    followed = [face for counts in faces_of_truth.values() for face in counts]
    assert all(listener.landmarks[face] for face in followed), dict(listener.landmarks)
    for face in followed:
        for msg in listener.landmarks[face]:
            assert (msg.width, msg.height) == (640, 480) and len(msg.landmarks) == 70
            points = np.array([(p.x, p.y, p.c) for p in msg.landmarks])
            assert np.isfinite(points).all()
            assert np.flatnonzero(points[:, 2]).tolist() == RETINAFACE_LANDMARKS
            assert points[68, 0] < points[69, 0]  # the person's right eye on the image's left
            assert (points[RETINAFACE_LANDMARKS, :2] > 0).all()
            assert (points[RETINAFACE_LANDMARKS, :2] < 1).all()

    # TF: face_<id> in the camera frame, where the tracker located the face.
    transforms = [t for msg in listener.transforms for t in msg.transforms]
    assert {t.child_frame_id for t in transforms} >= {f'face_{face}' for face in followed}
    for transform in transforms:
        assert transform.header.frame_id == 'camera_optical_frame'
        track = tracks[stamp_key(transform.header)]
        face = transform.child_frame_id[len('face_'):]
        _, _, _, ids = detection_array_to_boxes(track)
        position = track.detections[ids.index(face[1:])].results[0].pose.pose.position
        translation = transform.transform.translation
        assert (translation.x, translation.y, translation.z) == \
            pytest.approx((position.x, position.y, position.z))
        assert 0.3 < translation.z < 10.0
        q = transform.transform.rotation
        assert q.x ** 2 + q.y ** 2 + q.z ** 2 + q.w ** 2 == pytest.approx(1.0)


def test_bad_ids_boxes_and_keypoint_layouts_are_skipped_and_said(tmp_path, ros_node):
    node, executor = ros_node
    tracked, rois, landmarks = [], [], []
    reliable = qos_profile('reliable', 10)
    node.create_subscription(IdsList, '/humans/faces/tracked', tracked.append, reliable)
    node.create_subscription(NormalizedRegionOfInterest2D, '/humans/faces/f7/roi',
                             rois.append, reliable)
    node.create_subscription(FacialLandmarks, '/humans/faces/f7/landmarks', landmarks.append,
                             reliable)
    image_pub = node.create_publisher(Image, 'image', qos_profile('reliable', 2))
    tracks_pub = node.create_publisher(Detection2DArray, 'tracks', reliable)
    keypoints_pub = node.create_publisher(Detection2DArray, 'keypoints', reliable)
    header = Header(frame_id='camera_optical_frame')
    header.stamp.sec = 42
    boxes = [(100, 100, 160, 170), (200, 100, 260, 170), (300, 100, 300, 170),
             (700, 100, 760, 170), (np.nan, 100, 460, 170), (600, 400, 700, 500)]
    tracks = boxes_to_detection_array(header, boxes, [0.9] * 6, ['face'] * 6,
                                      ids=['7', 'a/b', '8', '9', '10', '11'])
    found = Detections(np.array(boxes[:1]), [0.9], [0],
                       np.array([[[120, 125], [140, 125], [np.nan, 140]]]))
    keypoints = keypoints_to_array(header, found, ['right_eye', 'chin_dimple', 'nose_tip'])
    image = numpy_to_image(np.full((480, 640, 3), 90, np.uint8), 'bgr8', header=header)
    with NodeProcess([executable('hri_node')], tmp_path / 'hri.log') as hri:
        assert spin_until(executor, lambda: node.count_subscribers('image') and
                          node.count_subscribers('tracks') and
                          node.count_publishers('/humans/faces/tracked'), 30), hri.output()
        # Sent again while unanswered: the first may go before hri_node sees these publishers.
        for _ in range(30):
            image_pub.publish(image)
            keypoints_pub.publish(keypoints)
            tracks_pub.publish(tracks)
            if spin_until(executor, lambda: tracked and rois and landmarks, 1.0):
                break
        assert tracked and rois and landmarks, hri.output()
        assert hri.wait_for_output('keypoints chin_dimple have no REP 155 landmark')
    output = hri.output()
    assert list(tracked[0].ids) == ['f7', 'f11']  # f11: beyond the image's corner, clipped
    assert "skipped a track with id 'a/b'" in output
    # f8 (no width), f9 (outside), f10 (NaN): one warning, the next two within its 5 s.
    assert 'skipped face f8: its box' in output and 'skipped face f9' not in output
    roi = rois[0]
    assert (roi.xmin, roi.ymin, roi.xmax, roi.ymax) == pytest.approx(
        (100 / 640, 100 / 480, 160 / 640, 170 / 480))
    points = np.array([(p.x, p.y, p.c) for p in landmarks[0].landmarks])
    assert np.isfinite(points).all()
    assert np.flatnonzero(points[:, 2]).tolist() == [68]  # the NaN nose and the chin left out
