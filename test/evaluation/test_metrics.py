"""Detection metrics: hand-computed AP cases, a devkit transcription and pycocotools agreement."""

import contextlib
import io

from face_detector_ros.evaluation import detection_metrics as metrics
from face_detector_ros.evaluation.detection_metrics import ImagePredictions, ImageTruth
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
import pytest


def truth(boxes, labels=None, **flags):
    return ImageTruth(boxes, labels or ['face'] * len(boxes), **flags)


def predictions(boxes, scores, labels=None):
    return ImagePredictions(boxes, scores, labels or ['face'] * len(boxes))


def test_box_iou_has_no_plus_one_pixel_and_crowd_divides_by_detection_area():
    iou = metrics.box_iou([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]],
                          [[0, 0, 10, 10], [0, 0, 20, 20]], crowd=[False, True])
    np.testing.assert_allclose(iou, [[1, 1], [50 / 150, 1], [0, 0]])


def test_one_class_tp_fp_tp():
    boxes = [[0, 0, 10, 10], [20, 20, 30, 30]]
    result = metrics.evaluate({'a': truth(boxes)},
                              {'a': predictions([boxes[0], [50, 50, 60, 60], boxes[1]],
                                                [0.9, 0.8, 0.7])})
    face = result.classes['face']
    assert face.ap == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert face.ap_11point == pytest.approx((6 + 5 * 2 / 3) / 11)
    # Exact boxes match at every IoU threshold: 51 recall points at precision 1, 50 at 2/3.
    assert face.coco_ap == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert face.best_f1 == metrics.OperatingPoint(pytest.approx(2 / 3), 1.0, pytest.approx(0.8),
                                                  0.7)
    assert result.ap == face.ap and result.best_f1 == face.best_f1
    np.testing.assert_allclose(face.recall, [0.5, 0.5, 1])
    np.testing.assert_allclose(face.precision, [1, 0.5, 2 / 3])


def test_two_classes_are_matched_separately_and_averaged():
    image_truth = truth([[0, 0, 10, 10], [20, 20, 30, 30]], ['good', 'bad'])
    # The 'bad' prediction sits on the 'good' box: a false positive, it matches no 'good' box.
    image_predictions = predictions([[0, 0, 10, 10], [0, 0, 10, 10]], [0.6, 0.9],
                                    ['good', 'bad'])
    result = metrics.evaluate({1: image_truth}, {1: image_predictions}, labels=['good', 'bad'])
    assert list(result.classes) == ['good', 'bad']
    assert result.classes['good'].ap == 1.0 and result.classes['bad'].ap == 0.0
    assert result.ap == 0.5 and result.coco_ap == pytest.approx(0.5)
    # Pooled over classes: the best threshold keeps both detections, one true of two faces.
    assert result.best_f1 == metrics.OperatingPoint(0.5, 0.5, 0.5, pytest.approx(0.6))


def test_difficult_boxes_are_ignored_as_in_voc():
    image_truth = truth([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]],
                        difficult=[True, False, True])
    # A hit on a difficult box is neither true nor false; a missed difficult box costs nothing.
    result = metrics.evaluate({1: image_truth},
                              {1: predictions([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8])})
    face = result.classes['face']
    assert (face.num_truth, face.num_ignored, face.num_predictions) == (1, 2, 2)
    assert face.ap == face.ap_11point == 1.0 and face.coco_ap == pytest.approx(1.0)
    assert face.best_f1 == metrics.OperatingPoint(1.0, 1.0, 1.0, pytest.approx(0.8))


def test_crowd_region_swallows_the_detections_inside_it():
    image_truth = truth([[0, 0, 100, 100], [200, 0, 210, 10]], crowd=[True, False])
    image_predictions = predictions([[10, 10, 20, 20], [30, 30, 40, 40], [200, 0, 210, 10]],
                                    [0.9, 0.8, 0.7])
    face = metrics.evaluate({1: image_truth}, {1: image_predictions}).classes['face']
    assert face.ap == 1.0 and face.coco_ap == pytest.approx(1.0)


def test_voc_takes_the_best_overlap_only_coco_the_best_free_box():
    image_truth = truth([[0, 0, 10, 10], [2, 0, 12, 10]])
    # The second detection overlaps box 1 best (IoU 0.905, taken) and box 2 by 0.739.
    image_predictions = predictions([[0, 0, 10, 10], [0.5, 0, 10.5, 10]], [0.9, 0.8])
    face = metrics.evaluate({1: image_truth}, {1: image_predictions}).classes['face']
    assert face.ap == 0.5
    # COCO: both found at IoU 0.5 to 0.7, one of two above that.
    assert face.coco_ap == pytest.approx((5 * 1 + 5 * 51 / 101) / 10)
    assert face.coco_ap50 == 1.0


def test_coco_breaks_iou_ties_by_the_last_truth_box_as_pycocotools():
    truths = {1: truth([[0, 0, 10, 10], [2, 0, 12, 10]])}
    # The first detection overlaps both boxes by 90/110 and takes the second one, so the
    # second detection (exactly on box 2) is left with box 1 at IoU 80/120.
    detections = {1: predictions([[1, 0, 11, 10], [2, 0, 12, 10]], [0.9, 0.8])}
    face = metrics.evaluate(truths, detections).classes['face']
    # IoU 0.5-0.65: both found; 0.7-0.8: only the first; 0.85-0.95: only the second.
    expected = (4 + 3 * 51 / 101 + 3 * 0.5 * 51 / 101) / 10
    assert face.coco_ap == pytest.approx(expected)
    reference = pycocotools_precision(truths, detections, ['face'], 100)
    assert expected == pytest.approx(reference.mean())


def test_iou_threshold_is_strict_for_voc_inclusive_for_coco():
    # IoU exactly 0.5: not a hit for the VOC devkit (ovmax > 0.5), a hit for COCOeval (>=).
    face = metrics.evaluate({1: truth([[0, 0, 10, 10]])},
                            {1: predictions([[0, 0, 10, 20]], [0.9])}).classes['face']
    assert face.ap == 0.0
    assert (face.coco_ap50, face.coco_ap) == pytest.approx((1.0, 0.1))
    loose = metrics.evaluate({1: truth([[0, 0, 10, 10]])},
                             {1: predictions([[0, 0, 10, 20]], [0.9])}, iou_threshold=0.4)
    assert loose.ap == 1.0


def test_duplicates_are_false_positives_and_equal_scores_share_one_threshold():
    face = metrics.evaluate({1: truth([[0, 0, 10, 10]])},
                            {1: predictions([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.9])}
                            ).classes['face']
    assert face.ap == 1.0
    assert face.best_f1 == metrics.OperatingPoint(0.5, 1.0, pytest.approx(2 / 3), 0.9)


def test_no_predictions_and_missing_images():
    result = metrics.evaluate({1: truth([[0, 0, 10, 10]]), 2: truth([[5, 5, 9, 9]])}, {})
    face = result.classes['face']
    assert face.ap == face.ap_11point == face.coco_ap == result.ap == 0.0
    assert face.best_f1 == metrics.OperatingPoint(0.0, 0.0, 0.0, None)
    # Predictions on an image the truth does not have are false positives.
    result = metrics.evaluate({1: truth([[0, 0, 10, 10]])},
                              {1: predictions([[0, 0, 10, 10]], [0.5]),
                               2: predictions([[0, 0, 10, 10]], [0.9])})
    assert result.ap == 0.5


def test_no_truth_leaves_ap_undefined():
    result = metrics.evaluate({1: truth([])}, {1: predictions([[0, 0, 10, 10]], [0.9])})
    assert result.classes['face'].num_truth == 0
    assert result.classes['face'].ap is None and result.ap is None and result.coco_ap is None
    assert result.best_f1 is None
    assert metrics.evaluate({}, {}).classes == {}


def test_bad_arguments():
    with pytest.raises(ValueError, match='IoU'):
        metrics.evaluate({}, {}, iou_threshold=0)
    with pytest.raises(ValueError, match='labels'):
        ImageTruth([[0, 0, 1, 1]], ['a', 'b'])


def test_voc_ap_helpers_match_the_devkit_formulas():
    recall, precision = np.array([0.2, 0.4, 0.4, 0.8]), np.array([1.0, 1.0, 0.67, 0.75])
    assert metrics.voc_ap(recall, precision) == pytest.approx(0.4 * 1 + 0.4 * 0.75)
    assert metrics.voc_ap_11point(recall, precision) == pytest.approx((5 + 4 * 0.75) / 11)
    assert metrics.voc_ap(np.zeros(0), np.zeros(0)) == 0.0


def random_dataset(seed, classes, num_images=25, whole_pixels=False):
    """Boxes from 4 to 300 px, noisy copies of them as detections plus random false ones."""
    rng = np.random.default_rng(seed)
    truths, detections = {}, {}
    for image in range(1, num_images + 1):
        count = rng.integers(0, 8)
        corner = rng.uniform(0, 500, (count, 2))
        size = np.exp(rng.uniform(np.log(4), np.log(300), (count, 2)))
        boxes = np.hstack([corner, corner + size])
        labels = rng.choice(classes, count)
        truths[image] = ImageTruth(boxes, labels, crowd=rng.random(count) < 0.1)
        kept = rng.random(count) < 0.8
        noise = rng.normal(0, 0.08, (kept.sum(), 4)) * np.tile(size[kept], 2)
        extra = rng.integers(0, 6)
        corner = rng.uniform(0, 500, (extra, 2))
        size = np.exp(rng.uniform(np.log(4), np.log(300), (extra, 2)))
        found = np.vstack([boxes[kept] + noise, np.hstack([corner, corner + size])])
        found[:, 2:] = np.maximum(found[:, 2:], found[:, :2] + 1)
        scores = rng.random(len(found))
        if whole_pixels:  # many exact IoU and score ties
            truths[image].boxes = np.round(boxes)
            found, scores = np.round(found), np.round(scores, 1)
        detections[image] = ImagePredictions(
            found, scores, np.concatenate([labels[kept], rng.choice(classes, extra)]))
    return truths, detections


def pycocotools_precision(truths, detections, classes, max_detections):
    """Return COCOeval's precision array (T, R, K) for area 'all'."""
    category = {label: number for number, label in enumerate(classes, 1)}

    def xywh(box):
        return [box[0], box[1], box[2] - box[0], box[3] - box[1]]

    annotations = [
        {'id': number, 'image_id': image, 'category_id': category[label], 'bbox': xywh(box),
         'area': (box[2] - box[0]) * (box[3] - box[1]), 'iscrowd': int(crowd)}
        for number, (image, box, label, crowd) in enumerate(
            ((image, *row) for image, item in truths.items()
             for row in zip(item.boxes, item.labels, item.crowd)), 1)]
    results = [{'image_id': image, 'category_id': category[label], 'bbox': xywh(box),
                'score': float(score)}
               for image, item in detections.items()
               for box, score, label in zip(item.boxes, item.scores, item.labels)]
    ground_truth = COCO()
    ground_truth.dataset = {'images': [{'id': image} for image in truths],
                            'annotations': annotations,
                            'categories': [{'id': number, 'name': label}
                                           for label, number in category.items()]}
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth.createIndex()
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), 'bbox')
        evaluation.params.maxDets = [max_detections]
        evaluation.evaluate()
        evaluation.accumulate()
    return evaluation.eval['precision'][:, :, :, 0, 0]


@pytest.mark.parametrize('seed, classes, whole_pixels, max_detections', [
    (0, ['face'], False, 100),
    (1, ['good', 'bad'], False, 100),
    (2, ['a', 'b', 'c'], True, 100),
    (3, ['a', 'b', 'c'], False, 3),
    (4, ['good', 'bad'], True, 2),
    (5, ['face'], True, 100),
])
def test_coco_figures_agree_with_pycocotools(seed, classes, whole_pixels, max_detections):
    truths, detections = random_dataset(seed, classes, whole_pixels=whole_pixels)
    result = metrics.evaluate(truths, detections, max_detections=max_detections)
    precision = pycocotools_precision(truths, detections, classes, max_detections)
    assert result.coco_ap == pytest.approx(precision[precision > -1].mean(), abs=1e-4)
    assert 0.1 < result.coco_ap < 0.9
    for number, label in enumerate(classes):
        assert result.classes[label].coco_ap == pytest.approx(precision[:, :, number].mean(),
                                                              abs=1e-4)
        assert result.classes[label].coco_ap50 == pytest.approx(precision[0, :, number].mean(),
                                                                abs=1e-4)
        assert result.classes[label].coco_ap75 == pytest.approx(precision[5, :, number].mean(),
                                                                abs=1e-4)


def devkit_ap(truths, detections, label, threshold):
    """Transcribe py-faster-rcnn's voc_eval loop (without its +1 pixel) as the reference."""
    records = {image: {'boxes': item.boxes[item.labels == label],
                       'ignore': (item.difficult | item.crowd)[item.labels == label],
                       'crowd': item.crowd[item.labels == label], 'found': set()}
               for image, item in truths.items()}
    positives = sum(int((~record['ignore']).sum()) for record in records.values())
    entries = sorted(((score, image, box) for image, item in detections.items()
                      for box, score, name in zip(item.boxes, item.scores, item.labels)
                      if name == label), key=lambda entry: -entry[0])
    tp, fp = [], []
    for _, image, box in entries:
        record = records[image]
        overlaps = metrics.box_iou([box], record['boxes'], record['crowd'])[0]
        best = int(np.argmax(overlaps)) if len(overlaps) else -1
        hit = best >= 0 and overlaps[best] > threshold
        if hit and record['ignore'][best]:
            continue
        true = hit and best not in record['found']
        if true:
            record['found'].add(best)
        tp.append(true)
        fp.append(not true)
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / positives
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return metrics.voc_ap(recall, precision), metrics.voc_ap_11point(recall, precision)


@pytest.mark.parametrize('seed, threshold', [(10, 0.5), (11, 0.3), (12, 0.7)])
def test_voc_figures_agree_with_a_devkit_transcription(seed, threshold):
    classes = ['good', 'bad']
    truths, detections = random_dataset(seed, classes)
    rng = np.random.default_rng(seed)
    for item in truths.values():
        item.difficult = rng.random(len(item.boxes)) < 0.15
    result = metrics.evaluate(truths, detections, iou_threshold=threshold)
    for label in classes:
        expected = devkit_ap(truths, detections, label, threshold)
        assert (result.classes[label].ap,
                result.classes[label].ap_11point) == pytest.approx(expected, abs=1e-12)


def test_size_report_counts_recall_per_width_bucket_and_voc_false_positives():
    truth = {
        # 12, 30, 50 and 200 px wide faces, a 5 px one (under the first edge: ignored) and a
        # difficult 30 px one (ignored).
        'a': metrics.ImageTruth([(0, 0, 12, 12), (20, 0, 50, 30), (60, 0, 110, 50),
                                 (200, 0, 400, 200), (500, 0, 505, 5), (600, 0, 630, 30)],
                                ['face'] * 6, difficult=[0, 0, 0, 0, 0, 1]),
        'b': metrics.ImageTruth([(0, 0, 30, 30)], ['face']),
    }
    predictions = {
        'a': metrics.ImagePredictions(
            [(0, 0, 12, 12), (20, 0, 50, 30), (21, 0, 50, 30), (200, 0, 400, 200),
             (500, 0, 505, 5), (600, 0, 630, 30), (800, 0, 830, 30), (60, 0, 110, 50)],
            [0.9, 0.9, 0.8, 0.7, 0.9, 0.9, 0.95, 0.2], ['face'] * 8),
        'c': metrics.ImagePredictions([(0, 0, 10, 10)], [0.99], ['face']),
    }
    report = metrics.size_report(truth, predictions, score_threshold=0.5)
    assert [(b.name, b.num_truth, b.found) for b in report.buckets] == [
        ('10-24', 1, 1), ('24-40', 2, 1), ('40-64', 1, 0), ('64-128', 0, 0), ('128+', 1, 1)]
    # False: the duplicate of the 30 px face, the face-free box at x 800, image c's box; the
    # 50 px face's detection scores under the threshold, the ignored faces' matches count as
    # nothing.
    assert (report.true_positives, report.false_positives) == (3, 3)
    assert report.precision == 0.5 and report.recall == 3 / 5
    assert report.false_per_image == 1.0 and report.buckets[3].recall is None
    assert report.recall_between(24) == 2 / 4 and report.recall_between(10, 24) == 1.0
    assert metrics.size_report(truth, predictions, 0.1).buckets[2].found == 1
