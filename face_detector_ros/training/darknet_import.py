"""
face-export --darknet: a darknet YOLO .cfg and .weights as ONNX, OpenVINO IR and a yolo model card.

Reads YOLOv3, YOLOv3-tiny and YOLOv4-tiny networks as darknet (AlexeyAB's, which the face-mask
article trained with) computes them: [convolutional] (batch_normalize, groups; activation leaky,
linear, logistic, relu, mish or swish), [shortcut], [route] (groups, group_id), [upsample],
[maxpool] and [yolo]. The ONNX graph is written with onnx.helper, each BatchNorm folded into its
convolution. Its outputs are the raw convolution outputs the [yolo] layers read,
[1, A * (5 + C), H, W], which the project's yolo decoder (layout darknet) activates and decodes.
Nothing here needs torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import os
from pathlib import Path
import struct

import cv2
from face_detector_ros import files
from face_detector_ros.datasets.annotations import DatasetError
from face_detector_ros.datasets.yolo import read_names
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import openvino as ov
import yaml

LAYERS = ('convolutional', 'maxpool', 'route', 'shortcut', 'upsample', 'yolo')
ALIASES = {'conv': 'convolutional', 'max': 'maxpool', 'network': 'net'}
ACTIVATIONS = ('leaky', 'linear', 'logistic', 'relu', 'mish', 'swish')
# AlexeyAB darknet normalises by sqrt(var + .00001f); OpenCV's reader uses 1e-6 (pjreddie's).
BN_EPSILON = 1e-5
# Keys that change what a layer computes: any value but the default is refused, not ignored.
DEFAULT_ONLY = {
    'convolutional': {'dilation': 1, 'binary': 0, 'xnor': 0, 'antialiasing': 0, 'deform': 0},
    'maxpool': {'maxpool_depth': 0, 'antialiasing': 0},
    'shortcut': {'weights_type': 'none'},
    'upsample': {'scale': 1},
    'yolo': {'new_coords': 0},
}
# darknet's own detector defaults (thresh .25, nms .45).
SCORE_THRESHOLD = 0.25
NMS_IOU = 0.45
OPSET = 13


class DarknetError(ValueError):
    """A darknet cfg or weights file that cannot be imported; one line naming file and line."""


@dataclass
class Section:
    """One [section] of a cfg: its kind, header line and key -> (value, line)."""

    path: str
    kind: str
    line: int
    options: dict[str, tuple[str, int]] = field(default_factory=dict)

    def error(self, message: str, key: str | None = None) -> DarknetError:
        """Return a DarknetError at the key's line (else the header's) naming the section."""
        line = self.options[key][1] if key in self.options else self.line
        return DarknetError(f'{self.path}:{line}: [{self.kind}] {message}')

    def text(self, key: str, default: str) -> str:
        """Return a value as written."""
        return self.options[key][0] if key in self.options else default

    def number(self, key: str, default, kind=int):
        """Return a value as an int (or `kind`), naming key and line if it is not one."""
        if key not in self.options:
            return default
        try:
            return kind(self.options[key][0])
        except ValueError:
            raise self.error(f'{key}={self.options[key][0]} is not '
                             f'{"an integer" if kind is int else "a number"}', key) from None

    def numbers(self, key: str, kind=int) -> list | None:
        """Return a comma-separated list (None if absent), naming key and line if it is not."""
        if key not in self.options:
            return None
        try:
            return [kind(value) for value in self.options[key][0].split(',') if value]
        except ValueError:
            raise self.error(f'{key}={self.options[key][0]} is not a comma-separated list of '
                             f'{"integers" if kind is int else "numbers"}', key) from None


@dataclass
class Layer:
    """One darknet layer: what it reads (-1: the image), its output (C, H, W) and settings."""

    kind: str
    line: int
    inputs: list[int]
    shape: tuple[int, int, int]
    params: dict


@dataclass
class Network:
    """A parsed cfg: [net] input size, the layers, and the weight floats they need."""

    path: str
    width: int
    height: int
    channels: int
    layers: list[Layer]

    @property
    def weight_floats(self) -> int:
        """Return how many floats of weights the convolutions read, in cfg order."""
        return sum(layer.params['floats'] for layer in self.layers
                   if layer.kind == 'convolutional')

    @property
    def yolo_layers(self) -> list[tuple[int, Layer]]:
        """Return (index, layer) of every [yolo] layer."""
        return [(index, layer) for index, layer in enumerate(self.layers) if layer.kind == 'yolo']


@dataclass
class Weights:
    """A .weights file: header version, images seen in training, and the floats after it."""

    version: tuple[int, int, int]
    seen: int
    floats: np.ndarray


def read_cfg(path: str | Path) -> list[Section]:
    """Read a cfg as darknet does: whitespace dropped, '#' and ';' comments, [net] first."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DarknetError(f'{path}: cannot read ({error.strerror})') from None
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as error:
        raise DarknetError(f'{path}: not a text darknet cfg ({error.reason} at byte '
                           f'{error.start})') from None
    if '\0' in text:
        raise DarknetError(f'{path}: not a text darknet cfg (NUL at byte {data.index(0)})')
    sections = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = ''.join(raw.split('#', 1)[0].split())
        if not line or line.startswith(';'):
            continue
        if line.startswith('[') and line.endswith(']'):
            kind = line[1:-1].lower()
            sections.append(Section(str(path), ALIASES.get(kind, kind), number))
        elif '=' in line and sections:
            key, value = line.split('=', 1)
            sections[-1].options[key] = (value, number)
        else:
            raise DarknetError(f'{path}:{number}: expected a [section] or key=value, got '
                               f'{raw.strip()[:60]!r}')
    if not sections or sections[0].kind != 'net':
        raise DarknetError(f'{path}: expected [net] as the first section')
    return sections


def parse_network(sections: list[Section]) -> Network:
    """Return the network of a cfg's sections, every layer's output shape checked."""
    net = sections[0]
    size = [net.number(key, 0) for key in ('width', 'height')] + [net.number('channels', 3)]
    if min(size) < 1 or size[2] != 3:
        raise net.error(f'needs positive width and height and 3 channels (the detector feeds '
                        f'colour images), got width, height, channels {size}')
    network = Network(net.path, *size, [])
    shape = (size[2], size[1], size[0])
    for section in sections[1:]:
        if section.kind not in LAYERS:
            raise section.error(f'is not supported (face-export --darknet reads '
                                f'{", ".join(LAYERS)})')
        for key, default in DEFAULT_ONLY.get(section.kind, {}).items():
            value = section.text(key, str(default))
            if value != str(default) and _as_float(value) != _as_float(default):
                raise section.error(f'{key}={value} is not supported', key)
        layer = _PARSERS[section.kind](section, network.layers, shape)
        if min(layer.shape) < 1:
            raise section.error(f'leaves no output from input {shape[0]}x{shape[1]}x{shape[2]}')
        network.layers.append(layer)
        shape = layer.shape
    if not network.yolo_layers:
        raise DarknetError(f'{net.path}: no [yolo] layer; not a YOLO detector cfg')
    _check_decodable(network)
    return network


def _as_float(value):
    try:
        return float(value)
    except ValueError:
        return value


def _positive(section, **values):
    for key, value in values.items():
        if value < 1:
            raise section.error(f'{key}={value} must be a positive integer', key)


def _activation(section, default):
    activation = section.text('activation', default)
    if activation not in ACTIVATIONS:
        raise section.error(f'activation={activation} is not supported (face-export --darknet '
                            f'reads {", ".join(ACTIVATIONS)})', 'activation')
    return activation


def _square_stride(section, stride):
    for key in ('stride_x', 'stride_y'):
        if section.number(key, stride) != stride:
            raise section.error(f'{key}={section.text(key, "")} differs from stride={stride} '
                                '(not supported)', key)


def _convolutional(section, layers, shape):
    channels, height, width = shape
    filters, size = section.number('filters', 1), section.number('size', 1)
    stride, groups = section.number('stride', 1), section.number('groups', 1)
    _positive(section, filters=filters, size=size, stride=stride, groups=groups)
    _square_stride(section, stride)
    padding = size // 2 if section.number('pad', 0) else section.number('padding', 0)
    if channels % groups or filters % groups:
        raise section.error(f'groups={groups} does not divide its {channels} input channels '
                            f'and {filters} filters', 'groups')
    normalize = section.number('batch_normalize', 0) != 0
    # darknet's files: biases (BatchNorm beta), [gamma, mean, variance,] then the weights.
    floats = filters * (channels // groups) * size * size + filters * (4 if normalize else 1)
    params = {'filters': filters, 'size': size, 'stride': stride, 'padding': padding,
              'groups': groups, 'batch_normalize': normalize, 'floats': floats,
              'activation': _activation(section, 'logistic')}  # darknet's default
    out = [(side + 2 * padding - size) // stride + 1 for side in (height, width)]
    return Layer('convolutional', section.line, [len(layers) - 1], (filters, *out), params)


def _maxpool(section, layers, shape):
    stride = section.number('stride', 1)
    size = section.number('size', stride)
    _positive(section, size=size, stride=stride)
    _square_stride(section, stride)
    # darknet pads size - 1 in all by default, padding // 2 before: tiny's size=2 stride=1 keeps
    # the map size by padding one column and row after (OpenCV's reader pads the same).
    padding = section.number('padding', size - 1)
    out = [(side + padding - size) // stride + 1 for side in shape[1:]]
    before = padding // 2
    params = {'size': size, 'stride': stride, 'pads': [before] * 2 + [padding - before] * 2}
    return Layer('maxpool', section.line, [len(layers) - 1], (shape[0], *out), params)


def _reference(section, key, value, layers):
    """Return the absolute index of a layer a route or shortcut names (negative: relative)."""
    index = len(layers) + value if value < 0 else value
    if not 0 <= index < len(layers):
        raise section.error(f'{key}={section.text(key, "")} names layer {index}, but only '
                            f'layers 0-{len(layers) - 1} come before it', key)
    if layers[index].kind == 'yolo':
        raise section.error(f'{key}={section.text(key, "")} names a [yolo] layer (not '
                            'supported)', key)
    return index


def _route(section, layers, shape):
    references = section.numbers('layers')
    if not references:
        raise section.error('needs layers=', 'layers')
    inputs = [_reference(section, 'layers', value, layers) for value in references]
    groups, group_id = section.number('groups', 1), section.number('group_id', 0)
    _positive(section, groups=groups)
    if not 0 <= group_id < groups:
        raise section.error(f'group_id={group_id} is not in 0-{groups - 1}', 'group_id')
    shapes = [layers[index].shape for index in inputs]
    if any(channels % groups for channels, _, _ in shapes) or len({s[1:] for s in shapes}) > 1:
        raise section.error(f'cannot join layers {inputs} of shapes {shapes} in {groups} groups',
                            'layers')
    channels = sum(channels // groups for channels, _, _ in shapes)
    return Layer('route', section.line, inputs, (channels, *shapes[0][1:]),
                 {'groups': groups, 'group_id': group_id})


def _shortcut(section, layers, shape):
    if not layers:
        raise section.error('cannot come first')
    source = _reference(section, 'from', section.number('from', 0), layers)
    if layers[source].shape != shape:
        raise section.error(f'from={section.text("from", "")} has shape {layers[source].shape}, '
                            f'the layer before it {shape} (not supported)', 'from')
    return Layer('shortcut', section.line, [len(layers) - 1, source], shape,
                 {'activation': _activation(section, 'linear')})


def _upsample(section, layers, shape):
    stride = section.number('stride', 2)
    _positive(section, stride=stride)
    return Layer('upsample', section.line, [len(layers) - 1],
                 (shape[0], shape[1] * stride, shape[2] * stride), {'stride': stride})


def _yolo(section, layers, shape):
    classes, count = section.number('classes', 20), section.number('num', 1)
    _positive(section, classes=classes, num=count)
    anchors = section.numbers('anchors', float)
    if not anchors or len(anchors) != 2 * count:
        raise section.error(f'needs anchors= with num={count} width,height pairs, got '
                            f'{len(anchors or [])} numbers', 'anchors' if anchors else None)
    mask = section.numbers('mask')
    mask = list(range(count)) if mask is None else mask
    if not mask or not all(0 <= index < count for index in mask):
        raise section.error(f'mask={section.text("mask", "")} needs indices in 0-{count - 1}',
                            'mask')
    wanted = len(mask) * (5 + classes)
    if not layers or shape[0] != wanted:
        raise section.error(f'reads {shape[0]} channels, but {len(mask)} anchors x (5 + '
                            f'{classes} classes) need {wanted}')
    params = {'classes': classes, 'mask': mask, 'anchors': np.reshape(anchors, (-1, 2)).tolist(),
              'scale_x_y': section.number('scale_x_y', 1.0, float)}
    return Layer('yolo', section.line, [len(layers) - 1], shape, params)


_PARSERS = {'convolutional': _convolutional, 'maxpool': _maxpool, 'route': _route,
            'shortcut': _shortcut, 'upsample': _upsample, 'yolo': _yolo}


def _check_decodable(network):
    """Refuse what the yolo decoder cannot read: it takes one class list and one scale_x_y."""
    yolos = [layer for _, layer in network.yolo_layers]
    where = ', '.join(f'line {layer.line}' for layer in yolos)
    for key in ('classes', 'scale_x_y'):
        values = [layer.params[key] for layer in yolos]
        if len(set(values)) > 1:
            raise DarknetError(f'{network.path}: the [yolo] layers ({where}) differ in {key} '
                               f'{values}; the yolo decoder takes one')
    shapes = [layer.shape for layer in yolos]
    if len(set(shapes)) < len(shapes):
        raise DarknetError(f'{network.path}: [yolo] layers ({where}) read grids of the same '
                           f'shape {shapes}; the yolo decoder tells them apart by shape')
    for layer in yolos:
        _, rows, columns = layer.shape
        stride = network.height // rows
        if rows * stride != network.height or columns * stride != network.width:
            raise DarknetError(f'{network.path}:{layer.line}: [yolo] grid {columns}x{rows} is '
                               f'not the {network.width}x{network.height} input divided by one '
                               'stride')


def read_weights(path: str | Path, network: Network) -> Weights:
    """Read a .weights file, refusing one shorter or longer than the network needs."""
    path = Path(path)
    try:
        total = os.path.getsize(path)
        with open(path, 'rb') as stream:
            head = stream.read(20)
    except OSError as error:
        raise DarknetError(f'{path}: cannot read ({error.strerror})') from None
    if len(head) < 16:
        raise DarknetError(f'{path}: {total} bytes, too short for a darknet weights header')
    version = struct.unpack('<3i', head[:12])
    major, minor, _ = version
    # 'seen' (training images) is 64-bit from version 0.2 on.
    wide = major * 10 + minor >= 2 and major < 1000 and minor < 1000
    header = 20 if wide else 16
    if total < header:
        raise DarknetError(f'{path}: {total} bytes, too short for a darknet weights header')
    seen = struct.unpack('<q' if wide else '<i', head[12:header])[0]
    needed, body = network.weight_floats, total - header
    if body != 4 * needed:
        held = str(body // 4) if body % 4 == 0 else f'{body / 4:.2f}'
        raise DarknetError(f'{path} is too {"short" if body < 4 * needed else "long"} for '
                           f'{network.path}: {held} floats of weights after its {header}-byte '
                           f'header, the cfg needs {needed}')
    floats = np.fromfile(path, dtype='<f4', offset=header)
    return Weights(version, seen, floats)


def build_onnx(network: Network, weights: Weights) -> onnx.ModelProto:
    """Return the network as an ONNX graph (opset 13), BatchNorm folded into the convolutions."""
    nodes, initializers, outputs = [], [], []
    names = []  # output tensor of each layer

    def constant(name, array):
        initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    offset = 0
    for index, layer in enumerate(network.layers):
        name, params = f'layer{index}', layer.params
        inputs = [names[i] if i >= 0 else 'image' for i in layer.inputs]
        if layer.kind == 'convolutional':
            source, count = layer.inputs[0], params['floats']
            channels = network.layers[source].shape[0] if source >= 0 else network.channels
            weight, bias = _folded(weights.floats[offset:offset + count], params, channels,
                                   network.path, layer.line)
            offset += count
            size, padding = params['size'], params['padding']
            nodes.append(helper.make_node(
                'Conv', [inputs[0], constant(f'{name}.weight', weight),
                         constant(f'{name}.bias', bias)], [f'{name}.conv'],
                kernel_shape=[size, size], strides=[params['stride']] * 2, pads=[padding] * 4,
                group=params['groups']))
            nodes += _activate(f'{name}.conv', name, params['activation'])
        elif layer.kind == 'maxpool':
            nodes.append(helper.make_node('MaxPool', inputs, [name],
                                          kernel_shape=[params['size']] * 2,
                                          strides=[params['stride']] * 2, pads=params['pads']))
        elif layer.kind == 'route':
            groups, group_id = params['groups'], params['group_id']
            parts = inputs
            if groups > 1:  # darknet takes group `group_id` of each input's channels
                parts = []
                for number, (source, source_index) in enumerate(zip(inputs, layer.inputs)):
                    part = network.layers[source_index].shape[0] // groups
                    parts.append(f'{name}.part{number}')
                    nodes.append(helper.make_node('Slice', [
                        source, constant(f'{parts[-1]}.starts', [group_id * part]),
                        constant(f'{parts[-1]}.ends', [(group_id + 1) * part]),
                        constant(f'{parts[-1]}.axes', [1])], [parts[-1]]))
            nodes.append(helper.make_node('Concat', parts, [name], axis=1) if len(parts) > 1
                         else helper.make_node('Identity', parts, [name]))
        elif layer.kind == 'shortcut':
            nodes.append(helper.make_node('Add', inputs, [f'{name}.sum']))
            nodes += _activate(f'{name}.sum', name, params['activation'])
        elif layer.kind == 'upsample':
            stride = float(params['stride'])
            nodes.append(helper.make_node(
                'Resize', [inputs[0], '', constant(f'{name}.scales', np.array(
                    [1.0, 1.0, stride, stride], np.float32))], [name], mode='nearest',
                coordinate_transformation_mode='asymmetric', nearest_mode='floor'))
        else:  # yolo: the raw grid it reads is an output; the decoder activates it
            nodes.append(helper.make_node('Identity', inputs, [f'yolo{index}']))
            outputs.append(helper.make_tensor_value_info(f'yolo{index}', TensorProto.FLOAT,
                                                         [1, *layer.shape]))
            name = inputs[0]
        names.append(name)
    image = helper.make_tensor_value_info(
        'image', TensorProto.FLOAT, [1, network.channels, network.height, network.width])
    graph = helper.make_graph(nodes, Path(network.path).stem, [image], outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                              producer_name='face-export --darknet')
    model.ir_version = 8  # readable by older runtimes (OpenVINO 2022.3 LTS)
    return model


def _folded(floats, params, channels, path, line):
    """Return (weight, bias) of a convolution with its BatchNorm folded in, float32."""
    filters, size, groups = params['filters'], params['size'], params['groups']
    # float64 keeps the folded weights within float32 rounding of the unfolded pair.
    values = floats.astype(np.float64)
    start = 4 * filters if params['batch_normalize'] else filters
    bias = values[:filters]
    weight = values[start:].reshape(filters, channels // groups, size, size)
    if params['batch_normalize']:
        gamma, mean, variance = values[filters:start].reshape(3, filters)
        scale = gamma / np.sqrt(variance + BN_EPSILON)
        weight = weight * scale[:, None, None, None]
        bias = bias - mean * scale
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        raise DarknetError(f'{path}:{line}: [convolutional] its weights are not finite numbers '
                           "(a BatchNorm variance below zero, or not this cfg's weights)")
    return weight.astype(np.float32), bias.astype(np.float32)


def _activate(source, name, activation):
    """Return the nodes that apply a darknet activation from tensor `source` into `name`."""
    if activation == 'linear':
        return [helper.make_node('Identity', [source], [name])]
    if activation == 'leaky':
        return [helper.make_node('LeakyRelu', [source], [name], alpha=0.1)]
    if activation in ('logistic', 'relu'):
        return [helper.make_node({'logistic': 'Sigmoid', 'relu': 'Relu'}[activation], [source],
                                 [name])]
    if activation == 'swish':  # x * sigmoid(x)
        return [helper.make_node('Sigmoid', [source], [f'{name}.gate']),
                helper.make_node('Mul', [source, f'{name}.gate'], [name])]
    # mish: x * tanh(softplus(x))
    return [helper.make_node('Softplus', [source], [f'{name}.softplus']),
            helper.make_node('Tanh', [f'{name}.softplus'], [f'{name}.gate']),
            helper.make_node('Mul', [source, f'{name}.gate'], [name])]


def model_card(network: Network, labels: list[str], file_name: str, description: str,
               score_threshold: float = SCORE_THRESHOLD) -> dict:
    """Return the yolo model card of an imported network (decoder layout darknet)."""
    yolos = [layer for _, layer in network.yolo_layers]
    anchor_lists = [layer.params['anchors'] for layer in yolos]
    if all(anchors == anchor_lists[0] for anchors in anchor_lists):
        anchors, masks = anchor_lists[0], [layer.params['mask'] for layer in yolos]
    else:  # each [yolo] its own list: concatenate the anchors each one uses
        anchors, masks = [], []
        for layer in yolos:
            masks.append(list(range(len(anchors), len(anchors) + len(layer.params['mask']))))
            anchors += [layer.params['anchors'][index] for index in layer.params['mask']]
    card = {
        'description': description,
        'license': 'darknet weights imported with face-export --darknet; their licence applies',
        'file': file_name,
        'decoder': 'yolo',
        'layout': 'darknet',
        'input_size': [network.width, network.height],
        'input_layout': 'nchw',
        # darknet feeds RGB in [0, 1].
        'color_order': 'rgb',
        'mean': [0.0] * 3,
        'std': [255.0] * 3,
        'labels': list(labels),
        'score_threshold': score_threshold,
        'nms_iou': NMS_IOU,
        'max_detections': 100,
        'nms': 'hard',
        'anchors': [[_plain(value) for value in pair] for pair in anchors],
        'masks': masks,
        'strides': [network.height // layer.shape[1] for layer in yolos],
    }
    if yolos[0].params['scale_x_y'] != 1.0:
        card['scale_x_y'] = yolos[0].params['scale_x_y']
    return card


def _plain(value):
    return int(value) if float(value).is_integer() else float(value)


def load(cfg: str | Path, weights: str | Path) -> tuple[Network, Weights]:
    """Parse a cfg and read its weights; DarknetError names the file and line of a problem."""
    network = parse_network(read_cfg(cfg))
    return network, read_weights(weights, network)


def opencv_differences(cfg: str | Path, weights: str | Path, network: Network,
                       ir_paths: list[Path], count: int) -> tuple[list[float], float]:
    """
    Return the largest |IR - OpenCV| of each IR over the raw [yolo] grids, and the largest |grid|.

    OpenCV's own darknet reader (cv2.dnn.readNetFromDarknet) runs the cfg and weights on `count`
    seeded noise inputs; its permute_N layer holds [yolo] layer N's input grid as NHWC. The IRs
    run on the CPU in f32 (the default there may be bf16).
    """
    reader = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    names = [f'permute_{index}' for index, _ in network.yolo_layers]
    rng = np.random.default_rng(0)
    blobs = [rng.uniform(0, 1, (1, network.channels, network.height, network.width)).astype(
        np.float32) for _ in range(count)]
    expected = []
    for blob in blobs:
        reader.setInput(blob)
        expected.append([np.transpose(grid, (0, 3, 1, 2)) for grid in reader.forward(names)])
    del reader  # its copy of the weights
    largest = max(float(np.abs(grid).max()) for grids in expected for grid in grids)
    core, differences = ov.Core(), []
    for path in ir_paths:
        compiled = core.compile_model(core.read_model(path), 'CPU',
                                      {'INFERENCE_PRECISION_HINT': 'f32'})
        difference = 0.0
        for blob, grids in zip(blobs, expected):
            result = compiled(blob)
            for output, grid in zip(compiled.outputs, grids):
                difference = max(difference, float(np.abs(result[output] - grid).max()))
        differences.append(difference)
    return differences, largest


def export(cfg: str | Path, weights: str | Path, output: str | Path,
           names: str | Path | None = None, name: str | None = None,
           score_threshold: float = SCORE_THRESHOLD, samples: int = 2,
           overwrite: bool = False) -> list[str]:
    """
    Write NAME.onnx, NAME.xml/.bin (IR FP16), NAME_fp32.xml/.bin and a card for each IR.

    All or nothing (files.atomic_output_dir). Returns the lines to print: what was written and
    how far the IRs are from OpenCV's darknet reader on `samples` noise inputs.
    """
    cfg, weights = Path(cfg), Path(weights)
    network, loaded = load(cfg, weights)
    classes = network.yolo_layers[0][1].params['classes']
    if names is None:
        labels = [f'class{index}' for index in range(classes)]
    else:
        try:
            labels = read_names(names)
        except DatasetError as error:
            raise DarknetError(str(error)) from None
        if len(labels) != classes:
            raise DarknetError(f'{names} has {len(labels)} class names, {cfg} has '
                               f'classes={classes}')
    name = name or cfg.stem
    model = build_onnx(network, loaded)
    described = (f'darknet YOLO {cfg.name} with {weights.name}, {network.width}x{network.height}, '
                 f'{classes} classes, {loaded.seen} images seen in training')
    inputs = [cfg, weights] + ([Path(names)] if names else [])
    with files.atomic_output_dir(output, overwrite=overwrite, inputs=inputs) as staging:
        onnx.save(model, staging / f'{name}.onnx')
        ir_model = ov.convert_model(staging / f'{name}.onnx')
        ir_paths = []
        # FP16 is what the Neural Compute Stick runs; FP32 keeps the weights exactly.
        for precision, stem in (('FP16', name), ('FP32', f'{name}_fp32')):
            ov.save_model(ir_model, staging / f'{stem}.xml', compress_to_fp16=precision == 'FP16')
            card = model_card(network, labels, f'{stem}.xml',
                              f'{described}, OpenVINO IR {precision}', score_threshold)
            # Flow style for the innermost lists: input_size: [416, 416], anchors: [[10, 13], ...].
            (staging / f'{stem}.yaml').write_text(
                yaml.safe_dump(card, sort_keys=False, default_flow_style=None, width=99))
            ir_paths.append(staging / f'{stem}.xml')
        try:
            (fp16, fp32), largest = opencv_differences(cfg, weights, network, ir_paths, samples)
            checked = (f"largest differences from OpenCV's darknet reader on {samples} noise "
                       f'inputs, relative to the largest grid value ({largest:.3g}): FP16 IR '
                       f'{fp16 / largest:.2g}, FP32 IR {fp32 / largest:.2g}')
        except cv2.error as error:
            reason = str(error).strip().splitlines()[-1][:200]
            checked = f'not checked against OpenCV (its darknet reader refused the cfg: {reason})'
    return [f'{cfg.name}: {len(network.layers)} layers, {len(network.yolo_layers)} [yolo] '
            f'outputs, {network.weight_floats} weights (BatchNorm folded); {checked}',
            f'wrote {name}.onnx, {name}.xml/.bin (FP16), {name}_fp32.xml/.bin, {name}.yaml, '
            f'{name}_fp32.yaml to {output}; try: face-detect --model '
            f'{Path(output) / (name + ".yaml")} IMAGE']
