"""Pairs images with the tracks computed for them, by stamp (no rclpy)."""

from __future__ import annotations

import collections
from collections.abc import Hashable


class StampMatcher:
    """
    Keeps the last `capacity` images and track lists; yields each pair once both arrived.

    Tracks usually arrive after their image (the detector took time), but on a loaded machine
    the order can flip, so both sides wait in bounded buffers keyed by stamp.
    """

    def __init__(self, capacity: int = 30) -> None:
        self.capacity = capacity
        self.images = collections.OrderedDict()
        self.tracks = collections.OrderedDict()

    def add_image(self, key: Hashable, image: object) -> list[tuple[object, object]]:
        """Store an image; return [(image, tracks)] if its tracks were waiting."""
        return self._add(key, image, self.images, self.tracks, image_first=True)

    def add_tracks(self, key: Hashable, tracks: object) -> list[tuple[object, object]]:
        """Store tracks; return [(image, tracks)] if their image was waiting."""
        return self._add(key, tracks, self.tracks, self.images, image_first=False)

    def clear(self) -> None:
        """Forget everything (a time jump makes old stamps meaningless)."""
        self.images.clear()
        self.tracks.clear()

    def _add(self, key, value, own, other, image_first):
        if key in other:
            match = other.pop(key)
            return [(value, match) if image_first else (match, value)]
        own[key] = value
        while len(own) > self.capacity:
            own.popitem(last=False)
        return []
