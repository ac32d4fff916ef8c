"""
Time the face-export model against BlazeFace on one 640x480 frame; print ms and ratios.

The MobileNet-SSD is the article's network (300x300, width 1.0, or --input-size / --width)
exported by face-export's own functions with untrained weights: latency does not depend on the
weights except through the post-processing, whose work grows with the priors scoring above
DetectionOutput's 0.01 confidence threshold. So the network is exported twice: with the
background bias raised so that no prior passes (a trained detector passes a few dozen on a frame
with a few faces), and untrained (every prior passes: the worst case, 400 boxes into NMS).

Rows, all on the CPU, f32 precision hint, one thread (--threads), in interleaved rounds so that
a busy machine slows every row alike:
- engine.detect(): letterbox, inference, decode, NMS, back to frame pixels, per model card;
- the SSD's graph alone, with DetectionOutput in it (what the stick runs) and without it
  (raw heads), plus the host-side work each needs: the `ssd` decoder's thresholding and NMS on
  the [1, 1, 200, 7] rows, or a numpy decode of every prior and NMS;
- the NNCF INT8 IR, when nncf is installed (calibrated on composed face images).

    python benchmarks/bench_export.py [--rounds 100] [--threads 1]
"""

import argparse
from pathlib import Path
import statistics
import tempfile
import time

from face_detector_ros.detection.decoders import make_decoder
from face_detector_ros.detection.engine import InferenceEngine
from face_detector_ros.detection.model_cards import load_card
from face_detector_ros.detection.nms import class_aware_nms
from face_detector_ros.simulation import faces
from face_detector_ros.training.data import letterbox, to_tensor
from face_detector_ros.training.evaluate import CONFIDENCE_THRESHOLD, NMS_IOU, TOP_K
from face_detector_ros.training.export import (
    export_onnx,
    fold_batchnorm,
    model_card,
    with_detection_output,
)
from face_detector_ros.training.model import MobileNetSSD, SSDConfig
import numpy as np
import openvino as ov
import torch
import yaml


def build_models(folder, config, background_bias):
    """Export an untrained SSD as FP16 IR with and without DetectionOutput; return paths."""
    torch.manual_seed(0)
    model = MobileNetSSD(config).eval()
    with torch.no_grad():
        for head in model.conf_heads:
            head.bias.view(-1, config.num_classes)[:, 0] += background_bias
    folder.mkdir()
    export_onnx(fold_batchnorm(model), config, folder / 'heads.onnx')
    heads = ov.convert_model(folder / 'heads.onnx')
    ov.save_model(heads, folder / 'heads.xml', compress_to_fp16=True)
    full = with_detection_output(ov.convert_model(folder / 'heads.onnx'), config)
    ov.save_model(full, folder / 'ssd.xml', compress_to_fp16=True)
    card = model_card(config, 'ssd.xml', 'benchmark', 0.5)
    (folder / 'ssd.yaml').write_text(yaml.safe_dump(card))
    return folder / 'ssd.yaml', folder / 'heads.xml'


def post_processing_cases(folder, card, heads_path, config, tensor, properties):
    """Return {name: function} timing the graph with and without DetectionOutput, and the host."""
    core = ov.Core()
    with_output = core.compile_model(folder / 'ssd.xml', 'CPU', properties)
    heads = core.compile_model(heads_path, 'CPU', properties)
    decoder = make_decoder(load_card(str(card)))
    decode_heads = host_decode(config.priors())
    rows = with_output(tensor)[0]
    outputs = heads(tensor)
    offsets, scores = (outputs[output] for output in heads.outputs)
    candidates = np.count_nonzero(scores.reshape(len(config.priors()), -1)[:, 1:]
                                  >= CONFIDENCE_THRESHOLD)
    label = f'{candidates} of {len(config.priors())} priors pass'
    return {
        f'SSD graph with DetectionOutput, {label}': lambda: with_output(tensor),
        '  + ssd decoder on its rows (host)': lambda: decoder([rows], 0.5, 0.45, 100),
        f'SSD graph, raw heads, {label}': lambda: heads(tensor),
        '  + numpy decode + NMS of the heads (host)': lambda: decode_heads(offsets, scores),
    }


def quantized(folder, config, images):
    """Return the card of an NNCF INT8 copy of the SSD, or None without nncf."""
    try:
        import nncf
    except ImportError:
        return None
    inputs = [to_tensor(letterbox(image, config.input_size)[0])[None].numpy()
              for image in images]
    int8 = nncf.quantize(ov.Core().read_model(folder / 'ssd.xml'), nncf.Dataset(inputs),
                         subset_size=len(inputs))
    ov.save_model(int8, folder / 'ssd_int8.xml', compress_to_fp16=False)
    card = model_card(config, 'ssd_int8.xml', 'benchmark INT8', 0.5)
    (folder / 'ssd_int8.yaml').write_text(yaml.safe_dump(card))
    return folder / 'ssd_int8.yaml'


def host_decode(priors):
    """Return a function decoding raw heads (offsets, scores) on the host, as DetectionOutput."""
    def decode(offsets, scores):
        offsets = offsets.reshape(-1, 4)
        face_scores = scores.reshape(len(priors), -1)[:, 1:]
        index, class_ids = np.nonzero(face_scores >= CONFIDENCE_THRESHOLD)
        best = np.argsort(-face_scores[index, class_ids])[:TOP_K]
        index, class_ids = index[best], class_ids[best]
        centre = priors[index, :2] + offsets[index, :2] * 0.1 * priors[index, 2:]
        size = priors[index, 2:] * np.exp(offsets[index, 2:] * 0.2)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], 1)
        return class_aware_nms(boxes, face_scores[index, class_ids], class_ids, NMS_IOU)
    return decode


def main():
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--rounds', type=int, default=100)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--input-size', type=int, default=300)
    parser.add_argument('--width', type=float, default=1.0)
    args = parser.parse_args()
    frame, _ = faces.composed_image(640, 480, (160, 90, 48), seed=3)
    config = SSDConfig(input_size=args.input_size, width=args.width)
    properties = {'INFERENCE_PRECISION_HINT': 'f32', 'INFERENCE_NUM_THREADS': args.threads}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        card, heads_path = build_models(folder / 'typical', config, 6.0)
        worst_card, worst_heads = build_models(folder / 'worst', config, 0.0)
        calibration = [faces.composed_image(640, 480, (120, 60), seed=seed)[0]
                       for seed in range(32)]
        int8_card = quantized(folder / 'typical', config, calibration)
        cases = {}
        engines = {'BlazeFace short-range 128, engine.detect': 'blazeface_short_range',
                   f'SSD {config.input_size} FP16, engine.detect': str(card)}
        if int8_card:
            engines[f'SSD {config.input_size} INT8, engine.detect'] = str(int8_card)
        for name, model in engines.items():
            engine = InferenceEngine(model, device='CPU', precision='f32', threads=args.threads)
            cases[name] = lambda engine=engine: engine.detect(frame)

        tensor = to_tensor(letterbox(frame, config.input_size)[0])[None].numpy()
        cases.update(post_processing_cases(folder / 'typical', card, heads_path, config, tensor,
                                           properties))
        cases.update({f'{name} ': case for name, case in post_processing_cases(
            folder / 'worst', worst_card, worst_heads, config, tensor, properties).items()})
        times = {name: [] for name in cases}
        for _ in range(args.rounds + 3):
            for name, case in cases.items():
                started = time.perf_counter()
                case()
                times[name].append(time.perf_counter() - started)
    baseline = statistics.median(times[next(iter(cases))][3:])
    print(f'640x480 frame, CPU, {args.threads} thread(s), median of {args.rounds} rounds; '
          'ratio = time / BlazeFace engine.detect time in this run')
    print(f'{"case":56s} {"ms":>8s} {"ratio":>7s}')
    for name, values in times.items():
        median = statistics.median(values[3:])
        print(f'{name:56s} {median * 1e3:8.3f} {median / baseline:7.2f}')


if __name__ == '__main__':
    main()
