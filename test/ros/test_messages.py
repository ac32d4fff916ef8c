"""The message boundary: Detections, Track lists and located tracks to vision_msgs."""

from face_detector_ros.detection.detections import Detections
from face_detector_ros.detection.drawing import draw_detections, draw_tracks
from face_detector_ros.evaluation.mot import rows_from_boxes, rows_from_tracks
from face_detector_ros.ros.messages import (
    boxes_to_detection_array,
    detection_array_to_boxes,
    detections_to_array,
    faces_to_array,
    pose_messages,
    tracks_to_array,
)
from face_detector_ros.tracking.tracker import Track
from geometry_msgs.msg import PoseWithCovariance
import numpy as np
from std_msgs.msg import Header

HEADER = Header(frame_id='camera_optical_frame')
HEADER.stamp.sec, HEADER.stamp.nanosec = 12, 500
TRACKS = [Track('7', 'good', (10.0, 20.0, 50.0, 80.0), 0.9, (1.0, 0.0), 5, 0.4, 0.0),
          Track('9', 'bad', (100.5, 1.5, 140.5, 61.5), 0.4, (0.0, -2.0), 3, 0.2, 0.1)]


def test_detections_to_array_names_class_ids():
    found = Detections([[10, 20, 50, 80], [1, 2, 3, 4]], [0.9, 0.5], [1, 0], np.zeros((2, 0, 2)))
    array = detections_to_array(HEADER, found, ['good', 'bad'])
    boxes, scores, labels, ids = detection_array_to_boxes(array)
    np.testing.assert_allclose(boxes, found.boxes)
    np.testing.assert_allclose(scores, found.scores)
    assert labels == ['bad', 'good'] and ids == ['', '']
    assert all(detection.header == HEADER for detection in array.detections)


def test_tracks_to_array_keeps_ids_and_poses():
    poses = pose_messages([[0.1, 0.2, 2.0], [0.0, 0.0, 3.0]], np.stack([np.eye(6)] * 2))
    array = tracks_to_array(HEADER, TRACKS, poses)
    assert array == boxes_to_detection_array(HEADER, [t.box for t in TRACKS],
                                             [t.score for t in TRACKS],
                                             [t.label for t in TRACKS],
                                             ids=[t.id for t in TRACKS], poses=poses)
    boxes, _, labels, ids = detection_array_to_boxes(array)
    np.testing.assert_allclose(boxes, [t.box for t in TRACKS])
    assert labels == ['good', 'bad'] and ids == ['7', '9']
    assert array.detections[1].results[0].pose.pose.position.z == 3.0
    assert tracks_to_array(HEADER, TRACKS).detections[0].results[0].pose == PoseWithCovariance()


def test_faces_to_array_one_box_per_located_track():
    poses = pose_messages([[0.1, 0.2, 2.0], [0.0, 0.0, 3.0]], np.stack([np.eye(6) * 2] * 2))
    assert poses[0].pose.orientation.w == 1.0 and poses[0].covariance[0] == 2.0
    array = faces_to_array(HEADER, TRACKS, poses, 0.16, 0.2)
    assert array.header == HEADER and [face.id for face in array.detections] == ['7', '9']
    face = array.detections[0]
    assert face.header == HEADER and face.bbox.center == poses[0].pose
    assert (face.bbox.size.x, face.bbox.size.y, face.bbox.size.z) == (0.16, 0.16, 0.2)
    assert face.results[0].hypothesis.class_id == 'good'
    assert face.results[0].hypothesis.score == 0.9 and face.results[0].pose == poses[0]
    assert faces_to_array(HEADER, [], [], 0.16, 0.2).detections == []


def test_draw_tracks_is_draw_detections_with_ids():
    image = np.zeros((120, 160, 3), np.uint8)
    expected = draw_detections(image.copy(), [t.box for t in TRACKS], [t.label for t in TRACKS],
                               [t.score for t in TRACKS], ids=[t.id for t in TRACKS])
    np.testing.assert_array_equal(draw_tracks(image, TRACKS), expected)


def test_rows_from_tracks():
    np.testing.assert_array_equal(rows_from_tracks(4, TRACKS),
                                  rows_from_boxes(4, [7, 9], [t.box for t in TRACKS], [0.9, 0.4]))
    assert rows_from_tracks(4, TRACKS, [1, 2])[:, 1].tolist() == [1.0, 2.0]
    assert rows_from_tracks(4, []).shape == (0, 7)
