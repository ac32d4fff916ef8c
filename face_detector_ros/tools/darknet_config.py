"""face-darknet-config: darknet .data and .names, and a yolov3.cfg patched for the classes."""

import argparse
from pathlib import Path
import sys

from face_detector_ros.datasets.annotations import DatasetError
from face_detector_ros.datasets.darknet import data_text, patch_yolo_cfg, TrainingSettings
from face_detector_ros.datasets.yolo import read_names, write_names
from face_detector_ros.files import atomic_output_dir, plain_file_name
from face_detector_ros.tools.cli import CliError, console_main


def parse_args(argv):
    """Parse the command line."""
    defaults = TrainingSettings()
    parser = argparse.ArgumentParser(
        prog='face-darknet-config',
        description='Write NAME.data, NAME.names and CFG-NAME.cfg into OUTPUT: the cfg patched '
        "by the mask article's rules (batch, subdivisions, width/height, max_batches = "
        'classes x 2000 but at least 4000, steps at 80 % and 90 %, classes in every [yolo] and '
        'filters = (classes + 5) x anchors in the convolution before it).')
    parser.add_argument('output', type=Path, help='new folder for the darknet files')
    parser.add_argument('--cfg', type=Path, required=True, help='the yolov3.cfg to adapt')
    parser.add_argument('--train', type=Path, required=True, help='train.txt (face-split)')
    parser.add_argument('--valid', type=Path, required=True, help='test.txt (face-split)')
    classes = parser.add_mutually_exclusive_group(required=True)
    classes.add_argument('--classes', help='comma-separated class names, e.g. good,bad')
    classes.add_argument('--names', type=Path, help='a .names file')
    parser.add_argument('--name', default='obj', help='base name of the files (%(default)s)')
    parser.add_argument('--backup', type=Path,
                        help='folder for the weights darknet saves (default: OUTPUT/backup)')
    parser.add_argument('--batch', type=int, default=defaults.batch, help='(%(default)s)')
    parser.add_argument('--subdivisions', type=int, default=defaults.subdivisions,
                        help='(%(default)s)')
    parser.add_argument('--size', type=int, default=defaults.size,
                        help='network width and height, a multiple of 32 (%(default)s)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUTPUT')
    return parser.parse_args(argv)


@console_main
def main(argv=None):
    """Write the darknet training files."""
    args = parse_args(argv)
    plain_file_name(args.name, '--name')
    names = (read_names(args.names) if args.names else
             [name.strip() for name in args.classes.split(',') if name.strip()])
    if not names:
        raise CliError('no class names')
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CliError(f'class names given twice: {", ".join(repeated)}')
    for path in (args.cfg, args.train, args.valid):
        if not path.is_file():
            raise CliError(f'{path} does not exist')
    settings = TrainingSettings(args.batch, args.subdivisions, args.size)
    try:
        cfg = patch_yolo_cfg(args.cfg.read_text(encoding='utf-8'), len(names), settings,
                             source=str(args.cfg))
    except UnicodeDecodeError as error:
        raise CliError(f'{args.cfg}: not a text cfg file ({error.reason} at byte '
                       f'{error.start})') from None
    except DatasetError as error:
        raise CliError(f'{error}; refusing to patch it') from None
    output = args.output.resolve()
    backup = (args.backup or args.output / 'backup').resolve()
    with atomic_output_dir(args.output, overwrite=args.overwrite) as staging:
        write_names(names, staging / f'{args.name}.names')
        (staging / f'{args.name}.data').write_text(data_text(
            len(names), args.train.resolve(), args.valid.resolve(),
            output / f'{args.name}.names', f'{backup}/'))
        (staging / f'{args.cfg.stem}-{args.name}.cfg').write_text(cfg)
        if backup == output / 'backup':
            (staging / 'backup').mkdir()
    max_batches = settings.max_batches(len(names))
    print(f'{len(names)} classes ({",".join(names)}) -> {args.output}: {args.name}.data, '
          f'{args.name}.names, {args.cfg.stem}-{args.name}.cfg (max_batches {max_batches})')


if __name__ == '__main__':
    sys.exit(main())
