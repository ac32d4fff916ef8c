"""face-split: a deterministic train/test split of a darknet folder, as lists or folders."""

import argparse
from pathlib import Path
import re
import shutil
import sys

from face_detector_ros.datasets.images import image_index
from face_detector_ros.datasets.lists import split_items, write_rows
from face_detector_ros.files import atomic_output_dir
from face_detector_ros.tools._datasets import place_file, progress
from face_detector_ros.tools.cli import CliError, console_main

SIDECAR_SUFFIXES = ('.txt', '.xml')


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-split',
        description='Split the images of a folder (labels beside them, as face-voc2yolo writes) '
        "into train and test deterministically. Writes darknet's OUTPUT/train.txt and "
        'OUTPUT/test.txt with absolute image paths, or with --folders copies each image and '
        'its labels into OUTPUT/train/ and OUTPUT/test/. .names files are copied to OUTPUT.')
    parser.add_argument('dataset', type=Path, help='folder of images with labels beside them')
    parser.add_argument('output', type=Path, help='new folder for the split')
    parser.add_argument('--test-fraction', type=float, default=0.1,
                        help='share of images in test (%(default)s, as the mask article)')
    parser.add_argument('--seed', type=int, default=42, help='split seed (%(default)s)')
    parser.add_argument('--test-modulo', metavar='M:R',
                        help='instead of --test-fraction: test holds the images whose name ends '
                        'in a number N with N %% M == R (10:9 is the fixed face-mask split, '
                        'maksssksksss9, 19, ...)')
    parser.add_argument('--folders', action='store_true',
                        help='write train/ and test/ folders instead of lists')
    parser.add_argument('--link', action='store_true',
                        help='with --folders, hard-link instead of copying (same file system)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT')
    return parser.parse_args(argv)


def parse_modulo(text):
    """Return (M, R) of --test-modulo M:R."""
    found = re.fullmatch(r'\s*(\d+)\s*:\s*(\d+)\s*', text)
    if not found or not 0 <= int(found[2]) < int(found[1]):
        raise CliError(f'--test-modulo {text!r}: give M:R with 0 <= R < M, e.g. 10:9')
    return int(found[1]), int(found[2])


def split_by_number(images, modulo, remainder):
    """Return {'train': stems, 'test': stems}: test where the stem's final number N % M == R."""
    parts = {'train': [], 'test': []}
    for stem in sorted(images):
        number = re.search(r'(\d+)$', stem)
        if number is None:
            raise CliError(f'--test-modulo: {images[stem]} has no number at the end of its name')
        parts['test' if int(number[1]) % modulo == remainder else 'train'].append(stem)
    return parts


@console_main
def main(argv=None):
    """Split a folder into train and test."""
    args = parse_args(argv)
    if not args.dataset.is_dir():
        raise CliError(f'{args.dataset} is not a folder')
    if not 0 <= args.test_fraction < 1:
        raise CliError(f'--test-fraction {args.test_fraction}: must be in [0, 1)')
    images = image_index(args.dataset)
    if not images:
        raise CliError(f'no images in {args.dataset}')
    if args.test_modulo:
        parts = split_by_number(images, *parse_modulo(args.test_modulo))
    else:
        parts = dict(zip(('train', 'test'), split_items(images, args.test_fraction, args.seed)))
    with atomic_output_dir(args.output, overwrite=args.overwrite,
                           inputs=[args.dataset]) as staging:
        for names_file in sorted(args.dataset.glob('*.names')):
            shutil.copyfile(names_file, staging / names_file.name)
        for part, stems in parts.items():
            if not args.folders:
                write_rows(staging / f'{part}.txt', [[images[stem].resolve()] for stem in stems])
                continue
            (staging / part).mkdir()
            for stem in progress(stems, part):
                files = [images[stem]] + [images[stem].with_suffix(suffix)
                                          for suffix in SIDECAR_SUFFIXES]
                for source in files:
                    if source.is_file():
                        place_file(source, staging / part / source.name, args.link)
    where = 'folders' if args.folders else 'train.txt, test.txt'
    print(f'{len(images)} images -> train {len(parts["train"])}, test {len(parts["test"])} '
          f'({where}) in {args.output}')


if __name__ == '__main__':
    sys.exit(main())
