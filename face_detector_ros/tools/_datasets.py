"""Command-line pieces shared by the dataset tools: progress, bad-input policy, filter flags."""

from collections import Counter
import os
from pathlib import Path
import shutil
import sys

from face_detector_ros.datasets.annotations import DatasetError, ImageAnnotation
from face_detector_ros.datasets.filters import describe_reasons, FaceFilter, SQUARE_MODES
from face_detector_ros.datasets.images import image_size
from face_detector_ros.datasets.vocset import VocSetWriter
from face_detector_ros.files import atomic_output_dir
from face_detector_ros.tools.cli import CliError
from tqdm import tqdm

MASK_ARTICLE_CLASSES = ('good', 'bad')
MASK_ARTICLE_MAP = {'with_mask': 'good', 'without_mask': 'bad', 'mask_weared_incorrect': 'bad'}


def progress(items, description):
    """Wrap `items` in a progress bar on stderr, shown only on a terminal."""
    return tqdm(items, desc=description, unit='image', file=sys.stderr, disable=None,
                leave=False)


def place_file(source, target, link=False):
    """Copy (or hard-link, falling back to a copy) a file into an output folder."""
    if link:
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # another file system: copy instead
    shutil.copyfile(source, target)


class BadInputs:
    """Stop at the first bad input (the default), or skip it and count it with `skip`."""

    def __init__(self, skip, flag='--skip-bad'):
        """Remember the policy and the flag that relaxes it."""
        self.skip = skip
        self.flag = flag
        self.skipped = Counter()

    def report(self, message, kind):
        """Raise CliError with `message`, or count one skipped input of `kind`."""
        if not self.skip:
            raise CliError(f'{message} (use {self.flag} to skip such inputs)')
        self.skipped[kind] += 1

    def summary(self):
        """Return ', skipped: ...' for the final line, or '' when nothing was skipped."""
        if not self.skipped:
            return ''
        return '; skipped: ' + ', '.join(f'{kind} {count}'
                                         for kind, count in sorted(self.skipped.items()))


def add_filter_arguments(parser):
    """Add the detector article's filters as flags, with its values as defaults."""
    defaults = FaceFilter()
    group = parser.add_argument_group('filters (defaults: the detector article)')
    group.add_argument('--min-size', type=float, default=defaults.min_size, metavar='PX',
                       help='drop faces whose shorter side is under PX pixels (%(default)s)')
    group.add_argument('--min-fraction', type=float, default=defaults.min_fraction,
                       metavar='F', help='drop faces whose shorter side is under F times the '
                       'image width (%(default)s)')
    group.add_argument('--aspect', type=float, nargs=2, default=(defaults.min_aspect,
                                                                 defaults.max_aspect),
                       metavar=('MIN', 'MAX'),
                       help='drop images whose width/height is outside MIN..MAX (0.5 2)')
    group.add_argument('--square', choices=SQUARE_MODES, default=defaults.square,
                       help='make boxes square by enlarging the shorter side (kept inside the '
                       'image), shrinking the longer one, or not at all (%(default)s)')
    group.add_argument('--keep-gray', action='store_true',
                       help='keep grayscale images (dropped by default)')
    group.add_argument('--on-failing-face', choices=('drop-image', 'drop-face'),
                       default='drop-image' if defaults.drop_image else 'drop-face',
                       help='what a face failing a filter removes (%(default)s, as the article)')


def face_filter_from(args):
    """Return the FaceFilter that the filter flags describe."""
    if args.aspect[0] > args.aspect[1] or args.aspect[0] <= 0:
        raise CliError(f'--aspect {args.aspect[0]:g} {args.aspect[1]:g}: need 0 < MIN <= MAX')
    return FaceFilter(min_size=args.min_size, min_fraction=args.min_fraction,
                      min_aspect=args.aspect[0], max_aspect=args.aspect[1], square=args.square,
                      drop_gray=not args.keep_gray,
                      drop_image=args.on_failing_face == 'drop-image')


def add_voc_output_arguments(parser):
    """Add the output flags of the converters that write VOC with SSD-Caffe lists."""
    parser.add_argument('--copy-images', action='store_true',
                        help='copy the kept images into OUTPUT/images (default: the lists point '
                        'to the source images by relative paths)')
    parser.add_argument('--seed', type=int, default=42,
                        help='seed of the trainval shuffle (%(default)s, as the article)')
    parser.add_argument('--skip-bad', action='store_true',
                        help='skip missing or unreadable images (default: error)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT')


def write_filtered_voc(args, samples, face_filter, description):
    """
    Filter `samples` and write the kept ones as a VOC dataset with lists in args.output.

    `samples` yields (list name, image path relative to the source root, image path, boxes,
    per-box dataset-specific problems or None). Prints the one-line summary.
    """
    bad = BadInputs(args.skip_bad)
    reasons = Counter()
    images_in = faces_in = faces_kept = 0
    inputs = [args.root, *filter(None, [getattr(args, 'images', None)])]
    with atomic_output_dir(args.output, overwrite=args.overwrite, inputs=inputs) as staging:
        writer = VocSetWriter(staging, args.output, args.copy_images)
        for list_name, relative, image_path, boxes, problems in progress(samples, description):
            images_in += 1
            faces_in += len(boxes)
            if not Path(image_path).is_file():
                bad.report(f'{image_path}: image missing', 'missing image')
                continue
            try:
                width, height, channels = image_size(image_path)
            except DatasetError as error:
                bad.report(str(error), 'unreadable image')
                continue
            annotation = ImageAnnotation(Path(relative).name, width, height, channels, boxes)
            kept, why = face_filter.apply(annotation, problems)
            reasons.update(why)
            if kept:
                writer.add(list_name, relative, image_path, kept)
                faces_kept += len(kept.boxes)
        if not writer.counts():
            raise CliError(f'no image of {images_in} passed the filters; nothing written')
        writer.finish(['face'], args.seed)
    per_list = ', '.join(f'{name} {count}' for name, count in writer.counts().items())
    print(f'{images_in} images -> {sum(writer.counts().values())} kept ({per_list}), '
          f'{faces_in} faces -> {faces_kept} kept -> {args.output}; '
          f'{describe_reasons(reasons)}{bad.summary()}')
