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
                                      '16UC1', 'yuv422', 'yuv422_yuy2', '32FC1', '8UC3'])
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


def test_numeric_encoding_cannot_become_colour_with_other_channels():
    msg = ic.numpy_to_image(random_array('16UC1'), '16UC1')
    with pytest.raises(ic.ImageConversionError, match='not a colour encoding'):
        ic.image_to_numpy(msg, 'bgr8')
    assert ic.image_to_numpy(msg, 'mono16').dtype == np.uint16


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
    with pytest.raises(ic.ImageConversionError, match="unsupported image encoding 'bayer_rggb8'"):
        ic.image_to_numpy(Image(height=1, width=1, step=1, encoding='bayer_rggb8', data=b'\0'))
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
    with pytest.raises(ic.ImageConversionError, match='not a jpeg or png'):
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
    ok, tiff = cv2.imencode('.tiff', np.zeros((4, 4), np.float32))
    assert ok
    with pytest.raises(ic.ImageConversionError, match='decodes to float32'):
        ic.to_bgr8(CompressedImage(format='tiff', data=tiff.tobytes()))
