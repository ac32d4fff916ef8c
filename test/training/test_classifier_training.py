"""face-train-classifier end to end on composed real faces, half of them with a painted mask."""

import os
from pathlib import Path
import subprocess
import sys

import cv2
from face_detector_ros.datasets.annotations import Box
from face_detector_ros.datasets.yolo import write_names, write_yolo_txt
from face_detector_ros.detection.classifier import CropClassifier
from face_detector_ros.detection.openvino_api import Core
from face_detector_ros.simulation import faces
import numpy as np
import pytest
import yaml

pytest.importorskip('torch')

SIDE = 240
CLASSES = ['good', 'bad']


def run(*args):
    return subprocess.run([sys.executable, '-m', 'face_detector_ros.training.classifier',
                           *map(str, args)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2],
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})


def paint_mask(image, box):
    """Cover the lower half of a face, nose to chin, as a worn mask."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    cv2.rectangle(image, (x1, (y1 + y2) // 2), (x2, y2), (255, 255, 255), -1)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    """12 images of two faces each: the left one masked (good), the other bare (bad)."""
    folder = tmp_path_factory.mktemp('masks')
    write_names(CLASSES, folder / 'obj.names')
    for seed in range(12):
        image, boxes = faces.composed_image(SIDE, SIDE, (36, 40), seed)
        boxes = boxes[np.argsort(boxes[:, 0])]
        paint_mask(image, boxes[0])
        path = folder / f'{seed}.png'
        cv2.imwrite(str(path), image)
        write_yolo_txt([Box(label, *box) for label, box in zip(CLASSES, boxes)],
                       path.with_suffix('.txt'), CLASSES, SIDE, SIDE)
    return folder


def test_it_learns_masks_and_writes_a_classifier_the_engine_runs(dataset, tmp_path):
    output = tmp_path / 'classifier'
    result = run(dataset, output, '--test', dataset, '--epochs', 6, '--copies', 4,
                 '--input-size', 32, '--batch-size', 16, '--lr', 0.01)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in output.iterdir()) == [
        'classifier.bin', 'classifier.onnx', 'classifier.xml', 'classifier.yaml', 'curves.png',
        'log.csv']
    section = yaml.safe_load((output / 'classifier.yaml').read_text())['classifier']
    assert section['labels'] == CLASSES and section['input_size'] == 32
    lines = (output / 'log.csv').read_text().splitlines()
    assert lines[0] == 'epoch,loss,balanced_accuracy' and len(lines) == 7
    best = max(float(line.split(',')[2]) for line in lines[1:])
    assert best >= 0.9 and f'best balanced accuracy {best:.3f}' in result.stdout
    # The card section runs in the engine's classifier: a new masked face is good.
    classifier = CropClassifier(section, str(output / 'card.yaml'), Core())
    image, boxes = faces.composed_image(SIDE, SIDE, (38, 38), 99)
    paint_mask(image, boxes[0])
    probabilities = classifier.probabilities(image, boxes)
    assert probabilities.shape == (2, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert probabilities[:, 0].argmax() == 0  # the masked one is the more `good`


@pytest.mark.parametrize('extra, message', [
    (['--lr', 'nan'], '--lr nan is not in (0, 1]'),
    (['--context', '0.5'], '--context 0.5 is not in [1, 4]'),
    (['--input-size', '4'], '--input-size 4 is not in [8, 512]'),
    (['--epochs', '0'], '--epochs must be positive'),
    (['--classes', 'good,mask'], 'no box of class mask'),
    (['--classes', 'good'], 'a classifier needs at least 2 classes'),
])
def test_bad_settings_are_one_line_and_nothing_is_written(dataset, tmp_path, extra, message):
    output = tmp_path / 'out'
    result = run(dataset, output, '--test', dataset, '--epochs', 1, *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.strip().splitlines()[-1] and 'Traceback' not in result.stderr
    assert not output.exists()
