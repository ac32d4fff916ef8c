"""
The interface packages a robot's nodes must agree with: fields, constants and type hashes.

hri_msgs, tf2_msgs and vision_msgs have no wheel; the Makefile builds them from dev/<name> for
development. They must match the released definitions field for field (hri_msgs 2.3.x of
ros4hri, tf2_msgs of ros2/geometry2 Jazzy, vision_msgs 4.1.x), or nodes built here would not
talk to a robot's: since Jazzy, a subscription matches a publisher only when the RIHS01 type
hashes agree. On a robot (or any ROS install) the same tests check the distribution's packages.
"""

import importlib
import json
from pathlib import Path

from hri_msgs.msg import (
    AudioFeatures,
    BodyPosture,
    EngagementLevel,
    Expression,
    FacialActionUnits,
    FacialLandmarks,
    Gaze,
    Gesture,
    Group,
    IdsList,
    IdsMatch,
    LiveSpeech,
    NormalizedPointOfInterest2D,
    NormalizedPointOfInterest2DStamped,
    NormalizedRegionOfInterest2D,
    Skeleton2D,
    SoftBiometrics,
)
import pytest
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection2DArray

HEADER = {'header': 'std_msgs/Header'}

# get_fields_and_field_types() of the released definitions, in field order.
FIELDS = {
    AudioFeatures: {'zcr': 'float', 'rms': 'float', 'pitch': 'float', 'hnr': 'float',
                    'mfcc': 'sequence<float>'},
    BodyPosture: {**HEADER, 'posture': 'uint8'},
    EngagementLevel: {**HEADER, 'level': 'uint8'},
    Expression: {**HEADER, 'expression': 'string', 'valence': 'float', 'arousal': 'float',
                 'confidence': 'float'},
    FacialActionUnits: {**HEADER, 'intensity': 'float[99]', 'confidence': 'float[99]'},
    FacialLandmarks: {**HEADER, 'landmarks': 'hri_msgs/NormalizedPointOfInterest2D[70]',
                      'height': 'uint32', 'width': 'uint32'},
    Gaze: {**HEADER, 'sender': 'string', 'receiver': 'string'},
    Gesture: {**HEADER, 'gesture': 'uint8', 'handedness': 'uint8'},
    Group: {**HEADER, 'group_id': 'string', 'members': 'sequence<string>'},
    IdsList: {**HEADER, 'ids': 'sequence<string>'},
    IdsMatch: {'id1': 'string', 'id1_type': 'int8', 'id2': 'string', 'id2_type': 'int8',
               'confidence': 'float'},
    LiveSpeech: {**HEADER, 'incremental': 'string', 'final': 'string', 'confidence': 'double',
                 'locale': 'string'},
    NormalizedPointOfInterest2D: {'x': 'float', 'y': 'float', 'c': 'float'},
    NormalizedPointOfInterest2DStamped: {**HEADER, 'x': 'float', 'y': 'float', 'c': 'float'},
    NormalizedRegionOfInterest2D: {**HEADER, 'xmin': 'float', 'ymin': 'float', 'xmax': 'float',
                                   'ymax': 'float', 'c': 'float'},
    Skeleton2D: {**HEADER, 'skeleton': 'hri_msgs/NormalizedPointOfInterest2D[18]'},
    SoftBiometrics: {**HEADER, 'age': 'uint8', 'age_confidence': 'float', 'gender': 'uint8',
                     'gender_confidence': 'float'},
    TFMessage: {'transforms': 'sequence<geometry_msgs/TransformStamped>'},
}

# The landmark index constants of hri_msgs/FacialLandmarks 2.3.x (dlib / OpenPose order).
LANDMARKS = {
    'RIGHT_EAR': 0, 'RIGHT_PROFILE_1': 1, 'RIGHT_PROFILE_2': 2, 'RIGHT_PROFILE_3': 3,
    'RIGHT_PROFILE_4': 4, 'RIGHT_PROFILE_5': 5, 'RIGHT_PROFILE_6': 6, 'RIGHT_PROFILE_7': 7,
    'MENTON': 8,
    'LEFT_EAR': 16, 'LEFT_PROFILE_1': 15, 'LEFT_PROFILE_2': 14, 'LEFT_PROFILE_3': 13,
    'LEFT_PROFILE_4': 12, 'LEFT_PROFILE_5': 11, 'LEFT_PROFILE_6': 10, 'LEFT_PROFILE_7': 9,
    'RIGHT_EYEBROW_OUTSIDE': 17, 'RIGHT_EYEBROW_1': 18, 'RIGHT_EYEBROW_2': 19,
    'RIGHT_EYEBROW_3': 20, 'RIGHT_EYEBROW_INSIDE': 21,
    'RIGHT_EYE_OUTSIDE': 36, 'RIGHT_EYE_TOP_1': 37, 'RIGHT_EYE_TOP_2': 38,
    'RIGHT_EYE_INSIDE': 39, 'RIGHT_EYE_BOTTOM_1': 41, 'RIGHT_EYE_BOTTOM_2': 40,
    'RIGHT_PUPIL': 68,
    'LEFT_EYEBROW_OUTSIDE': 26, 'LEFT_EYEBROW_1': 25, 'LEFT_EYEBROW_2': 24,
    'LEFT_EYEBROW_3': 23, 'LEFT_EYEBROW_INSIDE': 22,
    'LEFT_EYE_OUTSIDE': 45, 'LEFT_EYE_TOP_1': 44, 'LEFT_EYE_TOP_2': 43, 'LEFT_EYE_INSIDE': 42,
    'LEFT_EYE_BOTTOM_1': 46, 'LEFT_EYE_BOTTOM_2': 47,
    'LEFT_PUPIL': 69,
    'SELLION': 27, 'NOSE_1': 28, 'NOSE_2': 29, 'NOSE': 30,
    'NOSTRIL_1': 31, 'NOSTRIL_2': 32, 'NOSTRIL_3': 33, 'NOSTRIL_4': 34, 'NOSTRIL_5': 35,
    'MOUTH_OUTER_RIGHT': 48, 'MOUTH_OUTER_TOP_1': 49, 'MOUTH_OUTER_TOP_2': 50,
    'MOUTH_OUTER_TOP_3': 51, 'MOUTH_OUTER_TOP_4': 52, 'MOUTH_OUTER_TOP_5': 53,
    'MOUTH_OUTER_LEFT': 54, 'MOUTH_OUTER_BOTTOM_1': 59, 'MOUTH_OUTER_BOTTOM_2': 58,
    'MOUTH_OUTER_BOTTOM_3': 57, 'MOUTH_OUTER_BOTTOM_4': 56, 'MOUTH_OUTER_BOTTOM_5': 55,
    'MOUTH_INNER_RIGHT': 60, 'MOUTH_INNER_TOP_1': 61, 'MOUTH_INNER_TOP_2': 62,
    'MOUTH_INNER_TOP_3': 63, 'MOUTH_INNER_LEFT': 64, 'MOUTH_INNER_BOTTOM_1': 67,
    'MOUTH_INNER_BOTTOM_2': 66, 'MOUTH_INNER_BOTTOM_3': 65,
}

# RIHS01 type hashes, as rosidl (Jazzy, rosidl_generator_type_description 4.6.6) computes them
# from the definitions in dev/. TFMessage's is also the value public Jazzy systems report
# (`ros2 topic info --verbose`, rosbag2 metadata type_description_hash); no published value of
# the hri_msgs and vision_msgs releases was found, so theirs are pinned so that any edit of a
# field, a type or the field order is caught. The hash covers field names, types and order (and
# those of nested types), not comments or constants; the constants are checked above.
TYPE_HASHES = {
    'hri_msgs/msg/IdsList':
        'RIHS01_7e0812d1ac945c98fd3e393568d581ad0ab567f37b24eff633eab778c1bfe62d',
    'hri_msgs/msg/NormalizedRegionOfInterest2D':
        'RIHS01_2e50c93f1ca166ee77af9a5424dc951ae4e452b740162a7f83c082d917dcaff5',
    'hri_msgs/msg/FacialLandmarks':
        'RIHS01_f1d6b0ba159f4d6be1632e5dfc9cb79ce5e35da73888da2a4789bd9b35112a63',
    'tf2_msgs/msg/TFMessage':
        'RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087',
    'vision_msgs/msg/Detection2DArray':
        'RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968',
}


def type_hash(name):
    """Return the RIHS01 hash rosidl wrote into <prefix>/share/<package>/msg/<Type>.json."""
    package, kind, type_name = name.split('/')
    # <prefix>/lib/pythonX.Y/site-packages/<package>/__init__.py, in the venv as on a robot
    # (AMENT_PREFIX_PATH is not set in the venv, so the ament index cannot say).
    prefix = Path(importlib.import_module(package).__file__).resolve().parents[4]
    path = prefix / 'share' / package / kind / f'{type_name}.json'
    hashes = json.loads(path.read_text())['type_hashes']
    return next(entry['hash_string'] for entry in hashes if entry['type_name'] == name)


@pytest.mark.parametrize('message', list(FIELDS), ids=lambda message: message.__name__)
def test_fields_and_types_are_the_released_ones(message):
    assert message.get_fields_and_field_types() == FIELDS[message]


def test_every_released_hri_message_is_built():
    import hri_msgs.msg

    built = {name for name in dir(hri_msgs.msg) if not name.startswith('_')}
    assert built == {message.__name__ for message in FIELDS} - {'TFMessage'}


def test_facial_landmark_constants_are_the_released_indices():
    assert {name: getattr(FacialLandmarks, name) for name in LANDMARKS} == LANDMARKS
    assert sorted(LANDMARKS.values()) == list(range(70))  # one per landmarks[] entry
    assert len(FacialLandmarks().landmarks) == 70


def test_other_constants_keep_their_values():
    assert (Gesture.WAVING, Gesture.LOVE, Gesture.OTHER, Gesture.LEFT) == (6, 13, 0, 2)
    assert (IdsMatch.UNSET, IdsMatch.PERSON, IdsMatch.FACE, IdsMatch.VOICE) == (0, 1, 2, 4)
    assert (Skeleton2D.NOSE, Skeleton2D.RIGHT_EAR) == (0, 17)
    assert (SoftBiometrics.FEMALE, SoftBiometrics.MALE) == (1, 2)
    assert EngagementLevel.DISENGAGING == 4 and Expression.HAPPY == 'happy'
    assert FacialActionUnits.FAST_UP_DOWN_LOOK == 98 and BodyPosture.LAYING == 4


@pytest.mark.parametrize('name', list(TYPE_HASHES))
def test_type_hash_is_pinned(name):
    assert type_hash(name) == TYPE_HASHES[name]


def test_detection_array_is_the_vision_msgs_the_hash_describes():
    assert Detection2DArray.get_fields_and_field_types() == {
        'header': 'std_msgs/Header', 'detections': 'sequence<vision_msgs/Detection2D>'}
