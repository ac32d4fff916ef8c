"""Appearance descriptors from real face pixels, and re-identification in the tracker."""

import functools

from face_detector_ros.evaluation.mot import evaluate
from face_detector_ros.simulation import faces, scenarios
from face_detector_ros.tracking.appearance import DIMENSION, face_descriptors
from face_detector_ros.tracking.baseline import GreedyCentroidTracker
from face_detector_ros.tracking.tracker import CentroidTracker
import numpy as np
import pytest


def jittered_views(crop, count, rng):
    """Return descriptors of `crop` pasted at random places, seen through jittered boxes."""
    rows = []
    for _ in range(count):
        image = faces.background('brick', 640, 480)
        cx, cy, width = rng.uniform(100, 540), rng.uniform(100, 380), rng.uniform(50, 90)
        box = faces.paste_face(image, crop, (cx - width / 2, cy - 0.6 * width,
                                             cx + width / 2, cy + 0.6 * width))
        centre = (box[:2] + box[2:]) / 2 + rng.normal(0, 0.04, 2) * (box[2] - box[0])
        half = (box[2:] - box[:2]) / 2 * np.exp(rng.normal(0, 0.05))
        rows.append(face_descriptors(image, [np.r_[centre - half, centre + half]])[0])
    return np.array(rows)


def test_descriptors_match_the_same_face_and_separate_different_faces():
    rng = np.random.default_rng(3)
    crops = faces.face_crops()  # astronaut, camera and ten LFW faces: twelve people
    views = np.array([jittered_views(crop, 4, rng) for crop in crops])  # (12, 4, D)
    assert views.shape == (len(crops), 4, DIMENSION)
    assert np.allclose(np.linalg.norm(views, axis=2), 1.0, atol=1e-5)
    similarity = np.einsum('aid,bjd->abij', views, views)
    same = np.array([similarity[k, k][np.triu_indices(4, 1)] for k in range(len(crops))])
    mean = similarity.mean(axis=(2, 3))
    assert same.mean() > 0.85
    # Each person's views look more like each other than like anyone else, on average.
    for k in range(len(crops)):
        assert mean[k, k] > np.delete(mean[k], k).max(), crops[k].name


def test_bad_boxes_give_no_appearance():
    image = faces.background('brick', 640, 480)
    boxes = [[10, 10, 10, 40],            # zero width
             [700, 10, 760, 80],          # beyond the image
             [np.nan, 10, 60, 80],        # not finite
             [-50, 10, 10, 80],           # mostly outside
             [-12, 200, 48, 272],         # 80 % inside: entering, squeezed
             [100, 100, 160, 172],        # fine
             [300, 300, 360, 372], [310, 305, 370, 377]]  # one hides the other
    descriptors = face_descriptors(image, boxes)
    known = np.isfinite(descriptors).all(axis=1)
    assert known.tolist() == [False, False, False, False, False, True, False, False]
    assert np.isnan(descriptors[~known]).all()
    assert face_descriptors(image, np.zeros((0, 4))).shape == (0, DIMENSION)


def person(seed):
    """Return a unit descriptor standing for one person's appearance."""
    vector = np.random.default_rng(seed).normal(size=DIMENSION)
    return vector / np.linalg.norm(vector)


def look(descriptor, rng):
    """Return a noisy view of a descriptor (similarity about 0.9)."""
    noisy = descriptor + rng.normal(0, 0.04, DIMENSION)
    return noisy / np.linalg.norm(noisy)


def box(cx, cy, size=60.0):
    """Return a square box around a centre."""
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def run(tracker, frames, rng, start=0.0, fps=10.0):
    """Feed frames of [(cx, cy, descriptor or None, label)]; return the id sets per frame."""
    ids = []
    for k, faces_here in enumerate(frames):
        boxes = np.array([box(cx, cy) for cx, cy, _, _ in faces_here]).reshape(-1, 4)
        appearances = np.array([look(d, rng) if d is not None else np.full(DIMENSION, np.nan)
                                for _, _, d, _ in faces_here]).reshape(-1, DIMENSION)
        tracks = tracker.update(boxes, np.full(len(boxes), 0.9),
                                [label for *_, label in faces_here], start + k / fps, appearances)
        ids.append({track.id: track for track in tracks})
    return ids


def walk(descriptor, x0, speed, frames, y=200.0, label='face'):
    """Return per-frame positions of one face walking right at `speed` px per frame."""
    return [[(x0 + speed * k, y, descriptor, label)] for k in range(frames)]


@pytest.mark.parametrize('gap, same_id', [(3.0, True), (6.0, False)])
def test_a_face_that_comes_back_within_reid_timeout_gets_its_id(gap, same_id):
    rng = np.random.default_rng(0)
    alice = person(1)
    tracker = CentroidTracker(reid_timeout=5.0)
    before = run(tracker, walk(alice, 100, 3, 10), rng)
    (first,) = before[-1]
    run(tracker, [[]] * int(gap * 10), rng, start=1.0)  # gone (max_age 1 s): removed
    back = run(tracker, walk(alice, 500, -3, 10), rng, start=1.0 + gap)
    assert set(back[-1]) == ({first} if same_id else set(back[-1]) - {first})
    assert len(back[-1]) == 1
    assert tracker.reidentified == int(same_id)


def test_someone_else_where_one_left_gets_a_new_id_and_the_first_keeps_theirs():
    rng = np.random.default_rng(0)
    alice, bob = person(1), person(2)
    tracker = CentroidTracker()
    (first,) = run(tracker, walk(alice, 100, 3, 10), rng)[-1]
    run(tracker, [[]] * 20, rng, start=1.0)
    (second,) = run(tracker, walk(bob, 130, 3, 10), rng, start=3.0)[-1]  # where alice was
    assert second != first
    run(tracker, [[]] * 15, rng, start=4.0)
    assert set(run(tracker, walk(alice, 400, 3, 10), rng, start=5.5)[-1]) == {first}


def test_faces_crossing_behind_a_pillar_keep_their_ids():
    # Alice is hidden longer than max_age (removed) and comes out where Bob, hidden since, is
    # predicted: his coasting track must not take her; each gets their own id back.
    rng = np.random.default_rng(0)
    alice, bob = person(1), person(2)
    frames = []
    for k in range(70):
        alice_x, bob_x = 100 + 8 * k, 630 - 8 * k
        frames.append([(x, y, who, 'face') for x, y, who in
                       ((alice_x, 200, alice), (bob_x, 212, bob)) if not 250 <= x <= 390])
    ids = run(CentroidTracker(), frames, rng)

    def seen_at(frame):
        """Return the ids of the detected tracks, left to right."""
        return [track.id for track in sorted(frame.values(), key=lambda track: track.box[0])
                if track.time_since_update == 0]

    assert seen_at(ids[10]) == ['1', '2']   # Alice left, Bob right
    assert seen_at(ids[44]) == ['1']        # Alice out on the right, Bob still hidden
    assert seen_at(ids[-1]) == ['2', '1']   # Bob out on the left


@pytest.mark.parametrize('image_size', [None, (640, 480)])
def test_a_face_that_left_the_image_does_not_take_one_appearing_inside(image_size):
    # Alice walks out on the right; 0.5 s later (within max_age) Bob comes out from behind a
    # cover further left, too covered for a look at first. Alice's coasting track reaches him
    # on motion alone, but its predicted box is out of the image: only with the image size
    # does Bob get his own id; Alice coming back gets hers by appearance.
    rng = np.random.default_rng(0)
    alice, bob = person(1), person(2)
    tracker = CentroidTracker(image_size=image_size)
    run(tracker, walk(alice, 480, 15, 10), rng)  # last seen at x = 615, 150 px/s
    run(tracker, [[]] * 4, rng, start=1.0)
    bob_frames = [[(560 - 5 * k, 210, None if k < 3 else bob, 'face')] for k in range(25)]
    for k in range(10):
        bob_frames[15 + k].append((640 - 10 * k, 200, alice, 'face'))
    last = run(tracker, bob_frames, rng, start=1.4)[-1]
    ids = [track.id for track in sorted(last.values(), key=lambda track: track.box[0])]
    # Without the image size Bob takes Alice's id and Alice comes back under a new one.
    assert ids == (['1', '2'] if image_size is None else ['2', '1'])


def test_appearance_never_overrides_the_label():
    rng = np.random.default_rng(0)
    alice = person(1)
    tracker = CentroidTracker(min_hits=1)
    (first,) = run(tracker, walk(alice, 100, 0, 5, label='with_mask'), rng)[-1]
    run(tracker, [[]] * 15, rng, start=0.5)
    (other,) = run(tracker, walk(alice, 100, 0, 3, label='without_mask'), rng, start=2.0)[-1]
    assert other != first


def test_appearance_never_overrides_the_motion_gate():
    rng = np.random.default_rng(0)
    alice = person(1)
    tracker = CentroidTracker()
    (first,) = run(tracker, walk(alice, 100, 3, 10), rng)[-1]
    # The same look far from the prediction: not matched, the track coasts on its prediction.
    jumped = run(tracker, walk(alice, 500, 0, 2, y=400), rng, start=1.0)
    for frame in jumped:
        assert set(frame) == {first} and frame[first].time_since_update > 0
        assert frame[first].box[0] < 250


def test_unknown_appearances_change_nothing():
    rng = np.random.default_rng(0)
    crossing = [[(100 + 15 * k, 200, None, 'face'), (400 - 15 * k, 204, None, 'face')]
                for k in range(30)]
    with_nan = run(CentroidTracker(), crossing, rng)
    plain = CentroidTracker()
    without = [plain.update(np.array([box(cx, cy) for cx, cy, _, _ in frame]), np.full(2, 0.9),
                            ['face'] * 2, k / 10) for k, frame in enumerate(crossing)]
    assert len(with_nan[-1]) == 2
    assert [sorted((t.id, t.box) for t in frame.values()) for frame in with_nan] == [
        sorted((t.id, t.box) for t in frame) for frame in without]


def test_appearances_validated():
    tracker = CentroidTracker()
    with pytest.raises(ValueError, match='appearances'):
        tracker.update([box(0, 0)], [0.9], ['face'], 0.0, np.ones((2, DIMENSION)))
    tracker.update([box(0, 0)], [0.9], ['face'], 0.0, np.ones((1, DIMENSION)))
    with pytest.raises(ValueError, match='columns'):
        tracker.update([box(0, 0)], [0.9], ['face'], 0.1, np.ones((1, 5)))
    with pytest.raises(ValueError, match='reid_timeout'):
        CentroidTracker(reid_timeout=-1.0)
    with pytest.raises(ValueError, match='image_size'):
        CentroidTracker(image_size=(640, 0))


@functools.lru_cache(maxsize=None)
def scores(name, fps):
    """Return the MOT scores of greedy, ours (no appearance) and reid (and image size)."""
    scenario = scenarios.generate(name, fps)
    gt = scenarios.ground_truth_rows(scenario)
    return {'greedy': evaluate(gt, scenarios.track_rows(GreedyCentroidTracker(), scenario)),
            'ours': evaluate(gt, scenarios.track_rows(CentroidTracker(), scenario)),
            'reid': evaluate(gt, scenarios.track_rows(
                CentroidTracker(image_size=scenario.image_size), scenario,
                scenarios.appearances(scenario)))}


@pytest.mark.parametrize('name', scenarios.SCENARIOS)
def test_reid_never_switches_more_than_todays_tracker(name):
    result = scores(name, 7)
    assert result['reid']['id_switches'] <= result['ours']['id_switches']
    assert result['reid']['idf1'] >= result['ours']['idf1'] - 0.01


@pytest.mark.parametrize('fps', [7, 30])
def test_leave_return_keeps_ids_within_a_fifth_of_greedy_switches(fps):
    result = scores('leave_return', fps)
    assert result['reid']['id_switches'] * 5 <= result['greedy']['id_switches']
    assert result['ours']['id_switches'] > 0  # without appearance the returning faces are new
    assert result['reid']['idf1'] > result['ours']['idf1'] + 0.1


@pytest.mark.parametrize('fps', [7, 30])
def test_walk_behind_fewer_switches_than_without_appearance(fps):
    result = scores('walk_behind', fps)
    assert result['reid']['id_switches'] < result['ours']['id_switches']
    assert result['reid']['idf1'] > result['ours']['idf1'] + 0.1
    # The target of issue 14; at 7 FPS met only since tracks that leave the image are lost.
    assert result['reid']['id_switches'] * 5 <= result['greedy']['id_switches']
