"""camera_node: publishes image_raw and camera_info from a device, a video file or images."""

import time

from face_detector_ros.camera.calibration import (
    CalibrationError,
    camera_info_for_size,
    load_camera_info,
    uncalibrated_camera_info,
)
from face_detector_ros.camera.source import Backoff, open_source, SourceError
from face_detector_ros.parameters import Param
from face_detector_ros.ros.common import (
    declare_parameters,
    qos_profile,
    run_node,
    steady_clock,
    SubscriberGate,
    wait_for_acknowledgements,
)
from face_detector_ros.ros.images import convert_encoding, numpy_to_image
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

PARAMETERS = {
    'source': Param('0', 'V4L2 device (0, /dev/video0), video file, image folder or glob',
                    read_only=True, any_type=True),
    'fps': Param(30.0, 'Publishing rate in frames per second', 0.1, 240.0, read_only=True),
    'width': Param(0, 'Output width in pixels (0: the source size)', 0, 8192, read_only=True),
    'height': Param(0, 'Output height in pixels (0: the source size)', 0, 8192,
                    read_only=True),
    'frame_id': Param('camera_optical_frame', 'frame_id of the images (REP 103 optical frame)',
                      read_only=True),
    'camera_info_file': Param('', 'ROS calibration YAML; empty: uncalibrated CameraInfo',
                              read_only=True),
    'encoding': Param('bgr8', 'Image encoding: bgr8, rgb8 or mono8', read_only=True),
    'loop': Param(False, 'Start a video file or image folder again at its end',
                  read_only=True),
    'qos_reliability': Param('reliable', 'reliable (matches every subscriber) or best_effort',
                             read_only=True),
    'qos_depth': Param(2, 'Publisher queue depth', 1, 100, read_only=True),
    'wait_for_subscribers': Param(0, 'Hold the first frame until this many image_raw '
                                  'subscribers are matched (replays, tests)', 0, 100,
                                  read_only=True),
}


class CameraNode(Node):
    """Reads frames at a fixed rate, stamps them at capture and publishes Image + CameraInfo."""

    def __init__(self, **kwargs):
        super().__init__('camera', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        p = self.params
        if p['encoding'] not in ('bgr8', 'rgb8', 'mono8'):
            raise ValueError(f'encoding {p["encoding"]!r} is not bgr8, rgb8 or mono8')
        self.info_fields = (load_camera_info(p['camera_info_file'])
                            if p['camera_info_file'] else None)
        qos = qos_profile(p['qos_reliability'], p['qos_depth'])
        self.image_pub = self.create_publisher(Image, 'image_raw', qos)
        # CameraInfo is small: a deeper queue lets a busy reliable reader catch up instead of
        # losing messages (KEEP_LAST on the writer drops what was not acknowledged in time).
        self.info_pub = self.create_publisher(
            CameraInfo, 'camera_info', qos_profile(p['qos_reliability'], max(p['qos_depth'], 10)))
        self.finished = False
        self.exit_code = 0
        self.published = 0
        self.pass_published = 0  # frames of this pass through a file or folder
        self.backoff = Backoff()
        self.retry_at = None
        self.subscriber_gate = SubscriberGate([self.image_pub], p['wait_for_subscribers'])
        # Opened last: nothing after it can fail and leave the device open.
        self.source = open_source(p['source'], p['width'], p['height'], p['fps'])
        # Frames are paced in real time, even if someone runs the camera with use_sim_time.
        self.timer = self.create_timer(1.0 / p['fps'], self.tick, clock=steady_clock())
        self.get_logger().info(
            f'publishing {p["source"]} at {p["fps"]:g} fps as {p["encoding"]} '
            f'({p["qos_reliability"]}, frame_id {p["frame_id"]})')

    def tick(self):
        if not self.subscriber_gate.ready():
            return
        if self.retry_at is not None:
            if time.monotonic() < self.retry_at:
                return
            if not self.try_reopen():
                return
        frame = self.source.read()
        stamp = self.get_clock().now().to_msg()
        if frame is None:
            self.source_ended()
            return
        self.backoff.reset()
        self.publish(frame, stamp)

    def publish(self, frame, stamp):
        encoding = self.params['encoding']
        if encoding != 'bgr8':
            frame = convert_encoding(frame, 'bgr8', encoding)
        image = numpy_to_image(frame, encoding)
        image.header.stamp = stamp
        image.header.frame_id = self.params['frame_id']
        try:
            info = self.camera_info(image.header, image.width, image.height)
        except CalibrationError as error:
            self.get_logger().fatal(str(error))
            self.finished, self.exit_code = True, 1
            return
        self.image_pub.publish(image)
        self.info_pub.publish(info)
        self.published += 1
        self.pass_published += 1

    def camera_info(self, header, width, height):
        if self.info_fields is None:
            fields = uncalibrated_camera_info(width, height)
        else:
            fields = camera_info_for_size(self.info_fields, width, height)
        info = CameraInfo(header=header, width=width, height=height,
                          distortion_model=fields['distortion_model'])
        info.d, info.k, info.r, info.p = fields['d'], fields['k'], fields['r'], fields['p']
        return info

    def source_ended(self):
        if self.source.live:
            self.get_logger().warn(
                f'camera {self.params["source"]} stopped delivering frames; reopening',
                throttle_duration_sec=5.0)
            self.source.release()
            self.retry_at = time.monotonic() + self.backoff.next_delay()
        elif self.pass_published == 0:
            # A whole pass gave nothing (every image failed to decode): say so and stop, with
            # or without loop, rather than re-reading it at the frame rate for ever.
            files = getattr(self.source, 'files', None)
            what = (f'none of the {len(files)} images of {self.params["source"]} could be '
                    'decoded' if files else f'no frame could be read from {self.params["source"]}')
            self.get_logger().error(f'{what}; stopping after {self.published} frames')
            wait_for_acknowledgements([self.image_pub, self.info_pub])
            self.finished, self.exit_code = True, 1
        elif self.params['loop']:
            if self.try_reopen():
                self.pass_published = 0
                frame = self.source.read()
                if frame is not None:
                    self.publish(frame, self.get_clock().now().to_msg())
        else:
            unreadable = getattr(self.source, 'unreadable', 0)
            self.get_logger().info(
                f'end of {self.params["source"]} after {self.published} frames'
                + (f' ({unreadable} images did not decode)' if unreadable else ''))
            wait_for_acknowledgements([self.image_pub, self.info_pub])
            self.finished = True

    def try_reopen(self):
        """Reopen the source; on failure warn (throttled) and schedule the next attempt."""
        try:
            self.source.reopen()
        except SourceError as error:
            delay = self.backoff.next_delay()
            self.get_logger().warn(f'{error}; retrying in {delay:.1f} s',
                                   throttle_duration_sec=5.0)
            self.retry_at = time.monotonic() + delay
            return False
        if self.retry_at is not None:
            self.get_logger().info(f'source {self.params["source"]} is back')
        self.retry_at = None
        return True

    def destroy_node(self):
        self.source.release()
        super().destroy_node()


def main(args=None):
    """Run the camera node; exit non-zero when the source cannot be opened."""
    return run_node(CameraNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
