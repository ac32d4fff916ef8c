"""Dataset formats: VOC, YOLO, image headers, WIDER, FDDB, filters, lists, darknet cfg."""

import math

import cv2
from face_detector_ros.datasets.annotations import Box, DatasetError, ImageAnnotation
from face_detector_ros.datasets.darknet import patch_yolo_cfg
from face_detector_ros.datasets.fddb import ellipse_box, read_fddb_ellipses
from face_detector_ros.datasets.filters import clip_box, FaceFilter, square_box
from face_detector_ros.datasets.images import find_image, image_size
from face_detector_ros.datasets.lists import labelmap_text, read_labelmap, split_items
from face_detector_ros.datasets.voc import read_voc_dir, read_voc_xml, write_voc_xml
from face_detector_ros.datasets.wider import read_wider_gt, WiderRules
from face_detector_ros.datasets.yolo import (
    read_names,
    read_yolo_dir,
    read_yolo_txt,
    write_names,
    write_yolo_txt,
)
import numpy as np
import pytest

# The mask article's dataset: tags in any order, extra tags, a .png image.
MASK_XML = """<annotation>
    <folder>images</folder>
    <filename>maksssksksss0.png</filename>
    <size><width>512</width><height>366</height><depth>3</depth></size>
    <segmented>0</segmented>
    <object>
        <name>without_mask</name><pose>Unspecified</pose><truncated>0</truncated>
        <occluded>0</occluded><difficult>0</difficult>
        <bndbox><xmin>79</xmin><ymin>105</ymin><xmax>109</xmax><ymax>142</ymax></bndbox>
    </object>
    <object>
        <bndbox><ymax>144</ymax><xmax>226</xmax><ymin>100</ymin><xmin>185</xmin></bndbox>
        <difficult>1</difficult><name>with_mask</name>
    </object>
</annotation>
"""


def test_voc_reads_tags_by_name_in_any_order(tmp_path):
    (tmp_path / 'a.xml').write_text(MASK_XML)
    annotation = read_voc_xml(tmp_path / 'a.xml')
    assert (annotation.filename, annotation.width, annotation.height) == (
        'maksssksksss0.png', 512, 366)
    assert annotation.boxes == [Box('without_mask', 79, 105, 109, 142),
                                Box('with_mask', 185, 100, 226, 144, difficult=True)]


def test_voc_round_trip_and_folder(tmp_path):
    annotation = ImageAnnotation('x.jpg', 40, 30, 1, [Box('face', 1, 2, 11, 22, True)])
    write_voc_xml(annotation, tmp_path / 'x.xml')
    assert read_voc_xml(tmp_path / 'x.xml') == annotation
    assert read_voc_dir(tmp_path) == [annotation]


def test_voc_written_in_whole_pixels_rounded_outward_and_clipped(tmp_path):
    # SSD-Caffe's LMDB step reads coordinates as int and turns '147.69' into 0.
    boxes = [Box('face', 1.5, 2.000001, 11.25, 21.5), Box('face', -3.2, 7.995, 39.6, 30.4)]
    annotation = ImageAnnotation('x.jpg', 40, 30, 3, boxes)
    write_voc_xml(annotation, tmp_path / 'x.xml')
    assert '.' not in (tmp_path / 'x.xml').read_text().replace('x.jpg', '')
    assert [(box.x1, box.y1, box.x2, box.y2) for box in read_voc_xml(tmp_path / 'x.xml').boxes
            ] == [(1, 2, 12, 22), (0, 8, 40, 30)]


@pytest.mark.parametrize('text, message', [
    ('<annotation><size><width>4', 'malformed XML'),
    ('<annotation><filename>a.jpg</filename></annotation>', 'no <size>'),
    ('<annotation><size><width>4</width></size></annotation>', 'missing <height>'),
    ('<annotation><size><width>0</width><height>3</height></size></annotation>', 'not positive'),
    ('<annotation><size><width>4</width><height>3</height></size>'
     '<object><name>f</name><bndbox><xmin>a</xmin></bndbox></object></annotation>',
     "<xmin> is 'a'"),
    ('<annotation><size><width>4</width><height>3</height></size>'
     '<object><bndbox/></object></annotation>', 'no <name>'),
    ('', 'malformed XML'),
    ('<html/>', 'expected <annotation>'),
    ('<annotation><size><width>4</width><height>1e999</height></size></annotation>',
     "<height> is '1e999', not a finite number"),
    ('<annotation><size><width>4</width><height>3</height></size><object><name>f</name>'
     '<bndbox><xmin>nan</xmin><ymin>0</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object>'
     '</annotation>', "<xmin> is 'nan', not a finite number"),
])
def test_voc_errors_name_the_file(tmp_path, text, message):
    path = tmp_path / 'bad.xml'
    path.write_text(text)
    with pytest.raises(DatasetError, match=message) as error:
        read_voc_xml(path)
    assert str(path) in str(error.value)


def test_yolo_round_trip_without_plus_one(tmp_path):
    boxes = [Box('bad', 79, 105, 109, 142), Box('good', 0, 0, 512, 366)]
    write_yolo_txt(boxes, tmp_path / 'a.txt', ['good', 'bad'], 512, 366)
    first, second = (tmp_path / 'a.txt').read_text().splitlines()
    assert first.split()[0] == '1' and float(first.split()[3]) == pytest.approx(30 / 512, 1e-5)
    assert second == '0 0.500000 0.500000 1.000000 1.000000'
    read = read_yolo_txt(tmp_path / 'a.txt', ['good', 'bad'], 512, 366)
    for got, want in zip(read, boxes):
        assert got.label == want.label
        assert [got.x1, got.y1, got.x2, got.y2] == pytest.approx(
            [want.x1, want.y1, want.x2, want.y2], abs=1e-3)


@pytest.mark.parametrize('text, message', [
    ('0 0.5 0.5 0.1\n', 'expected 5 fields'),
    ('0 0.5 x 0.1 0.1\n', 'not numbers'),
    ('2 0.5 0.5 0.1 0.1\n', 'class 2 is not in'),
    ('0 nan 0.5 0.1 0.1\n', 'not finite'),
    ('0 0.5 0.5 inf 0.1\n', 'not finite'),
])
def test_yolo_errors_give_file_and_line(tmp_path, text, message):
    path = tmp_path / 'a.txt'
    path.write_text('\n' + text)
    with pytest.raises(DatasetError, match=message) as error:
        read_yolo_txt(path, ['good', 'bad'], 10, 10)
    assert f'{path}:2' in str(error.value)


def test_yolo_dir_sizes_from_images_and_empty_files(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), np.zeros((30, 40, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'b.JPG'), np.zeros((20, 10), np.uint8))
    (tmp_path / 'a.txt').write_text('0 0.5 0.5 0.5 0.5\n')
    (tmp_path / 'b.txt').write_text('')
    write_names(['face'], tmp_path / 'obj.names')
    a, b = read_yolo_dir(tmp_path)
    assert (a.filename, a.width, a.height, a.depth) == ('a.png', 40, 30, 3)
    assert a.boxes == [Box('face', 10, 7.5, 30, 22.5)]
    assert (b.filename, b.width, b.height, b.depth, b.boxes) == ('b.JPG', 10, 20, 1, [])
    (tmp_path / 'labels_only').mkdir()
    (tmp_path / 'labels_only' / 'a.txt').write_text('0 0.5 0.5 0.5 0.5\n')
    with pytest.raises(DatasetError, match='no images'):
        read_yolo_dir(tmp_path / 'labels_only')


def test_names_files(tmp_path):
    write_names(['good', 'bad'], tmp_path / 'obj.names')
    assert read_names(tmp_path / 'obj.names') == ['good', 'bad']
    (tmp_path / 'empty.names').write_text('\n\n')
    with pytest.raises(DatasetError, match='no class names'):
        read_names(tmp_path / 'empty.names')


@pytest.mark.parametrize('extension, shape', [
    ('.png', (31, 47, 3)), ('.png', (31, 47)), ('.png', (31, 47, 4)),
    ('.jpg', (33, 45, 3)), ('.jpg', (33, 45)), ('.bmp', (12, 13, 3)), ('.tiff', (12, 13, 3))])
def test_image_size_from_headers_matches_decoding(tmp_path, extension, shape):
    path = tmp_path / f'a{extension}'
    cv2.imwrite(str(path), np.zeros(shape, np.uint8))
    channels = shape[2] if len(shape) == 3 else 1
    assert image_size(path) == (shape[1], shape[0], channels)


def test_image_size_and_find_image_errors(tmp_path):
    (tmp_path / 'broken.png').write_bytes(b'not an image')
    with pytest.raises(DatasetError, match='not a readable image'):
        image_size(tmp_path / 'broken.png')
    with pytest.raises(DatasetError, match='cannot read image'):
        image_size(tmp_path / 'missing.jpg')
    (tmp_path / 'Photo.JPEG').write_bytes(b'')
    assert find_image(tmp_path, 'Photo') == tmp_path / 'Photo.JPEG'
    assert find_image(tmp_path, 'other') is None


def test_clip_and_square():
    assert clip_box(Box('f', -5, 2, 50, 40), 40, 30) == Box('f', 0, 2, 40, 30)
    assert square_box(Box('f', 10, 10, 20, 30), 100, 100) == Box('f', 5, 10, 25, 30)
    assert square_box(Box('f', 10, 10, 20, 30), 100, 100, 'shrink') == Box('f', 10, 15, 20, 25)
    assert square_box(Box('f', 0, 0, 10, 30), 100, 100) == Box('f', 0, 0, 30, 30)
    assert square_box(Box('f', 90, 0, 100, 50), 100, 40) == Box('f', 50, 0, 100, 40)
    assert square_box(Box('f', 0, 0, 10, 30), 100, 100, 'none') == Box('f', 0, 0, 10, 30)


def _image(*boxes, width=300, height=200, depth=3):
    return ImageAnnotation('a.jpg', width, height, depth, list(boxes))


def test_face_filter_article_defaults():
    face_filter = FaceFilter()
    kept, reasons = face_filter.apply(_image(Box('face', 10, 10, 30, 40)))
    assert kept.boxes == [Box('face', 5, 10, 35, 40)] and not reasons
    # under 6 px: the whole image goes (the article), or only the face
    small = _image(Box('face', 10, 10, 30, 40), Box('face', 100, 100, 105, 120))
    assert face_filter.apply(small)[0] is None
    kept, reasons = FaceFilter(drop_image=False).apply(small)
    assert len(kept.boxes) == 1 and reasons == {'under 6 px': 1}
    # 2 % of the image width (the article), not of the longer side: 0.02 x 1000 = 20 px
    assert FaceFilter().apply(_image(Box('face', 0, 0, 19, 30), width=1000, height=600))[
        1] == {'under 2% of the image width': 1, 'image: a face failed': 1}
    assert FaceFilter().apply(_image(Box('face', 0, 0, 15, 30), width=600, height=1000))[0]
    assert face_filter.apply(_image(Box('face', 0, 0, 50, 50), width=450))[1] == {
        'image: aspect ratio': 1}
    assert face_filter.apply(_image(Box('face', 0, 0, 50, 50), depth=1))[1] == {
        'image: grayscale': 1}
    assert FaceFilter(drop_gray=False).apply(_image(Box('face', 0, 0, 50, 50), depth=1))[0]
    assert face_filter.apply(_image())[1] == {'image: no faces': 1}


def test_face_filter_dataset_problems_and_clipping():
    kept, reasons = FaceFilter(drop_image=False).apply(
        _image(Box('face', -10, 0, 30, 40), Box('face', 50, 50, 90, 90)), ['blurry', None])
    assert reasons == {'blurry': 1}
    assert kept.boxes == [Box('face', 50, 50, 90, 90)]
    kept, _ = FaceFilter().apply(_image(Box('face', -10, 0, 30, 40)))
    assert kept.boxes == [Box('face', 0, 0, 40, 40)]


WIDER_GT = """0--Parade/0_Parade_marchingband_1_849.jpg
1
449 330 122 149 0 0 0 0 0 0
0--Parade/0_Parade_Parade_0_904.jpg
0
0 0 0 0 0 0 0 0 0 0
0--Parade/0_Parade_marchingband_1_799.jpg
2
78 221 7 8 2 0 0 0 0 0
78 238 14 17 0 1 1 1 2 1
1--Handshaking/1_Handshaking_1.jpg
0
2--Demonstration/2_Demonstration_1.jpg
1
1 2 3 4 0 0 0 0 0 0
"""


def test_wider_reads_blocks_flags_and_zero_counts(tmp_path):
    (tmp_path / 'gt.txt').write_text(WIDER_GT)
    images = read_wider_gt(tmp_path / 'gt.txt')
    assert [name for name, _ in images] == [
        '0--Parade/0_Parade_marchingband_1_849.jpg', '0--Parade/0_Parade_Parade_0_904.jpg',
        '0--Parade/0_Parade_marchingband_1_799.jpg', '1--Handshaking/1_Handshaking_1.jpg',
        '2--Demonstration/2_Demonstration_1.jpg']
    assert [len(faces) for _, faces in images] == [1, 0, 2, 0, 1]
    first = images[0][1][0]
    assert first.box == Box('face', 449, 330, 571, 479)
    blurry, flagged = images[2][1]
    assert blurry.blur == 2
    assert (flagged.expression, flagged.illumination, flagged.invalid, flagged.occlusion,
            flagged.pose) == (1, 1, 1, 2, 1)
    assert WiderRules().problem(blurry) == 'blurry'
    assert WiderRules().problem(flagged) is None
    assert WiderRules(max_occlusion=1).problem(flagged) == 'occluded'
    assert WiderRules(drop_invalid=True).problem(flagged) == 'invalid'


@pytest.mark.parametrize('text, message', [
    ('a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n',
     r'gt.txt:1: the file ends inside the block of a.jpg \(1 of its 2 face lines\)'),
    ('a.jpg\nmany\n', 'expected the face count of a.jpg'),
    ('a.jpg\n1\n1 2 3 4\n', 'expected 10 numbers'),
    ('a.jpg\n', 'has no face count'),
    # A negative count made the reader loop forever, growing memory.
    ('a.jpg\n-2\n1 2 3 4 0 0 0 0 0 0\n', r'gt.txt:2: negative face count -2 for a.jpg'),
])
def test_wider_errors(tmp_path, text, message):
    (tmp_path / 'gt.txt').write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_wider_gt(tmp_path / 'gt.txt')


def test_ellipse_box_matches_sampled_ellipse():
    assert ellipse_box(20, 10, 0, 100, 50) == Box('face', 80, 40, 120, 60)
    box = ellipse_box(20, 10, math.pi / 2, 100, 50)
    assert [box.x1, box.y1, box.x2, box.y2] == pytest.approx([90, 30, 110, 70])
    major, minor, angle, cx, cy = 123.5833, 85.5495, 1.265839, 269.6934, 161.7812
    t = np.linspace(0, 2 * np.pi, 100000)
    xs = cx + major * np.cos(t) * np.cos(angle) - minor * np.sin(t) * np.sin(angle)
    ys = cy + major * np.cos(t) * np.sin(angle) + minor * np.sin(t) * np.cos(angle)
    box = ellipse_box(major, minor, angle, cx, cy)
    assert [box.x1, box.y1, box.x2, box.y2] == pytest.approx(
        [xs.min(), ys.min(), xs.max(), ys.max()], abs=1e-3)


def test_fddb_reads_folds_and_reports_errors(tmp_path):
    (tmp_path / 'fold.txt').write_text(
        '2002/08/11/big/img_591\n1\n123.583300 85.549500 1.265839 269.693400 161.781200  1\n'
        '2002/08/26/big/img_265\n2\n67.363819 44.511485 -1.476417 105.249970 87.209036  1\n'
        '41.936870 27.064477 1.471906 184.070915 129.345601  1\n')
    images = read_fddb_ellipses(tmp_path / 'fold.txt')
    assert [name for name, _ in images] == ['2002/08/11/big/img_591', '2002/08/26/big/img_265']
    assert [len(boxes) for _, boxes in images] == [1, 2]
    (tmp_path / 'bad.txt').write_text('img\n2\n1 2 3 4 5 1\n')
    with pytest.raises(DatasetError, match='ends inside the block of img'):
        read_fddb_ellipses(tmp_path / 'bad.txt')
    (tmp_path / 'bad.txt').write_text('img\n1\n1 2 3 4 1\n')
    with pytest.raises(DatasetError, match='expected 6 numbers'):
        read_fddb_ellipses(tmp_path / 'bad.txt')
    (tmp_path / 'bad.txt').write_text('img\n1\n1 2 3 nan 5 1\n')
    with pytest.raises(DatasetError, match='bad.txt:3: not finite'):
        read_fddb_ellipses(tmp_path / 'bad.txt')
    (tmp_path / 'bad.txt').write_text('img\n-2\n1 2 3 4 5 1\n')
    with pytest.raises(DatasetError, match='bad.txt:2: negative face count -2 for img'):
        read_fddb_ellipses(tmp_path / 'bad.txt')


def test_labelmap_is_ssd_caffe_style_and_round_trips(tmp_path):
    text = labelmap_text(['face'])
    assert text.startswith('item {\n  name: "none_of_the_above"\n  label: 0\n'
                           '  display_name: "background"\n}\nitem {\n  name: "face"\n'
                           '  label: 1\n')
    (tmp_path / 'labelmap.prototxt').write_text(labelmap_text(['good', 'bad']))
    assert read_labelmap(tmp_path / 'labelmap.prototxt') == ['good', 'bad']


def test_split_is_deterministic_and_90_10():
    items = [f'img{index}' for index in range(50)]
    train, test = split_items(items, 0.1, 42)
    assert len(test) == 5 and sorted(train + test) == sorted(items)
    assert split_items(reversed(items), 0.1, 42) == (train, test)
    assert split_items(items, 0.1, 7) != (train, test)


CFG = """[net]
batch=1
subdivisions=1
width=608
height=608
max_batches = 500200
steps=400000,450000

[convolutional]
filters=255
activation=linear

[yolo]
mask = 6,7,8
classes=80
num=9

[route]
layers = -4

[convolutional]
filters=255

[yolo]
mask = 0,1,2
classes=80
num=9
"""


def test_darknet_cfg_patched_by_the_mask_article_rules():
    patched = patch_yolo_cfg(CFG, 2)
    for line in ('batch=64', 'subdivisions=16', 'width=416', 'height=416', 'max_batches=4000',
                 'steps=3200,3600'):
        assert line in patched.splitlines()
    assert patched.count('filters=21') == 2 and patched.count('classes=2') == 2
    assert 'max_batches=6000' in patch_yolo_cfg(CFG, 3)


@pytest.mark.parametrize('cfg, message', [
    (CFG.replace('[yolo]', '[region]'), 'no \\[yolo\\]'),
    (CFG.replace('[net]', '[convolutional]'), 'one \\[net\\] section'),
    (CFG.replace('[route]\nlayers = -4\n\n[convolutional]\nfilters=255\n\n', '[route]\n'),
     'does not follow a \\[convolutional\\]'),
])
def test_darknet_cfg_refuses_unexpected_structure(cfg, message):
    with pytest.raises(DatasetError, match=message):
        patch_yolo_cfg(cfg, 2)
