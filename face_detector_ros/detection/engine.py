"""
OpenVINO inference engine: device fallback, letterbox, image pyramid, async pipelining, decoding.

Pure Python (no rclpy). Works with the current OpenVINO API (`import openvino`) and with 2022.3
LTS (`openvino.runtime`), the last release with the MYRIAD plugin for the Neural Compute Stick 2.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
import logging
from pathlib import Path
import time

import cv2
from face_detector_ros.detection import nms
from face_detector_ros.detection.classifier import CropClassifier
from face_detector_ros.detection.decoders import make_decoder
from face_detector_ros.detection.detections import Detections
from face_detector_ros.detection.letterbox import Letterbox
from face_detector_ros.detection.model_cards import DEFAULT_MODEL, load_card, ModelError
from face_detector_ros.detection.openvino_api import (
    Core,
    Layout,
    PartialShape,
    PrePostProcessor,
    short_reason,
    Type,
)
from face_detector_ros.parameters import defaults, Param
import numpy as np

PRECISIONS = ('f32', 'f16', 'bf16')
# The engine's parameters, as detector_node declares them (it adds its own) and as the tools and
# `face-detector-bag process` read them: the one table of their defaults.
ENGINE_PARAMETERS = {
    'model': Param(DEFAULT_MODEL, 'Shipped model name (face-detect --list-models) '
                   'or path to a model card YAML or model file'),
    'device': Param('MYRIAD,CPU', 'Device preference list: the first that compiles the model '
                    'wins (MYRIAD = Neural Compute Stick 2, needs OpenVINO 2022.3)'),
    'precision': Param('f32', 'Inference precision hint (f32, f16, bf16); f32 gives the same '
                       'results on every CPU'),
    'threads': Param(0, 'Inference threads on the CPU (0: OpenVINO decides)', 0, 64),
    'num_requests': Param(1, 'Asynchronous infer requests: >1 prepares the next frame while '
                          'the device computes (results one frame later)', 1, 8),
    'score_threshold': Param(-1.0, 'Minimum score (-1: the model card default)', -1.0, 1.0),
    'nms_iou': Param(-1.0, 'NMS IoU threshold (-1: the model card default)', -1.0, 1.0),
    'max_detections': Param(100, 'Most detections per image', 1, 1000),
}
# Property names by meaning, newest first; a device gets the first one it supports.
_PRECISION_KEYS = ('INFERENCE_PRECISION_HINT',)
_THREADS_KEYS = ('INFERENCE_NUM_THREADS', 'CPU_THREADS_NUM')


class EngineError(RuntimeError):
    """No device in the preference list can run the model; the message gives every reason."""


class ModelOutputError(EngineError):
    """The model's output tensors do not fit its card's decoder; names the model and shapes."""


def parse_devices(device: str | Sequence[str]) -> list[str]:
    """Return the device preference list from 'MYRIAD,CPU' or a list of names (upper-cased)."""
    names = device.split(',') if isinstance(device, str) else list(device)
    names = [name.strip().upper() for name in names if name.strip()]
    if not names:
        raise EngineError(f'empty device list {device!r}; give e.g. CPU or MYRIAD,CPU')
    return names


class _Level:
    """One input size of the model: the model reshaped to it and its decoder."""

    def __init__(self, model, width, height, decode):
        self.model = model
        self.width = width
        self.height = height
        self.decode = decode


class _Frame:
    """One submitted image: its tag, one input tensor per level, how to map results back."""

    def __init__(self, tag, tensors, letterboxes, image):
        self.tag = tag
        self.image = image  # BGR, for a classifier's crops
        self.tensors = tensors
        self.letterboxes = letterboxes
        self.timings = {}
        self.started = 0.0
        self.failures = 0
        self.runner = None
        self.slot = None
        self.outputs = None


class _Runner:
    """The levels compiled for one device, with slots of infer requests (one per level)."""

    def __init__(self, compiled, device, index, num_requests):
        self.compiled = compiled
        self.device = device
        self.index = index
        self.free = [self._slot() for _ in range(num_requests)]
        self.sync_slot = self._slot()

    def _slot(self):
        return [model.create_infer_request() for model in self.compiled]


class InferenceEngine:
    """
    Run a face model on the first device of a preference list that works, and decode its output.

    `detect(image)` runs one image synchronously. `submit(image, tag)` and `results()` pipeline
    frames over `num_requests` asynchronous infer requests: results come back in submission
    order, never more frames in flight than requests, and a frame that finds every request busy
    waits in a single slot where a newer frame replaces it (counted in `dropped`). Use one style
    or the other on an engine, not both at once, and from one thread at a time (the nodes call
    it from their executor's thread). Detections are in pixels of the given image.

    A card's `pyramid` adds input sizes the model is reshaped to: every level letterboxes the
    whole frame, so a fully convolutional model such as BlazeFace sees small faces at a larger
    scale; the levels' detections are merged with the card's NMS (hard or weighted).

    A device that raises at run time (a stick unplugged) is replaced by the next one in the list
    that compiles, and the frames it held run again there; the preferred devices are tried again
    every `retry_interval` seconds. A frame runs at most once more than there are devices: when
    it fails that often, or no device compiles, every frame held is dropped (counted in
    `dropped`), the call raises EngineError, and later calls raise it too until, every
    `retry_interval` seconds, a device of the list compiles again. `core` is an OpenVINO Core;
    tests pass a thin wrapper whose infer requests fail, since no device here can be unplugged.
    """

    def __init__(self, model: str | Path | dict = DEFAULT_MODEL,
                 device: str | Sequence[str] = 'CPU', precision: str = 'f32', threads: int = 0,
                 num_requests: int = 1, logger: logging.Logger | None = None,
                 retry_interval: float = 30.0, core: object = None) -> None:
        """Load the card and the model, and compile it on the first device that accepts it."""
        self.card = model if isinstance(model, dict) else load_card(model)
        self.devices = parse_devices(device)
        if precision and precision not in PRECISIONS:
            raise EngineError(f'precision must be one of {", ".join(PRECISIONS)}, '
                              f'got {precision!r}')
        if num_requests < 1 or threads < 0:
            raise EngineError(f'num_requests must be >= 1 and threads >= 0, got {num_requests} '
                              f'and {threads}')
        self.precision = precision
        self.threads = threads
        self.num_requests = num_requests
        self.retry_interval = retry_interval
        self.logger = logger or logging.getLogger(__name__)
        self.set_thresholds()
        self.labels = list(self.card['labels'])
        self.keypoint_names = list(self.card['keypoint_names'])
        self.dropped = 0
        self.timings = {'preprocess': 0.0, 'infer': 0.0, 'decode': 0.0}
        self._core = core or Core()
        self._levels = self._read_levels()
        self._classifier = None
        if self.card.get('classifier') is not None:
            if not isinstance(self.card['classifier'], dict):
                raise ModelError(f'model card {self.card["card_path"]}: classifier must be a '
                                 'mapping of keys (docs/model-cards.md)')
            self._classifier = CropClassifier(self.card['classifier'], self.card['card_path'],
                                              self._core, self._config('CPU'))
            self.labels = self._classifier.labels
        self._letterboxes = {}
        self._reported = set()
        self._in_flight = collections.deque()
        self._done = collections.deque()
        self._pending = None
        self._runner = self._compile_from(range(len(self.devices)))
        self._next_retry = time.monotonic() + retry_interval

    @classmethod
    def from_parameters(cls, params: Mapping[str, object], logger: logging.Logger | None = None,
                        **options: object) -> InferenceEngine:
        """
        Build an engine from detector_node parameters: the one way for nodes and tools.

        Keys of ENGINE_PARAMETERS that `params` lacks (or gives as None) take the table's
        defaults; other keys are ignored. `options` go to the constructor (core, retry_interval).
        """
        values = defaults(ENGINE_PARAMETERS)
        values.update((name, value) for name, value in params.items()
                      if name in values and value is not None)
        engine = cls(values['model'], device=values['device'], precision=values['precision'],
                     threads=values['threads'], num_requests=values['num_requests'],
                     logger=logger, **options)
        engine.set_thresholds(values['score_threshold'], values['nms_iou'],
                              values['max_detections'])
        return engine

    def set_thresholds(self, score_threshold: float = -1.0, nms_iou: float = -1.0,
                       max_detections: int | None = None) -> None:
        """Set the decoding thresholds; a negative one (or None) means the model card's value."""
        card = self.card
        self.score_threshold = float(score_threshold if score_threshold >= 0
                                     else card['score_threshold'])
        self.nms_iou = float(nms_iou if nms_iou >= 0 else card['nms_iou'])
        self.max_detections = int(max_detections or card['max_detections'])

    @property
    def device(self) -> str:
        """Return the device the model runs on now ('' while every device fails)."""
        return self._runner.device if self._runner else ''

    @property
    def execution_properties(self) -> dict[str, str]:
        """Return the precision and thread count the device in use applies (where it says)."""
        found = {}
        if self._runner is None:
            return found
        for key in (*_PRECISION_KEYS, *_THREADS_KEYS):
            try:
                value = self._runner.compiled[0].get_property(key)
            except RuntimeError:
                continue
            found[key] = value.get_type_name() if isinstance(value, Type) else str(value)
        return found

    @property
    def gflops(self) -> float:
        """Return the cost of one frame in GFLOPs (2 x multiply-adds), every level counted."""
        return sum(model_gflops(level.model) for level in self._levels)

    @property
    def in_flight(self) -> int:
        """Return the number of frames the device holds now."""
        return len(self._in_flight)

    def detect(self, image: np.ndarray, order: str = 'bgr') -> Detections:
        """Return the detections of one image (channel order 'bgr' or 'rgb')."""
        frame = self._prepare(image, None, order)
        self._maybe_return_to_preferred()
        for _ in range(len(self.devices) + 1):
            runner = self._working_runner()
            started = time.perf_counter()
            try:
                _start(runner.sync_slot, frame.tensors)
                outputs = _collect(runner.sync_slot, wait=True)
            except RuntimeError as error:
                self._fail_over(runner, error)
                continue
            frame.timings['infer'] = time.perf_counter() - started
            return self._finish(frame, outputs)
        raise self._give_up()

    def submit(self, image: np.ndarray, tag: object = None, order: str = 'bgr') -> None:
        """Queue one image for asynchronous detection; `tag` comes back with its result."""
        frame = self._prepare(image, tag, order)
        self._maybe_return_to_preferred()
        self._working_runner()
        if self._pending is not None:
            self.dropped += 1  # the newest frame wins
        self._pending = frame
        self._poll()

    def results(self, wait: bool = False) -> list[tuple[object, Detections]]:
        """
        Return [(tag, detections)] of the frames finished so far, in submission order.

        With wait=True, first wait until every submitted frame (the waiting one too) is done.
        """
        self._poll()
        while wait and (self._in_flight or self._pending is not None):
            self._poll(block=True)
        finished = []
        while self._done:
            frame = self._done.popleft()
            finished.append((frame.tag, self._finish(frame, frame.outputs)))
        return finished

    def _read_levels(self):
        """Read the model once per input size of the card (input_size, then the pyramid)."""
        card = self.card
        sizes = [card['input_size'], *card['pyramid']] if 'input_size' in card else []
        if not sizes:
            raise ModelError(f'model card {card["card_path"]}: missing key input_size')
        levels = []
        for index, (width, height) in enumerate(sizes):
            try:
                decode = make_decoder(_card_for_size(card, width, height))
            except ValueError as error:
                raise ModelError(f'{card["card_path"]}: {error}') from error
            levels.append(_Level(self._read_model(width, height, reshape=index > 0),
                                 width, height, decode))
        return levels

    def _read_model(self, width, height, reshape):
        """Read the model for one input size; fold colour order, mean, scale and layout in."""
        path, card_path = self.card['path'], self.card['card_path']
        if not Path(path).is_file():
            raise ModelError(f'model file {path} does not exist (named by {card_path})')
        try:
            model = self._core.read_model(path)
        except RuntimeError as error:
            raise ModelError(f'cannot read model file {path}: {short_reason(error)}') from error
        if len(model.inputs) != 1 or model.inputs[0].partial_shape.rank.get_length() != 4:
            raise ModelError(f'model file {path}: expected one image input of rank 4, got '
                             f'{[str(port.partial_shape) for port in model.inputs]}')
        shape = model.inputs[0].partial_shape
        layout = self.card.get('input_layout') or ('nchw' if str(shape[1]) == '3' else 'nhwc')
        if layout not in ('nchw', 'nhwc'):
            raise ModelError(f'model card {card_path}: input_layout must be nchw or nhwc')
        wanted = [1, 3, height, width] if layout == 'nchw' else [1, height, width, 3]
        if reshape or not shape.is_static:
            try:
                model.reshape({model.inputs[0]: PartialShape(wanted)})
            except RuntimeError as error:
                raise ModelError(f'model file {path} cannot take input {width}x{height}: '
                                 f'{short_reason(error)}') from error
        elif [dim.get_length() for dim in shape] != wanted:
            raise ModelError(f'model card {card_path}: input_size {[width, height]} and '
                             f'input_layout {layout} give {wanted}, but {path} takes {shape}')
        # The host sends letterboxed uint8 BGR NHWC; the device converts, fused into the model.
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(Type.u8).set_layout(Layout('NHWC'))
        ppp.input().model().set_layout(Layout(layout.upper()))
        steps = ppp.input().preprocess().convert_element_type(Type.f32)
        if self.card['color_order'] == 'rgb':
            steps.reverse_channels()
        steps.mean(self.card['mean']).scale([1.0 / value for value in self.card['scale']])
        return ppp.build()

    def _compile_from(self, indices, quiet=False):
        """Compile on the first device among `indices` that works; raise EngineError if none."""
        reasons = []
        for index in indices:
            device = self.devices[index]
            try:
                config = self._config(device)
                compiled = [self._core.compile_model(level.model, device, config)
                            for level in self._levels]
                runner = _Runner(compiled, device, index, self.num_requests)
            except RuntimeError as error:
                reasons.append((device, short_reason(error)))
                continue
            # Skipped devices get a warning (once) when another runs; if none does, the error
            # gives every reason.
            for skipped, reason in reasons:
                if not quiet and skipped not in self._reported:
                    self._reported.add(skipped)
                    self.logger.warning('device %s skipped for model %s: %s', skipped,
                                        self.card['name'], reason)
            self.logger.info('model %s runs on %s', self.card['name'], device)
            return runner
        available = ', '.join(self._core.available_devices)
        detail = '; '.join(f'{device}: {reason}' for device, reason in reasons)
        raise EngineError(f'no device of {",".join(self.devices[i] for i in indices)} can run '
                          f'model {self.card["path"]} ({detail}); available devices: '
                          f'{available}')

    def _config(self, device):
        """Return the compile properties the device supports: precision hint, thread count."""
        try:
            supported = self._core.get_property(device, 'SUPPORTED_PROPERTIES')
        except RuntimeError:
            return {}  # compile_model then says why the device cannot be used
        config = {}
        for keys, value in ((_PRECISION_KEYS, self.precision), (_THREADS_KEYS, self.threads)):
            key = next((key for key in keys if key in supported), None)
            if value and key:
                config[key] = str(value)
        return config

    def _prepare(self, image, tag, order):
        """Letterbox an image into a uint8 tensor per level."""
        started = time.perf_counter()
        if image is None or image.size == 0:
            raise ValueError('empty image')
        if order not in ('bgr', 'rgb'):
            raise ValueError(f'channel order must be bgr or rgb, got {order!r}')
        if image.ndim == 2 or image.shape[2] == 1:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif order == 'rgb':  # the model takes BGR (see _read_model); drops any alpha
            image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_RGB2BGR)
        elif image.shape[2] == 4:
            image = image[:, :, :3]
        key = image.shape[:2]
        if key not in self._letterboxes:
            self._letterboxes[key] = [
                Letterbox(image.shape[1], image.shape[0], level.width, level.height)
                for level in self._levels]
        letterboxes = self._letterboxes[key]
        frame = _Frame(tag, [box.apply(image) for box in letterboxes], letterboxes, image)
        frame.timings['preprocess'] = time.perf_counter() - started
        return frame

    def _launch_pending(self):
        """Start the waiting frame if fewer frames than requests are in flight, failing over."""
        for _ in range(len(self.devices) + 1):
            if self._pending is None or len(self._in_flight) >= self.num_requests:
                return
            # The current device holds at most the frames in flight: it has a free slot.
            runner = self._runner
            slot = runner.free.pop()
            try:
                _start(slot, self._pending.tensors)
            except RuntimeError as error:
                self._fail_over(runner, error)
                continue
            frame, self._pending = self._pending, None
            frame.runner, frame.slot, frame.started = runner, slot, time.perf_counter()
            self._in_flight.append(frame)
            return
        raise self._give_up()

    def _poll(self, block=False):
        """Start the waiting frame when there is room; move finished frames, in order, to done."""
        while True:
            self._launch_pending()
            if not self._in_flight:
                return
            frame = self._in_flight[0]
            try:
                outputs = _collect(frame.slot, wait=block)
            except RuntimeError as error:
                self._fail_over(frame.runner, error)
                continue
            if outputs is None:
                return
            block = False
            self._in_flight.popleft()
            frame.outputs = outputs
            frame.timings['infer'] = time.perf_counter() - frame.started
            self._done.append(frame)
            if frame.runner is self._runner:
                self._runner.free.append(frame.slot)

    def _fail_over(self, failed, error):
        """Leave a device that raised at run time; rerun the frames it held, in their place."""
        if failed is self._runner:
            self.logger.warning('device %s failed at run time: %s; switching to the next '
                                'device', failed.device, short_reason(error))
            count = len(self.devices)
            try:
                self._runner = self._compile_from([(failed.index + step) % count
                                                   for step in range(1, count + 1)])
            except EngineError as no_device:
                raise self._give_up(str(no_device)) from None
            self._next_retry = time.monotonic() + self.retry_interval
        for frame in [frame for frame in self._in_flight if frame.runner is failed]:
            frame.failures += 1
            if frame.failures > len(self.devices):
                raise self._give_up()
            if not self._restart(frame):
                self._in_flight.remove(frame)
                self.dropped += 1

    def _give_up(self, reason=None):
        """Drop every frame held, leave the devices until the next retry; return the error."""
        self.dropped += len(self._in_flight) + (self._pending is not None)
        self._in_flight.clear()
        self._pending = None
        self._runner = None
        self._next_retry = time.monotonic() + self.retry_interval
        return EngineError(reason or f'every device failed at run time: {",".join(self.devices)}')

    def _working_runner(self):
        """Return the current runner; EngineError while every device fails."""
        if self._runner is None:
            raise EngineError(f'no device of {",".join(self.devices)} works; trying again '
                              f'every {self.retry_interval:g} s')
        return self._runner

    def _restart(self, frame):
        """Start an in-flight frame again on the current device; return whether it started."""
        if not self._runner.free:
            return False
        slot = self._runner.free.pop()
        try:
            _start(slot, frame.tensors)
        except RuntimeError:  # this device fails too: the next poll or launch moves on
            self._runner.free.append(slot)
            return False
        frame.runner, frame.slot, frame.started = self._runner, slot, time.perf_counter()
        return True

    def _maybe_return_to_preferred(self):
        """Every retry_interval, try the devices preferred to the current one (all, if none)."""
        preferred = self._runner.index if self._runner else len(self.devices)
        if preferred == 0 or time.monotonic() < self._next_retry:
            return
        self._next_retry = time.monotonic() + self.retry_interval
        try:
            runner = self._compile_from(range(preferred), quiet=True)
        except EngineError:
            return
        self.logger.info('back on preferred device %s', runner.device)
        self._runner = runner

    def _finish(self, frame, outputs):
        """Decode each level's outputs, map them to the source image and merge the levels."""
        started = time.perf_counter()
        try:
            parts = [box.to_source(level.decode(level_outputs, self.score_threshold,
                                                self.nms_iou, self.max_detections))
                     for level, box, level_outputs in zip(self._levels, frame.letterboxes,
                                                          outputs)]
        except ValueError as error:
            raise ModelOutputError(f'model {self.card["name"]} ({self.card["path"]}): '
                                   f'{error}') from None
        if len(parts) == 1:
            detections = parts[0]
        else:
            merged = Detections(*(np.concatenate([getattr(part, field) for part in parts])
                                  for field in ('boxes', 'scores', 'class_ids', 'keypoints')))
            detections = nms.suppress(merged, self.nms_iou, self.max_detections,
                                      self._levels[0].decode.weighted)
        frame.timings['decode'] = time.perf_counter() - started
        if self._classifier is not None:
            started = time.perf_counter()
            detections = self._classifier.classify(frame.image, detections,
                                                   self.score_threshold)
            frame.timings['classify'] = time.perf_counter() - started
        self.timings = dict(frame.timings)
        return detections


def model_gflops(model: object) -> float:
    """
    Return the GFLOPs of one inference of a static-shape OpenVINO model.

    Counted as 2 x the multiply-adds of its convolutions and matrix products: a cost that does
    not depend on the machine (elementwise layers are left out).
    """
    total = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind in ('Convolution', 'GroupConvolution'):
            # Weights (O, I, kh, kw), grouped (G, O/G, I/G, kh, kw): each output sums I/G*kh*kw.
            weights = list(op.input(1).get_partial_shape().to_shape())
            outputs = list(op.get_output_partial_shape(0).to_shape())
            total += 2 * int(np.prod(outputs)) * int(np.prod(weights[-3:]))
        elif kind == 'MatMul':
            first = list(op.input(0).get_partial_shape().to_shape())
            outputs = list(op.get_output_partial_shape(0).to_shape())
            inner = first[-2] if op.get_attributes().get('transpose_a') else first[-1]
            total += 2 * int(np.prod(outputs)) * int(inner)
    return total / 1e9


def _card_for_size(card, width, height):
    """Return the card as seen by one input size: regressor scales follow the size."""
    native_w, native_h = card['input_size']
    sized = {**card, 'input_size': [width, height]}
    for key, ratio in (('x_scale', width / native_w), ('w_scale', width / native_w),
                       ('y_scale', height / native_h), ('h_scale', height / native_h)):
        if key in card:
            sized[key] = card[key] * ratio
    return sized


def _start(slot, tensors):
    """Start every request of a slot on its tensor."""
    for request, tensor in zip(slot, tensors):
        request.start_async({0: tensor})


def _collect(slot, wait):
    """Return the slot's outputs per level (copied: requests get reused), or None while busy."""
    if wait:
        for request in slot:
            request.wait()
    elif not all(request.wait_for(0) for request in slot):
        return None
    return [[request.get_output_tensor(i).data.copy() for i in range(len(request.model_outputs))]
            for request in slot]
