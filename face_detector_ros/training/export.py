"""face-export: fold BatchNorm, write ONNX, OpenVINO IR (FP16, FP32, optional INT8) and cards."""

import argparse
import copy
import importlib.util
from pathlib import Path
import sys
import warnings

from face_detector_ros import files
from face_detector_ros.datasets.annotations import DatasetError
from face_detector_ros.datasets.images import image_index
from face_detector_ros.tools import cli
from face_detector_ros.training.data import letterbox, read_image, read_samples, to_tensor
from face_detector_ros.training.evaluate import CONFIDENCE_THRESHOLD, KEEP_TOP_K, NMS_IOU, TOP_K
from face_detector_ros.training.matching import corner_form, decode, VARIANCES
from face_detector_ros.training.model import MobileNetSSD, PIXEL_MEAN, PIXEL_SCALE, SSDConfig
from face_detector_ros.training.train import reading_checkpoint
import numpy as np
import openvino as ov
import torch
from torch import nn
import yaml

OUTPUT_NAME = 'detection_out'
# Largest IR - torch difference accepted in a score and in a box corner (input pixels). FP16
# weights with BatchNorm folded in: about 0.005 and 0.4 px on a model trained for minutes,
# whose nearly dead channels fold into BatchNorm scales above 1000.
SCORE_TOLERANCE = 0.02
BOX_TOLERANCE = 1.0


def fold_batchnorm(model):
    """Return an eval-mode copy of `model` with each BatchNorm folded into the conv before it."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            conv, norm = module[index], module[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[index] = _folded_conv(conv, norm)
                module[index + 1] = nn.Identity()
    return folded


def _folded_conv(conv, norm):
    """Return conv followed by norm (eval statistics) as one convolution with a bias."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=True)
    with torch.no_grad():
        # float64 keeps the folded weights within float32 rounding of the unfolded pair.
        scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
        bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
        fused.weight.copy_(conv.weight.double() * scale[:, None, None, None])
        fused.bias.copy_((bias - norm.running_mean.double()) * scale + norm.bias.double())
    return fused


class DeployHeads(nn.Module):
    """The network as DetectionOutput reads it: flat box offsets and flat softmax scores."""

    def __init__(self, model):
        """Wrap a MobileNetSSD."""
        super().__init__()
        self.model = model

    def forward(self, images):
        """Return offsets (B, P * 4) and class probabilities (B, P * num_classes)."""
        offsets, logits = self.model(images)
        return offsets.flatten(1), torch.softmax(logits, -1).flatten(1)


def export_onnx(model, config, path):
    """Export the folded network's heads to ONNX (outputs `offsets` and `scores`)."""
    size = config.input_size
    with warnings.catch_warnings():
        # The TorchScript exporter needs no onnxscript and maps every layer here one to one.
        warnings.simplefilter('ignore')
        torch.onnx.export(DeployHeads(model).eval(), (torch.zeros(1, 3, size, size),), str(path),
                          input_names=['image'], output_names=['offsets', 'scores'],
                          opset_version=13, dynamo=False)


def with_detection_output(heads, config):
    """Append an OpenVINO DetectionOutput (decode, NMS, top-k) to the heads model."""
    from openvino import opset8

    priors = config.priors()
    proposals = np.stack([corner_form(torch.from_numpy(priors)).numpy().ravel(),
                          np.tile([VARIANCES[0]] * 2 + [VARIANCES[1]] * 2, len(priors))])
    attrs = {
        'background_label_id': 0, 'top_k': TOP_K, 'keep_top_k': [KEEP_TOP_K],
        'nms_threshold': NMS_IOU, 'confidence_threshold': CONFIDENCE_THRESHOLD,
        'code_type': 'caffe.PriorBoxParameter.CENTER_SIZE', 'share_location': True,
        'variance_encoded_in_target': False, 'normalized': True,
        'clip_before_nms': False, 'clip_after_nms': False, 'decrease_label_id': False,
        'input_height': 1, 'input_width': 1, 'objectness_score': 0.0,
    }
    offsets, scores = (result.input_value(0) for result in heads.get_results())
    detections = opset8.detection_output(
        offsets, scores, opset8.constant(proposals[None].astype(np.float32)), attrs,
        name=OUTPUT_NAME)
    detections.output(0).get_tensor().set_names({OUTPUT_NAME})
    return ov.Model([detections.output(0)], heads.get_parameters(), 'mobilenet_ssd_face')


def model_card(config, file_name, description, score_threshold):
    """Return the model card (for face-detect and the detector node) of an exported model."""
    return {
        'description': description,
        'license': 'trained with face-train; the licence of its training data applies',
        'file': file_name,
        'decoder': 'ssd',
        'layout': 'detection_output',
        'label_offset': 1,
        'input_size': [config.input_size, config.input_size],
        'input_layout': 'nchw',
        'color_order': 'bgr',
        'mean': [PIXEL_MEAN] * 3,
        'std': [1 / PIXEL_SCALE] * 3,
        'labels': list(config.class_names),
        'score_threshold': score_threshold,
        'nms_iou': NMS_IOU,
        'max_detections': 100,
        'training': config.to_dict(),
    }


def sample_inputs(source, config, count):
    """Return up to `count` model inputs (1, 3, S, S): images of `source`, else seeded noise."""
    if source is None:
        noise = np.random.default_rng(0).uniform(0, 255, (count, config.input_size,
                                                          config.input_size, 3))
        return [to_tensor(image.astype(np.uint8))[None] for image in noise]
    source = Path(source)
    if source.is_dir() and not any(source.glob('*.names')) and not any(source.glob('*.txt')):
        paths = list(image_index(source).values())
    else:
        paths = [sample.image_path for sample in read_samples(source)]
    if not paths:
        raise cli.CliError(f'{source}: no images')
    step = max(1, len(paths) // count)
    return [to_tensor(letterbox(read_image(path), config.input_size)[0])[None]
            for path in paths[::step][:count]]


def largest_differences(model, ir_path, inputs):
    """
    Return the largest IR - torch differences (score, box corner in input pixels) over inputs.

    Compares what DetectionOutput receives, so the check does not depend on NMS order: every
    score, and the decoded boxes of the priors DetectionOutput considers (a face score of at
    least its confidence threshold; the others may have huge, irrelevant offsets). The IR runs
    on the CPU in f32 (its default here is bf16).
    """
    core = ov.Core()
    ir = core.read_model(ir_path)
    detection = next(op for op in ir.get_ops() if op.get_type_name() == 'DetectionOutput')
    ir.add_outputs([detection.input_value(0), detection.input_value(1)])
    compiled = core.compile_model(ir, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    priors = torch.from_numpy(model.config.priors())
    side = model.config.input_size
    score_error = box_error = 0.0
    with torch.no_grad():
        for tensor in inputs:
            result = compiled(tensor.numpy())
            offsets, scores = (torch.from_numpy(result[output]) for output in compiled.outputs[1:])
            wanted_offsets, wanted_scores = DeployHeads(model)(tensor)
            score_error = max(score_error, float((scores - wanted_scores).abs().max()))
            considered = wanted_scores.view(len(priors), -1)[:, 1:].amax(1) >= CONFIDENCE_THRESHOLD
            boxes = decode(offsets.view(-1, 4)[considered], priors[considered]) * side
            wanted_boxes = decode(wanted_offsets.view(-1, 4)[considered], priors[considered])
            box_error = max([box_error, *(boxes - wanted_boxes * side).abs().flatten().tolist()])
    return score_error, box_error


def quantize_int8(ir_model, inputs):
    """Return the IR quantised to INT8 by NNCF on the calibration inputs."""
    try:
        import nncf
    except ImportError as error:
        raise cli.CliError('--int8 needs NNCF: pip install nncf') from error
    return nncf.quantize(ir_model, nncf.Dataset([tensor.numpy() for tensor in inputs]),
                         subset_size=len(inputs))


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog='face-export', description=__doc__,
        usage='%(prog)s CHECKPOINT OUTPUT [options]\n'
        '       %(prog)s --darknet CFG WEIGHTS OUTPUT [--names FILE] [options]',
        epilog='--darknet imports a darknet YOLOv3, YOLOv3-tiny or YOLOv4-tiny model instead of '
        "a checkpoint: ONNX, IR FP16 and FP32 and yolo model cards, compared with OpenCV's "
        'darknet reader on --samples noise inputs (docs/training.md).')
    parser.add_argument('checkpoint', nargs='?',
                        help='best.pt or last.pt written by face-train (none with --darknet)')
    parser.add_argument('output', nargs='?',
                        help='folder to write (must not exist or be empty)')
    parser.add_argument('--darknet', nargs=2, metavar=('CFG', 'WEIGHTS'),
                        help='import a darknet .cfg and .weights instead of a checkpoint')
    parser.add_argument('--names', help='with --darknet: the .names file of the classes '
                        '(default: class0, class1, ...)')
    parser.add_argument('--name', help='file name stem (default mobilenet_ssd_face; with '
                        "--darknet the cfg's stem)")
    parser.add_argument('--images', help='VOC list, YOLO folder or folder of images: the '
                        'check inputs and the INT8 calibration set (default: noise)')
    parser.add_argument('--samples', type=int,
                        help='check inputs (default 8; with --darknet 2)')
    parser.add_argument('--int8', action='store_true', help='also write an NNCF INT8 IR')
    parser.add_argument('--calibration-size', type=int, default=300,
                        help='INT8 calibration images (default 300)')
    parser.add_argument('--score-threshold', type=float,
                        help='score_threshold written in the card (default 0.5; with --darknet '
                        "0.25, darknet's)")
    parser.add_argument('--overwrite', action='store_true', help='replace an existing output')
    args = parser.parse_args(argv)
    if args.darknet:
        # face-export --darknet CFG WEIGHTS OUTPUT: the one positional given is the output.
        if args.output is not None or args.checkpoint is None:
            parser.error('--darknet takes CFG WEIGHTS OUTPUT and no checkpoint')
        args.checkpoint, args.output = None, args.checkpoint
        if args.int8 or args.images:
            parser.error('--int8 and --images do not apply to --darknet')
    elif args.output is None:
        parser.error('needs CHECKPOINT and OUTPUT (or --darknet CFG WEIGHTS OUTPUT)')
    elif args.names:
        parser.error('--names needs --darknet')
    if args.name is None and not args.darknet:
        args.name = 'mobilenet_ssd_face'
    if args.score_threshold is None:
        args.score_threshold = 0.25 if args.darknet else 0.5
    if args.samples is None:
        args.samples = 2 if args.darknet else 8
    if args.int8 and not args.images:
        parser.error('--int8 needs --images for calibration')
    if not 0.0 <= args.score_threshold <= 1.0:  # also refuses nan
        raise cli.CliError(f'--score-threshold {args.score_threshold} is not in [0, 1]')
    if args.samples < 1 or args.calibration_size < 1:
        raise cli.CliError(f'--samples {args.samples} and --calibration-size '
                           f'{args.calibration_size} must be at least 1')
    if args.name is not None:
        files.plain_file_name(args.name, '--name')
    return args


def export_darknet(args):
    """Import a darknet model (face-export --darknet); DarknetError is one line, exit 2."""
    from face_detector_ros.training import darknet_import  # needs onnx, checked before

    try:
        lines = darknet_import.export(*args.darknet, args.output, names=args.names,
                                      name=args.name, score_threshold=args.score_threshold,
                                      samples=args.samples, overwrite=args.overwrite)
    except darknet_import.DarknetError as error:
        raise cli.CliError(error) from None
    for line in lines:
        print(f'face-export: {line}')
    return 0


@cli.console_main
def main(argv=None):
    """Export a checkpoint (or a darknet model) as ONNX, OpenVINO IR and model cards."""
    args = parse_args(argv)
    if importlib.util.find_spec('onnx') is None:
        raise cli.CliError('the ONNX export needs the onnx package: pip install .[train]')
    if args.darknet:
        return export_darknet(args)
    with reading_checkpoint(args.checkpoint):
        state = torch.load(args.checkpoint, map_location='cpu', weights_only=False)
        config = SSDConfig.from_dict(state['config'])
        model = MobileNetSSD(config)
        model.load_state_dict(state['model'])
    model.eval()
    folded = fold_batchnorm(model)
    try:
        inputs = sample_inputs(args.images, config, args.samples)
        calibration = (sample_inputs(args.images, config, args.calibration_size)
                       if args.int8 else [])
    except DatasetError as error:
        raise cli.CliError(error) from error
    with torch.no_grad():
        fold_error = max(float(torch.abs(a - b).max()) for tensor in inputs
                         for a, b in zip(model(tensor), folded(tensor)))
    name = args.name
    test_map = 'none' if state.get('map') is None else f'{state["map"]:.3f}'
    described = (f'MobileNet-SSD face detector {config.input_size}x{config.input_size}, '
                 f'width {config.width:g}, trained with face-train '
                 f'(iteration {state["iteration"]}, test mAP@0.5 {test_map})')
    written = []
    with files.atomic_output_dir(args.output, overwrite=args.overwrite) as staging:
        export_onnx(folded, config, staging / f'{name}.onnx')
        ir_model = with_detection_output(ov.convert_model(staging / f'{name}.onnx'), config)
        written.append(f'{name}.onnx')
        errors = {}
        # FP16 is what the Neural Compute Stick runs; FP32 keeps the trained weights exactly.
        for precision, stem in (('FP32', f'{name}_fp32'), ('FP16', name)):
            ov.save_model(ir_model, staging / f'{stem}.xml', compress_to_fp16=precision == 'FP16')
            card = model_card(config, f'{stem}.xml', f'{described}, OpenVINO IR {precision}',
                              args.score_threshold)
            (staging / f'{stem}.yaml').write_text(yaml.safe_dump(card, sort_keys=False))
            errors[precision] = score_error, box_error = largest_differences(
                model, staging / f'{stem}.xml', inputs)
            written += [f'{stem}.xml/.bin', f'{stem}.yaml']
            if score_error > SCORE_TOLERANCE or box_error > BOX_TOLERANCE:
                raise cli.CliError(f'the {precision} IR differs from torch by {score_error:.3g} '
                                   f'in a score and {box_error:.3g} px in a box (tolerance '
                                   f'{SCORE_TOLERANCE}, {BOX_TOLERANCE} px); nothing written')
        if args.int8:
            int8 = quantize_int8(ov.Core().read_model(staging / f'{name}.xml'), calibration)
            ov.save_model(int8, staging / f'{name}_int8.xml', compress_to_fp16=False)
            card = model_card(config, f'{name}_int8.xml', described + ', OpenVINO IR INT8 (NNCF)',
                              args.score_threshold)
            (staging / f'{name}_int8.yaml').write_text(yaml.safe_dump(card, sort_keys=False))
            int8_errors = largest_differences(model, staging / f'{name}_int8.xml', inputs)
            written += [f'{name}_int8.xml/.bin', f'{name}_int8.yaml']
    print(f'face-export: BatchNorm folding changed the outputs by at most {fold_error:.2g}; '
          f'largest differences from torch on {len(inputs)} inputs: FP16 IR '
          f'{errors["FP16"][0]:.2g} in a score, {errors["FP16"][1]:.2g} px in a box; FP32 IR '
          f'{errors["FP32"][0]:.2g}, {errors["FP32"][1]:.2g} px')
    if args.int8:
        print(f'face-export: INT8 IR {int8_errors[0]:.2g} in a score, '
              f'{int8_errors[1]:.2g} px in a box')
    print(f'face-export: wrote {", ".join(written)} to {args.output}; '
          f'try: face-detect --model {Path(args.output) / (name + ".yaml")} IMAGE')
    return 0


if __name__ == '__main__':
    sys.exit(main())
