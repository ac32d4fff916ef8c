"""
detector_node: a lifecycle node that owns the inference device and publishes face detections.

configure opens the device and compiles the model, activate subscribes to images, deactivate
unsubscribes, cleanup releases the device. With `autostart` (default) the node configures and
activates itself, so `ros2 run` just works; a model or device that cannot be loaded then ends
the process with a non-zero status.
"""

import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from face_detector_ros.detection.drawing import draw_detections
from face_detector_ros.detection.engine import ENGINE_PARAMETERS, EngineError, InferenceEngine
from face_detector_ros.detection.model_cards import ModelError
from face_detector_ros.evaluation.rates import RateCounter
from face_detector_ros.parameters import Param
from face_detector_ros.ros.common import (
    declare_parameters,
    forward_logging,
    matching_reliability,
    qos_profile,
    run_node,
    steady_clock,
)
from face_detector_ros.ros.images import ImageConversionError, numpy_to_image, to_bgr8
from face_detector_ros.ros.messages import detections_to_array, keypoints_to_array
from face_detector_ros.ros.stamps import stamp_to_seconds
from rcl_interfaces.msg import SetParametersResult
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import Detection2DArray

RCLError = _rclpy.RCLError

PARAMETERS = {
    **ENGINE_PARAMETERS,
    'input_type': Param('raw', "'raw' subscribes sensor_msgs/Image on `image`, 'compressed' "
                        'sensor_msgs/CompressedImage on `image/compressed`', read_only=True),
    'image_qos': Param('auto', "Image subscription reliability: 'auto' matches the "
                       "publisher's, or 'reliable' / 'best_effort'", read_only=True),
    'autostart': Param(True, 'Configure and activate at start (no lifecycle manager needed)',
                       read_only=True),
    'diagnostics_period': Param(1.0, 'Seconds between /diagnostics messages', 0.1, 60.0,
                                read_only=True),
}
# Changing one of these at run time builds a new engine; the thresholds apply to the engine in use.
REBUILD_PARAMETERS = ('model', 'device', 'precision', 'threads', 'num_requests')


class DetectorNode(LifecycleNode):
    """Images in, vision_msgs/Detection2DArray out, newest frame first, never a backlog."""

    def __init__(self, **kwargs):
        super().__init__('face_detector', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        for name, allowed in (('input_type', ('raw', 'compressed')),
                              ('image_qos', ('auto', 'reliable', 'best_effort'))):
            if self.params[name] not in allowed:
                raise ValueError(f'{name} {self.params[name]!r} is not one of '
                                 f'{", ".join(allowed)}')
        self.engine = None
        self.image_sub = None
        self.qos_timer = None
        self.results_timer = None
        self.finished = False
        self.exit_code = 0
        self.python_logger = forward_logging('face_detector_ros.detection.engine',
                                             self.get_logger())
        self.input_rate = RateCounter()
        self.output_rate = RateCounter()
        self.bad_inputs = 0
        self.device_errors = 0
        self.latency = None  # seconds from image stamp to publication; stamped images only
        self.stage_ms = {}
        self.add_on_set_parameters_callback(self.on_set_parameters)
        # rclpy (the pinned Jazzy wheels) raises RCLError out of the ChangeState service for a
        # transition the current state does not have, which ends the process: refuse it instead.
        service = getattr(self, '_service_change_state', None)
        if service is not None:
            self._unguarded_change_state = service.callback
            service.callback = self.on_change_state_request
        if self.params['autostart']:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS or \
                    self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                self.finished, self.exit_code = True, 1

    # Lifecycle transitions.

    def on_change_state_request(self, request, response):
        """Run a requested transition if the current state has it; else answer success=False."""
        wanted = request.transition
        available = [(t[0], t[1]) for t in self._state_machine.available_transitions]
        if not any(label == wanted.label if wanted.label else tid == wanted.id
                   for tid, label in available):
            state = self._state_machine.current_state[1]
            self.get_logger().warn(
                f'transition {wanted.label or wanted.id} is not possible in state {state} '
                f'(possible: {", ".join(label for _, label in available) or "none"}); refused')
            response.success = False
            return response
        try:
            return self._unguarded_change_state(request, response)
        except RCLError as error:
            self.get_logger().error(f'transition {wanted.label or wanted.id} failed: {error}')
            response.success = False
            return response

    def on_configure(self, state):
        try:
            self.engine = self.make_engine(self.params)
        except (EngineError, ModelError, OSError) as error:
            self.get_logger().error(f'configure failed: {error}')
            return TransitionCallbackReturn.FAILURE
        self.detections_pub = self.create_lifecycle_publisher(
            Detection2DArray, 'detections', qos_profile('reliable', 10))
        self.debug_pub = self.create_lifecycle_publisher(
            Image, 'debug_image', qos_profile('reliable', 2))
        self.keypoints_pub = self.create_lifecycle_publisher(
            Detection2DArray, 'keypoints', qos_profile('reliable', 10))
        self.diagnostics_pub = self.create_publisher(
            DiagnosticArray, '/diagnostics', qos_profile('reliable', 10))
        self.diagnostics_timer = self.create_timer(self.params['diagnostics_period'],
                                                   self.publish_diagnostics, clock=steady_clock())
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        self.subscribe_images()
        self.results_timer = self.create_timer(0.01, self.publish_ready_results,
                                               clock=steady_clock())
        return super().on_activate(state)

    def on_deactivate(self, state):
        if self.image_sub is not None:
            self.destroy_subscription(self.image_sub)
        for timer in (self.qos_timer, self.results_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self.image_sub = self.qos_timer = self.results_timer = None
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        self.destroy_timer(self.diagnostics_timer)
        self.destroy_lifecycle_publisher(self.detections_pub)
        self.destroy_lifecycle_publisher(self.debug_pub)
        self.destroy_lifecycle_publisher(self.keypoints_pub)
        self.destroy_publisher(self.diagnostics_pub)
        self.engine = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state):
        # Shutdown may come from any state: stop listening first, then release the device.
        if self.image_sub is not None or self.results_timer is not None:
            self.on_deactivate(state)
        self.engine = None
        return TransitionCallbackReturn.SUCCESS

    # Parameters.

    def make_engine(self, params):
        return InferenceEngine.from_parameters(params, logger=self.python_logger)

    @staticmethod
    def apply_thresholds(engine, params):
        engine.set_thresholds(params['score_threshold'], params['nms_iou'],
                              params['max_detections'])

    def on_set_parameters(self, parameters):
        """Apply thresholds live; rebuild the engine for model/device changes, or refuse."""
        changed = {p.name: p.value for p in parameters if p.name in self.params}
        if not changed:
            return SetParametersResult(successful=True)
        candidate = {**self.params, **changed}
        if self.engine is not None and any(name in REBUILD_PARAMETERS for name in changed):
            try:
                engine = self.make_engine(candidate)
            except (EngineError, ModelError, OSError) as error:
                return SetParametersResult(successful=False, reason=str(error))
            self.engine = engine
        elif self.engine is not None:
            self.apply_thresholds(self.engine, candidate)
        self.params = candidate
        return SetParametersResult(successful=True)

    # Images.

    def subscribe_images(self):
        """Subscribe with the QoS of the camera: with 'auto', wait until a publisher shows."""
        compressed = self.params['input_type'] == 'compressed'
        topic = 'image/compressed' if compressed else 'image'
        reliability = self.params['image_qos']
        if reliability == 'auto':
            reliability = matching_reliability(self, topic)
            if reliability is None:
                if self.qos_timer is None:
                    self.qos_timer = self.create_timer(0.2, self.subscribe_images,
                                                       clock=steady_clock())
                return
        if self.qos_timer is not None:
            self.destroy_timer(self.qos_timer)
            self.qos_timer = None
        # Depth 1: DDS keeps only the newest frame while inference runs, never a backlog.
        self.image_sub = self.create_subscription(
            CompressedImage if compressed else Image, topic, self.on_image,
            qos_profile(reliability, 1))
        self.get_logger().info(f'subscribed to {self.resolve_topic_name(topic)} ({reliability})')

    def on_image(self, msg):
        if self.engine is None:
            return
        self.input_rate.tick()
        started = time.perf_counter()
        try:
            image = to_bgr8(msg)
        except ImageConversionError as error:
            self.bad_inputs += 1
            self.get_logger().error(f'dropped an image: {error} ({self.bad_inputs} so far)',
                                    throttle_duration_sec=5.0)
            return
        convert = time.perf_counter() - started
        try:
            self.engine.submit(image, tag=(msg.header, image, convert))
        except EngineError as error:
            self.count_device_error(error)
        # One request: nothing can overlap, so this frame's result is awaited here, in the
        # callback that submitted it. More: what finished is published, the timer takes the rest.
        self.publish_ready_results(wait=self.engine.num_requests == 1)

    def publish_ready_results(self, wait=False):
        """Publish the frames the engine finished (with `wait`, once all submitted are done)."""
        if self.engine is None:
            return
        try:
            finished = self.engine.results(wait=wait)
        except EngineError as error:
            self.count_device_error(error)
            return
        for (header, image, convert), detections in finished:
            self.publish(header, image, detections, convert)

    def count_device_error(self, error):
        """Every device failed: count, say it (throttled) and go on; the engine retries."""
        self.device_errors += 1
        self.get_logger().error(f'inference failed: {error} ({self.device_errors} so far)',
                                throttle_duration_sec=5.0)

    def publish(self, header, image, detections, convert):
        started = time.perf_counter()
        names = self.engine.keypoint_names
        # Before the detections, so that a reader of tracks (computed from the detections)
        # finds the keypoints of the same stamp already there.
        if names and len(names) == detections.keypoints.shape[1] and \
                self.keypoints_pub.get_subscription_count() > 0:
            self.keypoints_pub.publish(keypoints_to_array(header, detections, names))
        self.detections_pub.publish(detections_to_array(header, detections, self.engine.labels))
        if self.debug_pub.get_subscription_count() > 0:
            labels = [self.engine.labels[i] for i in detections.class_ids]
            overlay = draw_detections(image.copy(), detections.boxes, labels, detections.scores,
                                      keypoints=detections.keypoints)
            self.debug_pub.publish(numpy_to_image(overlay, 'bgr8', header=header))
        self.output_rate.tick()
        self.stage_ms = {'convert': convert * 1e3,
                         **{k: v * 1e3 for k, v in self.engine.timings.items()},
                         'publish': (time.perf_counter() - started) * 1e3}
        if header.stamp.sec or header.stamp.nanosec:  # an unstamped image has no latency
            self.latency = (self.get_clock().now().nanoseconds * 1e-9
                            - stamp_to_seconds(header.stamp))

    def publish_diagnostics(self):
        if self.engine is None:
            return
        status = DiagnosticStatus(name=f'{self.get_name()}: inference',
                                  hardware_id=self.engine.device or 'none')
        input_fps, output_fps = self.input_rate.rate(), self.output_rate.rate()
        status.level = DiagnosticStatus.OK
        status.message = f'{output_fps:.1f} fps on {self.engine.device}'
        if not self.engine.device:
            status.level = DiagnosticStatus.ERROR
            status.message = f'no device of {",".join(self.engine.devices)} works; retrying'
        elif self.engine.device != self.engine.devices[0]:
            status.level = DiagnosticStatus.WARN
            status.message += f' (preferred {self.engine.devices[0]} unavailable)'
        values = {'device': self.engine.device, 'model': self.params['model'],
                  'input_fps': f'{input_fps:.2f}', 'processed_fps': f'{output_fps:.2f}',
                  'received_frames': str(self.input_rate.count),
                  'processed_frames': str(self.output_rate.count),
                  'dropped_frames': str(self.engine.dropped), 'bad_inputs': str(self.bad_inputs),
                  'device_errors': str(self.device_errors),
                  **({} if self.latency is None else {'latency_ms': f'{self.latency * 1e3:.1f}'}),
                  **{f'{stage}_ms': f'{ms:.2f}' for stage, ms in self.stage_ms.items()}}
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)


def main(args=None):
    """Run the detector node; exit non-zero when the model or device cannot be loaded."""
    return run_node(DetectorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
