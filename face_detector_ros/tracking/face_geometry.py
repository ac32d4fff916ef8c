"""
Where a face is, from its box and the camera intrinsics: bearing, range and a 3D position.

A monocular camera gives the direction of a face exactly (up to calibration and box noise) and
its distance through the face's known width: a face W metres wide seen under an angle theta
between its left and right edges is at range W / (2 tan(theta / 2)). Both edges are undistorted
to rays first, so lens distortion does not bias the angle.

Frames and signs: rays, positions and covariances are in the camera's optical frame (REP 103:
z forward, x right, y down). Azimuth and elevation are the angles a robot turns by: azimuth
positive to the left (yaw about the camera's up axis), elevation positive up.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

# ROS convention for a quantity that is not estimated: a huge variance.
UNKNOWN_VARIANCE = 1e6
_ITERATIONS = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
_DISTORTION_LENGTHS = {
    'plumb_bob': (4, 5, 8, 12, 14),
    'rational_polynomial': (8, 12, 14),
    'equidistant': (4,),
}


class UncalibratedCamera(ValueError):
    """The camera has no intrinsics (K all zeros): no bearing or range can be computed."""


@dataclasses.dataclass(frozen=True)
class CameraModel:
    """Intrinsics K (3x3), distortion coefficients D and the distortion model name."""

    K: np.ndarray
    D: np.ndarray
    distortion_model: str = 'plumb_bob'

    def __post_init__(self):
        """Validate and normalise the arrays; raise UncalibratedCamera without focal lengths."""
        K = np.asarray(self.K, np.float64).reshape(3, 3)
        D = np.asarray(self.D, np.float64).ravel()
        if not (np.isfinite(K).all() and np.isfinite(D).all()):
            # NaN would flow into every bearing, range and position: refuse the calibration.
            raise ValueError('camera calibration has values that are not finite numbers '
                             f'(K {K.ravel().tolist()}, D {D.tolist()}); refused')
        if not (K[0, 0] > 0 and K[1, 1] > 0):
            raise UncalibratedCamera('camera is not calibrated (K has no focal length); '
                                     'calibrate it to get face bearings and ranges')
        model = self.distortion_model
        if not D.any():
            model, D = 'plumb_bob', np.zeros(5)
        elif model not in _DISTORTION_LENGTHS:
            raise ValueError(f'unsupported distortion model {model!r}; '
                             f'use one of {", ".join(_DISTORTION_LENGTHS)}')
        elif len(D) not in _DISTORTION_LENGTHS[model]:
            raise ValueError(f'{model} needs {_DISTORTION_LENGTHS[model]} distortion '
                             f'coefficients, got {len(D)}')
        object.__setattr__(self, 'K', K)
        object.__setattr__(self, 'D', D)
        object.__setattr__(self, 'distortion_model', model)

    @classmethod
    def from_camera_info(cls, info: object, rectified: bool = False) -> CameraModel:
        """
        Build the model of the image a sensor_msgs/CameraInfo describes.

        With rectified=True (detections on image_rect) the projection P is used and the image
        has no distortion. Binning and region of interest are applied as CameraInfo defines
        them. Raises UncalibratedCamera when K (or P) is all zeros.
        """
        if rectified:
            K, D = np.asarray(info.p, np.float64).reshape(3, 4)[:, :3].copy(), np.zeros(5)
        else:
            K, D = np.asarray(info.k, np.float64).reshape(3, 3).copy(), info.d
        # K describes the full-resolution sensor; the image may be a binned, cropped part of it.
        K[0, 2] -= info.roi.x_offset
        K[1, 2] -= info.roi.y_offset
        K[0] /= max(info.binning_x, 1)
        K[1] /= max(info.binning_y, 1)
        return cls(K, D, info.distortion_model)

    @property
    def focal_length(self) -> float:
        """Mean focal length in pixels."""
        return 0.5 * (self.K[0, 0] + self.K[1, 1])

    def rays(self, points: np.ndarray) -> np.ndarray:
        """Return the undistorted unit viewing ray of each pixel point, shape (N, 3)."""
        points = np.asarray(points, np.float64).reshape(-1, 1, 2)
        if not len(points):
            return np.zeros((0, 3))
        if self.distortion_model == 'equidistant':
            normalised = cv2.fisheye.undistortPoints(points, self.K, self.D)
        else:
            normalised = cv2.undistortPointsIter(points, self.K, self.D, None, None, _ITERATIONS)
        rays = np.concatenate([normalised.reshape(-1, 2), np.ones((len(points), 1))], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class FaceLocations:
    """Per-face estimates, vectorised over N faces (see the module docstring for frames)."""

    rays: np.ndarray          # (N, 3) unit rays to the face centres
    azimuth: np.ndarray       # (N,) radians, positive to the left
    elevation: np.ndarray     # (N,) radians, positive up
    distance: np.ndarray      # (N,) metres from the camera centre to the face centre
    distance_std: np.ndarray  # (N,) metres
    positions: np.ndarray     # (N, 3) metres, rays * distance
    covariances: np.ndarray   # (N, 6, 6) x, y, z, roll, pitch, yaw; orientation unknown


def locate_faces(camera: CameraModel, boxes: np.ndarray, face_width: float = 0.16,
                 face_width_std: float = 0.015, box_noise_px: float = 2.0) -> FaceLocations:
    """
    Estimate where faces are from their boxes (N, 4) x1, y1, x2, y2 in pixels.

    face_width is the real width (metres) that the detector's box spans on a face; its spread
    over people (face_width_std) and the box noise in pixels make up the covariance: along the
    ray sigma_r = r * hypot(face_width_std / face_width, box_noise_px / box_width_px) grows with
    range (squared for the pixel term), across it r * box_noise_px / f.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if (boxes[:, 2] <= boxes[:, 0]).any() or (boxes[:, 3] <= boxes[:, 1]).any():
        raise ValueError('face boxes need x2 > x1 and y2 > y1')
    centre_x = 0.5 * (boxes[:, 0] + boxes[:, 2])
    centre_y = 0.5 * (boxes[:, 1] + boxes[:, 3])
    points = np.stack([
        np.stack([boxes[:, 0], centre_y], axis=1),
        np.stack([boxes[:, 2], centre_y], axis=1),
        np.stack([centre_x, boxes[:, 1]], axis=1),
        np.stack([centre_x, boxes[:, 3]], axis=1),
    ], axis=1)
    rays = camera.rays(points.reshape(-1, 2)).reshape(-1, 4, 3)
    left, right = rays[:, 0], rays[:, 1]
    # Opposite edges of a face that looks at the camera lie symmetrically about the ray to its
    # centre, so the mean of the edge rays is that ray; the box centre pixel is not (perspective).
    centre = rays.sum(axis=1)
    centre /= np.linalg.norm(centre, axis=1, keepdims=True)

    half_angle = 0.5 * np.arccos(np.clip(np.sum(left * right, axis=1), -1.0, 1.0))
    distance = face_width / (2 * np.tan(half_angle))
    # Box width as an ideal pinhole camera of focal length f would see it.
    width_px = 2 * camera.focal_length * np.tan(half_angle)
    distance_std = distance * np.hypot(face_width_std / face_width, box_noise_px / width_px)
    across_std = distance * box_noise_px / camera.focal_length

    along = centre[:, :, None] * centre[:, None, :]
    position_cov = (distance_std ** 2)[:, None, None] * along + \
        (across_std ** 2)[:, None, None] * (np.eye(3) - along)
    covariances = np.zeros((len(boxes), 6, 6))
    covariances[:, :3, :3] = position_cov
    covariances[:, 3:, 3:] = UNKNOWN_VARIANCE * np.eye(3)

    x, y, z = centre.T
    return FaceLocations(
        rays=centre,
        azimuth=np.arctan2(-x, z),
        elevation=np.arctan2(-y, np.hypot(x, z)),
        distance=distance,
        distance_std=distance_std,
        positions=centre * distance[:, None],
        covariances=covariances,
    )
