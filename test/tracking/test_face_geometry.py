"""Tests for face bearing, range and position from a box and the camera intrinsics."""

import time
import types

import cv2
from face_detector_ros.tracking import face_geometry
from face_detector_ros.tracking.face_geometry import CameraModel, locate_faces, UncalibratedCamera
import numpy as np
import pytest

FACE_WIDTH = 0.16
FACE_HEIGHT = 0.2
K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
CAMERAS = {
    'pinhole': CameraModel(K, []),
    'plumb_bob': CameraModel(K, [-0.3, 0.1, 0.001, -0.001, 0.0], 'plumb_bob'),
    'rational_polynomial': CameraModel(
        K, [0.2, -0.1, 0.0005, 0.0005, 0.01, 0.45, -0.05, 0.02], 'rational_polynomial'),
    'equidistant': CameraModel([[300.0, 0, 320], [0, 300.0, 240], [0, 0, 1]],
                               [0.05, -0.02, 0.005, -0.001], 'equidistant'),
}


def _face_positions():
    """Face centres at 0.5-5 m, bearings spread over the image."""
    positions = []
    for distance in (0.5, 1.0, 2.0, 3.5, 5.0):
        for azimuth in np.radians([-25, -10, 0, 15, 28]):
            for elevation in np.radians([-18, 0, 12]):
                direction = [-np.sin(azimuth) * np.cos(elevation), -np.sin(elevation),
                             np.cos(azimuth) * np.cos(elevation)]
                positions.append(distance * np.array(direction))
    return np.array(positions)


def _project_boxes(camera, positions):
    """Project the edges of upright faces that look at the camera; return the image boxes."""
    boxes = []
    for position in positions:
        towards = position / np.linalg.norm(position)
        right = np.cross([0, 1.0, 0], towards)
        right /= np.linalg.norm(right)
        down = np.cross(towards, right)
        edges = position + np.array([-right, right, -down, down]) * [
            [FACE_WIDTH / 2], [FACE_WIDTH / 2], [FACE_HEIGHT / 2], [FACE_HEIGHT / 2]]
        edges = edges.reshape(-1, 1, 3)
        if camera.distortion_model == 'equidistant':
            pixels, _ = cv2.fisheye.projectPoints(edges, np.zeros(3), np.zeros(3),
                                                  camera.K, camera.D)
        else:
            pixels, _ = cv2.projectPoints(edges, np.zeros(3), np.zeros(3), camera.K, camera.D)
        pixels = pixels.reshape(-1, 2)
        boxes.append([pixels[0, 0], pixels[2, 1], pixels[1, 0], pixels[3, 1]])
    return np.array(boxes)


def _visible_faces(camera):
    """Return the test faces whose boxes lie wholly inside the 640x480 image, and the boxes."""
    positions = _face_positions()
    boxes = _project_boxes(camera, positions)
    inside = (boxes[:, :2] >= 0).all(axis=1) & (boxes[:, 2] <= 640) & (boxes[:, 3] <= 480)
    assert inside.sum() >= 60
    return positions[inside], boxes[inside]


def _truth(positions):
    x, y, z = positions.T
    return np.linalg.norm(positions, axis=1), np.arctan2(-x, z), np.arctan2(-y, np.hypot(x, z))


@pytest.mark.parametrize('name', sorted(CAMERAS))
def test_range_and_bearing_from_projected_faces(name):
    camera = CAMERAS[name]
    positions, boxes = _visible_faces(camera)
    faces = locate_faces(camera, boxes, face_width=FACE_WIDTH)
    distance, azimuth, elevation = _truth(positions)
    assert np.abs(faces.distance / distance - 1).max() < 0.02
    assert np.degrees(np.abs(faces.azimuth - azimuth)).max() < 0.5
    assert np.degrees(np.abs(faces.elevation - elevation)).max() < 0.5
    np.testing.assert_allclose(np.linalg.norm(faces.rays, axis=1), 1.0)
    assert np.linalg.norm(faces.positions - positions, axis=1).max() < 0.02 * distance.max()


def test_box_noise_stays_within_the_issue_tolerance():
    camera = CAMERAS['plumb_bob']
    positions, boxes = _visible_faces(camera)
    # At 5 m a face is 16 px wide here: each pixel of width error is 6 % of range.
    noisy = boxes + np.random.default_rng(0).uniform(-0.5, 0.5, boxes.shape)
    faces = locate_faces(camera, noisy, face_width=FACE_WIDTH)
    distance, azimuth, elevation = _truth(positions)
    assert np.abs(faces.distance / distance - 1).max() < 0.10
    assert np.degrees(np.abs(faces.azimuth - azimuth)).max() < 1.0
    assert np.degrees(np.abs(faces.elevation - elevation)).max() < 1.0


def test_ignoring_distortion_would_miss_the_tolerance():
    positions, boxes = _visible_faces(CAMERAS['plumb_bob'])
    naive = locate_faces(CAMERAS['pinhole'], boxes, face_width=FACE_WIDTH)
    distance, azimuth, _ = _truth(positions)
    assert np.degrees(np.abs(naive.azimuth - azimuth)).max() > 1.0
    assert np.abs(naive.distance / distance - 1).max() > 0.10


def test_covariance_grows_with_range_along_the_ray():
    camera = CAMERAS['pinhole']
    positions = np.array([[0.3, -0.1, 1.0], [0.6, -0.2, 2.0], [1.2, -0.4, 4.0]])
    faces = locate_faces(camera, _project_boxes(camera, positions), face_width=FACE_WIDTH)
    position_cov = faces.covariances[:, :3, :3]
    np.testing.assert_allclose(position_cov, np.transpose(position_cov, (0, 2, 1)))
    eigenvalues, eigenvectors = np.linalg.eigh(position_cov)
    assert (eigenvalues > 0).all()
    assert (np.diff(eigenvalues, axis=0) > 0).all()
    # The largest uncertainty is along the viewing ray (range), well above the lateral one.
    along = np.abs(np.sum(eigenvectors[:, :, 2] * faces.rays, axis=1))
    np.testing.assert_allclose(along, 1.0, atol=1e-9)
    assert (eigenvalues[:, 2] > 10 * eigenvalues[:, 1]).all()
    np.testing.assert_allclose(np.sqrt(eigenvalues[:, 2]), faces.distance_std)
    # Face width spread alone: 0.015 / 0.16 of the range; box noise adds more when far.
    assert (faces.distance_std / faces.distance > 0.015 / 0.16).all()
    assert np.diff(faces.distance_std / faces.distance).min() > 0
    np.testing.assert_array_equal(faces.covariances[:, 3:, 3:],
                                  np.broadcast_to(1e6 * np.eye(3), (3, 3, 3)))
    assert not faces.covariances[:, :3, 3:].any()


def _camera_info(**fields):
    info = types.SimpleNamespace(k=[0.0] * 9, d=[], distortion_model='', p=[0.0] * 12,
                                 binning_x=0, binning_y=0,
                                 roi=types.SimpleNamespace(x_offset=0, y_offset=0))
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def test_uncalibrated_camera_is_refused():
    with pytest.raises(UncalibratedCamera, match='not calibrated'):
        CameraModel.from_camera_info(_camera_info())
    with pytest.raises(UncalibratedCamera):
        CameraModel(np.zeros((3, 3)), [])


@pytest.mark.parametrize('k,d', [
    ([500.0, 0, 320, 0, float('nan'), 240, 0, 0, 1], [0.0] * 5),
    ([500.0, 0, 320, 0, 500, 240, 0, 0, 1], [0.1, float('inf'), 0, 0, 0])])
def test_calibration_with_nan_or_inf_is_refused(k, d):
    with pytest.raises(ValueError, match='not finite'):
        CameraModel.from_camera_info(_camera_info(k=k, d=d, distortion_model='plumb_bob'))


def test_camera_info_message_with_binning_roi_and_rectified():
    sensor_msgs = pytest.importorskip('sensor_msgs.msg')
    info = sensor_msgs.CameraInfo(
        k=[1000.0, 0, 700, 0, 1000.0, 500, 0, 0, 1], d=[-0.3, 0.1, 0.0, 0.0, 0.0],
        distortion_model='plumb_bob', p=[900.0, 0, 650, 0, 0, 900.0, 480, 0, 0, 0, 1, 0],
        binning_x=2, binning_y=2)
    info.roi.x_offset, info.roi.y_offset = 60, 20
    camera = CameraModel.from_camera_info(info)
    np.testing.assert_allclose(camera.K, [[500, 0, 320], [0, 500, 240], [0, 0, 1]])
    np.testing.assert_allclose(camera.D, [-0.3, 0.1, 0, 0, 0])
    rectified = CameraModel.from_camera_info(info, rectified=True)
    np.testing.assert_allclose(rectified.K, [[450, 0, 295], [0, 450, 230], [0, 0, 1]])
    assert not rectified.D.any()
    with pytest.raises(UncalibratedCamera):
        CameraModel.from_camera_info(sensor_msgs.CameraInfo())


def test_invalid_inputs():
    with pytest.raises(ValueError, match='unsupported distortion model'):
        CameraModel(K, [0.1, 0, 0, 0, 0], 'kannala')
    with pytest.raises(ValueError, match='equidistant needs'):
        CameraModel(K, [0.1, 0, 0, 0, 0], 'equidistant')
    with pytest.raises(ValueError, match='x2 > x1'):
        locate_faces(CAMERAS['pinhole'], [[10, 10, 5, 20]])
    empty = locate_faces(CAMERAS['plumb_bob'], np.zeros((0, 4)))
    assert empty.positions.shape == (0, 3) and empty.covariances.shape == (0, 6, 6)


def test_many_faces_are_cheap():
    camera = CAMERAS['rational_polynomial']
    boxes = _visible_faces(camera)[1][:50]
    locate_faces(camera, boxes)
    start = time.perf_counter()
    for _ in range(20):
        locate_faces(camera, boxes)
    assert (time.perf_counter() - start) / 20 < 0.02
    assert face_geometry.UNKNOWN_VARIANCE == 1e6
