"""Darknet .data files and the mask article's rules for patching a yolov3.cfg."""

from __future__ import annotations

from dataclasses import dataclass
import re

from face_detector_ros.datasets.annotations import DatasetError

_HEADER = re.compile(r'^\s*\[([^\]]+)\]\s*(#.*)?$')
_KEY = re.compile(r'^\s*([A-Za-z_]+)\s*=')


@dataclass(frozen=True)
class TrainingSettings:
    """The [net] settings the mask article used; max_batches and steps follow the classes."""

    batch: int = 64
    subdivisions: int = 16
    size: int = 416

    def max_batches(self, classes: int) -> int:
        """Return classes x 2000 iterations, but at least 4000."""
        return max(4000, 2000 * classes)


def data_text(classes: int, train: str, valid: str, names: str, backup: str) -> str:
    """Return a darknet .data file."""
    return (f'classes = {classes}\ntrain = {train}\nvalid = {valid}\nnames = {names}\n'
            f'backup = {backup}\n')


def _sections(text):
    """Split a cfg into [name, lines] sections; lines before the first header are kept apart."""
    preamble, sections = [], []
    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            sections.append([match.group(1).strip().lower(), [line]])
        elif sections:
            sections[-1][1].append(line)
        else:
            preamble.append(line)
    return preamble, sections


def _get(lines, key):
    for line in lines[1:]:
        match = _KEY.match(line)
        if match and match.group(1) == key:
            return line.split('=', 1)[1].split('#')[0].strip()
    return None


def _set(lines, key, value):
    for index, line in enumerate(lines[1:], 1):
        match = _KEY.match(line)
        if match and match.group(1) == key:
            lines[index] = f'{key}={value}'
            return
    lines.insert(1, f'{key}={value}')


def patch_yolo_cfg(text: str, classes: int, settings: TrainingSettings = TrainingSettings(),
                   source: str = 'cfg') -> str:
    """
    Return a YOLOv3-style cfg patched for `classes` classes by the mask article's rules.

    [net]: batch, subdivisions, width = height = size, max_batches = classes x 2000 (at least
    4000), steps at 80 % and 90 % of it. Every [yolo]: classes; the [convolutional] just before
    it: filters = (classes + 5) x the anchors of that layer (its mask; 3 in yolov3.cfg).
    Raises DatasetError, naming `source`, on a cfg without that structure.
    """
    if settings.size % 32 or settings.size <= 0:
        raise DatasetError(f'network size {settings.size} is not a positive multiple of 32')
    if settings.batch < 1 or settings.subdivisions < 1 or settings.batch % settings.subdivisions:
        raise DatasetError(f'batch {settings.batch} and subdivisions {settings.subdivisions} '
                           'must be positive, batch a multiple of subdivisions')
    preamble, sections = _sections(text)
    nets = [lines for name, lines in sections if name in ('net', 'network')]
    if len(nets) != 1 or sections[0][0] not in ('net', 'network'):
        raise DatasetError(f'{source}: expected one [net] section first, found {len(nets)}')
    yolo_indices = [index for index, (name, _) in enumerate(sections) if name == 'yolo']
    if not yolo_indices:
        raise DatasetError(f'{source}: no [yolo] section; not a YOLOv3-style cfg')
    net = nets[0]
    max_batches = settings.max_batches(classes)
    for key, value in (('batch', settings.batch), ('subdivisions', settings.subdivisions),
                       ('width', settings.size), ('height', settings.size),
                       ('max_batches', max_batches),
                       ('steps', f'{max_batches * 8 // 10},{max_batches * 9 // 10}')):
        _set(net, key, value)
    for number, index in enumerate(yolo_indices, 1):
        yolo = sections[index][1]
        previous = sections[index - 1]
        if previous[0] != 'convolutional':
            raise DatasetError(f'{source}: [yolo] number {number} does not follow a '
                               f'[convolutional] section but [{previous[0]}]')
        mask, num = _get(yolo, 'mask'), _get(yolo, 'num')
        try:
            anchors = len([int(value) for value in mask.split(',')]) if mask else int(num)
        except (TypeError, ValueError):
            raise DatasetError(f'{source}: [yolo] number {number} needs mask = comma-separated '
                               f'anchor indices or num, found mask {mask!r}') from None
        if anchors < 1:
            raise DatasetError(f'{source}: [yolo] number {number} has no anchors')
        _set(yolo, 'classes', classes)
        _set(previous[1], 'filters', (classes + 5) * anchors)
    lines = preamble + [line for _, section in sections for line in section]
    return '\n'.join(lines) + '\n'
