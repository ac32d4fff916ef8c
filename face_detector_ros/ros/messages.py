"""vision_msgs <-> numpy for detections and tracks. Imports message packages, never rclpy."""

import numpy as np
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose


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
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = str(labels[index])
        hypothesis.hypothesis.score = float(scores[index])
        if poses is not None and poses[index] is not None:
            hypothesis.pose = poses[index]
        detection.results.append(hypothesis)
        if ids is not None:
            detection.id = str(ids[index])
        array.detections.append(detection)
    return array


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
