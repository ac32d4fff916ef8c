"""
face-eval: score face-detect predictions against VOC, YOLO or COCO ground truth.

A prediction line pairs with the ground-truth image whose name is a tail of its source path:
the file stem, or the stem with parent folders joined by '_' (how face-wider2voc and
face-fddb2voc name their XML files); the longest such name wins. Ground-truth names are the XML
file stem (VOC), the image stem (YOLO) or `file_name` less its image suffix, folders joined by
'_' (COCO). A ground-truth image with no prediction line counts as all misses; a prediction line
for an image the ground truth does not know counts as an image with no faces (its detections
are false positives). Both are reported on stderr.

Ground truth may also be a WIDER FACE file (`wider_face_{train,val}_bbx_gt.txt`), read as it is:
boxes the annotators marked invalid, and zero-size ones, are ignore regions. For every format,
face widths are measured at a working width (each image scaled to --working-width pixels wide, as
a robot camera would see it), faces narrower than --min-size there are ignore regions too, and a
table gives recall per face-width bucket with the precision of the detections given.
"""

import argparse
import json
import math
from pathlib import Path
import sys

from face_detector_ros import fleet
from face_detector_ros.datasets.annotations import Box, DatasetError
from face_detector_ros.datasets.images import image_size, is_image
from face_detector_ros.datasets.lists import read_pairs
from face_detector_ros.datasets.voc import read_voc_xml
from face_detector_ros.datasets.wider import read_wider_gt
from face_detector_ros.datasets.yolo import read_names, read_yolo_dir, read_yolo_txt
from face_detector_ros.evaluation import detection_metrics as metrics
from face_detector_ros.files import atomic_output_file
from face_detector_ros.tools._datasets import progress
from face_detector_ros.tools.cli import CliError, console_main


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-eval',
        description='Average precision of face-detect --json output against ground truth: '
        'VOC AP (all-point and 11-point) at --iou, COCO AP@[.5:.95] as pycocotools computes '
        'it, and precision/recall at the best F1, per class.')
    parser.add_argument('--gt', required=True, type=Path,
                        help='ground truth: a folder of VOC .xml files (or a VOC root with '
                        'Annotations/), a .txt list of image_path xml_path lines (test.txt of '
                        'face-wider2voc and face-fddb2voc), a darknet folder (images with .txt '
                        'labels beside them) or list of image paths (face-split), a COCO .json '
                        'file or a WIDER FACE '
                        'wider_face_*_bbx_gt.txt file')
    parser.add_argument('--pred', required=True, nargs='+', metavar='PRED',
                        help='face-detect --json output, one JSON line per image; - for stdin; '
                        'several files or folders of .jsonl files (the shards of a run) are '
                        'read as one')
    parser.add_argument('--iou', type=float, default=0.5,
                        help='IoU threshold of the VOC AP and the best-F1 point (%(default)s)')
    parser.add_argument('--names', type=Path,
                        help='class names file for YOLO ground truth (default: the .names file '
                        'in the folder)')
    parser.add_argument('--max-dets', type=int, default=100, metavar='N',
                        help='detections per image and class kept for the COCO AP, highest '
                        'scores first (%(default)s, as COCO)')
    parser.add_argument('--working-width', type=int, default=640, metavar='PX',
                        help='measure face widths with each image scaled to this width, as a '
                        'camera of that resolution sees it (%(default)s; 0: as stored)')
    parser.add_argument('--min-size', type=float, default=10.0, metavar='PX',
                        help='faces narrower than this at the working width are ignore regions '
                        '(%(default)s; 0 counts every face)')
    parser.add_argument('--score-threshold', type=float, default=0.0, metavar='S',
                        help='score from which detections count in the face-width table '
                        '(%(default)s: every detection given, at the threshold of the detector)')
    parser.add_argument('--json', action='store_true', help='print the figures as one JSON line')
    parser.add_argument('--plot', type=Path, metavar='PR.png', help='write PR curves to a PNG')
    args = parser.parse_args(argv)
    if not 0 < args.iou <= 1:
        raise CliError(f'--iou {args.iou} is not in (0, 1]')
    if args.max_dets < 1:
        raise CliError(f'--max-dets {args.max_dets} must be at least 1')
    if (args.working_width < 0 or not 0 <= args.min_size < 1e4
            or not 0 <= args.score_threshold <= 1):
        raise CliError(f'--working-width {args.working_width} and --min-size {args.min_size} '
                       f'must not be negative, --score-threshold {args.score_threshold} must be '
                       'in [0, 1]')
    if args.plot and args.plot.suffix.lower() != '.png':
        raise CliError(f'--plot {args.plot}: the plot is a PNG, name it *.png')
    return args


def truth_name(name):
    """Return a ground-truth image's pairing name: folders joined by '_', no image suffix."""
    path = Path(name)
    return '_'.join((path.with_suffix('') if is_image(path) else path).parts)


def pair_key(source, truth):
    """Return the key of `truth` a prediction's source pairs with, else the source itself."""
    path = Path(source)
    parts = (path.with_suffix('') if is_image(path) else path).parts
    for start in range(len(parts)):
        tail = '_'.join(parts[start:])
        if tail in truth:
            return tail
    return path.as_posix()


def read_ground_truth(path, names_path):
    """Return ({name: ImageTruth}, {name: (width, height)}, class names in order)."""
    if not path.exists():
        raise CliError(f'ground truth {path} does not exist')
    if names_path and (path.suffix.lower() == '.json' or _voc_files(path)):
        raise CliError('--names is for YOLO ground truth; VOC and COCO name their classes')
    if path.is_file():
        if path.suffix.lower() == '.json':
            return read_coco(path)
        if path.suffix.lower() == '.txt' and 'bbx_gt' in path.name:
            return read_wider(path)
        if path.suffix.lower() == '.txt':
            rows = [line.split() for line in path.read_text(encoding='utf-8').splitlines()]
            rows = [fields for fields in rows if fields]
            if rows and all(len(fields) == 1 for fields in rows):
                return read_darknet_list(path, [image for (image,) in rows], names_path)
            return read_voc([path.parent / xml for _, xml in read_pairs(path)], path)
        raise CliError(f'ground truth {path}: expected a folder, a COCO .json file or a '
                       '.txt list of image_path xml_path lines')
    if _voc_files(path):
        return read_voc(_voc_files(path), path)
    class_names = read_names(names_path) if names_path else None
    annotations = read_yolo_dir(path, class_names)
    if class_names is None:
        names_files = sorted(path.glob('*.names'))
        class_names = read_names(names_files[0]) if names_files else []
    truth, sizes = {}, {}
    for annotation in annotations:
        _add_truth(truth, sizes, path, truth_name(annotation.filename), annotation.boxes,
                   (annotation.width, annotation.height),
                   difficult=[box.difficult for box in annotation.boxes])
    return truth, sizes, class_names


def read_darknet_list(path, images, names_path):
    """Read a darknet list `path` (face-split's test.txt) of `images`, YOLO labels beside each."""
    names_files = [names_path] if names_path else sorted(path.parent.glob('*.names'))
    if not names_files:
        raise CliError(f'{path}: a darknet list needs its class names: a .names file beside '
                       'it or --names')
    class_names = read_names(names_files[0])
    truth, sizes = {}, {}
    for name in images:
        image = path.parent / name
        width, height, _ = image_size(image)
        labels = image.with_suffix('.txt')
        boxes = read_yolo_txt(labels, class_names, width, height) if labels.is_file() else []
        _add_truth(truth, sizes, path, truth_name(image.name), boxes, (width, height))
    return truth, sizes, class_names


def _voc_files(directory):
    if (directory / 'Annotations').is_dir():
        directory = directory / 'Annotations'
    return sorted(directory.glob('*.xml'))


def read_voc(xml_files, source):
    """Read VOC XML files; each image is named by its XML file's stem."""
    truth, sizes = {}, {}
    labels = set()
    for xml in progress(xml_files, 'ground truth'):
        annotation = read_voc_xml(xml)
        labels.update(box.label for box in annotation.boxes)
        _add_truth(truth, sizes, source, Path(xml).stem, annotation.boxes,
                   (annotation.width, annotation.height),
                   difficult=[box.difficult for box in annotation.boxes])
    return truth, sizes, sorted(labels)


def read_wider(path):
    """Read a WIDER FACE ground-truth file; invalid and zero-size boxes are ignore regions."""
    truth, sizes = {}, {}
    for image, faces in read_wider_gt(path):
        boxes = [face.box for face in faces]
        ignore = [bool(face.invalid) or box.width <= 0 or box.height <= 0
                  for face, box in zip(faces, boxes)]
        _add_truth(truth, sizes, path, truth_name(image), boxes, (None, None), difficult=ignore)
    return truth, sizes, ['face']


def at_working_width(truth, truth_sizes, predictions, prediction_sizes, width, min_size):
    """
    Return truth and predictions scaled so that every image is `width` pixels wide.

    Truth boxes narrower than `min_size` there become ignore regions. The image width comes from
    the ground truth, else from the prediction line; width 0 keeps the pixels as they are.
    """
    scaled_truth, scaled_predictions = {}, {}
    for key in truth.keys() | predictions.keys():
        image_width = (truth_sizes.get(key) or (None,))[0] or (
            prediction_sizes.get(key) or (None,))[0]
        if width and not image_width:
            raise CliError(f'image {key}: its width is unknown (neither the ground truth nor a '
                           'prediction line gives it); pass --working-width 0')
        scale = width / image_width if width else 1.0
        if key in truth:
            item = truth[key]
            boxes = item.boxes * scale
            small = (boxes[:, 2] - boxes[:, 0]) < min_size
            scaled_truth[key] = metrics.ImageTruth(boxes, item.labels, item.difficult | small,
                                                   item.crowd)
        if key in predictions:
            item = predictions[key]
            scaled_predictions[key] = metrics.ImagePredictions(item.boxes * scale, item.scores,
                                                               item.labels)
    return scaled_truth, scaled_predictions


def format_sizes(report, width):
    """Return the face-width table: recall per bucket, then precision and false positives."""
    where = f'at {width} px wide' if width else 'as stored'
    lines = [f'faces by width {where} (score >= {report.score_threshold:g}, IoU > '
             f'{report.iou_threshold:g}):',
             f'{"width px":>9} {"truth":>6} {"found":>6} {"recall":>7}']
    for bucket in report.buckets:
        recall = '-' if bucket.recall is None else f'{bucket.recall:.3f}'
        lines.append(f'{bucket.name:>9} {bucket.num_truth:>6} {bucket.found:>6} {recall:>7}')
    recall, precision = report.recall, report.precision
    lines.append(f'{"total":>9} {sum(b.num_truth for b in report.buckets):>6} '
                 f'{sum(b.found for b in report.buckets):>6} '
                 f'{"-" if recall is None else f"{recall:.3f}":>7}')
    lines.append(f'precision {"-" if precision is None else f"{precision:.3f}"}, '
                 f'{report.false_per_image:.2f} false faces per image')
    return '\n'.join(lines)


def size_summary(report):
    """Return the face-width figures as a JSON-ready dict."""
    return {'score_threshold': report.score_threshold, 'recall': report.recall,
            'precision': report.precision, 'false_per_image': report.false_per_image,
            'buckets': {bucket.name: {'truth': bucket.num_truth, 'found': bucket.found,
                                      'recall': bucket.recall} for bucket in report.buckets}}


def _add_truth(truth, sizes, source, name, boxes, size, **flags):
    if name in truth:
        raise CliError(f'{source}: two ground-truth images are named {name}; face-eval pairs '
                       'images by name, so names must be unique')
    truth[name] = metrics.ImageTruth([(box.x1, box.y1, box.x2, box.y2) for box in boxes],
                                     [box.label for box in boxes], **flags)
    sizes[name] = size


def read_coco(path):
    """Read COCO instances JSON: images, categories and bbox annotations (x, y, w, h)."""
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
        categories = {category['id']: str(category['name']) for category in data['categories']}
        images = {image['id']: image for image in data['images']}
        truth_parts = {image_id: [] for image_id in images}
        for number, annotation in enumerate(data.get('annotations', []), 1):
            x, y, w, h = _numbers(annotation['bbox'], 4, f'annotation {number} bbox')
            if annotation['image_id'] not in images:
                raise CliError(f'{path}: annotation {number} refers to unknown image '
                               f'{annotation["image_id"]}')
            if annotation['category_id'] not in categories:
                raise CliError(f'{path}: annotation {number} refers to unknown category '
                               f'{annotation["category_id"]}')
            truth_parts[annotation['image_id']].append(
                (Box(categories[annotation['category_id']], x, y, x + w, y + h),
                 bool(annotation.get('iscrowd', 0))))
        truth, sizes = {}, {}
        for image_id, image in images.items():
            parts = truth_parts[image_id]
            _add_truth(truth, sizes, path, truth_name(image['file_name']),
                       [box for box, _ in parts], (image.get('width'), image.get('height')),
                       crowd=[crowd for _, crowd in parts])
    except (KeyError, TypeError, AttributeError) as error:
        raise CliError(f'{path}: not COCO instances JSON (bad or missing {error})') from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CliError(f'{path}: not valid JSON ({error})') from None
    except ValueError as error:
        raise CliError(f'{path}: {error}') from None
    return truth, sizes, [categories[key] for key in sorted(categories)]


def _numbers(values, count, what):
    if (not isinstance(values, list) or len(values) != count
            or not all(isinstance(value, (int, float)) and math.isfinite(value)
                       for value in values)):
        raise ValueError(f'{what} is {values!r}, expected {count} finite numbers')
    return [float(value) for value in values]


def read_predictions(preds, truth):
    """
    Return ({key: ImagePredictions}, {key: (width, height)}) from JSON lines, keyed as truth.

    `preds`: files (- for stdin) and folders of .jsonl files (a run's shards), read as one.
    """
    try:
        files = fleet.result_files(preds, '.jsonl')
    except fleet.FleetError as error:
        raise CliError(str(error)) from None
    numbered = []
    for pred in files:
        name = 'stdin' if pred == '-' else pred
        try:
            lines = sys.stdin.readlines() if pred == '-' else Path(pred).read_text(
                encoding='utf-8').splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise CliError(f'cannot read predictions {name}: {error}') from None
        numbered += [(name, number, line) for number, line in enumerate(lines, 1)]
    predictions, sizes, first_line = {}, {}, {}
    for name, number, line in numbered:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key = pair_key(record['source'], truth)
            detections = record['detections']
            boxes = [_numbers(item['bbox'], 4, 'bbox') for item in detections]
            scores = [_numbers([item['score']], 1, 'score')[0] for item in detections]
            labels = [str(item['label']) for item in detections]
        except json.JSONDecodeError as error:
            raise CliError(f'{name}:{number}: not JSON ({error.msg})') from None
        except (KeyError, TypeError) as error:
            raise CliError(f'{name}:{number}: not a face-detect --json line (bad or missing '
                           f'{error})') from None
        except ValueError as error:
            raise CliError(f'{name}:{number}: {error}') from None
        if key in predictions:
            raise CliError(f'{name}:{number}: a second line for image {key} (first at '
                           f'{first_line[key]}); give one line per image (video frames cannot '
                           'be paired with ground truth)')
        first_line[key] = f'{name}:{number}'
        predictions[key] = metrics.ImagePredictions(boxes, scores, labels)
        sizes[key] = (record.get('width'), record.get('height'))
    if not predictions:
        raise CliError(f'no prediction lines in {", ".join(map(str, files))}; produce them '
                       'with face-detect --json')
    return predictions, sizes


def warn_mismatches(truth, truth_sizes, predictions, prediction_sizes, evaluation):
    """Tell on stderr what was paired oddly, so a wrong file shows itself."""
    def examples(keys):
        keys = sorted(keys)
        return ', '.join(keys[:3]) + (', ...' if len(keys) > 3 else '')

    unpredicted = truth.keys() - predictions.keys()
    if unpredicted:
        _warn(f'{len(unpredicted)} of {len(truth)} ground-truth images have no prediction '
              f'line ({examples(unpredicted)}); their faces count as misses')
    unknown = predictions.keys() - truth.keys()
    if unknown:
        _warn(f'{len(unknown)} predicted images are not in the ground truth '
              f'({examples(unknown)}); their detections count as false positives')
    resized = [key for key in truth.keys() & predictions.keys()
               if None not in prediction_sizes[key] and None not in truth_sizes[key]
               and tuple(prediction_sizes[key]) != tuple(truth_sizes[key])]
    if resized:
        _warn(f'{len(resized)} images differ in size between ground truth and predictions '
              f'({examples(resized)}); boxes may be in different pixels')
    strays = [label for label, result in evaluation.classes.items()
              if result.num_predictions and result.num_truth + result.num_ignored == 0]
    if strays:
        _warn(f'predicted classes {", ".join(strays)} have no ground-truth boxes; their '
              'detections are false positives (wrong --names?)')


def _warn(message):
    print(f'face-eval: warning: {message}', file=sys.stderr)


def summary(evaluation):
    """Return the figures as a JSON-ready dict."""
    def point(best):
        fields = ('precision', 'recall', 'f1', 'score_threshold')
        return dict.fromkeys(fields) if best is None else {
            field: getattr(best, field) for field in fields}

    per_class = {label: {'ap50': result.ap, 'ap50_11point': result.ap_11point,
                         'ap50_95': result.coco_ap, 'coco_ap50': result.coco_ap50,
                         'coco_ap75': result.coco_ap75, 'truth': result.num_truth,
                         'ignored': result.num_ignored, 'predictions': result.num_predictions,
                         **point(result.best_f1)}
                 for label, result in evaluation.classes.items()}
    return {'iou': evaluation.iou_threshold, 'max_dets': evaluation.max_detections,
            'ap50': evaluation.ap, 'ap50_11point': evaluation.ap_11point,
            'ap50_95': evaluation.coco_ap, 'coco_ap50': evaluation.coco_ap50,
            'coco_ap75': evaluation.coco_ap75, **point(evaluation.best_f1),
            'per_class': per_class}


def format_table(figures, images):
    """Return the human-readable report: one row per class, then the means (and pooled P/R)."""
    iou = figures['iou']
    columns = {'ap50': f'AP@{iou:g}', 'ap50_11point': f'AP11@{iou:g}', 'ap50_95': 'AP@[.5:.95]',
               'precision': 'P', 'recall': 'R', 'f1': 'F1', 'score_threshold': 'score>='}
    widths = {key: max(len(title), 6) for key, title in columns.items()}
    name_width = max([len('class')] + [len(label) for label in figures['per_class']])

    def row(name, truth, predictions, values):
        cells = ['-'.rjust(widths[key]) if values[key] is None
                 else f'{values[key]:{widths[key]}.4f}' for key in columns]
        return ' '.join([name.ljust(name_width), f'{truth:>6}', f'{predictions:>6}', *cells])

    header = ' '.join(['class'.ljust(name_width), f'{"truth":>6}', f'{"preds":>6}',
                       *(title.rjust(widths[key]) for key, title in columns.items())])
    lines = [f'{images} images; IoU > {iou:g} for AP (VOC all-point), AP11 (VOC 11-point) and '
             'P/R/F1 (at the best F1)',
             f'AP@[.5:.95]: COCO, max {figures["max_dets"]} detections per image and class; '
             'all: mean AP, pooled P/R/F1', header]
    for label, values in figures['per_class'].items():
        lines.append(row(label, values['truth'], values['predictions'], values))
    lines.append(row('all', sum(values['truth'] for values in figures['per_class'].values()),
                     sum(values['predictions'] for values in figures['per_class'].values()),
                     figures))
    return '\n'.join(lines)


def plot_curves(evaluation, path):
    """Write one precision-recall curve per class, best-F1 point marked, to a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot
    import numpy as np

    figure, axes = pyplot.subplots(figsize=(6, 5), dpi=100)
    for label, result in evaluation.classes.items():
        if result.ap is None:
            continue
        # From recall 0 at the first precision, so the curve starts at the axis.
        line, = axes.plot(np.r_[0, result.recall], np.r_[result.precision[:1], result.precision],
                          label=f'{label}: AP {result.ap:.3f}')
        if result.best_f1 and result.best_f1.score_threshold is not None:
            axes.plot(result.best_f1.recall, result.best_f1.precision, 'o',
                      color=line.get_color())
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel='recall', ylabel='precision',
             title=f'Precision-recall at IoU > {evaluation.iou_threshold:g} (dot: best F1)')
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc='lower left')
    with atomic_output_file(path, 'wb') as stream:
        figure.savefig(stream, format='png')
    pyplot.close(figure)


@console_main
def main(argv=None):
    """Evaluate predictions against ground truth and print the figures."""
    args = parse_args(argv)
    try:
        truth, truth_sizes, class_names = read_ground_truth(args.gt, args.names)
    except DatasetError as error:
        raise CliError(str(error)) from None
    if not truth:
        raise CliError(f'no ground-truth images in {args.gt}')
    predictions, prediction_sizes = read_predictions(args.pred, truth)
    truth, scaled = at_working_width(truth, truth_sizes, predictions, prediction_sizes,
                                     args.working_width, args.min_size)
    evaluation = metrics.evaluate(truth, scaled, args.iou, args.max_dets, class_names)
    warn_mismatches(truth, truth_sizes, predictions, prediction_sizes, evaluation)
    report = metrics.size_report(truth, scaled, args.score_threshold, args.iou)
    figures = summary(evaluation)
    images = len(truth.keys() | predictions.keys())
    if args.json:
        print(json.dumps({'images': images, **figures, 'working_width': args.working_width,
                          'sizes': size_summary(report)}))
    else:
        print(format_table(figures, images))
        print(format_sizes(report, args.working_width))
    if args.plot:
        plot_curves(evaluation, args.plot)
        print(f'face-eval: PR curves written to {args.plot}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
