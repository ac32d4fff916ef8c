"""
ROS4HRI (REP 155) face data from tracks: ids, regions, crops, landmarks and face frames.

Pure numpy and OpenCV (no rclpy); `nodes/hri_node.py` turns the results into hri_msgs messages
on /humans/faces/... Conventions of REP 155 and hri_msgs 2.3:
- a face id is a topic name token (/humans/faces/<id>/roi), and ROS 2 tokens cannot start with
  a digit, so face ids are 'f' + the tracker's track id ('f1735', as hri_face_detect's 'f00000');
- regions and landmarks are normalised to [0, 1] by the image width and height;
- FacialLandmarks holds 70 points in the OpenPose / dlib order; the detector's few keypoints go
  to their indices, every other point is (0, 0) with confidence 0;
- left and right are the person's own: their right eye appears on the image's left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import dataclasses
import math
import re

import cv2
from face_detector_ros.evaluation.detection_metrics import box_iou
import numpy as np

FACE_ID_PREFIX = 'f'
LANDMARK_COUNT = 70  # hri_msgs/FacialLandmarks: 0-67 OpenPose face, 68-69 the pupils
# Keypoint names of the model cards (`keypoint_names`) -> FacialLandmarks index; None: a known
# keypoint the 70 points have no place for (BlazeFace's mouth centre lies between 62 and 66).
LANDMARK_INDICES = {
    'right_eye': 68,          # RIGHT_PUPIL
    'left_eye': 69,           # LEFT_PUPIL
    'nose_tip': 30,           # NOSE
    'mouth_right': 48,        # MOUTH_OUTER_RIGHT
    'mouth_left': 54,         # MOUTH_OUTER_LEFT
    'right_ear_tragion': 0,   # RIGHT_EAR
    'left_ear_tragion': 16,   # LEFT_EAR
    'mouth_centre': None,
}
_TRACK_ID = re.compile(r'[A-Za-z0-9]+(_[A-Za-z0-9]+)*')


def face_id(track_id: str) -> str | None:
    """Return the REP 155 face id of a track id, or None if it cannot be a topic name token."""
    if not isinstance(track_id, str) or not _TRACK_ID.fullmatch(track_id):
        return None
    return FACE_ID_PREFIX + track_id


@dataclasses.dataclass(frozen=True)
class Face:
    """A track that can be published as a REP 155 face."""

    id: str  # noqa: A003 (the REP's word)
    index: int    # its row in the tracks
    box: tuple    # x1, y1, x2, y2 in pixels
    roi: tuple    # normalized_roi of the box
    score: float  # in [0, 1]


def select_faces(boxes: np.ndarray, scores: Sequence[float], track_ids: Sequence[str],
                 width: int, height: int) -> tuple[list, list]:
    """
    Return (faces, skipped) of one image's tracks: the Faces, and (kind, message) for the rest.

    A track is skipped when its id cannot be a face id (kind 'id') or its box has no area
    inside the width x height image (kind 'box').
    """
    faces, skipped = [], []
    for index, (box, score, track_id) in enumerate(zip(boxes, scores, track_ids)):
        face = face_id(track_id)
        if face is None:
            skipped.append(('id', f'skipped a track with id {track_id!r}: a REP 155 id must be '
                            'letters, digits and single underscores'))
            continue
        box = tuple(float(value) for value in box)
        roi = normalized_roi(box, width, height)
        if roi is None:
            skipped.append(('box', f'skipped face {face}: its box {list(box)} has no area '
                            f'inside the {width}x{height} image'))
            continue
        faces.append(Face(face, index, box, roi, min(max(float(score), 0.0), 1.0)))
    return faces, skipped


def normalized_roi(box: Sequence[float], width: int, height: int) -> tuple | None:
    """
    Return (xmin, ymin, xmax, ymax) of a pixel box, normalised and clipped to the image.

    None when the box is not finite or has no area inside the image.
    """
    x1, y1, x2, y2 = (float(value) for value in box)
    if not (math.isfinite(x1 + y1 + x2 + y2) and width > 0 and height > 0):
        return None
    xmin, xmax = min(max(x1 / width, 0.0), 1.0), min(max(x2 / width, 0.0), 1.0)
    ymin, ymax = min(max(y1 / height, 0.0), 1.0), min(max(y2 / height, 0.0), 1.0)
    if not (xmax > xmin and ymax > ymin):
        return None
    return xmin, ymin, xmax, ymax


def crop_face(image: np.ndarray, box: Sequence[float], width: int, height: int) -> np.ndarray:
    """
    Return the face in `box` scaled to fit width x height, centred and zero-padded (REP 155).

    The box is clipped to the image first; None when nothing of it lies inside the image.
    """
    rows, columns = image.shape[:2]
    roi = normalized_roi(box, columns, rows)
    if roi is None:
        return None
    x1, x2 = int(math.floor(roi[0] * columns)), int(math.ceil(roi[2] * columns))
    y1, y2 = int(math.floor(roi[1] * rows)), int(math.ceil(roi[3] * rows))
    face = image[y1:y2, x1:x2]
    scale = min(width / face.shape[1], height / face.shape[0])
    size = (max(1, min(width, round(face.shape[1] * scale))),
            max(1, min(height, round(face.shape[0] * scale))))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(face, size, interpolation=interpolation)
    crop = np.zeros((height, width) + image.shape[2:], dtype=image.dtype)
    left, top = (width - size[0]) // 2, (height - size[1]) // 2
    # cv2.resize drops a single channel axis: put it back.
    crop[top:top + size[1], left:left + size[0]] = scaled.reshape(size[::-1] + image.shape[2:])
    return crop


def landmark_indices(names: Sequence[str]) -> tuple[list, list]:
    """
    Map keypoint names to FacialLandmarks indices.

    Return (indices, unknown): indices[k] is keypoint k's index or None (not placed), unknown
    the names this module does not know (their points are left out too).
    """
    indices, unknown = [], []
    for name in names:
        if name not in LANDMARK_INDICES:
            unknown.append(name)
        indices.append(LANDMARK_INDICES.get(name))
    return indices, unknown


def landmark_points(points: np.ndarray, indices: Sequence, confidence: float, width: int,
                    height: int) -> np.ndarray:
    """
    Return the 70 FacialLandmarks points as (70, 3) x, y, c: normalised, c 0 where absent.

    `points` (K, 2) are pixels, `indices` their places (landmark_indices). A point that is not
    finite or lies outside the image is left absent rather than clipped to a wrong place.
    """
    landmarks = np.zeros((LANDMARK_COUNT, 3), dtype=np.float32)
    confidence = float(confidence) if math.isfinite(confidence) else 0.0
    for (x, y), index in zip(np.asarray(points, dtype=np.float64).reshape(-1, 2), indices):
        if index is None or not (0.0 <= x <= width and 0.0 <= y <= height):
            continue  # NaN fails the comparison too
        landmarks[index] = (x / width, y / height, min(max(confidence, 0.0), 1.0))
    return landmarks


def face_landmarks(face_boxes: np.ndarray, keypoint_boxes: np.ndarray, points: np.ndarray,
                   names: Sequence[str], scores: Sequence[float], width: int,
                   height: int) -> tuple[list, list]:
    """
    Return (landmarks, unknown): per face box its (70, 3) landmarks or None, and the names.

    The detector's faces (`keypoint_boxes`, their `points` (N, K, 2) named `names`, `scores`)
    are matched to the face boxes by IoU (match_keypoints); `unknown` are the names with no
    REP 155 landmark, left out.
    """
    indices, unknown = landmark_indices(names)
    matches = match_keypoints(face_boxes, keypoint_boxes)
    return [None if match < 0 else landmark_points(points[match], indices, scores[match],
                                                   width, height)
            for match in matches], unknown


def match_keypoints(track_boxes: np.ndarray, keypoint_boxes: np.ndarray,
                    min_iou: float = 0.5) -> np.ndarray:
    """
    Return, for each track box, the index of the detection box it overlaps best, or -1.

    Tracks are smoothed detections of the same image, so a track detected in that image
    overlaps its own detection far more than `min_iou`; a coasting track overlaps none.
    """
    track_boxes = np.asarray(track_boxes, dtype=np.float64).reshape(-1, 4)
    keypoint_boxes = np.asarray(keypoint_boxes, dtype=np.float64).reshape(-1, 4)
    if not len(track_boxes) or not len(keypoint_boxes):
        return np.full(len(track_boxes), -1)
    overlap = np.nan_to_num(box_iou(track_boxes, keypoint_boxes), nan=0.0)
    best = overlap.argmax(axis=1)
    return np.where(overlap[np.arange(len(best)), best] >= min_iou, best, -1)


def face_frame_rotation(position: Sequence[float]) -> tuple | None:
    """
    Return the quaternion (x, y, z, w) of a face frame at `position` in the optical frame.

    REP 155 face frames have x forward (out of the face) and z up. The head's orientation is
    not estimated, so the face is taken to look at the camera: x points from the face to the
    camera, z up (the optical frame's -y, made orthogonal). None for a position on the axis of
    'up' or at the origin.
    """
    position = np.asarray(position, dtype=np.float64)
    distance = np.linalg.norm(position)
    if not (np.isfinite(position).all() and distance > 0):
        return None
    forward = -position / distance
    up = np.array([0.0, -1.0, 0.0])
    up -= forward * up.dot(forward)
    if np.linalg.norm(up) < 1e-9:
        return None
    up /= np.linalg.norm(up)
    left = np.cross(up, forward)
    return _quaternion(np.column_stack([forward, left, up]))


def _quaternion(rotation):
    """Return (x, y, z, w) of a proper rotation matrix (Shepperd's method)."""
    trace = np.trace(rotation)
    if trace > 0:
        s = 2.0 * math.sqrt(1.0 + trace)
        w = s / 4
        x = (rotation[2, 1] - rotation[1, 2]) / s
        y = (rotation[0, 2] - rotation[2, 0]) / s
        z = (rotation[1, 0] - rotation[0, 1]) / s
    else:
        i = int(np.argmax(np.diag(rotation)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(1.0 + rotation[i, i] - rotation[j, j] - rotation[k, k])
        q = [0.0, 0.0, 0.0]
        q[i] = s / 4
        q[j] = (rotation[j, i] + rotation[i, j]) / s
        q[k] = (rotation[k, i] + rotation[i, k]) / s
        w = (rotation[k, j] - rotation[j, k]) / s
        x, y, z = q
    return float(x), float(y), float(z), float(w)


class FaceSet:
    """The faces currently tracked: which appeared and which were lost since the last update."""

    def __init__(self) -> None:
        self.ids = []

    def update(self, ids: Iterable[str]) -> tuple[list, list]:
        """Set the tracked ids; return (appeared, lost), each in a stable order."""
        new = list(dict.fromkeys(ids))
        appeared = [face for face in new if face not in self.ids]
        lost = [face for face in self.ids if face not in new]
        self.ids = new
        return appeared, lost
