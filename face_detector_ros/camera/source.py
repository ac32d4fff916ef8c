"""
Frame sources for the camera node: V4L2 devices, video files, image folders and globs.

No rclpy here: the node wraps these classes, and tests use them directly.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import cv2
from face_detector_ros.files import IMAGE_EXTENSIONS
import numpy as np


class SourceError(RuntimeError):
    """A source that cannot be opened; the message says which and what to do."""


class FrameSource:
    """Base class: read() returns the next BGR frame, or None when no frame could be read."""

    live = False  # a live source (a device) is reopened when it fails; a file ends

    def __init__(self, spec: str, width: int = 0, height: int = 0) -> None:
        self.spec = spec
        self.width = width
        self.height = height

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def reopen(self) -> None:
        """Open the source again from its start; raise SourceError if it is not there."""
        raise NotImplementedError

    def release(self) -> None:
        """Free the device or file."""

    def _resized(self, frame):
        if frame is None or not self.width or not self.height:
            return frame
        if frame.shape[1] != self.width or frame.shape[0] != self.height:
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return frame


class ImageFolderSource(FrameSource):
    """Images of a folder (sorted by name) or of a glob pattern, read from disk one by one."""

    def __init__(self, spec: str, width: int = 0, height: int = 0) -> None:
        super().__init__(spec, width, height)
        self.files = []
        self.index = 0
        self.unreadable = 0  # files that vanished or did not decode
        self.reopen()

    def reopen(self) -> None:
        path = Path(self.spec)
        if path.is_dir():
            candidates = (str(p) for p in path.iterdir())
        else:
            candidates = glob.glob(self.spec)
        self.files = sorted(p for p in candidates if p.lower().endswith(IMAGE_EXTENSIONS))
        self.index = 0
        if not self.files:
            raise SourceError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) in {self.spec!r}')

    def read(self) -> np.ndarray | None:
        while self.index < len(self.files):
            frame = cv2.imread(self.files[self.index], cv2.IMREAD_COLOR)
            self.index += 1
            if frame is not None:
                return self._resized(frame)
            self.unreadable += 1
        return None


class VideoSource(FrameSource):
    """A V4L2 device (index or /dev/videoN) or a video file, through OpenCV."""

    def __init__(self, spec: str, width: int = 0, height: int = 0,
                 fps: float = 0.0) -> None:
        super().__init__(spec, width, height)
        self.fps = fps
        self.device = _device_index(spec)
        self.live = self.device is not None
        self.capture = None
        self.reopen()

    def reopen(self) -> None:
        self.release()
        if self.live:
            capture = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
            # One driver buffer: a frame read is the newest, so its capture stamp is honest.
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            if self.width and self.height:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            if self.fps:
                capture.set(cv2.CAP_PROP_FPS, self.fps)
        else:
            capture = cv2.VideoCapture(self.spec)
        if not capture.isOpened():
            capture.release()
            what = f'camera device {self.spec!r}' if self.live else f'video file {self.spec!r}'
            raise SourceError(f'cannot open {what}: check that it exists and is readable')
        self.capture = capture

    def read(self) -> np.ndarray | None:
        if self.capture is None:
            return None
        ok, frame = self.capture.read()
        return self._resized(frame) if ok else None

    def release(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None


def _device_index(spec):
    """Return the V4L2 index of '0' or '/dev/video0', None for anything else."""
    text = str(spec).strip()
    if text.isdigit():
        return int(text)
    if text.startswith('/dev/video') and text[len('/dev/video'):].isdigit():
        return int(text[len('/dev/video'):])
    return None


def open_source(spec: str | int, width: int = 0, height: int = 0,
                fps: float = 0.0) -> FrameSource:
    """Open a source named by the `source` parameter; raise SourceError if it cannot be."""
    spec = str(spec).strip()
    if not spec:
        raise SourceError('source is empty: give a device (0, /dev/video0), a video file, '
                          'an image folder or a glob pattern')
    if _device_index(spec) is not None:
        return VideoSource(spec, width, height, fps)
    if os.path.isdir(spec) or any(ch in spec for ch in '*?['):
        return ImageFolderSource(spec, width, height)
    if os.path.isfile(spec):
        if spec.lower().endswith(IMAGE_EXTENSIONS):
            return ImageFolderSource(spec, width, height)
        return VideoSource(spec, width, height)
    raise SourceError(f'source {spec!r} does not exist: give a device (0, /dev/video0), '
                      'a video file, an image folder or a glob pattern')


class Backoff:
    """Delays between reopen attempts of a vanished camera: 0.5 s doubling up to a cap."""

    def __init__(self, first: float = 0.5, cap: float = 8.0) -> None:
        self.first = first
        self.cap = cap
        self.delay = first

    def next_delay(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2.0, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first
