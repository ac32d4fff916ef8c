"""
sensor_msgs/Image and CompressedImage to and from numpy, with cv_bridge's semantics.

cv_bridge is used when it imports (a robot's ROS install); otherwise the numpy code here does the
same: passthrough keeps the encoding's dtype and channels (`8UC5`, `32FC10` and `8U`, one
channel, included), colour conversions go through OpenCV, a plain numeric encoding never becomes
a colour one, 8 <-> 16 bit changes scale by 65535/255 (signed or not) as cv_bridge does,
`bayer_*` (8 and 16 bit) are demosaiced to bgr, rgb or mono as cv_bridge does, `step` padding
and `is_bigendian` are honoured (and set for a big-endian array). CompressedImage is any format
OpenCV reads or writes. test/ros/test_cv_bridge_parity.py names where and why this differs from
cv_bridge. The module never imports rclpy; message classes are imported lazily so the pure
functions work on any object with the message's fields.
"""

import re
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


# encoding -> (numpy dtype, channels, colour space); plain numeric encodings are parsed below
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
_DTYPE_DEPTHS = {np.dtype(dtype): depth for depth, dtype in _NUMERIC_DTYPES.items()}
# cv_bridge's getCvType: '<depth>C<channels>', or the depth alone for one channel
_NUMERIC = re.compile(r'(8U|8S|16U|16S|32S|32F|64F)(?:C([0-9]+))?')
_MAX_CHANNELS = 512  # OpenCV's CV_CN_MAX

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
_JPEG_FORMATS = ('jpeg', 'jpg', 'jpe')


def encoding_info(encoding):
    """Return (dtype, channels, colour space) of a sensor_msgs/image_encodings name."""
    if encoding in _ENCODINGS:
        return _ENCODINGS[encoding]
    match = _NUMERIC.fullmatch(str(encoding))
    if match is None:
        raise ImageConversionError(
            f'unsupported image encoding {encoding!r}; supported: '
            f'{", ".join(sorted(_ENCODINGS))}, and <depth>C<channels> or <depth> alone (one '
            f'channel) for depth {", ".join(_NUMERIC_DTYPES)}, e.g. 16UC1 or 32FC3')
    channels = int(match[2]) if match[2] else 1
    if not 1 <= channels <= _MAX_CHANNELS:
        raise ImageConversionError(f'image encoding {encoding!r} has {channels} channels; '
                                   f'OpenCV takes 1 to {_MAX_CHANNELS}')
    return _NUMERIC_DTYPES[match[1]], channels, None


def _is_supported(encoding):
    try:
        encoding_info(encoding)
    except ImageConversionError:
        return False
    return True


def numeric_encoding(dtype, channels):
    """Return the plain numeric encoding ('8UC3', '32FC1', ...) of a dtype and channel count."""
    depth = _DTYPE_DEPTHS.get(np.dtype(dtype).newbyteorder('='))
    if depth is None:
        raise ImageConversionError(
            f'no ROS image encoding holds {np.dtype(dtype)} values; use one of '
            f'{", ".join(str(np.dtype(d)) for d in _NUMERIC_DTYPES.values())}')
    return f'{depth}C{channels}'


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
    """Convert an array between two encodings, with cv_bridge's rules (getConversionCode)."""
    source_dtype, source_channels, source_space = encoding_info(source)
    target_dtype, target_channels, target_space = encoding_info(target)
    if source == target:
        return array
    if source_space is None and target_space is not None:
        # cv_bridge: numbers such as depth or labels (8UC1, 16UC1) have no colour meaning.
        raise ImageConversionError(
            f'cannot convert {source!r} to {target!r}: {source!r} is a plain numeric encoding, '
            f'not a colour one, so it cannot become {target!r} (cv_bridge refuses it too); '
            'publish the image with a colour encoding (mono8, bgr8, ...) or use passthrough')
    if target_space is None or source_space is None:
        if source_channels != target_channels:
            raise ImageConversionError(
                f'cannot convert {source!r} ({source_channels} channels) to {target!r} '
                f'({target_channels} channels): a plain numeric encoding converts only to or '
                'from one with the same number of channels')
        return _convert_depth(array, source_dtype, target_dtype)
    if {source_space, target_space} == {'uyvy', 'yuyv'}:
        # A lossless byte reorder (U Y0 V Y1 <-> Y0 U Y1 V): each pixel's two bytes swap.
        # cv_bridge refuses it; reordering is exact, so there is no reason to refuse.
        return np.ascontiguousarray(array[:, :, ::-1])
    if source_space != target_space or source_space.startswith('bayer'):
        code = _CVT.get((source_space, target_space))
        if code is None:
            raise ImageConversionError(
                f'conversion from {source!r} to {target!r} is not supported (as in cv_bridge)')
        if source_space in ('uyvy', 'yuyv') and array.shape[1] % 2:
            raise ImageConversionError(f'{source!r} packs two pixels in four bytes: the width '
                                       f'must be even, got {array.shape[1]}')
        array = cv2.cvtColor(array, code)
    return _convert_depth(array, source_dtype, target_dtype)


def _convert_depth(array, source_dtype, target_dtype):
    """Change the dtype as cv_bridge's convertTo does: scaled by bit depth, rounded, saturated."""
    source, target = np.dtype(source_dtype), np.dtype(target_dtype)
    if source == target:
        return array
    # cv_bridge scales by bit depth alone, signed or not: 8 -> 16 bit by 65535/255, 16 -> 8
    # bit by 255/65535; every other change keeps the values.
    scale = {(1, 2): 65535.0 / 255.0, (2, 1): 255.0 / 65535.0}.get(
        (source.itemsize, target.itemsize), 1.0)
    values = array.astype(np.float64) * scale
    if target.kind == 'f':
        return values.astype(target)
    # OpenCV rounds half to even (as np.rint) and saturates; NaN becomes 0 here, OpenCV's
    # result for NaN depends on the CPU.
    info = np.iinfo(target)
    values = np.clip(np.rint(np.nan_to_num(values, nan=0.0)), info.min, info.max)
    return values.astype(target)


def _check_array(array, encoding):
    """Return the encoding ('passthrough' named after the array) if the array fits it."""
    if not isinstance(array, np.ndarray):
        raise ImageConversionError(f'expected a numpy array, got {type(array).__name__}')
    if array.ndim not in (2, 3):
        raise ImageConversionError(f'expected an array of shape (height, width) or (height, '
                                   f'width, channels), got shape {array.shape}')
    actual_channels = 1 if array.ndim == 2 else array.shape[2]
    if encoding == 'passthrough':
        encoding = numeric_encoding(array.dtype, actual_channels)
    dtype, channels, _ = encoding_info(encoding)
    if actual_channels != channels or array.dtype.newbyteorder('=') != np.dtype(dtype):
        raise ImageConversionError(
            f'array of shape {array.shape} and dtype {array.dtype} does not match encoding '
            f'{encoding!r} ({channels} channels of {np.dtype(dtype)})')
    return encoding


def numpy_to_image(array, encoding='passthrough', header=None, message_type=None):
    """
    Build a sensor_msgs/Image from an array, like cv_bridge's cv2_to_imgmsg.

    'passthrough' names the encoding after the array ('8UC3', '32FC1', ...), as cv_bridge does.
    Rows are packed (step = width * bytes per pixel) in the array's byte order: as in
    cv_bridge, a big-endian array (dtype byte order '>') keeps its bytes and sets is_bigendian.
    """
    encoding = _check_array(array, encoding)
    if message_type is None:
        from sensor_msgs.msg import Image as message_type
    msg = message_type()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    byteorder = array.dtype.byteorder
    msg.is_bigendian = int(byteorder == '>' or (byteorder in '=|' and _HOST_BIG_ENDIAN))
    msg.step = int(array.shape[1] * array.itemsize * (array.shape[2] if array.ndim == 3 else 1))
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def decoded_encoding(decoded):
    """
    Return the encoding of an image cv2.imdecode gave (IMREAD_UNCHANGED).

    8 and 16 bit images with 1, 3 or 4 channels are mono, bgr or bgra (OpenCV decodes colour as
    BGR); anything else (float TIFF, HDR, PFM, 2 channels) keeps a plain numeric encoding.
    """
    channels = 1 if decoded.ndim == 2 else decoded.shape[2]
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(decoded.dtype)
    space = {1: 'mono', 3: 'bgr', 4: 'bgra'}.get(channels)
    if bits is None or space is None:
        return numeric_encoding(decoded.dtype, channels)
    return f'{space}{bits}'


def compressed_to_numpy(msg, desired_encoding='bgr8'):
    """
    Decode a sensor_msgs/CompressedImage in any format OpenCV reads to an array.

    Decoded unchanged (16 bit, alpha and one channel kept, as cv_bridge's IMREAD_UNCHANGED);
    the format field is not needed (OpenCV reads the data's signature). 'passthrough' returns
    the decoded array; other encodings convert from decoded_encoding() with cv_bridge's rules.
    """
    buffer = _byte_array(msg.data)
    if buffer.size == 0:
        raise ImageConversionError(f'CompressedImage with format {msg.format!r} has no data')
    try:
        decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        decoded, reason = None, str(error).strip().splitlines()[-1]
    else:
        reason = 'no OpenCV decoder recognises it'
    if decoded is None:
        raise ImageConversionError(
            f'CompressedImage data ({buffer.size} bytes, format {msg.format!r}) cannot be '
            f'decoded: {reason}')
    if desired_encoding == 'passthrough':
        return decoded
    return convert_encoding(decoded, decoded_encoding(decoded), desired_encoding)


def _native(array):
    """Return a C-contiguous array in the machine's byte order (what OpenCV takes)."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder('='))


def numpy_to_compressed(array, encoding='bgr8', image_format='jpeg', header=None,
                        message_type=None, quality=90):
    """
    Encode an array as a sensor_msgs/CompressedImage in any format OpenCV writes.

    image_format is the file extension ('jpeg', 'jpg', 'png', 'bmp', 'tiff', 'webp', ...) and
    becomes the message's format, as in cv_bridge. rgb and rgba are stored as bgr and bgra,
    yuv and Bayer as bgr; mono, bgr(a) and plain numeric arrays are encoded as they are, so
    mono16 stays 16 bit in png or tiff. quality applies to jpeg.
    """
    encoding = _check_array(array, encoding)
    space = encoding_info(encoding)[2] or ''
    if space in ('rgb', 'rgba', 'uyvy', 'yuyv') or space.startswith('bayer'):
        # OpenCV's encoders take colour as BGR(A), as cv_bridge's toCompressedImageMsg converts.
        target = ('bgra' if space == 'rgba' else 'bgr') + str(array.itemsize * 8)
        array = convert_encoding(array, encoding, target)
    jpeg = str(image_format).lower() in _JPEG_FORMATS
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if jpeg else []
    try:
        ok, encoded = cv2.imencode(f'.{image_format}', _native(array), params)
        reason = 'the encoder refused the image'
    except cv2.error as error:
        ok, reason = False, str(error).strip().splitlines()[-1]
    if not ok:
        raise ImageConversionError(
            f'OpenCV could not encode a {encoding!r} image of shape {array.shape} as '
            f'{image_format!r}: {reason}')
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
        if _CV_BRIDGE is None or not _is_supported(msg.encoding):
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
