"""
hri_node: the ROS4HRI (REP 155) face topics from the tracker's tracks, for HRI software.

/humans/faces/tracked lists the confirmed faces; each face has /humans/faces/<id>/roi, cropped
and landmarks, published from when it is confirmed until it is lost (then its publishers are
destroyed), and a TF frame face_<id> where the camera is calibrated. The REP logic is in
face_detector_ros.hri.rep155; this node pairs each tracks message with its image by stamp.
"""

import collections
import math
import time

from face_detector_ros.hri import rep155
from face_detector_ros.parameters import Param
from face_detector_ros.ros.common import (
    declare_parameters,
    matching_reliability,
    qos_profile,
    run_node,
    steady_clock,
)
from face_detector_ros.ros.images import ImageConversionError, numpy_to_image, to_bgr8
from face_detector_ros.ros.messages import detection_array_to_boxes, keypoint_array_to_points
from face_detector_ros.ros.stamps import stamp_key
from face_detector_ros.tracking.stamp_matcher import StampBuffer, StampMatcher
from geometry_msgs.msg import TransformStamped
from hri_msgs.msg import (
    FacialLandmarks,
    IdsList,
    NormalizedPointOfInterest2D,
    NormalizedRegionOfInterest2D,
)
import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection2DArray

PARAMETERS = {
    'humans.faces.width': Param(128, 'Width of the cropped face images in pixels (REP 155 '
                                '/humans/faces/width)', 1, 4096, read_only=True),
    'humans.faces.height': Param(128, 'Height of the cropped face images in pixels (REP 155 '
                                 '/humans/faces/height)', 1, 4096, read_only=True),
    'buffer': Param(30, 'Images (and keypoint messages) kept to pair with tracks by stamp',
                    1, 300, read_only=True),
}
# What tf2_ros.TransformBroadcaster offers on /tf (tf2_ros is not a dependency of this node).
TF_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
WARNING_PERIOD = 5.0  # seconds between repeats of one kind of warning


class HriNode(Node):
    """tracks + image (+ keypoints) in; /humans/faces/... and face_<id> TF frames out."""

    def __init__(self, **kwargs):
        super().__init__('hri_faces', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        self.crop_size = (self.params['humans.faces.width'], self.params['humans.faces.height'])
        self.faces = rep155.FaceSet()
        self.face_publishers = {}  # face id -> {'roi': ..., 'cropped': ..., 'landmarks': ...}
        self.skipped = collections.Counter()  # why faces or frames were skipped, for the logs
        self.warned_at = {}  # kind -> time of its last warning
        self.matcher = StampMatcher(self.params['buffer'])
        self.keypoints = StampBuffer(self.params['buffer'])  # keypoints Detection2DArrays
        reliable = qos_profile('reliable', 10)
        self.tracked_pub = self.create_publisher(IdsList, '/humans/faces/tracked', reliable)
        self.tf_pub = self.create_publisher(TFMessage, '/tf', TF_QOS)
        self.create_subscription(Detection2DArray, 'tracks', self.on_tracks, reliable)
        self.create_subscription(Detection2DArray, 'keypoints', self.on_keypoints, reliable)
        self.image_sub = None
        self.image_timer = self.create_timer(0.2, self.subscribe_images, clock=steady_clock())
        self.get_logger().info(f'REP 155 faces from {self.resolve_topic_name("tracks")}, '
                               f'crops {self.crop_size[0]}x{self.crop_size[1]}')

    def subscribe_images(self):
        """Subscribe to images with the camera's reliability once a camera publishes."""
        reliability = matching_reliability(self, 'image')
        if reliability is None:
            return
        self.image_sub = self.create_subscription(Image, 'image', self.on_image,
                                                  qos_profile(reliability, 2))
        self.destroy_timer(self.image_timer)

    def on_keypoints(self, msg):
        self.keypoints.add(stamp_key(msg.header), msg)

    def on_tracks(self, msg):
        for image, tracks in self.matcher.add_tracks(stamp_key(msg.header), msg):
            self.publish_faces(image, tracks)

    def on_image(self, msg):
        for image, tracks in self.matcher.add_image(stamp_key(msg.header), msg):
            self.publish_faces(image, tracks)

    def warn(self, kind, message):
        """Count a skipped face or frame and say so, at most once per WARNING_PERIOD a kind."""
        # Throttled here, not by the logger: rclpy throttles per call site, one for all kinds.
        self.skipped[kind] += 1
        now = time.monotonic()
        if now - self.warned_at.get(kind, -math.inf) >= WARNING_PERIOD:
            self.warned_at[kind] = now
            self.get_logger().warn(f'{message} ({self.skipped[kind]} so far)')

    def publish_faces(self, image_msg, tracks_msg):
        """Publish the REP 155 topics of one image and its tracks."""
        try:
            image = to_bgr8(image_msg)
        except ImageConversionError as error:
            self.warn('image', f'skipped a frame: {error}')
            return
        height, width = image.shape[:2]
        boxes, scores, _, track_ids = detection_array_to_boxes(tracks_msg)
        faces, skipped = rep155.select_faces(boxes, scores, track_ids, width, height)
        for kind, message in skipped:
            self.warn(kind, message)
        appeared, lost = self.faces.update(face.id for face in faces)
        for face_id in lost:
            for publisher in self.face_publishers.pop(face_id).values():
                self.destroy_publisher(publisher)
        for face_id in appeared:
            self.face_publishers[face_id] = self.make_face_publishers(face_id)
        header = tracks_msg.header
        self.tracked_pub.publish(IdsList(header=header, ids=self.faces.ids))
        transforms = []
        for face, landmarks in zip(faces, self.landmarks(header, faces, width, height)):
            publishers = self.face_publishers[face.id]
            xmin, ymin, xmax, ymax = face.roi
            publishers['roi'].publish(NormalizedRegionOfInterest2D(
                header=header, xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax, c=face.score))
            crop = rep155.crop_face(image, face.box, *self.crop_size)
            publishers['cropped'].publish(numpy_to_image(crop, 'bgr8', header=header))
            if landmarks is not None:
                publishers['landmarks'].publish(FacialLandmarks(
                    header=header, height=height, width=width,
                    landmarks=[NormalizedPointOfInterest2D(x=float(x), y=float(y), c=float(c))
                               for x, y, c in landmarks]))
            transform = self.face_transform(header, face.id, tracks_msg.detections[face.index])
            if transform is not None:
                transforms.append(transform)
        if transforms:
            self.tf_pub.publish(TFMessage(transforms=transforms))

    def make_face_publishers(self, face_id):
        prefix = f'/humans/faces/{face_id}/'
        return {'roi': self.create_publisher(NormalizedRegionOfInterest2D, prefix + 'roi',
                                             qos_profile('reliable', 10)),
                'cropped': self.create_publisher(Image, prefix + 'cropped',
                                                 qos_profile('reliable', 2)),
                'landmarks': self.create_publisher(FacialLandmarks, prefix + 'landmarks',
                                                   qos_profile('reliable', 10))}

    def landmarks(self, header, faces, width, height):
        """Return per face its (70, 3) landmarks from the detector's keypoints, or None."""
        msg = self.keypoints.get(stamp_key(header))
        if msg is None or not faces:
            return [None] * len(faces)
        keypoint_boxes, points, names, scores = keypoint_array_to_points(msg)
        landmarks, unknown = rep155.face_landmarks(np.array([face.box for face in faces]),
                                                   keypoint_boxes, points, names, scores,
                                                   width, height)
        if unknown:
            self.warn('layout', f'keypoints {", ".join(unknown)} have no REP 155 landmark: '
                      'left out (known: ' + ', '.join(rep155.LANDMARK_INDICES) + ')')
        return landmarks

    def face_transform(self, header, face_id, detection):
        """Return the face_<id> frame where the tracker located the face, or None."""
        if not detection.results:
            return None
        position = detection.results[0].pose.pose.position
        if not position.z > 0:  # no pose (uncalibrated camera): the tracker leaves it zero
            return None
        rotation = rep155.face_frame_rotation((position.x, position.y, position.z))
        if rotation is None:
            return None
        transform = TransformStamped(header=header, child_frame_id=f'face_{face_id}')
        translation = transform.transform.translation
        translation.x, translation.y, translation.z = position.x, position.y, position.z
        quaternion = transform.transform.rotation
        quaternion.x, quaternion.y, quaternion.z, quaternion.w = rotation
        return transform


def main(args=None):
    """Run the REP 155 faces node."""
    return run_node(HriNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
