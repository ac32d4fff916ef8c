"""YOLO (darknet) labels: `<class> <x_center> <y_center> <width> <height>` normalised per line."""

from __future__ import annotations

from collections.abc import Sequence
import math
from pathlib import Path

from face_detector_ros.datasets.annotations import Box, DatasetError, ImageAnnotation
from face_detector_ros.datasets.images import image_index, image_size


def read_yolo_txt(path: str | Path, class_names: Sequence[str] | None, width: float,
                  height: float) -> list[Box]:
    """
    Read one YOLO label file into boxes in pixels of a `width` x `height` image.

    With `class_names` None the label of a box is its class index as a string.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding='utf-8').splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f'{path}: cannot read ({error})') from None
    boxes = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise DatasetError(f'{path}:{number}: expected 5 fields, found {len(fields)}')
        try:
            index = int(fields[0])
            x_center, y_center, box_width, box_height = (float(field) for field in fields[1:])
        except ValueError:
            raise DatasetError(f'{path}:{number}: not numbers: {line.strip()!r}') from None
        if not all(map(math.isfinite, (x_center, y_center, box_width, box_height))):
            raise DatasetError(f'{path}:{number}: not finite numbers: {line.strip()!r}')
        if class_names is None:
            label = str(index)
        elif 0 <= index < len(class_names):
            label = class_names[index]
        else:
            raise DatasetError(f'{path}:{number}: class {index} is not in the '
                               f'{len(class_names)} class names')
        boxes.append(Box(label,
                         (x_center - box_width / 2) * width, (y_center - box_height / 2) * height,
                         (x_center + box_width / 2) * width, (y_center + box_height / 2) * height))
    return boxes


def yolo_txt_string(boxes: Sequence[Box], class_names: Sequence[str], width: float,
                    height: float) -> str:
    """Return the YOLO label text for `boxes`; every label must be in `class_names`."""
    lines = []
    for box in boxes:
        try:
            index = class_names.index(box.label)
        except ValueError:
            raise DatasetError(f'class {box.label!r} is not one of {class_names}') from None
        lines.append(f'{index} {(box.x1 + box.x2) / 2 / width:.6f} '
                     f'{(box.y1 + box.y2) / 2 / height:.6f} '
                     f'{(box.x2 - box.x1) / width:.6f} {(box.y2 - box.y1) / height:.6f}\n')
    return ''.join(lines)


def write_yolo_txt(boxes: Sequence[Box], path: str | Path, class_names: Sequence[str],
                   width: float, height: float) -> None:
    """Write `boxes` (pixels of a `width` x `height` image) as a YOLO label file."""
    Path(path).write_text(yolo_txt_string(boxes, class_names, width, height), encoding='utf-8')


def read_names(path: str | Path) -> list[str]:
    """Read a darknet .names file: one class name per line, blank lines ignored."""
    path = Path(path)
    try:
        names = [line.strip() for line in path.read_text(encoding='utf-8').splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f'{path}: cannot read ({error})') from None
    names = [name for name in names if name]
    if not names:
        raise DatasetError(f'{path}: no class names')
    return names


def write_names(class_names: Sequence[str], path: str | Path) -> None:
    """Write a darknet .names file."""
    Path(path).write_text(''.join(f'{name}\n' for name in class_names), encoding='utf-8')


def read_yolo_dir(directory: str | Path,
                  class_names: Sequence[str] | None = None) -> list[ImageAnnotation]:
    """
    Read a darknet folder: each image with its `<stem>.txt` beside it (none = no boxes).

    Image sizes come from the image files. Without `class_names` the folder's single `.names`
    file is used, or class indices become the labels when there is none.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f'{directory}: not a directory')
    if class_names is None:
        names_files = sorted(directory.glob('*.names'))
        if len(names_files) > 1:
            raise DatasetError(f'{directory}: several .names files; pass the class names')
        if names_files:
            class_names = read_names(names_files[0])
    images = image_index(directory)
    if not images:
        raise DatasetError(f'{directory}: no images (YOLO labels must sit beside their images)')
    annotations = []
    for stem, image in images.items():
        width, height, depth = image_size(image)
        label_path = image.with_suffix('.txt')
        boxes = (read_yolo_txt(label_path, class_names, width, height)
                 if label_path.is_file() else [])
        annotations.append(ImageAnnotation(image.name, width, height, depth, boxes))
    return annotations
