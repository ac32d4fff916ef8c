"""face-fddb2voc: FDDB ellipses to VOC XML boxes with the detector article's filters."""

import argparse
from pathlib import Path
import re
import sys

from face_detector_ros.datasets.fddb import read_fddb_ellipses
from face_detector_ros.datasets.images import find_image
from face_detector_ros.tools._datasets import (
    add_filter_arguments,
    add_voc_output_arguments,
    face_filter_from,
    write_filtered_voc,
)
from face_detector_ros.tools.cli import CliError, console_main

_FOLD_FILE = re.compile(r'FDDB-fold-(\d+)-ellipseList\.txt$')


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-fddb2voc',
        description='Convert FDDB (ROOT/FDDB-folds/FDDB-fold-NN-ellipseList.txt and the images '
        'in ROOT/originalPics or ROOT) to VOC XML in OUTPUT/Annotations: each ellipse becomes '
        'its axis-aligned bounding box. Folds go to trainval.txt (shuffled) or test.txt, with '
        'their *_name_size.txt and labelmap.prototxt.')
    parser.add_argument('root', type=Path, help='FDDB folder')
    parser.add_argument('output', type=Path, help='new folder for the VOC dataset')
    parser.add_argument('--images', type=Path,
                        help='folder holding 2002/ and 2003/ (default: ROOT/originalPics if it '
                        'exists, else ROOT)')
    parser.add_argument('--folds', type=Path, help='folder of the fold files '
                        '(default: ROOT/FDDB-folds)')
    parser.add_argument('--test-folds', default='10',
                        help='comma-separated folds for test.txt (%(default)s, as the article)')
    add_filter_arguments(parser)
    add_voc_output_arguments(parser)
    return parser.parse_args(argv)


def fddb_samples(fold_files, images, test_folds):
    """Return the converter's samples of the FDDB fold files, fold by fold."""
    samples = []
    for fold, path in sorted(fold_files.items()):
        list_name = 'test' if fold in test_folds else 'trainval'
        for name, boxes in read_fddb_ellipses(path):
            image = (find_image(images / Path(name).parent, Path(name).name)
                     or images / f'{name}.jpg')
            samples.append((list_name, f'{name}{image.suffix}', image, boxes, None))
    return samples


@console_main
def main(argv=None):
    """Convert FDDB to a filtered VOC dataset."""
    args = parse_args(argv)
    images = args.images or (args.root / 'originalPics'
                             if (args.root / 'originalPics').is_dir() else args.root)
    folds_dir = args.folds or args.root / 'FDDB-folds'
    fold_files = {int(match.group(1)): path for path in sorted(folds_dir.glob('*.txt'))
                  if (match := _FOLD_FILE.search(path.name))}
    if not fold_files:
        raise CliError(f'no FDDB-fold-NN-ellipseList.txt in {folds_dir}; pass --folds DIR')
    try:
        test_folds = {int(fold) for fold in args.test_folds.split(',') if fold.strip()}
    except ValueError:
        raise CliError(f'--test-folds {args.test_folds!r}: expected numbers like 10 or 9,10')
    missing = test_folds - set(fold_files)
    if missing:
        raise CliError(f'test fold(s) {sorted(missing)} not in {folds_dir}')
    samples = fddb_samples(fold_files, images, test_folds)
    write_filtered_voc(args, samples, face_filter_from(args), 'fddb2voc')


if __name__ == '__main__':
    sys.exit(main())
