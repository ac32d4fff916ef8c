"""Round trips and cv_bridge semantics of face_detector_ros.ros.images."""

import cv2
from face_detector_ros.ros import images as ic
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

RNG = np.random.default_rng(7)


def random_array(encoding, height=5, width=7):
    dtype, channels, _ = ic.encoding_info(encoding)
    shape = (height, width) if channels == 1 else (height, width, channels)
    if np.dtype(dtype).kind == 'f':
        return RNG.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize('encoding', ['bgr8', 'rgb8', 'bgra8', 'rgba8', 'mono8', 'mono16',
                                      '16UC1', 'yuv422', 'yuv422_yuy2', '32FC1', '8UC3',
                                      '8U', '16SC2', '8UC5', '32FC10', 'bayer_gbrg16'])
def test_round_trip_every_encoding(encoding):
    array = random_array(encoding)
    header = Header(frame_id='cam_optical')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = ic.numpy_to_image(array, encoding, header=header)
    assert isinstance(msg, Image)
    assert msg.header.frame_id == 'cam_optical' and msg.header.stamp.nanosec == 345
    assert msg.step == array.shape[1] * array.itemsize * (1 if array.ndim == 2 else array.shape[2])
    back = ic.image_to_numpy(msg)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def packed_message(array, encoding, padding, big_endian):
    """Build an Image by hand, with row padding and a chosen byte order."""
    order = '>' if big_endian else '<'
    raw = np.ascontiguousarray(array.astype(array.dtype.newbyteorder(order)))
    rows = raw.reshape(array.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((rows.shape[0], padding), 0xAB, np.uint8)], axis=1)
    msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding,
                is_bigendian=int(big_endian), step=padded.shape[1])
    msg.data = padded.tobytes()
    return msg


@pytest.mark.parametrize('big_endian', [False, True])
@pytest.mark.parametrize('padding', [0, 3, 64])
@pytest.mark.parametrize('encoding', ['mono16', 'bgr8', '32FC1', 'rgba8'])
def test_step_padding_and_endianness(encoding, padding, big_endian):
    array = random_array(encoding, height=4, width=6)
    msg = packed_message(array, encoding, padding, big_endian)
    np.testing.assert_array_equal(ic.image_to_numpy(msg), array)


def test_conversion_to_bgr8_matches_opencv():
    rgb = random_array('rgb8')
    msg = ic.numpy_to_image(rgb, 'rgb8')
    np.testing.assert_array_equal(ic.image_to_numpy(msg, 'bgr8'), rgb[:, :, ::-1])
    mono = random_array('mono8')
    bgr = ic.image_to_numpy(ic.numpy_to_image(mono, 'mono8'), 'bgr8')
    assert bgr.shape == mono.shape + (3,)
    np.testing.assert_array_equal(bgr[:, :, 1], mono)


def test_yuv422_decodes_like_opencv():
    uyvy = random_array('yuv422', height=4, width=8)
    expected = cv2.cvtColor(uyvy, cv2.COLOR_YUV2BGR_UYVY)
    msg = ic.numpy_to_image(uyvy, 'yuv422')
    np.testing.assert_array_equal(ic.image_to_numpy(msg, 'bgr8'), expected)
    yuyv_msg = ic.numpy_to_image(uyvy, 'yuv422_yuy2')
    np.testing.assert_array_equal(ic.to_bgr8(yuyv_msg),
                                  cv2.cvtColor(uyvy, cv2.COLOR_YUV2BGR_YUY2))


def test_mono16_to_mono8_scales_like_cv_bridge():
    # cv_bridge's cvtColor: 16 -> 8 bit multiplies by 255/65535 with rounding.
    values = np.array([[0, 257, 65535, 1000]], dtype=np.uint16)
    msg = ic.numpy_to_image(values, 'mono16')
    np.testing.assert_array_equal(ic.image_to_numpy(msg, 'mono8'), [[0, 1, 255, 4]])
    np.testing.assert_array_equal(ic.image_to_numpy(msg, 'bgr8')[0, 2], [255, 255, 255])
    back = ic.image_to_numpy(ic.numpy_to_image(np.array([[1, 255]], np.uint8), 'mono8'),
                             'mono16')
    np.testing.assert_array_equal(back, [[257, 65535]])


def test_numeric_encoding_never_becomes_colour():
    # cv_bridge: 16UC1 (depth, labels) has no colour meaning, not even as mono16; it converts
    # only to plain numeric encodings with the same number of channels, scaled by bit depth.
    msg = ic.numpy_to_image(np.array([[0, 257, 65535]], np.uint16), '16UC1')
    for target in ('mono16', 'mono8', 'bgr8'):
        with pytest.raises(ic.ImageConversionError,
                           match=f"'16UC1' is a plain numeric encoding, not a colour one, so it "
                                 f"cannot become '{target}'"):
            ic.image_to_numpy(msg, target)
    np.testing.assert_array_equal(ic.image_to_numpy(msg, '8UC1'), [[0, 1, 255]])
    with pytest.raises(ic.ImageConversionError, match=r"'16UC1' \(1 channels\) to '16UC3'"):
        ic.image_to_numpy(msg, '16UC3')


def test_size_mismatch_names_the_fields():
    msg = ic.numpy_to_image(random_array('bgr8'), 'bgr8')
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(ic.ImageConversionError, match=r'height \* step = 5 \* 21 = 105'):
        ic.image_to_numpy(msg)
    msg = ic.numpy_to_image(random_array('bgr8'), 'bgr8')
    msg.step = 20
    with pytest.raises(ic.ImageConversionError, match='step 20 is smaller'):
        ic.image_to_numpy(msg)


def test_unsupported_and_empty_images_are_clear_errors():
    with pytest.raises(ic.ImageConversionError, match="unsupported image encoding 'nv21'"):
        ic.image_to_numpy(Image(height=1, width=1, step=1, encoding='nv21', data=b'\0'))
    with pytest.raises(ic.ImageConversionError, match='empty image'):
        ic.to_bgr8(Image(height=0, width=0, step=0, encoding='bgr8'))
    with pytest.raises(ic.ImageConversionError, match='does not match encoding'):
        ic.numpy_to_image(np.zeros((2, 2, 3), np.uint16), 'bgr8')


@pytest.mark.parametrize('image_format', ['jpeg', 'png'])
def test_compressed_round_trip(image_format):
    gradient = np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (32, 1, 3))
    gradient[:, :, 1] = 100
    msg = ic.numpy_to_compressed(gradient, 'bgr8', image_format, header=Header(frame_id='f'))
    assert isinstance(msg, CompressedImage) and msg.format == image_format
    decoded = ic.to_bgr8(msg)
    tolerance = 0 if image_format == 'png' else 6
    assert np.abs(decoded.astype(int) - gradient).max() <= tolerance
    rgb = ic.compressed_to_numpy(msg, 'rgb8')
    np.testing.assert_array_equal(rgb, decoded[:, :, ::-1])


def test_corrupt_compressed_image_is_a_clear_error():
    with pytest.raises(ic.ImageConversionError,
                       match=r"\(12 bytes, format 'jpeg'\) cannot be decoded"):
        ic.to_bgr8(CompressedImage(format='jpeg', data=b'not an image'))
    with pytest.raises(ic.ImageConversionError, match='has no data'):
        ic.to_bgr8(CompressedImage(format='jpeg'))


def test_result_does_not_alias_the_message():
    array = random_array('bgr8')
    msg = ic.numpy_to_image(array, 'bgr8')
    out = ic.image_to_numpy(msg)
    out[:] = 0
    np.testing.assert_array_equal(ic.image_to_numpy(msg), array)


def test_odd_width_yuv_and_unusual_compressed_images_are_clear_errors():
    odd = ic.numpy_to_image(random_array('yuv422', height=4, width=7), 'yuv422')
    with pytest.raises(ic.ImageConversionError, match='width must be even, got 7'):
        ic.to_bgr8(odd)
    depth = np.linspace(0.5, 4.0, 16, dtype=np.float32).reshape(4, 4)
    ok, tiff = cv2.imencode('.tiff', depth)
    assert ok
    msg = CompressedImage(format='tiff', data=tiff.tobytes())
    np.testing.assert_array_equal(ic.compressed_to_numpy(msg, 'passthrough'), depth)
    with pytest.raises(ic.ImageConversionError, match="cannot convert '32FC1' to 'bgr8'"):
        ic.to_bgr8(msg)


# ROS Bayer pattern -> (row, column) of R, G, G and B in each 2x2 block
BAYER_LAYOUTS = {
    'rggb': {(0, 0): 2, (0, 1): 1, (1, 0): 1, (1, 1): 0},
    'bggr': {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 2},
    'gbrg': {(0, 0): 1, (0, 1): 0, (1, 0): 2, (1, 1): 1},
    'grbg': {(0, 0): 1, (0, 1): 2, (1, 0): 0, (1, 1): 1},
}
# cv_bridge's mapping: OpenCV's Bayer code names are shifted relative to the ROS names
CV_BRIDGE_BAYER_CODES = {
    'rggb': cv2.COLOR_BayerBG2BGR, 'bggr': cv2.COLOR_BayerRG2BGR,
    'gbrg': cv2.COLOR_BayerGR2BGR, 'grbg': cv2.COLOR_BayerGB2BGR,
}


def bayer_mosaic(bgr, pattern):
    """Sample a BGR image through a colour filter array laid out as the ROS pattern says."""
    mosaic = np.zeros(bgr.shape[:2], bgr.dtype)
    for (row, column), channel in BAYER_LAYOUTS[pattern].items():
        mosaic[row::2, column::2] = bgr[row::2, column::2, channel]
    return mosaic


@pytest.mark.parametrize('bits', [8, 16])
@pytest.mark.parametrize('pattern', sorted(BAYER_LAYOUTS))
def test_bayer_is_demosaiced_like_cv_bridge(pattern, bits):
    dtype = np.uint8 if bits == 8 else np.uint16
    scale = 1 if bits == 8 else 257
    colour = np.array([30, 120, 200]) * scale  # b, g, r: distinct, so a wrong pattern shows
    bgr = np.broadcast_to(colour, (8, 10, 3)).astype(dtype)
    mosaic = bayer_mosaic(bgr, pattern)
    encoding = f'bayer_{pattern}{bits}'
    msg = ic.numpy_to_image(mosaic, encoding)
    np.testing.assert_array_equal(ic.image_to_numpy(msg), mosaic)
    out = ic.image_to_numpy(msg, f'bgr{bits}')
    assert out.dtype == dtype and out.shape == (8, 10, 3)
    np.testing.assert_array_equal(out, cv2.cvtColor(mosaic, CV_BRIDGE_BAYER_CODES[pattern]))
    np.testing.assert_array_equal(out[2:-2, 2:-2], bgr[2:-2, 2:-2])  # the colour comes back
    np.testing.assert_array_equal(ic.image_to_numpy(msg, f'rgb{bits}'), out[:, :, ::-1])
    bgr8 = ic.to_bgr8(msg)
    assert bgr8.dtype == np.uint8
    np.testing.assert_array_equal(bgr8[2:-2, 2:-2], np.broadcast_to([30, 120, 200], (4, 6, 3)))
    gray = ic.image_to_numpy(msg, 'mono8')
    expected_gray = cv2.cvtColor(np.uint8([[[30, 120, 200]]]), cv2.COLOR_BGR2GRAY)[0, 0]
    assert gray.dtype == np.uint8 and gray.shape == (8, 10)
    assert np.abs(gray[2:-2, 2:-2].astype(int) - int(expected_gray)).max() <= 1


def test_bayer_refuses_what_cv_bridge_refuses():
    msg = ic.numpy_to_image(bayer_mosaic(random_array('bgr8', 4, 4), 'rggb'), 'bayer_rggb8')
    for target in ('bgra8', 'bayer_bggr8', 'yuv422'):
        with pytest.raises(ic.ImageConversionError,
                           match=f"from 'bayer_rggb8' to '{target}' is not supported"):
            ic.image_to_numpy(msg, target)
    with pytest.raises(ic.ImageConversionError,
                       match="from 'bgr8' to 'bayer_rggb8' is not supported"):
        ic.convert_encoding(random_array('bgr8'), 'bgr8', 'bayer_rggb8')


def test_yuv422_and_yuy2_convert_into_each_other():
    # cv_bridge refuses yuv422 <-> yuv422_yuy2 (deliberate difference: the byte reorder is
    # exact); before, this was a bare KeyError.
    uyvy = random_array('yuv422', height=4, width=8)
    yuyv = ic.image_to_numpy(ic.numpy_to_image(uyvy, 'yuv422'), 'yuv422_yuy2')
    assert yuyv.dtype == np.uint8 and yuyv.shape == uyvy.shape
    packed_uyvy, packed_yuyv = uyvy.reshape(4, -1, 4), yuyv.reshape(4, -1, 4)
    np.testing.assert_array_equal(packed_yuyv, packed_uyvy[:, :, [1, 0, 3, 2]])  # Y0 U Y1 V
    np.testing.assert_array_equal(cv2.cvtColor(yuyv, cv2.COLOR_YUV2BGR_YUYV),
                                  cv2.cvtColor(uyvy, cv2.COLOR_YUV2BGR_UYVY))
    back = ic.image_to_numpy(ic.numpy_to_image(yuyv, 'yuv422_yuy2'), 'yuv422')
    np.testing.assert_array_equal(back, uyvy)
    np.testing.assert_array_equal(ic.convert_encoding(uyvy, 'uyvy', 'yuyv'), yuyv)
    with pytest.raises(ic.ImageConversionError, match="from 'bgr8' to 'yuv422' is not supported"):
        ic.convert_encoding(random_array('bgr8'), 'bgr8', 'yuv422')


@pytest.mark.parametrize('encoding', ['mono16', '32FC1', 'bgr16', '16SC1'])
def test_numpy_to_image_keeps_a_big_endian_array_and_sets_is_bigendian(encoding):
    array = random_array(encoding)
    big = array.astype(array.dtype.newbyteorder('>'))
    msg = ic.numpy_to_image(big, encoding)
    assert msg.is_bigendian == 1  # as cv_bridge's cv2_to_imgmsg
    assert bytes(msg.data) == big.tobytes()
    assert msg.step == array.shape[1] * array.itemsize * (1 if array.ndim == 2 else 3)
    back = ic.image_to_numpy(msg)
    assert back.dtype == array.dtype  # native order again
    np.testing.assert_array_equal(back, array)
    little = array.astype(array.dtype.newbyteorder('<'))
    little_msg = ic.numpy_to_image(little, encoding)
    assert little_msg.is_bigendian == 0 and bytes(little_msg.data) == little.tobytes()
