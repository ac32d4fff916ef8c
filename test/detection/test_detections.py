"""Detections: shapes, selection and the letterbox undo."""

from face_detector_ros.detection.detections import Detections
import numpy as np
import pytest


def _two():
    keypoints = np.array([[[20, 30], [40, 50]], [[1, 2], [3, 4]]])
    return Detections([[10, 20, 110, 220], [0, 0, 4, 4]], [0.9, 0.4], [0, 1], keypoints)


def test_arrays_get_the_agreed_dtypes():
    found = _two()
    assert (found.boxes.dtype, found.scores.dtype, found.class_ids.dtype,
            found.keypoints.dtype) == (np.float32, np.float32, np.int32, np.float32)
    assert len(found) == 2


def test_empty_has_zero_rows_and_the_keypoint_count():
    empty = Detections.empty(6)
    assert len(empty) == 0
    assert empty.boxes.shape == (0, 4) and empty.keypoints.shape == (0, 6, 2)
    assert Detections.empty().keypoints.shape == (0, 0, 2)


def test_select_by_mask_and_by_index_order():
    found = _two()
    assert found.select(np.array([False, True])).scores.tolist() == [pytest.approx(0.4)]
    reordered = found.select([1, 0])
    assert reordered.class_ids.tolist() == [1, 0]
    np.testing.assert_array_equal(reordered.keypoints[1], [[20, 30], [40, 50]])


def test_scaled_undoes_a_letterbox():
    # A 640x480 frame letterboxed into 128x128: scale 0.2, bars of 16 px top and bottom.
    found = Detections([[10, 20, 30, 40]], [0.5], [0], [[[12, 26]]]).scaled(0.2, 0, 16)
    np.testing.assert_allclose(found.boxes, [[50, 20, 150, 120]])
    np.testing.assert_allclose(found.keypoints, [[[60, 50]]])
    assert found.scores.tolist() == [0.5]


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        Detections([[0, 0, 1, 1]], [0.5, 0.6], [0], np.zeros((1, 0, 2)))
    with pytest.raises(ValueError, match=r'keypoints must have shape \(1, K, 2\)'):
        Detections([[0, 0, 1, 1]], [0.5], [0], np.zeros((2, 0, 2)))
