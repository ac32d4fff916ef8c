"""face-eval end to end: VOC, YOLO and COCO ground truth, JSON output, PR plot, bad inputs."""

import contextlib
import io
import json
import subprocess
import sys

import cv2
from face_detector_ros.datasets.annotations import Box, ImageAnnotation
from face_detector_ros.datasets.voc import write_voc_xml
from face_detector_ros.datasets.yolo import write_names, write_yolo_txt
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
import pytest

WIDTH, HEIGHT = 100, 80
# img2 gets no prediction line (its face is missed); img4 is not in the ground truth.
FACES = {'img1': [(10, 10, 40, 40), (60, 10, 90, 40)], 'img2': [(20, 20, 50, 60)], 'img3': []}
PREDICTIONS = {
    'img1': [((10, 10, 40, 40), 0.9), ((62, 12, 92, 42), 0.6)],  # exact; IoU 784/1016 = 0.77
    'img3': [((0, 0, 30, 30), 0.5)],
    'img4': [((60, 10, 90, 40), 0.7)],
}
# By score: TP 0.9, FP 0.7 (img4), TP 0.6, FP 0.5 of 3 faces.
EXPECTED_AP = 1 / 3 * 1 + 1 / 3 * 2 / 3
EXPECTED_AP_11POINT = (4 * 1 + 3 * 2 / 3) / 11


@pytest.fixture
def dataset(tmp_path):
    """Write the same ground truth as VOC, YOLO and COCO, and the face-detect JSON lines."""
    (tmp_path / 'voc').mkdir()
    (tmp_path / 'yolo').mkdir()
    images, annotations = [], []
    for number, (stem, boxes) in enumerate(FACES.items(), 1):
        annotation = ImageAnnotation(f'{stem}.png', WIDTH, HEIGHT, 3,
                                     [Box('face', *box) for box in boxes])
        write_voc_xml(annotation, tmp_path / 'voc' / f'{stem}.xml')
        cv2.imwrite(str(tmp_path / 'yolo' / f'{stem}.png'), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
        write_yolo_txt(annotation.boxes, tmp_path / 'yolo' / f'{stem}.txt', ['face'], WIDTH,
                       HEIGHT)
        images.append({'id': number, 'file_name': f'{stem}.png', 'width': WIDTH,
                       'height': HEIGHT})
        for x1, y1, x2, y2 in boxes:
            annotations.append({'id': len(annotations) + 1, 'image_id': number,
                                'category_id': 1, 'bbox': [x1, y1, x2 - x1, y2 - y1],
                                'area': (x2 - x1) * (y2 - y1), 'iscrowd': 0})
    write_names(['face'], tmp_path / 'yolo' / 'obj.names')
    coco = {'images': images, 'annotations': annotations,
            'categories': [{'id': 1, 'name': 'face'}]}
    (tmp_path / 'coco.json').write_text(json.dumps(coco))
    lines = [json.dumps({'source': f'/data/{stem}.png', 'frame': 0, 'width': WIDTH,
                         'height': HEIGHT,
                         'detections': [{'bbox': list(box), 'score': score, 'label': 'face'}
                                        for box, score in detections]})
             for stem, detections in PREDICTIONS.items()]
    (tmp_path / 'pred.jsonl').write_text('\n'.join(lines) + '\n')
    return tmp_path


def face_eval(*args):
    command = [sys.executable, '-m', 'face_detector_ros.tools.evaluate', *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def pycocotools_ap(coco, extra_image):
    """Return pycocotools' AP@[.5:.95], the predicted image it lacks added without faces."""
    coco = {**coco, 'images': coco['images'] + [{'id': 4, 'file_name': f'{extra_image}.png'}]}
    ids = {image['file_name'][:-4]: image['id'] for image in coco['images']}
    results = [{'image_id': ids[stem], 'category_id': 1, 'score': score,
                'bbox': [x1, y1, x2 - x1, y2 - y1]}
               for stem, detections in PREDICTIONS.items()
               for (x1, y1, x2, y2), score in detections]
    ground_truth = COCO()
    ground_truth.dataset = coco
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth.createIndex()
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), 'bbox')
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats[0]


def test_voc_yolo_and_coco_ground_truth_give_the_same_figures(dataset):
    reference = pycocotools_ap(json.loads((dataset / 'coco.json').read_text()), 'img4')
    for gt in ('voc', 'yolo', 'coco.json'):
        run = face_eval('--gt', dataset / gt, '--pred', dataset / 'pred.jsonl', '--json')
        assert run.returncode == 0, run.stderr
        figures = json.loads(run.stdout)
        assert figures['images'] == 4 and figures['iou'] == 0.5
        assert figures['ap50'] == pytest.approx(EXPECTED_AP)
        assert figures['ap50_11point'] == pytest.approx(EXPECTED_AP_11POINT)
        assert figures['ap50_95'] == pytest.approx(reference, abs=1e-4)
        assert (figures['precision'], figures['recall'], figures['f1'],
                figures['score_threshold']) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 0.6))
        face = figures['per_class']['face']
        assert (face['truth'], face['predictions'], face['ap50']) == (3, 4, figures['ap50'])
        assert 'img2' in run.stderr and 'misses' in run.stderr
        assert 'img4' in run.stderr and 'false positives' in run.stderr


def test_a_darknet_list_is_ground_truth_as_its_folder_is(dataset):
    # face-split's test.txt: absolute image paths, labels beside them, names beside the list.
    listed = dataset / 'split'
    listed.mkdir()
    images = sorted((dataset / 'yolo').glob('*.png'))
    (listed / 'test.txt').write_text(''.join(f'{path.resolve()}\n' for path in images))
    write_names(['face'], listed / 'obj.names')
    run = face_eval('--gt', listed / 'test.txt', '--pred', dataset / 'pred.jsonl', '--json')
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)['ap50'] == pytest.approx(EXPECTED_AP)
    (listed / 'obj.names').unlink()
    run = face_eval('--gt', listed / 'test.txt', '--pred', dataset / 'pred.jsonl')
    assert run.returncode == 2 and 'needs its class names' in run.stderr
    assert run.stderr.count('\n') == 1


def test_table_iou_option_and_plot(dataset):
    plot = dataset / 'plots' / 'pr.png'
    run = face_eval('--gt', dataset / 'voc', '--pred', dataset / 'pred.jsonl', '--iou', 0.8,
                    '--plot', plot)
    assert run.returncode == 0, run.stderr
    rows = {line.split()[0]: line.split() for line in run.stdout.splitlines()[3:]}
    # At IoU > 0.8 the second face's detection (IoU 0.77) is a false positive too.
    assert rows['face'][:4] == ['face', '3', '4', '0.3333']
    assert rows['all'][3] == '0.3333'
    assert plot.read_bytes().startswith(b'\x89PNG') and cv2.imread(str(plot)) is not None
    assert [path.name for path in plot.parent.iterdir()] == ['pr.png']


def test_yolo_class_names_come_from_names_option(dataset):
    (dataset / 'yolo' / 'obj.names').unlink()
    run = face_eval('--gt', dataset / 'yolo', '--pred', dataset / 'pred.jsonl', '--json')
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)['per_class']['0']['ap50'] == 0.0
    assert 'predicted classes face have no ground-truth boxes' in run.stderr
    (dataset / 'classes.txt').write_text('face\n')
    run = face_eval('--gt', dataset / 'yolo', '--pred', dataset / 'pred.jsonl', '--json',
                    '--names', dataset / 'classes.txt')
    assert json.loads(run.stdout)['ap50'] == pytest.approx(EXPECTED_AP)


def test_converted_sets_pair_by_folders_and_lists_select_images(tmp_path):
    # As face-fddb2voc writes them: XML stems are the image paths with folders joined by '_',
    # so two img_1.jpg of different days stay apart; test.txt lists the test images.
    faces = {'2002_08_11_big_img_1': (10, 10, 40, 40), '2002_08_12_big_img_1': (50, 10, 80, 40),
             '2002_08_13_big_img_2': (20, 20, 50, 50)}
    (tmp_path / 'Annotations').mkdir()
    for stem, box in faces.items():
        write_voc_xml(ImageAnnotation('img_1.jpg', WIDTH, HEIGHT, 3, [Box('face', *box)]),
                      tmp_path / 'Annotations' / f'{stem}.xml')
    (tmp_path / 'test.txt').write_text(
        '../FDDB/2002/08/11/big/img_1.jpg Annotations/2002_08_11_big_img_1.xml\n'
        '../FDDB/2002/08/12/big/img_1.jpg Annotations/2002_08_12_big_img_1.xml\n')
    (tmp_path / 'pred.jsonl').write_text(''.join(
        json.dumps({'source': f'/data/FDDB/2002/08/{day}/big/img_1.jpg', 'frame': 0,
                    'width': WIDTH, 'height': HEIGHT,
                    'detections': [{'bbox': box, 'score': 0.9, 'label': 'face'}]}) + '\n'
        for day, box in (('11', [10, 10, 40, 40]), ('12', [50, 10, 80, 40]))))
    run = face_eval('--gt', tmp_path / 'test.txt', '--pred', tmp_path / 'pred.jsonl', '--json')
    assert run.returncode == 0 and run.stderr == '', run.stderr
    assert json.loads(run.stdout)['ap50'] == 1.0
    run = face_eval('--gt', tmp_path, '--pred', tmp_path / 'pred.jsonl', '--json')
    assert json.loads(run.stdout)['ap50'] == pytest.approx(2 / 3)
    assert 'no prediction line (2002_08_13_big_img_2)' in run.stderr


def _break(dataset, case):
    pred = dataset / 'pred.jsonl'
    if case == 'bad json line':
        pred.write_text(pred.read_text() + '{"source": "x.png", \n')
    elif case == 'no lines':
        pred.write_text('\n')
    elif case == 'bad bbox':
        pred.write_text(pred.read_text().replace('[10, 10, 40, 40]', '[10, 10, 40]'))
    elif case == 'repeated image':
        pred.write_text(pred.read_text() + pred.read_text().splitlines()[0] + '\n')
    elif case == 'malformed xml':
        (dataset / 'voc' / 'img2.xml').write_text('<annotation><size>')
    elif case == 'coco without images':
        (dataset / 'coco.json').write_text('{"annotations": [], "categories": []}')


@pytest.mark.parametrize('case, gt, extra, message', [
    ('missing gt', 'nowhere', [], 'does not exist'),
    ('bad json line', 'voc', [], 'pred.jsonl:4: not JSON'),
    ('no lines', 'voc', [], 'no prediction lines'),
    ('bad bbox', 'voc', [], 'pred.jsonl:1: bbox'),
    ('repeated image', 'voc', [], 'a second line for image img1'),
    ('malformed xml', 'voc', [], 'img2.xml: malformed XML'),
    ('coco without images', 'coco.json', [], "missing 'images'"),
    ('bad iou', 'voc', ['--iou', '1.5'], '--iou 1.5'),
])
def test_bad_inputs_give_one_line_and_failure(dataset, case, gt, extra, message):
    _break(dataset, case)
    run = face_eval('--gt', dataset / gt, '--pred', dataset / 'pred.jsonl', *extra)
    assert run.returncode != 0
    assert run.stdout == ''
    assert ': error: ' in run.stderr and run.stderr.count('\n') == 1
    assert message in run.stderr


def test_wider_ground_truth_is_read_as_it_is_with_ignore_regions_and_width_buckets(tmp_path):
    # WIDER lines: x y w h blur expression illumination invalid occlusion pose. Images are
    # 1280 px wide, so at the working width of 640 every size halves.
    (tmp_path / 'wider_face_val_bbx_gt.txt').write_text(
        '0--Parade/a.jpg\n4\n'
        '0 0 30 30 0 0 0 0 0 0\n'      # 15 px at 640: 10-24 bucket
        '100 0 100 120 2 0 0 0 0 0\n'  # 50 px: 40-64
        '300 0 60 60 0 0 0 1 0 0\n'    # invalid: ignored
        '400 0 14 14 0 0 0 0 0 0\n'    # 7 px at 640: under --min-size, ignored
        '4--Dancing/b.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n')
    lines = [{'source': 'WIDER_val/images/0--Parade/a.jpg', 'frame': 0, 'width': 1280,
              'height': 720, 'detections': [
                  {'bbox': [0, 0, 30, 30], 'score': 0.9, 'label': 'face'},
                  {'bbox': [300, 0, 360, 60], 'score': 0.8, 'label': 'face'},
                  {'bbox': [400, 0, 414, 14], 'score': 0.7, 'label': 'face'},
                  {'bbox': [700, 0, 760, 60], 'score': 0.6, 'label': 'face'}]},
             {'source': 'WIDER_val/images/4--Dancing/b.jpg', 'frame': 0, 'width': 1280,
              'height': 720, 'detections': []}]
    (tmp_path / 'pred.jsonl').write_text(''.join(json.dumps(line) + '\n' for line in lines))
    run = face_eval('--gt', tmp_path / 'wider_face_val_bbx_gt.txt', '--pred',
                    tmp_path / 'pred.jsonl', '--json')
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    face = figures['per_class']['face']
    assert (face['truth'], face['ignored']) == (2, 2)
    sizes = figures['sizes']
    assert figures['working_width'] == 640
    assert {name: (bucket['truth'], bucket['found']) for name, bucket in sizes['buckets'].items()
            if bucket['truth']} == {'10-24': (1, 1), '40-64': (1, 0)}
    assert sizes['precision'] == 0.5 and sizes['false_per_image'] == 0.5
    # As stored, and counting every face: the 14 px face is a 14 px face found.
    run = face_eval('--gt', tmp_path / 'wider_face_val_bbx_gt.txt', '--pred',
                    tmp_path / 'pred.jsonl', '--working-width', 0, '--min-size', 0)
    assert run.returncode == 0, run.stderr
    assert 'faces by width as stored' in run.stdout
    table = {line.split()[0]: line.split()[1:] for line in run.stdout.splitlines()
             if line.strip() and line.split()[0] in ('10-24', '24-40', 'total')}
    assert table['10-24'] == ['1', '1', '1.000'] and table['24-40'] == ['1', '1', '1.000']
    assert table['total'] == ['3', '2', '0.667']
