"""WIDER Face ground truth: the `wider_face_{train,val}_bbx_gt.txt` files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from face_detector_ros.datasets.annotations import Box, DatasetError
from face_detector_ros.datasets.blocks import read_counted_blocks

_FLAGS = ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose')


@dataclass(frozen=True)
class WiderFace:
    """One WIDER face: its box (label 'face') and the dataset's attribute flags."""

    box: Box
    blur: int = 0          # 0 clear, 1 normal, 2 heavy
    expression: int = 0    # 1 exaggerated
    illumination: int = 0  # 1 extreme
    invalid: int = 0       # 1 the annotators marked the box invalid
    occlusion: int = 0     # 0 none, 1 partial, 2 heavy
    pose: int = 0          # 1 atypical
    line: int = 0          # its line in the ground-truth file


@dataclass(frozen=True)
class WiderRules:
    """Which WIDER flags drop a face; defaults are the article's (blurry faces dropped)."""

    max_blur: int = 0
    max_occlusion: int = 2
    drop_invalid: bool = False
    drop_atypical_pose: bool = False

    def problem(self, face: WiderFace) -> str | None:
        """Return why `face` fails these rules, or None."""
        if face.blur > self.max_blur:
            return 'blurry'
        if face.occlusion > self.max_occlusion:
            return 'occluded'
        if self.drop_invalid and face.invalid:
            return 'invalid'
        if self.drop_atypical_pose and face.pose:
            return 'atypical pose'
        return None


def read_wider_gt(path: str | Path) -> list[tuple[str, list[WiderFace]]]:
    """
    Read a WIDER ground-truth file into a list of (image path relative to images/, faces).

    Each block is the image path, the face count, then one `x y w h blur expression
    illumination invalid occlusion pose` line per face; a count of 0 is followed by one line of
    zeros in the official files (tolerated when absent).
    """
    return read_counted_blocks(path, _parse_face, empty_filler=_is_zero_line)


def _parse_face(path, number, line):
    try:
        values = [int(value) for value in line.split()]
    except ValueError:
        raise DatasetError(f'{path}:{number}: not a face line: {line!r}') from None
    if len(values) != 10:
        raise DatasetError(f'{path}:{number}: expected 10 numbers, found {len(values)}')
    x, y, w, h = values[:4]
    return WiderFace(Box('face', x, y, x + w, y + h), **dict(zip(_FLAGS, values[4:])),
                     line=number)


def _is_zero_line(line):
    fields = line.split()
    return len(fields) == 10 and all(field == '0' for field in fields)
