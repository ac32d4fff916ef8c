"""
Time each decoder and the NMS variants on realistic inputs; print median milliseconds.

BlazeFace decodes the real models' outputs for scikit-image's astronaut; SSD and YOLO decode
tensors shaped like their usual exports, mostly background with a few objects. Each decoder's
time is also given as a share of the BlazeFace short-range inference measured in the same run,
and NMS as a speed-up over a textbook pure-Python greedy loop, so the figures mean something on
a busy machine too.

    python benchmarks/bench_decoders.py [--repeat 200]
"""

import argparse
from pathlib import Path
import statistics
import time

import cv2
from face_detector_ros.detection.decoders import make_decoder
from face_detector_ros.detection.nms import class_aware_nms, nms, weighted_nms
import numpy as np
import openvino
import skimage.data
import yaml

MODELS = Path(__file__).resolve().parent.parent / 'models'


def median_ms(func, repeat):
    """Return the median wall time of func() in milliseconds."""
    func()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def blazeface_case(core, card_name):
    """Return (card, outputs, infer) for a shipped BlazeFace card run on the astronaut."""
    card = yaml.safe_load((MODELS / f'{card_name}.yaml').read_text())
    model = core.compile_model(str(MODELS / card['file']), 'CPU',
                               {'INFERENCE_PRECISION_HINT': 'f32', 'INFERENCE_NUM_THREADS': 1})
    image = cv2.resize(skimage.data.astronaut(), tuple(card['input_size']))
    tensor = ((image - np.float32(127.5)) / np.float32(127.5))[None]
    request = model.create_infer_request()

    def infer():
        request.infer([tensor])
        return [request.get_output_tensor(i).data.copy() for i in range(len(model.outputs))]
    return card, infer(), infer


def ssd_case(rng):
    """Return a face-detection-retail style card and its [1, 1, 200, 7] output, 3 faces."""
    card = {'decoder': 'ssd', 'input_size': [300, 300], 'labels': ['face'], 'label_offset': 1}
    rows = np.zeros((200, 7), np.float32)
    rows[:, 1] = 1
    rows[:, 2] = np.sort(rng.uniform(0, 0.3, 200))[::-1]
    rows[:3, 2] = [0.98, 0.9, 0.85]
    corners = rng.uniform(0, 0.8, (200, 2))
    rows[:, 3:] = np.hstack([corners, corners + rng.uniform(0.05, 0.2, (200, 2))])
    return card, [rows[None, None]]


def yolo_darknet_case(rng):
    """Return the face-mask YOLOv3 card (416, good/bad) and its three logit grids, a few faces."""
    card = {'decoder': 'yolo', 'layout': 'darknet', 'input_size': [416, 416],
            'labels': ['good', 'bad'],
            'anchors': [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119],
                        [116, 90], [156, 198], [373, 326]],
            'masks': [[6, 7, 8], [3, 4, 5], [0, 1, 2]], 'strides': [32, 16, 8]}
    grids = []
    for stride in card['strides']:
        size = 416 // stride
        grid = rng.normal(0, 1, (1, 3 * 7, size, size)).astype(np.float32)
        grid[:, 4::7] = rng.normal(-8, 2, (1, 3, size, size))  # objectness: background
        grid[0, 4, :2, :2] = 3.0
        grids.append(grid)
    return card, grids


def yolo_v8_case(rng):
    """Return a v8 face card (640, 1 class, 5 keypoints) and its [1, 20, 8400] output."""
    card = {'decoder': 'yolo', 'layout': 'v8', 'input_size': [640, 640], 'labels': ['face'],
            'num_keypoints': 5}
    head = rng.uniform(0, 640, (1, 20, 8400)).astype(np.float32)
    head[0, 2:4] = rng.uniform(10, 100, (2, 8400))
    head[0, 4] = rng.beta(0.3, 20, 8400)
    head[0, 4, :30] = rng.uniform(0.6, 0.95, 30)
    head[0, :2, :30] = rng.normal(320, 3, (2, 30))
    return card, [head]


def clustered_boxes(rng, count=1000, objects=10):
    """Return count candidate boxes jittered around a few objects, their scores and classes."""
    centres = rng.uniform(50, 590, (objects, 2))
    sizes = rng.uniform(20, 150, objects)
    owner = rng.integers(0, objects, count)
    centre = centres[owner] + rng.normal(0, 3, (count, 2))
    half = (sizes[owner] * rng.uniform(0.9, 1.1, count) / 2)[:, None]
    boxes = np.hstack([centre - half, centre + half]).astype(np.float32)
    return boxes, rng.uniform(0.3, 1, count).astype(np.float32), owner % 2


def textbook_nms(boxes, scores, iou_threshold):
    """Greedy NMS box by box in plain Python: the baseline."""
    keep = []
    for i in sorted(range(len(boxes)), key=lambda i: -scores[i]):
        if all(_iou(boxes[i], boxes[j]) <= iou_threshold for j in keep):
            keep.append(i)
    return keep


def _iou(a, b):
    inter = (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
             * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main(argv=None):
    """Print the timing table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeat', type=int, default=200, help='timed runs per row')
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    core = openvino.Core()
    short_card, short_outputs, short_infer = blazeface_case(core, 'blazeface_short_range')
    full_card, full_outputs, _ = blazeface_case(core, 'blazeface_full_range')
    inference = median_ms(short_infer, args.repeat)
    print(f'BlazeFace short-range inference, 1 thread (the reference): {inference:.3f} ms\n')
    print(f'{"decoder":40} {"median ms":>10} {"found":>6} {"x inference":>12}')
    cases = [('blazeface short-range 896 anchors', short_card, short_outputs),
             ('blazeface full-range 2304 anchors', full_card, full_outputs),
             ('ssd [1, 1, 200, 7]', *ssd_case(rng)),
             ('yolo darknet 416, 3 grids, 2 classes', *yolo_darknet_case(rng)),
             ('yolo v8 [1, 20, 8400], 5 keypoints', *yolo_v8_case(rng))]
    for name, card, outputs in cases:
        decoder = make_decoder(card)
        found = len(decoder(outputs, 0.5, 0.3, 100))
        took = median_ms(lambda: decoder(outputs, 0.5, 0.3, 100), args.repeat)
        print(f'{name:40} {took:10.3f} {found:6d} {took / inference:12.2f}')

    boxes, scores, class_ids = clustered_boxes(rng)
    baseline = median_ms(lambda: textbook_nms(boxes, scores, 0.5), max(args.repeat // 20, 3))
    print(f'\n{"NMS, 1000 boxes around 10 objects":40} {"median ms":>10} {"kept":>6} '
          f'{"speed-up":>12}')
    kept = len(textbook_nms(boxes, scores, 0.5))
    print(f'{"textbook Python loop (baseline)":40} {baseline:10.3f} {kept:6d} {1:12.1f}')
    rows = [('nms', lambda: nms(boxes, scores, 0.5)),
            ('class_aware_nms, 2 classes', lambda: class_aware_nms(boxes, scores, class_ids, 0.5)),
            ('weighted_nms', lambda: weighted_nms(boxes, scores, 0.5)[0])]
    for name, func in rows:
        took = median_ms(func, args.repeat)
        print(f'{name:40} {took:10.3f} {len(func()):6d} {baseline / took:12.1f}')


if __name__ == '__main__':
    main()
