"""detector_node in a real graph: camera_node and detector_node in their own processes."""

import cv2
from diagnostic_msgs.msg import DiagnosticArray
from face_detector_ros.detection.engine import InferenceEngine
from face_detector_ros.detection.model_cards import DEFAULT_MODEL, shipped_models
from face_detector_ros.ros.common import qos_profile
from face_detector_ros.ros.images import numpy_to_image
from face_detector_ros.ros.messages import detection_array_to_boxes
from face_detector_ros.simulation import faces
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_helpers import executable, handshake, NodeProcess, spin_until
from sensor_msgs.msg import Image
import skimage.data
from vision_msgs.msg import Detection2DArray

pytestmark = pytest.mark.ros


def iou(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def write_scene(folder):
    """Frames with the astronaut's face at known boxes, then two frames without faces."""
    folder.mkdir()
    astronaut = faces.face_crops()[0]
    frames, truth = [], []
    for index, (x, y, size) in enumerate([(60, 80, 160), (300, 150, 120), (420, 60, 140)]):
        image = faces.background('brick', 640, 480)
        box = faces.paste_face(image, astronaut, (x, y, x + size, y + size * 1.05))
        frames.append(image)
        truth.append(box[None, :])
    for name in ('coffee', 'rocket'):
        frames.append(faces.background(name, 640, 480))
        truth.append(np.zeros((0, 4)))
    for index, image in enumerate(frames):
        cv2.imwrite(str(folder / f'frame_{index}.png'), image)
    return frames, truth


def detector(tmp_path, *params, name='detector'):
    args = [executable('detector_node'), '--ros-args', '-r', 'image:=image_raw']
    for param in params:
        args += ['-p', param]
    return NodeProcess(args, tmp_path / f'{name}.log')


def test_detects_faces_with_source_headers_and_falls_back_to_cpu(tmp_path, ros_node):
    node, executor = ros_node
    frames, truth = write_scene(tmp_path / 'frames')
    engine = InferenceEngine(DEFAULT_MODEL, device='CPU')
    images, arrays, diagnostics = [], [], []
    node.create_subscription(Image, 'image_raw', images.append, qos_profile('reliable', 10))
    node.create_subscription(Detection2DArray, 'detections', arrays.append,
                             qos_profile('reliable', 10))
    node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append,
                             qos_profile('reliable', 10))
    with detector(tmp_path, 'device:=MYRIAD,CPU', 'diagnostics_period:=0.3') as det:
        assert det.wait_for_output(f'model {DEFAULT_MODEL} runs on CPU'), det.output()
        camera = NodeProcess([executable('camera_node'), '--ros-args', '-p',
                              f'source:={tmp_path / "frames"}', '-p', 'fps:=2.0', '-p',
                              'wait_for_subscribers:=2', '-p', 'frame_id:=head_cam_optical'],
                             tmp_path / 'camera.log')
        with camera:
            assert camera.wait(timeout=30) == 0, camera.output()
            spin_until(executor, lambda: len(images) >= len(truth), timeout=5)
        # The detector keeps the newest frame (depth 1): on a loaded machine it may skip one,
        # so the frames it processed are found by stamp. Wait until two diagnostics in a row
        # say that every frame received was processed and published.

        def settled():
            counts = [{kv.key: kv.value for kv in d.status[0].values} for d in diagnostics[-2:]]
            return len(counts) == 2 and all(
                c['received_frames'] == c['processed_frames'] == str(len(arrays))
                for c in counts) and len(arrays) > 0

        assert spin_until(executor, settled, timeout=10), det.output()
        output = det.output()
    assert len(images) == len(truth) and len(arrays) >= 3, output + camera.output()
    assert 'MYRIAD' in output and 'skipped' in output  # the fallback is logged with a reason
    index_of = {(i.header.stamp.sec, i.header.stamp.nanosec): n for n, i in enumerate(images)}
    for array in arrays:
        index = index_of[(array.header.stamp.sec, array.header.stamp.nanosec)]
        expected, frame = truth[index], frames[index]
        assert images[index].header == array.header
        assert array.header.frame_id == 'head_cam_optical'
        boxes, scores, labels, _ = detection_array_to_boxes(array)
        assert len(boxes) == len(expected), (boxes, expected)
        for box in expected:
            assert max(iou(box, found) for found in boxes) >= 0.5
        # The node gives what the library gives on the same frame (f32 is deterministic).
        np.testing.assert_allclose(boxes, engine.detect(frame).boxes, atol=1e-3)
        assert set(labels) <= {'face'} and np.all(scores >= 0.5)
        assert all(d.header == array.header for d in array.detections)
    values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
    assert values['device'] == 'CPU' and diagnostics[-1].status[0].hardware_id == 'CPU'
    assert values['processed_frames'] == values['received_frames'] == str(len(arrays))
    assert 0 < float(values['latency_ms']) < 10_000  # camera stamps: image to detections


def call(node, executor, client, request, timeout=10.0):
    assert client.wait_for_service(timeout_sec=timeout)
    future = client.call_async(request)
    spin_until(executor, future.done, timeout)
    return future.result()


def string_parameter(name, value):
    return Parameter(name=name, value=ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                     string_value=value))


def test_bad_images_are_counted_and_the_node_goes_on(tmp_path, ros_node):
    node, executor = ros_node
    arrays, diagnostics = [], []
    node.create_subscription(Detection2DArray, 'detections', arrays.append,
                             qos_profile('reliable', 10))
    node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append,
                             qos_profile('reliable', 10))
    publisher = node.create_publisher(Image, 'image_raw', qos_profile('reliable', 10))
    with detector(tmp_path, 'image_qos:=reliable', 'diagnostics_period:=0.2') as det:
        face, face_boxes = faces.composed_image(320, 240, [100], seed=3)
        good = numpy_to_image(face, 'bgr8')
        assert handshake(executor, lambda header: publisher.publish(
            numpy_to_image(face, 'bgr8', header=header)), arrays, stamped=False), det.output()
        processed = len(arrays)
        del arrays[:]
        short = numpy_to_image(face, 'bgr8')
        short.data = bytes(short.data)[:-10]
        unknown = Image(height=2, width=2, step=2, encoding='nv21', data=b'\0' * 4)

        def counted(key, value):
            return lambda: diagnostics and {kv.key: kv.value for kv in diagnostics[-1].status[
                0].values}.get(key) == str(value)

        # One at a time (the detector keeps only the newest frame): each is counted first.
        for count, msg in enumerate((short, unknown, Image(encoding='bgr8')), 1):
            publisher.publish(msg)
            assert spin_until(executor, counted('bad_inputs', count), timeout=10), det.output()
        publisher.publish(good)
        assert spin_until(executor, lambda: len(arrays) >= 1, timeout=10), det.output()
        # The face is found (RetinaFace also scores a 26x34 patch of this background).
        found, _, _, _ = detection_array_to_boxes(arrays[-1])
        assert max(iou(face_boxes[0], box) for box in found) >= 0.5, found
        # A model change that cannot load is refused with the reason; the node keeps working.
        client = node.create_client(SetParameters, '/face_detector/set_parameters')
        result = call(node, executor, client, SetParameters.Request(
            parameters=[string_parameter('model', str(tmp_path / 'missing.yaml'))]))
        assert not result.results[0].successful
        assert 'missing.yaml' in result.results[0].reason
        publisher.publish(good)
        assert spin_until(executor, lambda: len(arrays) >= 2, timeout=10)
        assert spin_until(executor, counted('processed_frames', processed + 2),
                          timeout=10), det.output()
        output = det.output()
    # Errors are throttled: the first is logged with the reason, all are counted.
    assert 'height * step = 240 * 960' in output, output
    values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
    assert values['bad_inputs'] == '3' and values['processed_frames'] == str(processed + 2)
    assert 'latency_ms' not in values  # unstamped images: no latency to report
    assert det.process.returncode == 0


@pytest.mark.parametrize('param,message', [
    ('image_qos:=foo', "image_qos 'foo' is not one of auto, reliable, best_effort"),
    ('input_type:=foo', "input_type 'foo' is not one of raw, compressed")])
def test_unknown_image_qos_or_input_type_is_one_error_line_and_exit_1(tmp_path, param, message):
    with detector(tmp_path, param) as det:
        assert det.wait(timeout=30) == 1, det.output()
    assert message in det.output() and 'Traceback' not in det.output()


def test_missing_model_fails_configure_and_exits_nonzero(tmp_path):
    with detector(tmp_path, f'model:={tmp_path / "nope.xml"}') as det:
        assert det.wait(timeout=20) != 0
    assert 'nope.xml' in det.output() and 'Traceback' not in det.output()


def test_lifecycle_without_autostart(tmp_path, ros_node):
    node, executor = ros_node
    arrays = []
    node.create_subscription(Detection2DArray, 'detections', arrays.append,
                             qos_profile('reliable', 10))
    publisher = node.create_publisher(Image, 'image_raw', qos_profile('reliable', 10))
    face, _ = faces.composed_image(320, 240, [100], seed=4)
    # num_requests 2: the asynchronous path, results published by the node's timer.
    with detector(tmp_path, 'autostart:=false', 'image_qos:=reliable', 'num_requests:=2') as det:
        client = node.create_client(ChangeState, '/face_detector/change_state')
        assert client.wait_for_service(timeout_sec=20), det.output()  # the node is up
        spin_until(executor, lambda: False, timeout=0.5)
        assert publisher.get_subscription_count() == 0  # unconfigured: not listening
        # A transition the state does not have fails the request; the node lives on.
        response = call(node, executor, client, ChangeState.Request(
            transition=Transition(id=Transition.TRANSITION_ACTIVATE)))
        assert not response.success and det.process.poll() is None, det.output()
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            response = call(node, executor, client,
                            ChangeState.Request(transition=Transition(id=transition)))
            assert response.success, det.output()
        for wrong in (Transition(id=Transition.TRANSITION_CONFIGURE), Transition(label='activate'),
                      Transition(label='no such transition')):
            response = call(node, executor, client, ChangeState.Request(transition=wrong))
            assert not response.success and det.process.poll() is None, det.output()
        assert 'transition activate is not possible in state active' in det.output()

        def send(header):
            publisher.publish(numpy_to_image(face, 'bgr8', header=header))

        assert handshake(executor, send, arrays), det.output()
        # Deactivate, release the device, and bring it all back: detections again.
        for transition in (Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP,
                           Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            response = call(node, executor, client,
                            ChangeState.Request(transition=Transition(id=transition)))
            assert response.success, (transition, det.output())
            if transition == Transition.TRANSITION_DEACTIVATE:
                assert spin_until(executor, lambda: publisher.get_subscription_count() == 0,
                                  timeout=10)
        del arrays[:]
        assert handshake(executor, send, arrays), det.output()
        before = len(arrays)
        # Shutdown straight from active stops listening; images after it are ignored.
        response = call(node, executor, client, ChangeState.Request(
            transition=Transition(id=Transition.TRANSITION_ACTIVE_SHUTDOWN)))
        assert response.success, det.output()
        publisher.publish(numpy_to_image(face, 'bgr8'))
        spin_until(executor, lambda: False, timeout=0.5)
        assert det.process.poll() is None and len(arrays) == before
    assert 'Traceback' not in det.output()


# Profiles trained by this project (docs/training.md): they run in the node by name alone.
TRAINED_PROFILES = [name for name in ('mobilenet_ssd_wider', 'face_mask_ssd', 'face_mask')
                    if name in shipped_models()]


@pytest.mark.parametrize('model', TRAINED_PROFILES)
def test_a_trained_profile_runs_by_name_with_its_labels(tmp_path, ros_node, model):
    node, executor = ros_node
    arrays = []
    node.create_subscription(Detection2DArray, 'detections', arrays.append,
                             qos_profile('reliable', 10))
    publisher = node.create_publisher(Image, 'image_raw', qos_profile('reliable', 10))
    labels = InferenceEngine(model, device='CPU').labels
    # A real photo: the astronaut's face, where RetinaFace puts it. A low threshold: these
    # small models score it 0.5 or so (docs/training.md).
    photo = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    face_box = (177, 55, 274, 178)
    with detector(tmp_path, f'model:={model}', 'image_qos:=reliable',
                  'score_threshold:=0.3') as det:
        assert det.wait_for_output(f'model {model} runs on CPU'), det.output()
        assert handshake(executor, lambda header: publisher.publish(
            numpy_to_image(photo, 'bgr8', header=header)), arrays), det.output()
    found, _, found_labels, _ = detection_array_to_boxes(arrays[-1])
    assert len(found) and max(iou(face_box, box) for box in found) >= 0.5, found
    assert set(found_labels) <= set(labels)
