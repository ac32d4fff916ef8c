"""
vision_msgs <-> numpy for detections, tracks and faces. Imports message packages, never rclpy.

The one message boundary: nodes, the bag tool and benchmarks build their arrays here, from
`Detections` (detections_to_array), `Track` lists (tracks_to_array) and located tracks
(faces_to_array, pose_messages), and read detections back with detection_array_to_boxes.
"""

from geometry_msgs.msg import PoseWithCovariance
import numpy as np
from vision_msgs.msg import (
    Detection2D,
    Detection2DArray,
    Detection3D,
    Detection3DArray,
    ObjectHypothesisWithPose,
)


def boxes_to_detection_array(header, boxes, scores, labels, ids=None, poses=None):
    """
    Build a Detection2DArray; each Detection2D gets the image header, as vision_msgs asks.

    boxes (N, 4) are x1, y1, x2, y2 image pixels; labels the class names; ids optional track
    ids; poses optional geometry_msgs/PoseWithCovariance per detection (None to leave empty).
    """
    array = Detection2DArray(header=header)
    for index, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)):
        detection = Detection2D(header=header)
        detection.bbox.center.position.x = (x1 + x2) / 2.0
        detection.bbox.center.position.y = (y1 + y2) / 2.0
        detection.bbox.size_x = x2 - x1
        detection.bbox.size_y = y2 - y1
        detection.results.append(_hypothesis(
            labels[index], scores[index], None if poses is None else poses[index]))
        if ids is not None:
            detection.id = str(ids[index])
        array.detections.append(detection)
    return array


def detections_to_array(header, detections, labels):
    """Build the Detection2DArray of a `Detections`; its class ids index `labels` (names)."""
    names = [labels[class_id] for class_id in detections.class_ids]
    return boxes_to_detection_array(header, detections.boxes, detections.scores, names)


def keypoints_to_array(header, detections, names):
    """
    Build the Detection2DArray of the keypoints of a `Detections`, one Detection2D per face.

    Each Detection2D has the face's box and one result per keypoint: class_id the keypoint's
    name (`names`, the model card's keypoint_names), score the face's score and pose.position
    (x, y) the point in image pixels (z 0). vision_msgs has no keypoint message; this keeps
    standard types, names the points, and lets a reader match faces by box.
    """
    array = boxes_to_detection_array(header, detections.boxes, detections.scores,
                                     [''] * len(detections.scores))
    for detection, points, score in zip(array.detections, detections.keypoints,
                                        detections.scores.tolist()):
        detection.results.clear()
        for name, (x, y) in zip(names, points.tolist()):
            point = ObjectHypothesisWithPose()
            point.hypothesis.class_id = name
            point.hypothesis.score = score
            point.pose.pose.position.x, point.pose.pose.position.y = x, y
            detection.results.append(point)
    return array


def keypoint_array_to_points(array):
    """
    Read a keypoints Detection2DArray (keypoints_to_array) back.

    Return (boxes (N, 4) x1 y1 x2 y2, points (N, K, 2), names [K], scores (N,)); faces whose
    keypoint names differ from the first face's are left out (a reader cannot place them).
    """
    boxes, scores, _, _ = detection_array_to_boxes(array)
    names = [r.hypothesis.class_id for r in array.detections[0].results] if len(boxes) else []
    keep, points = [], []
    for index, detection in enumerate(array.detections):
        if [r.hypothesis.class_id for r in detection.results] == names:
            keep.append(index)
            points.append([(r.pose.pose.position.x, r.pose.pose.position.y)
                           for r in detection.results])
    return (boxes[keep], np.asarray(points, dtype=np.float64).reshape(len(keep), len(names), 2),
            names, scores[keep])


def tracks_to_array(header, tracks, poses=None):
    """
    Build the Detection2DArray of `Track`s: id = track id, results[0].pose = `poses[i]`.

    `poses` are PoseWithCovariance messages, one per track, or None (no pose published).
    """
    return boxes_to_detection_array(
        header, [track.box for track in tracks], [track.score for track in tracks],
        [track.label for track in tracks], ids=[track.id for track in tracks], poses=poses)


def faces_to_array(header, tracks, poses, width, depth):
    """
    Build the Detection3DArray of located `Track`s, one Detection3D per track and pose.

    Each face is a box `width` x `width` x `depth` metres centred on its pose, with the track's
    id, label, score and the pose with its covariance as results[0].
    """
    array = Detection3DArray(header=header)
    for track, pose in zip(tracks, poses):
        face = Detection3D(header=header, id=track.id)
        face.bbox.center = pose.pose
        face.bbox.size.x = face.bbox.size.y = width
        face.bbox.size.z = depth
        face.results.append(_hypothesis(track.label, track.score, pose))
        array.detections.append(face)
    return array


def pose_messages(positions, covariances):
    """Return a PoseWithCovariance per position (3,) and covariance (6, 6: x y z, rotations)."""
    poses = []
    for position, covariance in zip(positions, covariances):
        pose = PoseWithCovariance()
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = map(float, position)
        pose.pose.orientation.w = 1.0  # unknown orientation; its covariance says so
        pose.covariance = [float(v) for v in np.asarray(covariance).ravel()]
        poses.append(pose)
    return poses


def _hypothesis(label, score, pose=None):
    """Return an ObjectHypothesisWithPose of a class name, a score and an optional pose."""
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id = str(label)
    hypothesis.hypothesis.score = float(score)
    if pose is not None:
        hypothesis.pose = pose
    return hypothesis


def detection_array_to_boxes(array):
    """
    Return (boxes (N, 4) x1 y1 x2 y2, scores (N,), labels [N], ids [N]) of a Detection2DArray.

    A detection without results gets score 0 and an empty label.
    """
    count = len(array.detections)
    boxes = np.empty((count, 4), dtype=np.float64)
    scores = np.zeros(count, dtype=np.float64)
    labels, ids = [], []
    for index, detection in enumerate(array.detections):
        centre, box = detection.bbox.center.position, detection.bbox
        boxes[index] = (centre.x - box.size_x / 2.0, centre.y - box.size_y / 2.0,
                        centre.x + box.size_x / 2.0, centre.y + box.size_y / 2.0)
        if detection.results:
            best = max(detection.results, key=lambda result: result.hypothesis.score)
            scores[index] = best.hypothesis.score
            labels.append(best.hypothesis.class_id)
        else:
            labels.append('')
        ids.append(detection.id)
    return boxes, scores, labels, ids
