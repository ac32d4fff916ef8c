"""Training data: VOC lists or YOLO folders made by the dataset tools, as SSD input tensors."""

from dataclasses import dataclass
from pathlib import Path

import cv2
from face_detector_ros.datasets.annotations import DatasetError, ImageAnnotation
from face_detector_ros.datasets.images import image_size
from face_detector_ros.datasets.lists import read_labelmap, read_pairs
from face_detector_ros.datasets.voc import read_voc_xml
from face_detector_ros.datasets.yolo import read_names, read_yolo_dir, read_yolo_txt
from face_detector_ros.training.augment import augment, photometric
from face_detector_ros.training.matching import match
from face_detector_ros.training.model import PIXEL_MEAN, PIXEL_SCALE
import numpy as np
import torch
from torch.utils.data import Dataset


@dataclass
class Sample:
    """One image file with its boxes (N, 4) in pixels, class names and difficult flags."""

    image_path: Path
    boxes: np.ndarray
    labels: list
    difficult: np.ndarray


def read_samples(source):
    """
    Read a dataset as the dataset tools write it; return a list of Sample.

    - a VOC list (SSD-Caffe's trainval.txt / test.txt): `image_path xml_path` lines, paths
      relative to the list's folder;
    - a darknet list (face-split's train.txt / test.txt): one image path per line, its `.txt`
      labels beside it and the class names in the list folder's `.names` file;
    - a YOLO folder: images with their `.txt` labels beside them and one `.names` file.
    """
    source = Path(source)
    if source.is_dir():
        return [_sample(source / annotation.filename, annotation)
                for annotation in read_yolo_dir(source)]
    if not source.is_file():
        raise DatasetError(f'{source}: no such list file or YOLO folder')
    lines = [line.split() for line in source.read_text(encoding='utf-8').splitlines()]
    rows = [fields for fields in lines if fields]
    if not rows:
        raise DatasetError(f'{source}: the list is empty')
    if all(len(fields) == 2 for fields in rows):
        return [_sample(source.parent / image, read_voc_xml(source.parent / xml))
                for image, xml in read_pairs(source)]
    if all(len(fields) == 1 for fields in rows):
        names = _names_file(source.parent)
        class_names = read_names(names) if names else None
        return [_darknet_sample(source.parent / image, class_names) for (image,) in rows]
    raise DatasetError(f'{source}: expected "image_path xml_path" (VOC) or "image_path" '
                       '(darknet) on every line')


def default_class_names(source, samples):
    """Return the dataset's class names: its label map or .names file, else the sorted labels."""
    source = Path(source)
    folder = source if source.is_dir() else source.parent
    if (folder / 'labelmap.prototxt').is_file():
        return tuple(read_labelmap(folder / 'labelmap.prototxt'))
    names = _names_file(folder)
    if names:
        return tuple(read_names(names))
    return tuple(sorted({label for sample in samples for label in sample.labels}))


def letterbox(image, size):
    """
    Fit the image in a black `size` square, centred; return (image, scale, dx, dy).

    The same resize, interpolation and padding as the inference engine's letterbox, so the
    network trains on what it will see.
    """
    resized, scale = fit(image, size)
    canvas, dx, dy = pad(resized, size)
    return canvas, scale, dx, dy


def fit(image, size):
    """Return (image resized so that its longer side is `size`, scale)."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    resized = cv2.resize(image, None, fx=scale, fy=scale,
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return resized, scale


def pad(image, size):
    """Return (the image centred in a black `size` square, dx, dy)."""
    height, width = image.shape[:2]
    dx, dy = (size - width) // 2, (size - height) // 2
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[dy:dy + height, dx:dx + width] = image
    return canvas, dx, dy


def to_tensor(image):
    """Return the model input (3, H, W) float32 tensor of a BGR uint8 image."""
    chw = (image.astype(np.float32) - PIXEL_MEAN) * PIXEL_SCALE
    return torch.from_numpy(np.ascontiguousarray(chw.transpose(2, 0, 1)))


def read_image(path):
    """Read an image as BGR uint8, as stored; DatasetError if it cannot be read."""
    # EXIF rotation would move the pixels from under the boxes, which refer to the stored image.
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise DatasetError(f'{path}: cannot read the image')
    return image


class TrainingSet(Dataset):
    """Augmented, letterboxed images with their matched targets: (image, offsets, labels)."""

    def __init__(self, samples, config, augmented=True):
        """Keep the samples; labels are looked up in config.class_names."""
        self.samples = samples
        self.config = config
        self.augmented = augmented
        self.priors = torch.from_numpy(config.priors())
        self.label_ids = {name: index + 1 for index, name in enumerate(config.class_names)}
        unknown = {label for sample in samples for label in sample.labels} - set(self.label_ids)
        if unknown:
            raise DatasetError(f'labels {sorted(unknown)} are not among the model classes '
                               f'{list(config.class_names)}')

    def __len__(self):
        """Return the number of images."""
        return len(self.samples)

    def __getitem__(self, index):
        """Return (image tensor, target offsets (P, 4), target labels (P,))."""
        sample = self.samples[index]
        image = read_image(sample.image_path)
        boxes = sample.boxes.copy()
        labels = np.array([self.label_ids[name] for name in sample.labels], dtype=np.int64)
        if self.augmented:
            # torch's generator is seeded per worker and per epoch, and saved in checkpoints.
            rng = np.random.default_rng(int(torch.randint(2**62, ())))
            image, boxes, labels = augment(image, boxes, labels, rng)
        image, scale = fit(image, self.config.input_size)
        if self.augmented:
            image = photometric(image, rng)
        image, dx, dy = pad(image, self.config.input_size)
        boxes = (boxes * scale + [dx, dy, dx, dy]) / self.config.input_size
        offsets, prior_labels = match(torch.from_numpy(boxes.astype(np.float32)),
                                      torch.from_numpy(labels), self.priors)
        return to_tensor(image), offsets, prior_labels


def _names_file(folder):
    names = sorted(Path(folder).glob('*.names'))
    if len(names) > 1:
        raise DatasetError(f'{folder}: several .names files; keep one')
    return names[0] if names else None


def _darknet_sample(image_path, class_names):
    width, height, _ = image_size(image_path)
    label_path = image_path.with_suffix('.txt')
    boxes = read_yolo_txt(label_path, class_names, width, height) if label_path.is_file() else []
    return _sample(image_path, ImageAnnotation(image_path.name, width, height, boxes=boxes))


def _sample(image_path, annotation):
    boxes = np.array([[box.x1, box.y1, box.x2, box.y2] for box in annotation.boxes],
                     dtype=np.float32).reshape(-1, 4)
    difficult = np.array([box.difficult for box in annotation.boxes], dtype=bool)
    return Sample(Path(image_path), boxes, [box.label for box in annotation.boxes], difficult)
