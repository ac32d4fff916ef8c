"""
Deterministic tracking scenarios: moving faces, a simulated detector and the ground truth.

Each scenario moves faces along known trajectories in a 640 x 480 image and samples them at a
camera frame rate. A simulated detector sees the visible faces with jitter, misses some of them,
adds false positives, and some frames never arrive at all (stamp gaps). The ground truth holds the
identity and true box of every visible face, so tracker output can be scored with MOT metrics.
Every identity is a real person (a face crop of simulation.faces): `render` composes a frame's
image, and `appearances` gives the descriptors of the detections computed from those pixels.

Scenarios (all deterministic for a given seed and frame rate):
    crossing: two pairs of faces walk across each other at nearly the same height.
    occlusion: a near face hides a far one as they cross, and two faces cross behind a pillar.
    crowd: six faces with two labels wander and bounce off the image borders.
    static: four faces standing side by side, with strong jitter and frequent misses.
    walk_behind: two far faces walk behind a near one, and two cross behind a wide pillar,
        hidden for longer than the tracker's max_age.
    leave_return: two people leave the image and come back seconds later; meanwhile a third
        enters where one of them left.
"""

from __future__ import annotations

import dataclasses

from face_detector_ros.evaluation.mot import rows_from_boxes, rows_from_tracks
from face_detector_ros.tracking.appearance import face_descriptors
import numpy as np

# New scenarios go at the end: the index seeds each scenario's noise.
SCENARIOS = ('crossing', 'occlusion', 'crowd', 'static', 'walk_behind', 'leave_return')
IMAGE_SIZE = (640, 480)
ASPECT = 1.2  # face box height / width


@dataclasses.dataclass(frozen=True)
class Frame:
    """One delivered camera frame: the detector's output and the ground truth."""

    index: int              # 1-based camera frame number (gaps where frames were dropped)
    stamp: float            # seconds
    boxes: np.ndarray       # (N, 4) detected x1, y1, x2, y2
    scores: np.ndarray      # (N,)
    labels: list            # N strings
    gt_ids: np.ndarray      # (M,) int identities of the visible faces
    gt_boxes: np.ndarray    # (M, 4) their true x1, y1, x2, y2


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A named sequence of frames at a frame rate."""

    name: str
    fps: float
    image_size: tuple
    frames: list
    people: tuple = ()       # face crop of each identity: index into faces.face_crops(),
    #                          modulo their number (identity k is people[k - 1])
    background: int = 0      # index into faces.BACKGROUND_NAMES, modulo their number


@dataclasses.dataclass(frozen=True)
class _Detector:
    jitter: float = 0.04           # centre noise, fraction of the face size
    size_jitter: float = 0.05      # log-size noise
    miss_rate: float = 0.08        # probability of missing a visible face
    false_positives: float = 0.05  # expected false positives per frame
    drop_rate: float = 0.03        # probability that a frame never arrives


@dataclasses.dataclass(frozen=True)
class _Face:
    waypoints: np.ndarray   # (K, 4): time, centre x, centre y, width; linear in between
    label: str = 'face'
    behind_pillar: bool = False

    def at(self, time):
        """Return (cx, cy, width), or None when the face is out of the scene."""
        if not self.waypoints[0, 0] <= time <= self.waypoints[-1, 0]:
            return None
        return tuple(np.interp(time, self.waypoints[:, 0], self.waypoints[:, column])
                     for column in (1, 2, 3))


@dataclasses.dataclass(frozen=True)
class _Layout:
    duration: float
    faces: list
    detector: _Detector = _Detector()
    pillar: tuple = None          # x range hiding faces that walk behind it
    mutual_occlusion: bool = False  # a larger (nearer) face hides a smaller one behind it


def generate(name: str, fps: float, seed: int = 0) -> Scenario:
    """Return the scenario `name` sampled at `fps` frames per second."""
    if name not in SCENARIOS:
        raise ValueError(f'unknown scenario {name!r}; choose from {", ".join(SCENARIOS)}')
    if not fps > 0:
        raise ValueError(f'fps must be positive, got {fps}')
    scenario_index = SCENARIOS.index(name)
    # Trajectories do not depend on the frame rate; detector noise does.
    layout = _LAYOUTS[name](np.random.default_rng([seed, scenario_index]))
    rng = np.random.default_rng([seed, scenario_index, int(round(fps * 1000))])
    all_labels = sorted({face.label for face in layout.faces})
    frames = []
    start = 100.0  # stamps need not start at zero
    for index in range(1, int(layout.duration * fps) + 1):
        stamp = start + (index - 1 + rng.uniform(-0.1, 0.1)) / fps
        if index > 1 and rng.random() < layout.detector.drop_rate:
            continue
        gt_ids, gt_boxes, labels = _visible_faces(layout, stamp - start)
        boxes, scores, labels = _detect(gt_boxes, labels, layout.detector, all_labels, rng)
        frames.append(Frame(index, stamp, boxes, scores, labels, gt_ids, gt_boxes))
    # A different person for each identity, and different ones from one scenario to the next.
    people = tuple(3 * scenario_index + k for k in range(len(layout.faces)))
    return Scenario(name, fps, IMAGE_SIZE, frames, people, scenario_index)


def render(scenario: Scenario, frame: Frame) -> np.ndarray:
    """Return the BGR image of a frame: each visible person's face crop at its true box."""
    # Here, not at the top: generate() runs without scikit-image (robots, the LTS venv).
    from face_detector_ros.simulation import faces

    width, height = scenario.image_size
    names = faces.BACKGROUND_NAMES
    image = faces.background(names[scenario.background % len(names)], width, height)
    crops = faces.face_crops()
    # Farthest (smallest) first, so that nearer faces cover them.
    for face_id, box in sorted(zip(frame.gt_ids.tolist(), frame.gt_boxes),
                               key=lambda item: item[1][2] - item[1][0]):
        faces.paste_face(image, crops[scenario.people[face_id - 1] % len(crops)], box)
    return image


def appearances(scenario: Scenario) -> list:
    """Return each frame's (N, D) descriptors of its detections, from its rendered image."""
    return [face_descriptors(render(scenario, frame), frame.boxes) for frame in scenario.frames]


def ground_truth_rows(scenario: Scenario) -> np.ndarray:
    """Return the ground truth as MOT rows (frame, id, left, top, width, height, conf)."""
    return np.concatenate([np.empty((0, 7))] + [
        rows_from_boxes(frame.index, frame.gt_ids, frame.gt_boxes) for frame in scenario.frames])


def detection_rows(scenario: Scenario) -> np.ndarray:
    """Return the detections as MOT rows with id -1 and the score as conf."""
    return np.concatenate([np.empty((0, 7))] + [
        rows_from_boxes(frame.index, -1, frame.boxes, frame.scores)
        for frame in scenario.frames])


def track_rows(tracker: object, scenario: Scenario,
               descriptors: list | None = None) -> np.ndarray:
    """
    Run `tracker` over the scenario; return its tracks as MOT rows (ids made integers).

    `descriptors` (from `appearances`) are passed to the tracker's updates when given.
    """
    numbers = {}
    rows = [np.empty((0, 7))]
    for number, frame in enumerate(scenario.frames):
        extra = {} if descriptors is None else {'appearances': descriptors[number]}
        tracks = tracker.update(frame.boxes, frame.scores, frame.labels, frame.stamp, **extra)
        ids = [numbers.setdefault(track.id, len(numbers) + 1) for track in tracks]
        rows.append(rows_from_tracks(frame.index, tracks, ids))
    return np.concatenate(rows)


def _visible_faces(layout, time):
    """Return the ids, true boxes and labels of the faces visible at `time`."""
    present = [(face_id, face, face.at(time)) for face_id, face in enumerate(layout.faces, 1)]
    present = [(face_id, face, where) for face_id, face, where in present if where is not None]
    ids, boxes, labels = [], [], []
    for face_id, face, (cx, cy, width) in present:
        if face.behind_pillar and layout.pillar[0] <= cx <= layout.pillar[1]:
            continue
        if not (0 <= cx < IMAGE_SIZE[0] and 0 <= cy < IMAGE_SIZE[1]):
            continue  # out of the image: it left, or has not come back yet
        if layout.mutual_occlusion and any(
                other_width > width and abs(other_cx - cx) < other_width / 2
                and abs(other_cy - cy) < other_width * ASPECT / 2
                for _, _, (other_cx, other_cy, other_width) in present):
            continue
        ids.append(face_id)
        boxes.append(_box(cx, cy, width))
        labels.append(face.label)
    return np.array(ids, dtype=int), np.array(boxes, dtype=float).reshape(-1, 4), labels


def _box(cx, cy, width):
    height = width * ASPECT
    return [cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2]


def _detect(gt_boxes, gt_labels, detector, all_labels, rng):
    """Simulate a detector on the visible faces: jitter, misses and false positives."""
    seen = rng.random(len(gt_boxes)) >= detector.miss_rate
    boxes = gt_boxes[seen]
    labels = [label for label, keep in zip(gt_labels, seen) if keep]
    width = boxes[:, 2] - boxes[:, 0]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + rng.normal(
        0, detector.jitter, (len(boxes), 2)) * width[:, None]
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * np.exp(
        rng.normal(0, detector.size_jitter, (len(boxes), 1)))
    scores = rng.uniform(0.5, 1.0, len(boxes))
    false_count = rng.poisson(detector.false_positives)
    false_width = rng.uniform(30, 90, false_count)
    false_boxes = np.array([_box(rng.uniform(50, IMAGE_SIZE[0] - 50),
                                 rng.uniform(50, IMAGE_SIZE[1] - 50), width)
                            for width in false_width]).reshape(-1, 4)
    labels += [str(rng.choice(all_labels)) for _ in range(false_count)]
    return (np.concatenate([np.hstack([centre - half, centre + half]), false_boxes]),
            np.concatenate([scores, rng.uniform(0.3, 0.6, false_count)]), labels)


def _walk(start_time, end_time, start, end, width, **options):
    """Return a face walking in a straight line from `start` to `end` (x, y)."""
    waypoints = np.array([[start_time, *start, width], [end_time, *end, width]], dtype=float)
    return _Face(waypoints, **options)


def _crossing(rng):
    return _Layout(duration=6.0, faces=[
        _walk(0.0, 4.0, (60, 200), (580, 206), 70),
        _walk(0.0, 4.0, (580, 210), (60, 202), 66),
        _walk(2.0, 6.0, (80, 330), (560, 420), 56),
        _walk(2.0, 6.0, (560, 340), (80, 410), 60),
    ])


def _occlusion(rng):
    return _Layout(duration=6.0, pillar=(280, 360), mutual_occlusion=True, faces=[
        _walk(0.0, 4.0, (60, 160), (580, 170), 84),
        _walk(0.0, 4.0, (580, 150), (60, 160), 60),
        _walk(1.5, 6.0, (40, 380), (600, 372), 52, behind_pillar=True),
        _walk(1.5, 6.0, (600, 370), (40, 378), 50, behind_pillar=True),
    ])


def _crowd(rng):
    duration, step = 8.0, 0.02
    times = np.arange(0.0, duration + step, step)
    faces = []
    for face in range(6):
        width = rng.uniform(40, 90)
        low = np.array([width, width * ASPECT]) / 2
        high = np.array(IMAGE_SIZE) - low
        position = rng.uniform(low, high)
        velocity = rng.uniform(1.0, 3.0) * width * _unit(rng.uniform(0, 2 * np.pi))
        path = []
        for _ in times:
            path.append(position.copy())
            position += velocity * step
            bounced = (position < low) | (position > high)
            velocity[bounced] *= -1
            position = np.clip(position, low, high)
        waypoints = np.column_stack([times, np.array(path), np.full(len(times), width)])
        faces.append(_Face(waypoints, label=('with_mask', 'without_mask')[face % 2]))
    return _Layout(duration=duration, faces=faces)


def _unit(angle):
    return np.array([np.cos(angle), np.sin(angle)])


def _static(rng):
    detector = _Detector(jitter=0.06, size_jitter=0.08, miss_rate=0.2)
    return _Layout(duration=6.0, detector=detector, faces=[
        _walk(0.0, 6.0, (140 + 95 * index, 240), (140 + 95 * index, 240), 72)
        for index in range(4)])


def _walk_behind(rng):
    # Far faces hidden by the near one (100 px wide) for 1.3 to 2 s, and by the pillar for 1.6 s.
    return _Layout(duration=9.0, pillar=(250, 390), mutual_occlusion=True, faces=[
        _walk(0.0, 9.0, (150, 220), (510, 230), 100),
        _walk(0.0, 9.0, (40, 190), (620, 196), 56),
        _walk(1.0, 9.0, (600, 250), (100, 244), 54),
        _walk(0.0, 7.0, (40, 400), (600, 392), 52, behind_pillar=True),
        _walk(1.0, 8.0, (600, 380), (40, 390), 50, behind_pillar=True),
    ])


def _path(*waypoints, **options):
    """Return a face following (time, x, y, width) waypoints."""
    return _Face(np.array(waypoints, dtype=float), **options)


def _leave_return(rng):
    return _Layout(duration=10.0, faces=[
        # Leaves on the right at 2.7 s, comes back 3 s later and walks back in.
        _path((0.0, 100, 200, 70), (3.0, 700, 200, 70), (5.4, 700, 214, 70),
              (9.5, 250, 210, 70)),
        # Stays in view.
        _walk(0.0, 10.0, (150, 340), (300, 330), 64),
        # Enters on the right while the first is away, walks out on the left.
        _walk(3.8, 9.0, (680, 170), (-40, 180), 66),
        # Leaves on the left at 1.5 s, comes back 3.5 s later.
        _path((0.0, 260, 110, 60), (2.0, -80, 110, 60), (4.6, -80, 120, 60),
              (8.0, 340, 120, 60)),
    ])


_LAYOUTS = {'crossing': _crossing, 'occlusion': _occlusion, 'crowd': _crowd, 'static': _static,
            'walk_behind': _walk_behind, 'leave_return': _leave_return}
