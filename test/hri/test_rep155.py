"""REP 155 face data without ROS: ids, regions, crops, landmarks, face frames, face sets."""

import math

import cv2
from face_detector_ros.detection.detections import Detections
from face_detector_ros.detection.engine import InferenceEngine
from face_detector_ros.hri import rep155
from face_detector_ros.ros.messages import keypoint_array_to_points, keypoints_to_array
import numpy as np
import pytest
import skimage.data
from std_msgs.msg import Header


@pytest.mark.parametrize('track_id, expected', [
    ('1735', 'f1735'), ('7', 'f7'), ('a_1', 'fa_1'),
    ('', None), ('-3', None), ('a/b', None), ('a__b', None), ('_1', None), ('1 2', None),
    (None, None)])
def test_face_ids_are_topic_name_tokens(track_id, expected):
    assert rep155.face_id(track_id) == expected


def test_regions_are_normalised_and_clipped_to_the_image():
    assert rep155.normalized_roi((64, 48, 320, 240), 640, 480) == (0.1, 0.1, 0.5, 0.5)
    assert rep155.normalized_roi((-64, -10, 320, 960), 640, 480) == (0.0, 0.0, 0.5, 1.0)
    for box in ((10, 10, 10, 40), (50, 10, 40, 40), (700, 10, 800, 40), (np.nan, 1, 5, 5),
                (0, 0, np.inf, 5)):
        assert rep155.normalized_roi(box, 640, 480) is None, box
    assert rep155.normalized_roi((1, 1, 5, 5), 0, 480) is None


def test_a_crop_keeps_the_aspect_centred_and_zero_padded():
    image = np.random.default_rng(0).integers(1, 255, (480, 640, 3), dtype=np.uint8)
    crop = rep155.crop_face(image, (100, 100, 140, 180), 128, 128)  # 40 x 80: tall
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    # Scaled by 1.6 to 64 x 128, centred: 32 columns of zeros each side.
    assert not crop[:, :32].any() and not crop[:, 96:].any()
    assert crop[:, 32:96].all()
    expected = cv2.resize(image[100:180, 100:140], (64, 128), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(crop[:, 32:96], expected)
    # Other sizes, a mono image, a box beyond the image (clipped), one wholly outside.
    assert rep155.crop_face(image, (0, 0, 640, 480), 64, 32).shape == (32, 64, 3)
    mono = rep155.crop_face(image[:, :, 0], (600, 400, 700, 500), 50, 40)  # 40 x 80 inside
    assert mono.shape == (40, 50) and mono[:, 15:35].all()
    assert not mono[:, :15].any() and not mono[:, 35:].any()
    assert rep155.crop_face(image, (650, 10, 700, 60), 128, 128) is None


def test_landmarks_go_to_their_rep155_indices_and_the_rest_is_absent():
    names = ['right_eye', 'left_eye', 'nose_tip', 'mouth_right', 'mouth_left']
    indices, unknown = rep155.landmark_indices(names + ['chin_dimple'])
    assert indices == [68, 69, 30, 48, 54, None] and unknown == ['chin_dimple']
    points = np.array([[200, 100], [250, 100], [225, 130], [205, 150], [245, 150],
                       [0, 0]], float)
    landmarks = rep155.landmark_points(points, indices, 0.9, 640, 480)
    assert landmarks.shape == (70, 3)
    assert np.allclose(landmarks[68], (200 / 640, 100 / 480, 0.9))
    assert np.allclose(landmarks[54], (245 / 640, 150 / 480, 0.9))
    present = np.flatnonzero(landmarks[:, 2])
    assert present.tolist() == [30, 48, 54, 68, 69]
    assert not landmarks[np.setdiff1d(np.arange(70), present)].any()
    # NaN or outside the image: absent, never NaN or clipped; a score above 1 is capped.
    points[0] = (np.nan, 100)
    points[1] = (700, 100)
    landmarks = rep155.landmark_points(points, indices, 1.7, 640, 480)
    assert np.isfinite(landmarks).all()
    assert np.flatnonzero(landmarks[:, 2]).tolist() == [30, 48, 54]
    assert landmarks[30, 2] == 1.0
    blazeface = rep155.landmark_indices(['right_eye', 'left_eye', 'nose_tip', 'mouth_centre',
                                         'right_ear_tragion', 'left_ear_tragion'])
    assert blazeface == ([68, 69, 30, None, 0, 16], [])


@pytest.mark.parametrize('model', ['retinaface', 'blazeface_short_range'])
def test_the_cards_keypoint_names_fit_a_real_face(model):
    """The person's right eye and ear are on the image's left, the mouth below the nose."""
    image = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    engine = InferenceEngine(model)
    found = engine.detect(image)
    assert len(found.boxes) >= 1
    points = dict(zip(engine.keypoint_names, found.keypoints[0].tolist()))
    assert len(points) == found.keypoints.shape[1]
    assert not rep155.landmark_indices(engine.keypoint_names)[1]
    assert points['right_eye'][0] + 20 < points['left_eye'][0]
    assert points['right_eye'][0] < points['nose_tip'][0] < points['left_eye'][0]
    mouth = [points[name] for name in ('mouth_right', 'mouth_left', 'mouth_centre')
             if name in points]
    assert all(point[1] > points['nose_tip'][1] > points['right_eye'][1] for point in mouth)
    if 'mouth_right' in points:
        assert points['mouth_right'][0] < points['mouth_left'][0]
    if 'right_ear_tragion' in points:
        assert points['right_ear_tragion'][0] < points['right_eye'][0]
        assert points['left_ear_tragion'][0] > points['left_eye'][0]


def test_keypoints_travel_in_a_detection_array_and_come_back():
    detections = Detections(np.array([[10, 20, 50, 70], [100, 100, 140, 150]]),
                            np.array([0.9, 0.6]), np.zeros(2),
                            np.arange(20, dtype=float).reshape(2, 5, 2))
    names = ['right_eye', 'left_eye', 'nose_tip', 'mouth_right', 'mouth_left']
    array = keypoints_to_array(Header(frame_id='cam'), detections, names)
    assert [len(d.results) for d in array.detections] == [5, 5]
    boxes, points, read_names, scores = keypoint_array_to_points(array)
    assert read_names == names
    assert np.allclose(boxes, detections.boxes) and np.allclose(points, detections.keypoints)
    assert np.allclose(scores, [0.9, 0.6])
    del array.detections[1].results[4]  # a face with another layout is left out
    boxes, points, _, _ = keypoint_array_to_points(array)
    assert len(boxes) == 1 and points.shape == (1, 5, 2)


def test_keypoints_are_matched_to_the_tracks_they_belong_to():
    detections = np.array([[100, 100, 150, 160], [300, 100, 340, 150]], float)
    tracks = np.array([[302, 101, 341, 152], [500, 300, 540, 340], [101, 99, 152, 160]], float)
    assert rep155.match_keypoints(tracks, detections).tolist() == [1, -1, 0]
    assert rep155.match_keypoints(tracks, np.empty((0, 4))).tolist() == [-1, -1, -1]
    assert rep155.match_keypoints(np.empty((0, 4)), detections).tolist() == []


def rotation_matrix(quaternion):
    x, y, z, w = quaternion
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@pytest.mark.parametrize('position', [(0, 0, 2), (0.5, -0.3, 1.5), (-1.2, 0.4, 3.0),
                                      (2.0, 0.1, 0.2)])
def test_a_face_frame_looks_at_the_camera_with_z_up(position):
    quaternion = rep155.face_frame_rotation(position)
    assert math.isclose(np.linalg.norm(quaternion), 1.0, abs_tol=1e-9)
    rotation = rotation_matrix(quaternion)
    assert np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
    assert np.isclose(np.linalg.det(rotation), 1.0)
    forward, up = rotation[:, 0], rotation[:, 2]
    assert np.allclose(forward, -np.asarray(position) / np.linalg.norm(position))
    assert up[1] < 0 and abs(up.dot(forward)) < 1e-9  # optical y points down
    if position == (0, 0, 2):
        assert np.allclose(up, (0, -1, 0))
    for bad in ((0, 0, 0), (np.nan, 0, 1), (0, 3, 0)):
        assert rep155.face_frame_rotation(bad) is None


def test_a_face_set_says_which_faces_appeared_and_which_were_lost():
    faces = rep155.FaceSet()
    assert faces.update(['f1', 'f2']) == (['f1', 'f2'], [])
    assert faces.update(['f2', 'f3', 'f3']) == (['f3'], ['f1'])
    assert faces.ids == ['f2', 'f3']
    assert faces.update([]) == ([], ['f2', 'f3'])


def test_faces_are_selected_from_tracks_and_the_rest_said_why():
    boxes = np.array([(100, 100, 160, 170), (200, 100, 260, 170), (300, 100, 300, 170),
                      (700, 100, 760, 170), (np.nan, 1, 5, 5), (600, 400, 700, 500)], float)
    faces, skipped = rep155.select_faces(boxes, [0.9, 0.8, 0.7, 0.6, 0.5, 1.3],
                                         ['7', 'a/b', '8', '9', '10', '11'], 640, 480)
    assert [(face.id, face.index) for face in faces] == [('f7', 0), ('f11', 5)]
    assert faces[0].roi == (100 / 640, 100 / 480, 160 / 640, 170 / 480)
    assert faces[1].roi == (600 / 640, 400 / 480, 1.0, 1.0) and faces[1].score == 1.0
    assert [kind for kind, _ in skipped] == ['id', 'box', 'box', 'box']
    assert "id 'a/b'" in skipped[0][1] and 'skipped face f8: its box' in skipped[1][1]


def test_landmarks_go_to_the_faces_their_keypoints_belong_to():
    names = ['right_eye', 'left_eye', 'chin_dimple']
    points = np.array([[[110, 120], [140, 120], [125, 160]]], float)
    face_boxes = np.array([(500, 300, 540, 340), (101, 99, 161, 171)], float)
    landmarks, unknown = rep155.face_landmarks(face_boxes, np.array([(100, 100, 160, 170.0)]),
                                               points, names, [0.8], 640, 480)
    assert landmarks[0] is None and unknown == ['chin_dimple']
    assert np.flatnonzero(landmarks[1][:, 2]).tolist() == [68, 69]
    assert np.allclose(landmarks[1][68], (110 / 640, 120 / 480, 0.8))
