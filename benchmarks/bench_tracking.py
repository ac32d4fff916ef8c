"""
Time the face tracker's update against the greedy centroid baseline, then score both.

Latency is the median wall time of one `update()` on a running sequence (faces moving with
detector jitter, 30 FPS stamps): 10 faces in microseconds, 200 tracks x 200 detections in
milliseconds, spread over a large image (the usual case: each face has a few candidates within
its gate) and packed so that every pair passes the gate (the worst case for the assignment).
The greedy baseline is timed in the same run, so the ratios mean something on a busy machine;
the fastest update is printed too, as the best estimate of an idle core.
Then re-identification: the update for 10 faces given their appearances (descriptors of real
face crops), and, timed separately, computing those 10 descriptors from a 640 x 480 image.
Then the MOT table of the trackers (greedy, ours, reid) on every generated scenario at 7 and
30 FPS.

    python benchmarks/bench_tracking.py [--frames 2000]
"""

import argparse
import statistics
import time

from face_detector_ros.simulation import faces, scenarios
from face_detector_ros.tools.track_eval import (
    print_table,
    run_trackers,
    scenario_sequences,
    summary,
)
from face_detector_ros.tracking.appearance import face_descriptors
from face_detector_ros.tracking.baseline import GreedyCentroidTracker
from face_detector_ros.tracking.tracker import CentroidTracker
import numpy as np


def sequence(num_faces, num_frames, spacing, seed=0):
    """Return per-frame boxes of faces on a grid, drifting with jitter, and the labels."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(num_faces)))
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)
    start = grid[:num_faces] * spacing + 100.0
    velocity = rng.uniform(-30, 30, (num_faces, 2))
    frames = []
    for k in range(num_frames):
        centre = start + velocity * k / 30 + rng.normal(0, 1.5, (num_faces, 2))
        frames.append(np.hstack([centre - 20, centre + 20]))
    return frames, ['face'] * num_faces


def update_times(make_tracker, frames, labels, warmup=10, appearances=None):
    """Return the median and the fastest seconds of one update() after `warmup` frames."""
    tracker = make_tracker()
    scores = np.full(len(labels), 0.9)
    extra = {} if appearances is None else {'appearances': appearances}
    times = []
    for k, boxes in enumerate(frames):
        started = time.perf_counter()
        tracker.update(boxes, scores, labels, k / 30, **extra)
        times.append(time.perf_counter() - started)
    return statistics.median(times[warmup:]), min(times[warmup:])


def reid_times(num_frames):
    """Time 10 faces' update with and without appearances, and their descriptors."""
    frames, labels = sequence(10, num_frames, 100.0)
    image = faces.background('brick', 640, 480)
    crops = faces.face_crops()
    for index, box in enumerate(frames[0]):
        faces.paste_face(image, crops[index], box)
    appearances = face_descriptors(image, frames[0])  # ten different people
    plain, plain_fastest = update_times(CentroidTracker, frames, labels)
    reid, reid_fastest = update_times(CentroidTracker, frames, labels, appearances=appearances)
    times = []
    for boxes in frames:
        started = time.perf_counter()
        face_descriptors(image, boxes)
        times.append(time.perf_counter() - started)
    return [('update, no appearance', plain, plain_fastest),
            ('update with appearances', reid, reid_fastest),
            ('face_descriptors, 10 faces', statistics.median(times), min(times))]


def main():
    """Print the latency table and the scenario table."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--frames', type=int, default=2000,
                        help='updates timed for 10 faces (%(default)s; a tenth for 200)')
    args = parser.parse_args()
    cases = [('10 faces', 10, args.frames, 100.0, 1e6, 'us', {}),
             ('200 x 200, spread', 200, args.frames // 10, 100.0, 1e3, 'ms', {}),
             ('200 x 200, all pairs in gate', 200, args.frames // 10, 2.0, 1e3, 'ms',
              {'distance_gate': 1e6, 'size_gate': 1e6})]
    print(f'{"update latency":30} {"ours median":>12} {"fastest":>10} {"greedy median":>14} '
          f'{"ours/greedy":>12}')
    for name, count, num_frames, spacing, scale, unit, options in cases:
        frames, labels = sequence(count, num_frames, spacing)
        ours, fastest = update_times(lambda: CentroidTracker(**options), frames, labels)
        greedy, _ = update_times(GreedyCentroidTracker, frames, labels)
        print(f'{name:30} {ours * scale:9.1f} {unit} {fastest * scale:7.1f} {unit} '
              f'{greedy * scale:11.1f} {unit} {ours / greedy:11.2f}x')
    print()
    print(f'{"re-identification, 10 faces":30} {"median":>12} {"fastest":>10}')
    rows = reid_times(args.frames)
    for name, median, fastest in rows:
        print(f'{name:30} {median * 1e6:9.1f} us {fastest * 1e6:7.1f} us')
    print(f'{"with appearances / without":30} {rows[1][1] / rows[0][1]:11.2f}x; update + '
          f'descriptors {(rows[1][1] + rows[2][1]) * 1e6:.0f} us')
    print()
    results = run_trackers(scenario_sequences(scenarios.SCENARIOS, (7, 30), seed=0), 0.5, None)
    print_table(results)
    print('\n'.join(summary(results)))


if __name__ == '__main__':
    main()
