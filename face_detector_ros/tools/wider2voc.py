"""face-wider2voc: WIDER Face ground truth to VOC XML with the detector article's filters."""

import argparse
from pathlib import Path
import sys

from face_detector_ros.datasets.wider import read_wider_gt, WiderRules
from face_detector_ros.tools._datasets import (
    add_filter_arguments,
    add_voc_output_arguments,
    face_filter_from,
    write_filtered_voc,
)
from face_detector_ros.tools.cli import CliError, console_main

# The article trained on WIDER train and tested on WIDER val.
LIST_OF_SPLIT = {'train': 'trainval', 'val': 'test'}


def parse_args(argv):
    """Parse the command line."""
    defaults = WiderRules()
    parser = argparse.ArgumentParser(
        prog='face-wider2voc',
        description='Convert WIDER Face (ROOT/wider_face_split/wider_face_{train,val}_bbx_gt.txt '
        'and ROOT/WIDER_{train,val}/images/) to VOC XML in OUTPUT/Annotations, with the '
        'SSD-Caffe lists trainval.txt (from train, shuffled), test.txt (from val), their '
        '*_name_size.txt and labelmap.prototxt.')
    parser.add_argument('root', type=Path, help='WIDER Face folder')
    parser.add_argument('output', type=Path, help='new folder for the VOC dataset')
    parser.add_argument('--splits', default='train,val',
                        help='WIDER splits to convert: train -> trainval, val -> test '
                        '(%(default)s)')
    group = parser.add_argument_group('WIDER flags (defaults: the detector article)')
    group.add_argument('--max-blur', type=int, choices=(0, 1, 2), default=defaults.max_blur,
                       help='drop faces blurrier than this: 0 clear, 1 normal, 2 heavy '
                       '(%(default)s)')
    group.add_argument('--max-occlusion', type=int, choices=(0, 1, 2),
                       default=defaults.max_occlusion,
                       help='drop faces more occluded: 0 none, 1 partial, 2 heavy (%(default)s)')
    group.add_argument('--drop-invalid', action='store_true',
                       help='drop faces WIDER marks invalid (kept by the article)')
    group.add_argument('--drop-atypical-pose', action='store_true',
                       help='drop faces WIDER marks with an atypical pose')
    add_filter_arguments(parser)
    add_voc_output_arguments(parser)
    return parser.parse_args(argv)


def wider_samples(root, splits, rules):
    """Return the converter's samples for each split of a WIDER folder."""
    samples = []
    for split in splits:
        gt_path = root / 'wider_face_split' / f'wider_face_{split}_bbx_gt.txt'
        if not gt_path.is_file():
            raise CliError(f'{gt_path} not found: is {root} the WIDER Face folder?')
        images = root / f'WIDER_{split}' / 'images'
        empty = []
        for name, faces in read_wider_gt(gt_path):
            samples.append((LIST_OF_SPLIT[split], name, images / name,
                            [face.box for face in faces],
                            [rules.problem(face) for face in faces]))
            empty += [face.line for face in faces if face.box.width <= 0 or face.box.height <= 0]
        if empty:
            print(f'face-wider2voc: {gt_path}:{empty[0]}: {len(empty)} box(es) of zero width or '
                  'height (counted as "zero size" faces, never written)', file=sys.stderr)
    return samples


@console_main
def main(argv=None):
    """Convert WIDER Face to a filtered VOC dataset."""
    args = parse_args(argv)
    splits = [split.strip() for split in args.splits.split(',') if split.strip()]
    unknown = set(splits) - set(LIST_OF_SPLIT)
    if unknown or not splits:
        raise CliError(f'--splits {args.splits!r}: choose from train,val')
    rules = WiderRules(max_blur=args.max_blur, max_occlusion=args.max_occlusion,
                       drop_invalid=args.drop_invalid,
                       drop_atypical_pose=args.drop_atypical_pose)
    samples = wider_samples(args.root, splits, rules)
    write_filtered_voc(args, samples, face_filter_from(args), 'wider2voc')


if __name__ == '__main__':
    sys.exit(main())
