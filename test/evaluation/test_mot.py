"""MOT metrics against hand-computed cases, and the MOTChallenge file format."""

import math

from face_detector_ros.evaluation.mot import evaluate, iou_matrix, read_mot, write_mot
import numpy as np
import pytest


def row(frame, track_id, left, top=0.0, size=10.0):
    """Return a MOT row for a square box."""
    return [frame, track_id, left, top, size, size, 1.0]


def test_iou_matrix():
    iou = iou_matrix([[0, 0, 10, 10]], [[0, 0, 10, 10], [2, 0, 10, 10], [20, 20, 5, 5]])
    assert iou == pytest.approx(np.array([[1.0, 8 / 12, 0.0]]))


def test_perfect_tracking_with_other_ids():
    gt = [row(f, gt_id, 30 * gt_id) for f in (1, 2, 3) for gt_id in (1, 2)]
    pred = [row(f, gt_id + 100, 30 * gt_id) for f in (1, 2, 3) for gt_id in (1, 2)]
    m = evaluate(gt, pred)
    assert (m['mota'], m['idf1'], m['motp']) == (1.0, 1.0, 1.0)
    assert (m['id_switches'], m['fragmentations'], m['false_positives']) == (0, 0, 0)
    assert (m['gt_ids'], m['pred_ids'], m['frames']) == (2, 2, 3)


def test_id_switch():
    gt = [row(f, 1, 0) for f in range(1, 5)]
    pred = [row(f, 10 if f <= 2 else 11, 0) for f in range(1, 5)]
    m = evaluate(gt, pred)
    assert m['id_switches'] == 1
    assert m['mota'] == pytest.approx(1 - 1 / 4)
    assert m['idf1'] == pytest.approx(2 * 2 / (4 + 4))


def test_miss_false_positive_and_fragmentation():
    gt = [row(f, 1, 0) for f in range(1, 6)]
    pred = [row(f, 7, 0) for f in (1, 2, 4, 5)] + [row(3, 8, 100)]
    m = evaluate(gt, pred)
    assert (m['matches'], m['false_negatives'], m['false_positives']) == (4, 1, 1)
    assert (m['id_switches'], m['fragmentations']) == (0, 1)
    assert m['mota'] == pytest.approx(1 - 2 / 5)
    assert m['idf1'] == pytest.approx(2 * 4 / 10)
    assert m['precision'] == pytest.approx(0.8) and m['recall'] == pytest.approx(0.8)


def test_iou_threshold():
    gt = [row(1, 1, 0)]
    assert evaluate(gt, [row(1, 5, 2)])['matches'] == 1     # IoU 0.67
    assert evaluate(gt, [row(1, 5, 4)])['matches'] == 0     # IoU 0.43
    assert evaluate(gt, [row(1, 5, 4)], iou_threshold=0.4)['matches'] == 1


def test_previous_match_kept_over_a_better_overlap():
    gt = [row(1, 1, 0), row(2, 1, 0)]
    pred = [row(1, 5, 2), row(2, 5, 2), row(2, 6, 0)]
    m = evaluate(gt, pred)
    assert m['id_switches'] == 0 and m['false_positives'] == 1
    assert m['motp'] == pytest.approx(8 / 12)


def test_identity_matching_is_global_not_greedy():
    gt = [row(f, 1, 0) for f in range(1, 6)] + [row(f, 2, 50) for f in (6, 7)]
    pred = ([row(f, 10, 0) for f in (1, 2, 3)] + [row(f, 11, 0) for f in (4, 5)]
            + [row(f, 10, 50) for f in (6, 7)])
    m = evaluate(gt, pred)
    # Greedy would pair 1-10 (3 frames) alone; the optimum pairs 1-11 and 2-10 (4 frames).
    assert m['idf1'] == pytest.approx(2 * 4 / 14)
    assert m['id_switches'] == 1  # a hypothesis moving to another object is not a switch
    assert m['mota'] == pytest.approx(1 - 1 / 7)


def test_empty_prediction_and_empty_ground_truth():
    gt = [row(1, 1, 0)]
    m = evaluate(gt, np.empty((0, 7)))
    assert (m['mota'], m['idf1'], m['false_negatives']) == (0.0, 0.0, 1)
    m = evaluate(np.empty((0, 7)), gt)
    assert math.isnan(m['mota']) and m['false_positives'] == 1


def test_round_trip(tmp_path):
    rows = np.array([row(2, 3, 10.25, 4.5), row(1, 1, 0.0), [1, 2, 5.0, 6.0, 7.5, 8.25, 0.8]])
    path = tmp_path / 'pred.txt'
    write_mot(path, rows)
    lines = path.read_text().splitlines()
    assert lines[0] == '1,1,0.00,0.00,10.00,10.00,1,-1,-1,-1'
    assert len(lines) == 3
    back = read_mot(path)
    order = np.lexsort((rows[:, 1], rows[:, 0]))
    assert back == pytest.approx(rows[order])


def test_read_accepts_spaces_and_keeps_ignored_ground_truth(tmp_path):
    path = tmp_path / 'gt.txt'
    path.write_text('1 1 0 0 10 10 1 1 1\n\n1,2,20,0,10,10,0,1,0.5\n2, 1, 0, 0, 10, 10\n')
    assert read_mot(path)[:, [1, 6]].tolist() == [[1, 1], [2, 0], [1, 1]]


def test_predictions_on_ignored_ground_truth_are_removed_as_by_the_devkit():
    gt = np.array([[1, 1, 0, 0, 10, 10, 1],      # a face
                   [1, 2, 50, 0, 10, 10, 0],     # ignored: a reflection, say
                   [2, 1, 0, 0, 10, 10, 1],
                   [2, 2, 50, 0, 10, 10, 0]])
    pred = np.array([[1, 7, 0, 0, 10, 10, 1],
                     [1, 8, 51, 0, 10, 10, 1],   # on the ignored region: removed
                     [2, 7, 0, 0, 10, 10, 1],
                     [2, 8, 51, 0, 10, 10, 1],
                     [2, 9, 52, 1, 10, 10, 1],   # a second box there: one to one, it stays
                     [2, 10, 80, 0, 10, 10, 1]])  # nowhere near anything: stays
    scores = evaluate(gt, pred)
    assert (scores['gt'], scores['gt_ids'], scores['predictions']) == (2, 1, 4)
    assert (scores['matches'], scores['false_positives'], scores['false_negatives']) == (2, 2, 0)
    assert scores['mota'] == pytest.approx(0.0)
    # Matched against all the frame's ground truth at once: a prediction over both a face
    # (IoU 0.90) and an ignored row (IoU 0.74) goes to the face and stays.
    gt = np.array([[1, 1, 0, 0, 10, 10, 1], [1, 2, 2, 0, 10, 10, 0]])
    scores = evaluate(gt, np.array([[1, 7, 0.5, 0, 10, 10]]))
    assert (scores['matches'], scores['false_positives'], scores['predictions']) == (1, 0, 1)


@pytest.mark.parametrize('text, message', [
    ('1,1,0,0,10\n', 'at least 6'),
    ('1,1,a,0,10,10\n', 'expected numbers'),
    ('0,1,0,0,10,10\n', 'frame must be'),
    ('1,1,0,0,-10,10\n', 'positive'),
    ('1,1,0,nan,10,10\n', 'finite'),
    ('1,1,0,0,10,10\n1,1,5,5,10,10\n', 'twice'),
])
def test_read_errors_name_the_line(tmp_path, text, message):
    path = tmp_path / 'bad.txt'
    path.write_text('1,9,0,0,10,10\n' + text)
    with pytest.raises(ValueError, match=message) as error:
        read_mot(path)
    assert str(path) in str(error.value)
