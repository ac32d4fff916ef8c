"""Letterboxing: an image resized into a model input keeping its aspect ratio, and back."""

from __future__ import annotations

import cv2
from face_detector_ros.detection.detections import Detections
import numpy as np


class Letterbox:
    """
    Resize images of one size into a model input keeping the aspect ratio, centred and padded.

    Source pixel x lands on model pixel x * scale + offset exactly, on both axes: cv2.resize is
    given the scale itself, not a rounded output size.
    """

    def __init__(self, src_w: int, src_h: int, dst_w: int, dst_h: int) -> None:
        """Precompute the scale, the resized size and the padding offsets."""
        self.scale = min(dst_w / src_w, dst_h / src_h)
        # cv2.resize rounds the output size with cvRound (half to even), as np.rint does.
        exact = (int(np.rint(src_w * self.scale)), int(np.rint(src_h * self.scale)))
        # A strip thinner than a model pixel (1 x 4000) still takes one row or column.
        self.size = (max(exact[0], 1), max(exact[1], 1))
        self.exact = exact == self.size
        self.offset_x = (dst_w - self.size[0]) // 2
        self.offset_y = (dst_h - self.size[1]) // 2
        self.shape = (dst_h, dst_w, 3)
        # Area averaging only where it matters: strong shrinking aliases with bilinear.
        self.interpolation = cv2.INTER_AREA if self.scale < 0.5 else cv2.INTER_LINEAR

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Return the letterboxed image as a new (1, h, w, 3) uint8 array, padded black."""
        if self.exact:
            resized = cv2.resize(image, None, fx=self.scale, fy=self.scale,
                                 interpolation=self.interpolation)
        else:
            resized = cv2.resize(image, self.size, interpolation=self.interpolation)
        tensor = np.zeros((1, *self.shape), np.uint8)
        tensor[0, self.offset_y:self.offset_y + self.size[1],
               self.offset_x:self.offset_x + self.size[0]] = resized
        return tensor

    def to_source(self, detections: Detections) -> Detections:
        """Map detections in model-input pixels back to source-image pixels."""
        return detections.scaled(self.scale, self.offset_x, self.offset_y)
