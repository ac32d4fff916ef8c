"""Starting the MobileNet-SSD body from the RetinaFace-MobileNet0.25 ONNX that ships in models/."""

from pathlib import Path
import subprocess
import sys

import cv2
from face_detector_ros.datasets.annotations import Box
from face_detector_ros.datasets.yolo import write_names, write_yolo_txt
import numpy as np
import openvino as ov
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('onnx')

from face_detector_ros.training.backbone import (  # noqa: E402, I100
    BackboneError,
    load_body,
    read_body,
)
from face_detector_ros.training.model import MobileNetSSD, SSDConfig  # noqa: E402

RETINAFACE = Path(__file__).resolve().parents[2] / 'models' / 'retinaface_mnet025.onnx'
# The output of the last body block (conv13 of MobileNet v1) in the RetinaFace graph.
BODY_OUTPUT = '/fx/stage3/stage3.1/stage3.1.1/stage3.1.1.2/LeakyRelu'


def body_output(model, images):
    with torch.no_grad():
        features = images
        for layer in model.body:
            features = layer(features)
    return features.numpy()


def retinaface_body(pixels_minus_mean):
    """Run the ONNX up to its body output with OpenVINO on (B, 3, H, W) inputs."""
    core = ov.Core()
    graph = core.read_model(RETINAFACE)
    node = next(op for op in graph.get_ops() if op.get_friendly_name() == BODY_OUTPUT)
    graph.add_outputs([node.output(0)])
    graph.reshape({graph.inputs[0]: list(pixels_minus_mean.shape)})
    compiled = core.compile_model(graph, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    return compiled(pixels_minus_mean)[compiled.outputs[-1]]


def test_the_shipped_onnx_holds_a_mobilenet_x025_body():
    convolutions, slope = read_body(RETINAFACE)
    assert slope == 0.1 and len(convolutions) == 27
    weight, bias, groups, stride = convolutions[0]
    assert weight.shape == (8, 3, 3, 3) and bias.shape == (8,) and stride == (2, 2)
    assert [c[0].shape[0] for c in convolutions[-2:]] == [256, 256]  # conv13: 1024 x 0.25
    assert convolutions[1][2] == 8  # conv1 depthwise


@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_loaded_body_computes_what_the_retinaface_body_does(mode):
    # With a grey source mean both inputs pad with the same value, so the whole map must agree.
    # Train mode normalises by the batch's own statistics: on the fitting batch, the fitted ones.
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 3, 160, 192)).astype(np.float32)
    ours = torch.from_numpy((pixels - 127.5) / 127.5)
    model = MobileNetSSD(SSDConfig(input_size=160, width=0.25, leaky=0.1))
    load_body(model, RETINAFACE, ours, source_mean=(127.5,) * 3)
    getattr(model, mode)()
    wanted = retinaface_body(pixels - 127.5)
    got = body_output(model, ours)
    assert got.shape == wanted.shape == (4, 256, 5, 6)
    np.testing.assert_allclose(got, wanted, atol=1e-4 * np.abs(wanted).max())


def test_retinaface_mean_is_folded_into_the_first_convolution():
    pixels = np.random.default_rng(1).uniform(0, 255, (4, 3, 128, 128)).astype(np.float32)
    model = MobileNetSSD(SSDConfig(input_size=128, width=0.25, leaky=0.1)).eval()
    load_body(model, RETINAFACE, torch.from_numpy((pixels - 127.5) / 127.5))
    with torch.no_grad():
        first = model.body[0](torch.from_numpy((pixels - 127.5) / 127.5)).numpy()
    mean = np.array([104.0, 117.0, 123.0], np.float32)[None, :, None, None]
    weight, bias, _, _ = read_body(RETINAFACE)[0][0]
    source = torch.nn.functional.conv2d(torch.from_numpy(pixels - mean), torch.tensor(weight),
                                        torch.tensor(bias), stride=2, padding=1)
    wanted = torch.nn.functional.leaky_relu(source, 0.1).numpy()
    # Away from the border, where zero padding means another colour in each input.
    np.testing.assert_allclose(first[..., 1:, 1:], wanted[..., 1:, 1:], rtol=1e-4, atol=1e-3)


def test_a_body_of_another_width_or_activation_is_refused():
    images = torch.zeros(2, 3, 96, 96)
    with pytest.raises(BackboneError, match=r'convolution 1 .*width multiplier'):
        load_body(MobileNetSSD(SSDConfig(input_size=96, width=0.5, leaky=0.1)), RETINAFACE,
                  images)
    with pytest.raises(BackboneError, match='activation slope 0.1, the model 0'):
        load_body(MobileNetSSD(SSDConfig(input_size=96, width=0.25)), RETINAFACE, images)


def test_a_file_that_is_not_onnx_is_one_line(tmp_path):
    path = tmp_path / 'weights.onnx'
    path.write_bytes(b'\x00not a protobuf at all\xff' * 10)
    with pytest.raises(BackboneError, match='cannot read it as ONNX'):
        read_body(path)
    shipped_card = RETINAFACE.with_name('retinaface.yaml')
    with pytest.raises(BackboneError, match='cannot read it as ONNX|not a MobileNet'):
        read_body(shipped_card)


def test_face_train_refuses_a_missing_backbone_and_a_wrong_width_in_one_line(tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    write_names(['face'], data / 'face.names')
    cv2.imwrite(str(data / 'a.png'), np.full((64, 64, 3), 128, np.uint8))
    write_yolo_txt([Box('face', 10, 10, 40, 40)], data / 'a.txt', ['face'], 64, 64)
    for extra, message in ((('--init-backbone', 'nowhere.onnx'), 'no such file'),
                           (('--init-backbone', 'retinaface_mnet025.onnx'), 'width multiplier')):
        result = subprocess.run(
            [sys.executable, '-m', 'face_detector_ros.training.train', str(tmp_path / 'data'),
             str(tmp_path / 'run'), '--width', '0.5', '--input-size', '64', *extra],
            capture_output=True, text=True, timeout=120)
        assert result.returncode != 0
        assert message in result.stderr and result.stderr.count('\n') == 1, result.stderr
        assert not (tmp_path / 'run').exists()
