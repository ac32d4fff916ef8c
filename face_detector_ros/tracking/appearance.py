"""
Appearance of a face from the pixels of its box: a descriptor for re-identification (no rclpy).

`face_descriptors` turns each face box of an image into a unit vector of two parts:

- the face's layout: the box resized to a grey 8 x 8 thumbnail, minus its mean and scaled to
  unit norm, so that a change of brightness or contrast does not change it (eyes, brows, hair
  line, beard, glasses);
- its colours: a histogram of each BGR channel (16 bins each, of a 16 x 16 copy of the box),
  square-rooted so that the dot product of two is their Bhattacharyya coefficient (skin tone,
  hair, and for a grey camera the brightness).

The parts are weighted so that the dot product of two descriptors, `similarity`, is
LAYOUT_WEIGHT * (correlation of the thumbnails) + (1 - LAYOUT_WEIGHT) * (Bhattacharyya
coefficient of the histograms): 1 for the same pixels, about 0.9 for the same face under
detector jitter, about 0.5 between two different faces (medians, docs/tracking.md).

A box that is not finite, has no area, lies mostly outside the image or is largely covered by
another box of the image gives a row of NaN: no appearance, which the tracker ignores (the pixels
of a face behind another are partly the other's).
"""

from __future__ import annotations

import numpy as np

THUMBNAIL = 8   # side of the grey thumbnail (layout)
PATCH = 16      # side of the copy of the box the histograms count
BIN_BITS = 4    # 2**BIN_BITS histogram bins per channel
BINS = 2 ** BIN_BITS
LAYOUT_WEIGHT = 0.5
# Boxes with less of their area inside the image give no appearance: a face leaving the image
# shows part of itself, whose thumbnail is squeezed and whose colours are those of a part. Over
# the scenarios, boxes 75-90 % inside score 0.83 against their face (median; 5 % below 0.71,
# under reid_similarity), boxes 90 % inside or more 0.92 like whole ones (docs/tracking.md).
MIN_VISIBLE = 0.9
# Boxes with more of their area than this inside another face's head (its box grown by HEAD on
# each side, for hair, ears and shoulders) give no appearance: one person hides the other.
MAX_COVERED = 0.2
HEAD = 0.5
DIMENSION = THUMBNAIL * THUMBNAIL + 3 * BINS


def face_descriptors(image_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """
    Return the (N, DIMENSION) float32 descriptors of the face boxes (x1, y1, x2, y2 in pixels).

    `image_bgr` is an H x W x 3 uint8 image. Rows of boxes with no area, not finite, with less
    than MIN_VISIBLE of their area inside the image, or more than MAX_COVERED inside another
    box, are NaN.
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    height, width = image_bgr.shape[:2]
    descriptors = np.full((len(boxes), DIMENSION), np.nan, np.float32)
    with np.errstate(invalid='ignore'):
        area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        clipped = np.clip(boxes, 0, [width, height, width, height])
        visible = np.prod(clipped[:, 2:] - clipped[:, :2], axis=1)
        valid = (area > 0) & (visible >= MIN_VISIBLE * area)  # False where NaN
    if valid.sum() > 1:
        valid[valid] = covered(boxes[valid]) <= MAX_COVERED
    if not valid.any():
        return descriptors
    # Sample PATCH x PATCH pixels of every box at once (one gather, no loop over faces).
    x1, y1, x2, y2 = clipped[valid].T
    grid = (np.arange(PATCH) + 0.5) / PATCH
    columns = np.minimum(x1[:, None] + grid * (x2 - x1)[:, None], width - 1).astype(int)
    rows = np.minimum(y1[:, None] + grid * (y2 - y1)[:, None], height - 1).astype(int)
    pixels = (rows[:, :, None] * width + columns[:, None, :]).ravel()
    samples = image_bgr.reshape(-1, 3).take(pixels, axis=0).reshape(-1, PATCH * PATCH, 3)
    count = len(samples)

    # Layout: the grey samples averaged over 2 x 2 blocks, minus their mean, unit norm.
    grey = samples.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)
    step = PATCH // THUMBNAIL
    layout = grey.reshape(count * THUMBNAIL, step, PATCH).sum(axis=1)
    layout = layout.reshape(count, THUMBNAIL * THUMBNAIL, step).sum(axis=2)
    layout -= layout.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(layout, axis=1, keepdims=True)
    # A uniform box has no layout: its thumbnail part stays zero.
    np.divide(layout, norm, out=layout, where=norm > 0)

    # Colours: one bincount for every face and channel, bins offset by (face, channel).
    bins = (samples >> (8 - BIN_BITS)).astype(int)
    bins += np.arange(3) * BINS + np.arange(count)[:, None, None] * (3 * BINS)
    histogram = np.bincount(bins.ravel(), minlength=count * 3 * BINS)
    colours = np.sqrt(histogram.reshape(count, -1) / (3.0 * PATCH * PATCH))

    descriptors[valid] = np.hstack([np.sqrt(LAYOUT_WEIGHT) * layout,
                                    np.sqrt(1 - LAYOUT_WEIGHT) * colours])
    return descriptors


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the (N, M) similarities of descriptors a (N, D) and b (M, D); NaN where unknown."""
    return np.asarray(a, np.float32) @ np.asarray(b, np.float32).T


def covered(boxes: np.ndarray) -> np.ndarray:
    """Return, for each of the (N, 4) boxes, the largest fraction of its area in another head."""
    margin = HEAD * (boxes[:, 2:] - boxes[:, :2])
    heads = np.hstack([boxes[:, :2] - margin, boxes[:, 2:] + margin])
    top_left = np.maximum(boxes[:, None, :2], heads[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], heads[None, :, 2:])
    overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    np.fill_diagonal(overlap, 0.0)
    return overlap.max(axis=1) / np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)


def bad_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return which (N, 4) boxes have no area, are not finite or lie wholly outside the image."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    with np.errstate(invalid='ignore'):
        inside = (boxes[:, 0] < width) & (boxes[:, 1] < height) & (boxes[:, 2] > 0) & (
            boxes[:, 3] > 0)
        return ~((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & inside)
