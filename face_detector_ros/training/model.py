"""The detector article's MobileNet-v1 SSD in plain torch, with its input and box sizes."""

from dataclasses import asdict, dataclass
import functools
import math

from face_detector_ros.training.priors import prior_boxes
import torch
from torch import nn

ARTICLE_INPUT_SIZE = 300
# (min_size, max_size) in input pixels of the heads on 19x19, 10x10, 5x5, 3x3, 2x2 and 1x1 maps.
ARTICLE_BOX_SIZES = ((16, 32), (32, 64), (64, 128), (128, 214), (214, 300), (214, 300))
# MobileNet v1 depthwise-separable blocks conv1..conv13: (output channels, stride).
MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                    (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
# Extra blocks after conv13, each a 1x1 reduction then a 3x3 stride-2 convolution.
EXTRA_BLOCKS = ((256, 512), (128, 256), (128, 256), (64, 128))
# conv11 and conv13 (0-based block indices) feed the first two heads.
HEAD_BLOCKS = (10, 12)
BOXES_PER_CELL = 2
# Caffe MobileNet-SSD preprocessing: BGR, (pixel - 127.5) / 127.5.
PIXEL_MEAN = 127.5
PIXEL_SCALE = 1 / 127.5


@dataclass(frozen=True)
class SSDConfig:
    """
    What defines a detector: input side, class names, width multiplier, box sizes, activation.

    `box_sizes` are (min, max) pixels per head; left empty, they are the article's sizes scaled
    from 300 to `input_size`. `leaky` is the negative slope of the activations: 0 is the
    article's ReLU, 0.1 that of the RetinaFace body a run can start from (training/backbone.py).
    """

    input_size: int = ARTICLE_INPUT_SIZE
    class_names: tuple = ('face',)
    width: float = 1.0
    box_sizes: tuple = ()
    leaky: float = 0.0

    def __post_init__(self):
        """Fill the default box sizes and check the rest."""
        if self.input_size < 32:
            raise ValueError(f'input size {self.input_size} is too small (at least 32)')
        if not self.class_names:
            raise ValueError('at least one class name is needed')
        if not 0 < self.width <= 4:
            raise ValueError(f'width multiplier {self.width} is outside (0, 4]')
        if not 0 <= self.leaky < 1:
            raise ValueError(f'activation slope {self.leaky} is outside [0, 1)')
        ratio = self.input_size / ARTICLE_INPUT_SIZE
        sizes = self.box_sizes or tuple((low * ratio, high * ratio)
                                        for low, high in ARTICLE_BOX_SIZES)
        sizes = tuple((float(low), float(high)) for low, high in sizes)
        if len(sizes) != len(ARTICLE_BOX_SIZES):
            raise ValueError(f'{len(ARTICLE_BOX_SIZES)} box size pairs are needed, '
                             f'got {len(sizes)}')
        object.__setattr__(self, 'box_sizes', sizes)
        object.__setattr__(self, 'class_names', tuple(self.class_names))

    @property
    def num_classes(self):
        """Return the number of classes including background (label 0)."""
        return len(self.class_names) + 1

    def feature_map_sizes(self):
        """Return the side of each head's map (3x3 stride-2 convolutions with padding 1)."""
        side = math.ceil(self.input_size / 2)
        sides = []
        for index, (_, stride) in enumerate(MOBILENET_BLOCKS):
            side = math.ceil(side / stride)
            if index in HEAD_BLOCKS:
                sides.append(side)
        for _ in EXTRA_BLOCKS:
            side = math.ceil(side / 2)
            sides.append(side)
        return sides

    def priors(self):
        """Return the default boxes (cx, cy, w, h), normalised, in head output order."""
        return prior_boxes(self.feature_map_sizes(), self.box_sizes, self.input_size)

    def to_dict(self):
        """Return the config as plain lists and numbers (for checkpoints and cards)."""
        data = asdict(self)
        data['class_names'] = list(self.class_names)
        data['box_sizes'] = [list(pair) for pair in self.box_sizes]
        return data

    @classmethod
    def from_dict(cls, data):
        """Rebuild a config written by to_dict."""
        return cls(input_size=int(data['input_size']), class_names=tuple(data['class_names']),
                   width=float(data['width']),
                   box_sizes=tuple(tuple(pair) for pair in data['box_sizes']),
                   leaky=float(data.get('leaky', 0.0)))  # runs before `leaky` used ReLU


def conv_bn_activation(in_channels, out_channels, kernel_size, stride=1, groups=1, leaky=0.0):
    """Return convolution (no bias), BatchNorm and (leaky) ReLU: the article's building block."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(leaky, inplace=True) if leaky else nn.ReLU(inplace=True))


class MobileNetSSD(nn.Module):
    """MobileNet v1 body, four extra blocks and one loc/conf head pair per feature map."""

    def __init__(self, config):
        """Build the layers for `config` (an SSDConfig)."""
        super().__init__()
        self.config = config

        def channels(count):
            return max(8, int(round(count * config.width)))

        layer = functools.partial(conv_bn_activation, leaky=config.leaky)

        in_channels = channels(32)
        body = [layer(3, in_channels, 3, stride=2)]
        head_channels = []
        for index, (out_channels, stride) in enumerate(MOBILENET_BLOCKS):
            out_channels = channels(out_channels)
            body.append(nn.Sequential(
                layer(in_channels, in_channels, 3, stride, groups=in_channels),
                layer(in_channels, out_channels, 1)))
            in_channels = out_channels
            if index in HEAD_BLOCKS:
                head_channels.append(out_channels)
        self.body = nn.ModuleList(body)
        extras = []
        for reduced, out_channels in EXTRA_BLOCKS:
            reduced, out_channels = channels(reduced), channels(out_channels)
            extras.append(nn.Sequential(layer(in_channels, reduced, 1),
                                        layer(reduced, out_channels, 3, stride=2)))
            in_channels = out_channels
            head_channels.append(out_channels)
        self.extras = nn.ModuleList(extras)
        self.loc_heads = nn.ModuleList(
            nn.Conv2d(count, BOXES_PER_CELL * 4, 1) for count in head_channels)
        self.conf_heads = nn.ModuleList(
            nn.Conv2d(count, BOXES_PER_CELL * config.num_classes, 1) for count in head_channels)

    def forward(self, images):
        """Return box offsets (B, P, 4) and class logits (B, P, num_classes)."""
        features = []
        x = images
        for index, layer in enumerate(self.body):
            x = layer(x)
            if index - 1 in HEAD_BLOCKS:  # body[0] is conv0, body[i] is block conv<i>
                features.append(x)
        for layer in self.extras:
            x = layer(x)
            features.append(x)
        batch = images.shape[0]
        loc = [head(f).permute(0, 2, 3, 1).reshape(batch, -1, 4)
               for head, f in zip(self.loc_heads, features)]
        conf = [head(f).permute(0, 2, 3, 1).reshape(batch, -1, self.config.num_classes)
                for head, f in zip(self.conf_heads, features)]
        return torch.cat(loc, 1), torch.cat(conf, 1)
