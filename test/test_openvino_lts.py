"""
The pure modules on what a Humble robot with a Neural Compute Stick 2 runs.

.venv-lts (made by `make test` when a Python 3.10 is installed) has Python 3.10, OpenVINO
2022.3 (the last release with MYRIAD, `openvino.runtime` API, no TFLite reader), numpy 1.23
and OpenCV 4.8. The same computations run here and there must agree.
"""

import json
from pathlib import Path
import subprocess

import cv2
from face_detector_ros.detection.engine import InferenceEngine
from face_detector_ros.simulation.scenarios import generate
from face_detector_ros.tracking.face_geometry import CameraModel, locate_faces
from face_detector_ros.tracking.tracker import CentroidTracker
import numpy as np
import pytest
import skimage.data

ROOT = Path(__file__).resolve().parent.parent
LTS_PYTHON = ROOT / '.venv-lts' / 'bin' / 'python'
CAMERA_K = [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]]
CAMERA_D = [-0.3, 0.1, 0.001, -0.001, 0.0]
FACE_BOXES = [[100.0, 100.0, 180.0, 190.0], [400.0, 300.0, 430.0, 335.0]]
# Profiles whose model files OpenVINO 2022.3 reads (the full-range IR uses Interpolate-11).
# face_mask_ssd scores the astronaut's face 0.41 (good) and 0.38 (bad): below its card's 0.5.
LTS_THRESHOLDS = {'face_mask_ssd': 0.3}
LTS_MODELS = ('blazeface_short_range', 'blazeface_small_faces', 'retinaface',
              'retinaface_640x480', 'retinaface_320x240', 'mobilenet_ssd_wider', 'face_mask_ssd',
              'face_mask')

# Runs in .venv-lts; prints one JSON object. Kept free of anything newer than Python 3.10.
PROGRAM = """
import json, sys
sys.path.insert(0, sys.argv[1])
import cv2, numpy, openvino
from face_detector_ros.detection.engine import InferenceEngine
from face_detector_ros.tracking.face_geometry import CameraModel, locate_faces
from face_detector_ros.simulation.scenarios import generate
from face_detector_ros.tracking.tracker import CentroidTracker
args = json.loads(sys.argv[2])
image = cv2.imread(args['image'])
result = {'versions': [sys.version.split()[0], numpy.__version__, cv2.__version__,
                       openvino.runtime.get_version()]}
for model in args['models']:
    engine = InferenceEngine(model, device='MYRIAD,CPU')
    engine.set_thresholds(args['thresholds'].get(model, -1.0))
    result[model] = [engine.device, engine.detect(image).boxes.tolist()]
engine = InferenceEngine('blazeface_short_range', device='CPU', num_requests=2)
for tag in range(6):
    engine.submit(image, tag=tag)
result['async'] = [[tag for tag, _ in engine.results(wait=True)], engine.dropped]
tracker = CentroidTracker()
ids = []
for frame in generate('crossing', fps=7.0).frames:
    ids.append(sorted(t.id for t in tracker.update(frame.boxes, frame.scores, frame.labels,
                                                   frame.stamp)))
result['track_ids'] = ids
camera = CameraModel(args['k'], args['d'])
result['positions'] = locate_faces(camera, args['boxes']).positions.tolist()
print(json.dumps(result))
"""


@pytest.fixture(scope='module')
def lts_result(tmp_path_factory):
    if not LTS_PYTHON.exists():
        pytest.skip('.venv-lts missing: install a Python 3.10 and run make test')
    image = tmp_path_factory.mktemp('lts') / 'astronaut.png'
    cv2.imwrite(str(image), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    args = {'image': str(image), 'k': CAMERA_K, 'd': CAMERA_D, 'boxes': FACE_BOXES,
            'thresholds': LTS_THRESHOLDS,
            'models': LTS_MODELS}
    run = subprocess.run([str(LTS_PYTHON), '-c', PROGRAM, str(ROOT), json.dumps(args)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout), image, run.stderr


def test_lts_environment_is_what_a_humble_stick_robot_has(lts_result):
    python, numpy_version, opencv, openvino_version = lts_result[0]['versions']
    assert python.startswith('3.10.') and numpy_version.startswith('1.')
    assert opencv.startswith('4.8') and openvino_version.startswith('2022.3')


def test_openvino_2022_3_detects_like_the_current_release(lts_result):
    result, image, stderr = lts_result
    # MYRIAD is asked for first: skipped with the reason, the CPU takes over.
    assert 'device MYRIAD skipped' in stderr
    frame = cv2.imread(str(image))
    for model in LTS_MODELS:
        device, boxes = result[model]
        assert device == 'CPU' and len(boxes) >= 1, (model, boxes)
        engine = InferenceEngine(model, device='CPU')
        engine.set_thresholds(LTS_THRESHOLDS.get(model, -1.0))
        np.testing.assert_allclose(boxes, engine.detect(frame).boxes, atol=0.05)
    tags, dropped = result['async']
    assert tags == sorted(tags) and tags[-1] == 5 and len(tags) + dropped == 6


def test_numpy_1_and_opencv_4_8_track_and_locate_like_here(lts_result):
    result = lts_result[0]
    tracker = CentroidTracker()
    ids = [sorted(t.id for t in tracker.update(f.boxes, f.scores, f.labels, f.stamp))
           for f in generate('crossing', fps=7.0).frames]
    assert result['track_ids'] == ids and any(ids)
    positions = locate_faces(CameraModel(CAMERA_K, CAMERA_D), FACE_BOXES).positions
    np.testing.assert_allclose(result['positions'], positions, rtol=1e-9)
