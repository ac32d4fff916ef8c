"""
Turn a detection model's raw output tensors into Detections, in pixels of the model input.

`make_decoder(card)` builds the decoder a model card names (docs/model-cards.md lists every key):

- `blazeface`: MediaPipe SSD anchors, box and keypoint regressors, sigmoid scores.
- `ssd`: Caffe/OpenVINO DetectionOutput rows (image_id, label, score, x1, y1, x2, y2), normalised,
  as [1, 1, N, 7] or as the Neural Compute Stick's flat count-first buffer.
- `yolo`: darknet YOLOv3 grids with anchors, and the single-tensor heads of v5 and v8 exports.
- `retinaface`: Pytorch_Retinaface's loc, conf (softmax) and 5-landmark outputs against square
  priors per stride, for any input size (priors cached per size).

A decoder is called as `decoder(outputs, score_threshold, nms_iou, max_detections)` with the
output tensors in the model's output order. Boxes and keypoints come back in pixels of the input
tensor (before any letterbox undo), after class-aware NMS, best score first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import functools
import math

from face_detector_ros.detection.detections import Detections
from face_detector_ros.detection.nms import suppress
import numpy as np


def make_decoder(card: Mapping[str, object]
                 ) -> Callable[[Sequence[np.ndarray], float, float, int], Detections]:
    """Return the decoder for a model card; ValueError names a missing or unknown key."""
    decoders = {'blazeface': BlazeFaceDecoder, 'retinaface': RetinaFaceDecoder,
                'ssd': SsdDecoder, 'yolo': YoloDecoder}
    kind = card.get('decoder')
    if kind not in decoders:
        raise ValueError(f'model card: decoder must be one of {sorted(decoders)}, got {kind!r}')
    return decoders[kind](card)


def ssd_anchors(input_size: Sequence[int], strides: Sequence[int], min_scale: float,
                max_scale: float, num_layers: int | None = None, anchor_offset_x: float = 0.5,
                anchor_offset_y: float = 0.5, aspect_ratios: Sequence[float] = (1.0,),
                interpolated_scale_aspect_ratio: float = 1.0,
                reduce_boxes_in_lowest_layer: bool = False,
                fixed_anchor_size: bool = False) -> np.ndarray:
    """
    Return MediaPipe SsdAnchorsCalculator anchors as (N, 4) rows (x_center, y_center, w, h).

    Values are normalised to the input size. Consecutive layers with the same stride share one
    grid, their anchors interleaved per cell, as MediaPipe orders them.
    """
    width, height = input_size
    num_layers = len(strides) if num_layers is None else num_layers
    if len(strides) != num_layers:
        raise ValueError(f'model card: {num_layers} layers need {num_layers} strides, '
                         f'got {list(strides)}')

    def scale(layer):
        if len(strides) == 1:
            return (min_scale + max_scale) / 2
        return min_scale + (max_scale - min_scale) * layer / (len(strides) - 1)

    anchors = []
    layer = 0
    while layer < num_layers:
        sizes = []  # (w, h) of each anchor of a grid cell
        same_stride = layer
        while same_stride < num_layers and strides[same_stride] == strides[layer]:
            if same_stride == 0 and reduce_boxes_in_lowest_layer:
                shapes = [(1.0, 0.1), (2.0, scale(0)), (0.5, scale(0))]
            else:
                shapes = [(ratio, scale(same_stride)) for ratio in aspect_ratios]
                if interpolated_scale_aspect_ratio > 0:
                    next_scale = (1.0 if same_stride == len(strides) - 1
                                  else scale(same_stride + 1))
                    shapes.append((interpolated_scale_aspect_ratio,
                                   np.sqrt(scale(same_stride) * next_scale)))
            sizes += [(size * np.sqrt(ratio), size / np.sqrt(ratio)) for ratio, size in shapes]
            same_stride += 1
        if fixed_anchor_size:
            sizes = [(1.0, 1.0)] * len(sizes)
        rows = int(np.ceil(height / strides[layer]))
        columns = int(np.ceil(width / strides[layer]))
        y, x, anchor = np.meshgrid(np.arange(rows), np.arange(columns), np.arange(len(sizes)),
                                   indexing='ij')
        sizes = np.array(sizes)[anchor.ravel()]
        anchors.append(np.column_stack([(x.ravel() + anchor_offset_x) / columns,
                                        (y.ravel() + anchor_offset_y) / rows, sizes]))
        layer = same_stride
    return np.concatenate(anchors).astype(np.float32)


class BlazeFaceDecoder:
    """MediaPipe TensorsToDetections for SSD-anchor models such as BlazeFace."""

    def __init__(self, card: Mapping[str, object]) -> None:
        """Build the anchors and box coder from the card's MediaPipe options."""
        _require(card, 'input_size', 'labels', 'strides', 'min_scale', 'max_scale')
        self.width, self.height = card['input_size']
        anchor_keys = ('num_layers', 'anchor_offset_x', 'anchor_offset_y', 'aspect_ratios',
                       'interpolated_scale_aspect_ratio', 'reduce_boxes_in_lowest_layer',
                       'fixed_anchor_size')
        anchors = ssd_anchors(card['input_size'], card['strides'], card['min_scale'],
                              card['max_scale'], **{k: card[k] for k in anchor_keys if k in card})
        self.num_anchors = len(anchors)
        self.num_keypoints = card.get('num_keypoints', 0)
        self.num_classes = len(card['labels'])
        self.reverse_output_order = card.get('reverse_output_order', False)
        self.score_clipping = card.get('score_clipping_thresh')
        self.weighted = _weighted_nms(card, default='weighted')
        # A regressor value v maps to input pixels as v * gain + centre (TensorsToDetections,
        # then times the input size).
        size = np.array([self.width, self.height], dtype=np.float32)
        scale = np.array([card.get('x_scale', self.width), card.get('y_scale', self.height)],
                         dtype=np.float32)
        self.centres = anchors[:, :2] * size
        self.gains = anchors[:, 2:] * size / scale
        self.size_gains = anchors[:, 2:] * size / np.array(
            [card.get('w_scale', self.width), card.get('h_scale', self.height)], dtype=np.float32)

    def __call__(self, outputs: Sequence[np.ndarray], score_threshold: float, nms_iou: float,
                 max_detections: int) -> Detections:
        """Decode (1, anchors, 4 + 2K) regressors and (1, anchors, classes) score logits."""
        if len(outputs) != 2:
            raise ValueError(f'blazeface: expected 2 output tensors (regressors, scores), '
                             f'got {len(outputs)}')
        # The regressors carry more values per anchor than the scores.
        regressors, logits = sorted(outputs, key=lambda tensor: -np.shape(tensor)[-1])
        regressors = _checked(regressors, (1, self.num_anchors, 4 + 2 * self.num_keypoints),
                              'blazeface regressors')
        logits = _checked(logits, (1, self.num_anchors, self.num_classes), 'blazeface scores')[0]
        if self.score_clipping is not None:
            logits = np.clip(logits, -self.score_clipping, self.score_clipping)
        class_ids = logits.argmax(axis=1)
        scores = _sigmoid(logits[np.arange(len(logits)), class_ids])
        passed = np.flatnonzero(scores >= score_threshold)
        # (x, y) pairs: box centre, box size, then the keypoints.
        pairs = regressors[0, passed].reshape(len(passed), 2 + self.num_keypoints, 2)
        if not self.reverse_output_order:  # MediaPipe's default order is (y, x), (h, w)
            pairs = pairs[:, :, ::-1]
        gains, centres = self.gains[passed], self.centres[passed]
        centre = pairs[:, 0] * gains + centres
        half = pairs[:, 1] * self.size_gains[passed] / 2
        keypoints = pairs[:, 2:] * gains[:, None] + centres[:, None]
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        found = Detections(boxes, scores[passed], class_ids[passed], keypoints)
        return suppress(found, nms_iou, max_detections, self.weighted)


class SsdDecoder:
    """Caffe SSD / OpenVINO DetectionOutput rows, standard or the stick's count-first buffer."""

    layouts = ('detection_output', 'count_first')

    def __init__(self, card: Mapping[str, object]) -> None:
        """Read layout, label offset and NMS method from the card."""
        _require(card, 'input_size', 'labels')
        self.width, self.height = card['input_size']
        self.layout = card.get('layout', 'detection_output')
        if self.layout not in self.layouts:
            raise ValueError(f'model card: ssd layout must be one of {list(self.layouts)}, '
                             f'got {self.layout!r}')
        self.label_offset = card.get('label_offset', 0)
        self.num_classes = len(card['labels'])
        self.weighted = _weighted_nms(card, default='hard')

    def __call__(self, outputs: Sequence[np.ndarray], score_threshold: float, nms_iou: float,
                 max_detections: int) -> Detections:
        """Decode the first output tensor."""
        tensor = np.asarray(outputs[0], dtype=np.float32)
        if self.layout == 'detection_output':
            rows = _checked(tensor, (1, 1, None, 7), 'ssd detection_output').reshape(-1, 7)
            ends = np.flatnonzero(rows[:, 0] < 0)  # image_id -1 ends the list
            rows = rows[:ends[0]] if ends.size else rows
        else:
            flat = tensor.ravel()
            if flat.size < 7 or flat.size % 7:
                raise ValueError(f'ssd count_first: expected 7 * (keep_top_k + 1) floats, got '
                                 f'shape {tensor.shape}')
            rows = flat[7:].reshape(-1, 7)
            count = flat[0] if np.isfinite(flat[0]) else 0
            rows = rows[:int(np.clip(count, 0, len(rows)))]
        rows = rows[np.isfinite(rows).all(axis=1)]
        class_ids = rows[:, 1].astype(np.int64) - self.label_offset
        # Labels outside the card's list (Caffe's background 0 with label_offset 1) are dropped.
        passed = ((rows[:, 2] >= score_threshold) & (class_ids >= 0)
                  & (class_ids < self.num_classes))
        boxes = rows[passed, 3:] * np.array([self.width, self.height] * 2, dtype=np.float32)
        found = Detections(boxes, rows[passed, 2], class_ids[passed],
                           np.zeros((np.count_nonzero(passed), 0, 2)))
        return suppress(found, nms_iou, max_detections, self.weighted)


class YoloDecoder:
    """YOLO heads: darknet v3 grids with anchors, v5 [1, N, 5+C] and v8 [1, 4+C(+3K), N]."""

    layouts = ('darknet', 'v5', 'v8')

    def __init__(self, card: Mapping[str, object]) -> None:
        """Read layout, anchors, masks and strides from the card."""
        _require(card, 'input_size', 'labels')
        self.width, self.height = card['input_size']
        self.layout = card.get('layout', 'darknet')
        if self.layout not in self.layouts:
            raise ValueError(f'model card: yolo layout must be one of {list(self.layouts)}, '
                             f'got {self.layout!r}')
        self.num_classes = len(card['labels'])
        self.num_keypoints = card.get('num_keypoints', 0)
        self.weighted = _weighted_nms(card, default='hard')
        if self.layout == 'darknet':
            _require(card, 'anchors', 'masks', 'strides')
            anchors = np.array(card['anchors'], dtype=np.float32).reshape(-1, 2)
            masks, strides = card['masks'], card['strides']
            if len(masks) != len(strides):
                raise ValueError(f'model card: {len(masks)} anchor masks need as many strides, '
                                 f'got {list(strides)}')
            self.grids = {}  # expected output shape -> (stride, anchors in input pixels)
            for mask, stride in zip(masks, strides):
                shape = (1, len(mask) * (5 + self.num_classes), self.height // stride,
                         self.width // stride)
                self.grids[shape] = (stride, anchors[mask])
            self.scale_x_y = card.get('scale_x_y', 1.0)
            self.sigmoid_applied = card.get('sigmoid_applied', False)

    def __call__(self, outputs: Sequence[np.ndarray], score_threshold: float, nms_iou: float,
                 max_detections: int) -> Detections:
        """Decode the output tensors of the card's layout."""
        if self.layout == 'darknet':
            found = self._darknet(outputs, score_threshold)
        elif self.layout == 'v5':
            rows = _checked(outputs[0], (1, None, 5 + self.num_classes), 'yolo v5')[0]
            found = self._rows(rows[:, :4], rows[:, 5:] * rows[:, 4:5], np.zeros((len(rows), 0)),
                               score_threshold)
        else:
            classes_end = 4 + self.num_classes
            rows = _checked(outputs[0], (1, classes_end + 3 * self.num_keypoints, None),
                            'yolo v8')[0].T
            found = self._rows(rows[:, :4], rows[:, 4:classes_end], rows[:, classes_end:],
                               score_threshold)
        return suppress(found, nms_iou, max_detections, self.weighted)

    def _rows(self, centre_boxes, class_scores, keypoint_values, score_threshold):
        """Return detections from (cx, cy, w, h) rows, per-class scores and (x, y, conf) points."""
        class_ids = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(class_scores)), class_ids]
        passed = np.flatnonzero(scores >= score_threshold)
        points = keypoint_values[passed].reshape(len(passed), self.num_keypoints, 3)[:, :, :2]
        return Detections(_corners(centre_boxes[passed]), scores[passed], class_ids[passed],
                          points)

    def _darknet(self, outputs, score_threshold):
        """Decode [1, A * (5 + C), H, W] grids, matched to anchor masks by their shape."""
        if len(outputs) != len(self.grids):
            raise ValueError(f'yolo darknet: expected {len(self.grids)} output tensors of shapes '
                             f'{list(self.grids)}, got shapes '
                             f'{[np.shape(tensor) for tensor in outputs]}')
        activate = (lambda v: v) if self.sigmoid_applied else _sigmoid
        found = []
        for tensor in outputs:
            shape = tuple(np.shape(tensor))
            if shape not in self.grids:
                raise ValueError(f'yolo darknet: expected output shapes {list(self.grids)}, got '
                                 f'{shape}')
            stride, anchors = self.grids[shape]
            _, _, rows, columns = shape
            # (anchor, row, column, 5 + C) so each cell's values sit together.
            cells = np.asarray(tensor, dtype=np.float32).reshape(
                len(anchors), -1, rows, columns).transpose(0, 2, 3, 1)
            objectness = activate(cells[..., 4])
            # score = objectness x class probability <= objectness: skip the rest early.
            anchor, row, column = np.nonzero(objectness >= score_threshold)
            values = cells[anchor, row, column]
            class_probs = activate(values[:, 5:])
            class_ids = class_probs.argmax(axis=1)
            scores = objectness[anchor, row, column] * class_probs[np.arange(len(values)),
                                                                   class_ids]
            offsets = activate(values[:, :2]) * self.scale_x_y - (self.scale_x_y - 1) / 2
            centres = (offsets + np.column_stack([column, row])) * stride
            sizes = np.exp(values[:, 2:4]) * anchors[anchor]
            passed = scores >= score_threshold
            found.append(np.column_stack([centres, sizes, scores, class_ids])[passed])
        rows = np.concatenate(found)
        return Detections(_corners(rows[:, :4]), rows[:, 4], rows[:, 5],
                          np.zeros((len(rows), 0, 2)))


@functools.lru_cache(maxsize=16)
def retinaface_priors(width: int, height: int, strides: Sequence[int],
                      min_sizes: Sequence[Sequence[float]]) -> np.ndarray:
    """
    Return RetinaFace prior boxes for an input size as (N, 4) rows (cx, cy, w, h) in pixels.

    Feature maps are ceil(size / stride) cells; each cell holds one square prior per min size,
    cells row by row, the finest stride first (Pytorch_Retinaface's PriorBox). Cached per size,
    so a decoder of any input size builds them once.
    """
    priors = []
    for stride, sizes in zip(strides, min_sizes):
        rows, columns = math.ceil(height / stride), math.ceil(width / stride)
        y, x, size = np.meshgrid(np.arange(rows), np.arange(columns), np.asarray(sizes),
                                 indexing='ij')
        priors.append(np.column_stack([(x.ravel() + 0.5) * stride, (y.ravel() + 0.5) * stride,
                                       size.ravel(), size.ravel()]))
    priors = np.concatenate(priors).astype(np.float32)
    priors.flags.writeable = False  # shared by every decoder of this size
    return priors


class RetinaFaceDecoder:
    """RetinaFace (Pytorch_Retinaface): box, class and 5-landmark regressions against priors."""

    def __init__(self, card: Mapping[str, object]) -> None:
        """Read strides, prior sizes and variances from the card."""
        _require(card, 'input_size', 'labels', 'strides', 'min_sizes')
        self.width, self.height = card['input_size']
        strides, min_sizes = card['strides'], card['min_sizes']
        if len(strides) != len(min_sizes):
            raise ValueError(f'model card: {len(strides)} strides need as many min_sizes lists, '
                             f'got {min_sizes}')
        self.priors = retinaface_priors(self.width, self.height, tuple(strides),
                                        tuple(tuple(sizes) for sizes in min_sizes))
        self.centre_variance, self.size_variance = card.get('variances', [0.1, 0.2])
        self.num_keypoints = card.get('num_keypoints', 5)
        self.num_classes = len(card['labels'])
        self.weighted = _weighted_nms(card, default='hard')

    def __call__(self, outputs: Sequence[np.ndarray], score_threshold: float, nms_iou: float,
                 max_detections: int) -> Detections:
        """Decode loc (1, N, 4), conf (1, N, 1 + C) softmax scores and landmarks (1, N, 2K)."""
        count = len(self.priors)
        widths = {4: 'loc', 1 + self.num_classes: 'conf', 2 * self.num_keypoints: 'landmarks'}
        shapes = [tuple(np.shape(tensor)) for tensor in outputs]
        named = {widths.get(shape[-1]): tensor for shape, tensor in zip(shapes, outputs)
                 if len(shape) == 3}
        if len(outputs) != 3 or set(named) != {'loc', 'conf', 'landmarks'}:
            wanted = [(1, count, width) for width in widths]
            raise ValueError(f'retinaface: expected 3 output tensors of shapes {wanted} (loc, '
                             f'conf, landmarks), got {shapes}')
        loc = _checked(named['loc'], (1, count, 4), 'retinaface loc')[0]
        conf = _checked(named['conf'], (1, count, 1 + self.num_classes), 'retinaface conf')[0]
        points = _checked(named['landmarks'], (1, count, 2 * self.num_keypoints),
                          'retinaface landmarks')[0]
        class_scores = conf[:, 1:]  # column 0 is the background
        class_ids = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(count), class_ids]
        passed = np.flatnonzero(scores >= score_threshold)  # NaN scores never pass
        priors = self.priors[passed]
        centres, sizes = priors[:, :2], priors[:, 2:]
        box_centres = centres + loc[passed, :2] * self.centre_variance * sizes
        box_sizes = sizes * np.exp(np.clip(loc[passed, 2:] * self.size_variance, -20, 20))
        boxes = np.concatenate([box_centres - box_sizes / 2, box_centres + box_sizes / 2], axis=1)
        keypoints = (centres[:, None] + points[passed].reshape(len(passed), self.num_keypoints, 2)
                     * self.centre_variance * sizes[:, None])
        finite = np.isfinite(boxes).all(axis=1) & np.isfinite(keypoints).all(axis=(1, 2))
        found = Detections(boxes[finite], scores[passed][finite], class_ids[passed][finite],
                           keypoints[finite])
        return suppress(found, nms_iou, max_detections, self.weighted)


def _sigmoid(values):
    """Return the logistic function, without exp overflow for large logits."""
    return 0.5 + 0.5 * np.tanh(0.5 * values)


def _weighted_nms(card, default):
    """Return whether the card asks for weighted NMS; ValueError for an unknown method."""
    method = card.get('nms', default)
    if method not in ('hard', 'weighted'):
        raise ValueError(f"model card: nms must be 'hard' or 'weighted', got {method!r}")
    return method == 'weighted'


def _require(card, *keys):
    """Raise ValueError naming the keys the card lacks."""
    missing = [key for key in keys if key not in card]
    if missing:
        raise ValueError(f'model card: the {card["decoder"]} decoder needs the keys {missing}')


def _corners(centre_boxes):
    """Convert (cx, cy, w, h) rows to (x1, y1, x2, y2)."""
    half = centre_boxes[:, 2:4] / 2
    return np.concatenate([centre_boxes[:, :2] - half, centre_boxes[:, :2] + half], axis=1)


def _checked(tensor, expected, name):
    """Return the tensor as float32, or raise ValueError if its shape differs from `expected`."""
    tensor = np.asarray(tensor, dtype=np.float32)
    if tensor.ndim != len(expected) or any(
            want is not None and want != got for want, got in zip(expected, tensor.shape)):
        shown = ', '.join('N' if want is None else str(want) for want in expected)
        raise ValueError(f'{name}: expected shape ({shown}), got {tensor.shape}')
    return tensor
