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


def test_a_previous_match_stays_a_candidate_whatever_the_row_order():
    # gt 1 and 2 were both last matched to hypothesis 10; in frame 3 hypothesis 10 still
    # overlaps gt 2 (IoU 0.6) and not gt 1. Whichever gt row comes first, gt 2 keeps 10: no
    # switch (py-motmetrics agrees). Before, gt 1 first took 10 out of the running: IDSW 1.
    gt = np.array([[1, 1, 0, 0, 10, 10, 1], [2, 2, 100, 0, 10, 10, 1],
                   [3, 1, 0, 0, 10, 10, 1], [3, 2, 100, 0, 10, 10, 1]], float)
    pred = np.array([[1, 10, 0, 0, 10, 10, 1], [2, 10, 100, 0, 10, 10, 1],
                     [3, 10, 102.5, 0, 10, 10, 1], [3, 11, 100, 0, 10, 10, 1]], float)
    for rows in (gt, gt[[0, 1, 3, 2]]):
        result = evaluate(rows, pred)
        assert (result['id_switches'], result['mota']) == (0, 0.5)


def _random_sequence(rng, frames=30, objects=5):
    """Return gt and noisy, sometimes swapped, sometimes missing predictions as MOT rows."""
    gt, pred = [], []
    start = rng.uniform(0, 200, (objects, 2))
    velocity = rng.uniform(-6, 6, (objects, 2))
    for frame in range(1, frames + 1):
        ids = np.arange(1, objects + 1)
        for index in rng.permutation(objects):
            if rng.random() < 0.1:
                continue  # not in this frame
            x, y = start[index] + velocity[index] * frame
            gt.append([frame, ids[index], x, y, 30, 30, 1])
            if rng.random() < 0.15:
                continue  # missed
            track = ids[index] + 100 * (frame > frames // 2 and index == 0)  # a switch
            jitter = rng.normal(0, 4, 2)
            pred.append([frame, track, x + jitter[0], y + jitter[1], 30, 30, 1])
        for extra in range(rng.poisson(0.3)):  # false positives, ids unique per frame
            pred.append([frame, 1000 + 10 * frame + extra, *rng.uniform(0, 250, 2), 30, 30, 1])
    return np.array(gt), np.array(pred)


@pytest.mark.parametrize('seed', range(6))
def test_metrics_agree_with_py_motmetrics_on_random_sequences(seed):
    mm = pytest.importorskip('motmetrics')
    gt, pred = _random_sequence(np.random.default_rng(seed))
    accumulator = mm.MOTAccumulator(auto_id=True)
    for frame in range(1, int(gt[:, 0].max()) + 1):
        g, p = gt[gt[:, 0] == frame], pred[pred[:, 0] == frame]
        # motmetrics' own iou_matrix uses np.asfarray (gone in numpy 2): the same distances.
        distance = 1 - iou_matrix(g[:, 2:6], p[:, 2:6])
        distance[distance > 0.5] = np.nan
        accumulator.update(g[:, 1].astype(int), p[:, 1].astype(int), distance)
    names = ['mota', 'motp', 'idf1', 'idp', 'idr', 'num_switches', 'num_fragmentations']
    theirs = mm.metrics.create().compute(accumulator, metrics=names, name='run').iloc[0]
    ours = evaluate(gt, pred)
    assert ours['id_switches'] == theirs['num_switches']
    assert ours['fragmentations'] == theirs['num_fragmentations']
    for name in ('mota', 'idf1', 'idp', 'idr'):
        assert ours[name] == pytest.approx(theirs[name], abs=1e-12), name
    # motmetrics' MOTP is the mean distance (1 - IoU); ours is the mean IoU.
    assert ours['motp'] == pytest.approx(1 - theirs['motp'], abs=1e-12)


def test_zero_marked_rows_under_the_devkit_and_the_trackeval_conventions():
    gt = np.array([[1, 1, 0, 0, 10, 10, 1], [1, 2, 50, 0, 10, 10, 0]], float)
    pred = np.array([[1, 7, 0, 0, 10, 10, 1], [1, 8, 50, 0, 10, 10, 1]], float)
    devkit = evaluate(gt, pred)
    trackeval = evaluate(gt, pred, zero_marked='trackeval')
    assert (devkit['gt'], devkit['predictions'], devkit['false_positives']) == (1, 1, 0)
    assert (trackeval['gt'], trackeval['predictions'], trackeval['false_positives']) == (1, 2, 1)
    assert devkit['mota'] == 1.0 and trackeval['mota'] == 0.0
    with pytest.raises(ValueError, match='zero_marked must be one of'):
        evaluate(gt, pred, zero_marked='motchallenge')
