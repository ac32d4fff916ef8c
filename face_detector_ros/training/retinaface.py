"""
RetinaFace-MobileNet0.25 in plain torch, started from the ONNX file shipped in models/.

The layers are those of biubug6/Pytorch_Retinaface's mobilenet0.25 configuration as the shipped
file holds them: BatchNorm is folded into every convolution (so each is a convolution with a
bias), LeakyReLU(0.1) follows most of them, and each SSH block's 7x7 branch starts from the same
convolution as its 5x5 branch. `load_onnx` copies the file's convolutions in graph order; the
model then computes what the file does (checked against OpenVINO in the tests), and can be
fine-tuned and exported back to ONNX with the same inputs and outputs.
"""

from pathlib import Path

from face_detector_ros.training.backbone import read_graph
import numpy as np
import torch
from torch import nn
from torch.nn import functional

SLOPE = 0.1
# MobileNet v1 x0.25 stages: (output channels, stride) of each depthwise-separable block.
STAGES = (((16, 1), (32, 2), (32, 1), (64, 2), (64, 1)),
          ((128, 2), (128, 1), (128, 1), (128, 1), (128, 1), (128, 1)),
          ((256, 2), (256, 1)))
STEM_CHANNELS = 8
FPN_CHANNELS = 64
ANCHORS_PER_CELL = 2
NUM_KEYPOINTS = 5
# RetinaFace's BGR channel means (models/retinaface.yaml); its input has no scaling.
PIXEL_MEAN = (104.0, 117.0, 123.0)


class OnnxError(ValueError):
    """The ONNX file does not hold this model's convolutions; the message says why."""


def conv(in_channels, out_channels, kernel_size, stride=1, groups=1, activation=True):
    """Return a convolution with bias (BatchNorm folded in), then LeakyReLU unless told not."""
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                      groups=groups)
    return nn.Sequential(layer, nn.LeakyReLU(SLOPE)) if activation else nn.Sequential(layer)


class SSH(nn.Module):
    """Single Stage Headless context module: 3x3, 5x5 and 7x7 receptive fields, concatenated."""

    def __init__(self, channels):
        """Build the branches for `channels` in and out."""
        super().__init__()
        self.conv3 = conv(channels, channels // 2, 3, activation=False)
        self.conv5_1 = conv(channels, channels // 4, 3)
        self.conv5_2 = conv(channels // 4, channels // 4, 3, activation=False)
        self.conv7_2 = conv(channels // 4, channels // 4, 3)
        self.conv7_3 = conv(channels // 4, channels // 4, 3, activation=False)

    def forward(self, x):
        """Return the concatenated branches after a ReLU."""
        shared = self.conv5_1(x)
        branches = (self.conv3(x), self.conv5_2(shared), self.conv7_3(self.conv7_2(shared)))
        return functional.relu(torch.cat(branches, 1))

    def convolutions(self):
        """Return the convolutions in the ONNX file's order (conv5_1 appears twice there)."""
        return [self.conv3[0], self.conv5_1[0], self.conv5_2[0], self.conv5_1[0],
                self.conv7_2[0], self.conv7_3[0]]


class RetinaFace(nn.Module):
    """MobileNet0.25 body, 3-level FPN, SSH context, class/box/landmark heads per level."""

    def __init__(self):
        """Build the layers."""
        super().__init__()
        stages, channels = [], STEM_CHANNELS
        stem = [conv(3, STEM_CHANNELS, 3, stride=2)]
        stage_channels = []
        for stage in STAGES:
            blocks = []
            for out_channels, stride in stage:
                blocks += [conv(channels, channels, 3, stride, groups=channels),
                           conv(channels, out_channels, 1)]
                channels = out_channels
            stages.append(nn.Sequential(*(stem + blocks)))
            stem = []
            stage_channels.append(channels)
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleList(conv(count, FPN_CHANNELS, 1) for count in stage_channels)
        self.merge = nn.ModuleList(conv(FPN_CHANNELS, FPN_CHANNELS, 3) for _ in range(2))
        self.context = nn.ModuleList(SSH(FPN_CHANNELS) for _ in stage_channels)

        def heads(width):
            return nn.ModuleList(nn.Conv2d(FPN_CHANNELS, ANCHORS_PER_CELL * width, 1)
                                 for _ in stage_channels)
        self.class_heads, self.box_heads = heads(2), heads(4)
        self.landmark_heads = heads(2 * NUM_KEYPOINTS)

    def forward(self, images):
        """Return box offsets (B, P, 4), class logits (B, P, 2) and landmarks (B, P, 10)."""
        features, x = [], images
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        levels = [lateral(f) for lateral, f in zip(self.lateral, features)]
        for index in (1, 0):  # top-down: level 2 into 1, then 1 into 0
            above = functional.interpolate(levels[index + 1], size=levels[index].shape[2:],
                                           mode='nearest')
            levels[index] = self.merge[index](levels[index] + above)
        levels = [ssh(level) for ssh, level in zip(self.context, levels)]
        batch = images.shape[0]

        def flat(heads, width):
            return torch.cat([head(level).permute(0, 2, 3, 1).reshape(batch, -1, width)
                              for head, level in zip(heads, levels)], 1)
        return (flat(self.box_heads, 4), flat(self.class_heads, 2),
                flat(self.landmark_heads, 2 * NUM_KEYPOINTS))

    def convolutions(self):
        """Return every convolution in the ONNX file's graph order."""
        ordered = [module for stage in self.stages for module in stage.modules()
                   if isinstance(module, nn.Conv2d)]
        ordered += [layer[0] for layer in self.lateral]
        ordered += [self.merge[1][0], self.merge[0][0]]
        for ssh in self.context:
            ordered += ssh.convolutions()
        for heads in (self.class_heads, self.box_heads, self.landmark_heads):
            ordered += list(heads)
        return ordered


class Deployed(nn.Module):
    """The model as the shipped file computes it: class scores through a softmax."""

    def __init__(self, model):
        """Wrap `model`."""
        super().__init__()
        self.model = model

    def forward(self, images):
        """Return loc, conf (softmax) and landmarks."""
        loc, logits, landmarks = self.model(images)
        return loc, torch.softmax(logits, -1), landmarks


def load_onnx(model, path):
    """Copy the convolutions of the RetinaFace ONNX file `path` into `model`, in graph order."""
    path = Path(path)
    nodes, constant = read_graph(path, OnnxError)
    sources = [node for node in nodes if node.op_type == 'Conv']
    targets = model.convolutions()
    if len(sources) != len(targets):
        raise OnnxError(f'{path}: {len(sources)} convolutions, RetinaFace-MobileNet0.25 has '
                        f'{len(targets)}')
    for number, (node, layer) in enumerate(zip(sources, targets), 1):
        weight, bias = (constant(name) for name in node.input[1:3])
        if weight is None or bias is None or weight.shape != tuple(layer.weight.shape):
            shape = None if weight is None else weight.shape
            raise OnnxError(f'{path}: convolution {number} ({node.name}) has weight shape '
                            f'{shape}, the model {tuple(layer.weight.shape)}')
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(np.array(weight)))
            layer.bias.copy_(torch.from_numpy(np.array(bias)))
    return model


def export_onnx(model, path, width, height):
    """Write the model (softmax scores) as ONNX with a dynamic batch and input size."""
    deployed = Deployed(model).eval()
    dynamic = {'input': {0: 'batch_size', 2: 'height', 3: 'width'}}
    dynamic.update({name: {0: 'batch_size', 1: 'priors'}
                    for name in ('loc', 'conf', 'landmarks')})
    torch.onnx.export(deployed, torch.zeros(1, 3, height, width), str(path), dynamo=False,
                      input_names=['input'], output_names=['loc', 'conf', 'landmarks'],
                      dynamic_axes=dynamic, opset_version=11)
