"""face-voc2yolo: Pascal VOC XML to darknet YOLO labels, with the images beside them."""

import argparse
from collections import Counter
from pathlib import Path
import sys

from face_detector_ros.datasets.annotations import DatasetError
from face_detector_ros.datasets.filters import clip_box
from face_detector_ros.datasets.images import image_index, image_size
from face_detector_ros.datasets.voc import read_voc_xml
from face_detector_ros.datasets.yolo import write_names, write_yolo_txt
from face_detector_ros.files import atomic_output_dir, plain_file_name
from face_detector_ros.tools._datasets import (
    BadInputs,
    MASK_ARTICLE_CLASSES,
    MASK_ARTICLE_MAP,
    place_file,
    progress,
)
from face_detector_ros.tools.cli import CliError, console_main


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-voc2yolo',
        description='Convert Pascal VOC XML annotations to darknet YOLO labels '
        '(<class> <x_center> <y_center> <width> <height>, normalised by the image size in the '
        'XML). Images and .txt files are written side by side, with a .names file.')
    parser.add_argument('annotations', type=Path, help='folder of VOC .xml files')
    parser.add_argument('images', type=Path, help='folder of the images (any extension)')
    parser.add_argument('output', type=Path, help='new folder for images, labels and names')
    parser.add_argument('--classes', help='comma-separated class names in index order '
                        '(default: the sorted names found, after --map)')
    parser.add_argument('--map', action='append', default=[], metavar='SRC=DST',
                        help='rename class SRC to DST; repeat to merge several into one')
    parser.add_argument('--mask-article', action='store_true',
                        help='the mask article classes: --classes good,bad --map with_mask=good '
                        '--map without_mask=bad --map mask_weared_incorrect=bad')
    parser.add_argument('--skip-unknown', action='store_true',
                        help='drop boxes of classes not in --classes (default: error)')
    parser.add_argument('--skip-bad', action='store_true',
                        help='skip unreadable XML, missing images and size mismatches '
                        '(default: error)')
    parser.add_argument('--names-file', default='obj.names',
                        help='name of the class names file in OUTPUT (%(default)s)')
    parser.add_argument('--link', action='store_true',
                        help='hard-link the images instead of copying them (same file system)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT')
    args = parser.parse_args(argv)
    plain_file_name(args.names_file, '--names-file')
    return args


def parse_mapping(items):
    """Parse SRC=DST items into a dict."""
    mapping = {}
    for item in items:
        source, separator, target = item.partition('=')
        if not separator or not source.strip() or not target.strip():
            raise CliError(f'--map {item!r}: expected SRC=DST, e.g. with_mask=good')
        mapping[source.strip()] = target.strip()
    return mapping


def read_sources(args, bad):
    """Read every XML and find its image: return [(xml path, annotation, image path)]."""
    xml_files = sorted(args.annotations.glob('*.xml'))
    if not xml_files:
        raise CliError(f'no .xml files in {args.annotations}')
    images = image_index(args.images)
    sources, by_stem = [], []
    for xml_path in progress(xml_files, 'reading'):
        try:
            annotation = read_voc_xml(xml_path)
        except DatasetError as error:
            bad.report(str(error), 'unreadable XML')
            continue
        named = args.images / annotation.filename
        image = named if named.is_file() else (images.get(xml_path.stem)
                                               or images.get(Path(annotation.filename).stem))
        if image is None:
            bad.report(f'{xml_path}: no image {annotation.filename!r} or {xml_path.stem}.* in '
                       f'{args.images}', 'missing image')
            continue
        if image != named:
            by_stem.append((xml_path, annotation.filename, image.name))
        try:
            width, height, _ = image_size(image)
        except DatasetError as error:
            bad.report(str(error), 'unreadable image')
            continue
        if (width, height) != (annotation.width, annotation.height):
            bad.report(f'{xml_path}: size {annotation.width}x{annotation.height} but '
                       f'{image.name} is {width}x{height}', 'wrong size')
            continue
        sources.append((xml_path, annotation, image))
    if by_stem:
        xml_path, filename, found = by_stem[0]
        # The Kaggle mask set's XML name .png files, published as .jpg: said once, not 853 times.
        print(f'face-voc2yolo: {len(by_stem)} image(s) found by stem, not by the <filename> of '
              f'their XML (first: {xml_path.name} names {filename!r}, found {found!r})',
              file=sys.stderr)
    return sources


@console_main
def main(argv=None):
    """Convert a VOC dataset to a darknet folder."""
    args = parse_args(argv)
    mapping = parse_mapping(args.map)
    classes = [name.strip() for name in (args.classes or '').split(',') if name.strip()]
    if args.mask_article:
        mapping = {**MASK_ARTICLE_MAP, **mapping}
        classes = classes or list(MASK_ARTICLE_CLASSES)
    if not args.images.is_dir():
        raise CliError(f'images folder {args.images} does not exist')
    bad = BadInputs(args.skip_bad)
    sources = read_sources(args, bad)
    if not classes:
        classes = sorted({mapping.get(box.label, box.label)
                          for _, annotation, _ in sources for box in annotation.boxes})
    if not classes:
        raise CliError('no boxes and no --classes: nothing to name the classes by')
    counts, unknown, clipped, degenerate, stems = Counter(), Counter(), 0, [], set()
    with atomic_output_dir(args.output, overwrite=args.overwrite,
                           inputs=[args.annotations, args.images]) as staging:
        for xml_path, annotation, image in progress(sources, 'writing'):
            if image.stem in stems:
                bad.report(f'{xml_path}: a second annotation for image stem {image.stem!r}',
                           'duplicate image')
                continue
            stems.add(image.stem)
            boxes = []
            for box in annotation.boxes:
                label = mapping.get(box.label, box.label)
                if label not in classes:
                    if not args.skip_unknown:
                        raise CliError(f'{xml_path}: unknown class {box.label!r} (classes: '
                                       f'{",".join(classes)}); add --map {box.label}=CLASS '
                                       'or pass --skip-unknown')
                    unknown[box.label] += 1
                    continue
                inside = clip_box(box, annotation.width, annotation.height)
                clipped += inside != box
                if inside.width <= 0 or inside.height <= 0:
                    degenerate.append(xml_path.name)
                    continue
                inside.label = label
                boxes.append(inside)
                counts[label] += 1
            place_file(image, staging / image.name, args.link)
            write_yolo_txt(boxes, staging / f'{image.stem}.txt', classes,
                           annotation.width, annotation.height)
        write_names(classes, staging / args.names_file)
    per_class = ', '.join(f'{name} {counts[name]}' for name in classes)
    line = (f'{len(stems)} images, {sum(counts.values())} boxes ({per_class}) -> {args.output}; '
            f'{clipped} clipped, {len(degenerate)} degenerate dropped')
    if degenerate:
        line += f' (first in {degenerate[0]})'
    if unknown:
        line += '; unknown classes skipped: ' + ', '.join(
            f'{name} {count}' for name, count in sorted(unknown.items()))
    print(line + bad.summary())


if __name__ == '__main__':
    sys.exit(main())
