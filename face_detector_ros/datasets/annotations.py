"""Annotation types shared by every dataset format, in image pixels."""

from __future__ import annotations

from dataclasses import dataclass, field


class DatasetError(ValueError):
    """A dataset file that cannot be used; the message names the file and what is wrong."""


@dataclass
class Box:
    """One labelled box; x2/y2 are exclusive edges, so width = x2 - x1 (no +1 convention)."""

    label: str
    x1: float
    y1: float
    x2: float
    y2: float
    difficult: bool = False

    @property
    def width(self) -> float:
        """Return the box width in pixels."""
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        """Return the box height in pixels."""
        return self.y2 - self.y1


@dataclass
class ImageAnnotation:
    """The boxes of one image, with the image's file name and size."""

    filename: str
    width: int
    height: int
    depth: int = 3
    boxes: list[Box] = field(default_factory=list)
