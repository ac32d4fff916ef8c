"""SSD default boxes (Caffe PriorBox): two squares per cell, min_size and sqrt(min * max)."""

import math

import numpy as np


def prior_boxes(feature_map_sizes, box_sizes, input_size):
    """
    Return the default boxes as (cx, cy, w, h), normalised to the input side, shape (P, 4).

    Order: maps in turn, then cell rows, cell columns, then the two boxes of a cell; this is the
    order in which the model's heads flatten their outputs. Centres sit at (j + 0.5) / map_size
    (Caffe's step = input / map and offset 0.5); boxes are not clipped.
    """
    priors = []
    for size, (min_size, max_size) in zip(feature_map_sizes, box_sizes, strict=True):
        sides = np.array([min_size, math.sqrt(min_size * max_size)]) / input_size
        centres = (np.arange(size) + 0.5) / size
        cy, cx, side = np.meshgrid(centres, centres, sides, indexing='ij')
        priors.append(np.stack([cx, cy, side, side], axis=-1).reshape(-1, 4))
    return np.concatenate(priors).astype(np.float32)


def corner_form(boxes):
    """Convert (cx, cy, w, h) boxes to (x1, y1, x2, y2)."""
    centre, size = boxes[..., :2], boxes[..., 2:]
    return np.concatenate([centre - size / 2, centre + size / 2], axis=-1)
