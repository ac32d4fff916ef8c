"""face-train and face-export end to end on composed images: learn, resume, export, detect."""

import csv
import json
import os
from pathlib import Path
import re
import subprocess
import sys

import cv2
from face_detector_ros.datasets.annotations import Box
from face_detector_ros.datasets.yolo import write_names, write_yolo_txt
from face_detector_ros.evaluation.detection_metrics import box_iou
from face_detector_ros.simulation import faces
import numpy as np
import pytest
import yaml

torch = pytest.importorskip('torch')

SIDE = 160
# (seed, face widths in px): 9 faces of 24-44 px in 6 images.
IMAGES = ((1, (40,)), (2, (28, 36)), (3, (44,)), (4, (24, 32)), (5, (34,)), (6, (30, 40)))
TRAIN_FLAGS = ('--input-size', str(SIDE), '--width', '0.25', '--batch-size', '6',
               '--lr', '0.05', '--warmup', '20', '--checkpoint-every', '30', '--log-every', '30',
               '--eval-every', '60', '--workers', '0', '--no-augment')


def run(module, *args):
    """Run a console-script module on one thread; return the completed process."""
    # One thread: the suite's budget is one core, and spinning threads slow a shared machine.
    return subprocess.run([sys.executable, '-m', module, *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    """Write the composed images with their YOLO labels; return (folder, {image: boxes})."""
    folder = tmp_path_factory.mktemp('faces')
    write_names(['face'], folder / 'face.names')
    truth = {}
    for seed, sizes in IMAGES:
        image, boxes = faces.composed_image(SIDE, SIDE, sizes, seed)
        path = folder / f'{seed}.png'
        cv2.imwrite(str(path), image)
        write_yolo_txt([Box('face', *box) for box in boxes], path.with_suffix('.txt'), ['face'],
                       SIDE, SIDE)
        truth[path] = boxes
    return folder, truth


@pytest.fixture(scope='module')
def trained(dataset, tmp_path_factory):
    """Train 60 iterations, then resume to 150; return (output folder, both processes)."""
    folder, _ = dataset
    output = tmp_path_factory.mktemp('run')
    first = run('face_detector_ros.training.train', folder, output, '--test', folder,
                '--iterations', 60, *TRAIN_FLAGS)
    assert first.returncode == 0, first.stderr
    second = run('face_detector_ros.training.train', folder, output, '--test', folder,
                 '--iterations', 150, *TRAIN_FLAGS)
    assert second.returncode == 0, second.stderr
    return output, first, second


@pytest.fixture(scope='module')
def exported(trained, dataset, tmp_path_factory):
    """Export the best weights; return (card path, the process)."""
    output = tmp_path_factory.mktemp('export') / 'model'
    result = run('face_detector_ros.training.export', trained[0] / 'best.pt', output,
                 '--images', dataset[0], '--name', 'faces')
    assert result.returncode == 0, result.stderr
    return output / 'faces.yaml', result


def read_log(output):
    with open(output / 'log.csv', newline='') as stream:
        return list(csv.DictReader(stream))


def test_short_run_reduces_the_loss_and_keeps_the_best_map(trained):
    output, _, second = trained
    rows = read_log(output)
    losses = [float(row['loss']) for row in rows if row['loss']]
    assert losses[-1] < losses[0] / 5
    maps = {int(row['iteration']): float(row['map']) for row in rows if row['map']}
    assert list(maps) == [60, 120, 150] and max(maps.values()) > 0.9
    best = torch.load(output / 'best.pt', weights_only=False)
    assert best['map'] == max(maps.values()) and maps[best['iteration']] == best['map']
    assert f'best mAP@0.5 {best["map"]:.4f}' in second.stdout
    for name in ('loss.png', 'map.png'):
        assert (output / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_rerun_resumes_from_the_last_checkpoint(trained, dataset):
    output, first, second = trained
    assert 'resuming' not in first.stderr
    assert re.search(r'resuming .*last\.pt at iteration 60\b', second.stderr)
    iterations = [int(row['iteration']) for row in read_log(output)]
    assert iterations == [30, 60, 90, 120, 150]
    finished = run('face_detector_ros.training.train', dataset[0], output, '--iterations', 150,
                   *TRAIN_FLAGS)
    assert finished.returncode == 0 and 'already reached 150 iterations' in finished.stderr
    changed = run('face_detector_ros.training.train', dataset[0], output, '--iterations', 200,
                  *TRAIN_FLAGS[:2], '--width', '0.5')
    assert changed.returncode == 2
    assert changed.stderr.count('\n') == 1 and 'other width' in changed.stderr


def test_export_writes_an_ir_that_matches_torch(exported):
    card, result = exported
    for name in ('faces.onnx', 'faces.xml', 'faces.bin', 'faces.yaml', 'faces_fp32.xml',
                 'faces_fp32.bin', 'faces_fp32.yaml'):
        assert (card.parent / name).is_file()
    found = re.search(r'FP16 IR ([\d.e-]+) in a score, ([\d.e-]+) px in a box; '
                      r'FP32 IR ([\d.e-]+), ([\d.e-]+) px', result.stdout)
    assert found, result.stdout
    assert float(found[1]) < 0.02 and float(found[2]) < 1.0
    assert float(found[3]) < 1e-4 and float(found[4]) < 0.01  # FP32 keeps the weights
    fp16, fp32 = (card.parent / name for name in ('faces.bin', 'faces_fp32.bin'))
    assert 1.8 < fp32.stat().st_size / fp16.stat().st_size < 2.2
    fp32_card = yaml.safe_load((card.parent / 'faces_fp32.yaml').read_text())
    assert fp32_card['file'] == 'faces_fp32.xml'
    folding = re.search(r'BatchNorm folding changed the outputs by at most ([\d.e-]+)',
                        result.stdout)
    assert float(folding[1]) < 1e-3


def test_face_detect_with_the_exported_card_finds_the_training_faces(exported, dataset):
    result = run('face_detector_ros.tools.detect', '--json', '--model', exported[0], dataset[0])
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{')]
    records = {Path(record['source']).name: record for record in records}
    for path, boxes in dataset[1].items():
        found = np.array([item['bbox'] for item in records[path.name]['detections']])
        assert len(boxes) <= len(found) <= len(boxes) + 1, (path.name, found, boxes)
        assert np.all(box_iou(boxes, found).max(axis=1) >= 0.5), (path.name, found, boxes)
