"""Behaviour of the face tracker and of the greedy baseline it must beat."""

import logging
import math

from face_detector_ros.evaluation.mot import evaluate
from face_detector_ros.simulation import scenarios
from face_detector_ros.tracking.baseline import GreedyCentroidTracker
from face_detector_ros.tracking.tracker import (
    CentroidTracker,
    first_track_id,
    ID_EPOCH,
    MAX_TRACK_ID,
)
import numpy as np
import pytest


def box(cx, cy, size=60.0):
    """Return a square box around a centre."""
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def step(tracker, centres, stamp, labels=None, size=60.0):
    """Feed one frame of faces at `centres` and return {id: track}."""
    boxes = [box(cx, cy, size) for cx, cy in centres]
    labels = labels or ['face'] * len(boxes)
    tracks = tracker.update(np.array(boxes).reshape(-1, 4), np.full(len(boxes), 0.9), labels,
                            stamp)
    return {track.id: track for track in tracks}


def centre(track):
    """Return the centre of a track's box."""
    x1, y1, x2, y2 = track.box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2])


def test_confirmation_after_min_hits_and_fields():
    tracker = CentroidTracker(min_hits=3)
    assert step(tracker, [(100, 100)], 0.0) == {}
    assert step(tracker, [(102, 100)], 0.1) == {}
    tracks = step(tracker, [(104, 100)], 0.2)
    (track,) = tracks.values()
    assert track.label == 'face' and track.score == pytest.approx(0.9)
    assert track.hits == 3 and track.age == pytest.approx(0.2)
    assert track.time_since_update == 0.0
    assert track.velocity[0] > 0 and abs(track.velocity[1]) < 1e-9
    assert np.allclose(centre(track), (104, 100), atol=2)


def test_one_frame_false_positive_never_confirmed():
    tracker = CentroidTracker(min_hits=2)
    step(tracker, [(100, 100), (400, 300)], 0.0)
    for k in range(1, 5):
        tracks = step(tracker, [(100, 100)], k * 0.1)
    assert len(tracks) == 1


def test_missed_frame_keeps_id_and_coasts_on_prediction():
    tracker = CentroidTracker(min_hits=1)
    ids = set()
    for k in range(10):
        stamp = k / 30
        if k == 5:
            tracks = step(tracker, [], stamp)
            (track,) = tracks.values()
            assert track.time_since_update == pytest.approx(1 / 30)
            # Predicted forward at 150 px/s rather than frozen at the last detection.
            assert centre(track)[0] == pytest.approx(100 + 150 * stamp, abs=2)
        else:
            tracks = step(tracker, [(100 + 150 * stamp, 200)], stamp)
        ids |= set(tracks)
    assert len(ids) == 1


def test_crossing_faces_keep_their_ids():
    for fps in (7, 30):
        tracker = CentroidTracker(min_hits=1)
        first = None
        for k in range(int(3 * fps)):
            t = k / fps
            tracks = step(tracker, [(100 + 150 * t, 200), (550 - 150 * t, 204)], t)
            by_side = sorted(tracks.items(), key=lambda item: centre(item[1])[0])
            if first is None:
                first = [track_id for track_id, _ in by_side]
        # After crossing, the face that started on the left is on the right.
        assert [track_id for track_id, _ in by_side] == first[::-1]
        assert len(tracks) == 2


def test_gate_rejects_far_jump():
    tracker = CentroidTracker(min_hits=1)
    (first,) = step(tracker, [(100, 100)], 0.0)
    tracks = step(tracker, [(400, 300)], 1 / 30)
    assert first in tracks and len(tracks) == 2
    assert tracks[first].time_since_update > 0


def test_gate_rejects_large_size_change():
    tracker = CentroidTracker(min_hits=1, size_gate=1.5)
    (first,) = step(tracker, [(100, 100)], 0.0, size=60)
    tracks = step(tracker, [(100, 100)], 1 / 30, size=120)
    assert len(tracks) == 2 and tracks[first].time_since_update > 0


def test_labels_never_mixed():
    tracker = CentroidTracker(min_hits=1)
    (masked,) = step(tracker, [(100, 100)], 0.0, labels=['with_mask'])
    tracks = step(tracker, [(101, 100)], 0.1, labels=['without_mask'])
    assert len(tracks) == 2
    assert tracks[masked].label == 'with_mask' and tracks[masked].time_since_update > 0


@pytest.mark.parametrize('fps', [7, 30])
def test_max_age_is_in_seconds(fps):
    def survives(gap):
        tracker = CentroidTracker(min_hits=1, max_age=1.0)
        (first,) = step(tracker, [(200, 200)], 0.0)
        stamp = 0.0
        while stamp < gap:
            stamp += 1 / fps
            step(tracker, [], stamp)
        return first in step(tracker, [(200, 200)], stamp + 1 / fps)

    assert survives(0.8)
    assert not survives(1.3)


def test_invalid_boxes_ignored_and_counted():
    tracker = CentroidTracker(min_hits=1)
    boxes = [box(100, 100), [np.nan, 0, 10, 10], [0, 0, np.inf, 10], [50, 50, 50, 80],
             [60, 60, 40, 90]]
    tracks = tracker.update(boxes, [0.9, 0.9, 0.9, 0.9, 0.9], ['face'] * 5, 0.0)
    assert len(tracks) == 1 and tracker.rejected_boxes == 4
    tracker.update([box(100, 100)], [math.nan], ['face'], 0.1)
    assert tracker.rejected_boxes == 5


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        CentroidTracker().update([box(0, 0)], [0.9, 0.8], ['face'], 0.0)


def test_backwards_stamp_resets_with_log(caplog):
    tracker = CentroidTracker(min_hits=1)
    (first,) = step(tracker, [(100, 100)], 10.0)
    step(tracker, [(100, 100)], 10.1)
    with caplog.at_level(logging.WARNING, logger='face_detector_ros.tracking.tracker'):
        tracks = step(tracker, [(100, 100)], 3.0)
    assert tracker.resets == 1
    assert 'reset' in caplog.text
    (second,) = tracks
    assert second != first and tracks[second].hits == 1


def test_ids_never_reused():
    tracker = CentroidTracker(min_hits=1, max_age=0.2)
    seen = []
    for k in range(6):
        tracks = step(tracker, [(100, 100)], k * 1.0)  # each gap outlives max_age
        seen.extend(tracks)
    tracker.reset()
    seen.extend(step(tracker, [(100, 100)], 100.0))
    assert len(seen) == len(set(seen)) == 7


def test_ids_of_a_restarted_tracker_never_meet_the_run_before():
    assert first_track_id(ID_EPOCH) == 1 and first_track_id(ID_EPOCH + 0.25) == 3
    started = 1_796_000_000.0  # late 2026
    first = CentroidTracker(min_hits=1, max_age=0.2, first_id=first_track_id(started))
    # A busy first run: 50 tracks confirmed, then a restart 10 s (wall clock) after its start.
    ids = [track_id for k in range(50) for track_id in step(first, [(100, 100)], k * 1.0)]
    restarted = CentroidTracker(min_hits=1, first_id=first_track_id(started + 10.0))
    again = list(step(restarted, [(100, 100), (300, 100)], 0.0))
    assert len(set(ids)) == 50 and not set(ids) & set(again)
    assert all(1 <= int(i) <= MAX_TRACK_ID for i in ids + again)
    # int32 everywhere: from the largest id the next is 1, and any start time maps into range.
    wrapping = CentroidTracker(min_hits=1, max_age=0.2, first_id=MAX_TRACK_ID)
    assert [list(step(wrapping, [(100, 100)], k * 1.0)) for k in range(2)] == [
        [str(MAX_TRACK_ID)], ['1']]
    for now in (0.0, ID_EPOCH - 1.0, 4e9, 1e12):
        assert 1 <= first_track_id(now) <= MAX_TRACK_ID
    for wrong in (0, MAX_TRACK_ID + 1, 1.5):
        with pytest.raises(ValueError, match='first_id'):
            CentroidTracker(first_id=wrong)


def test_smoothing_reduces_jitter_without_lag():
    rng = np.random.default_rng(1)
    for speed in (0.0, 300.0):
        tracker = CentroidTracker(min_hits=1)
        raw, smooth = [], []
        for k in range(150):
            t = k / 30
            truth = np.array([100 + speed * t, 240.0])
            measured = truth + rng.normal(0, 3, 2)  # 5 % of a 60 px face
            (track,) = step(tracker, [measured], t).values()
            if k >= 30:
                raw.append(measured - truth)
                smooth.append(centre(track) - truth)
        raw, smooth = np.array(raw), np.array(smooth)
        assert smooth.var(axis=0).sum() < 0.5 * raw.var(axis=0).sum()
        assert abs(smooth[:, 0].mean()) < 1.0  # no lag behind a moving face


def test_parameters_validated():
    with pytest.raises(ValueError):
        CentroidTracker(max_age=0)
    with pytest.raises(ValueError):
        CentroidTracker(min_hits=0)


def test_greedy_baseline_drops_detections_when_tracks_outnumber_them():
    tracker = GreedyCentroidTracker()
    tracker.update([box(100, 100), box(300, 100)], [0.9, 0.9], ['face'] * 2, 0.0)
    # One face leaves, a new one appears far away: the greedy tracker reuses an old id.
    tracks = tracker.update([box(600, 400)], [0.9], ['face'], 0.1)
    assert sorted(track.id for track in tracks) == ['1', '2']


@pytest.mark.parametrize('fps', [7, 30])
@pytest.mark.parametrize('name', ['crossing', 'occlusion'])
def test_beats_greedy_baseline(name, fps):
    scenario = scenarios.generate(name, fps)
    gt = scenarios.ground_truth_rows(scenario)
    ours = evaluate(gt, scenarios.track_rows(CentroidTracker(), scenario))
    greedy = evaluate(gt, scenarios.track_rows(GreedyCentroidTracker(), scenario))
    assert ours['id_switches'] < greedy['id_switches']
    assert ours['idf1'] > greedy['idf1']
    assert ours['mota'] > greedy['mota']


def test_greedy_baseline_ages_by_frames_not_seconds():
    tracker = GreedyCentroidTracker(max_disappeared=2)
    tracker.update([box(100, 100)], [0.9], ['face'], 0.0)
    for k in range(1, 3):
        assert len(tracker.update([], [], [], k * 10.0)) == 1  # 20 s later: still there
    assert tracker.update([], [], [], 30.0) == []


def test_scenarios_are_deterministic_with_gaps_and_hidden_faces():
    first, again = scenarios.generate('occlusion', 30), scenarios.generate('occlusion', 30)
    assert len(first.frames) == len(again.frames)
    for a, b in zip(first.frames, again.frames):
        assert a.stamp == b.stamp and np.array_equal(a.boxes, b.boxes)
        assert a.labels == b.labels and np.array_equal(a.gt_ids, b.gt_ids)
    stamps = np.array([frame.stamp for frame in first.frames])
    assert (np.diff(stamps) > 0).all()
    assert np.diff([frame.index for frame in first.frames]).max() > 1  # dropped frames
    # The near face (1) hides the far one (2); faces 3 and 4 pass behind the pillar.
    present = [set(frame.gt_ids.tolist()) for frame in first.frames]
    for face_id, hidden in ((1, False), (2, True), (3, True), (4, True)):
        frames = [k for k, ids in enumerate(present) if face_id in ids]
        assert (len(frames) < frames[-1] - frames[0] + 1) == hidden


def test_tracker_from_node_parameters_takes_the_keys_it_knows():
    tracker = CentroidTracker.from_parameters({'min_hits': 5, 'max_age': 2.5,
                                               'face_width': 0.16, 'overlay_buffer': 30})
    assert (tracker.min_hits, tracker.max_age) == (5, 2.5)
