"""
face-detect: find faces in images, folders of images and videos, offline.

Files go through `DetectWorker` with face_detector_ros.fleet: one after another here, or with
--workers / --ray-address on Ray workers that each load the engine once; the output is the same.
"""

import argparse
import contextlib
import json
import logging
from pathlib import Path
import re
import sys
import time

import cv2
from face_detector_ros import fleet
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


class DetectWorker:
    """Detects faces in one image or video per `run`; the engine, loaded once, uses cpu_share()."""

    errors = (cli.CliError, EngineError, OSError)

    def __init__(self, model, device, threshold, width, out_dir):
        """Load the engine; annotated frames go to `out_dir` (None: none written)."""
        self.engine = InferenceEngine.from_parameters({'model': model, 'device': device,
                                                       'score_threshold': threshold,
                                                       'threads': fleet.cpu_share()})
        self.width = width
        self.out_dir = out_dir

    def run(self, item):
        """Detect in every frame of one (path, annotated name stem); return the JSON records."""
        path, stem = Path(item[0]), item[1]
        records = []
        for number, image in frames(path):
            found = detect_at_width(self.engine, image, self.width)
            records.append(record(path, number, image, found, self.engine.labels))
            if self.out_dir is not None:
                write_annotated(self.out_dir, stem, path, number, image, found,
                                self.engine.labels)
        return {'frames': len(records),
                'detections': sum(len(line['detections']) for line in records),
                'records': records, 'engine': f'{self.engine.device} with '
                f'{self.engine.card["name"]}'}


@cli.console_main
def main(argv=None):
    """Run face-detect."""
    parser = argparse.ArgumentParser(
        prog='face-detect',
        description='Find faces in images, folders and videos. Prints one line per image or '
                    'frame (JSON lines with --json, boxes in pixels of the original image) and '
                    'with --output-dir writes annotated images. With --workers N (local Ray) '
                    'or --ray-address the files are shared among worker processes; the output '
                    'is the same, in the same order.')
    parser.add_argument('paths', nargs='*', metavar='PATH',
                        help='image, folder or video; quoted globs are expanded here')
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
    fleet.add_arguments(parser, 'files', 'the files and --output-dir')
    parser.add_argument('--list-models', action='store_true',
                        help='print the shipped model names and exit')
    args = parser.parse_args(argv)
    # Device fallback warnings (e.g. MYRIAD missing) are worth a line each.
    logging.basicConfig(level=logging.WARNING, format='face-detect: warning: %(message)s')
    if args.list_models:
        list_models()
        return 0
    if not args.paths and not args.from_list:
        raise cli.CliError('give at least one image, folder or video (or --list-models)')
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise cli.CliError(f'--threshold must be in [0, 1], got {args.threshold}')
    if not 0 <= args.width <= 20000:
        raise cli.CliError(f'--width must be in [0, 20000] px, got {args.width}')
    try:
        files = media_files(fleet.expand_inputs(args.paths, args.from_list))
    except fleet.FleetError as error:
        raise cli.CliError(str(error)) from None
    output = atomic_output_dir(args.output_dir) if args.output_dir else \
        contextlib.nullcontext()
    with output as out_dir:
        kwargs = {'model': args.model, 'device': args.device, 'threshold': args.threshold,
                  'width': args.width, 'out_dir': None if out_dir is None else str(out_dir)}
        items = list(zip(map(str, files), annotated_stems(files)))
        started = time.perf_counter()
        try:
            results = fleet.run(DetectWorker, kwargs, items, args.workers, args.ray_address,
                                on_result=lambda result: tell(result, args.json))
        except fleet.FleetError as error:
            raise cli.CliError(str(error)) from None
    done = [result for result in results if result.ok]
    count = sum(result.value['frames'] for result in done)
    faces = sum(result.value['detections'] for result in done)
    busy = sum(result.seconds for result in done)
    engine = f' on {done[0].value["engine"]}' if done else ''
    if len(results) > 1:
        print(fleet.summary_table(results, time.perf_counter() - started), file=sys.stderr)
    print(f'{count} image(s) or frame(s) from {len(done)} file(s), {faces} face(s), '
          f'{1e3 * busy / max(count, 1):.1f} ms each{engine}'
          + (f'; annotated in {args.output_dir}' if args.output_dir else ''), file=sys.stderr)
    if len(done) < len(results):
        raise cli.CliError(f'{len(results) - len(done)} of {len(files)} file(s) could not be '
                           'read (warnings above); the others were processed')
    return 0


def tell(result, as_json):
    """Print one file's lines (or its warning), in input order."""
    if not result.ok:
        tqdm.write(f'face-detect: warning: {result.error}; skipped', file=sys.stderr)
        return
    for line in result.value['records']:
        if as_json:
            text = json.dumps(line)
        else:
            text = f'{line["source"]} frame {line["frame"]}: {len(line["detections"])} ' \
                'face(s)' + ''.join(f' [{", ".join(f"{v:.0f}" for v in item["bbox"])}] '
                                    f'{item["score"]:.2f}' for item in line['detections'])
        tqdm.write(text, file=sys.stdout)


def annotated_stems(files):
    """
    Return the stem of each file's annotated PNGs, unique: NAME.png, video frames NAME_000012.png.

    A stem taken by an earlier file of the same kind gets _2, _3, ...; so does a file whose
    PNG names would be those of another kind's (an image a_000001.png and a video a.avi).
    """
    taken = {'image': set(), 'video': set()}

    def clashes(kind, stem):
        if kind == 'image':
            return stem in taken['image'] or any(
                re.fullmatch(rf'{re.escape(video)}_\d{{6}}', stem) for video in taken['video'])
        return stem in taken['video'] or any(
            re.fullmatch(rf'{re.escape(stem)}_\d{{6}}', image) for image in taken['image'])

    stems = []
    for path in files:
        kind = 'image' if path.suffix.lower() in IMAGE_EXTENSIONS else 'video'
        stem, copy = path.stem, 1
        while clashes(kind, stem):
            copy += 1
            stem = f'{path.stem}_{copy}'
        taken[kind].add(stem)
        stems.append(stem)
    return stems


def write_annotated(out_dir, stem, path, number, image, found, labels):
    """Write one annotated frame as PNG, named after its stem (and frame, for videos)."""
    name = f'{stem}.png' if path.suffix.lower() in IMAGE_EXTENSIONS else \
        f'{stem}_{number:06d}.png'
    annotated = draw_detections(image.copy(), found.boxes,
                                [labels[class_id] for class_id in found.class_ids],
                                found.scores, keypoints=found.keypoints)
    if not cv2.imwrite(str(Path(out_dir) / name), annotated):
        raise cli.CliError(f'cannot write {Path(out_dir) / name}')


if __name__ == '__main__':
    sys.exit(main())
