"""
Images with real faces at known boxes, composed from photos that ship with scikit-image.

No face dataset with boxes can be had offline, so tests, benchmarks and the demo paste real face
crops onto face-free backgrounds at chosen boxes. Face boxes follow the WIDER Face / BlazeFace
convention: tight around the face, brows to chin, ear to ear (x2, y2 exclusive, in pixels).

Sources and licences (all inside the scikit-image wheel, nothing is downloaded):
astronaut (NASA, public domain), camera (CC0, Lav Varshney), lfw_subset (25x25 face crops from
Labeled Faces in the Wild, used only for small faces); backgrounds coffee, chelsea, brick, grass,
gravel (CC0), rocket (SpaceX, public domain), hubble (NASA, public domain).
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import functools
from pathlib import Path

import cv2
from face_detector_ros import files
import numpy as np
import skimage.data

# Tight face boxes measured by hand on 4x zoomed crops with a 10 px grid, then drawn on the
# photo and viewed. Haar frontalface on astronaut finds (175, 66, 272, 163): the same columns
# within 6 px, rows shifted up to the forehead as Haar boxes are. camera is a three-quarter
# profile (Haar frontal finds nothing); its box runs from the ear to the nose tip, brows to
# chin (it stopped at the mouth until RetinaFace's boxes showed the chin missing; now the box
# test/detection/test_engine.py labels too).
_PHOTO_FACES = {
    'astronaut': (181, 90, 267, 180),
    'camera': (180, 128, 254, 196),
}
# Context kept around a photo face, as a fraction of the face width.
_CONTEXT = 0.5
# lfw_subset crops are the face itself: brows at row 5, chin at the bottom edge, cheeks at
# columns 3 and 22 (checked the same way on the first faces).
_LFW_FACE = (3, 5, 22, 25)
_LFW_INDICES = range(0, 100, 10)
# Largest upscaling of a crop before it looks too blurred to be a useful face.
_MAX_UPSCALE = 2.0

_BACKGROUNDS = {
    'coffee': skimage.data.coffee,
    'chelsea': skimage.data.chelsea,
    'rocket': skimage.data.rocket,
    'brick': skimage.data.brick,
    'grass': skimage.data.grass,
    'gravel': skimage.data.gravel,
    'hubble': skimage.data.hubble_deep_field,
}
BACKGROUND_NAMES = tuple(_BACKGROUNDS)


@dataclasses.dataclass(frozen=True)
class FaceCrop:
    """A real face photo crop (BGR uint8, read-only) and its tight face box within it."""

    name: str
    image: np.ndarray
    face_box: tuple

    @property
    def face_width(self) -> float:
        """Width of the face box in crop pixels."""
        return self.face_box[2] - self.face_box[0]

    def flipped(self) -> FaceCrop:
        """Return the mirror image of this crop, face box mirrored with it."""
        x1, y1, x2, y2 = self.face_box
        width = self.image.shape[1]
        return FaceCrop(self.name + '-flipped', _read_only(self.image[:, ::-1]),
                        (width - x2, y1, width - x1, y2))


@dataclasses.dataclass(frozen=True)
class SampleFrame:
    """One frame of a sample sequence with its ground truth."""

    image: np.ndarray
    stamp: float
    ids: np.ndarray
    boxes: np.ndarray


@dataclasses.dataclass(frozen=True)
class SampleSequence:
    """A short deterministic video of moving real faces with ground-truth ids and boxes."""

    frames: list
    fps: float
    background_name: str


def _read_only(array):
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


def _to_bgr(image):
    if image.dtype != np.uint8:
        image = np.round(image * 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


@functools.lru_cache(maxsize=1)
def face_crops() -> tuple[FaceCrop, ...]:
    """Return the face crops (cached): the two photo faces first, then small LFW faces."""
    crops = []
    for name, (x1, y1, x2, y2) in _PHOTO_FACES.items():
        photo = _to_bgr(getattr(skimage.data, name)())
        margin = round(_CONTEXT * (x2 - x1))
        left, top = max(x1 - margin, 0), max(y1 - margin, 0)
        right = min(x2 + margin, photo.shape[1])
        bottom = min(y2 + margin, photo.shape[0])
        crops.append(FaceCrop(name, _read_only(photo[top:bottom, left:right]),
                              (x1 - left, y1 - top, x2 - left, y2 - top)))
    lfw = skimage.data.lfw_subset()
    for index in _LFW_INDICES:
        crops.append(FaceCrop(f'lfw{index:02d}', _read_only(_to_bgr(lfw[index])), _LFW_FACE))
    return tuple(crops)


@functools.lru_cache(maxsize=len(_BACKGROUNDS))
def _background_source(name):
    return _to_bgr(_BACKGROUNDS[name]())


def background(name: str, width: int, height: int) -> np.ndarray:
    """Return background `name` (BGR, no faces) scaled to cover width x height, centre-cropped."""
    if name not in _BACKGROUNDS:
        raise ValueError(f'unknown background {name!r}; choose one of {", ".join(_BACKGROUNDS)}')
    source = _background_source(name)
    scale = max(width / source.shape[1], height / source.shape[0])
    size = (max(width, round(source.shape[1] * scale)),
            max(height, round(source.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(source, size, interpolation=interpolation)
    left = (scaled.shape[1] - width) // 2
    top = (scaled.shape[0] - height) // 2
    return scaled[top:top + height, left:left + width].copy()


def _feather_mask(height, width, feather):
    """Return an alpha mask that is 1 inside and fades smoothly to 0 over `feather` px."""
    def ramp(n):
        distance = np.minimum(np.arange(n) + 0.5, n - 0.5 - np.arange(n))
        t = np.clip(distance / feather, 0.0, 1.0)
        return (t * t * (3 - 2 * t)).astype(np.float32)
    return ramp(height)[:, None] * ramp(width)[None, :]


def _placement(crop, face_box):
    """Return the crop's scaled size (w, h), its top-left corner and its scale (sx, sy)."""
    fx1, fy1, fx2, fy2 = crop.face_box
    tx1, ty1, tx2, ty2 = face_box
    height, width = crop.image.shape[:2]
    new_w = max(1, round(width * (tx2 - tx1) / (fx2 - fx1)))
    new_h = max(1, round(height * (ty2 - ty1) / (fy2 - fy1)))
    sx, sy = new_w / width, new_h / height
    return (new_w, new_h), (round(tx1 - fx1 * sx), round(ty1 - fy1 * sy)), (sx, sy)


def paste_face(image: np.ndarray, crop: FaceCrop, face_box: Sequence[float]) -> np.ndarray:
    """
    Paste `crop` into `image` (in place) so that its face lands on face_box (x1, y1, x2, y2).

    The crop's edges are feathered so that no hard rectangle shows; whatever falls outside the
    image is clipped. Returns the face box actually occupied (float32, after rounding the
    placement to whole pixels, clipped to the image).
    """
    (new_w, new_h), (left, top), (sx, sy) = _placement(crop, face_box)
    shrinking = new_w < crop.image.shape[1]
    patch = cv2.resize(crop.image, (new_w, new_h),
                       interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    fx1, fy1, fx2, fy2 = crop.face_box
    margin = min(fx1 * sx, fy1 * sy, new_w - fx2 * sx, new_h - fy2 * sy)
    # Fade within the context around the face; crops with little context (LFW) lose a sliver
    # of cheek instead of showing a hard edge.
    feather = max(margin * 0.8, 0.12 * min(new_w, new_h), 1.0)
    alpha = _feather_mask(new_h, new_w, feather)[..., None]

    image_h, image_w = image.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + new_w, image_w), min(top + new_h, image_h)
    if x0 < x1 and y0 < y1:
        region = image[y0:y1, x0:x1].astype(np.float32)
        a = alpha[y0 - top:y1 - top, x0 - left:x1 - left]
        p = patch[y0 - top:y1 - top, x0 - left:x1 - left].astype(np.float32)
        image[y0:y1, x0:x1] = np.round(region + a * (p - region)).astype(np.uint8)
    box = np.array([left + fx1 * sx, top + fy1 * sy, left + fx2 * sx, top + fy2 * sy],
                   np.float32)
    return np.clip(box, 0, [image_w, image_h, image_w, image_h]).astype(np.float32)


def _crops_for(size):
    """Return the crops that can show a face `size` px wide without blurring too much."""
    crops = face_crops()
    usable = [crop for crop in crops if crop.face_width * _MAX_UPSCALE >= size]
    return usable or [max(crops, key=lambda crop: crop.face_width)]


def composed_image(width: int, height: int, face_sizes: Sequence[float], seed: int,
                   background_name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """
    Compose an image with one real face per entry of face_sizes (face box widths in px).

    Faces go at random places where their pasted crops do not overlap, randomly mirrored.
    Returns the BGR image and the (N, 4) float32 face boxes, in the order of face_sizes.
    Raises ValueError when the faces cannot all fit.
    """
    rng = np.random.default_rng(seed)
    if background_name is None:
        background_name = BACKGROUND_NAMES[rng.integers(len(BACKGROUND_NAMES))]
    image = background(background_name, width, height)
    boxes = np.zeros((len(face_sizes), 4), np.float32)
    taken = []
    # Largest first: they are the hardest to fit.
    for index in sorted(range(len(face_sizes)), key=lambda i: -face_sizes[i]):
        size = face_sizes[index]
        candidates = _crops_for(size)
        crop = candidates[rng.integers(len(candidates))]
        if rng.random() < 0.5:
            crop = crop.flipped()
        face_h = size * (crop.face_box[3] - crop.face_box[1]) / crop.face_width
        if size > width or face_h > height:
            raise ValueError(f'a face {size} px wide does not fit in {width}x{height}')
        for _ in range(200):
            x1 = rng.uniform(0, width - size)
            y1 = rng.uniform(0, height - face_h)
            face_box = (x1, y1, x1 + size, y1 + face_h)
            (new_w, new_h), (left, top), _ = _placement(crop, face_box)
            extent = (left, top, left + new_w, top + new_h)
            if not any(_intersect(extent, other) for other in taken):
                break
        else:
            raise ValueError(f'cannot fit {len(face_sizes)} faces of sizes {face_sizes} '
                             f'in {width}x{height} without overlap')
        taken.append(extent)
        boxes[index] = paste_face(image, crop, face_box)
    return image, boxes


def _intersect(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def sample_sequence(num_frames: int = 90, width: int = 640, height: int = 480,
                    fps: float = 30.0, seed: int = 0) -> SampleSequence:
    """
    Return a deterministic sequence of three real faces moving over a still background.

    Face 1 (astronaut) walks left to right and grows as it approaches; face 2 (camera, a
    three-quarter profile, large) walks right to left a little lower, so the two cross
    mid-sequence and overlap briefly, face 2 in front. Face 3 (the astronaut mirrored, in shade,
    smaller and so farther away) goes half way round an ellipse low in the frame. Sizes are
    chosen so that BlazeFace short-range finds every face when it is not occluded.
    Ids are 1, 2, 3; stamps are frame / fps seconds.
    """
    rng = np.random.default_rng(seed)
    background_name = ('coffee', 'rocket', 'brick', 'gravel')[rng.integers(4)]
    still = background(background_name, width, height)
    astronaut, camera = face_crops()[:2]
    mirrored = astronaut.flipped()
    # In shade rather than grey: BlazeFace misses grey faces below about 100 px.
    shaded = cv2.convertScaleAbs(mirrored.image, alpha=0.75)
    distant = dataclasses.replace(mirrored, name='astronaut-shaded', image=_read_only(shaded))
    jitter = rng.uniform(-0.03, 0.03, size=4) * [1, 0.5, 1, 0.5]
    phase = rng.uniform(0, 2 * np.pi)

    frames = []
    for index in range(num_frames):
        t = index / max(num_frames - 1, 1)
        placements = [
            (astronaut, 0.2 * height * (1 + 0.25 * t),
             ((0.15 + 0.7 * t + jitter[0]) * width, (0.3 + jitter[1]) * height)),
            (camera, 0.3 * height,
             ((0.85 - 0.7 * t + jitter[2]) * width, (0.47 + jitter[3]) * height)),
            (distant, 0.17 * height,
             ((0.5 + 0.2 * np.cos(phase + np.pi * t)) * width,
              (0.82 + 0.03 * np.sin(phase + np.pi * t)) * height)),
        ]
        image = still.copy()
        boxes = np.zeros((3, 4), np.float32)
        # Paint the farthest (smallest) first so the nearer faces occlude it.
        for track in (2, 0, 1):
            crop, face_w, (cx, cy) = placements[track]
            face_h = face_w * (crop.face_box[3] - crop.face_box[1]) / crop.face_width
            boxes[track] = paste_face(image, crop, (cx - face_w / 2, cy - face_h / 2,
                                                    cx + face_w / 2, cy + face_h / 2))
        frames.append(SampleFrame(image, index / fps, np.array([1, 2, 3]), boxes))
    return SampleSequence(frames, fps, background_name)


def write_sample_sequence(directory: str | Path, image_format: str = 'png',
                          overwrite: bool = False, **kwargs: object) -> SampleSequence:
    """
    Write sample_sequence(**kwargs) to `directory` as MOTChallenge-style files.

    Files: frame_0000.<image_format>, ...; ground_truth.txt with one line per face and frame,
    `frame,id,left,top,width,height,1,-1,-1,-1`, where frame is 1-based as in MOTChallenge
    (frame 1 is frame_0000); seqinfo.ini with the frame rate, length and image size.
    The directory appears complete or not at all. Returns the sequence.
    """
    sequence = sample_sequence(**kwargs)
    height, width = sequence.frames[0].image.shape[:2]
    with files.atomic_output_dir(directory, overwrite=overwrite) as staging:
        lines = []
        for number, frame in enumerate(sequence.frames):
            path = Path(staging) / f'frame_{number:04d}.{image_format}'
            if not cv2.imwrite(str(path), frame.image):
                raise ValueError(f'cannot write {path.name}; use png or jpg')
            for track_id, (x1, y1, x2, y2) in zip(frame.ids, frame.boxes):
                lines.append(f'{number + 1},{track_id},{x1:.2f},{y1:.2f},'
                             f'{x2 - x1:.2f},{y2 - y1:.2f},1,-1,-1,-1\n')
        (Path(staging) / 'ground_truth.txt').write_text(''.join(lines))
        (Path(staging) / 'seqinfo.ini').write_text(
            '[Sequence]\nname=face_sample\nimDir=.\n'
            f'frameRate={sequence.fps:g}\nseqLength={len(sequence.frames)}\n'
            f'imWidth={width}\nimHeight={height}\nimExt=.{image_format}\n')
    return sequence
