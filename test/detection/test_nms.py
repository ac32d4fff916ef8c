"""Greedy and weighted NMS, class-aware, against hand-computed cases."""

from face_detector_ros.detection.detections import Detections
from face_detector_ros.detection.nms import class_aware_nms, nms, suppress, weighted_nms
import numpy as np
import pytest

# A and B overlap with IoU 80 / 120 = 0.667; C is far away.
A, B, C = [0, 0, 10, 10], [2, 0, 12, 10], [20, 20, 30, 30]


def test_nms_drops_the_weaker_of_two_overlapping_boxes():
    assert nms([A, B, C], [0.8, 0.9, 0.7], 0.5).tolist() == [1, 2]


def test_nms_keeps_both_when_iou_is_at_or_under_the_threshold():
    half = [0, 0, 10, 5]  # IoU with A exactly 0.5
    assert nms([A, half], [0.9, 0.8], 0.5).tolist() == [0, 1]
    assert nms([A, half], [0.9, 0.8], 0.49).tolist() == [0]
    assert nms([A, B], [0.9, 0.8], 0.7).tolist() == [0, 1]


def test_nms_orders_by_score_and_keeps_the_earlier_of_equal_scores():
    assert nms([C, A, B], [0.5, 0.9, 0.9], 0.5).tolist() == [1, 0]


def test_nms_stops_at_max_detections():
    boxes = [[i * 20, 0, i * 20 + 10, 10] for i in range(5)]
    assert nms(boxes, [0.1, 0.5, 0.3, 0.9, 0.2], 0.5, max_detections=2).tolist() == [3, 1]
    assert nms(boxes, [0.1, 0.5, 0.3, 0.9, 0.2], 0.5, max_detections=0).tolist() == []


def test_nms_of_nothing_is_nothing():
    keep = nms(np.zeros((0, 4)), np.zeros(0), 0.5)
    assert keep.shape == (0,) and keep.dtype == np.intp


def test_nms_survives_empty_boxes():
    assert nms([[5, 5, 5, 5], [5, 5, 5, 5]], [0.9, 0.8], 0.5).tolist() == [0, 1]


def test_class_aware_nms_keeps_overlapping_boxes_of_different_classes():
    assert class_aware_nms([A, B, C], [0.8, 0.9, 0.7], [0, 1, 0], 0.5).tolist() == [1, 0, 2]
    assert class_aware_nms([A, B, C], [0.8, 0.9, 0.7], [1, 1, 0], 0.5).tolist() == [1, 2]


def test_weighted_nms_blends_a_cluster_by_score():
    keypoints = np.array([[[1, 1]], [[3, 2]], [[25, 25]]], dtype=np.float32)
    keep, boxes, points = weighted_nms([A, B, C], [0.6, 0.2, 0.7], 0.5, keypoints=keypoints)
    assert keep.tolist() == [2, 0]
    # The cluster A, B: (0.6 * A + 0.2 * B) / 0.8.
    np.testing.assert_allclose(boxes, [C, [0.5, 0, 10.5, 10]], atol=1e-5)
    np.testing.assert_allclose(points, [[[25, 25]], [[1.5, 1.25]]], atol=1e-5)


def test_weighted_nms_keeps_classes_apart_and_stops_at_max_detections():
    keep, boxes, points = weighted_nms([A, B, C], [0.6, 0.2, 0.7], 0.5, class_ids=[0, 1, 0])
    assert keep.tolist() == [2, 0, 1]
    np.testing.assert_allclose(boxes, [C, A, B])
    assert points.shape == (3, 0, 2)
    keep, boxes, points = weighted_nms([A, B, C], [0.6, 0.2, 0.7], 0.5, max_detections=1)
    assert keep.tolist() == [2] and boxes.shape == (1, 4)


def test_suppress_returns_detections_best_first():
    found = Detections([A, B, C], [0.6, 0.2, 0.7], [0, 0, 0], np.zeros((3, 1, 2)))
    hard = suppress(found, 0.5)
    np.testing.assert_array_equal(hard.boxes, [C, A])
    weighted = suppress(found, 0.5, weighted=True)
    np.testing.assert_allclose(weighted.boxes, [C, [0.5, 0, 10.5, 10]], atol=1e-5)
    np.testing.assert_allclose(weighted.scores, [0.7, 0.6])
    assert len(suppress(Detections.empty(1), 0.5, weighted=True)) == 0


def test_malformed_boxes_raise_value_error():
    with pytest.raises(ValueError, match=r'expected boxes \(N, 4\).*got boxes \(2, 5\)'):
        nms(np.zeros((2, 5)), np.zeros(2), 0.5)
    with pytest.raises(ValueError, match=r'scores \(3,\)'):
        weighted_nms(np.zeros((2, 4)), np.zeros(3), 0.5)


def test_nms_matches_a_brute_force_reference():
    rng = np.random.default_rng(1)
    corners = rng.uniform(0, 100, (200, 2))
    boxes = np.hstack([corners, corners + rng.uniform(5, 40, (200, 2))])
    scores = rng.permutation(200) / 200
    keep = []
    for i in np.argsort(-scores):
        if all(_iou(boxes[i], boxes[j]) <= 0.4 for j in keep):
            keep.append(i)
    assert nms(boxes, scores, 0.4).tolist() == keep


def _iou(a, b):
    inter = (max(0, min(a[2], b[2]) - max(a[0], b[0]))
             * max(0, min(a[3], b[3]) - max(a[1], b[1])))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
