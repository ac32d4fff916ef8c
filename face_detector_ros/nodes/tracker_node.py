"""tracker_node: stable face identities, bearing and range, and an overlay image for rviz."""

import time

from face_detector_ros.detection.drawing import draw_tracks
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
from face_detector_ros.ros.messages import (
    detection_array_to_boxes,
    faces_to_array,
    pose_messages,
    tracks_to_array,
)
from face_detector_ros.ros.stamps import stamp_key, stamp_to_seconds
from face_detector_ros.tracking.appearance import bad_boxes, face_descriptors
from face_detector_ros.tracking.face_geometry import CameraModel, locate_faces, UncalibratedCamera
from face_detector_ros.tracking.stamp_matcher import StampBuffer, StampMatcher
from face_detector_ros.tracking.tracker import CentroidTracker, first_track_id, MAX_TRACK_ID
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from vision_msgs.msg import Detection2DArray, Detection3DArray

PARAMETERS = {
    'min_hits': Param(3, 'Detections before a track is confirmed and published', 1, 100,
                      read_only=True),
    'max_age': Param(1.0, 'Seconds a track coasts on its prediction without detections',
                     0.0, 60.0, read_only=True),
    'distance_gate': Param(4.0, 'Largest detection-to-prediction distance, in standard '
                           'deviations (relative to face size)', 0.5, 50.0, read_only=True),
    'size_gate': Param(2.0, 'Largest size ratio between a detection and its track', 1.0, 10.0,
                       read_only=True),
    'measurement_noise': Param(0.05, 'Detector jitter as a fraction of face size (larger '
                               'smooths more)', 0.001, 1.0, read_only=True),
    'acceleration_noise': Param(2.0, 'Face acceleration, face sizes per s^2 (smaller smooths '
                                'more)', 0.01, 100.0, read_only=True),
    'face_width': Param(0.16, 'Nominal face width in metres, for range', 0.05, 0.5),
    'face_width_std': Param(0.015, 'Spread of face widths in metres', 0.0, 0.2),
    'overlay_buffer': Param(30, 'Images kept to match tracks by stamp for tracks_image', 1, 300,
                            read_only=True),
    'first_track_id': Param(0, '0: ids from the start time, unique across restarts '
                            '(docs/tracking.md); N: the first id is N (reproducible replays)',
                            0, MAX_TRACK_ID, read_only=True),
    'reid_timeout': Param(5.0, 'Seconds after its last detection a face that comes back gets '
                          'its id again (appearance from the image topic); 0: off, no images',
                          0.0, 600.0, read_only=True),
    'reid_similarity': Param(0.8, 'Smallest appearance similarity of a re-identification',
                             -1.0, 1.0, read_only=True),
    'appearance_weight': Param(10.0, 'Weight of appearance in matching, squared standard '
                               'deviations per unit of similarity; 0: motion only', 0.0, 100.0,
                               read_only=True),
}
FACE_DEPTH = 0.2  # metres: the 3D box of a head, front to back
REID_IMAGES = 10  # images kept by stamp for the appearances of their detections


class TrackerNode(Node):
    """detections in; tracks (2D, with ids and poses), faces (3D) and tracks_image out."""

    def __init__(self, **kwargs):
        super().__init__('face_tracker', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        forward_logging('face_detector_ros.tracking.tracker', self.get_logger())
        first_id = self.params['first_track_id'] or first_track_id(time.time())
        self.tracker = CentroidTracker.from_parameters({**self.params, 'first_id': first_id})
        self.camera = None
        self.camera_warned = False
        self.matcher = StampMatcher(self.params['overlay_buffer'])
        self.reid = self.params['reid_timeout'] > 0
        self.images = StampBuffer(REID_IMAGES)  # stamp key -> Image, for appearances
        self.overlay_wanted = False
        self.bad_boxes = 0  # boxes with no area or wholly outside their image
        reliable = qos_profile('reliable', 10)
        self.tracks_pub = self.create_publisher(Detection2DArray, 'tracks', reliable)
        self.faces_pub = self.create_publisher(Detection3DArray, 'faces', reliable)
        self.overlay_pub = self.create_publisher(Image, 'tracks_image', qos_profile('reliable', 2))
        self.create_subscription(Detection2DArray, 'detections', self.on_detections, reliable)
        self.create_subscription(CameraInfo, 'camera_info', self.on_camera_info,
                                 qos_profile('best_effort', 1))
        self.image_sub = None
        self.create_timer(0.5, self.follow_overlay_subscribers, clock=steady_clock())
        self.follow_overlay_subscribers()
        self.add_on_set_parameters_callback(self.on_set_parameters)
        self.get_logger().info(f'tracking {self.resolve_topic_name("detections")}; track ids '
                               f'start at {first_id}')

    def on_set_parameters(self, parameters):
        for parameter in parameters:
            if parameter.name in self.params:
                self.params[parameter.name] = parameter.value
        return SetParametersResult(successful=True)

    def on_camera_info(self, info):
        try:
            self.camera = CameraModel.from_camera_info(info)
        except (UncalibratedCamera, ValueError) as error:
            self.camera = None
            if not self.camera_warned:
                self.get_logger().warn(f'{error}: publishing tracks without bearing/range')
                self.camera_warned = True

    def on_detections(self, msg):
        boxes, scores, labels, _ = detection_array_to_boxes(msg)
        resets = self.tracker.resets
        tracks = self.tracker.update(boxes, scores, labels, stamp_to_seconds(msg.header.stamp),
                                     self.appearances(msg.header, boxes))
        if self.tracker.resets != resets:
            self.matcher.clear()
            self.images.clear()
        poses = self.poses(tracks)
        self.tracks_pub.publish(tracks_to_array(msg.header, tracks, poses))
        if self.camera is not None:  # empty too: a follower must learn that everyone left
            self.faces_pub.publish(faces_to_array(msg.header, tracks, poses or [],
                                                  self.params['face_width'], FACE_DEPTH))
        if self.overlay_pub.get_subscription_count() > 0:
            for image, matched in self.matcher.add_tracks(stamp_key(msg.header), tracks):
                self.publish_overlay(image, matched)

    def appearances(self, header, boxes):
        """Return the descriptors of the boxes from the image of the same stamp, or None."""
        image_msg = self.images.get(stamp_key(header)) if self.reid else None
        if image_msg is None:
            return None  # never wait for an image: tracks go out on motion alone
        try:
            image = to_bgr8(image_msg)
        except ImageConversionError as error:
            self.get_logger().error(f'cannot read an image for appearances: {error}',
                                    throttle_duration_sec=5.0)
            return None
        # The tracker then loses a track whose box leaves the image (re-identified if back).
        self.tracker.image_size = (float(image.shape[1]), float(image.shape[0]))
        bad = bad_boxes(boxes, image.shape[1], image.shape[0])
        if bad.any():
            self.bad_boxes += int(bad.sum())
            self.get_logger().warn(
                f'{self.bad_boxes} detection boxes so far with no area or outside the '
                f'{image.shape[1]}x{image.shape[0]} image: no appearance for them',
                throttle_duration_sec=5.0)
        return face_descriptors(image, boxes)  # NaN rows for those: ignored by the tracker

    def poses(self, tracks):
        """Return a PoseWithCovariance per track (optical frame), or None if uncalibrated."""
        if self.camera is None:
            return None
        located = locate_faces(self.camera, [track.box for track in tracks],
                               self.params['face_width'], self.params['face_width_std'])
        return pose_messages(located.positions, located.covariances)

    def follow_overlay_subscribers(self):
        """Subscribe to images while re-identification is on or someone watches tracks_image."""
        overlay_wanted = self.overlay_pub.get_subscription_count() > 0
        if self.overlay_wanted and not overlay_wanted:
            self.matcher.clear()
        self.overlay_wanted = overlay_wanted
        wanted = overlay_wanted or self.reid
        if wanted and self.image_sub is None:
            reliability = matching_reliability(self, 'image')
            if reliability is None:
                return  # no camera yet: look again on the next tick
            self.image_sub = self.create_subscription(Image, 'image', self.on_image,
                                                      qos_profile(reliability, 2))
        elif not wanted and self.image_sub is not None:
            self.destroy_subscription(self.image_sub)
            self.image_sub = None

    def on_image(self, msg):
        if self.reid:
            self.images.add(stamp_key(msg.header), msg)
        # Asked on each message, not by the timer: with re-id on, images come before the timer
        # has seen a new overlay subscriber.
        if self.overlay_pub.get_subscription_count() > 0:
            for image, tracks in self.matcher.add_image(stamp_key(msg.header), msg):
                self.publish_overlay(image, tracks)

    def publish_overlay(self, msg, tracks):
        try:
            image = to_bgr8(msg)
        except ImageConversionError as error:
            self.get_logger().error(f'cannot draw tracks on an image: {error}',
                                    throttle_duration_sec=5.0)
            return
        overlay = draw_tracks(image, tracks)
        self.overlay_pub.publish(numpy_to_image(overlay, 'bgr8', header=msg.header))


def main(args=None):
    """Run the tracker node."""
    return run_node(TrackerNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
