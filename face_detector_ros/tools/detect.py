"""face-detect: find faces in images, folders of images and videos, offline."""

import argparse
import contextlib
import json
import logging
from pathlib import Path
import sys
import time

import cv2
from face_detector_ros.detection.drawing import draw_detections
from face_detector_ros.detection.engine import EngineError, InferenceEngine
from face_detector_ros.detection.model_cards import DEFAULT_MODEL, load_card, shipped_models
from face_detector_ros.files import atomic_output_dir, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from face_detector_ros.tools import cli
import numpy as np
from tqdm import tqdm


class UnreadableFile(cli.CliError):
    """An image or video OpenCV cannot decode; the run skips it and fails at the end."""


def media_files(paths):
    """Return the image and video files named by `paths` (a folder gives its files, sorted)."""
    found = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            inside = sorted(entry for entry in path.iterdir()
                            if entry.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
            if not inside:
                raise cli.CliError(f'folder {path} holds no images or videos')
            found += inside
        elif not path.exists():
            raise cli.CliError(f'no such file or folder: {path}')
        elif path.suffix.lower() not in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS:
            raise cli.CliError(f'{path} is neither an image ({" ".join(IMAGE_EXTENSIONS)}) nor a '
                               f'video ({" ".join(VIDEO_EXTENSIONS)})')
        else:
            found.append(path)
    return found


def frames(path):
    """Yield (frame number, BGR image) of an image file (one frame) or a video."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise UnreadableFile(f'cannot read image {path}: not an image OpenCV can decode')
        yield 0, image
        return
    capture = cv2.VideoCapture(str(path))
    count = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            yield count, image
            count += 1
    finally:
        capture.release()
    if count == 0:
        raise UnreadableFile(f'cannot read video {path}: no frame could be decoded')


def record(source, number, image, detections, labels):
    """Return the JSON record of one frame; boxes in image pixels, clipped to the image."""
    height, width = image.shape[:2]
    boxes = np.clip(detections.boxes, 0, [width, height, width, height])
    return {'source': str(source), 'frame': number, 'width': width, 'height': height,
            'detections': [{'bbox': [round(float(v), 2) for v in box],
                            'score': round(float(score), 4),
                            'label': labels[class_id]}
                           for box, score, class_id in zip(boxes, detections.scores,
                                                           detections.class_ids)]}


def detect_at_width(engine, image, width):
    """Detect on the image resized to `width` px wide (0: as it is); boxes in its own pixels."""
    if not width or width == image.shape[1]:
        return engine.detect(image)
    scale = width / image.shape[1]
    resized = cv2.resize(image, (width, max(1, round(image.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return engine.detect(resized).scaled(resized.shape[1] / image.shape[1], 0, 0)


def list_models():
    """Print the shipped model names, one per line: name, description, measured figures."""
    for name in shipped_models():
        card = load_card(name)
        marker = ' (default)' if name == DEFAULT_MODEL else ''
        measured = f'\t{card["measured"]}' if card.get('measured') else ''
        print(f'{name}\t{card["description"]}{marker}{measured}')


@cli.console_main
def main(argv=None):
    """Run face-detect."""
    parser = argparse.ArgumentParser(
        prog='face-detect',
        description='Find faces in images, folders and videos. Prints one line per image or '
                    'frame (JSON lines with --json, boxes in pixels of the original image) and '
                    'with --output-dir writes annotated images.')
    parser.add_argument('paths', nargs='*', metavar='PATH', help='image, folder or video')
    parser.add_argument('--model', default=DEFAULT_MODEL,
                        help=f'shipped model name, model card .yaml or model file with a card '
                             f'beside it (default {DEFAULT_MODEL}; see --list-models)')
    parser.add_argument('--device', default='CPU',
                        help='OpenVINO devices in order of preference, e.g. MYRIAD,GPU,CPU '
                             '(default CPU)')
    parser.add_argument('--threshold', type=float,
                        help="score threshold in [0, 1] (default: the model card's)")
    parser.add_argument('--width', type=int, default=0, metavar='PX',
                        help='resize each image to this width before detecting, as a camera of '
                             'that resolution would see it (boxes stay in pixels of the '
                             'original; default 0: as stored)')
    parser.add_argument('--json', action='store_true', help='print JSON lines')
    parser.add_argument('--output-dir', type=Path,
                        help='write annotated images here (new or empty folder)')
    parser.add_argument('--list-models', action='store_true',
                        help='print the shipped model names and exit')
    args = parser.parse_args(argv)
    # Device fallback warnings (e.g. MYRIAD missing) are worth a line each.
    logging.basicConfig(level=logging.WARNING, format='face-detect: warning: %(message)s')
    if args.list_models:
        list_models()
        return 0
    if not args.paths:
        raise cli.CliError('give at least one image, folder or video (or --list-models)')
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise cli.CliError(f'--threshold must be in [0, 1], got {args.threshold}')
    if not 0 <= args.width <= 20000:
        raise cli.CliError(f'--width must be in [0, 20000] px, got {args.width}')
    files = media_files(args.paths)
    try:
        engine = InferenceEngine.from_parameters({'model': args.model, 'device': args.device,
                                                  'score_threshold': args.threshold})
    except EngineError as error:
        raise cli.CliError(str(error)) from error
    output = atomic_output_dir(args.output_dir) if args.output_dir else \
        contextlib.nullcontext()
    count = faces = unreadable = 0
    started = time.perf_counter()
    with output as out_dir:
        names = set()
        for path in tqdm(files, unit='file', disable=None, file=sys.stderr):
            try:
                for number, image in frames(path):
                    try:
                        found = detect_at_width(engine, image, args.width)
                    except EngineError as error:
                        raise cli.CliError(str(error)) from error
                    count += 1
                    faces += len(found)
                    line = record(path, number, image, found, engine.labels)
                    if args.json:
                        print(json.dumps(line))
                    else:
                        print(f'{path} frame {number}: {len(found)} face(s)' + ''.join(
                            f' [{", ".join(f"{v:.0f}" for v in item["bbox"])}] '
                            f'{item["score"]:.2f}' for item in line['detections']))
                    if out_dir is not None:
                        write_annotated(out_dir, names, path, number, image, found,
                                        engine.labels)
            except UnreadableFile as error:
                unreadable += 1
                tqdm.write(f'face-detect: warning: {error}; skipped', file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(f'{count} image(s) or frame(s) from {len(files) - unreadable} file(s), {faces} '
          f'face(s), {1e3 * elapsed / max(count, 1):.1f} ms each on {engine.device} with '
          f'{engine.card["name"]}' + (f'; annotated in {args.output_dir}'
                                      if args.output_dir else ''), file=sys.stderr)
    if unreadable:
        raise cli.CliError(f'{unreadable} of {len(files)} file(s) could not be read (warnings '
                           'above); the others were processed')
    return 0


def write_annotated(out_dir, names, path, number, image, found, labels):
    """Write one annotated frame as PNG, named after its source (and frame, for videos)."""
    stem = path.stem if path.suffix.lower() in IMAGE_EXTENSIONS else f'{path.stem}_{number:06d}'
    name, copy = f'{stem}.png', 1
    while name in names:
        copy += 1
        name = f'{stem}_{copy}.png'
    names.add(name)
    annotated = draw_detections(image.copy(), found.boxes,
                                [labels[class_id] for class_id in found.class_ids],
                                found.scores, keypoints=found.keypoints)
    if not cv2.imwrite(str(Path(out_dir) / name), annotated):
        raise cli.CliError(f'cannot write {Path(out_dir) / name}')


if __name__ == '__main__':
    sys.exit(main())
