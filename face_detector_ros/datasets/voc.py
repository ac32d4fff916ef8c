"""Pascal VOC XML annotations: read and write one file, read a folder."""

from __future__ import annotations

import math
from pathlib import Path
import xml.etree.ElementTree as ElementTree

from face_detector_ros.datasets.annotations import Box, DatasetError, ImageAnnotation


def read_voc_xml(path: str | Path) -> ImageAnnotation:
    """Read one VOC XML file into an ImageAnnotation; tags are found by name, never position."""
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise DatasetError(f'{path}: malformed XML ({error})') from None
    except OSError as error:
        raise DatasetError(f'{path}: cannot read ({error.strerror})') from None
    if root.tag != 'annotation':
        raise DatasetError(f'{path}: root element is <{root.tag}>, expected <annotation>')
    size = root.find('size')
    if size is None:
        raise DatasetError(f'{path}: no <size> element')
    width = _number(path, size, 'width', int)
    height = _number(path, size, 'height', int)
    depth = _number(path, size, 'depth', int, default=3) or 3
    if width <= 0 or height <= 0:
        raise DatasetError(f'{path}: image size {width}x{height} is not positive')
    filename = (root.findtext('filename') or '').strip() or path.stem
    boxes = []
    for obj in root.findall('object'):
        label = (obj.findtext('name') or '').strip()
        if not label:
            raise DatasetError(f'{path}: an <object> has no <name>')
        bndbox = obj.find('bndbox')
        if bndbox is None:
            raise DatasetError(f'{path}: object {label!r} has no <bndbox>')
        x1, y1, x2, y2 = (_number(path, bndbox, tag, float)
                          for tag in ('xmin', 'ymin', 'xmax', 'ymax'))
        difficult = _number(path, obj, 'difficult', int, default=0) != 0
        boxes.append(Box(label, x1, y1, x2, y2, difficult))
    return ImageAnnotation(filename, width, height, depth, boxes)


def _number(path, element, tag, kind, default=None):
    text = element.findtext(tag)
    if text is None or not text.strip():
        if default is not None:
            return default
        raise DatasetError(f'{path}: missing <{tag}> in <{element.tag}>')
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f'{path}: <{tag}> is {text.strip()!r}, not a number') from None
    if not math.isfinite(value):
        raise DatasetError(f'{path}: <{tag}> is {text.strip()!r}, not a finite number')
    return kind(value)


def _whole_pixel_corners(box, width, height):
    """
    Return the box corners as whole pixels, rounded outward and clipped to the image.

    SSD-Caffe's LMDB step reads VOC coordinates as integers ("147.69" becomes 0), so written
    files hold whole pixels; rounding outward keeps the whole face inside the box. Values
    within 0.01 px of a whole pixel are that pixel (YOLO's 6 decimals, float noise).
    """
    def snapped(value):
        nearest = round(value)
        return nearest if abs(value - nearest) < 0.01 else value

    x1, y1 = math.floor(snapped(box.x1)), math.floor(snapped(box.y1))
    x2, y2 = math.ceil(snapped(box.x2)), math.ceil(snapped(box.y2))
    return (min(max(x1, 0), width), min(max(y1, 0), height),
            min(max(x2, 0), width), min(max(y2, 0), height))


def voc_xml_string(annotation: ImageAnnotation, folder: str = '') -> str:
    """Return the VOC XML document for `annotation` as a string, in whole pixels."""
    root = ElementTree.Element('annotation')
    _add(root, 'folder', folder)
    _add(root, 'filename', annotation.filename)
    size = _add(root, 'size')
    _add(size, 'width', annotation.width)
    _add(size, 'height', annotation.height)
    _add(size, 'depth', annotation.depth)
    _add(root, 'segmented', 0)
    for box in annotation.boxes:
        obj = _add(root, 'object')
        _add(obj, 'name', box.label)
        _add(obj, 'pose', 'Unspecified')
        _add(obj, 'truncated', 0)
        _add(obj, 'difficult', int(box.difficult))
        bndbox = _add(obj, 'bndbox')
        corners = _whole_pixel_corners(box, annotation.width, annotation.height)
        for tag, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), corners):
            _add(bndbox, tag, value)
    ElementTree.indent(root, space='    ')
    return ElementTree.tostring(root, encoding='unicode') + '\n'


def write_voc_xml(annotation: ImageAnnotation, path: str | Path, folder: str = '') -> None:
    """Write `annotation` as a VOC XML file."""
    Path(path).write_text(voc_xml_string(annotation, folder), encoding='utf-8')


def read_voc_dir(directory: str | Path) -> list[ImageAnnotation]:
    """Read every *.xml file of `directory` (sorted by name) into a list of ImageAnnotation."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f'{directory}: not a directory')
    return [read_voc_xml(path) for path in sorted(directory.glob('*.xml'))]


def _add(parent, tag, value=None):
    element = ElementTree.SubElement(parent, tag)
    if value is not None:
        element.text = str(value)
    return element
