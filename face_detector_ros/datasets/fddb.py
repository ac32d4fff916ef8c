"""FDDB: elliptical face annotations (`FDDB-fold-NN-ellipseList.txt`) and their boxes."""

from __future__ import annotations

import math
from pathlib import Path

from face_detector_ros.datasets.annotations import Box, DatasetError
from face_detector_ros.datasets.blocks import read_counted_blocks


def ellipse_box(major_radius: float, minor_radius: float, angle: float, center_x: float,
                center_y: float, label: str = 'face') -> Box:
    """Return the axis-aligned bounding box of an ellipse rotated by `angle` radians."""
    cos, sin = math.cos(angle), math.sin(angle)
    half_width = math.hypot(major_radius * cos, minor_radius * sin)
    half_height = math.hypot(major_radius * sin, minor_radius * cos)
    return Box(label, center_x - half_width, center_y - half_height,
               center_x + half_width, center_y + half_height)


def read_fddb_ellipses(path: str | Path) -> list[tuple[str, list[Box]]]:
    """
    Read an FDDB ellipse list into (image path without extension, boxes) pairs.

    Each block is the image path, the face count, then one `major_axis_radius
    minor_axis_radius angle center_x center_y 1` line per face.
    """
    return read_counted_blocks(path, _parse_ellipse)


def _parse_ellipse(path, number, line):
    try:
        values = [float(value) for value in line.split()]
    except ValueError:
        raise DatasetError(f'{path}:{number}: not an ellipse line: {line!r}') from None
    if len(values) != 6:
        raise DatasetError(f'{path}:{number}: expected 6 numbers, found {len(values)}')
    if not all(map(math.isfinite, values)):
        raise DatasetError(f'{path}:{number}: not finite numbers: {line!r}')
    return ellipse_box(*values[:5])
