"""
A trained profile on its own test set: AP@0.5 per class (VOC all-point), mAP, and speed.

The figures the articles give: MobileNet-SSD faces mAP about 0.87 (its WIDER FACE + FDDB test
split, its filters); face masks mAP@0.5 87.16 % (YOLOv3 416 on the Kaggle set, a 90/10 split).
The test sets are made from the shared data as docs/training.md says:

  python benchmarks/bench_trained.py --set out/wider13/voc/test.txt --profiles mobilenet_ssd_wider
  python benchmarks/bench_trained.py --profiles face_mask --set out/mask11/split/test.txt

Detections are kept from score 0.01 (the ssd export's DetectionOutput threshold), as AP wants.
Speed: median ms of the profile's whole detect() on a 640x480 frame made from the set's first
image, one OpenVINO thread, interleaved rounds with the baseline profile (ratio in the same run).
Needs torch (the [train] extra) to read the sets as face-train does.

For a two-stage profile (a card with a classifier) --limits PNG also says what bounds its mAP:
the first stage alone as a face detector (AP with every box a face; its precision and recall
by score, and its recall by face width, both drawn in PNG), the face AP were its false finds
at the card's threshold or above ignore regions (an upper bound on what faces the annotation
lacks cost it), and the mAP it would have if each face it finds took its true class (a box that
matches no face keeps the classifier's hypotheses): the classifier's share of what is missing.

  python benchmarks/bench_trained.py --profiles face_mask --set out/mask11/split/test.txt \
      --limits docs/face_mask_limits.png
"""

import argparse
import json
from pathlib import Path
import statistics
import sys
import time

import cv2
from face_detector_ros.detection.classifier import CropClassifier
from face_detector_ros.detection.engine import InferenceEngine
from face_detector_ros.detection.openvino_api import Core
from face_detector_ros.evaluation import detection_metrics as metrics
from face_detector_ros.training.data import read_image, read_samples
import numpy as np
from tqdm import tqdm

AP_SCORE_THRESHOLD = 0.01
FRAME_SIZE = (640, 480)


def evaluate(engine, samples):
    """Return the Evaluation of `engine` on `samples` (VOC all-point AP at IoU 0.5)."""
    truth, predictions = {}, {}
    for index, sample in enumerate(tqdm(samples, desc=engine.card['name'], leave=False)):
        truth[index] = metrics.ImageTruth(sample.boxes, sample.labels, sample.difficult)
        found = engine.detect(read_image(sample.image_path))
        predictions[index] = metrics.ImagePredictions(
            found.boxes, found.scores, [engine.labels[i] for i in found.class_ids])
    return metrics.evaluate(truth, predictions, 0.5)


WIDTH_EDGES = (0, 10, 16, 24, 40, 80)  # face widths in pixels of the photo
PR_SCORES = (0.9, 0.7, 0.5, 0.3, 0.1, AP_SCORE_THRESHOLD)


def limits(card, samples, plot):
    """Print what bounds a two-stage profile's mAP (the module's docstring); draw `plot`."""
    first = InferenceEngine({**card, 'classifier': None}, device='CPU', threads=1)
    first.set_thresholds(AP_SCORE_THRESHOLD)
    classifier = CropClassifier(card['classifier'], card['card_path'], Core())
    truth, faces, faces_truth, true_class, ignoring = {}, {}, {}, {}, {}
    unlabelled = 0
    for index, sample in enumerate(tqdm(samples, desc='first stage', leave=False)):
        truth[index] = metrics.ImageTruth(sample.boxes, sample.labels, sample.difficult)
        known = faces_truth[index] = metrics.ImageTruth(
            sample.boxes, ['face'] * len(sample.labels), sample.difficult)
        image = read_image(sample.image_path)
        found = first.detect(image)
        faces[index] = metrics.ImagePredictions(found.boxes, found.scores,
                                                ['face'] * len(found))
        iou = metrics.box_iou(found.boxes, known.boxes)
        # The same truth with the false finds at the card's threshold as ignore regions.
        extra = found.boxes[(found.scores >= card['score_threshold']) &
                            ~np.any(iou > 0.5, axis=1)]
        unlabelled += len(extra)
        ignoring[index] = metrics.ImageTruth(
            np.vstack([known.boxes, extra]), ['face'] * (len(known.boxes) + len(extra)),
            np.concatenate([known.difficult, np.ones(len(extra), bool)]))
        # The profile's hypotheses, but a box that matches a face takes its true class.
        probabilities = classifier.probabilities(image, found.boxes)
        boxes, scores, labels = [], [], []
        for row, box, score, chances in zip(iou, found.boxes, found.scores, probabilities):
            if len(row) and row.max() > 0.5:
                hypotheses = [(sample.labels[int(row.argmax())], score)]
            else:
                hypotheses = zip(classifier.labels, score * chances)
            for label, value in hypotheses:
                boxes.append(box)
                scores.append(value)
                labels.append(label)
        true_class[index] = metrics.ImagePredictions(np.reshape(boxes, (-1, 4)), scores, labels)
    face = metrics.evaluate(faces_truth, faces, 0.5).classes['face']
    bound = metrics.evaluate(truth, true_class, 0.5)
    ignored_ap = metrics.evaluate(ignoring, faces, 0.5).ap
    thresholds = (AP_SCORE_THRESHOLD, card['score_threshold'])
    reports = [metrics.size_report(faces_truth, faces, threshold, 0.5, WIDTH_EDGES)
               for threshold in thresholds]
    print(f'\nWhat bounds {card["name"]}: the first stage alone finds faces of either class '
          f'at AP {face.ap:.3f}; with the true class for every face it finds, mAP would be '
          f'{bound.ap:.3f} (' + ', '.join(f'{label} {result.ap:.3f}' for label, result in
                                          bound.classes.items()) + ').')
    print(f'Its {unlabelled} false finds scoring {card["score_threshold"]:g} or more as ignore '
          f'regions: face AP {ignored_ap:.3f}. Its precision and recall by score (highest '
          f'recall {face.recall[-1]:.3f}):')
    points = [(score, np.searchsorted(-face.scores, -score, side='right') - 1)
              for score in PR_SCORES]
    print('| score from | ' + ' | '.join(f'{score:g}' for score, _ in points) + ' |')
    print('|---|' + '---|' * len(points))
    for name, values in (('precision', face.precision), ('recall', face.recall)):
        print(f'| {name} | ' + ' | '.join(f'{values[at]:.3f}' if at >= 0 else '-'
                                          for _, at in points) + ' |')
    print('| face width (photo px) | truth boxes | ' + ' | '.join(
        f'recall from {threshold:g}' for threshold in thresholds) + ' |')
    print('|---|---|' + '---|' * len(thresholds))
    for buckets in zip(*(report.buckets for report in reports)):
        print(f'| {buckets[0].name} | {buckets[0].num_truth} | ' + ' | '.join(
            f'{bucket.recall:.2f}' if bucket.num_truth else '-' for bucket in buckets) + ' |')

    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot
    figure, (axes, curve) = pyplot.subplots(1, 2, figsize=(12, 3.8),
                                            gridspec_kw={'width_ratios': [1.6, 1]})
    names = [bucket.name for bucket in reports[0].buckets]
    positions = np.arange(len(names))
    for offset, threshold, report in zip((-0.2, 0.2), thresholds, reports):
        axes.bar(positions + offset, [bucket.recall or 0 for bucket in report.buckets], 0.4,
                 label=f'from score {threshold:g}')
    axes.set_xticks(positions, [f'{name}\n({bucket.num_truth})' for name, bucket in
                                zip(names, reports[0].buckets)])
    axes.set_xlabel('face width in the photo, px (truth boxes)')
    axes.set_ylabel('recall at IoU 0.5')
    axes.set_ylim(0, 1)
    axes.grid(axis='y', alpha=0.3)
    axes.legend(loc='lower right')
    axes.set_title(f'{card["name"]} first stage: faces found by width (face AP {face.ap:.3f})')
    curve.plot(face.recall, face.precision)
    for score, at in points:
        if at >= 0:
            curve.plot(face.recall[at], face.precision[at], 'o', color='black', markersize=3)
            curve.annotate(f'{score:g}', (face.recall[at], face.precision[at]), fontsize=8,
                           xytext=(3, 3), textcoords='offset points')
    curve.set_xlabel('recall (IoU 0.5)')
    curve.set_ylabel('precision')
    curve.set_xlim(0, 1)
    curve.set_ylim(0, 1.02)
    curve.grid(alpha=0.3)
    curve.set_title('first stage, faces of either class (dots: score)')
    figure.tight_layout()
    figure.savefig(plot, dpi=100)
    pyplot.close(figure)
    print(f'wrote {plot}')


def frame_times(engines, frame, rounds):
    """Return {name: median ms} of detect() on `frame`, the engines interleaved per round."""
    times = {name: [] for name in engines}
    for engine in engines.values():
        for _ in range(10):  # warm-up
            engine.detect(frame)
    for _ in range(rounds):
        for name, engine in engines.items():
            started = time.perf_counter()
            engine.detect(frame)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def main():
    """Evaluate and time the profiles; print a table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--profiles', required=True, help='comma-separated names or cards')
    parser.add_argument('--set', required=True, type=Path,
                        help='test set: VOC list, darknet list or YOLO folder')
    parser.add_argument('--baseline', default='blazeface_short_range',
                        help='profile timed beside them (default blazeface_short_range)')
    parser.add_argument('--rounds', type=int, default=100, help='timed rounds (100)')
    parser.add_argument('--json', type=Path, help='also write the figures here')
    parser.add_argument('--limits', type=Path, metavar='PNG',
                        help='for two-stage profiles: what bounds their mAP (see above)')
    args = parser.parse_args()
    if not args.set.exists():
        sys.exit(f'bench_trained: {args.set} does not exist; make it as docs/training.md says')
    samples = read_samples(args.set)
    names = [name.strip() for name in args.profiles.split(',') if name.strip()]
    engines = {name: InferenceEngine(name, device='CPU', threads=1) for name in names}
    for engine in engines.values():
        engine.set_thresholds(AP_SCORE_THRESHOLD)
    rows = {}
    for name, engine in engines.items():
        evaluation = evaluate(engine, samples)
        rows[name] = {'map': evaluation.ap, 'gflops': engine.gflops,
                      'input_size': engine.card['input_size'],
                      'per_class': {label: {'ap': result.ap, 'truth': result.num_truth}
                                    for label, result in evaluation.classes.items()}}
    baseline = InferenceEngine(args.baseline, device='CPU', threads=1)
    frame = cv2.resize(read_image(samples[0].image_path), FRAME_SIZE)
    timed = frame_times({**engines, args.baseline: baseline}, frame, args.rounds)
    print(f'{len(samples)} images of {args.set}; AP@0.5 VOC all-point from score '
          f'{AP_SCORE_THRESHOLD}; ms per 640x480 frame, 1 thread, median of {args.rounds}')
    print('| profile | input | mAP@0.5 | AP per class (truth boxes) | ms | frames/s | '
          f'x {args.baseline} | GFLOPs |')
    print('|---|---|---|---|---|---|---|---|')
    for name, row in rows.items():
        per_class = ', '.join(f'{label} {figures["ap"]:.3f} ({figures["truth"]})'
                              for label, figures in row['per_class'].items())
        row.update(ms=timed[name], baseline_ms=timed[args.baseline])
        width, height = row['input_size']
        print(f'| {name} | {width}x{height} | {row["map"]:.3f} | {per_class} | '
              f'{timed[name]:.2f} | {1e3 / timed[name]:.0f} | '
              f'{timed[name] / timed[args.baseline]:.2f} | {row["gflops"]:.2f} |')
    print(f'| {args.baseline} (baseline) | | | | {timed[args.baseline]:.2f} | '
          f'{1e3 / timed[args.baseline]:.0f} | 1.00 | {baseline.gflops:.2f} |')
    for engine in engines.values():
        if args.limits and engine.card.get('classifier'):
            limits(engine.card, samples, args.limits)
    if args.json:
        args.json.write_text(json.dumps({'set': str(args.set), 'images': len(samples),
                                         'profiles': rows}, indent=1))


if __name__ == '__main__':
    main()
