"""Training augmentation in numpy/cv2: photometric distortion, SSD random crops, flips."""

import cv2
import numpy as np

# SSD-Caffe batch samplers: keep the whole image, or crop with at least this IoU with some face.
SAMPLERS = ('whole', 0.0, 0.1, 0.3, 0.5, 0.7, 0.9)
CROP_SCALE = (0.3, 1.0)
# The article's crop aspect ratios (width / height relative to the image's own).
CROP_ASPECT = (0.7, 1.4)
CROP_TRIALS = 50


def photometric(image, rng):
    """Return a BGR uint8 image with random brightness, contrast, saturation and hue changes."""
    image = image.astype(np.float32)
    if rng.random() < 0.5:
        image += rng.uniform(-32, 32)
    contrast_first = rng.random() < 0.5
    if contrast_first and rng.random() < 0.5:
        image *= rng.uniform(0.5, 1.5)
    hsv = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV)
    hsv = hsv.astype(np.float32)
    if rng.random() < 0.5:
        hsv[..., 1] *= rng.uniform(0.5, 1.5)
    if rng.random() < 0.5:
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-9, 9)) % 180  # OpenCV hue is 0..179
    image = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
    if not contrast_first and rng.random() < 0.5:
        image = image.astype(np.float32) * rng.uniform(0.5, 1.5)
    return np.clip(image, 0, 255).astype(np.uint8)


def random_crop(image, boxes, labels, rng):
    """
    Return (image, boxes, labels) cropped as SSD-Caffe's batch samplers do.

    A sampler (the whole image, or a minimum IoU with some face) is drawn; a crop of 30-100 % of
    the image side with aspect 0.7-1.4 is tried until it meets the sampler's overlap and keeps the
    centre of at least one box. Boxes whose centre falls outside the crop are dropped, the rest
    are clipped to it. If no trial succeeds the image is returned unchanged.
    """
    height, width = image.shape[:2]
    min_overlap = SAMPLERS[rng.integers(len(SAMPLERS))]
    if min_overlap == 'whole':
        return image, boxes, labels
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    for _ in range(CROP_TRIALS):
        scale = rng.uniform(*CROP_SCALE)
        aspect = rng.uniform(*CROP_ASPECT)
        crop_w = int(width * scale * np.sqrt(aspect))
        crop_h = int(height * scale / np.sqrt(aspect))
        if not (8 <= crop_w <= width and 8 <= crop_h <= height):
            continue
        x0 = int(rng.integers(width - crop_w + 1))
        y0 = int(rng.integers(height - crop_h + 1))
        crop = np.array([x0, y0, x0 + crop_w, y0 + crop_h], dtype=np.float32)
        inside = np.all((centres > crop[:2]) & (centres < crop[2:]), axis=1)
        if len(boxes) and not inside.any():
            continue
        if len(boxes) and _iou(crop, boxes).max() < min_overlap:
            continue
        kept = np.clip(boxes[inside], np.tile(crop[:2], 2), np.tile(crop[2:], 2))
        kept -= np.tile(crop[:2], 2)
        return image[y0:y0 + crop_h, x0:x0 + crop_w], kept, labels[inside]
    return image, boxes, labels


def flip(image, boxes):
    """Return the image mirrored left-right and its boxes mirrored with it."""
    width = image.shape[1]
    mirrored = boxes.copy()
    mirrored[:, [0, 2]] = width - boxes[:, [2, 0]]
    return image[:, ::-1], mirrored


def augment(image, boxes, labels, rng):
    """
    Apply a random crop and a random flip; boxes are pixels.

    The photometric distortion comes after the resize to the input size (TrainingSet): on a
    300 px image it costs a tenth of what it does on a 1024 px photo, and changes nothing else.
    """
    image, boxes, labels = random_crop(image, boxes, labels, rng)
    if rng.random() < 0.5:
        image, boxes = flip(image, boxes)
    return np.ascontiguousarray(image), boxes, labels


def _iou(box, boxes):
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / (area + areas - inter)
