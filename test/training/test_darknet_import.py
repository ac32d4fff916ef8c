"""face-export --darknet against OpenCV's own darknet reader, on cfgs with random weights."""

import importlib.util
import json
import os
from pathlib import Path
import struct
import subprocess
import sys

import cv2
from face_detector_ros.detection.decoders import make_decoder
import numpy as np
import openvino as ov
import pytest
import yaml

pytest.importorskip('torch')  # face_detector_ros.training needs it (darknet_import does not)
onnx = pytest.importorskip('onnx')

from face_detector_ros.training import darknet_import  # noqa: E402, I100
from face_detector_ros.training.export import main as export_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# darknet's yolov3-tiny.cfg (COCO, 80 classes), which face-darknet-config patches for 2 classes.
YOLOV3_TINY = """[net]
batch=1
subdivisions=1
width=416
height=416
channels=3
momentum=0.9
decay=0.0005
learning_rate=0.001
max_batches = 500200
policy=steps
steps=400000,450000
scales=.1,.1
""" + ''.join(f"""
[convolutional]
batch_normalize=1
filters={filters}
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride={2 if filters < 512 else 1}
""" for filters in (16, 32, 64, 128, 256, 512)) + """
[convolutional]
batch_normalize=1
filters=1024
size=3
stride=1
pad=1
activation=leaky

###########

[convolutional]
batch_normalize=1
filters=256
size=1
stride=1
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=512
size=3
stride=1
pad=1
activation=leaky

[convolutional]
size=1
stride=1
pad=1
filters=255
activation=linear

[yolo]
mask = 3,4,5
anchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319
classes=80
num=6
jitter=.3
ignore_thresh = .7
truth_thresh = 1
random=1

[route]
layers = -4

[convolutional]
batch_normalize=1
filters=128
size=1
stride=1
pad=1
activation=leaky

[upsample]
stride=2

[route]
layers = -1, 8

[convolutional]
batch_normalize=1
filters=256
size=3
stride=1
pad=1
activation=leaky

[convolutional]
size=1
stride=1
pad=1
filters=255
activation=linear

[yolo]
mask = 0,1,2
anchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319
classes=80
num=6
jitter=.3
ignore_thresh = .7
truth_thresh = 1
random=1
"""


def conv(filters, size=3, stride=1, activation='leaky', normalize=True, extra=''):
    """Return a [convolutional] section."""
    return (f'\n[convolutional]\n{"batch_normalize=1" if normalize else ""}\nfilters={filters}\n'
            f'size={size}\nstride={stride}\npad=1\nactivation={activation}\n{extra}')


YOLO = """
[yolo]
mask = {mask}
anchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319
classes=2
num=6
scale_x_y = 1.05
"""

# YOLOv4-tiny's parts on a 160x128 input: CSP route groups, a shortcut, stride-2 and stride-1
# maxpools (size 2 and 3), every activation, a grouped convolution, scale_x_y, two grids.
V4_TINY_STYLE = ('[net]\nwidth=160\nheight=128\nchannels=3\n'
                 + conv(16, stride=2)                                    # 0: 80x64
                 + conv(32, stride=2, activation='mish')                 # 1: 40x32
                 + '\n[route]\nlayers=-1\ngroups=2\ngroup_id=1\n'        # 2: channels 16-31
                 + conv(16)                                              # 3
                 + conv(16, activation='swish')                          # 4
                 + '\n[shortcut]\nfrom=-2\nactivation=linear\n'          # 5
                 + '\n[route]\nlayers=-1,-3\n'                           # 6: 32
                 + conv(32, size=1)                                      # 7
                 + '\n[route]\nlayers=-7,-1\n'                           # 8: 64
                 + '\n[maxpool]\nsize=2\nstride=2\n'                     # 9: 20x16
                 + conv(64, stride=2, activation='relu')                 # 10: 10x8
                 + '\n[maxpool]\nsize=2\nstride=1\n'                     # 11: tiny's
                 + '\n[maxpool]\nsize=3\nstride=1\n'                     # 12: SPP's
                 + conv(64, activation='logistic', extra='groups=2\n')   # 13
                 + conv(21, size=1, activation='linear', normalize=False)  # 14
                 + YOLO.format(mask='3,4,5')                             # 15: stride 16
                 + '\n[route]\nlayers=-3\n'                              # 16
                 + conv(32, size=1)                                      # 17
                 + '\n[upsample]\nstride=2\n'                            # 18: 20x16
                 + '\n[route]\nlayers=-1,9\n'                            # 19: 96
                 + conv(21, size=1, activation='linear', normalize=False)  # 20
                 + YOLO.format(mask='0,1,2'))                            # 21: stride 8


def run(module, *args):
    """Run a console-script module on one thread; return the completed process."""
    return subprocess.run([sys.executable, '-m', module, *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'})


def write_weights(path, cfg, seed=0):
    """Write random darknet weights of exactly the size `cfg` needs."""
    network = darknet_import.parse_network(darknet_import.read_cfg(cfg))
    rng = np.random.default_rng(seed)
    parts = []
    for layer in network.layers:
        if layer.kind != 'convolutional':
            continue
        filters, normalize = layer.params['filters'], layer.params['batch_normalize']
        parts.append(rng.normal(0, 0.5, filters))  # bias, or BatchNorm beta
        if normalize:  # gamma, mean, variance (positive)
            parts += [rng.uniform(0.5, 1.5, filters), rng.normal(0, 0.2, filters),
                      rng.uniform(0.5, 2.0, filters)]
        count = layer.params['floats'] - filters * (4 if normalize else 1)
        parts.append(rng.normal(0, np.sqrt(2 * filters / count), count))  # He: 2 / fan-in
    floats = np.concatenate(parts).astype('<f4')
    assert len(floats) == network.weight_floats
    # Version 0.2.5: 'seen' is 64-bit.
    Path(path).write_bytes(struct.pack('<3iq', 0, 2, 5, 32013) + floats.tobytes())


def sample_image(width, height):
    """Return a BGR image of another size and aspect than the network input."""
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, 3 * width * height).reshape(height, width, 3)
    return np.clip(ramp + rng.normal(0, 40, ramp.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Return (cfg, weights, names) of a 2-class 160x160 YOLOv3-tiny from face-darknet-config."""
    folder = tmp_path_factory.mktemp('tiny')
    (folder / 'yolov3-tiny.cfg').write_text(YOLOV3_TINY)
    (folder / 'train.txt').write_text('/x/a.jpg\n')
    (folder / 'test.txt').write_text('/x/b.jpg\n')
    result = run('face_detector_ros.tools.darknet_config', folder / 'darknet', '--cfg',
                 folder / 'yolov3-tiny.cfg', '--train', folder / 'train.txt', '--valid',
                 folder / 'test.txt', '--classes', 'good,bad', '--size', 160)
    assert result.returncode == 0, result.stderr
    cfg = folder / 'darknet' / 'yolov3-tiny-obj.cfg'
    write_weights(folder / 'tiny.weights', cfg)
    return cfg, folder / 'tiny.weights', folder / 'darknet' / 'obj.names'


@pytest.fixture(scope='module')
def tiny_export(tiny, tmp_path_factory):
    """Run face-export --darknet on the tiny model; return (output folder, the process)."""
    cfg, weights, names = tiny
    output = tmp_path_factory.mktemp('export') / 'mask'
    result = run('face_detector_ros.training.export', '--darknet', cfg, weights, output,
                 '--names', names, '--samples', 2)
    assert result.returncode == 0, result.stderr
    return output, result


def opencv_outputs(cfg, weights, blob):
    """Return OpenCV's raw [yolo] input grids (NCHW) and decoded rows, in cfg order."""
    reader = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    yolos = [name for name in reader.getLayerNames() if name.startswith('yolo_')]
    reader.setInput(blob)
    outputs = reader.forward([name.replace('yolo_', 'permute_') for name in yolos] + yolos)
    grids = [np.transpose(grid, (0, 3, 1, 2)) for grid in outputs[:len(yolos)]]
    return grids, outputs[len(yolos):]


def ir_outputs(xml, blob):
    """Return the IR's outputs on a blob, CPU in f32, in output order."""
    core = ov.Core()
    compiled = core.compile_model(core.read_model(xml), 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    result = compiled(blob)
    return [result[output] for output in compiled.outputs]


def compare_with_opencv(cfg, weights, xml, card, image):
    """
    Return the largest IR - OpenCV differences: grid value, box corner (both relative), score.

    The blob is OpenCV's darknet input (RGB, / 255, plain resize). Grid differences are relative
    to the largest |grid value|. The boxes are every anchor of every cell, decoded by the
    project's yolo decoder (threshold 0, no NMS) on the IR's grids and by OpenCV's [yolo] layer,
    paired by position; corner differences are relative to the box's width or height.
    """
    width, height = card['input_size']
    blob = cv2.dnn.blobFromImage(image, 1 / 255, (width, height), swapRB=True, crop=False)
    grids, rows = opencv_outputs(cfg, weights, blob)
    ours = ir_outputs(xml, blob)
    assert [grid.shape for grid in ours] == [grid.shape for grid in grids]
    largest = max(float(np.abs(grid).max()) for grid in grids)
    grid_error = max(float(np.abs(a - b).max()) for a, b in zip(ours, grids)) / largest
    found = make_decoder(card)(ours, 0.0, 1.0, 10 ** 6)
    rows = np.concatenate(rows)
    assert len(found.boxes) == len(rows)
    centres, sizes = rows[:, :2] * [width, height], rows[:, 2:4] * [width, height]
    boxes = np.column_stack([centres - sizes / 2, centres + sizes / 2])
    nearest = np.abs(found.boxes[:, None] - boxes[None]).max(axis=2).argmin(axis=0)
    # Random weights make boxes of up to thousands of pixels: corner error / box size.
    box_error = float((np.abs(found.boxes[nearest] - boxes) / np.tile(sizes, 2)).max())
    # OpenCV's rows hold obj x class probability per class, 0 where that is 0.2 or less.
    scores, found_scores = rows[:, 5:].max(axis=1), found.scores[nearest]
    shown = scores > 0
    assert shown.sum() > len(rows) / 10 and (found_scores[~shown] <= 0.2 + 1e-3).all()
    score_error = float(np.abs(found_scores - scores)[shown].max())
    return grid_error, box_error, score_error


def test_face_darknet_config_yolov3_tiny_matches_opencv(tiny, tiny_export):
    cfg, weights, names = tiny
    output, result = tiny_export
    assert sorted(path.name for path in output.iterdir()) == [
        'yolov3-tiny-obj.bin', 'yolov3-tiny-obj.onnx', 'yolov3-tiny-obj.xml',
        'yolov3-tiny-obj.yaml', 'yolov3-tiny-obj_fp32.bin', 'yolov3-tiny-obj_fp32.xml',
        'yolov3-tiny-obj_fp32.yaml']
    assert "largest differences from OpenCV's darknet reader on 2 noise inputs" in result.stdout
    card = yaml.safe_load((output / 'yolov3-tiny-obj.yaml').read_text())
    assert {key: card[key] for key in ('decoder', 'layout', 'input_size', 'input_layout',
                                       'color_order', 'mean', 'std', 'labels', 'anchors',
                                       'masks', 'strides')} == {
        'decoder': 'yolo', 'layout': 'darknet', 'input_size': [160, 160],
        'input_layout': 'nchw', 'color_order': 'rgb', 'mean': [0.0] * 3, 'std': [255.0] * 3,
        'labels': ['good', 'bad'],
        'anchors': [[10, 14], [23, 27], [37, 58], [81, 82], [135, 169], [344, 319]],
        'masks': [[3, 4, 5], [0, 1, 2]], 'strides': [32, 16]}
    assert 'scale_x_y' not in card
    image = sample_image(200, 120)
    for stem, grid_tolerance, box_tolerance, score_tolerance in (
            ('yolov3-tiny-obj_fp32', 1e-4, 1e-4, 1e-4), ('yolov3-tiny-obj', 1e-2, 1e-2, 1e-2)):
        card = yaml.safe_load((output / f'{stem}.yaml').read_text())
        errors = compare_with_opencv(cfg, weights, output / f'{stem}.xml', card, image)
        print(f'{stem}: largest |IR - OpenCV| relative in a grid value %.2g, in a box corner '
              '%.2g, in a score %.2g' % errors)
        assert all(error < tolerance for error, tolerance in zip(
            errors, (grid_tolerance, box_tolerance, score_tolerance))), errors


def test_v4_tiny_style_cfg_matches_opencv(tmp_path, monkeypatch):
    cfg = tmp_path / 'v4-tiny-style.cfg'
    cfg.write_text(V4_TINY_STYLE)
    write_weights(tmp_path / 'v4.weights', cfg, seed=3)
    network = darknet_import.parse_network(darknet_import.read_cfg(cfg))
    shapes = [layer.shape for layer in network.layers]
    assert shapes[2] == (16, 32, 40) and shapes[11] == shapes[12] == (64, 8, 10)
    image = sample_image(300, 240)
    # With OpenCV's BatchNorm epsilon (1e-6, pjreddie's) the two compute the same network.
    for epsilon, tolerance in ((1e-6, 1e-5), (darknet_import.BN_EPSILON, 1e-4)):
        monkeypatch.setattr(darknet_import, 'BN_EPSILON', epsilon)
        output = tmp_path / f'export_{epsilon}'
        darknet_import.export(cfg, tmp_path / 'v4.weights', output, samples=1)
        onnx.checker.check_model(str(output / 'v4-tiny-style.onnx'))
        card = yaml.safe_load((output / 'v4-tiny-style_fp32.yaml').read_text())
        assert card['scale_x_y'] == 1.05 and card['strides'] == [16, 8]
        assert card['labels'] == ['class0', 'class1'] and card['input_size'] == [160, 128]
        errors = compare_with_opencv(cfg, tmp_path / 'v4.weights',
                                     output / 'v4-tiny-style_fp32.xml', card, image)
        print(f'v4-tiny style, BatchNorm epsilon {epsilon}: largest |IR FP32 - OpenCV| relative '
              'in a grid value %.2g, in a box corner %.2g, in a score %.2g' % errors)
        assert all(error < tolerance
                   for error, tolerance in zip(errors, (tolerance, tolerance, 1e-4))), errors


def test_face_detect_runs_the_exported_card(tiny_export, tmp_path):
    output, _ = tiny_export
    cv2.imwrite(str(tmp_path / 'photo.jpg'), sample_image(320, 240))
    result = run('face_detector_ros.tools.detect', '--json', '--threshold', 0.01, '--model',
                 output / 'yolov3-tiny-obj.yaml', tmp_path / 'photo.jpg')
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.splitlines()[0])
    assert (record['width'], record['height']) == (320, 240)
    # Random weights: only the format is checked.
    assert record['detections']
    for detection in record['detections']:
        assert detection['label'] in ('good', 'bad') and len(detection['bbox']) == 4
        assert 0.01 <= detection['score'] <= 1


def export_error(capsys, *argv):
    """Run face-export in-process; return (status, stderr lines)."""
    status = export_main([str(arg) for arg in argv])
    return status, capsys.readouterr().err.strip().splitlines()


def broken_cfgs(text):
    """Yield (name, cfg bytes, expected message with {cfg} and line numbers) cases."""
    lines = text.splitlines()
    avgpool = lines.index('[maxpool]') + 1
    yield 'unsupported layer', '\n'.join(
        lines[:avgpool - 1] + ['[avgpool]'] + lines[avgpool:]).encode(), (
        f'{{cfg}}:{avgpool}: [avgpool] is not supported (face-export --darknet reads '
        'convolutional, maxpool, route, shortcut, upsample, yolo)')
    leaky = lines.index('activation=leaky') + 1
    yield 'unsupported activation', '\n'.join(
        lines[:leaky - 1] + ['activation=gelu'] + lines[leaky:]).encode(), (
        f'{{cfg}}:{leaky}: [convolutional] activation=gelu is not supported (face-export '
        '--darknet reads leaky, linear, logistic, relu, mish, swish)')
    yield 'binary', b'\x89PNG\r\n\x1a\n\x00\x00', (
        '{cfg}: not a text darknet cfg (invalid start byte at byte 0)')
    yield 'NUL', text.encode() + b'\x00', (
        f'{{cfg}}: not a text darknet cfg (NUL at byte {len(text.encode())})')


@pytest.mark.parametrize('case', ['unsupported layer', 'unsupported activation', 'binary',
                                  'NUL'])
def test_bad_cfg_is_one_line_and_writes_nothing(tiny, tmp_path, capsys, case):
    cfg, weights, _ = tiny
    content, message = next((content, message) for name, content, message
                            in broken_cfgs(cfg.read_text()) if name == case)
    broken = tmp_path / 'broken.cfg'
    broken.write_bytes(content)
    status, lines = export_error(capsys, '--darknet', broken, weights, tmp_path / 'out')
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].endswith(f'error: {message.format(cfg=broken)}'), lines
    assert sorted(os.listdir(tmp_path)) == ['broken.cfg']


@pytest.mark.parametrize('change, size, held', [
    (-4, 'short', lambda needed: needed - 1),
    (12, 'long', lambda needed: needed + 3),
    (2, 'long', lambda needed: f'{needed}.50')])  # not whole floats
def test_weights_of_the_wrong_size_give_both_sizes(tiny, tmp_path, capsys, change, size, held):
    cfg, weights, _ = tiny
    data = weights.read_bytes()
    needed = (len(data) - 20) // 4
    wrong = tmp_path / 'wrong.weights'
    wrong.write_bytes(data[:change] if change < 0 else data + bytes(change))
    status, lines = export_error(capsys, '--darknet', cfg, wrong, tmp_path / 'out')
    held = held(needed)
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].endswith(f'error: {wrong} is too {size} for {cfg}: {held} floats of weights '
                             f'after its 20-byte header, the cfg needs {needed}'), lines
    assert sorted(os.listdir(tmp_path)) == ['wrong.weights']


def test_interrupted_export_leaves_nothing(tiny, tmp_path, capsys, monkeypatch):
    cfg, weights, _ = tiny

    def interrupt(*args):
        raise KeyboardInterrupt  # Ctrl-C after every file was written into the staging folder

    monkeypatch.setattr(darknet_import, 'opencv_differences', interrupt)
    status, lines = export_error(capsys, '--darknet', cfg, weights, tmp_path / 'out')
    assert status == 130 and lines[-1].endswith('interrupted, no output written')
    assert os.listdir(tmp_path) == []


def test_names_and_command_line_mistakes(tiny, tmp_path, capsys):
    cfg, weights, _ = tiny
    (tmp_path / 'three.names').write_text('a\nb\nc\n')
    status, lines = export_error(capsys, '--darknet', cfg, weights, tmp_path / 'out', '--names',
                                 tmp_path / 'three.names')
    assert status == 2 and lines == [
        f'{Path(sys.argv[0]).name}: error: {tmp_path / "three.names"} has 3 class names, '
        f'{cfg} has classes=2']
    for argv, message in ((['--darknet', cfg, weights], 'takes CFG WEIGHTS OUTPUT'),
                          (['x.pt', 'out', '--darknet', cfg, weights], 'no checkpoint'),
                          (['--darknet', cfg, weights, 'out', '--int8'], 'do not apply'),
                          (['x.pt'], 'needs CHECKPOINT and OUTPUT'),
                          (['x.pt', 'out', '--names', 'a.names'], '--names needs --darknet')):
        with pytest.raises(SystemExit) as stopped:
            export_main([str(arg) for arg in argv])
        assert stopped.value.code == 2 and message in capsys.readouterr().err
    assert os.listdir(tmp_path) == ['three.names']


@pytest.mark.parametrize('old, new, message', [
    ('scale_x_y = 1.05', 'scale_x_y = 1.1', '{cfg}: the [yolo] layers (line {yolo}, line {yolo2}) '
     'differ in scale_x_y [1.1, 1.05]; the yolo decoder takes one'),
    ('classes=2', 'classes=3', '{cfg}:{yolo}: [yolo] reads 21 channels, but 3 anchors x (5 + 3 '
     'classes) need 24'),
    ('layers=-1,9', 'layers=-1,30', '{cfg}:{edited}: [route] layers=-1,30 names layer 30, but '
     'only layers 0-18 come before it'),
    ('from=-2', 'from=-4', '{cfg}:{edited}: [shortcut] from=-4 has shape (32, 32, 40), the layer '
     'before it (16, 32, 40) (not supported)'),
    ('activation=mish', 'activation=mish\ndilation=2',
     '{cfg}:{edited}: [convolutional] dilation=2 is not supported'),
], ids=['scale_x_y', 'channels', 'route', 'shortcut', 'dilation'])
def test_cfg_the_decoder_or_importer_cannot_take_names_its_line(tmp_path, old, new, message):
    cfg = tmp_path / 'v4.cfg'
    text = V4_TINY_STYLE.replace(old, new, 1)
    cfg.write_text(text)
    lines = text.splitlines()
    yolos = [number for number, line in enumerate(lines, 1) if line == '[yolo]']
    edited = lines.index(new.splitlines()[-1]) + 1
    with pytest.raises(darknet_import.DarknetError) as refused:
        darknet_import.parse_network(darknet_import.read_cfg(cfg))
    assert str(refused.value) == message.format(cfg=cfg, yolo=yolos[0], yolo2=yolos[1],
                                                edited=edited)


def test_the_importer_itself_needs_no_torch(tiny):
    cfg, weights, _ = tiny
    path = Path(darknet_import.__file__)
    code = ("import sys, importlib.util; sys.modules['torch'] = None; "
            f"spec = importlib.util.spec_from_file_location('darknet_import', {str(path)!r}); "
            'module = sys.modules[spec.name] = importlib.util.module_from_spec(spec); '
            'spec.loader.exec_module(module); '
            f'network, weights = module.load({str(cfg)!r}, {str(weights)!r}); '
            'print(len(module.build_onnx(network, weights).graph.output))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0 and result.stdout.strip() == '2', result.stderr
    assert importlib.util.find_spec('torch') is not None  # the package around it still does
