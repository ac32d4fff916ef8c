"""
cv_bridge's own tests, ported to face_detector_ros.ros.images, and each deliberate difference.

Ported from ros-perception/vision_opencv, cv_bridge/test/ (each test names its source):
utest.cpp (NonContinuous, ChannelOrder, initialization, imageMessageStep,
imageMessageConversion), utest2.cpp (testCase_encode_decode), test_endian.cpp (endianness),
test_compression.cpp (compression), conversions.py (test_mono16_cv2, test_encode_decode_cv2,
test_encode_decode_cv2_compressed, test_endianness), enumerants.py (test_enumerants_cv2,
test_numpy_types) and the mono8 part of python_bindings.py (test_cvtColorForDisplay). Rules of
cv_bridge.cpp that its tests do not pin (getConversionCode, the scaling in toCvCopyImpl,
getCvType) have tests of their own. Not ported: cvtColorForDisplay (test_dynamic_scaling.cpp,
the label part of python_bindings.py) and rgb_colors (test_rgb_colors.cpp); this module has
neither.

Deliberate differences, each asserted by a test_difference_* test below:
- yuv422 <-> yuv422_yuy2 is an exact byte reorder (cv_bridge: unsupported conversion).
- '8U', '16S', ... without a channel count convert like '8UC1' (cv_bridge reads them for
  passthrough, but sensor_msgs' numChannels does not know them, so its conversions fail).
- A CompressedImage is labelled by what it decodes to: mono16/bgr16/bgra16 for 16 bit, plain
  numeric (32FC1, 32FC3) for float TIFF, HDR or PFM. cv_bridge labels every decode by its
  channel count alone (C++: mono8, bgr8, bgra8) or as bgr8 (Python), whatever its depth.
- numpy_to_compressed keeps mono8 one channel and mono16 16 bit, as cv_bridge's Python
  cv2_to_compressed_imgmsg does; its C++ toCompressedImageMsg turns both into bgr8.
- NaN becomes 0 in a float -> integer change; OpenCV's result depends on the CPU.
- A non-array is an ImageConversionError (a ValueError) like every other bad input, not the
  TypeError cv_bridge raises.
- nv12, nv21 and nv24 are refused with a clear error; cv_bridge on rolling converts nv12.
"""

import cv2
from face_detector_ros.ros import images as ic
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

RNG = np.random.default_rng(17)


def uniform(encoding, height=4, width=6, high=127):
    """Random values in [0, high) for an encoding, as cv::RNG::UNIFORM fills a cv::Mat."""
    dtype, channels, _ = ic.encoding_info(encoding)
    shape = (height, width) if channels == 1 else (height, width, channels)
    if np.dtype(dtype).kind == 'f':
        return RNG.uniform(0, high, size=shape).astype(dtype)
    return RNG.integers(0, high, size=shape).astype(dtype)


# --- utest.cpp ---------------------------------------------------------------------------

def test_non_continuous_array_is_packed():
    """utest.cpp NonContinuous: a column slice gives step = width * element size."""
    full = np.eye(8, dtype=np.uint16)
    partial = full[:, 2:5]
    msg = ic.numpy_to_image(partial, 'mono16')
    assert (msg.height, msg.width, msg.encoding, msg.step) == (8, 3, 'mono16', 6)
    np.testing.assert_array_equal(ic.image_to_numpy(msg), partial)


def test_channel_order_mono16_to_bgr8():
    """utest.cpp ChannelOrder: mono16 1000 -> bgr8 gives 1000 * 255 / 65535, rounded, in all."""
    msg = ic.numpy_to_image(np.full((20, 20), 1000, np.uint16), 'mono16')
    bgr = ic.image_to_numpy(msg, 'bgr8')
    assert bgr.dtype == np.uint8 and bgr.shape == (20, 20, 3)
    np.testing.assert_array_equal(bgr, np.full((20, 20, 3), 4))  # round(3.89)


def test_initialization_of_an_image_without_data_raises():
    """utest.cpp initialization: an Image with no step or data raises; a filled one converts."""
    with pytest.raises(ic.ImageConversionError, match='step 0 is smaller than'):
        ic.image_to_numpy(Image(encoding='bgr8', height=200, width=200), 'mono8')
    for height in (100, 201, 300):
        rgb = uniform('rgb8', height, 200)
        mono = ic.image_to_numpy(ic.numpy_to_image(rgb, 'rgb8'), 'mono8')
        np.testing.assert_array_equal(mono, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def test_image_message_step():
    """utest.cpp imageMessageStep: padded step is read and removed; a short step raises."""
    rows = RNG.integers(0, 256, size=(220, 208), dtype=np.uint8)
    msg = Image(encoding='mono8', height=220, width=200, step=208, data=rows.tobytes())
    out = ic.image_to_numpy(msg, 'mono8')
    assert out.shape == (220, 200) and out.strides[0] == 200
    np.testing.assert_array_equal(out, rows[:, :200])
    msg.step = 199
    with pytest.raises(ic.ImageConversionError, match='step 199 is smaller than'):
        ic.image_to_numpy(msg, 'mono8')
    msg.step, msg.data = 200, rows[:, :200].tobytes()
    out = ic.image_to_numpy(msg, 'mono8')
    assert out.shape == (220, 200) and out.strides[0] == 200


@pytest.mark.parametrize('encoding, channels', [('32FC1', 1), ('32FC10', 10)])
def test_image_message_conversion_of_many_channels(encoding, channels):
    """utest.cpp imageMessageConversion: 32FC1 and 32FC10 keep height, width and channels."""
    values = uniform(encoding, 220, 200)
    msg = Image(encoding=encoding, height=220, width=200, step=200 * 4 * channels,
                data=values.tobytes())
    out = ic.image_to_numpy(msg, encoding)
    assert out.shape[:2] == (220, 200)
    assert (1 if out.ndim == 2 else out.shape[2]) == channels
    np.testing.assert_array_equal(out, values)
    assert ic.numpy_to_image(out, encoding).step == msg.step


# --- utest2.cpp --------------------------------------------------------------------------

# utest2.cpp getEncodings(), less nv12 (refused here, see test_difference_nv_formats_refused)
UTEST2_ENCODINGS = [
    'rgb8', 'rgba8', 'rgb16', 'rgba16', 'bgr8', 'bgra8', 'bgr16', 'bgra16', 'mono8', 'mono16',
    '8UC1', '8UC3', '8UC4', '8SC1', '8SC3', '8SC4', '16UC1', '16UC3', '16UC4',
    '16SC1', '16SC3', '16SC4', '32SC1', '32SC3', '32SC4', '32FC1', '32FC3', '32FC4',
    '64FC1', '64FC3', '64FC4', 'yuv422', 'yuv422_yuy2']
YUV = ('yuv422', 'yuv422_yuy2')


def is_colour(encoding):
    """utest2.cpp: isColor || isMono || yuv422 || yuv422_yuy2 (no Bayer in its list)."""
    return ic.encoding_info(encoding)[2] is not None


def bit_depth(encoding):
    return np.dtype(ic.encoding_info(encoding)[0]).itemsize * 8


@pytest.mark.parametrize('source', UTEST2_ENCODINGS)
def test_encode_decode_every_pair(source):
    """utest2.cpp testCase_encode_decode: which pairs raise, and the loss of a round trip."""
    original = uniform(source)
    msg = ic.numpy_to_image(original, source)
    for target in UTEST2_ENCODINGS:
        same_channels = ic.encoding_info(source)[1] == ic.encoding_info(target)[1]
        if not is_colour(source):
            # A non-colour type cannot become colour, nor change its number of channels.
            if is_colour(target) or not same_channels:
                with pytest.raises(ic.ImageConversionError):
                    ic.image_to_numpy(msg, target)
                continue
            image = ic.image_to_numpy(msg, target)
        else:
            if not is_colour(target):
                if not same_channels:
                    with pytest.raises(ic.ImageConversionError):
                        ic.image_to_numpy(msg, target)
                    continue
                image = ic.image_to_numpy(msg, target)
                with pytest.raises(ic.ImageConversionError, match='plain numeric encoding'):
                    ic.convert_encoding(image, target, source)  # back to colour
                continue
            if target in YUV and source != target:
                if source in YUV:  # the one deliberate difference in this matrix
                    image = ic.image_to_numpy(msg, target)
                    np.testing.assert_array_equal(
                        ic.convert_encoding(image, target, source), original)
                    continue
                with pytest.raises(ic.ImageConversionError, match='not supported'):
                    ic.image_to_numpy(msg, target)
                continue
            image = ic.image_to_numpy(msg, target)
            if source in YUV and target != source:
                with pytest.raises(ic.ImageConversionError, match='not supported'):
                    ic.convert_encoding(image, target, source)
                continue
        back = ic.convert_encoding(image, target, source)
        if not same_channels:
            continue
        error = np.abs(back.astype(np.float64) - original).max()
        if bit_depth(source) >= 32:
            assert error < 1, (source, target)
        elif bit_depth(source) == 16 and bit_depth(target) == 8:
            assert error < 128, (source, target)
        else:
            assert error == 0, (source, target)


# --- test_endian.cpp and conversions.py --------------------------------------------------

def test_endianness_of_a_message_opposite_to_the_machine():
    """test_endian.cpp endianness: a big-endian 32SC2 pixel (1, 2) reads as 1 and 2."""
    data = np.array([1, 2], dtype='>i4').tobytes()
    msg = Image(height=1, width=1, encoding='32SC2', step=8, is_bigendian=1, data=data)
    np.testing.assert_array_equal(ic.image_to_numpy(msg), [[[1, 2]]])
    little = Image(height=1, width=1, encoding='32SC2', step=8, is_bigendian=0,
                   data=np.array([1, 2], dtype='<i4').tobytes())
    np.testing.assert_array_equal(ic.image_to_numpy(little), [[[1, 2]]])


def test_endianness_of_a_big_endian_array():
    """conversions.py test_endianness: a big-endian int32 array sets is_bigendian, round trips."""
    img = RNG.integers(0, 255, size=(30, 40))
    msg = ic.numpy_to_image(img.astype('>i4'))
    assert msg.is_bigendian == 1 and msg.encoding == '32SC1'
    np.testing.assert_array_equal(ic.image_to_numpy(msg), img)


def test_mono16_from_a_numeric_and_from_a_colour_image():
    """conversions.py test_mono16_cv2: 8UC3 -> mono16 raises; rgb8 -> mono16 converts."""
    im = RNG.integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
    with pytest.raises(ic.ImageConversionError, match="'8UC3' is a plain numeric encoding"):
        ic.image_to_numpy(ic.numpy_to_image(im), 'mono16')
    mono16 = ic.image_to_numpy(ic.numpy_to_image(im, 'rgb8'), 'mono16')
    expected = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    np.testing.assert_array_equal(mono16, expected)


@pytest.mark.parametrize('dtype', [np.uint8, np.int8, np.uint16, np.int16, np.int32,
                                   np.float32, np.float64])
def test_encode_decode_passthrough(dtype):
    """conversions.py test_encode_decode_cv2: passthrough keeps dtype, shape, bytes (1-5 ch)."""
    for height, width in ((100, 300), (7, 5)):
        for channels in (None, 1, 2, 3, 4, 5):
            shape = (height, width) if channels is None else (height, width, channels)
            original = RNG.integers(0, 255, size=shape).astype(dtype)
            msg = ic.numpy_to_image(original)
            assert msg.encoding == f'{ic.numeric_encoding(dtype, channels or 1)}'
            back = ic.image_to_numpy(msg)
            assert back.dtype == original.dtype
            assert back.shape == (original.shape[:2] if channels == 1 else original.shape)
            assert back.tobytes() == original.tobytes()


# conversions.py's formats, less jp2 (left out there too); webp and pnm are also written here
COMPRESSED_FORMATS = ['jpg', 'jpeg', 'jpe', 'png', 'bmp', 'dib', 'sr', 'ras', 'tif', 'tiff',
                      'webp', 'pnm']
LOSSLESS = {'png', 'bmp', 'dib', 'tif', 'tiff', 'pnm'}


@pytest.mark.parametrize('image_format', COMPRESSED_FORMATS)
def test_encode_decode_compressed(image_format):
    """conversions.py test_encode_decode_cv2_compressed: dtype and shape survive every format."""
    for channels in (None, 1, 3):
        if image_format == 'webp' and channels != 3:
            continue  # OpenCV's webp writes colour only
        shape = (70, 90) if channels is None else (70, 90, channels)
        original = RNG.integers(0, 255, size=shape, dtype=np.uint8)
        encoding = 'bgr8' if channels == 3 else 'mono8'
        msg = ic.numpy_to_compressed(original, encoding, image_format)
        assert msg.format == image_format
        decoded = ic.compressed_to_numpy(msg, 'passthrough')
        assert decoded.dtype == original.dtype
        assert decoded.shape == (original.shape[:2] if channels == 1 else original.shape)
        assert len(decoded.tobytes()) == len(original.tobytes())
        if image_format in LOSSLESS:
            np.testing.assert_array_equal(decoded.reshape(original.shape), original)


# --- test_compression.cpp ----------------------------------------------------------------

@pytest.mark.parametrize('encoding', ['bgr8', 'rgb8', 'bgra8', 'rgba8'])
def test_compression_round_trip_keeps_channels_and_values(encoding):
    """test_compression.cpp compression: png of 3 and 4 channel images comes back exactly."""
    original = RNG.integers(0, 256, size=(10, 10, ic.encoding_info(encoding)[1]), dtype=np.uint8)
    msg = ic.numpy_to_compressed(original, encoding, 'png')
    out = ic.compressed_to_numpy(msg, encoding)
    assert out.shape == original.shape
    np.testing.assert_array_equal(out, original)


def test_compressed_format_field_is_not_needed_to_decode():
    """cv_bridge's decoders pass only the data to imdecode, which reads the signature."""
    image = RNG.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    msg = ic.numpy_to_compressed(image, 'bgr8', 'png')
    msg.format = 'jpeg'
    np.testing.assert_array_equal(ic.compressed_to_numpy(msg, 'bgr8'), image)


# --- enumerants.py and python_bindings.py ------------------------------------------------

def test_enumerants():
    """enumerants.py test_enumerants_cv2: rgba8 '1234' -> rgb8; 3 channels are not rgba8."""
    msg = Image(width=64, height=48, encoding='rgba8', step=64 * 4, data=b'1234' * (64 * 48))
    cvim = ic.image_to_numpy(msg, 'rgb8')
    np.testing.assert_array_equal(cvim, np.broadcast_to([49, 50, 51], (48, 64, 3)))
    with pytest.raises(ic.ImageConversionError, match="does not match encoding 'rgba8'"):
        ic.numpy_to_image(cvim, 'rgba8')
    assert ic.numpy_to_image(cvim, 'rgb8').encoding == 'rgb8'
    assert ic.numpy_to_image(cvim, 'bgr8').encoding == 'bgr8'


def test_mono8_keeps_two_dimensions():
    """python_bindings.py test_cvtColorForDisplay (mono8 part): mono8 -> mono8 is (100, 100)."""
    mono = (RNG.random((100, 100)) * 255).astype(np.uint8)
    output = ic.image_to_numpy(ic.numpy_to_image(mono, encoding='mono8'), 'mono8')
    assert output.shape == (100, 100)
    np.testing.assert_array_equal(output, mono)


# --- cv_bridge.cpp rules its tests do not pin --------------------------------------------

@pytest.mark.parametrize('source', ['8UC1', '8UC3', '8UC4', '16UC1', '32FC1', '8U'])
@pytest.mark.parametrize('target', ['mono8', 'mono16', 'bgr8', 'rgba8', 'bayer_rggb8', 'yuv422'])
def test_numeric_encoding_never_becomes_colour(source, target):
    """getConversionCode: '[8UC3] is not a color format. but [bgr8] is', for every colour."""
    array = uniform(source)
    with pytest.raises(ic.ImageConversionError,
                       match=f"'{source}' is a plain numeric encoding, not a colour one"):
        ic.convert_encoding(array, source, target)


def test_colour_becomes_numeric_only_with_the_same_channels():
    """getConversionCode: colour -> numeric keeps channels and order, scaled by bit depth."""
    rgb = uniform('rgb8')
    np.testing.assert_array_equal(ic.convert_encoding(rgb, 'rgb8', '8UC3'), rgb)  # no swap
    np.testing.assert_array_equal(ic.convert_encoding(rgb, 'rgb8', '16UC3'),
                                  rgb.astype(np.uint16) * 257)
    mono = np.array([[0, 1, 255]], np.uint8)
    np.testing.assert_array_equal(ic.convert_encoding(mono, 'mono8', '16SC1'),
                                  [[0, 257, 32767]])  # 65535 saturates
    bayer = np.array([[0, 65535], [257, 1000]], np.uint16)
    np.testing.assert_array_equal(ic.convert_encoding(bayer, 'bayer_rggb16', '8UC1'),
                                  [[0, 255], [1, 4]])
    with pytest.raises(ic.ImageConversionError, match=r"'bgr8' \(3 channels\) to '8UC1'"):
        ic.convert_encoding(rgb, 'bgr8', '8UC1')


@pytest.mark.parametrize('source, target, values, expected', [
    # toCvCopyImpl: 8 -> 16 bit scales by 65535/255 and 16 -> 8 bit by 255/65535, whatever
    # the sign; convertTo rounds half to even and saturates.
    ('8SC1', '16SC1', [-128, -1, 0, 127], [-32768, -257, 0, 32639]),
    ('8SC1', '16UC1', [-128, -1, 0, 127], [0, 0, 0, 32639]),
    ('8UC1', '16SC1', [0, 1, 127, 255], [0, 257, 32639, 32767]),
    ('16SC1', '8SC1', [-32768, -257, 0, 32767], [-128, -1, 0, 127]),
    ('16SC1', '8UC1', [-32768, 257, 32767, 386], [0, 1, 127, 2]),
    ('16UC1', '8SC1', [0, 257, 32639, 65535], [0, 1, 127, 127]),
    # every other change keeps the values (rounded and saturated into integers)
    ('32SC1', '16SC1', [-40000, -1, 1, 40000], [-32768, -1, 1, 32767]),
    ('32SC1', '8UC1', [-5, 5, 255, 256], [0, 5, 255, 255]),
    ('32FC1', '8UC1', [-0.5, 0.5, 1.5, 2.5, 254.6, 300.0], [0, 0, 2, 2, 255, 255]),
    ('32FC1', '16SC1', [-1e9, -2.5, 3.5, 1e9], [-32768, -2, 4, 32767]),
    ('64FC1', '32SC1', [-3e9, 2.5, 1e9], [-2147483648, 2, 1000000000]),
    ('8UC1', '32FC1', [0, 128, 255], [0.0, 128.0, 255.0]),
    ('16UC1', '64FC1', [0, 65535], [0.0, 65535.0]),
    ('8SC1', '32SC1', [-128, 127], [-128, 127]),
])
def test_depth_changes_scale_as_cv_bridge(source, target, values, expected):
    """The convertTo of cv_bridge's toCvCopyImpl, for signed, unsigned and float depths."""
    array = np.array([values], ic.encoding_info(source)[0])
    out = ic.convert_encoding(array, source, target)
    assert out.dtype == ic.encoding_info(target)[0]
    np.testing.assert_array_equal(out, [expected])


def test_multi_channel_depth_change_keeps_channels():
    """cv_bridge converts 8UC5 and friends with convertTo, as any numeric type."""
    array = uniform('16UC5', high=65535)
    out = ic.convert_encoding(array, '16UC5', '8UC5')
    assert out.shape == array.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.rint(array / 257.0))


@pytest.mark.parametrize('encoding, dtype, channels', [
    ('8U', np.uint8, 1), ('8S', np.int8, 1), ('16U', np.uint16, 1), ('16S', np.int16, 1),
    ('32S', np.int32, 1), ('32F', np.float32, 1), ('64F', np.float64, 1),
    ('8UC5', np.uint8, 5), ('16SC7', np.int16, 7), ('32FC10', np.float32, 10),
    ('64FC512', np.float64, 512)])
def test_encodings_without_channel_count_or_with_many_channels(encoding, dtype, channels):
    """getCvType: '(8U|...)C([0-9]+)' or the depth alone (one channel); up to CV_CN_MAX."""
    assert ic.encoding_info(encoding) == (dtype, channels, None)
    values = uniform(encoding, 3, 5)
    msg = ic.numpy_to_image(values, encoding)
    assert msg.encoding == encoding and msg.step == 5 * channels * np.dtype(dtype).itemsize
    back = ic.image_to_numpy(msg)
    assert back.shape == ((3, 5) if channels == 1 else (3, 5, channels))
    np.testing.assert_array_equal(back, values)


@pytest.mark.parametrize('encoding, message', [
    ('8UC', "unsupported image encoding '8UC'"),  # getCvType's regex needs the digits
    ('8UC0', "'8UC0' has 0 channels; OpenCV takes 1 to 512"),
    ('8UC513', "'8UC513' has 513 channels"),
    ('16F', "unsupported image encoding '16F'"),
    ('bgr32', "unsupported image encoding 'bgr32'"),
])
def test_unknown_encodings_are_refused_with_the_name(encoding, message):
    """getCvType: 'Unrecognized image encoding [...]'."""
    with pytest.raises(ic.ImageConversionError, match=message):
        ic.image_to_numpy(Image(height=1, width=1, step=1, encoding=encoding, data=b'\0'))


def test_bayer_to_bayer_is_refused_even_for_the_same_pattern():
    """The getConversionCodes table has no Bayer -> Bayer entry, not even for one pattern."""
    with pytest.raises(ic.ImageConversionError,
                       match="from 'bayer_rggb8' to 'bayer_rggb16' is not supported"):
        ic.convert_encoding(uniform('bayer_rggb8'), 'bayer_rggb8', 'bayer_rggb16')


def test_decoded_16_bit_png_passthrough_is_unchanged():
    """compressed_imgmsg_to_cv2 decodes with IMREAD_UNCHANGED (vision_opencv PR 228)."""
    depth = np.full((100, 100), 2500, np.uint16)
    msg = ic.numpy_to_compressed(depth, 'mono16', 'png')
    out = ic.compressed_to_numpy(msg, 'passthrough')
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, depth)


# --- deliberate differences --------------------------------------------------------------

def test_difference_yuv422_and_yuy2_convert_by_reordering_bytes():
    """cv_bridge: 'Unsupported conversion from [yuv422] to [yuv422_yuy2]'; here it is exact."""
    uyvy = uniform('yuv422', 2, 4, high=256)
    yuyv = ic.convert_encoding(uyvy, 'yuv422', 'yuv422_yuy2')
    np.testing.assert_array_equal(yuyv.reshape(2, -1, 4),
                                  uyvy.reshape(2, -1, 4)[..., [1, 0, 3, 2]])
    np.testing.assert_array_equal(ic.convert_encoding(yuyv, 'yuv422_yuy2', 'yuv422'), uyvy)


def test_difference_encoding_without_channel_count_converts_like_one_channel():
    """cv_bridge reads '8U' for passthrough only: numChannels('8U') is 'Unknown encoding 8U'."""
    array = np.array([[0, 1, 255]], np.uint8)
    np.testing.assert_array_equal(ic.convert_encoding(array, '8U', '16U'), [[0, 257, 65535]])
    np.testing.assert_array_equal(ic.convert_encoding(array, '8U', '8UC1'), array)
    msg = ic.numpy_to_image(np.array([[-1.5, 2.5]], np.float32), '32F')
    np.testing.assert_array_equal(ic.image_to_numpy(msg, '16S'), [[-2, 2]])


def test_difference_compressed_image_is_labelled_by_its_decoded_depth():
    """cv_bridge labels any decode mono8/bgr8/bgra8 by channels (C++) or bgr8 (Python)."""
    depth = np.array([[0, 257, 1000, 65535]], np.uint16)
    msg = ic.numpy_to_compressed(depth, 'mono16', 'png')
    assert ic.decoded_encoding(ic.compressed_to_numpy(msg, 'passthrough')) == 'mono16'
    np.testing.assert_array_equal(ic.compressed_to_numpy(msg, 'mono16'), depth)
    np.testing.assert_array_equal(ic.compressed_to_numpy(msg, 'mono8'), [[0, 1, 4, 255]])
    np.testing.assert_array_equal(ic.to_bgr8(msg)[0, :, 0], [0, 1, 4, 255])
    bgra16 = uniform('bgra16', high=65535)
    msg = ic.numpy_to_compressed(bgra16, 'bgra16', 'png')
    np.testing.assert_array_equal(ic.compressed_to_numpy(msg, 'rgba16'), bgra16[..., [2, 1, 0, 3]])
    mono = uniform('mono8', high=256)
    msg = ic.numpy_to_compressed(mono, 'mono8', 'png')  # Python cv_bridge: OpenCV error
    np.testing.assert_array_equal(ic.compressed_to_numpy(msg, 'mono8'), mono)


@pytest.mark.parametrize('image_format, channels', [('tiff', 1), ('pfm', 3), ('hdr', 3)])
def test_difference_float_decodes_keep_a_numeric_encoding(image_format, channels):
    """Float TIFF, PFM and HDR decode to 32FC1/32FC3: passthrough only, never colour."""
    shape = (4, 6) if channels == 1 else (4, 6, channels)
    values = RNG.uniform(0.25, 8.0, size=shape).astype(np.float32)
    msg = ic.numpy_to_compressed(values, f'32FC{channels}', image_format)
    decoded = ic.compressed_to_numpy(msg, 'passthrough')
    assert decoded.dtype == np.float32 and decoded.shape == shape
    assert ic.decoded_encoding(decoded) == f'32FC{channels}'
    tolerance = 0.05 if image_format == 'hdr' else 0  # HDR stores 8-bit mantissas
    assert np.abs(decoded - values).max() <= tolerance * values.max()
    with pytest.raises(ic.ImageConversionError, match=f"cannot convert '32FC{channels}' to"):
        ic.to_bgr8(msg)


def test_difference_compressed_mono_keeps_one_channel_and_16_bit():
    """cv_bridge's C++ toCompressedImageMsg makes any non-bgr8/bgra8 image bgr8 (issue 383)."""
    mono16 = uniform('mono16', high=65535)
    out = cv2.imdecode(np.frombuffer(
        ic.numpy_to_compressed(mono16, 'mono16', 'tiff').data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(out, mono16)
    mono8 = uniform('mono8', high=256)
    out = cv2.imdecode(np.frombuffer(
        ic.numpy_to_compressed(mono8, 'mono8', 'png').data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert out.shape == mono8.shape
    rgb = uniform('rgb8', high=256)  # rgb is stored as bgr, as the C++ does
    out = cv2.imdecode(np.frombuffer(
        ic.numpy_to_compressed(rgb, 'rgb8', 'png').data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(out, rgb[..., ::-1])


def test_difference_nan_becomes_zero_in_integers():
    """In OpenCV's convertTo NaN becomes what the CPU's conversion gives; here always 0."""
    values = np.array([[np.nan, np.inf, -np.inf, 7.0]], np.float32)
    np.testing.assert_array_equal(ic.convert_encoding(values, '32FC1', '8UC1'), [[0, 255, 0, 7]])
    np.testing.assert_array_equal(ic.convert_encoding(values, '32FC1', '16SC1'),
                                  [[0, 32767, -32768, 7]])


def test_difference_non_array_is_an_image_conversion_error():
    """enumerants.py test_numpy_types expects TypeError; here it is ImageConversionError."""
    with pytest.raises(ic.ImageConversionError, match='expected a numpy array, got int'):
        ic.numpy_to_image(1, 'rgba8')
    with pytest.raises(ic.ImageConversionError, match='no ROS image encoding holds int64'):
        ic.numpy_to_image(np.zeros((2, 2), np.int64))
    with pytest.raises(ic.ImageConversionError, match=r'got shape \(3,\)'):
        ic.numpy_to_image(np.zeros(3, np.uint8), 'mono8')


@pytest.mark.parametrize('encoding', ['nv12', 'nv21', 'nv24'])
def test_difference_nv_formats_refused(encoding):
    """cv_bridge on rolling converts nv12 (utest2.cpp lists it); this module refuses nv*."""
    msg = Image(height=2, width=2, step=2, encoding=encoding, data=b'\0' * 4)
    with pytest.raises(ic.ImageConversionError, match=f"unsupported image encoding '{encoding}'"):
        ic.to_bgr8(msg)


def test_bad_compressed_input_is_a_clear_error():
    """Never a bare cv2.error: unknown format, a format that refuses the image, cut data."""
    mono = uniform('mono8', high=256)
    with pytest.raises(ic.ImageConversionError, match=r"as 'nosuchformat': .*could not find"):
        ic.numpy_to_compressed(mono, 'mono8', 'nosuchformat')
    with pytest.raises(ic.ImageConversionError, match="as 'ppm': the encoder refused"):
        ic.numpy_to_compressed(mono, 'mono8', 'ppm')  # ppm holds colour only
    with pytest.raises(ic.ImageConversionError, match="does not match encoding 'bgr8'"):
        ic.numpy_to_compressed(mono, 'bgr8', 'png')
    png = ic.numpy_to_compressed(uniform('bgr8', 32, 32, high=256), 'bgr8', 'png')
    cut = CompressedImage(format='png', data=bytes(png.data)[:40])
    with pytest.raises(ic.ImageConversionError, match=r"\(40 bytes, format 'png'\) cannot be"):
        ic.to_bgr8(cut)
