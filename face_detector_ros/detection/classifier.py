"""
A second stage behind a face detector: a small classifier run on each detected face's crop.

A model card with a `classifier:` section (docs/model-cards.md) turns a face detector into a
detector of those classes (`face_mask`: RetinaFace, then good / bad on each face). The crop is
a square around the box centre, `context` times the box's longer side, resized to the
classifier's input; training (face-train-classifier) cuts its crops with the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
from face_detector_ros.detection.detections import Detections
from face_detector_ros.detection.model_cards import ModelError
from face_detector_ros.detection.openvino_api import (
    Layout,
    PartialShape,
    PrePostProcessor,
    short_reason,
    Type,
)
import numpy as np

CLASSIFIER_DEFAULTS = {'context': 1.2, 'color_order': 'bgr', 'mean': [127.5] * 3,
                       'scale': [1 / 127.5] * 3}


def square_crops(image: np.ndarray, boxes: np.ndarray, size: int, context: float,
                 jitter: np.random.Generator | None = None) -> np.ndarray:
    """
    Return (N, size, size, channels) uint8 crops, one square per box around its centre.

    The square's side is `context` times the box's longer side; beyond the image the border
    pixels are repeated. `jitter` (training) moves the centre by up to 10 % of the side and
    scales the side by 0.9-1.15.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    channels = image.shape[2:] if image.ndim == 3 else ()
    crops = np.empty((len(boxes), size, size) + channels, dtype=np.uint8)
    for index, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        side = max(x2 - x1, y2 - y1, 1.0) * context
        if jitter is not None:
            cx, cy = cx + jitter.uniform(-0.1, 0.1) * side, cy + jitter.uniform(-0.1, 0.1) * side
            side *= jitter.uniform(0.9, 1.15)
        scale = size / side
        warp = np.float32([[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale]])
        crops[index] = cv2.warpAffine(image, warp, (size, size), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE).reshape(crops.shape[1:])
    return crops


class CropClassifier:
    """
    The classifier of a card's `classifier:` section, compiled for the CPU.

    It is tens of MFLOPs a face at most, so it runs on the CPU whatever device runs the
    detector (the Neural Compute Stick keeps the detector). `labels` are the classes of its
    outputs.
    """

    def __init__(self, section: Mapping[str, object], card_path: str, core: object,
                 config: Mapping[str, str] | None = None) -> None:
        """Read and compile the classifier named by `section` (paths relative to the card)."""
        section = {**CLASSIFIER_DEFAULTS, **section}
        for key in ('file', 'input_size', 'labels'):
            if key not in section:
                raise ModelError(f'model card {card_path}: classifier needs {key!r}')
        labels, size = section['labels'], section['input_size']
        if not (isinstance(labels, list) and len(labels) >= 2 and
                all(isinstance(label, str) and label for label in labels)):
            raise ModelError(f'model card {card_path}: classifier labels must be a list of at '
                             f'least 2 names, got {labels!r}')
        if not (isinstance(size, int) and 8 <= size <= 512):
            raise ModelError(f'model card {card_path}: classifier input_size must be a side '
                             f'in pixels from 8 to 512, got {size!r}')
        if not (isinstance(section['context'], (int, float)) and 1 <= section['context'] <= 4):
            raise ModelError(f'model card {card_path}: classifier context must be in [1, 4]')
        self.labels = list(labels)
        self.size = size
        self.context = float(section['context'])
        path = Path(card_path).parent / section['file']
        if not path.is_file():
            raise ModelError(f'classifier file {path} does not exist (named by {card_path})')
        try:
            model = core.read_model(str(path))
            model.reshape({model.inputs[0]: PartialShape([-1, 3, size, size])})
        except RuntimeError as error:
            raise ModelError(f'cannot read classifier file {path}: '
                             f'{short_reason(error)}') from error
        if len(model.outputs) != 1 or model.outputs[0].partial_shape[1] != len(self.labels):
            raise ModelError(f'classifier {path}: expected one output of {len(self.labels)} '
                             f'class probabilities, got {model.outputs[0].partial_shape}')
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(Type.u8).set_layout(Layout('NHWC'))
        ppp.input().model().set_layout(Layout('NCHW'))
        steps = ppp.input().preprocess().convert_element_type(Type.f32)
        if section['color_order'] == 'rgb':
            steps.reverse_channels()
        steps.mean([float(v) for v in section['mean']]).scale(
            [1.0 / float(v) for v in section['scale']])
        self._request = core.compile_model(ppp.build(), 'CPU', dict(config or {})) \
            .create_infer_request()

    def probabilities(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Return (N, classes) probabilities of the faces in `boxes` of a BGR image."""
        if not len(boxes):
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        crops = square_crops(image, boxes, self.size, self.context)
        self._request.infer({0: crops})
        return self._request.get_output_tensor(0).data.astype(np.float32)  # a copy

    def classify(self, image: np.ndarray, detections: Detections,
                 threshold: float) -> Detections:
        """
        Return a detection for each face and class whose score reaches `threshold`.

        A score is the face score times the class probability, so a face either stage doubts
        ranks low. Above a threshold of 0.5 a face keeps at most one class, its most probable;
        below it a face comes out once per class that reaches it (each with its score, highest
        first), as from any multi-class detector: a mask that the classifier is unsure of is
        then found under either label, which is what mAP measures.
        """
        scores = detections.scores[:, None] * self.probabilities(image, detections.boxes)
        faces, classes = np.nonzero(scores >= threshold)
        order = np.argsort(-scores[faces, classes], kind='stable')
        faces, classes = faces[order], classes[order]
        return Detections(detections.boxes[faces], scores[faces, classes], classes,
                          detections.keypoints[faces])
