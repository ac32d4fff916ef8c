"""RetinaFace in torch (training/retinaface.py) and face-finetune end to end, on real faces."""

import os
from pathlib import Path
import subprocess
import sys

import cv2
from face_detector_ros.datasets.annotations import Box
from face_detector_ros.datasets.yolo import write_names, write_yolo_txt
from face_detector_ros.detection.engine import InferenceEngine
from face_detector_ros.detection.letterbox import Letterbox
from face_detector_ros.detection.model_cards import models_dir
from face_detector_ros.detection.openvino_api import Core
from face_detector_ros.simulation import faces
import numpy as np
import pytest
import skimage.data

torch = pytest.importorskip('torch')
from face_detector_ros.training import finetune  # noqa: E402, I100 (needs torch)
from face_detector_ros.training.retinaface import (  # noqa: E402
    Deployed, export_onnx, load_onnx, OnnxError, RetinaFace)

SHIPPED = models_dir() / 'retinaface_mnet025.onnx'
SIZE = (320, 240)


def run(*args):
    return subprocess.run([sys.executable, '-m', 'face_detector_ros.training.finetune',
                           *map(str, args)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2],
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})


def astronaut_input():
    image = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    return finetune.to_tensor(Letterbox(512, 512, *SIZE).apply(image)[0])[None]


def openvino_outputs(path, images):
    compiled = Core().compile_model(str(path), 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    result = compiled(images.numpy())
    return [result[compiled.output(name)] for name in ('loc', 'conf', 'landmarks')]


def test_the_torch_network_computes_what_the_shipped_onnx_does():
    model = load_onnx(RetinaFace(), SHIPPED).eval()
    images = astronaut_input()
    with torch.no_grad():
        ours = [tensor.numpy() for tensor in Deployed(model)(images)]
    theirs = openvino_outputs(SHIPPED, images)
    for name, mine, reference in zip(('loc', 'conf', 'landmarks'), ours, theirs):
        assert mine.shape == reference.shape, name
        assert np.abs(mine - reference).max() < 1e-3, name
    assert ours[1][0, :, 1].max() > 0.99  # her face, found


def test_an_exported_network_runs_as_it_trained(tmp_path):
    model = load_onnx(RetinaFace(), SHIPPED)
    with torch.no_grad():  # a changed network, so that a copy of the file cannot pass
        model.class_heads[0].bias.add_(torch.tensor([0.5, -0.5, 0.25, -0.25]))
    images = astronaut_input()
    export_onnx(model, tmp_path / 'tuned.onnx', *SIZE)
    with torch.no_grad():
        ours = [tensor.numpy() for tensor in Deployed(model.eval())(images)]
    for mine, reference in zip(ours, openvino_outputs(tmp_path / 'tuned.onnx', images)):
        assert np.abs(mine - reference).max() < 1e-3
    assert np.abs(ours[1] - openvino_outputs(SHIPPED, images)[1]).max() > 0.05


def test_a_file_that_is_not_this_network_is_refused_in_one_line(tmp_path):
    (tmp_path / 'text.onnx').write_text('not a model')
    with pytest.raises(OnnxError, match='cannot read it as ONNX'):
        load_onnx(RetinaFace(), tmp_path / 'text.onnx')
    torch.onnx.export(torch.nn.Conv2d(3, 8, 3), torch.zeros(1, 3, 8, 8),
                      str(tmp_path / 'conv.onnx'), dynamo=False)
    with pytest.raises(OnnxError, match='1 convolutions, RetinaFace-MobileNet0.25 has 59'):
        load_onnx(RetinaFace(), tmp_path / 'conv.onnx')


@pytest.mark.parametrize('seed', range(20))
def test_zoomed_boxes_stay_on_their_pixels(seed):
    rng = np.random.default_rng(seed)
    image = np.zeros((150, 200, 3), np.uint8)
    boxes = np.float32([[20, 30, 60, 80], [150, 100, 190, 140]])
    for x1, y1, x2, y2 in boxes.astype(int):
        image[y1:y2, x1:x2] = 255
    canvas, moved = finetune.zoomed(image, boxes, SIZE, rng)
    assert canvas.shape == (SIZE[1], SIZE[0], 3)
    assert len(moved) <= 2
    for x1, y1, x2, y2 in moved:
        assert 0 <= x1 < x2 <= SIZE[0] and 0 <= y1 < y2 <= SIZE[1]
        inner = canvas[int(y1) + 2:int(y2) - 2, int(x1) + 2:int(x2) - 2]
        assert inner.size == 0 or inner.min() > 200  # the white patch is under the box
    # A patch wholly inside the canvas keeps its box, and the box fits it.
    white = (canvas.max(axis=2) > 127).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(white)
    for x, y, w, h, _ in stats[1:count]:
        if x > 0 and y > 0 and x + w < SIZE[0] and y + h < SIZE[1]:
            assert np.abs(moved - [x, y, x + w, y + h]).max(axis=1).min() < 2


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    """8 images of two real faces each, 36-50 px wide."""
    folder = tmp_path_factory.mktemp('faces')
    write_names(['face'], folder / 'obj.names')
    for seed in range(8):
        image, boxes = faces.composed_image(*SIZE, (36, 50), seed)
        path = folder / f'{seed}.png'
        cv2.imwrite(str(path), image)
        write_yolo_txt([Box('face', *box) for box in boxes], path.with_suffix('.txt'),
                       ['face'], *SIZE)
    return folder


def test_it_fine_tunes_resumes_and_writes_a_card_the_engine_runs(dataset, tmp_path):
    output = tmp_path / 'run'
    common = (dataset, output, '--test', dataset, '--input-size', '320x240', '--batch-size', 2,
              '--eval-every', 2, '--checkpoint-every', 2, '--workers', 0, '--warmup', 1)
    first = run(*common, '--iterations', 2)
    assert first.returncode == 0, first.stderr
    assert 'before fine-tuning' in first.stderr
    resumed = run(*common, '--iterations', 4)
    assert resumed.returncode == 0, resumed.stderr
    assert 'resuming' in resumed.stderr and 'at iteration 2' in resumed.stderr
    assert sorted(path.name for path in output.iterdir()) == [
        'ap.png', 'best.pt', 'last.pt', 'log.csv', 'loss.png', 'retinaface.onnx',
        'retinaface.yaml']
    rows = [line.split(',') for line in (output / 'log.csv').read_text().splitlines()]
    assert rows[0][0] == 'iteration' and [row[0] for row in rows[1:]] == ['0', '2', '4']
    assert all(float(row[-1]) > 0.5 for row in rows[1:])  # real faces, a good start
    engine = InferenceEngine(str(output / 'retinaface.yaml'), device='CPU')
    image = cv2.imread(str(dataset / '0.png'))
    found = engine.detect(image)
    truth = np.loadtxt(dataset / '0.txt', ndmin=2)
    assert len(found.boxes) >= len(truth) and found.keypoints.shape[1:] == (5, 2)
    # Landmarks were kept: each face's eyes lie in the upper half of its box.
    for box, points in zip(found.boxes, found.keypoints):
        assert np.all(points[:2, 1] < (box[1] + box[3]) / 2)


@pytest.mark.parametrize('extra, message', [
    (['--lr', 'nan'], '--lr nan must be in (0, 1]'),
    (['--input-size', '640'], "--input-size '640' is not WxH"),
    (['--input-size', '16x16'], 'sides must be in [32, 2048]'),
    (['--iterations', '0'], '--iterations must be positive'),
    (['--init', 'missing.onnx'], '--init missing.onnx: no such file'),
])
def test_bad_settings_are_one_line_and_nothing_is_written(dataset, tmp_path, extra, message):
    output = tmp_path / 'out'
    result = run(dataset, output, '--test', dataset, *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.strip().splitlines()[-1] and 'Traceback' not in result.stderr
    assert not output.exists()


def test_a_run_at_another_size_or_a_foreign_folder_is_refused(dataset, tmp_path):
    output = tmp_path / 'run'
    first = run(dataset, output, '--test', dataset, '--input-size', '320x240', '--iterations',
                1, '--batch-size', 2, '--workers', 0)
    assert first.returncode == 0, first.stderr
    other = run(dataset, output, '--test', dataset, '--input-size', '640x480')
    assert other.returncode == 2 and 'was trained at [320, 240]' in other.stderr
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('mine')
    refused = run(dataset, foreign, '--test', dataset)
    assert refused.returncode == 2 and 'holds no last.pt' in refused.stderr
    assert (foreign / 'notes.txt').read_text() == 'mine'
