"""
Start a MobileNet-SSD body from a trained MobileNet v1 body kept in an ONNX file.

No ImageNet weights can be had offline, but the RetinaFace-MobileNet0.25 model in models/ holds a
MobileNet v1 x0.25 body trained on WIDER FACE: its first 27 convolutions are conv0 and the 13
depthwise-separable blocks, with BatchNorm folded in and LeakyReLU(0.1) after each. They are
copied into the body, the first one rescaled from the file's input (BGR minus `source_mean`) to
the article's (pixel - 127.5) / 127.5. Each BatchNorm is then set from the statistics of real
images so that, in training and in eval mode alike, conv + BatchNorm computes what the folded
convolution did.
"""

from pathlib import Path

from face_detector_ros.training.model import PIXEL_MEAN, PIXEL_SCALE
import numpy as np
import torch
from torch import nn

BODY_CONVOLUTIONS = 27
# RetinaFace's BGR channel means (models/retinaface.yaml); its input has no scaling.
RETINAFACE_MEAN = (104.0, 117.0, 123.0)


class BackboneError(ValueError):
    """The ONNX file cannot start this model's body; the message says why."""


def read_graph(path, error=BackboneError):
    """
    Return the ONNX file's nodes and a function giving the constant behind an input name.

    The function follows Identity nodes to the initializer and returns None where there is no
    constant. A file that is not ONNX raises `error`.
    """
    from google.protobuf.message import DecodeError
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except (OSError, DecodeError) as reason:
        raise error(f'{path}: cannot read it as ONNX ({reason})') from None
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    producers = {node.output[0]: node for node in graph.node if node.output}

    def constant(name):
        while (name not in constants and name in producers
               and producers[name].op_type == 'Identity'):
            name = producers[name].input[0]
        return constants.get(name)
    return list(graph.node), constant


def read_body(path):
    """Return the body's convolutions [(weight, bias, groups, stride)] and its LeakyReLU slope."""
    path = Path(path)
    nodes, constant = read_graph(path)
    convolutions, slopes = [], set()
    for node in nodes:
        if node.op_type == 'LeakyRelu' and convolutions:
            slopes.update(attribute.f for attribute in node.attribute if attribute.name == 'alpha')
        if node.op_type != 'Conv':
            continue
        weight, bias = (constant(name) for name in node.input[1:3])
        attributes = {attribute.name: attribute for attribute in node.attribute}
        groups = attributes['group'].i if 'group' in attributes else 1
        stride = tuple(attributes['strides'].ints) if 'strides' in attributes else (1, 1)
        if weight is None or bias is None:
            raise BackboneError(f'{path}: convolution {len(convolutions) + 1} has no constant '
                                'weight and bias (BatchNorm folded in) to copy')
        convolutions.append((weight, bias, groups, stride))
        if len(convolutions) == BODY_CONVOLUTIONS:
            break
    if len(convolutions) < BODY_CONVOLUTIONS or len(slopes) > 1:
        raise BackboneError(f'{path}: not a MobileNet v1 body ({len(convolutions)} convolutions, '
                            f'activation slopes {sorted(slopes)})')
    # float32 in the file: 0.10000000149 is the 0.1 it was trained with.
    return convolutions, round(float(slopes.pop()), 6) if slopes else 0.0


def body_layers(model):
    """Return the body's (Conv2d, BatchNorm2d) pairs in order: conv0, then dw/pw per block."""
    layers = [module for block in model.body for module in block.modules()
              if isinstance(module, (nn.Conv2d, nn.BatchNorm2d))]
    return list(zip(layers[0::2], layers[1::2]))


def load_body(model, path, images, source_mean=RETINAFACE_MEAN):
    """
    Copy the ONNX body of `path` into `model` and fit its BatchNorms on `images` (B, 3, S, S).

    The model's activation slope must be the file's (SSDConfig.leaky); `read_body` gives it.
    """
    convolutions, slope = read_body(path)
    convolutions[0] = _rescaled_input(*convolutions[0], source_mean)
    if not np.isclose(slope, model.config.leaky, atol=1e-6):
        raise BackboneError(f'{path} uses activation slope {slope:g}, the model '
                            f'{model.config.leaky:g}')
    pairs = body_layers(model)
    for number, ((conv, _), source) in enumerate(zip(pairs, convolutions), 1):
        theirs = (source[0].shape, source[2], source[3])
        ours = (tuple(conv.weight.shape), conv.groups, tuple(conv.stride))
        if theirs != ours:
            raise BackboneError(
                f'{path}: convolution {number} (shape, groups, stride) is {theirs}, the '
                f"model's {ours}; use the width multiplier of the file's body (0.25 for "
                'RetinaFace-MobileNet0.25)')
    hooks = []
    for (conv, norm), (weight, bias, _, _) in zip(pairs, convolutions):
        with torch.no_grad():
            conv.weight.copy_(torch.tensor(weight))
        hooks.append(conv.register_forward_hook(_fit_norm(norm, torch.tensor(bias))))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(images)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)


def _rescaled_input(weight, bias, groups, stride, source_mean):
    """Return conv0 for the model's input x, where the file's is (127.5 x + 127.5 - mean)."""
    # Zero padding then stands for grey, not for the mean colour: it touches the border only.
    scale = 1 / PIXEL_SCALE
    shift = np.array([PIXEL_MEAN - mean for mean in source_mean], dtype=np.float64)
    new_bias = bias + np.einsum('ochw,c->o', weight.astype(np.float64), shift)
    return (weight * scale).astype(np.float32), new_bias.astype(np.float32), groups, stride


def _fit_norm(norm, bias):
    """Return a hook that sets `norm` to add `bias` after centring on the batch's statistics."""
    def hook(_module, _inputs, output):
        mean = output.mean((0, 2, 3))
        variance = output.var((0, 2, 3), unbiased=False)
        # (x - mean) / sqrt(variance + eps) * weight + bias' = x + bias, in both BatchNorm modes.
        norm.running_mean.copy_(mean)
        norm.running_var.copy_(variance)
        norm.weight.copy_(torch.sqrt(variance + norm.eps))
        norm.bias.copy_(mean + bias)
    return hook
