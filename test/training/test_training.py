"""Unit tests of the training package: priors, matching, loss, augmentation, data, BN folding."""

import io
import math
import struct
import subprocess
import sys

import cv2
from face_detector_ros.datasets.annotations import Box, ImageAnnotation
from face_detector_ros.datasets.images import image_size
from face_detector_ros.datasets.lists import labelmap_text, write_rows
from face_detector_ros.datasets.voc import write_voc_xml
from face_detector_ros.tools.show_boxes import load_image
import numpy as np
import pytest

torch = pytest.importorskip('torch')

from face_detector_ros.training.augment import flip, random_crop  # noqa: E402, I100
from face_detector_ros.training.data import (  # noqa: E402
    default_class_names,
    read_image,
    read_samples,
    TrainingSet,
)
from face_detector_ros.training.export import fold_batchnorm  # noqa: E402
from face_detector_ros.training.loss import multibox_loss  # noqa: E402
from face_detector_ros.training.matching import corner_form, decode, encode, match  # noqa: E402
from face_detector_ros.training.model import MobileNetSSD, SSDConfig  # noqa: E402
from face_detector_ros.training.train import Trainer  # noqa: E402


def test_article_priors_count_and_sizes():
    config = SSDConfig()
    assert config.feature_map_sizes() == [19, 10, 5, 3, 2, 1]
    priors = config.priors()
    assert priors.shape == (2 * (19 ** 2 + 10 ** 2 + 5 ** 2 + 3 ** 2 + 2 ** 2 + 1), 4)
    # First cell of the 19x19 map: the min box then sqrt(min * max), both square.
    np.testing.assert_allclose(priors[0], [0.5 / 19, 0.5 / 19, 16 / 300, 16 / 300], rtol=1e-6)
    np.testing.assert_allclose(priors[1, 2:], [math.sqrt(16 * 32) / 300] * 2, rtol=1e-6)
    # Second cell moves along the row; the last prior is the 1x1 map's centred big box.
    np.testing.assert_allclose(priors[2, :2], [1.5 / 19, 0.5 / 19], rtol=1e-6)
    np.testing.assert_allclose(priors[-1], [0.5, 0.5, math.sqrt(214 * 300) / 300,
                                            math.sqrt(214 * 300) / 300], rtol=1e-6)


def test_model_heads_match_priors_for_any_input_size():
    for size in (300, 160):
        config = SSDConfig(input_size=size, width=0.25)
        model = MobileNetSSD(config).eval()
        with torch.no_grad():
            offsets, logits = model(torch.zeros(1, 3, size, size))
        assert offsets.shape == (1, len(config.priors()), 4)
        assert logits.shape == (1, len(config.priors()), 2)
    scaled = SSDConfig(input_size=150)
    assert scaled.box_sizes[0] == (8.0, 16.0)
    with pytest.raises(ValueError):
        SSDConfig(box_sizes=((16, 32),))


def test_match_hand_cases():
    priors = torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5],
                           [0.5, 0.5, 0.1, 0.1]])
    # A box equal to prior 0 takes it with zero offsets; a tiny box overlaps no prior by 0.5
    # yet takes its best one (prior 2); prior 1 stays background.
    boxes = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.49, 0.49, 0.52, 0.52]])
    offsets, labels = match(boxes, torch.tensor([1, 2]), priors)
    assert labels.tolist() == [1, 0, 2]
    np.testing.assert_allclose(offsets[0], [0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(offsets[1], [0, 0, 0, 0])
    np.testing.assert_allclose(decode(offsets, priors)[2], boxes[1], atol=1e-6)
    empty_offsets, empty_labels = match(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                                        priors)
    assert empty_labels.tolist() == [0, 0, 0] and not empty_offsets.any()


def test_encode_decode_round_trip():
    priors = torch.from_numpy(SSDConfig(input_size=160).priors())
    boxes = corner_form(priors) * 0.9 + 0.03
    np.testing.assert_allclose(decode(encode(boxes, priors), priors), boxes, atol=1e-5)


def test_loss_counts_three_negatives_per_positive():
    labels = torch.zeros(1, 10, dtype=torch.long)
    labels[0, 0] = 1
    logits = torch.zeros(1, 10, 2)  # every prior costs log 2
    offsets = torch.zeros(1, 10, 4)
    target = offsets.clone()
    target[0, 0] = torch.tensor([0.5, 0, 0, 0])
    box_loss, class_loss = multibox_loss(offsets, logits, target, labels)
    assert box_loss.item() == pytest.approx(0.125)  # smooth-L1 of 0.5
    assert class_loss.item() == pytest.approx(4 * math.log(2), rel=1e-6)
    # The hardest background priors are the ones mined.
    logits[0, 5, 1] = 5.0
    _, harder = multibox_loss(offsets, logits, target, labels)
    assert harder.item() == pytest.approx(3 * math.log(2) + math.log(1 + math.exp(5)), rel=1e-6)


def test_random_crop_keeps_face_centres_and_article_aspects():
    image = np.zeros((200, 300, 3), np.uint8)
    boxes = np.array([[40, 40, 80, 90], [200, 100, 260, 160]], np.float32)
    labels = np.array([1, 1])
    cropped = 0
    for seed in range(60):
        crop, kept, kept_labels = random_crop(image, boxes, labels, np.random.default_rng(seed))
        height, width = crop.shape[:2]
        assert len(kept) == len(kept_labels) >= 1
        assert (kept >= 0).all() and (kept[:, [0, 2]] <= width).all()
        assert (kept[:, [1, 3]] <= height).all()
        if crop.shape != image.shape:
            cropped += 1
            aspect = (width / 300) / (height / 200)
            assert 0.7 - 0.05 <= aspect <= 1.4 + 0.05
    assert cropped > 10
    mirrored, flipped = flip(image, boxes)
    np.testing.assert_array_equal(flipped[0], [220, 40, 260, 90])
    assert mirrored.shape == image.shape


def test_voc_list_and_label_map(tmp_path):
    image = np.full((120, 160, 3), 90, np.uint8)
    cv2.imwrite(str(tmp_path / 'a.jpg'), image)
    (tmp_path / 'Annotations').mkdir()
    write_voc_xml(ImageAnnotation('a.jpg', 160, 120, 3, [Box('face', 10, 20, 50, 60)]),
                  tmp_path / 'Annotations' / 'a.xml')
    write_rows(tmp_path / 'trainval.txt', [('a.jpg', 'Annotations/a.xml')])
    (tmp_path / 'labelmap.prototxt').write_text(labelmap_text(['face', 'mask']))
    samples = read_samples(tmp_path / 'trainval.txt')
    np.testing.assert_array_equal(samples[0].boxes, [[10, 20, 50, 60]])
    names = default_class_names(tmp_path / 'trainval.txt', samples)
    assert names == ('face', 'mask')
    config = SSDConfig(input_size=160, class_names=names, width=0.25)
    image_tensor, offsets, labels = TrainingSet(samples, config, augmented=False)[0]
    assert image_tensor.shape == (3, 160, 160) and labels.max() == 1
    with pytest.raises(ValueError, match='not among the model classes'):
        TrainingSet(samples, SSDConfig(input_size=160, class_names=('mask',)))


def test_images_are_read_as_stored_despite_an_exif_rotation(tmp_path):
    _, jpeg = cv2.imencode('.jpg', np.zeros((20, 40, 3), np.uint8))
    # APP1 Exif, big-endian TIFF, one IFD entry: Orientation (0x0112), SHORT, 1 value: 6.
    exif = b'Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0'
    path = tmp_path / 'phone.jpg'
    path.write_bytes(jpeg[:2].tobytes() + b'\xff\xe1' + struct.pack('>H', len(exif) + 2)
                     + exif + jpeg[2:].tobytes())
    assert cv2.imread(str(path)).shape == (40, 20, 3)  # the tag is there and OpenCV obeys it
    assert image_size(path)[:2] == (40, 20)  # width, height as stored, as annotations use
    assert read_image(path).shape == (20, 40, 3)
    assert load_image(path, None).shape == (20, 40, 3)


def test_batchnorm_folding_preserves_outputs():
    torch.manual_seed(0)
    model = MobileNetSSD(SSDConfig(input_size=160, width=0.5))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    images = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        for expected, actual in zip(model(images), folded(images)):
            torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_restore_continues_iteration_and_optimizer_state(tmp_path):
    args = type('Args', (), {'lr': 0.01, 'weight_decay': 5e-4, 'warmup': 2, 'iterations': 10,
                             'output': str(tmp_path)})()
    config = SSDConfig(input_size=64, width=0.25)
    trainer = Trainer(args, config, torch.device('cpu'))
    images = torch.randn(2, 3, 64, 64)
    labels = torch.zeros(2, len(config.priors()), dtype=torch.long)
    labels[:, 3] = 1
    offsets = torch.zeros(2, len(config.priors()), 4)
    for _ in range(3):
        trainer.step(images, offsets, labels)
    trainer.save('last.pt')
    resumed = Trainer(args, config, torch.device('cpu'))
    resumed.restore(torch.load(tmp_path / 'last.pt', weights_only=False))
    assert resumed.iteration == 3
    assert resumed.learning_rate() == trainer.learning_rate()
    saved, restored = trainer.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert len(restored['state']) == len(saved['state']) > 0
    for key, state in saved['state'].items():
        torch.testing.assert_close(restored['state'][key]['momentum_buffer'],
                                   state['momentum_buffer'])
    # Both continue identically from here.
    trainer.step(images, offsets, labels)
    resumed.step(images, offsets, labels)
    for a, b in zip(trainer.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('tool', ['train', 'export'])
def test_unusable_checkpoints_give_one_line(tmp_path, tool):
    cv2.imwrite(str(tmp_path / 'a.jpg'), np.zeros((32, 32, 3), np.uint8))
    (tmp_path / 'a.txt').write_text('0 0.5 0.5 0.5 0.5\n')
    (tmp_path / 'obj.names').write_text('face\n')
    readable = io.BytesIO()  # a checkpoint whose weights fit no model
    torch.save({'config': SSDConfig().to_dict(), 'model': {}, 'iteration': 0,
                'args': {'input_size': 300, 'width': 1.0, 'classes': 'face'}}, readable)
    for content, reason in ((b'not a checkpoint\n', 'invalid load key'),
                            (readable.getvalue(), 'Error(s) in loading state_dict')):
        output = tmp_path / 'run'
        output.mkdir(exist_ok=True)
        checkpoint = output / 'last.pt'
        checkpoint.write_bytes(content)
        args = [tmp_path, output] if tool == 'train' else [checkpoint, tmp_path / 'exported']
        result = subprocess.run(
            [sys.executable, '-m', f'face_detector_ros.training.{tool}', *map(str, args)],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        line, = result.stderr.strip().splitlines()
        assert f'{checkpoint} is not a usable face-train checkpoint: {reason}' in line


def test_one_line_error_without_torch():
    code = ("import sys; sys.modules['torch'] = None; "
            'import face_detector_ros.training.train')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        'face_detector_ros.training needs PyTorch, which is not installed: pip install .[train]']


@pytest.mark.parametrize('tool, extra, message', [
    ('train', ['--lr', 'nan'], '--lr nan is not in (0, 10]'),
    ('train', ['--lr', '-1'], '--lr -1.0 is not in (0, 10]'),
    ('train', ['--weight-decay', 'inf'], '--weight-decay inf is not in [0, 1]'),
    ('train', ['--width', '0'], '--width 0.0 is not in (0.05, 4]'),
    ('train', ['--input-size', '0'], '--input-size 0 must be in [32, 2048]'),
    ('export', ['--score-threshold', '7'], '--score-threshold 7.0 is not in [0, 1]'),
    ('export', ['--score-threshold', 'nan'], '--score-threshold nan is not in [0, 1]'),
    ('export', ['--samples', '0'], '--samples 0 and --calibration-size 300 must be at least 1'),
    ('export', ['--name', '../x'], "--name '../x' must be a plain file name"),
])
def test_settings_out_of_range_are_refused_before_any_work(tmp_path, tool, extra, message):
    output = tmp_path / 'out'
    args = [tmp_path, output] if tool == 'train' else [tmp_path / 'last.pt', output]
    result = subprocess.run(
        [sys.executable, '-m', f'face_detector_ros.training.{tool}', *map(str, args), *extra],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    line, = result.stderr.strip().splitlines()[-1:]
    assert message in line and 'Traceback' not in result.stderr
    assert not output.exists()
