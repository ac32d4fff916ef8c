"""Write the deterministic sample sequence (real faces moving and crossing, with ground truth)."""

import argparse
import sys

from face_detector_ros.simulation import faces
from face_detector_ros.tools import cli


@cli.console_main
def main(argv=None):
    """Run face-sample-data."""
    parser = argparse.ArgumentParser(
        prog='face-sample-data',
        description='Write a short video of real faces moving over a background as '
                    'frame_NNNN images plus MOTChallenge ground_truth.txt and seqinfo.ini.')
    parser.add_argument('out_dir', help='output directory (must not exist or be empty)')
    parser.add_argument('--frames', type=int, default=90, help='number of frames (default 90)')
    parser.add_argument('--fps', type=float, default=30.0, help='frame rate (default 30)')
    parser.add_argument('--width', type=int, default=640, help='image width (default 640)')
    parser.add_argument('--height', type=int, default=480, help='image height (default 480)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--format', choices=('png', 'jpg'), default='png',
                        help='image format (default png)')
    parser.add_argument('--overwrite', action='store_true', help='replace out_dir if it exists')
    args = parser.parse_args(argv)
    if args.frames < 1 or args.fps <= 0 or args.width < 64 or args.height < 64:
        raise cli.CliError('need --frames >= 1, --fps > 0 and an image of at least 64x64')
    sequence = faces.write_sample_sequence(
        args.out_dir, image_format=args.format, overwrite=args.overwrite,
        num_frames=args.frames, width=args.width, height=args.height, fps=args.fps,
        seed=args.seed)
    print(f'wrote {len(sequence.frames)} frames of {args.width}x{args.height} at '
          f'{args.fps:g} FPS, 3 faces, background {sequence.background_name}, to {args.out_dir}')


if __name__ == '__main__':
    sys.exit(main())
