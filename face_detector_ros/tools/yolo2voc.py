"""face-yolo2voc: a darknet folder (images with YOLO .txt labels beside them) to Pascal VOC."""

import argparse
from pathlib import Path
import sys

from face_detector_ros.datasets.annotations import DatasetError, ImageAnnotation
from face_detector_ros.datasets.filters import clip_box
from face_detector_ros.datasets.images import image_index, image_size
from face_detector_ros.datasets.voc import write_voc_xml
from face_detector_ros.datasets.yolo import read_names, read_yolo_txt
from face_detector_ros.files import atomic_output_dir
from face_detector_ros.tools._datasets import BadInputs, place_file, progress
from face_detector_ros.tools.cli import CliError, console_main


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-yolo2voc',
        description='Convert a darknet folder (images with <stem>.txt YOLO labels beside them) '
        'to Pascal VOC: OUTPUT/Annotations/*.xml and OUTPUT/JPEGImages/.')
    parser.add_argument('yolo_dir', type=Path, help='folder of images and YOLO .txt labels')
    parser.add_argument('output', type=Path, help='new folder for the VOC dataset')
    parser.add_argument('--names', type=Path,
                        help='class names file (default: the one .names file in YOLO_DIR)')
    parser.add_argument('--skip-bad', action='store_true',
                        help='skip unreadable images and malformed label files (default: error)')
    parser.add_argument('--link', action='store_true',
                        help='hard-link the images instead of copying them (same file system)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT')
    return parser.parse_args(argv)


def class_names(args):
    """Return the class names from --names or the folder's single .names file."""
    if args.names:
        return read_names(args.names)
    found = sorted(args.yolo_dir.glob('*.names'))
    if len(found) != 1:
        raise CliError(f'{len(found)} .names files in {args.yolo_dir}; pass --names FILE')
    return read_names(found[0])


@console_main
def main(argv=None):
    """Convert a darknet folder to a VOC dataset."""
    args = parse_args(argv)
    if not args.yolo_dir.is_dir():
        raise CliError(f'{args.yolo_dir} is not a folder')
    names = class_names(args)
    images = image_index(args.yolo_dir)
    if not images:
        raise CliError(f'no images in {args.yolo_dir}')
    bad = BadInputs(args.skip_bad)
    written = boxes_written = clipped = degenerate = unlabelled = 0
    with atomic_output_dir(args.output, overwrite=args.overwrite,
                           inputs=[args.yolo_dir]) as staging:
        (staging / 'Annotations').mkdir()
        (staging / 'JPEGImages').mkdir()
        for stem, image in progress(images.items(), 'converting'):
            label_path = image.with_suffix('.txt')
            try:
                width, height, depth = image_size(image)
                boxes = (read_yolo_txt(label_path, names, width, height)
                         if label_path.is_file() else [])
            except DatasetError as error:
                bad.report(str(error), 'bad input')
                continue
            unlabelled += not label_path.is_file()
            inside = [clip_box(box, width, height) for box in boxes]
            clipped += sum(a != b for a, b in zip(inside, boxes))
            kept = [box for box in inside if box.width > 0 and box.height > 0]
            degenerate += len(inside) - len(kept)
            write_voc_xml(ImageAnnotation(image.name, width, height, depth, kept),
                          staging / 'Annotations' / f'{stem}.xml', folder='JPEGImages')
            place_file(image, staging / 'JPEGImages' / image.name, args.link)
            written += 1
            boxes_written += len(kept)
    print(f'{written} images, {boxes_written} boxes -> {args.output}; {clipped} clipped, '
          f'{degenerate} degenerate dropped, {unlabelled} without a label file (no boxes)'
          + bad.summary())


if __name__ == '__main__':
    sys.exit(main())
