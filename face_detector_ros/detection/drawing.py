"""Boxes, labels, scores, track ids and keypoints drawn on BGR images (OpenCV only)."""

from __future__ import annotations

from collections.abc import Sequence
import zlib

import cv2
import numpy as np

# Distinct BGR colours; a track keeps its colour because it is chosen from the id.
PALETTE = ((56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
           (10, 249, 72), (23, 204, 146), (134, 219, 61), (211, 188, 0), (209, 99, 0),
           (255, 194, 0), (147, 69, 52), (255, 115, 100), (236, 24, 0), (255, 56, 132),
           (133, 0, 82), (255, 56, 203), (200, 149, 255), (199, 55, 255))


def colour_for(key: object) -> tuple[int, int, int]:
    """Return a stable colour for a label or an id."""
    return PALETTE[zlib.crc32(str(key).encode()) % len(PALETTE)]


def draw_detections(image: np.ndarray, boxes: np.ndarray, labels: Sequence[str],
                    scores: Sequence[float], ids: Sequence[str] | None = None,
                    keypoints: np.ndarray | None = None) -> np.ndarray:
    """
    Draw boxes (N, 4) x1, y1, x2, y2 with 'label score' captions on `image`, in place.

    With `ids`, colours follow the ids (a track keeps its colour) and captions show them;
    `keypoints` (N, K, 2) are drawn as dots. Returns the image.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    thickness = max(1, round(min(image.shape[:2]) / 240))
    font_scale = max(0.4, min(image.shape[:2]) / 800)
    for index, (x1, y1, x2, y2) in enumerate(boxes):
        key = ids[index] if ids is not None else labels[index]
        colour = colour_for(key)
        top_left, bottom_right = (int(round(x1)), int(round(y1))), (int(round(x2)),
                                                                    int(round(y2)))
        cv2.rectangle(image, top_left, bottom_right, colour, thickness, cv2.LINE_AA)
        caption = f'{labels[index]} {float(scores[index]):.2f}'
        if ids is not None and str(ids[index]) not in str(labels[index]):
            caption = f'#{ids[index]} {caption}'
        (width, height), baseline = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX,
                                                    font_scale, 1)
        text_y = top_left[1] - 4 if top_left[1] - height - 6 > 0 else bottom_right[1] + height
        cv2.rectangle(image, (top_left[0], text_y - height - 3),
                      (top_left[0] + width + 4, text_y + baseline - 1), colour, cv2.FILLED)
        cv2.putText(image, caption, (top_left[0] + 2, text_y - 1), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (255, 255, 255), 1, cv2.LINE_AA)
        if keypoints is not None and len(keypoints) > index:
            for x, y in np.asarray(keypoints[index]).reshape(-1, 2):
                cv2.circle(image, (int(round(x)), int(round(y))), thickness + 1, colour,
                           cv2.FILLED, cv2.LINE_AA)
    return image


def draw_tracks(image: np.ndarray, tracks: Sequence) -> np.ndarray:
    """
    Draw tracks (anything with box, label, score and id, like `Track`) on `image`, in place.

    Colours follow the ids and captions show them. Returns the image.
    """
    return draw_detections(image, [track.box for track in tracks],
                           [track.label for track in tracks], [track.score for track in tracks],
                           ids=[track.id for track in tracks])
