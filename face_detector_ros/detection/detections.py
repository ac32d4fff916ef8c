"""Detections of one image: boxes, scores, class ids and keypoints as parallel numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Detections:
    """
    N detections; row i of every array belongs to detection i.

    Boxes are (x1, y1, x2, y2) and keypoints (x, y), in pixels of whatever image the producer
    states (model input for decoders, the source image after `scaled`).
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    keypoints: np.ndarray

    def __post_init__(self) -> None:
        """Coerce dtypes and check that the arrays agree in length and shape."""
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        count = len(self.boxes)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(count)
        self.class_ids = np.asarray(self.class_ids, dtype=np.int32).reshape(count)
        keypoints = np.asarray(self.keypoints, dtype=np.float32)
        if keypoints.ndim != 3 or keypoints.shape[0] != count or keypoints.shape[2] != 2:
            raise ValueError(f'keypoints must have shape ({count}, K, 2), got {keypoints.shape}')
        self.keypoints = keypoints

    @classmethod
    def empty(cls, num_keypoints: int = 0) -> Detections:
        """Return zero detections whose keypoint array has K = num_keypoints."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0),
                   np.zeros((0, num_keypoints, 2)))

    def __len__(self) -> int:
        """Return the number of detections."""
        return len(self.boxes)

    def select(self, index: np.ndarray) -> Detections:
        """Return the detections picked by a boolean mask or an index array, in that order."""
        return Detections(self.boxes[index], self.scores[index], self.class_ids[index],
                          self.keypoints[index])

    def scaled(self, scale: float, offset_x: float, offset_y: float) -> Detections:
        """
        Map model-input pixels back to the source image: (v - offset) / scale.

        `scale` and the offsets are those the letterbox applied (source * scale + offset).
        """
        offset = np.array([offset_x, offset_y], dtype=np.float32)
        boxes = (self.boxes - np.tile(offset, 2)) / np.float32(scale)
        keypoints = (self.keypoints - offset) / np.float32(scale)
        return Detections(boxes, self.scores.copy(), self.class_ids.copy(), keypoints)
