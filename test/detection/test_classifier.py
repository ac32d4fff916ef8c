"""The second stage: crops around faces, a card's classifier, the two-stage face_mask profile."""

import cv2
from face_detector_ros.detection.classifier import CropClassifier, square_crops
from face_detector_ros.detection.engine import InferenceEngine
from face_detector_ros.detection.model_cards import ModelError, models_dir
from face_detector_ros.detection.openvino_api import Core
import numpy as np
import pytest
import skimage.data

ASTRONAUT_FACE = (181, 90, 267, 180)  # tight box (simulation/faces.py)


@pytest.fixture(scope='module')
def astronaut():
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def test_a_crop_is_a_square_around_the_box_centre_with_context():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = 255  # a 20 x 20 white square centred at (100, 50)
    crop = square_crops(image, [(90, 40, 110, 60)], 40, 2.0)[0]
    # Side 2 x 20 = 40 px of the image at scale 1: the square fills the middle half.
    assert crop.shape == (40, 40, 3)
    assert crop[12:28, 12:28].min() == 255 and crop[:8].max() == 0 and crop[:, :8].max() == 0
    # A wide box: the longer side sets the square; beyond the image the border repeats.
    edge = np.zeros((50, 50), np.uint8)
    edge[:, :5] = 200
    crops = square_crops(edge, [(0, 20, 20, 30), (10, 10, 30, 30)], 16, 1.0)
    assert crops.shape == (2, 16, 16) and crops[0, :, 0].min() == 200
    rng = np.random.default_rng(0)
    jittered = square_crops(image, [(90, 40, 110, 60)] * 5, 40, 2.0, jitter=rng)
    assert len({crop.tobytes() for crop in jittered}) == 5


def test_the_mask_profile_tells_a_masked_face_from_a_bare_one(astronaut):
    """
    Both stages on a real photo: the bare face is `bad`, a painted-on mask makes it `good`.

    As in the face-mask set, a mask below the nose is worn incorrectly, which is `bad` too.
    """
    engine = InferenceEngine('face_mask')
    assert engine.labels == ['good', 'bad'] and engine.keypoint_names
    bare = engine.detect(astronaut)
    assert len(bare) == 1 and engine.labels[bare.class_ids[0]] == 'bad'
    assert 0.5 <= bare.scores[0] <= 1.0 and 'classify' in engine.timings
    nose_y = bare.keypoints[0, engine.keypoint_names.index('nose_tip'), 1]
    x1, y1, x2, y2 = ASTRONAUT_FACE
    assert y1 + 30 < nose_y < y1 + 45

    def wear(top, colour):
        cover = np.array([[x1 - 2, y1 + top], [x2 + 2, y1 + top], [x2 - 6, y2 + 5],
                          [(x1 + x2) // 2, y2 + 12], [x1 + 6, y2 + 5]], np.int32)
        return cv2.fillPoly(astronaut.copy(), [cover], colour)

    colours = ((255, 255, 255), (60, 60, 60), (230, 200, 170))
    for colour in colours:
        found = engine.detect(wear(30, colour))  # nose to chin, as a mask is worn
        assert len(found) == 1 and engine.labels[found.class_ids[0]] == 'good', colour
    engine.set_thresholds(score_threshold=0.5)
    for colour in colours:
        found = engine.detect(wear(45, colour))  # under the nose
        assert len(found) == 1 and engine.labels[found.class_ids[0]] == 'bad', colour
    # Below 0.5 a face comes out once per class that reaches the threshold, as from a
    # multi-class detector: the same box, the most probable class first. The white mask
    # under the nose is the one the classifier is least sure of.
    at_half = engine.detect(wear(45, colours[0]))
    engine.set_thresholds(score_threshold=0.01)
    low = engine.detect(wear(45, colours[0]))
    same = np.flatnonzero((low.boxes == low.boxes[0]).all(axis=1))
    assert [engine.labels[i] for i in low.class_ids[same]] == ['bad', 'good']
    assert low.scores[0] == pytest.approx(at_half.scores[0]) and low.scores[same[1]] < 0.5
    assert 0.9 < low.scores[same].sum() <= 1.0 and (np.diff(low.scores) <= 0).all()
    # The face's probability (the sum, over 0.9) times the class's: at the card's 0.7 neither
    # class of the unsure face reaches the threshold.
    engine.set_thresholds(score_threshold=0.7)
    assert len(engine.detect(wear(45, colours[0]))) == 0


@pytest.mark.parametrize('section, message', [
    ({'input_size': 64, 'labels': ['a', 'b']}, "needs 'file'"),
    ({'file': 'face_mask_classifier.xml', 'input_size': 64, 'labels': ['a']}, 'at least 2'),
    ({'file': 'face_mask_classifier.xml', 'input_size': 4, 'labels': ['a', 'b']}, 'input_size'),
    ({'file': 'face_mask_classifier.xml', 'input_size': 64, 'labels': ['a', 'b'],
      'context': 9}, 'context'),
    ({'file': 'nothing.xml', 'input_size': 64, 'labels': ['a', 'b']}, 'does not exist'),
    ({'file': 'face_mask_classifier.xml', 'input_size': 64, 'labels': ['a', 'b', 'c']},
     'expected one output of 3'),
    ({'file': 'retinaface_mnet025_320x240.xml', 'input_size': 64, 'labels': ['a', 'b']},
     'cannot read classifier file .*retinaface.*: Argument shapes are inconsistent'),
])
def test_a_bad_classifier_section_is_refused_naming_the_problem(section, message):
    card_path = str(models_dir() / 'face_mask.yaml')
    with pytest.raises(ModelError, match=message):
        CropClassifier(section, card_path, Core())
