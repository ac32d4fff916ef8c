"""
SSD-Caffe list files and label map, and deterministic shuffles and splits.

The lists are what SSD-Caffe's create_list.sh writes and create_data.sh reads: `trainval.txt`
and `test.txt` hold `image_path xml_path` lines, `test_name_size.txt` holds `name height width`
lines, and `labelmap.prototxt` names label 0 background, then one item per class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
import random
import re

from face_detector_ros.datasets.annotations import DatasetError

LIST_NAMES = ('trainval', 'test')
_ITEM = re.compile(r'item\s*\{([^}]*)\}')
_FIELD = re.compile(r'(\w+)\s*:\s*(?:"([^"]*)"|(\S+))')


def labelmap_text(class_names: Sequence[str]) -> str:
    """Return a labelmap.prototxt with background as label 0 and the classes from 1."""
    items = [('none_of_the_above', 0, 'background')]
    items += [(name, label, name) for label, name in enumerate(class_names, 1)]
    return ''.join(f'item {{\n  name: "{name}"\n  label: {label}\n'
                   f'  display_name: "{display}"\n}}\n' for name, label, display in items)


def read_labelmap(path: str | Path) -> list[str]:
    """Return the class names of a labelmap.prototxt in label order, without the background."""
    path = Path(path)
    try:
        text = path.read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f'{path}: cannot read ({error})') from None
    labels = {}
    for item in _ITEM.findall(text):
        fields = {key: quoted or bare for key, quoted, bare in _FIELD.findall(item)}
        try:
            labels[int(fields['label'])] = fields['name']
        except (KeyError, ValueError):
            raise DatasetError(f'{path}: an item lacks a name or a numeric label') from None
    if sorted(labels) != list(range(len(labels))) or not labels:
        raise DatasetError(f'{path}: labels must be 0, 1, 2, ... without gaps')
    return [labels[label] for label in range(1, len(labels))]


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Read an `image_path xml_path` list file."""
    rows = _read_rows(path, 2)
    return [tuple(row) for row in rows]


def read_name_sizes(path: str | Path) -> list[tuple[str, int, int]]:
    """Read a `name height width` list file into (name, height, width) tuples."""
    rows = _read_rows(path, 3)
    try:
        return [(name, int(height), int(width)) for name, height, width in rows]
    except ValueError:
        raise DatasetError(f'{path}: height and width must be integers') from None


def write_rows(path: str | Path, rows: Iterable[Sequence]) -> None:
    """Write rows of fields, space separated, one per line."""
    Path(path).write_text(''.join(' '.join(map(str, row)) + '\n' for row in rows),
                          encoding='utf-8')


def shuffled(items: Iterable, seed: int) -> list:
    """Return a copy of `items` in an order fixed by `seed`."""
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def split_items(items: Sequence, test_fraction: float, seed: int) -> tuple[list, list]:
    """Split `items` into sorted (train, test) lists by `seed`; test holds round(n x fraction)."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f'test fraction {test_fraction} is not in [0, 1)')
    order = shuffled(sorted(items), seed)
    test_count = round(len(order) * test_fraction)
    return sorted(order[test_count:]), sorted(order[:test_count])


def _read_rows(path, columns):
    path = Path(path)
    try:
        lines = path.read_text(encoding='utf-8').splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f'{path}: cannot read ({error})') from None
    rows = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != columns:
            raise DatasetError(f'{path}:{number}: expected {columns} fields, found {len(fields)}')
        rows.append(fields)
    return rows
