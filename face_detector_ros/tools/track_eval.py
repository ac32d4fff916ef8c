"""
face-track-eval: MOT metrics of face tracks, on MOTChallenge files or generated scenarios.

Three ways to use it:

    face-track-eval --gt gt.txt --pred tracks.txt          score a tracker's output
    face-track-eval --gt gt.txt --det det.txt --fps 15     track detections with the project's
                                                           tracker and the greedy baseline,
                                                           score both
    face-track-eval --scenario all [--write-dir DIR]       the same on generated scenarios

Files are MOTChallenge text: `frame, id, bb_left, bb_top, bb_width, bb_height, conf, x, y, z`
with 1-based frames. `ours` is face_detector_ros.tracking.tracker.CentroidTracker with its
defaults, `greedy` the classic greedy centroid tracker (face_detector_ros.tracking.baseline),
`reid` (scenarios only: it needs the images) the same CentroidTracker given the appearance of
every detection (tracking.appearance, from the scenario's rendered frames), so it also
re-identifies faces that come back, and the scenario's image size (a track whose predicted box
has left the image is lost at once).
"""

import argparse
import json
import math
from pathlib import Path
import sys

from face_detector_ros import fleet
from face_detector_ros.evaluation.mot import evaluate, read_mot, write_mot, ZERO_MARKED
from face_detector_ros.files import atomic_output_dir
from face_detector_ros.simulation import scenarios
from face_detector_ros.tools.cli import CliError, console_main
from face_detector_ros.tracking.baseline import GreedyCentroidTracker
from face_detector_ros.tracking.tracker import CentroidTracker
import numpy as np
from tqdm import tqdm

TRACKERS = {'ours': CentroidTracker, 'greedy': GreedyCentroidTracker, 'reid': CentroidTracker}
TABLE = (('MOTA', 'mota', '{:6.3f}'), ('IDF1', 'idf1', '{:6.3f}'),
         ('IDSW', 'id_switches', '{:5d}'), ('FRAG', 'fragmentations', '{:5d}'),
         ('FP', 'false_positives', '{:5d}'), ('FN', 'false_negatives', '{:5d}'),
         ('IDs', 'pred_ids', '{:4d}'))


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-track-eval',
        description='MOT metrics (MOTA, IDF1, id switches, fragmentations) of face tracks in '
        'MOTChallenge text files, or of the tracker of this project and the greedy centroid '
        'baseline on generated scenarios or on your detections.')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--pred', type=Path, metavar='TRACKS.txt',
                        help='tracker output to score against --gt; a folder of NAME.txt '
                        "(face-detector-bag process --mot DIR) against --gt's NAME.txt files, "
                        'with a pooled row "all"')
    source.add_argument('--det', type=Path, metavar='DET.txt',
                        help='detections (MOT det format, ids ignored) to track with both '
                        'trackers and score against --gt; needs --fps')
    source.add_argument('--scenario', choices=(*scenarios.SCENARIOS, 'all'),
                        help='generated scenario to run the trackers on (greedy, ours and reid)')
    parser.add_argument('--gt', type=Path, metavar='GT.txt',
                        help='ground truth; rows with conf 0 are regions to ignore, as in '
                        'MOTChallenge: predictions matching them (IoU >= 0.5) are dropped '
                        'before scoring')
    parser.add_argument('--fps', type=float, nargs='+', metavar='FPS',
                        help='frame rate(s): of the --det sequence (one value), or of the '
                        'scenarios (default 7 and 30)')
    parser.add_argument('--seed', type=int, default=0, help='scenario seed (%(default)s)')
    parser.add_argument('--iou', type=float, default=0.5,
                        help='smallest IoU of a match (%(default)s)')
    parser.add_argument('--zero-marked', choices=ZERO_MARKED, default='devkit',
                        help='ground-truth rows with conf 0: devkit (the MOTChallenge devkit: '
                        'predictions on them removed) or trackeval (TrackEval: the rows dropped, '
                        'predictions on them count as false positives); default %(default)s')
    parser.add_argument('--write-dir', type=Path, metavar='DIR',
                        help='write the ground truth, the detections and the tracks of each '
                        'trackers as MOT files, one folder per sequence')
    parser.add_argument('--json', action='store_true', help='print the results as one JSON line')
    args = parser.parse_args(argv)
    if not 0 < args.iou <= 1:
        raise CliError(f'--iou {args.iou} is not in (0, 1]')
    if (args.pred or args.det) and not args.gt:
        raise CliError('--pred and --det are scored against ground truth: add --gt GT.txt')
    if args.scenario and args.gt:
        raise CliError('--gt is for --pred or --det; scenarios bring their own ground truth')
    if args.pred and (args.fps or args.write_dir):
        raise CliError('--fps and --write-dir are for --det or --scenario, not --pred')
    if args.det and (not args.fps or len(args.fps) != 1):
        raise CliError('--det needs the sequence frame rate: --fps FPS (one value)')
    if any(not fps > 0 or not math.isfinite(fps) for fps in args.fps or ()):
        raise CliError(f'--fps {args.fps}: frame rates must be positive')
    return args


def read(path):
    """Read a MOT file, turning a missing or malformed file into a one-line error."""
    if not path.is_file():
        raise CliError(f'{path} does not exist or is not a file')
    try:
        rows = read_mot(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise CliError(f'{error}') from None
    if not len(rows):
        raise CliError(f'{path} holds no rows')
    return rows


def frames_from_detections(rows, fps, last_frame):
    """Turn MOT detection rows into frames 1..last_frame (label 'face', stamp from the frame)."""
    rows = rows[np.argsort(rows[:, 0], kind='stable')]
    bounds = np.searchsorted(rows[:, 0], np.arange(1, last_frame + 2))
    frames = []
    for frame in range(1, last_frame + 1):
        det = rows[bounds[frame - 1]:bounds[frame]]
        boxes = np.column_stack([det[:, 2:4], det[:, 2:4] + det[:, 4:6]])
        frames.append(scenarios.Frame(frame, (frame - 1) / fps, boxes, det[:, 6],
                                      ['face'] * len(det), np.empty(0, dtype=int),
                                      np.empty((0, 4))))
    return frames


def run_trackers(sequences, iou, write_dir, zero_marked='devkit'):
    """
    Run the trackers on each (name, Scenario, gt rows, det rows); return result dicts.

    `reid` runs only on scenarios with people (appearances come from their rendered frames).
    """
    results = []
    outputs = {}
    runs = tqdm([(sequence, tracker) for sequence in sequences for tracker in TRACKERS
                 if tracker != 'reid' or sequence[1].people],
                desc='tracking', unit='run', file=sys.stderr, disable=None, leave=False)
    for (name, scenario, gt, det), tracker in runs:
        descriptors, options = None, {}
        if tracker == 'reid':
            # Only reid knows the image: `ours` stays the tracker the earlier figures measured.
            descriptors, options = scenarios.appearances(scenario), {
                'image_size': scenario.image_size}
        tracks = scenarios.track_rows(TRACKERS[tracker](**options), scenario, descriptors)
        outputs.setdefault(name, {'gt': gt, 'det': det})[tracker] = tracks
        results.append({'sequence': name, 'tracker': tracker,
                        **evaluate(gt, tracks, iou, zero_marked)})
    if write_dir:
        with atomic_output_dir(write_dir) as staging:
            for name, files in outputs.items():
                (staging / name).mkdir()
                for stem, rows in files.items():
                    write_mot(staging / name / f'{stem}.txt', rows)
    return results


def print_table(results, stream=sys.stdout):
    """Print one line per sequence and tracker."""
    width = max(len(result['sequence']) for result in results + [{'sequence': 'sequence'}]) + 2
    print('sequence'.ljust(width) + 'tracker ' + ' '.join(
        f'{title:>{len(fmt.format(0))}}' for title, _, fmt in TABLE), file=stream)
    for result in results:
        cells = ['nan'.rjust(len(fmt.format(0))) if _is_nan(result[key]) else
                 fmt.format(result[key]) for _, key, fmt in TABLE]
        print(result['sequence'].ljust(width) + result['tracker'].ljust(8) + ' '.join(cells),
              file=stream)


def summary(results):
    """
    Return one line per tracker (total id switches, mean IDF1 and MOTA), then id switch ratios.

    The ratios (reid and ours to greedy, reid to ours) are over the sequences all three ran on.
    """
    lines = []
    trackers = list(dict.fromkeys(result['tracker'] for result in results))
    for tracker in trackers:
        mine = [result for result in results if result['tracker'] == tracker]
        lines.append(f'{tracker}: {sum(r["id_switches"] for r in mine)} id switches, '
                     f'mean IDF1 {np.mean([r["idf1"] for r in mine]):.3f}, '
                     f'mean MOTA {np.mean([r["mota"] for r in mine]):.3f} '
                     f'over {len(mine)} sequence(s)')
    if {'greedy', 'ours', 'reid'} <= set(trackers):
        switches = {}
        for result in results:
            switches.setdefault(result['sequence'], {})[result['tracker']] = \
                result['id_switches']
        common = [row for row in switches.values() if len(row) == 3]
        total = {tracker: sum(row[tracker] for row in common)
                 for tracker in ('greedy', 'ours', 'reid')}
        lines.append(f'id switches over {len(common)} sequence(s): reid/greedy '
                     f'{_ratio(total["reid"], total["greedy"])}, ours/greedy '
                     f'{_ratio(total["ours"], total["greedy"])}, reid/ours '
                     f'{_ratio(total["reid"], total["ours"])}')
    return lines


def _ratio(numerator, denominator):
    return f'{numerator}/{denominator} = {numerator / denominator:.2f}' if denominator else \
        f'{numerator}/0'


def scenario_sequences(names, rates, seed):
    """Return (name, Scenario, gt rows, det rows) for each scenario and frame rate."""
    sequences = []
    for name in names:
        for fps in rates:
            scenario = scenarios.generate(name, fps, seed)
            sequences.append((f'{name}-{fps:g}fps', scenario, scenarios.ground_truth_rows(
                scenario), scenarios.detection_rows(scenario)))
    return sequences


def _is_nan(value):
    return isinstance(value, float) and math.isnan(value)


@console_main
def main(argv=None):
    """Score MOT files, or run and score the trackers; print a table or JSON."""
    args = parse_args(argv)
    if args.pred and args.pred.is_dir():
        try:
            results = fleet.score_tracks(args.gt, args.pred, args.iou, args.zero_marked)
        except fleet.FleetError as error:
            raise CliError(str(error)) from None
    elif args.pred:
        gt = read(args.gt)
        results = [{'sequence': args.pred.stem, 'tracker': '-',
                    **evaluate(gt, read(args.pred), args.iou, args.zero_marked)}]
    elif args.det:
        gt, det = read(args.gt), read(args.det)
        last_frame = int(max(gt[:, 0].max(), det[:, 0].max()))
        scenario = scenarios.Scenario(args.det.stem, args.fps[0], None,
                                      frames_from_detections(det, args.fps[0], last_frame))
        results = run_trackers([(args.det.stem, scenario, gt, det)], args.iou, args.write_dir,
                               args.zero_marked)
    else:
        names = scenarios.SCENARIOS if args.scenario == 'all' else [args.scenario]
        results = run_trackers(scenario_sequences(names, args.fps or (7, 30), args.seed),
                               args.iou, args.write_dir, args.zero_marked)
    if args.json:
        print(json.dumps([{key: None if _is_nan(value) else value
                           for key, value in result.items()} for result in results]))
        return 0
    print_table(results)
    if not args.pred:
        print('\n'.join(summary(results)))
    if args.write_dir:
        first = results[0]['sequence']
        print(f'MOT files written to {args.write_dir}; score one with: face-track-eval '
              f'--gt {args.write_dir / first / "gt.txt"} '
              f'--pred {args.write_dir / first / "ours.txt"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
