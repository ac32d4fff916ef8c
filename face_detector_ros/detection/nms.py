"""
Non-maximum suppression in numpy: greedy (hard) and score-weighted blending, class-aware.

Greedy NMS keeps the best box, drops every box overlapping it by IoU > threshold, repeats. The
loop runs once per kept box (each pass vectorised over the boxes left), so it costs
O(kept x N) and stops as soon as `max_detections` boxes are kept.

Weighted NMS (MediaPipe's WEIGHTED algorithm) replaces each kept box and its keypoints by the
score-weighted mean of the boxes it suppresses; the kept score is the best one. Faces then jitter
less from frame to frame than with a hard pick.

Class-aware variants shift each class's boxes to a region of their own, so boxes of different
classes never overlap and one pass handles all classes.
"""

from __future__ import annotations

from face_detector_ros.detection.detections import Detections
import numpy as np


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
        max_detections: int | None = None) -> np.ndarray:
    """
    Return the indices of the boxes greedy NMS keeps, best score first.

    A box is dropped when its IoU with a better kept box exceeds `iou_threshold`. Ties in score
    keep the earlier box. `max_detections` (None: no limit) stops the search early.
    """
    boxes, scores = _checked(boxes, scores)
    overlap = _iou_with(boxes)
    limit = len(boxes) if max_detections is None else max_detections
    order = np.argsort(-scores, kind='stable')
    keep = []
    while order.size and len(keep) < limit:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[overlap(best, rest) <= iou_threshold]
    return np.array(keep, dtype=np.intp)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
                 max_detections: int | None = None, keypoints: np.ndarray | None = None,
                 class_ids: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Blend overlapping boxes by score, as MediaPipe's weighted NMS does.

    Return (indices, boxes, keypoints): the index of each cluster's best box (its score and
    class stand for the cluster), and the score-weighted mean box and keypoints of the cluster
    (all boxes with IoU > `iou_threshold` to the best one, the best included). `keypoints` is
    (N, K, 2) or None; with `class_ids`, clusters hold one class only.
    """
    boxes, scores = _checked(boxes, scores)
    if keypoints is None:
        keypoints = np.zeros((len(boxes), 0, 2), dtype=np.float32)
    overlap = _iou_with(boxes if class_ids is None else _separated(boxes, class_ids))
    limit = len(boxes) if max_detections is None else max_detections
    order = np.argsort(-scores, kind='stable')
    keep, blended_boxes, blended_keypoints = [], [], []
    while order.size and len(keep) < limit:
        best = order[0]
        in_cluster = overlap(best, order) > iou_threshold
        in_cluster[0] = True
        members = order[in_cluster]
        total = scores[members].sum()
        # All-zero scores have no weights to blend by: the best box stands alone.
        weights = scores[members] / total if total > 0 else np.eye(1, len(members))[0]
        keep.append(best)
        blended_boxes.append(weights @ boxes[members])
        blended_keypoints.append(np.tensordot(weights, keypoints[members], axes=1))
        order = order[~in_cluster]
    return (np.array(keep, dtype=np.intp),
            np.array(blended_boxes, dtype=np.float32).reshape(-1, 4),
            np.array(blended_keypoints, dtype=np.float32).reshape(len(keep), *keypoints.shape[1:]))


def class_aware_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                    iou_threshold: float, max_detections: int | None = None) -> np.ndarray:
    """Return the indices greedy NMS keeps when boxes suppress only boxes of their own class."""
    return nms(_separated(boxes, class_ids), scores, iou_threshold, max_detections)


def suppress(detections: Detections, iou_threshold: float, max_detections: int | None = None,
             weighted: bool = False) -> Detections:
    """Return class-aware NMS of `detections` (hard or weighted), best score first."""
    if not weighted:
        return detections.select(class_aware_nms(detections.boxes, detections.scores,
                                                 detections.class_ids, iou_threshold,
                                                 max_detections))
    keep, boxes, keypoints = weighted_nms(detections.boxes, detections.scores, iou_threshold,
                                          max_detections, detections.keypoints,
                                          detections.class_ids)
    return Detections(boxes, detections.scores[keep], detections.class_ids[keep], keypoints)


def _iou_with(boxes):
    """Return iou(i, others): the IoU of box i with boxes[others], areas computed once."""
    x1, y1, x2, y2 = (np.ascontiguousarray(column) for column in boxes.T)
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)

    def overlap(i, others):
        width = np.minimum(x2[i], x2[others]) - np.maximum(x1[i], x1[others])
        height = np.minimum(y2[i], y2[others]) - np.maximum(y1[i], y1[others])
        inter = np.clip(width, 0, None) * np.clip(height, 0, None)
        union = areas[i] + areas[others] - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return overlap


def _separated(boxes, class_ids):
    """Shift each class's boxes by a multiple of the coordinate span so classes never overlap."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if not len(boxes):
        return boxes
    span = float(boxes.max() - boxes.min()) + 1.0
    return boxes + (np.asarray(class_ids, dtype=np.float32) * span)[:, None]


def _checked(boxes, scores):
    boxes = np.asarray(boxes, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or scores.shape != (len(boxes),):
        raise ValueError(f'expected boxes (N, 4) and scores (N,), got boxes {boxes.shape} and '
                         f'scores {scores.shape}')
    return boxes, scores
