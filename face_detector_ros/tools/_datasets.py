"""Command-line pieces shared by the dataset tools: progress, bad-input policy, filter flags."""

from collections import Counter
import sys

from face_detector_ros.cli import CliError
from face_detector_ros.datasets.filters import FaceFilter, SQUARE_MODES
from tqdm import tqdm

MASK_ARTICLE_CLASSES = ('good', 'bad')
MASK_ARTICLE_MAP = {'with_mask': 'good', 'without_mask': 'bad', 'mask_weared_incorrect': 'bad'}


def progress(items, description):
    """Wrap `items` in a progress bar on stderr, shown only on a terminal."""
    return tqdm(items, desc=description, unit='image', file=sys.stderr, disable=None,
                leave=False)


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
                       'longer image side (%(default)s)')
    group.add_argument('--aspect', type=float, nargs=2, default=(defaults.min_aspect,
                                                                 defaults.max_aspect),
                       metavar=('MIN', 'MAX'),
                       help='drop images whose width/height is outside MIN..MAX (0.5 2)')
    group.add_argument('--square', choices=SQUARE_MODES, default=defaults.square,
                       help='make boxes square by enlarging the shorter side (clipped), '
                       'shrinking the longer one, or not at all (%(default)s)')
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
