"""FDDB: elliptical face annotations (`FDDB-fold-NN-ellipseList.txt`) and their boxes."""

import math
from pathlib import Path

from face_detector_ros.datasets.annotations import Box, DatasetError


def ellipse_box(major_radius, minor_radius, angle, center_x, center_y, label='face'):
    """Return the axis-aligned bounding box of an ellipse rotated by `angle` radians."""
    cos, sin = math.cos(angle), math.sin(angle)
    half_width = math.hypot(major_radius * cos, minor_radius * sin)
    half_height = math.hypot(major_radius * sin, minor_radius * cos)
    return Box(label, center_x - half_width, center_y - half_height,
               center_x + half_width, center_y + half_height)


def read_fddb_ellipses(path):
    """
    Read an FDDB ellipse list into (image path without extension, boxes) pairs.

    Each block is the image path, the face count, then one `major_axis_radius
    minor_axis_radius angle center_x center_y 1` line per face.
    """
    path = Path(path)
    try:
        lines = [line.strip() for line in path.read_text(encoding='utf-8').splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f'{path}: cannot read ({error})') from None
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line]
    images = []
    position = 0
    while position < len(numbered):
        name_number, name = numbered[position]
        if position + 1 >= len(numbered):
            raise DatasetError(f'{path}:{name_number}: {name} has no face count')
        number, count_text = numbered[position + 1]
        try:
            count = int(count_text)
        except ValueError:
            raise DatasetError(f'{path}:{number}: expected the face count of {name}, '
                               f'found {count_text!r}') from None
        face_lines = numbered[position + 2:position + 2 + count]
        if len(face_lines) < count:
            raise DatasetError(f'{path}: ends inside the block of {name}')
        images.append((name, [_parse_ellipse(path, number, line)
                              for number, line in face_lines]))
        position += 2 + count
    return images


def _parse_ellipse(path, number, line):
    try:
        values = [float(value) for value in line.split()]
    except ValueError:
        raise DatasetError(f'{path}:{number}: not an ellipse line: {line!r}') from None
    if len(values) != 6:
        raise DatasetError(f'{path}:{number}: expected 6 numbers, found {len(values)}')
    return ellipse_box(*values[:5])
