"""
Detection metrics: VOC and COCO-style average precision and the best-F1 operating point.

Boxes are (x1, y1, x2, y2) in pixels with no +1 pixel convention: width = x2 - x1. Truth boxes
flagged difficult (VOC) or crowd (COCO `iscrowd`) are ignored: a detection that matches one is
neither a true nor a false positive, and they are not counted in the recall.

- VOC: each detection, from the highest score down, takes the truth box of its class and image
  with the highest IoU; it is a true positive if that IoU is above the threshold (strictly, as in
  the devkit) and the box is not taken yet, else a false positive. AP is the area under the
  precision envelope (VOC2010 all-point) or its mean at recall 0, 0.1, ..., 1 (VOC2007 11-point).
- COCO: pycocotools' COCOeval for boxes, area range 'all': per image and class the top
  `max_detections` detections are matched greedily to the best untaken truth box at each IoU
  threshold 0.5, 0.55, ..., 0.95, and AP is the 101-point interpolated precision averaged over
  those thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Built exactly as pycocotools builds them, so the floats (and the ties they decide) agree.
COCO_IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((.95 - .5) / .05)) + 1, endpoint=True)
COCO_RECALL_THRESHOLDS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1,
                                     endpoint=True)


@dataclass
class ImageTruth:
    """The annotated boxes of one image with their labels and ignore flags."""

    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray = None
    crowd: np.ndarray = None

    def __post_init__(self):
        """Coerce to numpy arrays of one row per box."""
        self.boxes = _as_boxes(self.boxes)
        self.labels = _as_labels(self.labels, len(self.boxes))
        self.difficult = _as_flags(self.difficult, len(self.boxes))
        self.crowd = _as_flags(self.crowd, len(self.boxes))


@dataclass
class ImagePredictions:
    """The detections of one image: boxes, scores and labels."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        """Coerce to numpy arrays of one row per detection."""
        self.boxes = _as_boxes(self.boxes)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(len(self.boxes))
        self.labels = _as_labels(self.labels, len(self.boxes))


@dataclass
class OperatingPoint:
    """Precision and recall when keeping the detections scored at least `score_threshold`."""

    precision: float
    recall: float
    f1: float
    score_threshold: float


@dataclass
class ClassResult:
    """The figures of one class; AP values are None when the class has no (unignored) truth."""

    label: str
    num_truth: int
    num_ignored: int
    num_predictions: int
    ap: float
    ap_11point: float
    coco_ap: float
    coco_ap50: float
    coco_ap75: float
    best_f1: OperatingPoint
    recall: np.ndarray
    precision: np.ndarray
    scores: np.ndarray


@dataclass
class Evaluation:
    """Per-class results and their means over the classes that have truth boxes."""

    iou_threshold: float
    max_detections: int
    classes: dict
    best_f1: OperatingPoint

    @property
    def ap(self) -> float | None:
        """Return the mean VOC all-point AP at `iou_threshold`."""
        return self._mean('ap')

    @property
    def ap_11point(self) -> float | None:
        """Return the mean VOC2007 11-point AP at `iou_threshold`."""
        return self._mean('ap_11point')

    @property
    def coco_ap(self) -> float | None:
        """Return the mean COCO AP@[.5:.95]."""
        return self._mean('coco_ap')

    @property
    def coco_ap50(self) -> float | None:
        """Return the mean COCO AP at IoU 0.5 (101-point, greedy matching)."""
        return self._mean('coco_ap50')

    @property
    def coco_ap75(self) -> float | None:
        """Return the mean COCO AP at IoU 0.75."""
        return self._mean('coco_ap75')

    def _mean(self, name):
        values = [getattr(result, name) for result in self.classes.values()]
        values = [value for value in values if value is not None]
        return float(np.mean(values)) if values else None


def box_iou(boxes: np.ndarray, truth_boxes: np.ndarray,
            crowd: np.ndarray | None = None) -> np.ndarray:
    """
    Return the (len(boxes), len(truth_boxes)) IoU matrix, computed as pycocotools does.

    The arithmetic is pycocotools' own on (x, y, w, h) boxes; for a crowd truth box the
    intersection is divided by the detection's area only.
    """
    boxes, truth_boxes = _as_boxes(boxes), _as_boxes(truth_boxes)
    x, y = boxes[:, 0:1], boxes[:, 1:2]
    w, h = boxes[:, 2:3] - x, boxes[:, 3:4] - y
    tx, ty = truth_boxes[:, 0], truth_boxes[:, 1]
    tw, th = truth_boxes[:, 2] - tx, truth_boxes[:, 3] - ty
    inter_w = np.minimum(x + w, tx + tw) - np.maximum(x, tx)
    inter_h = np.minimum(y + h, ty + th) - np.maximum(y, ty)
    overlap = (inter_w > 0) & (inter_h > 0)
    inter = np.where(overlap, inter_w * inter_h, 0.0)
    area = w * h
    union = np.where(_as_flags(crowd, len(truth_boxes)), area, area + tw * th - inter)
    return np.divide(inter, union, out=np.zeros_like(inter), where=overlap)


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Return the VOC2010+ all-point AP: the area under the monotone precision envelope."""
    recall = np.concatenate(([0.], recall, [1.]))
    precision = np.concatenate(([0.], precision, [0.]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def voc_ap_11point(recall: np.ndarray, precision: np.ndarray) -> float:
    """Return the VOC2007 AP: mean of the best precision at recall >= 0, 0.1, ..., 1."""
    recall, precision = np.asarray(recall), np.asarray(precision)
    total = 0.
    for level in np.arange(0., 1.1, 0.1):
        reached = recall >= level
        total += np.max(precision[reached]) if reached.any() else 0.
    return float(total / 11.)


def best_f1(scores: np.ndarray, true_positive: np.ndarray,
            num_truth: int) -> OperatingPoint | None:
    """
    Return the OperatingPoint of highest F1 over score thresholds, or None without truth.

    `scores` (descending) and `true_positive` describe the counted detections; a threshold
    keeps every detection of equal score. With no detections all figures are 0 and the
    threshold is None.
    """
    if num_truth == 0:
        return None
    if len(scores) == 0:
        return OperatingPoint(0., 0., 0., None)
    true_positives = np.cumsum(true_positive)
    kept = np.arange(1, len(scores) + 1)
    precision = true_positives / kept
    recall = true_positives / num_truth
    f1 = np.divide(2 * precision * recall, precision + recall,
                   out=np.zeros(len(scores)), where=precision + recall > 0)
    # Only the last detection of a run of equal scores is a reachable threshold.
    reachable = np.append(scores[1:] != scores[:-1], True)
    best = np.flatnonzero(reachable)[np.argmax(f1[reachable])]
    return OperatingPoint(float(precision[best]), float(recall[best]), float(f1[best]),
                          float(scores[best]))


def evaluate(truth: Mapping[object, ImageTruth], predictions: Mapping[object, ImagePredictions],
             iou_threshold: float = 0.5, max_detections: int = 100,
             labels: Sequence[str] = ()) -> Evaluation:
    """
    Evaluate `predictions` against `truth`, both dicts of image id -> ImageTruth/ImagePredictions.

    Images missing from one dict count as having no boxes there: truth without predictions are
    misses, predictions on images without truth are false positives. Images are visited in
    sorted id order (as pycocotools does). `labels` orders the classes of the result; other
    labels found in the data follow, sorted.
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f'IoU threshold {iou_threshold} is not in (0, 1]')
    if max_detections < 1:
        raise ValueError(f'max_detections {max_detections} is not positive')
    empty_truth = ImageTruth(np.zeros((0, 4)), [])
    empty_predictions = ImagePredictions(np.zeros((0, 4)), [], [])
    images = [(truth.get(key, empty_truth), predictions.get(key, empty_predictions))
              for key in sorted(set(truth) | set(predictions))]
    found = set()
    for image_truth, image_predictions in images:
        found.update(image_truth.labels.tolist(), image_predictions.labels.tolist())
    order = list(dict.fromkeys(labels)) + sorted(found - set(labels))
    classes = {}
    pooled = []
    for label in order:
        per_image = [_class_view(image_truth, image_predictions, label)
                     for image_truth, image_predictions in images]
        result, counted = _evaluate_class(label, per_image, iou_threshold, max_detections)
        classes[label] = result
        pooled.append(counted)
    scores = np.concatenate([scores for scores, _ in pooled] or [np.zeros(0)])
    true_positive = np.concatenate([tp for _, tp in pooled] or [np.zeros(0, bool)])
    ranking = np.argsort(-scores, kind='mergesort')
    num_truth = sum(result.num_truth for result in classes.values())
    return Evaluation(iou_threshold, max_detections, classes,
                      best_f1(scores[ranking], true_positive[ranking], num_truth))


def _class_view(image_truth, image_predictions, label):
    mine = image_truth.labels == label
    ours = image_predictions.labels == label
    return (image_truth.boxes[mine], image_truth.difficult[mine] | image_truth.crowd[mine],
            image_truth.crowd[mine], image_predictions.boxes[ours],
            image_predictions.scores[ours])


def _evaluate_class(label, per_image, iou_threshold, max_detections):
    num_truth = sum(int(np.count_nonzero(~ignore)) for _, ignore, _, _, _ in per_image)
    num_ignored = sum(int(np.count_nonzero(ignore)) for _, ignore, _, _, _ in per_image)
    num_predictions = sum(len(scores) for *_, scores in per_image)
    scores, true_positive = _voc_matches(per_image, iou_threshold)
    true_positives = np.cumsum(true_positive)
    precision = true_positives / np.maximum(np.arange(1, len(scores) + 1), 1)
    if num_truth:
        recall = true_positives / num_truth
        ap, ap_11point = voc_ap(recall, precision), voc_ap_11point(recall, precision)
        coco = _coco_precision(per_image, max_detections, num_truth)
        coco_ap, coco_ap50, coco_ap75 = (float(np.mean(coco)), float(np.mean(coco[0])),
                                         float(np.mean(coco[5])))
    else:
        recall = np.zeros(len(scores))
        ap = ap_11point = coco_ap = coco_ap50 = coco_ap75 = None
    result = ClassResult(label, num_truth, num_ignored, num_predictions, ap, ap_11point,
                         coco_ap, coco_ap50, coco_ap75,
                         best_f1(scores, true_positive, num_truth), recall, precision, scores)
    return result, (scores, true_positive)


def _voc_matches(per_image, iou_threshold):
    """Return the counted detections' scores (descending) and true-positive flags."""
    scores, truth_ids, ignored = [], [], []
    first_id = 0
    for boxes, ignore, crowd, detections, detection_scores in per_image:
        scores.append(detection_scores)
        best = np.zeros(len(detections), dtype=int)
        hit = np.zeros(len(detections), dtype=bool)
        if len(boxes):
            iou = box_iou(detections, boxes, crowd)
            best = np.argmax(iou, axis=1)
            hit = iou[np.arange(len(detections)), best] > iou_threshold
        truth_ids.append(np.where(hit, first_id + best, -1))
        ignored.append(hit & ignore[best] if len(boxes) else hit)
        first_id += len(boxes)
    scores, truth_ids, ignored = (np.concatenate(parts) for parts in (scores, truth_ids, ignored))
    ranking = np.argsort(-scores, kind='mergesort')
    ranking = ranking[~ignored[ranking]]
    truth_ids = truth_ids[ranking]
    true_positive = np.zeros(len(ranking), dtype=bool)
    # A truth box is found by its first (highest scored) detection; later ones are duplicates.
    hits = np.flatnonzero(truth_ids >= 0)
    _, first = np.unique(truth_ids[hits], return_index=True)
    true_positive[hits[first]] = True
    return scores[ranking], true_positive


def _coco_precision(per_image, max_detections, num_truth):
    """Return pycocotools' interpolated precision, (IoU thresholds, recall thresholds)."""
    scores, matched, ignored = [], [], []
    for boxes, ignore, crowd, detections, detection_scores in per_image:
        truth_order = np.argsort(ignore, kind='mergesort')
        ranking = np.argsort(-detection_scores, kind='mergesort')[:max_detections]
        iou = box_iou(detections[ranking], boxes[truth_order], crowd[truth_order])
        image_matched, image_ignored = _coco_match(iou, ignore[truth_order], crowd[truth_order])
        scores.append(detection_scores[ranking])
        matched.append(image_matched)
        ignored.append(image_ignored)
    scores = np.concatenate(scores)
    ranking = np.argsort(-scores, kind='mergesort')
    matched = np.concatenate(matched, axis=1)[:, ranking]
    ignored = np.concatenate(ignored, axis=1)[:, ranking]
    tp_sum = np.cumsum(matched & ~ignored, axis=1).astype(float)
    fp_sum = np.cumsum(~matched & ~ignored, axis=1).astype(float)
    precision = np.zeros((len(COCO_IOU_THRESHOLDS), len(COCO_RECALL_THRESHOLDS)))
    for row, tp, fp in zip(precision, tp_sum, fp_sum):
        recall = tp / num_truth
        envelope = np.maximum.accumulate((tp / (fp + tp + np.spacing(1)))[::-1])[::-1]
        at = np.searchsorted(recall, COCO_RECALL_THRESHOLDS, side='left')
        reached = at < len(envelope)
        row[reached] = envelope[at[reached]]
    return precision


def _coco_match(iou, ignore, crowd):
    """
    Match score-sorted detections to ignore-sorted truth as COCOeval.evaluateImg does.

    Returns (matched, ignored), each (IoU thresholds, detections). A detection takes the untaken
    (or crowd) truth box of highest IoU >= the threshold, the last one on ties, preferring boxes
    that are not ignored.
    """
    count, num_truth = iou.shape
    shape = (len(COCO_IOU_THRESHOLDS), count)
    matched, ignored = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    if num_truth == 0:
        return matched, ignored
    thresholds = np.minimum(COCO_IOU_THRESHOLDS, 1 - 1e-10)[:, None]
    taken = np.zeros((len(thresholds), num_truth), dtype=bool)
    rows = np.arange(len(thresholds))
    for detection, overlaps in enumerate(iou):
        candidate = (overlaps >= thresholds) & (~taken | crowd)
        if not candidate.any():
            continue
        choice = np.full(len(thresholds), -1)
        for allowed in (ignore, ~ignore):  # unignored boxes, second, win where there is one
            values = np.where(candidate & allowed, overlaps, -1.)
            last_best = num_truth - 1 - np.argmax(values[:, ::-1], axis=1)
            choice = np.where(values[rows, last_best] >= 0, last_best, choice)
        hit = choice >= 0
        matched[hit, detection] = True
        ignored[hit, detection] = ignore[choice[hit]]
        taken[rows[hit], choice[hit]] = True
    return matched, ignored


def _as_boxes(boxes):
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def _as_labels(labels, count):
    labels = np.array([str(label) for label in labels], dtype=object)
    if len(labels) != count:
        raise ValueError(f'{len(labels)} labels for {count} boxes')
    return labels


def _as_flags(flags, count):
    if flags is None:
        return np.zeros(count, dtype=bool)
    return np.asarray(flags, dtype=bool).reshape(count)


# Face widths in pixels at the working width: the buckets that recall is reported in.
SIZE_EDGES = (10, 24, 40, 64, 128)


@dataclass
class SizeBucket:
    """Recall of the truth boxes whose width lies in [low, high)."""

    low: float
    high: float
    num_truth: int
    found: int

    @property
    def recall(self) -> float | None:
        """Return found / num_truth, None for an empty bucket."""
        return self.found / self.num_truth if self.num_truth else None

    @property
    def name(self) -> str:
        """Return the bucket as text: '10-24', '128+'."""
        return f'{self.low:g}+' if np.isinf(self.high) else f'{self.low:g}-{self.high:g}'


@dataclass
class SizeReport:
    """Recall per face-width bucket and precision, at one score threshold and IoU."""

    score_threshold: float
    iou_threshold: float
    buckets: list
    true_positives: int
    false_positives: int
    num_images: int

    @property
    def recall(self) -> float | None:
        """Return the recall over every bucket."""
        truth = sum(bucket.num_truth for bucket in self.buckets)
        return sum(bucket.found for bucket in self.buckets) / truth if truth else None

    @property
    def precision(self) -> float | None:
        """Return TP / (TP + FP), None without detections."""
        counted = self.true_positives + self.false_positives
        return self.true_positives / counted if counted else None

    @property
    def false_per_image(self) -> float:
        """Return the false positives per image."""
        return self.false_positives / self.num_images if self.num_images else 0.0

    def recall_between(self, low: float, high: float = np.inf) -> float | None:
        """Return the recall of the truth boxes from `low` to `high` pixels wide (bucket edges)."""
        chosen = [bucket for bucket in self.buckets if bucket.low >= low and bucket.high <= high]
        truth = sum(bucket.num_truth for bucket in chosen)
        return sum(bucket.found for bucket in chosen) / truth if truth else None


def size_report(truth: Mapping[object, ImageTruth],
                predictions: Mapping[object, ImagePredictions], score_threshold: float,
                iou_threshold: float = 0.5, edges: Sequence[float] = SIZE_EDGES) -> SizeReport:
    """
    Return recall by face width and precision of the detections scored >= score_threshold.

    `truth` and `predictions` are dicts of image id -> ImageTruth / ImagePredictions in the
    pixels that the widths are measured in. Labels are ignored (every box is a face). Truth
    boxes narrower than edges[0] count as ignore regions, like difficult ones. Matching is VOC's
    (each detection, best score first, takes its highest-IoU truth box; a box taken twice, or an
    IoU at or under the threshold, makes a false positive), so precision agrees with `evaluate`.
    """
    edges = [float(edge) for edge in edges] + [np.inf]
    found = np.zeros(len(edges) - 1, dtype=int)
    totals = np.zeros(len(edges) - 1, dtype=int)
    true_positives = false_positives = 0
    empty_truth = ImageTruth(np.zeros((0, 4)), [])
    empty_predictions = ImagePredictions(np.zeros((0, 4)), [], [])
    keys = sorted(set(truth) | set(predictions))
    for key in keys:
        image_truth = truth.get(key, empty_truth)
        image_predictions = predictions.get(key, empty_predictions)
        widths = image_truth.boxes[:, 2] - image_truth.boxes[:, 0]
        ignore = image_truth.difficult | image_truth.crowd | (widths < edges[0])
        keep = image_predictions.scores >= score_threshold
        order = np.argsort(-image_predictions.scores[keep], kind='mergesort')
        detections = image_predictions.boxes[keep][order]
        taken = np.zeros(len(widths), dtype=bool)
        if len(widths) and len(detections):
            iou = box_iou(detections, image_truth.boxes, image_truth.crowd)
            for row in iou:
                best = int(np.argmax(row))
                if row[best] <= iou_threshold:
                    false_positives += 1
                elif ignore[best]:
                    continue
                elif taken[best]:
                    false_positives += 1
                else:
                    taken[best] = True
                    true_positives += 1
        else:
            false_positives += len(detections)
        bucket = np.searchsorted(edges, widths, side='right') - 1
        counted = ~ignore & (bucket >= 0)
        totals += np.bincount(bucket[counted], minlength=len(totals))[:len(totals)]
        found += np.bincount(bucket[counted & taken], minlength=len(totals))[:len(totals)]
    buckets = [SizeBucket(low, high, int(total), int(hit))
               for low, high, total, hit in zip(edges[:-1], edges[1:], totals, found)]
    return SizeReport(float(score_threshold), float(iou_threshold), buckets, true_positives,
                      false_positives, len(keys))
