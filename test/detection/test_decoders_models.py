"""The shipped BlazeFace cards against their real models: output shapes and a real face."""

from pathlib import Path

import cv2
from face_detector_ros.detection.decoders import make_decoder
import numpy as np
import openvino
import pytest
import skimage.data
import yaml

MODELS = Path(__file__).resolve().parents[2] / 'models'
CARDS = sorted(path for path in MODELS.glob('*.yaml')
               if yaml.safe_load(path.read_text())['decoder'] == 'blazeface')


@pytest.fixture(scope='module')
def core():
    return openvino.Core()


def test_blazeface_cards_are_shipped():
    assert {path.stem for path in CARDS} >= {'blazeface_short_range', 'blazeface_full_range'}


@pytest.mark.parametrize('card_path', CARDS, ids=lambda path: path.stem)
def test_card_decodes_the_model_outputs_on_the_astronaut(core, card_path):
    card = yaml.safe_load(card_path.read_text())
    model = core.compile_model(str(MODELS / card['file']), 'CPU',
                               {'INFERENCE_PRECISION_HINT': 'f32'})
    size = card['input_size']
    image = cv2.resize(skimage.data.astronaut(), tuple(size)).astype(np.float32)
    results = model([(image[None] - 127.5) / 127.5])
    found = make_decoder(card)([results[output] for output in model.outputs], 0.5, 0.3, 10)

    assert len(found) == 1
    assert found.scores[0] > 0.85
    # The face spans about x 175-275, y 70-175 of the 512 x 512 photo.
    x1, y1, x2, y2 = found.boxes[0] * 512 / size[0]
    assert 160 < x1 < 190 and 260 < x2 < 290 and 55 < y1 < 90 and 160 < y2 < 185
    # MediaPipe's keypoint order: right eye, left eye, nose, mouth, right ear, left ear, the
    # subject's right on the image's left.
    (rex, rey), (lex, ley), (_, nose_y), (_, mouth_y), (rear_x, _), (lear_x, _) = \
        found.keypoints[0] * 512 / size[0]
    assert rear_x < rex < lex < lear_x
    assert max(rey, ley) < nose_y < mouth_y
