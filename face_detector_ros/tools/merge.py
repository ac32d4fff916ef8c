"""face-merge: merge VOC datasets with SSD-Caffe lists into one set of lists, shuffled by seed."""

import argparse
import os
from pathlib import Path
import sys

from face_detector_ros.datasets.lists import (
    labelmap_text,
    LIST_NAMES,
    read_labelmap,
    read_name_sizes,
    read_pairs,
    shuffled,
    write_rows,
)
from face_detector_ros.files import atomic_output_dir
from face_detector_ros.tools.cli import CliError, console_main


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-merge',
        description="Merge datasets written by face-wider2voc / face-fddb2voc (or SSD-Caffe's "
        'create_list.sh): concatenates trainval.txt, test.txt and their *_name_size.txt with '
        'paths rebased on OUTPUT, shuffles trainval deterministically and writes the union '
        'label map. Annotations and images stay where they are.')
    parser.add_argument('output', type=Path, help='new folder for the merged lists')
    parser.add_argument('datasets', type=Path, nargs='+', help='dataset folders to merge')
    parser.add_argument('--seed', type=int, default=42,
                        help='seed of the trainval shuffle (%(default)s)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT')
    return parser.parse_args(argv)


def rebase(path, dataset, output):
    """Return `path` (relative to `dataset`) relative to `output`, checking that it exists."""
    absolute = (dataset / path).resolve()
    if not absolute.exists():
        raise CliError(f'{dataset}: listed file {path} does not exist')
    return Path(os.path.relpath(absolute, output)).as_posix()


def merged_list(list_name, datasets, output):
    """Return (pairs, sizes or None) of `list_name` over every dataset that has it."""
    pairs, sizes = [], []
    for dataset in datasets:
        list_path = dataset / f'{list_name}.txt'
        if not list_path.is_file():
            continue
        rows = [tuple(rebase(path, dataset, output) for path in row)
                for row in read_pairs(list_path)]
        pairs += rows
        size_path = dataset / f'{list_name}_name_size.txt'
        if sizes is not None and size_path.is_file():
            dataset_sizes = read_name_sizes(size_path)
            if len(dataset_sizes) != len(rows):
                raise CliError(f'{size_path}: {len(dataset_sizes)} lines but {list_path} has '
                               f'{len(rows)}')
            sizes += dataset_sizes
        else:
            sizes = None  # a dataset without sizes: the merged list has none either
    return pairs, sizes


@console_main
def main(argv=None):
    """Merge dataset lists."""
    args = parse_args(argv)
    for dataset in args.datasets:
        if not dataset.is_dir():
            raise CliError(f'{dataset} is not a folder')
    if len({dataset.resolve() for dataset in args.datasets}) < len(args.datasets):
        raise CliError('a dataset is given twice')
    output = args.output.resolve()
    classes = []
    for dataset in args.datasets:
        if (dataset / 'labelmap.prototxt').is_file():
            classes += [name for name in read_labelmap(dataset / 'labelmap.prototxt')
                        if name not in classes]
    counts, images = {}, {}
    with atomic_output_dir(args.output, overwrite=args.overwrite,
                           inputs=args.datasets) as staging:
        for list_name in LIST_NAMES:
            pairs, sizes = merged_list(list_name, args.datasets, output)
            if not pairs:
                continue
            images[list_name] = {(output / image).resolve() for image, _ in pairs}
            if len({xml for _, xml in pairs}) < len(pairs):
                raise CliError(f'{list_name}: an annotation is listed twice across the datasets')
            rows = list(zip(pairs, sizes)) if sizes else [(pair, None) for pair in pairs]
            if list_name == 'trainval':
                rows = shuffled(rows, args.seed)
            write_rows(staging / f'{list_name}.txt', [pair for pair, _ in rows])
            if sizes:
                write_rows(staging / f'{list_name}_name_size.txt', [size for _, size in rows])
            counts[list_name] = len(rows)
        if not counts:
            raise CliError('no trainval.txt or test.txt in the datasets')
        # A test image trained on (the same photo in one set's trainval and another's test).
        both = sorted(images.get('trainval', set()) & images.get('test', set()))
        if both:
            raise CliError(f'{len(both)} image(s) are in trainval and in test, e.g. {both[0]}; '
                           'a test image must not be trained on: drop it from one of the sets')
        if classes:
            (staging / 'labelmap.prototxt').write_text(labelmap_text(classes))
    print(', '.join(f'{name} {count}' for name, count in counts.items())
          + f' images from {len(args.datasets)} datasets -> {args.output}; '
          f'classes: {",".join(classes) or "no label map"}')


if __name__ == '__main__':
    sys.exit(main())
