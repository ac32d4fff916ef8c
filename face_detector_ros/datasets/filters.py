"""The detector article's face and image filters, clipping and squaring of boxes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from face_detector_ros.datasets.annotations import Box, ImageAnnotation

SQUARE_MODES = ('enlarge', 'shrink', 'none')


def clip_box(box: Box, width: float, height: float) -> Box:
    """Return `box` clipped to a `width` x `height` image."""
    return replace(box, x1=min(max(box.x1, 0), width), y1=min(max(box.y1, 0), height),
                   x2=min(max(box.x2, 0), width), y2=min(max(box.y2, 0), height))


def square_box(box: Box, width: float, height: float, mode: str = 'enlarge') -> Box:
    """
    Return `box` made square about its centre, kept inside the image.

    'enlarge' grows the shorter side to the longer one; 'shrink' cuts the longer side to the
    shorter one (what the article's WIDER script did); 'none' returns the box unchanged. A
    square crossing the image border is shifted inside (it still holds the face), and clipped
    only where it is larger than the image.
    """
    if mode == 'none':
        return box
    side = (max if mode == 'enlarge' else min)(box.width, box.height)
    x1 = _inside((box.x1 + box.x2 - side) / 2, side, width)
    y1 = _inside((box.y1 + box.y2 - side) / 2, side, height)
    return clip_box(replace(box, x1=x1, y1=y1, x2=x1 + side, y2=y1 + side), width, height)


def _inside(start, side, limit):
    return max(0, min(start, limit - side))


@dataclass(frozen=True)
class FaceFilter:
    """
    Which faces and images to keep, with the detector article's values as defaults.

    A face's size is its shorter side; the relative size divides it by the image width, as the
    article states ("2 % of the image width").
    """

    min_size: float = 6
    min_fraction: float = 0.02
    min_aspect: float = 0.5
    max_aspect: float = 2.0
    square: str = 'enlarge'
    drop_gray: bool = True
    drop_image: bool = True

    def face_problem(self, box: Box, width: float, height: float) -> str | None:
        """Return why a face (already clipped) fails the filter, or None."""
        size = min(box.width, box.height)
        if size <= 0:  # WIDER val has two such lines; with --min-size 0 they broke training
            return 'zero size'
        if size < self.min_size:
            return f'under {self.min_size:g} px'
        if size < self.min_fraction * width:
            return f'under {self.min_fraction:.0%} of the image width'
        return None

    def image_problem(self, width: int, height: int, channels: int) -> str | None:
        """Return why an image fails the filter regardless of its faces, or None."""
        if not self.min_aspect <= width / height <= self.max_aspect:
            return 'aspect ratio'
        if self.drop_gray and channels < 3:
            return 'grayscale'
        return None

    def apply(self, annotation: ImageAnnotation, face_problems: Sequence[str | None] | None = None
              ) -> tuple[ImageAnnotation | None, Counter]:
        """
        Filter one image's faces: return (the annotation to keep or None, Counter of reasons).

        `face_problems` gives a dataset-specific reason (or None) per box, such as WIDER blur.
        The reasons count dropped faces and, prefixed with 'image: ', dropped images.
        """
        reasons = Counter()
        problem = self.image_problem(annotation.width, annotation.height, annotation.depth)
        if problem:
            reasons[f'image: {problem}'] += 1
            return None, reasons
        kept = []
        for index, box in enumerate(annotation.boxes):
            box = clip_box(box, annotation.width, annotation.height)
            problem = ((face_problems[index] if face_problems else None)
                       or self.face_problem(box, annotation.width, annotation.height))
            if problem:
                reasons[problem] += 1
            else:
                kept.append(square_box(box, annotation.width, annotation.height, self.square))
        if reasons and self.drop_image:
            reasons['image: a face failed'] += 1
            return None, reasons
        if not kept:
            reasons['image: no faces'] += 1
            return None, reasons
        return replace(annotation, boxes=kept), reasons


def is_image_reason(reason: str) -> bool:
    """Return True for a reason that counts a dropped image rather than a face."""
    return reason.startswith('image: ')


def describe_reasons(reasons: Counter) -> str:
    """Return the dropped images and faces by reason as one short line."""
    images = {reason[len('image: '):]: count for reason, count in reasons.items()
              if is_image_reason(reason)}
    faces = {reason: count for reason, count in reasons.items() if not is_image_reason(reason)}
    parts = []
    for title, counts in (('images dropped', images), ('faces dropped', faces)):
        if counts:
            details = ', '.join(f'{reason} {count}' for reason, count in sorted(counts.items()))
            parts.append(f'{title}: {details}')
    return '; '.join(parts) or 'nothing dropped'
