"""Image files of a dataset: which extensions count, finding an image by stem, reading its size."""

from __future__ import annotations

from pathlib import Path
import struct

import cv2
from face_detector_ros.datasets.annotations import DatasetError
from face_detector_ros.files import IMAGE_EXTENSIONS

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
# JPEG start-of-frame markers carry the size; C4, C8 and CC are other segments.
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def is_image(path: str | Path) -> bool:
    """Return True if `path` has an image extension (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def find_image(directory: str | Path, stem: str) -> Path | None:
    """Return the image in `directory` whose name is `stem` plus an image extension, or None."""
    directory = Path(directory)
    for extension in IMAGE_EXTENSIONS:
        for candidate in (extension, extension.upper()):
            path = directory / f'{stem}{candidate}'
            if path.is_file():
                return path
    return None


def image_index(directory: str | Path) -> dict[str, Path]:
    """Map each image stem in `directory` (not recursive) to its path, in sorted name order."""
    index = {}
    for path in sorted(Path(directory).iterdir()):
        if is_image(path) and path.is_file():
            index.setdefault(path.stem, path)
    return index


def image_size(path: str | Path) -> tuple[int, int, int]:
    """Return (width, height, channels) of an image, from its header when it is PNG or JPEG."""
    path = Path(path)
    try:
        with open(path, 'rb') as stream:
            head = stream.read(26)
            if head.startswith(_PNG_SIGNATURE) and head[12:16] == b'IHDR':
                width, height, _, colour = struct.unpack('>IIBB', head[16:26])
                return width, height, _PNG_CHANNELS.get(colour, 3)
            if head.startswith(b'\xff\xd8'):
                stream.seek(2)
                size = _jpeg_size(stream)
                if size:
                    return size
    except OSError as error:
        raise DatasetError(f'{path}: cannot read image ({error.strerror})') from None
    return _decoded_size(path)


def _jpeg_size(stream):
    while True:
        byte = stream.read(1)
        if not byte:
            return None
        if byte != b'\xff':
            continue
        marker = stream.read(1)
        while marker == b'\xff':
            marker = stream.read(1)
        if not marker:
            return None
        code = marker[0]
        if code in (0x01, 0xD8) or 0xD0 <= code <= 0xD7:
            continue
        length_bytes = stream.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack('>H', length_bytes)[0]
        if code in _JPEG_SOF:
            frame = stream.read(6)
            if len(frame) < 6:
                return None
            _, height, width, channels = struct.unpack('>BHHB', frame)
            return width, height, channels
        stream.seek(length - 2, 1)


def _decoded_size(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f'{path}: not a readable image')
    channels = 1 if image.ndim == 2 else image.shape[2]
    return image.shape[1], image.shape[0], channels
