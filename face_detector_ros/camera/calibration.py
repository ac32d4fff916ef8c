"""
Camera calibration files: ROS CameraInfo YAML (camera_calibration_parsers format), scaled to size.

No rclpy here: the camera node turns these fields into sensor_msgs/CameraInfo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml


class CalibrationError(ValueError):
    """A calibration file that cannot be read or used; the message names the file and field."""


def load_camera_info(path: str | Path) -> dict:
    """
    Read a ROS camera calibration YAML (camera_calibration_parsers format) into a dict.

    Returns the keys width, height, distortion_model, d, k, r, p (row-major lists).
    """
    path = str(path)
    try:
        with open(path, encoding='utf-8') as stream:
            data = yaml.safe_load(stream)
    except UnicodeDecodeError as error:
        raise CalibrationError(f'camera_info_file {path!r} is not a text YAML file '
                               f'({error.reason} at byte {error.start})') from None
    except OSError as error:
        raise CalibrationError(f'cannot read camera_info_file {path!r}: '
                               f'{error.strerror}') from None
    except yaml.YAMLError as error:
        raise CalibrationError(f'camera_info_file {path!r} is not valid YAML: {error}') from None

    def matrix(key, size):
        try:
            values = [float(v) for v in data[key]['data']]
        except (KeyError, TypeError, ValueError):
            raise CalibrationError(f'camera_info_file {path!r}: missing or malformed '
                                   f'{key}') from None
        if size is not None and len(values) != size:
            raise CalibrationError(f'camera_info_file {path!r}: {key} has {len(values)} values, '
                                   f'expected {size}')
        if not all(np.isfinite(values)):
            raise CalibrationError(f'camera_info_file {path!r}: {key} has values that are not '
                                   f'finite numbers: {values}')
        return values

    if not isinstance(data, dict):
        raise CalibrationError(f'camera_info_file {path!r} is not a calibration mapping')
    try:
        width, height = int(data['image_width']), int(data['image_height'])
    except (KeyError, TypeError, ValueError):
        raise CalibrationError(f'camera_info_file {path!r}: missing '
                               'image_width/image_height') from None
    if width <= 0 or height <= 0:
        raise CalibrationError(f'camera_info_file {path!r}: image_width and image_height must '
                               f'be positive, got {width}x{height}')
    return {
        'width': width,
        'height': height,
        'distortion_model': str(data.get('distortion_model', 'plumb_bob')),
        'd': matrix('distortion_coefficients', None),
        'k': matrix('camera_matrix', 9),
        'r': matrix('rectification_matrix', 9) if 'rectification_matrix' in data
        else list(np.eye(3).ravel()),
        'p': matrix('projection_matrix', 12),
    }


def camera_info_for_size(fields: dict, width: int, height: int) -> dict:
    """
    Return calibration fields for images of width x height.

    A calibration made at another resolution of the same aspect ratio is scaled (K and P
    rows 0 and 1); a different aspect ratio raises CalibrationError, since the image was cropped
    in a way the calibration cannot describe.
    """
    if (fields['width'], fields['height']) == (width, height):
        return fields
    if fields['width'] <= 0 or fields['height'] <= 0:
        raise CalibrationError(f'the calibration is for {fields["width"]}x{fields["height"]} '
                               'images: its size must be positive')
    scale_x, scale_y = width / fields['width'], height / fields['height']
    if abs(scale_x - scale_y) > 0.01 * max(scale_x, scale_y):
        raise CalibrationError(
            f'camera_info_file is for {fields["width"]}x{fields["height"]} images but the '
            f'camera publishes {width}x{height}: calibrate at this size or set width/height')
    k, p = list(fields['k']), list(fields['p'])
    for row, scale in ((0, scale_x), (1, scale_y)):
        k[3 * row:3 * row + 3] = [v * scale for v in k[3 * row:3 * row + 3]]
        p[4 * row:4 * row + 4] = [v * scale for v in p[4 * row:4 * row + 4]]
    return {**fields, 'width': width, 'height': height, 'k': k, 'p': p}


def uncalibrated_camera_info(width: int, height: int) -> dict:
    """Return CameraInfo fields of an uncalibrated camera: right size, K all zeros."""
    return {'width': width, 'height': height, 'distortion_model': '', 'd': [],
            'k': [0.0] * 9, 'r': [0.0] * 9, 'p': [0.0] * 12}
