"""SSD box matching and encoding: ground truth to default boxes, as SSD-Caffe's MultiBox does."""

import torch

# Caffe PriorBox variances: centre offsets are divided by 0.1, log sizes by 0.2.
VARIANCES = (0.1, 0.2)
OVERLAP_THRESHOLD = 0.5


def corner_form(boxes):
    """Convert (cx, cy, w, h) boxes to (x1, y1, x2, y2)."""
    centre, size = boxes[..., :2], boxes[..., 2:]
    return torch.cat([centre - size / 2, centre + size / 2], -1)


def pairwise_iou(boxes_a, boxes_b):
    """Return the (A, B) IoU matrix of corner-form boxes."""
    top_left = torch.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = torch.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    area_a = (boxes_a[:, 2:] - boxes_a[:, :2]).prod(-1)
    area_b = (boxes_b[:, 2:] - boxes_b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def encode(boxes, priors):
    """Encode corner-form boxes as offsets from their (cx, cy, w, h) priors, with variances."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    size = boxes[:, 2:] - boxes[:, :2]
    offset = (centre - priors[:, :2]) / (VARIANCES[0] * priors[:, 2:])
    scale = torch.log(size / priors[:, 2:]) / VARIANCES[1]
    return torch.cat([offset, scale], 1)


def decode(offsets, priors):
    """Invert encode: return corner-form boxes from offsets (..., P, 4) and priors (P, 4)."""
    centre = priors[:, :2] + offsets[..., :2] * VARIANCES[0] * priors[:, 2:]
    size = priors[:, 2:] * torch.exp(offsets[..., 2:] * VARIANCES[1])
    return torch.cat([centre - size / 2, centre + size / 2], -1)


def match(boxes, labels, priors, threshold=OVERLAP_THRESHOLD):
    """
    Assign a ground-truth box to each prior; return (offsets (P, 4), labels (P,)).

    `boxes` are normalised corner-form (G, 4), `labels` 1-based class ids (G,), `priors` (P, 4)
    centre form. Every ground truth takes its best prior even below the threshold (so small
    faces are learned); other priors take the box they overlap most if IoU >= threshold.
    Unmatched priors get label 0 (background) and zero offsets.
    """
    count = len(priors)
    if len(boxes) == 0:
        return torch.zeros(count, 4), torch.zeros(count, dtype=torch.long)
    overlaps = pairwise_iou(boxes, corner_form(priors))
    best_prior = overlaps.argmax(1)
    best_overlap, best_box = overlaps.max(0)
    best_overlap[best_prior] = 2.0
    best_box[best_prior] = torch.arange(len(boxes))
    prior_labels = labels[best_box].clone()
    prior_labels[best_overlap < threshold] = 0
    offsets = encode(boxes[best_box], priors)
    offsets[prior_labels == 0] = 0
    return offsets, prior_labels
