"""face-show-boxes: draw VOC, YOLO or face-detect JSON boxes on their images, headless."""

import argparse
import json
import math
from pathlib import Path
import sys

import cv2
from face_detector_ros.datasets.annotations import Box, DatasetError
from face_detector_ros.datasets.images import image_index, is_image
from face_detector_ros.datasets.lists import LIST_NAMES, read_pairs
from face_detector_ros.datasets.voc import read_voc_xml
from face_detector_ros.datasets.yolo import read_names, read_yolo_dir
from face_detector_ros.files import atomic_output_dir, atomic_output_file
from face_detector_ros.tools._datasets import BadInputs, progress
from face_detector_ros.tools.cli import CliError, console_main
import numpy as np

# BGR colours that stay readable on photos; labels take them in sorted order.
PALETTE = ((0, 200, 0), (0, 0, 230), (230, 120, 0), (0, 200, 230), (200, 0, 200),
           (230, 230, 0), (120, 60, 255), (255, 255, 255))
SHEET_LIMIT = 64


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-show-boxes',
        description='Draw annotations on their images: a folder of VOC XML, a dataset with '
        'SSD-Caffe lists (face-wider2voc, face-merge), a darknet folder (YOLO .txt beside the '
        'images) or the JSON lines of face-detect --json. Writes PNG files or one contact '
        'sheet; a window only with --window.')
    parser.add_argument('annotations', type=Path,
                        help='VOC folder, list dataset, YOLO folder or face-detect JSON lines')
    parser.add_argument('--format', choices=('auto', 'voc', 'lists', 'yolo', 'json'),
                        default='auto',
                        help='annotation format (%(default)s: a file is JSON, a folder with '
                        'trainval.txt or test.txt lists, with .xml files VOC, else YOLO)')
    parser.add_argument('--images', type=Path,
                        help='image folder for VOC (default: ../JPEGImages if it exists, else '
                        'the annotation folder) or the base of relative JSON sources')
    parser.add_argument('--names', type=Path, help='class names for YOLO (default: its .names)')
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument('--output-dir', type=Path,
                        help='write one PNG per image here, named after the image (a video '
                        'frame: STEM_FRAME.png; a name already used gets _2, _3, ...)')
    target.add_argument('--sheet', type=Path, help='write one contact sheet PNG')
    target.add_argument('--window', action='store_true',
                        help='show each image in a window (any key: next, q or Esc: quit)')
    parser.add_argument('--limit', type=int,
                        help=f'draw at most this many images (a sheet: {SHEET_LIMIT})')
    parser.add_argument('--columns', type=int, default=8, help='sheet columns (%(default)s)')
    parser.add_argument('--thumb-size', type=int, default=256,
                        help='longer side of a sheet thumbnail in pixels (%(default)s)')
    parser.add_argument('--skip-bad', action='store_true',
                        help='skip missing or unreadable images (default: error)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output')
    args = parser.parse_args(argv)
    # The upper bounds keep a contact sheet within memory (64 x 2048 px wide at most).
    for flag, value, least, most in (('--limit', args.limit, 1, None),
                                     ('--columns', args.columns, 1, 64),
                                     ('--thumb-size', args.thumb_size, 16, 2048)):
        if value is not None and value < least:
            raise CliError(f'{flag} {value}: must be at least {least}')
        if value is not None and most is not None and value > most:
            raise CliError(f'{flag} {value}: must be at most {most}')
    return args


def detect_format(path):
    """Guess the annotation format of a path."""
    if path.is_file():
        return 'json'
    if not path.is_dir():
        raise CliError(f'{path} does not exist')
    if any((path / f'{name}.txt').is_file() for name in LIST_NAMES):
        return 'lists'
    return 'voc' if any(path.glob('*.xml')) else 'yolo'


def voc_items(folder, images_dir):
    """Return (image path, frame, boxes, title) for a VOC folder."""
    if images_dir is None:
        images_dir = (folder.parent / 'JPEGImages' if (folder.parent / 'JPEGImages').is_dir()
                      else folder)
    images = image_index(images_dir)
    items = []
    for xml_path in sorted(folder.glob('*.xml')):
        annotation = read_voc_xml(xml_path)
        named = images_dir / annotation.filename
        image = named if named.is_file() else images.get(xml_path.stem,
                                                         images_dir / annotation.filename)
        items.append((image, None, annotation.boxes, image.name))
    return items


def list_items(folder):
    """Return (image path, frame, boxes, title) for the trainval and test lists of a dataset."""
    items = []
    for name in LIST_NAMES:
        if (folder / f'{name}.txt').is_file():
            for image, xml in read_pairs(folder / f'{name}.txt'):
                items.append((folder / image, None, read_voc_xml(folder / xml).boxes,
                              Path(xml).stem))
    return items


def yolo_items(folder, names_file):
    """Return (image path, frame, boxes, title) for a darknet folder."""
    names = read_names(names_file) if names_file else None
    return [(folder / annotation.filename, None, annotation.boxes, annotation.filename)
            for annotation in read_yolo_dir(folder, names)]


def json_items(path, base):
    """Return (image or video path, frame, boxes with scores, title) for face-detect JSON lines."""
    items = []
    for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            source = Path(record['source'])
            frame = int(record.get('frame', 0))
            boxes = [(Box(str(detection.get('label', 'face')), *map(float, detection['bbox'])),
                      float(detection.get('score', 1.0)))
                     for detection in record['detections']]
        except (ValueError, KeyError, TypeError) as error:
            raise CliError(f'{path}:{number}: not a face-detect JSON line ({error})') from None
        for box, score in boxes:
            if not all(math.isfinite(v) for v in (box.x1, box.y1, box.x2, box.y2, score)):
                raise CliError(f'{path}:{number}: a box or score is not a finite number: '
                               f'{[box.x1, box.y1, box.x2, box.y2]}, {score}')
        if not source.is_absolute():
            source = (base or path.parent) / source
        title = source.name if is_image(source) else f'{source.name}#{frame}'
        items.append((source, frame, boxes, title))
    return items


def load_image(path, frame):
    """Return the BGR image of a file, or of a video frame; None if unreadable."""
    if is_image(path):
        # As stored, like the boxes: EXIF rotation would move the pixels from under them.
        return cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, frame or 0)
    ok, image = capture.read()
    capture.release()
    return image if ok else None


def draw(image, boxes, colours):
    """Draw boxes (Box or (Box, score)) with their labels on `image` in place."""
    thickness = max(1, round(max(image.shape[:2]) / 400))
    height_px, width_px = image.shape[:2]
    for item in boxes:
        box, score = item if isinstance(item, tuple) else (item, None)
        colour = colours[box.label]
        # Clipped just outside the image: far-off coordinates overflow OpenCV's int32 maths.
        x1, x2 = (int(np.clip(round(v), -1, width_px)) for v in (box.x1, box.x2))
        y1, y2 = (int(np.clip(round(v), -1, height_px)) for v in (box.y1, box.y2))
        top_left = (x1, y1)
        cv2.rectangle(image, top_left, (x2, y2), colour, thickness)
        text = box.label if score is None else f'{box.label} {score:.2f}'
        scale = 0.4 * thickness
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        y = max(top_left[1], height + 2)
        cv2.rectangle(image, (top_left[0], y - height - 2), (top_left[0] + width, y),
                      colour, -1)
        cv2.putText(image, text, (top_left[0], y - 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), thickness, cv2.LINE_AA)
    return image


def contact_sheet(tiles, columns, size):
    """Return one image with the (image, title) tiles in a grid, each fitted in size x size."""
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    caption = 18
    sheet = np.full((rows * (size + caption), columns * size, 3), 40, np.uint8)
    for index, (image, title) in enumerate(tiles):
        scale = size / max(image.shape[:2])
        thumb = cv2.resize(image, (max(1, round(image.shape[1] * scale)),
                                   max(1, round(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
        top, left = (index // columns) * (size + caption), (index % columns) * size
        sheet[top:top + thumb.shape[0], left:left + thumb.shape[1]] = thumb
        cv2.putText(sheet, title[:size // 8], (left + 2, top + size + caption - 5),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (230, 230, 230), 1, cv2.LINE_AA)
    return sheet


def output_name(path, frame, title, taken):
    """
    Return a PNG file name for an item that is not in `taken`, and add it there.

    The name is the title's stem (a video's gets its frame number); a name taken by another
    image (same file name in another folder) gets _2, _3, ...
    """
    stem = Path(title).stem if is_image(path) else f'{Path(path).stem}_{frame}'
    name, copy = f'{stem}.png', 1
    while name in taken:
        copy += 1
        name = f'{stem}_{copy}.png'
    taken.add(name)
    return name


def png_bytes(image):
    """Return `image` encoded as PNG; CliError if OpenCV cannot encode it."""
    ok, png = cv2.imencode('.png', image)
    if not ok:
        raise CliError(f'OpenCV could not encode a {image.shape[1]}x{image.shape[0]} image as PNG')
    return png.tobytes()


def show(images):
    """Show (image, title) pairs in a window one by one."""
    try:
        for image, title in images:
            cv2.imshow('face-show-boxes', image)
            cv2.setWindowTitle('face-show-boxes', title)
            if cv2.waitKey(0) & 0xFF in (ord('q'), 27):
                break
        cv2.destroyAllWindows()
    except cv2.error:
        raise CliError('this OpenCV has no GUI (opencv-python-headless?); '
                       'use --output-dir or --sheet') from None


@console_main
def main(argv=None):
    """Draw annotations on images."""
    args = parse_args(argv)
    kind = detect_format(args.annotations) if args.format == 'auto' else args.format
    try:
        items = {'voc': lambda: voc_items(args.annotations, args.images),
                 'lists': lambda: list_items(args.annotations),
                 'yolo': lambda: yolo_items(args.annotations, args.names),
                 'json': lambda: json_items(args.annotations, args.images)}[kind]()
    except DatasetError as error:
        raise CliError(str(error)) from None
    total = len(items)
    items = items[:args.limit or (SHEET_LIMIT if args.sheet else None)]
    if not items:
        raise CliError(f'no annotated images in {args.annotations}')
    labels = sorted({(box[0] if isinstance(box, tuple) else box).label
                     for _, _, boxes, _ in items for box in boxes})
    colours = {label: PALETTE[index % len(PALETTE)] for index, label in enumerate(labels)}
    bad = BadInputs(args.skip_bad)
    names = set()

    def drawn():
        for path, frame, boxes, title in progress(items, 'drawing'):
            image = load_image(path, frame)
            if image is None:
                bad.report(f'{path}: missing or unreadable image', 'unreadable image')
                continue
            yield draw(image, boxes, colours), title, output_name(path, frame, title, names)

    count = 0
    if args.window:
        show((image, title) for image, title, _ in drawn())
        where = 'a window'
    elif args.sheet:
        tiles = list(drawn())
        if not tiles:
            raise CliError('no image could be read')
        if args.sheet.exists() and not args.overwrite:
            raise CliError(f'{args.sheet} exists; pass --overwrite or choose another name')
        png = png_bytes(contact_sheet([(image, title) for image, title, _ in tiles],
                                      args.columns, args.thumb_size))
        with atomic_output_file(args.sheet, 'wb') as stream:
            stream.write(png)
        count, where = len(tiles), str(args.sheet)
    else:
        inputs = [args.annotations, args.images or args.annotations]
        with atomic_output_dir(args.output_dir, overwrite=args.overwrite,
                               inputs=inputs) as staging:
            for image, _, name in drawn():
                (staging / name).write_bytes(png_bytes(image))
                count += 1
        where = str(args.output_dir)
    if not args.window:
        print(f'{count} of {total} images drawn ({kind}, labels: {", ".join(labels) or "none"})'
              f' -> {where}' + bad.summary())


if __name__ == '__main__':
    sys.exit(main())
