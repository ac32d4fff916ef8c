"""
Every face detector profile on real labelled photos: recall by face width, precision, speed, cost.

The photos are a WIDER FACE split in the official layout (WIDER_<split>/images/<event>/*.jpg and
wider_face_split/wider_face_<split>_bbx_gt.txt): by default the development subset in
../shared/datasets/wider-face-subset, or a full WIDER FACE download given with --wider. Each photo
is resized to --width pixels wide (640: what a robot's 640x480 camera sees) and given to every
detector as a frame; truth boxes are scaled with it. Boxes WIDER marks invalid and faces narrower
than 10 px there are ignore regions (`face-eval` does the same). Every profile runs on the CPU with
one thread, in the same run as two baselines: OpenCV's Haar frontal-face cascade and YuNet
(libfacedetection through PyPI `yuface`, x86_64 only; skipped with a note where it does not
import).

For each detector the table gives, at its own operating point (the model card's score
threshold; Haar and YuNet at their usual settings): recall overall and per face-width bucket,
precision, false faces per image, AP@0.5 (VOC all-point, every score), recall at precision 0.90
(the best threshold for the photos, for a like-for-like comparison), ms for a 640x480 frame on one
thread (median of --repeat runs on one photo letterboxed to 640x480, detection and decoding
included), GFLOPs at its input size, and the distance up to which it finds 90 % of the faces for a
60-degree 640 px camera and a 16 cm face. A PNG plots recall against face width per profile.

    python benchmarks/bench_real_faces.py [--wider DIR] [--split val] [--width 640]
        [--profiles NAME,... | --input-sizes WxH,...] [--plot out/bench/real_faces.png]
        [--json FILE] [--limit N]

`--input-sizes` runs the default card at other input sizes of the same network (the frame
letterboxed and so upscaled), for the recall-against-cost curve in docs/detector.md.
"""

import argparse
import json
import math
import os
from pathlib import Path
import statistics
import sys
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')  # YuNet (OpenMP) on one thread too

import cv2  # noqa: E402
from face_detector_ros import files  # noqa: E402
from face_detector_ros.datasets.wider import read_wider_gt  # noqa: E402
from face_detector_ros.detection.detections import Detections  # noqa: E402
from face_detector_ros.detection.engine import InferenceEngine  # noqa: E402
from face_detector_ros.detection.letterbox import Letterbox  # noqa: E402
from face_detector_ros.detection.model_cards import (DEFAULT_MODEL, load_card,  # noqa: E402
                                                     shipped_models)
from face_detector_ros.evaluation import detection_metrics as metrics  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

SHARED_WIDER = files.SOURCE_ROOT.parent / 'shared' / 'datasets' / 'wider-face-subset'
HAAR, YUNET = 'haar_frontalface', 'yunet (yuface)'
# Finer edges for the curve and the distance; the table uses the standard buckets.
CURVE_EDGES = (10, 14, 18, 24, 32, 40, 52, 64, 96, 128)
# A 60-degree horizontal view on 640 px: focal length 320 / tan(30 deg) px.
FOCAL_PX = 320 / math.tan(math.radians(30))
FACE_WIDTH_M = 0.16
LOWEST_SCORE = 0.3  # detections kept for AP and the precision-recall search
MIN_WIDTH = 10  # px at the working width


class HaarDetector:
    """OpenCV's Haar frontal-face cascade with the usual settings; every box scores 1."""

    score_threshold = 1.0

    def __init__(self):
        """Load the cascade shipped with opencv-python (< 5)."""
        self.cascade = cv2.CascadeClassifier(
            cv2.data.haarcascades + 'haarcascade_frontalface_default.xml')

    def detect(self, image):
        """Return the cascade's faces on one BGR image."""
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                              minSize=(10, 10))
        boxes = np.array([(x, y, x + w, y + h) for x, y, w, h in found], np.float32)
        return _detections(boxes.reshape(-1, 4), np.ones(len(boxes)))


class YuNetDetector:
    """libfacedetection's YuNet (PyPI yuface); scores 0-1, its usual threshold 0.5."""

    score_threshold = 0.5

    def __init__(self):
        """Import yuface (ImportError where it is not installed)."""
        import yuface
        self.yuface = yuface

    def detect(self, image):
        """Return YuNet's faces on one BGR image."""
        scores, boxes, _ = self.yuface.detect(image, conf=LOWEST_SCORE)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        return _detections(boxes, np.asarray(scores, np.float32) / 100)


def _detections(boxes, scores):
    return Detections(boxes, scores, np.zeros(len(boxes)), np.zeros((len(boxes), 0, 2)))


def read_photos(root, split, width, limit):
    """Yield (name, photo resized to `width` px wide, ImageTruth in its pixels)."""
    gt_file = root / 'wider_face_split' / f'wider_face_{split}_bbx_gt.txt'
    images = root / f'WIDER_{split}' / 'images'
    if not gt_file.is_file() or not images.is_dir():
        sys.exit(f'no WIDER FACE {split} split under {root}: expected {gt_file} and {images}; '
                 'point --wider at a WIDER FACE download laid out as the official release')
    entries = read_wider_gt(gt_file)[:limit or None]
    for name, faces in entries:
        photo = cv2.imread(str(images / name), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if photo is None:
            sys.exit(f'cannot read {images / name}')
        scale = width / photo.shape[1]
        photo = cv2.resize(photo, None, fx=scale, fy=scale,
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        boxes = np.array([(f.box.x1, f.box.y1, f.box.x2, f.box.y2) for f in faces],
                         np.float64).reshape(-1, 4) * scale
        # Invalid, empty and (at this width) narrower than 10 px: ignore regions.
        ignore = [bool(f.invalid) or f.box.width <= 0 or f.box.height <= 0
                  or f.box.width * scale < MIN_WIDTH for f in faces]
        yield name, photo, metrics.ImageTruth(boxes, ['face'] * len(faces), difficult=ignore)


def input_size_card(size):
    """Return the default RetinaFace card run on the dynamic ONNX model at input WxH."""
    width, height = (int(value) for value in size.split('x'))
    card = load_card('retinaface')
    return {**card, 'name': f'retinaface onnx {width}x{height}', 'input_size': [width, height],
            'path': str(Path(card['path']).parent / 'retinaface_mnet025.onnx')}


def make_detector(name):
    """Return a detector with detect(image) -> Detections and a score_threshold, one thread."""
    cv2.setNumThreads(1)
    if name == HAAR:
        return HaarDetector()
    if name == YUNET:
        return YuNetDetector()
    if name.startswith('retinaface onnx '):
        name = input_size_card(name.split()[-1])
    engine = InferenceEngine(name, device='CPU', threads=1)
    operating_point = engine.score_threshold
    engine.set_thresholds(min(LOWEST_SCORE, operating_point))
    engine.operating_point = operating_point
    return engine


def frame_ms(detector, photo, repeat):
    """Return the median ms of detect() on one photo letterboxed into a 640x480 frame."""
    box = Letterbox(photo.shape[1], photo.shape[0], 640, 480)
    frame = box.apply(photo)[0]
    detector.detect(frame)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        detector.detect(frame)
        times.append(time.perf_counter() - started)
    return 1e3 * statistics.median(times)


def recall_at_precision(evaluation, target=0.90):
    """Return (recall, score threshold) at the lowest threshold whose precision is >= target."""
    (result,) = evaluation.classes.values()
    passing = np.flatnonzero(result.precision >= target)
    if not len(passing):
        return 0.0, None
    best = passing[np.argmax(result.recall[passing])]
    return float(result.recall[best]), float(result.scores[best])


def distance_for_recall(report, wanted=0.9):
    """Return the metres up to which faces are found with recall >= wanted (None: never)."""
    for bucket in report.buckets:
        recall = report.recall_between(bucket.low)
        if recall is not None and recall >= wanted:
            return FOCAL_PX * FACE_WIDTH_M / bucket.low, bucket.low
    return None, None


def evaluate(name, photos, repeat):
    """Run one detector on every photo; return its figures."""
    try:
        detector = make_detector(name)
    except ImportError as error:
        return {'name': name, 'skipped': f'{error}'}
    threshold = getattr(detector, 'operating_point', detector.score_threshold)
    truth, predictions = {}, {}
    for key, photo, image_truth in tqdm(photos, desc=name, unit='photo', leave=False):
        found = detector.detect(photo)
        truth[key] = image_truth
        predictions[key] = metrics.ImagePredictions(found.boxes, found.scores,
                                                    ['face'] * len(found))
    report = metrics.size_report(truth, predictions, threshold)
    curve = metrics.size_report(truth, predictions, threshold, edges=CURVE_EDGES)
    evaluation = metrics.evaluate(truth, predictions, max_detections=1000)
    recall90, threshold90 = recall_at_precision(evaluation)
    metres, width90 = distance_for_recall(curve)
    return {
        'name': name, 'threshold': threshold, 'recall': report.recall,
        'precision': report.precision, 'false_per_image': report.false_per_image,
        'buckets': {b.name: b.recall for b in report.buckets},
        'truth': {b.name: b.num_truth for b in report.buckets},
        'recall_24_up': report.recall_between(24), 'recall_10_24': report.recall_between(10, 24),
        'curve': [(b.low, b.high, b.recall) for b in curve.buckets],
        'ap50': evaluation.ap, 'recall_at_p90': recall90, 'threshold_at_p90': threshold90,
        'ms_640x480': frame_ms(detector, photos[0][1], repeat),
        'gflops': getattr(detector, 'gflops', None), 'metres_90': metres, 'width_90': width90,
    }


def print_table(rows):
    """Print the figures as markdown."""
    buckets = next(row['buckets'] for row in rows if 'buckets' in row)
    truth = next(row['truth'] for row in rows if 'truth' in row)
    print('| detector | score >= | recall | ' +
          ' | '.join(f'{name} px ({truth[name]})' for name in buckets) +
          ' | precision | false/image | AP@0.5 | recall at P 0.90 | ms 640x480, 1 thread | '
          'GFLOPs | 90 % found up to |')
    print('|---|---|---|' + '---|' * len(buckets) + '---|---|---|---|---|---|---|')
    fmt = lambda value, spec='.3f': '-' if value is None else format(value, spec)  # noqa: E731
    for row in rows:
        if 'skipped' in row:
            print(f'| {row["name"]} | skipped: {row["skipped"]} |')
            continue
        distance = ('-' if row['metres_90'] is None else
                    f'{row["metres_90"]:.1f} m ({row["width_90"]:g} px)')
        print(f'| {row["name"]} | {row["threshold"]:.2f} | {fmt(row["recall"])} | ' +
              ' | '.join(fmt(row['buckets'][name], '.2f') for name in buckets) +
              f' | {fmt(row["precision"])} | {row["false_per_image"]:.2f} | {fmt(row["ap50"])} | '
              f'{fmt(row["recall_at_p90"])} | {row["ms_640x480"]:.1f} | '
              f'{fmt(row["gflops"], ".2f")} | {distance} |')


def plot(rows, path, title):
    """Write recall against face width, one line per detector, to a PNG."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use('Agg')
    from matplotlib import pyplot
    figure, axes = pyplot.subplots(figsize=(8, 5), dpi=100)
    for row in rows:
        if 'curve' not in row:
            continue
        centres = [math.sqrt(low * (high if math.isfinite(high) else 2 * low))
                   for low, high, _ in row['curve']]
        recalls = [np.nan if recall is None else recall for _, _, recall in row['curve']]
        style = '-o' if row['name'] == DEFAULT_MODEL else '--.'
        axes.plot(centres, recalls, style, label=f'{row["name"]} ({row["ms_640x480"]:.0f} ms)')
    axes.set_xscale('log')
    axes.set_xticks(CURVE_EDGES, [str(edge) for edge in CURVE_EDGES])
    axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes.axhline(0.9, color='grey', linewidth=0.5)
    secondary = axes.secondary_xaxis(
        'top', functions=(lambda w: FOCAL_PX * FACE_WIDTH_M / np.maximum(w, 1e-3),
                          lambda d: FOCAL_PX * FACE_WIDTH_M / np.maximum(d, 1e-3)))
    secondary.set_xlabel('distance of a 16 cm face, 60-degree 640 px camera (m)')
    metres = [0.75, 1, 1.5, 2, 3, 4, 6, 8]
    secondary.set_xticks(metres, [f'{value:g}' for value in metres])
    secondary.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes.set(xlabel='face width (px at 640 px wide)', ylabel='recall (IoU > 0.5)',
             ylim=(0, 1.02), title=title)
    axes.grid(alpha=0.3)
    axes.legend(loc='lower right', fontsize='small')
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_output_file(path, 'wb') as stream:
        figure.savefig(stream, format='png', bbox_inches='tight')
    pyplot.close(figure)


def main():
    """Measure every detector and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--wider', type=Path, default=SHARED_WIDER,
                        help='WIDER FACE root (default: the shared development subset)')
    parser.add_argument('--split', default='val', choices=('val', 'train'))
    parser.add_argument('--width', type=int, default=640, help='working width (%(default)s)')
    parser.add_argument('--profiles', default=','.join([*shipped_models(), HAAR, YUNET]),
                        help='comma-separated detectors (%(default)s)')
    parser.add_argument('--input-sizes', metavar='WxH,...',
                        help='instead of the profiles: the default RetinaFace card at these '
                        'input sizes (the dynamic ONNX model), e.g. 640x480,960x720')
    parser.add_argument('--limit', type=int, default=0, help='first N photos only (0: all)')
    parser.add_argument('--repeat', type=int, default=30, help='timed frames (%(default)s)')
    parser.add_argument('--plot', type=Path, default=files.SOURCE_ROOT / 'out' / 'bench' /
                        'real_faces.png', help='PNG of recall by face width (%(default)s)')
    parser.add_argument('--json', type=Path, help='also write the figures as JSON')
    args = parser.parse_args()
    photos = list(read_photos(args.wider, args.split, args.width, args.limit))
    counted = sum(int(np.count_nonzero(~t.difficult)) for _, _, t in photos)
    print(f'{len(photos)} photos of WIDER FACE {args.split} in {args.wider}, resized to '
          f'{args.width} px wide: {counted} faces of >= 10 px; default profile {DEFAULT_MODEL}\n')
    names = ([f'retinaface onnx {size}' for size in args.input_sizes.split(',')]
             if args.input_sizes else args.profiles.split(','))
    rows = [evaluate(name, photos, args.repeat) for name in names]
    print_table(rows)
    print('\nRecall and precision at IoU > 0.5 at the threshold of each detector; buckets '
          f'are face widths in px at {args.width} px wide (faces counted in brackets). "90 % '
          'found up to": the narrowest face width from which recall of all wider faces is >= '
          f'0.9, as the distance of a {FACE_WIDTH_M * 100:.0f} cm face for a 60-degree 640 px '
          'camera.')
    plot(rows, args.plot, f'WIDER FACE {args.split} ({len(photos)} photos) at {args.width} px')
    print(f'wrote {args.plot}')
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == '__main__':
    main()
