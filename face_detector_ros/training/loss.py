"""SSD MultiBox loss: smooth-L1 on matched boxes plus softmax with 3:1 hard negative mining."""

import torch
from torch.nn import functional

NEGATIVES_PER_POSITIVE = 3


def multibox_loss(offsets, logits, target_offsets, target_labels,
                  negatives_per_positive=NEGATIVES_PER_POSITIVE):
    """
    Return (box loss, class loss), each summed and divided by the number of matched priors.

    Shapes: offsets (B, P, 4), logits (B, P, C), target_offsets (B, P, 4), target_labels (B, P).
    The class loss counts every positive and, per image, the background priors with the highest
    loss, `negatives_per_positive` times as many as that image's positives.
    """
    positive = target_labels > 0
    positives = positive.sum()
    box_loss = functional.smooth_l1_loss(offsets[positive], target_offsets[positive],
                                         reduction='sum')
    class_loss = functional.cross_entropy(logits.flatten(0, 1), target_labels.flatten(),
                                          reduction='none').view_as(target_labels)
    with torch.no_grad():
        background_loss = class_loss.masked_fill(positive, -1.0)
        rank = background_loss.argsort(1, descending=True).argsort(1)
        wanted = negatives_per_positive * positive.sum(1, keepdim=True)
        negative = rank < wanted.clamp(max=target_labels.shape[1] - 1)
    class_loss = class_loss[positive | negative].sum()
    normaliser = positives.clamp(min=1).float()
    return box_loss / normaliser, class_loss / normaliser
