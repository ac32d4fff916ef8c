"""Pairs images with the tracks computed for them, by stamp (no rclpy)."""

from __future__ import annotations

import collections
from collections.abc import Hashable


class StampBuffer:
    """The values of the last `capacity` stamp keys; adding one more drops the oldest."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._values = collections.OrderedDict()

    def add(self, key: Hashable, value: object) -> None:
        """Store `value` under `key`, dropping the oldest keys beyond the capacity."""
        self._values[key] = value
        while len(self._values) > self.capacity:
            self._values.popitem(last=False)

    def get(self, key: Hashable) -> object:
        """Return the value of `key`, or None."""
        return self._values.get(key)

    def pop(self, key: Hashable) -> object:
        """Remove and return the value of `key`, or None."""
        return self._values.pop(key, None)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values

    def clear(self) -> None:
        """Forget every value."""
        self._values.clear()


class StampMatcher:
    """
    Keeps the last `capacity` images and track lists; yields each pair once both arrived.

    Tracks usually arrive after their image (the detector took time), but on a loaded machine
    the order can flip, so both sides wait in bounded buffers keyed by stamp.
    """

    def __init__(self, capacity: int = 30) -> None:
        self.images = StampBuffer(capacity)
        self.tracks = StampBuffer(capacity)

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
        own.add(key, value)
        return []
