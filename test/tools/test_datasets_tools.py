"""Every dataset tool end to end through `python -m`, on small datasets the tests write."""

import json
from pathlib import Path
import subprocess
import sys

import cv2
from face_detector_ros.datasets.lists import read_labelmap, read_name_sizes, read_pairs
from face_detector_ros.datasets.voc import read_voc_xml
from face_detector_ros.datasets.yolo import read_yolo_dir
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def run(module, *args, expect=0):
    """Run a tool as its console script would; check the exit status and return the result."""
    result = subprocess.run(
        [sys.executable, '-m', f'face_detector_ros.tools.{module}', *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (result.returncode == 0) == (expect == 0), result.stderr
    if expect:
        assert 'Traceback' not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result


def no_output(path):
    """Return True if neither `path` nor a staging folder beside it exists."""
    return not path.exists() and not list(path.parent.glob(f'.{path.name}.*'))


def image(path, width=64, height=48, gray=False):
    """Write random noise as an image file, so that drawn boxes can be found on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (height, width) if gray else (height, width, 3)
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, shape, np.uint8))
    return path


def voc_xml(path, filename, width, height, objects):
    """Write a mask-dataset-style VOC XML file with (name, xmin, ymin, xmax, ymax) objects."""
    objects_xml = ''.join(
        f'<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>'
        f'<occluded>0</occluded><difficult>0</difficult><bndbox><xmin>{x1}</xmin>'
        f'<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>'
        for name, x1, y1, x2, y2 in objects)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<annotation><folder>images</folder><filename>{filename}</filename>'
                    f'<size><width>{width}</width><height>{height}</height><depth>3</depth>'
                    f'</size><segmented>0</segmented>{objects_xml}</annotation>')


@pytest.fixture
def mask_dataset(tmp_path):
    """Make the mask article's layout: annotations/*.xml, images/*.png, three classes."""
    annotations, images = tmp_path / 'annotations', tmp_path / 'images'
    for index in range(3):
        image(images / f'maksssksksss{index}.png')
    voc_xml(annotations / 'maksssksksss0.xml', 'maksssksksss0.png', 64, 48,
            [('with_mask', 4, 6, 20, 26), ('without_mask', 30, 10, 70, 30)])
    voc_xml(annotations / 'maksssksksss1.xml', 'maksssksksss1.png', 64, 48,
            [('mask_weared_incorrect', 10, 10, 20, 22), ('with_mask', 20, 20, 20, 30)])
    voc_xml(annotations / 'maksssksksss2.xml', 'maksssksksss2.png', 64, 48, [])
    return annotations, images


def test_voc2yolo_mask_article(mask_dataset, tmp_path):
    annotations, images = mask_dataset
    result = run('voc2yolo', annotations, images, tmp_path / 'yolo', '--mask-article')
    assert '3 images, 3 boxes (good 1, bad 2)' in result.stdout
    assert 'found by stem' not in result.stderr  # the XML name the files as they are
    assert '1 clipped, 1 degenerate dropped' in result.stdout
    out = tmp_path / 'yolo'
    assert sorted(path.name for path in out.iterdir()) == [
        'maksssksksss0.png', 'maksssksksss0.txt', 'maksssksksss1.png', 'maksssksksss1.txt',
        'maksssksksss2.png', 'maksssksksss2.txt', 'obj.names']
    assert (out / 'obj.names').read_text() == 'good\nbad\n'
    # without_mask clipped at x = 64: centre 47 / 64, width 34 / 64 (no +1)
    assert (out / 'maksssksksss0.txt').read_text().splitlines() == [
        '0 0.187500 0.333333 0.250000 0.416667', '1 0.734375 0.416667 0.531250 0.416667']
    assert (out / 'maksssksksss2.txt').read_text() == ''
    back = tmp_path / 'voc'
    run('yolo2voc', out, back)
    first = read_voc_xml(back / 'Annotations' / 'maksssksksss0.xml')
    assert [(box.label, box.x1, box.y1, box.x2, box.y2) for box in first.boxes] == [
        ('good', 4, 6, 20, 26), ('bad', 30, 10, 64, 30)]
    assert (back / 'JPEGImages' / 'maksssksksss0.png').is_file()
    run('voc2yolo', back / 'Annotations', back / 'JPEGImages', tmp_path / 'again',
        '--classes', 'good,bad')
    assert (tmp_path / 'again' / 'maksssksksss0.txt').read_text() == (
        out / 'maksssksksss0.txt').read_text()


def test_voc2yolo_matches_images_by_stem_and_says_so_once(mask_dataset, tmp_path):
    # As the shared Kaggle set: the XML name .png files, the images are .jpg.
    annotations, images = mask_dataset
    for path in images.glob('*.png'):
        cv2.imwrite(str(path.with_suffix('.jpg')), cv2.imread(str(path)))
        path.unlink()
    result = run('voc2yolo', annotations, images, tmp_path / 'yolo', '--mask-article')
    assert result.stderr.count('found by stem') == 1
    assert '3 image(s) found by stem' in result.stderr
    assert "names 'maksssksksss0.png', found 'maksssksksss0.jpg'" in result.stderr
    assert (tmp_path / 'yolo' / 'maksssksksss0.jpg').is_file()


def test_voc2yolo_unknown_classes(mask_dataset, tmp_path):
    annotations, images = mask_dataset
    failed = run('voc2yolo', annotations, images, tmp_path / 'out', '--classes', 'with_mask',
                 expect=2)
    assert "unknown class 'without_mask'" in failed.stderr and 'maksssksksss0.xml' in failed.stderr
    assert no_output(tmp_path / 'out')
    result = run('voc2yolo', annotations, images, tmp_path / 'out', '--classes', 'with_mask',
                 '--skip-unknown')
    assert 'unknown classes skipped: mask_weared_incorrect 1, without_mask 1' in result.stdout
    run('voc2yolo', annotations, images, tmp_path / 'out', '--map', 'oops', expect=2)


@pytest.mark.parametrize('damage, message', [
    (lambda a, i: (a / 'maksssksksss1.xml').write_text('<annotation><size>'), 'malformed XML'),
    (lambda a, i: (i / 'maksssksksss1.png').unlink(), 'no image'),
    (lambda a, i: image(i / 'maksssksksss1.png', 32, 32), 'size 64x48 but'),
])
def test_voc2yolo_bad_inputs_stop_or_skip(mask_dataset, tmp_path, damage, message):
    annotations, images = mask_dataset
    damage(annotations, images)
    failed = run('voc2yolo', annotations, images, tmp_path / 'out', '--mask-article', expect=2)
    assert message in failed.stderr and 'maksssksksss1' in failed.stderr
    assert no_output(tmp_path / 'out')
    result = run('voc2yolo', annotations, images, tmp_path / 'out', '--mask-article',
                 '--skip-bad')
    assert result.stdout.startswith('2 images') and 'skipped' in result.stdout


def test_yolo2voc_whole_pixels_counts_dropped_boxes_and_rejects_nan(tmp_path):
    darknet = tmp_path / 'darknet'
    image(darknet / 'a.png', 40, 20)
    (darknet / 'obj.names').write_text('face\n')
    # a fractional box, one outside the image (nothing left after clipping)
    (darknet / 'a.txt').write_text('0 0.51 0.5 0.3 0.3\n0 1.5 0.5 0.2 0.2\n')
    result = run('yolo2voc', darknet, tmp_path / 'voc')
    assert '1 images, 1 boxes' in result.stdout
    assert '1 clipped, 1 degenerate dropped' in result.stdout
    box, = read_voc_xml(tmp_path / 'voc' / 'Annotations' / 'a.xml').boxes
    assert (box.x1, box.y1, box.x2, box.y2) == (14, 7, 27, 13)  # 14.4 .. 26.4, outward
    (darknet / 'a.txt').write_text('0 nan 0.5 0.2 0.2\n')
    failed = run('yolo2voc', darknet, tmp_path / 'nan', expect=2)
    assert 'a.txt:1: not finite' in failed.stderr and no_output(tmp_path / 'nan')


def test_voc2yolo_empty_folder(tmp_path):
    (tmp_path / 'a').mkdir()
    assert 'no .xml files' in run('voc2yolo', tmp_path / 'a', tmp_path / 'a', tmp_path / 'o',
                                  expect=2).stderr


WIDER_TRAIN = """0--Parade/a.jpg
2
4 4 20 24 0 0 0 0 0 0
30 10 12 10 0 0 0 0 0 0
0--Parade/blurry.jpg
1
4 4 20 24 1 0 0 0 0 0
0--Parade/none.jpg
0
0 0 0 0 0 0 0 0 0 0
0--Parade/gray.jpg
1
4 4 20 24 0 0 0 0 0 0
0--Parade/wide.jpg
1
4 4 20 20 0 0 0 0 0 0
0--Parade/tiny.jpg
2
4 4 20 24 0 0 0 0 0 0
40 4 4 4 0 0 0 0 0 0
"""


@pytest.fixture
def wider(tmp_path):
    """Make a WIDER Face folder with the official layout and one image per filter."""
    root = tmp_path / 'WIDER'
    for name in ('a', 'blurry', 'none', 'tiny'):
        image(root / 'WIDER_train' / 'images' / '0--Parade' / f'{name}.jpg')
    image(root / 'WIDER_train' / 'images' / '0--Parade' / 'gray.jpg', gray=True)
    image(root / 'WIDER_train' / 'images' / '0--Parade' / 'wide.jpg', 150, 48)
    image(root / 'WIDER_val' / 'images' / '1--Handshaking' / 'v.jpg')
    (root / 'wider_face_split').mkdir()
    (root / 'wider_face_split' / 'wider_face_train_bbx_gt.txt').write_text(WIDER_TRAIN)
    (root / 'wider_face_split' / 'wider_face_val_bbx_gt.txt').write_text(
        '1--Handshaking/v.jpg\n1\n10 10 20 20 0 0 0 0 0 0\n')
    return root


def test_wider2voc_article_filters_and_lists(wider, tmp_path):
    out = tmp_path / 'wider_voc'
    result = run('wider2voc', wider, out)
    assert result.stdout.startswith('7 images -> 2 kept (trainval 1, test 1), 8 faces -> 3 kept')
    assert result.stdout.strip().endswith(
        'images dropped: a face failed 2, aspect ratio 1, grayscale 1, no faces 1; '
        'faces dropped: blurry 1, under 6 px 1')
    assert sorted(path.name for path in out.iterdir()) == [
        'Annotations', 'labelmap.prototxt', 'test.txt', 'test_name_size.txt', 'trainval.txt',
        'trainval_name_size.txt']
    (image_path, xml_path), = read_pairs(out / 'trainval.txt')
    assert (out / image_path).resolve() == (wider / 'WIDER_train/images/0--Parade/a.jpg')
    annotation = read_voc_xml(out / xml_path)
    assert (annotation.filename, annotation.width, annotation.height) == ('a.jpg', 64, 48)
    # squared by enlarging the shorter side about the centre
    assert [(box.x1, box.y1, box.x2, box.y2) for box in annotation.boxes] == [
        (2, 4, 26, 28), (30, 9, 42, 21)]
    assert read_name_sizes(out / 'test_name_size.txt') == [('1--Handshaking_v', 48, 64)]
    assert read_labelmap(out / 'labelmap.prototxt') == ['face']


def test_wider2voc_flags(wider, tmp_path):
    result = run('wider2voc', wider, tmp_path / 'o', '--on-failing-face', 'drop-face',
                 '--max-blur', '2', '--keep-gray', '--aspect', '0.5', '4', '--square', 'none',
                 '--splits', 'train', '--copy-images')
    assert result.stdout.startswith('6 images -> 5 kept (trainval 5), 7 faces -> 6 kept')
    assert 'faces dropped: under 6 px 1' in result.stdout
    image_path, _ = read_pairs(tmp_path / 'o' / 'trainval.txt')[0]
    assert image_path.startswith('images/0--Parade/')
    assert (tmp_path / 'o' / image_path).is_file()


def test_wider2voc_failures_leave_nothing(wider, tmp_path):
    (wider / 'WIDER_train' / 'images' / '0--Parade' / 'none.jpg').unlink()
    failed = run('wider2voc', wider, tmp_path / 'o', expect=2)
    assert 'none.jpg: image missing' in failed.stderr and no_output(tmp_path / 'o')
    assert 'missing image 1' in run('wider2voc', wider, tmp_path / 'o', '--skip-bad').stdout
    (wider / 'wider_face_split' / 'wider_face_val_bbx_gt.txt').write_text('v.jpg\n3\n')
    failed = run('wider2voc', wider, tmp_path / 'p', expect=1)
    assert ('wider_face_val_bbx_gt.txt:1: the file ends inside the block of v.jpg (0 of its 3'
            in failed.stderr) and failed.stderr.count('\n') == 1
    assert no_output(tmp_path / 'p')
    assert 'not found' in run('wider2voc', tmp_path, tmp_path / 'q', expect=2).stderr


def test_wider2voc_drops_zero_size_boxes_and_names_the_first(wider, tmp_path):
    # The official val file has two boxes of zero width; --min-size 0 wrote them, and training
    # on them gave a loss of nan.
    gt = wider / 'wider_face_split' / 'wider_face_train_bbx_gt.txt'
    lines = gt.read_text().splitlines()
    face_line = next(number for number, line in enumerate(lines) if len(line.split()) == 10
                     and line.split()[2] != '0')
    fields = lines[face_line].split()
    lines[face_line] = ' '.join([*fields[:2], '0', *fields[3:]])
    gt.write_text('\n'.join(lines) + '\n')
    result = run('wider2voc', wider, tmp_path / 'o', '--splits', 'train', '--min-size', '0',
                 '--min-fraction', '0', '--on-failing-face', 'drop-face', '--max-blur', '2')
    assert f'wider_face_train_bbx_gt.txt:{face_line + 1}: 1 box(es) of zero width' in result.stderr
    assert 'zero size 1' in result.stdout
    for xml in (tmp_path / 'o' / 'Annotations').glob('*.xml'):
        annotation = read_voc_xml(xml)
        assert all(box.width > 0 and box.height > 0 for box in annotation.boxes)


@pytest.fixture
def fddb(tmp_path):
    """Make an FDDB folder: originalPics/ and FDDB-folds/ with folds 1 and 10."""
    root = tmp_path / 'FDDB'
    image(root / 'originalPics' / '2002/08/11/big/img_591.jpg', 200, 160)
    image(root / 'originalPics' / '2002/08/11/big/img_592.jpg', 200, 160, gray=True)
    image(root / 'originalPics' / '2003/01/01/big/img_1.jpg', 200, 160)
    folds = root / 'FDDB-folds'
    folds.mkdir()
    (folds / 'FDDB-fold-01-ellipseList.txt').write_text(
        '2002/08/11/big/img_591\n1\n40.0 20.0 0 100.0 80.0  1\n'
        '2002/08/11/big/img_592\n1\n40 20 0 100 80  1\n')
    (folds / 'FDDB-fold-10-ellipseList.txt').write_text(
        '2003/01/01/big/img_1\n1\n30 20 1.5707963 100 80  1\n')
    (folds / 'FDDB-fold-01.txt').write_text('2002/08/11/big/img_591\n')
    return root


def test_fddb2voc_ellipses_to_boxes(fddb, tmp_path):
    out = tmp_path / 'fddb_voc'
    result = run('fddb2voc', fddb, out, '--square', 'none')
    assert result.stdout.startswith('3 images -> 2 kept (trainval 1, test 1)')
    assert 'grayscale 1' in result.stdout
    (_, xml_path), = read_pairs(out / 'trainval.txt')
    assert xml_path == 'Annotations/2002_08_11_big_img_591.xml'
    box, = read_voc_xml(out / xml_path).boxes
    assert (box.x1, box.y1, box.x2, box.y2) == (60, 60, 140, 100)
    box, = read_voc_xml(out / 'Annotations' / '2003_01_01_big_img_1.xml').boxes
    assert (box.x1, box.y1, box.x2, box.y2) == (80, 50, 120, 110)
    assert 'test fold(s) [3]' in run('fddb2voc', fddb, tmp_path / 'o', '--test-folds', '3',
                                     expect=2).stderr


def test_merge_then_lists_resolve(wider, fddb, tmp_path):
    run('wider2voc', wider, tmp_path / 'w')
    run('fddb2voc', fddb, tmp_path / 'f')
    merged = tmp_path / 'merged'
    result = run('merge', merged, tmp_path / 'w', tmp_path / 'f')
    assert result.stdout.startswith('trainval 2, test 2 images from 2 datasets')
    pairs = read_pairs(merged / 'trainval.txt') + read_pairs(merged / 'test.txt')
    assert all((merged / path).is_file() for pair in pairs for path in pair)
    assert len(read_name_sizes(merged / 'test_name_size.txt')) == 2
    assert read_labelmap(merged / 'labelmap.prototxt') == ['face']
    assert '4 of 4 images drawn (lists, labels: face)' in run(
        'show_boxes', merged, '--sheet', tmp_path / 'merged.png').stdout
    run('merge', tmp_path / 'again', tmp_path / 'w', tmp_path / 'f')
    assert (tmp_path / 'again' / 'trainval.txt').read_text() == (
        merged / 'trainval.txt').read_text()
    assert 'given twice' in run('merge', tmp_path / 'x', tmp_path / 'w', tmp_path / 'w',
                                expect=2).stderr
    (tmp_path / 'w' / 'Annotations' / '0--Parade_a.xml').unlink()
    assert 'does not exist' in run('merge', tmp_path / 'x', tmp_path / 'w',
                                   expect=2).stderr
    assert no_output(tmp_path / 'x')


def test_split_lists_and_folders(tmp_path):
    data = tmp_path / 'data'
    for index in range(20):
        image(data / f'img{index:02d}.jpg', 16, 16)
        (data / f'img{index:02d}.txt').write_text('0 0.5 0.5 0.5 0.5\n')
    (data / 'obj.names').write_text('face\n')
    result = run('split', data, tmp_path / 'lists')
    assert result.stdout.startswith('20 images -> train 18, test 2')
    train = (tmp_path / 'lists' / 'train.txt').read_text().splitlines()
    test = (tmp_path / 'lists' / 'test.txt').read_text().splitlines()
    assert len(train) == 18 and len(test) == 2 and not set(train) & set(test)
    assert all(Path(line).is_absolute() and Path(line).is_file() for line in train + test)
    run('split', data, tmp_path / 'folders', '--folders')
    test_files = sorted(path.name for path in (tmp_path / 'folders' / 'test').iterdir())
    assert test_files == sorted(
        name for line in test for name in (Path(line).name, Path(line).stem + '.txt'))
    assert len(read_yolo_dir(tmp_path / 'folders' / 'train', ['face'])) == 18
    assert (tmp_path / 'folders' / 'obj.names').is_file()
    run('split', data, tmp_path / 'bad', '--test-fraction', '1.5', expect=2)


def test_split_by_number_is_the_fixed_mask_split(tmp_path):
    data = tmp_path / 'data'
    for index in range(25):
        image(data / f'maksssksksss{index}.png', 16, 16)
        (data / f'maksssksksss{index}.txt').write_text('0 0.5 0.5 0.5 0.5\n')
    result = run('split', data, tmp_path / 'lists', '--test-modulo', '10:9')
    assert result.stdout.startswith('25 images -> train 23, test 2')
    test = (tmp_path / 'lists' / 'test.txt').read_text().splitlines()
    names = sorted(Path(line).name for line in test)
    assert names == ['maksssksksss19.png', 'maksssksksss9.png']
    for bad, message in (('10:10', '0 <= R < M'), ('ten', 'give M:R')):
        failed = run('split', data, tmp_path / 'bad', '--test-modulo', bad, expect=2)
        assert message in failed.stderr and not (tmp_path / 'bad').exists()
    image(data / 'extra.png', 16, 16)
    failed = run('split', data, tmp_path / 'bad', '--test-modulo', '10:9', expect=2)
    assert 'extra.png has no number at the end of its name' in failed.stderr


def test_show_boxes_all_formats(mask_dataset, tmp_path):
    annotations, images = mask_dataset
    sheet = tmp_path / 'sheet.png'
    result = run('show_boxes', annotations, '--images', images, '--sheet', sheet)
    assert '3 of 3 images drawn (voc' in result.stdout
    assert cv2.imread(str(sheet)).shape[1] == 3 * 256
    run('voc2yolo', annotations, images, tmp_path / 'yolo', '--mask-article')
    run('show_boxes', tmp_path / 'yolo', '--output-dir', tmp_path / 'drawn')
    original = cv2.imread(str(images / 'maksssksksss0.png'))
    drawn = cv2.imread(str(tmp_path / 'drawn' / 'maksssksksss0.png'))
    changed = np.any(drawn != original, axis=2)
    assert changed[26, 4:21].all() and not changed[40:, :].any()  # the good box's bottom edge
    detections = tmp_path / 'detections.jsonl'
    detections.write_text(
        f'{{"source": "{images / "maksssksksss1.png"}", "frame": 0, "width": 64, '
        '"height": 48, "detections": [{"bbox": [1, 2, 30, 40], "score": 0.9, '
        '"label": "face"}]}\n')
    assert '1 of 1 images drawn (json, labels: face)' in run(
        'show_boxes', detections, '--output-dir', tmp_path / 'json').stdout
    detections.write_text('{"source": "x.png"}\n')
    assert 'not a face-detect JSON line' in run('show_boxes', detections, '--sheet',
                                                tmp_path / 's.png', expect=2).stderr


def test_show_boxes_output_names_are_unique(tmp_path):
    video = cv2.VideoWriter(str(tmp_path / 'clip.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 5,
                            (32, 24))
    for value in (0, 80, 160):
        video.write(np.full((24, 32, 3), value, np.uint8))
    video.release()
    sources = [(tmp_path / 'clip.avi', 0), (tmp_path / 'clip.avi', 2),
               (image(tmp_path / 'a' / 'x.png'), 0), (image(tmp_path / 'b' / 'x.png'), 0)]
    detections = tmp_path / 'detections.jsonl'
    detections.write_text(''.join(
        f'{{"source": "{source}", "frame": {frame}, "detections": [{{"bbox": [1, 2, 9, 9]}}]}}\n'
        for source, frame in sources))
    result = run('show_boxes', detections, '--output-dir', tmp_path / 'drawn')
    assert '4 of 4 images drawn' in result.stdout
    drawn = tmp_path / 'drawn'
    assert sorted(path.name for path in drawn.iterdir()) == [
        'clip_0.png', 'clip_2.png', 'x.png', 'x_2.png']
    assert cv2.imread(str(drawn / 'clip_2.png'))[20, 20] == pytest.approx([160] * 3, abs=8)


@pytest.mark.parametrize('flag, value, bound', [
    ('--limit', 0, 'at least'), ('--columns', 0, 'at least'), ('--thumb-size', 8, 'at least'),
    ('--thumb-size', 100000, 'at most'), ('--columns', 1000, 'at most')])
def test_show_boxes_refuses_useless_sizes(mask_dataset, tmp_path, flag, value, bound):
    # --thumb-size 100000 ran out of memory.
    failed = run('show_boxes', mask_dataset[0], '--sheet', tmp_path / 's.png', flag, value,
                 expect=2)
    assert f'{flag} {value}: must be {bound}' in failed.stderr


def test_show_boxes_draws_far_off_boxes_and_names_the_line_of_a_nan_box(tmp_path):
    photo = image(tmp_path / 'x.png')
    far = {'source': str(photo), 'frame': 0, 'detections': [
        {'bbox': [-5e12, 10, 3e12, 20], 'score': 0.9, 'label': 'face'},
        {'bbox': [10, 10, 30, 30], 'score': 0.8, 'label': 'face'}]}
    (tmp_path / 'far.jsonl').write_text(json.dumps(far) + '\n')
    # Coordinates beyond int32 crashed in cv2.rectangle.
    run('show_boxes', tmp_path / 'far.jsonl', '--output-dir', tmp_path / 'drawn')
    assert cv2.imread(str(tmp_path / 'drawn' / 'x.png')).shape == (48, 64, 3)
    nan = dict(far, detections=[{'bbox': [float('nan'), 1, 2, 3], 'score': 0.5}])
    (tmp_path / 'nan.jsonl').write_text('\n' + json.dumps(nan) + '\n')
    failed = run('show_boxes', tmp_path / 'nan.jsonl', '--output-dir', tmp_path / 'n', expect=2)
    assert f'{tmp_path / "nan.jsonl"}:2: a box or score is not a finite number' in failed.stderr
    assert no_output(tmp_path / 'n')


CFG = """[net]
batch=1
subdivisions=1
width=608
height=608

[convolutional]
filters=255

[yolo]
mask = 0,1,2
classes=80
num=9
"""


def test_darknet_config(tmp_path):
    (tmp_path / 'yolov3.cfg').write_text(CFG)
    (tmp_path / 'train.txt').write_text('/x/a.jpg\n')
    (tmp_path / 'test.txt').write_text('/x/b.jpg\n')
    args = ['--cfg', tmp_path / 'yolov3.cfg', '--train', tmp_path / 'train.txt',
            '--valid', tmp_path / 'test.txt', '--classes', 'good,bad']
    run('darknet_config', tmp_path / 'darknet', *args)
    out = tmp_path / 'darknet'
    assert (out / 'obj.data').read_text() == (
        f'classes = 2\ntrain = {tmp_path}/train.txt\nvalid = {tmp_path}/test.txt\n'
        f'names = {out}/obj.names\nbackup = {out}/backup/\n')
    assert (out / 'obj.names').read_text() == 'good\nbad\n'
    cfg = (out / 'yolov3-obj.cfg').read_text().splitlines()
    assert {'batch=64', 'subdivisions=16', 'width=416', 'max_batches=4000', 'steps=3200,3600',
            'filters=21', 'classes=2'} <= set(cfg)
    assert (out / 'backup').is_dir()
    (tmp_path / 'yolov3.cfg').write_text(CFG.replace('[yolo]', '[region]'))
    failed = run('darknet_config', tmp_path / 'refused', *args, expect=2)
    assert 'refusing' in failed.stderr and no_output(tmp_path / 'refused')


def test_an_output_that_is_holds_or_lies_in_an_input_is_refused_even_with_overwrite(
        mask_dataset, tmp_path):
    # face-voc2yolo g/ann g/img g --overwrite used to replace g, wiping ann/ and img/.
    (tmp_path / 'images' / 'obj.names').write_text('good\nbad\n')
    for index in range(3):  # YOLO labels beside the images, for yolo2voc and split
        (tmp_path / 'images' / f'maksssksksss{index}.txt').write_text('0 0.5 0.5 0.2 0.2\n')
    before = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob('*'))
    cases = [
        ('voc2yolo', [tmp_path / 'annotations', tmp_path / 'images', tmp_path], 'contains'),
        ('voc2yolo', [tmp_path / 'annotations', tmp_path / 'images', tmp_path / 'images'],
         ' is the input'),
        ('yolo2voc', [tmp_path / 'images', tmp_path / 'images' / 'voc'], 'lies inside'),
        ('split', [tmp_path / 'images', tmp_path], 'contains'),
        ('merge', [tmp_path / 'annotations', tmp_path / 'annotations'], ' is the input'),
        ('show_boxes', [tmp_path / 'annotations', '--images', tmp_path / 'images',
                        '--output-dir', tmp_path], 'contains'),
    ]
    for module, args, relation in cases:
        result = run(module, *args, '--overwrite', expect=2)
        assert relation in result.stderr and 'destroy the input' in result.stderr, result.stderr
    assert sorted(path.relative_to(tmp_path) for path in tmp_path.rglob('*')) == before


def test_file_names_that_would_leave_the_output_folder_are_refused(mask_dataset, tmp_path):
    (tmp_path / 'yolov3.cfg').write_text(CFG)
    (tmp_path / 'train.txt').write_text('/x/a.jpg\n')
    args = ['--cfg', tmp_path / 'yolov3.cfg', '--train', tmp_path / 'train.txt',
            '--valid', tmp_path / 'train.txt', '--classes', 'good,bad']
    for name in ('../../x', '..', 'a/b'):
        result = run('darknet_config', tmp_path / 'darknet', *args, '--name', name, expect=2)
        assert '--name' in result.stderr and 'plain file name' in result.stderr
    annotations, images = mask_dataset
    result = run('voc2yolo', annotations, images, tmp_path / 'yolo', '--names-file',
                 '../x.names', expect=2)
    assert '--names-file' in result.stderr and 'plain file name' in result.stderr
    assert no_output(tmp_path / 'darknet') and no_output(tmp_path / 'yolo')
    assert not (tmp_path / 'x.names').exists() and not (tmp_path.parent / 'x.data').exists()


@pytest.mark.parametrize('extra, message', [
    (['--batch', '0', '--subdivisions', '0'], 'must be positive, batch a multiple'),
    (['--batch', '64', '--subdivisions', '5'], 'must be positive, batch a multiple'),
    (['--size', '0'], 'not a positive multiple of 32'),
    (['--classes', 'good,bad,good'], 'class names given twice: good'),
    (['--cfg-text', 'mask=1,x'], 'needs mask = comma-separated anchor indices'),
    (['--cfg-bytes'], 'not a text cfg file'),
])
def test_darknet_config_refuses_bad_settings_and_files(tmp_path, extra, message):
    cfg = tmp_path / 'yolov3.cfg'
    if extra == ['--cfg-bytes']:
        cfg.write_bytes(b'\xff\xfe\x00binary')
        extra = []
    elif extra[0] == '--cfg-text':
        cfg.write_text(CFG.replace('mask = 0,1,2', extra[1]).replace('mask=0,1,2', extra[1]))
        extra = []
    else:
        cfg.write_text(CFG)
    (tmp_path / 'train.txt').write_text('/x/a.jpg\n')
    args = ['--cfg', cfg, '--train', tmp_path / 'train.txt', '--valid', tmp_path / 'train.txt']
    if '--classes' not in extra:
        args += ['--classes', 'good,bad']
    failed = run('darknet_config', tmp_path / 'darknet', *args, *extra, expect=2)
    assert message in failed.stderr and (message != 'not a text cfg file' or str(cfg) in
                                         failed.stderr)
    assert no_output(tmp_path / 'darknet')


def test_merge_refuses_an_image_in_one_sets_trainval_and_another_sets_test(tmp_path):
    # The same photo converted twice: trained on in set a, tested on in set b.
    for name, list_name in (('a', 'trainval'), ('b', 'test')):
        folder = tmp_path / name
        voc_xml(folder / 'Annotations' / 'x.xml', 'x.jpg', 64, 48, [('face', 1, 1, 30, 30)])
        (folder / f'{list_name}.txt').write_text('../photos/x.jpg Annotations/x.xml\n')
    image(tmp_path / 'photos' / 'x.jpg')
    failed = run('merge', tmp_path / 'merged', tmp_path / 'a', tmp_path / 'b', expect=2)
    assert '1 image(s) are in trainval and in test' in failed.stderr
    assert str(tmp_path / 'photos' / 'x.jpg') in failed.stderr
    assert no_output(tmp_path / 'merged')
