"""
sensor_msgs/Image and CompressedImage to and from numpy, with cv_bridge's semantics.

cv_bridge is used when it imports (a robot's ROS install); otherwise the numpy code here does the
same: passthrough keeps the encoding's dtype and channels, colour conversions go through OpenCV,
8 <-> 16 bit conversions scale by 65535/255 as cv_bridge does, `bayer_*` (8 and 16 bit) are
demosaiced to bgr, rgb or mono as cv_bridge does, `step` padding and `is_bigendian` are
honoured (and set for a big-endian array). The module never imports rclpy; message classes are
imported lazily so the pure functions work on any object with the message's fields.
"""

import sys

import cv2
import numpy as np

try:  # pragma: no cover - only on a machine with ROS's cv_bridge
    from cv_bridge import CvBridge
    _CV_BRIDGE = CvBridge()
except ImportError:
    _CV_BRIDGE = None


class ImageConversionError(ValueError):
    """An image message that cannot be converted; the message names the field and values."""


# encoding -> (numpy dtype, channels, colour space or None for plain numeric encodings)
_ENCODINGS = {
    'bgr8': (np.uint8, 3, 'bgr'),
    'rgb8': (np.uint8, 3, 'rgb'),
    'bgra8': (np.uint8, 4, 'bgra'),
    'rgba8': (np.uint8, 4, 'rgba'),
    'mono8': (np.uint8, 1, 'gray'),
    'bgr16': (np.uint16, 3, 'bgr'),
    'rgb16': (np.uint16, 3, 'rgb'),
    'bgra16': (np.uint16, 4, 'bgra'),
    'rgba16': (np.uint16, 4, 'rgba'),
    'mono16': (np.uint16, 1, 'gray'),
    'yuv422': (np.uint8, 2, 'uyvy'),
    'uyvy': (np.uint8, 2, 'uyvy'),
    'yuv422_yuy2': (np.uint8, 2, 'yuyv'),
    'yuyv': (np.uint8, 2, 'yuyv'),
}
# ROS Bayer names give the colours of the top-left 2x2 block (bayer_rggb8: R G / G B); OpenCV
# names its codes after the second row's second and third pixels, so the names are shifted, as
# in cv_bridge: bayer_rggb -> COLOR_BayerBG2*, bggr -> RG, gbrg -> GR, grbg -> GB.
_BAYER_CODES = {
    'rggb': (cv2.COLOR_BayerBG2BGR, cv2.COLOR_BayerBG2RGB, cv2.COLOR_BayerBG2GRAY),
    'bggr': (cv2.COLOR_BayerRG2BGR, cv2.COLOR_BayerRG2RGB, cv2.COLOR_BayerRG2GRAY),
    'gbrg': (cv2.COLOR_BayerGR2BGR, cv2.COLOR_BayerGR2RGB, cv2.COLOR_BayerGR2GRAY),
    'grbg': (cv2.COLOR_BayerGB2BGR, cv2.COLOR_BayerGB2RGB, cv2.COLOR_BayerGB2GRAY),
}
for _pattern in _BAYER_CODES:
    _ENCODINGS[f'bayer_{_pattern}8'] = (np.uint8, 1, f'bayer_{_pattern}')
    _ENCODINGS[f'bayer_{_pattern}16'] = (np.uint16, 1, f'bayer_{_pattern}')
_NUMERIC_DTYPES = {'8U': np.uint8, '8S': np.int8, '16U': np.uint16, '16S': np.int16,
                   '32S': np.int32, '32F': np.float32, '64F': np.float64}
for _depth, _dtype in _NUMERIC_DTYPES.items():
    for _channels in (1, 2, 3, 4):
        _ENCODINGS[f'{_depth}C{_channels}'] = (_dtype, _channels, None)

# (source colour space, target colour space) -> OpenCV conversion code
_CVT = {
    ('bgr', 'rgb'): cv2.COLOR_BGR2RGB, ('rgb', 'bgr'): cv2.COLOR_RGB2BGR,
    ('bgr', 'bgra'): cv2.COLOR_BGR2BGRA, ('bgr', 'rgba'): cv2.COLOR_BGR2RGBA,
    ('rgb', 'bgra'): cv2.COLOR_RGB2BGRA, ('rgb', 'rgba'): cv2.COLOR_RGB2RGBA,
    ('bgra', 'bgr'): cv2.COLOR_BGRA2BGR, ('bgra', 'rgb'): cv2.COLOR_BGRA2RGB,
    ('rgba', 'bgr'): cv2.COLOR_RGBA2BGR, ('rgba', 'rgb'): cv2.COLOR_RGBA2RGB,
    ('bgra', 'rgba'): cv2.COLOR_BGRA2RGBA, ('rgba', 'bgra'): cv2.COLOR_RGBA2BGRA,
    ('bgr', 'gray'): cv2.COLOR_BGR2GRAY, ('rgb', 'gray'): cv2.COLOR_RGB2GRAY,
    ('bgra', 'gray'): cv2.COLOR_BGRA2GRAY, ('rgba', 'gray'): cv2.COLOR_RGBA2GRAY,
    ('gray', 'bgr'): cv2.COLOR_GRAY2BGR, ('gray', 'rgb'): cv2.COLOR_GRAY2RGB,
    ('gray', 'bgra'): cv2.COLOR_GRAY2BGRA, ('gray', 'rgba'): cv2.COLOR_GRAY2RGBA,
    ('uyvy', 'bgr'): cv2.COLOR_YUV2BGR_UYVY, ('uyvy', 'rgb'): cv2.COLOR_YUV2RGB_UYVY,
    ('uyvy', 'bgra'): cv2.COLOR_YUV2BGRA_UYVY, ('uyvy', 'rgba'): cv2.COLOR_YUV2RGBA_UYVY,
    ('uyvy', 'gray'): cv2.COLOR_YUV2GRAY_UYVY,
    ('yuyv', 'bgr'): cv2.COLOR_YUV2BGR_YUY2, ('yuyv', 'rgb'): cv2.COLOR_YUV2RGB_YUY2,
    ('yuyv', 'bgra'): cv2.COLOR_YUV2BGRA_YUY2, ('yuyv', 'rgba'): cv2.COLOR_YUV2RGBA_YUY2,
    ('yuyv', 'gray'): cv2.COLOR_YUV2GRAY_YUY2,
}
for _pattern, (_to_bgr, _to_rgb, _to_gray) in _BAYER_CODES.items():
    # cv_bridge demosaics to bgr, rgb and mono only (8 or 16 bit, then scaled as usual).
    _CVT[(f'bayer_{_pattern}', 'bgr')] = _to_bgr
    _CVT[(f'bayer_{_pattern}', 'rgb')] = _to_rgb
    _CVT[(f'bayer_{_pattern}', 'gray')] = _to_gray

_HOST_BIG_ENDIAN = sys.byteorder == 'big'


def encoding_info(encoding):
    """Return (dtype, channels, colour space) of a sensor_msgs/image_encodings name."""
    try:
        return _ENCODINGS[encoding]
    except KeyError:
        raise ImageConversionError(
            f'unsupported image encoding {encoding!r}; supported: '
            f'{", ".join(sorted(_ENCODINGS))}') from None


def image_to_numpy(msg, desired_encoding='passthrough'):
    """
    Convert a sensor_msgs/Image to an array, like cv_bridge's imgmsg_to_cv2.

    The result is (height, width) for one channel, (height, width, channels) otherwise; the
    dtype follows the encoding. With desired_encoding other than 'passthrough' the image is
    converted as cv_bridge converts it. The returned array never aliases the message's buffer.
    """
    dtype, channels, _ = encoding_info(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    dtype = np.dtype(dtype)
    row_bytes = width * channels * dtype.itemsize
    data = msg.data
    if height == 0 or width == 0:
        raise ImageConversionError(f'empty image: height={height}, width={width}')
    if step < row_bytes:
        raise ImageConversionError(
            f'step {step} is smaller than width * bytes per pixel = {row_bytes} '
            f'for encoding {msg.encoding!r}, width {width}')
    if len(data) != height * step:
        raise ImageConversionError(
            f'data has {len(data)} bytes but height * step = {height} * {step} = '
            f'{height * step}; the publisher filled the Image message inconsistently')
    buffer = _byte_array(data)
    rows = buffer.reshape(height, step)[:, :row_bytes]
    pixels = rows.view(dtype.newbyteorder('>' if msg.is_bigendian else '<'))
    shape = (height, width) if channels == 1 else (height, width, channels)
    array = pixels.reshape(shape).astype(dtype.newbyteorder('='), copy=True)
    if desired_encoding in ('passthrough', msg.encoding):
        return array
    return convert_encoding(array, msg.encoding, desired_encoding)


def _byte_array(data):
    """View message data (bytes, array.array, numpy array or list) as a uint8 array."""
    if isinstance(data, (list, tuple)):
        return np.array(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def convert_encoding(array, source, target):
    """Convert an array between two encodings, with cv_bridge's rules."""
    source_dtype, source_channels, source_space = encoding_info(source)
    target_dtype, target_channels, target_space = encoding_info(target)
    if source_space is None or target_space is None:
        # cv_bridge: a numeric encoding converts only to the same number of channels.
        if source_channels != target_channels:
            raise ImageConversionError(
                f'cannot convert {source!r} ({source_channels} channels) to {target!r} '
                f'({target_channels} channels): {source!r} or {target!r} is not a colour '
                'encoding')
        return _convert_depth(array, source_dtype, target_dtype)
    if source_space in ('uyvy', 'yuyv') and array.shape[1] % 2:
        raise ImageConversionError(f'{source!r} packs two pixels in four bytes: the width '
                                   f'must be even, got {array.shape[1]}')
    if source_space != target_space:
        if {source_space, target_space} == {'uyvy', 'yuyv'}:
            # A lossless byte reorder (U Y0 V Y1 <-> Y0 U Y1 V): each pixel's two bytes swap.
            # cv_bridge refuses it; reordering is exact, so there is no reason to refuse.
            return np.ascontiguousarray(array[:, :, ::-1])
        code = _CVT.get((source_space, target_space))
        if code is None:
            raise ImageConversionError(
                f'conversion from {source!r} to {target!r} is not supported (as in cv_bridge)')
        array = cv2.cvtColor(array, code)
        if source_space in ('uyvy', 'yuyv'):
            source_dtype = np.uint8
    return _convert_depth(array, source_dtype, target_dtype)


def _convert_depth(array, source_dtype, target_dtype):
    if np.dtype(source_dtype) == np.dtype(target_dtype):
        return array
    source_bits = np.dtype(source_dtype).itemsize * 8
    target_bits = np.dtype(target_dtype).itemsize * 8
    if (source_bits, target_bits) == (16, 8) and np.dtype(target_dtype).kind == 'u':
        scaled = np.rint(array.astype(np.float64) * (255.0 / 65535.0))
    elif (source_bits, target_bits) == (8, 16) and np.dtype(source_dtype).kind == 'u':
        scaled = np.rint(array.astype(np.float64) * (65535.0 / 255.0))
    else:
        scaled = array
    if np.dtype(target_dtype).kind in 'ui':
        info = np.iinfo(target_dtype)
        scaled = np.clip(np.rint(scaled), info.min, info.max)
    return scaled.astype(target_dtype)


def numpy_to_image(array, encoding, header=None, message_type=None):
    """
    Build a sensor_msgs/Image from an array, like cv_bridge's cv2_to_imgmsg.

    Rows are packed (step = width * bytes per pixel) in the array's byte order: as in
    cv_bridge, a big-endian array (dtype byte order '>') keeps its bytes and sets is_bigendian.
    """
    dtype, channels, _ = encoding_info(encoding)
    array = np.asarray(array)
    actual_channels = 1 if array.ndim == 2 else array.shape[2] if array.ndim == 3 else None
    native = array.dtype.newbyteorder('=')
    if actual_channels != channels or native != np.dtype(dtype):
        raise ImageConversionError(
            f'array of shape {array.shape} and dtype {array.dtype} does not match encoding '
            f'{encoding!r} ({channels} channels of {np.dtype(dtype)})')
    if message_type is None:
        from sensor_msgs.msg import Image as message_type
    msg = message_type()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    byteorder = array.dtype.byteorder
    msg.is_bigendian = int(byteorder == '>' or (byteorder in '=|' and _HOST_BIG_ENDIAN))
    msg.step = int(array.shape[1] * channels * array.dtype.itemsize)
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def compressed_to_numpy(msg, desired_encoding='bgr8'):
    """Decode a sensor_msgs/CompressedImage (jpeg or png) to an array in desired_encoding."""
    buffer = _byte_array(msg.data)
    if buffer.size == 0:
        raise ImageConversionError(f'CompressedImage with format {msg.format!r} has no data')
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ImageConversionError(
            f'CompressedImage data ({buffer.size} bytes, format {msg.format!r}) is not a '
            'jpeg or png image OpenCV can decode')
    source = {
        (np.uint8, 1): 'mono8', (np.uint8, 3): 'bgr8', (np.uint8, 4): 'bgra8',
        (np.uint16, 1): 'mono16', (np.uint16, 3): 'bgr16', (np.uint16, 4): 'bgra16',
    }.get((decoded.dtype.type, 1 if decoded.ndim == 2 else decoded.shape[2]))
    if source is None:
        raise ImageConversionError(
            f'CompressedImage (format {msg.format!r}) decodes to {decoded.dtype} with shape '
            f'{decoded.shape}; only 8 or 16 bit mono, bgr or bgra images are supported')
    if desired_encoding in ('passthrough', source):
        return decoded
    return convert_encoding(decoded, source, desired_encoding)


def numpy_to_compressed(array, encoding='bgr8', image_format='jpeg', header=None,
                        message_type=None, quality=90):
    """Encode an array as a sensor_msgs/CompressedImage ('jpeg' or 'png')."""
    if image_format not in ('jpeg', 'png'):
        raise ImageConversionError(f'format {image_format!r} is not jpeg or png')
    _, channels, space = encoding_info(encoding)
    if space in ('rgb', 'rgba'):
        array = convert_encoding(array, encoding, 'bgr8' if channels == 3 else 'bgra8')
    params = ([cv2.IMWRITE_JPEG_QUALITY, quality] if image_format == 'jpeg' else [])
    ok, encoded = cv2.imencode('.jpg' if image_format == 'jpeg' else '.png', array, params)
    if not ok:
        raise ImageConversionError(f'OpenCV could not encode a {encoding!r} image as '
                                   f'{image_format}')
    if message_type is None:
        from sensor_msgs.msg import CompressedImage as message_type
    msg = message_type()
    if header is not None:
        msg.header = header
    msg.format = image_format
    msg.data = encoded.tobytes()
    return msg


def to_bgr8(msg):
    """
    Return any Image or CompressedImage as a bgr8 array, with cv_bridge when available.

    Whatever goes wrong with the message raises ImageConversionError, so a node can count
    it and go on.
    """
    try:
        if hasattr(msg, 'format'):
            return compressed_to_numpy(msg, 'bgr8')
        if _CV_BRIDGE is None or msg.encoding not in _ENCODINGS:
            return image_to_numpy(msg, 'bgr8')
        if msg.height == 0 or msg.width == 0 or len(msg.data) != msg.height * msg.step:
            return image_to_numpy(msg, 'bgr8')  # the clear error cv_bridge would not give
        return _CV_BRIDGE.imgmsg_to_cv2(msg, 'bgr8')  # pragma: no cover - ROS machines only
    except ImageConversionError:
        raise
    except (cv2.error, TypeError, ValueError, AttributeError) as error:  # CvBridgeError: TypeError
        encoding = getattr(msg, 'encoding', None) or getattr(msg, 'format', '?')
        raise ImageConversionError(f'cannot convert a {encoding!r} image to bgr8: '
                                   f'{str(error).strip().splitlines()[-1]}') from error
