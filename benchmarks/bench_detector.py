"""
Time every face detector profile per stage and measure its recall against face size.

Frames are 640x480 compositions of real faces (face_detector_ros.simulation.faces) at known boxes,
6 faces of one width per frame for 20-60 px (3 for 80-120, 1 above), several backgrounds. Each
profile runs on every frame with 1 and with 2 threads (OpenVINO and OpenCV alike); the stages are
convert (a ROS rgb8 Image buffer to a BGR array), preprocess (letterbox), infer, decode (with NMS)
and publish (the Detection2DArray built and serialized as rclpy does before handing it to DDS;
transport is measured by bench_pipeline.py). OpenCV's Haar frontal-face cascade runs on the same
frames in the same run as the baseline (its stages: convert, then detectMultiScale on the grey
image, which includes its preprocessing). A face counts as found when a detection overlaps it with
IoU >= 0.5; a false positive is a detection overlapping no face by IoU >= 0.3; the three face-free
scikit-image photos (coffee, chelsea, rocket) are run too. Median and fastest frame times are
printed: the fastest is the best estimate of an idle core on a busy machine.

    python benchmarks/bench_detector.py [--seeds 6] [--profiles NAME,...]
"""

import argparse
import statistics
import time
import types

import cv2
from face_detector_ros.detection.detections import Detections
from face_detector_ros.detection.engine import InferenceEngine
from face_detector_ros.detection.model_cards import DEFAULT_MODEL, shipped_models
from face_detector_ros.ros.images import image_to_numpy
from face_detector_ros.ros.messages import boxes_to_detection_array
from face_detector_ros.simulation import faces
import numpy as np
from rclpy.serialization import serialize_message
import skimage.data
from std_msgs.msg import Header

SIZES = (20, 24, 30, 40, 50, 60, 80, 100, 120, 160, 200)
NEGATIVES = ('coffee', 'chelsea', 'rocket')
HAAR = 'haar_frontalface'


def ros_image(image_bgr):
    """Return a sensor_msgs/Image-like rgb8 message of a BGR image (what a camera publishes)."""
    rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
    return types.SimpleNamespace(height=rgb.shape[0], width=rgb.shape[1], encoding='rgb8',
                                 is_bigendian=0, step=rgb.shape[1] * 3, data=rgb.tobytes())


def frames(seeds):
    """Return [(face width, frame, boxes)] for every size and seed."""
    made = []
    for size in SIZES:
        count = 6 if size <= 60 else 3 if size <= 120 else 1
        for seed in range(seeds):
            image, boxes = faces.composed_image(640, 480, [size] * count, seed * 1000 + size)
            made.append((size, image, boxes))
    return made


def negatives():
    """Return the face-free photos as BGR images."""
    return [cv2.cvtColor(getattr(skimage.data, name)(), cv2.COLOR_RGB2BGR) for name in NEGATIVES]


class HaarDetector:
    """OpenCV's Haar frontal-face cascade with the usual settings, as a baseline."""

    def __init__(self):
        """Load the cascade shipped with opencv-python (< 5)."""
        self.cascade = cv2.CascadeClassifier(
            cv2.data.haarcascades + 'haarcascade_frontalface_default.xml')
        self.timings = {}
        self.device = 'CPU (OpenCV)'

    def detect(self, image):
        """Return Detections (scores 1) of the cascade on one BGR image."""
        started = time.perf_counter()
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                              minSize=(20, 20))
        boxes = np.array([(x, y, x + w, y + h) for x, y, w, h in found], np.float32)
        self.timings = {'detect': time.perf_counter() - started}
        return Detections(boxes.reshape(-1, 4), np.ones(len(boxes)), np.zeros(len(boxes)),
                          np.zeros((len(boxes), 0, 2)))


def iou_matrix(truth, found):
    """Return the IoU of every true box (rows) with every detection (columns)."""
    truth, found = np.asarray(truth, float), np.asarray(found, float)
    low = np.maximum(truth[:, None, :2], found[None, :, :2])
    high = np.minimum(truth[:, None, 2:], found[None, :, 2:])
    inter = (high - low).clip(0).prod(axis=2)
    area = lambda boxes: (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)  # noqa: E731
    return inter / (area(truth)[:, None] + area(found)[None, :] - inter)


def run_profile(detector, data, faceless):
    """Return stage times (s per frame, lists), recall per size, FP per frame, FP on negatives."""
    stages = {}
    hits = {size: [0, 0] for size in SIZES}
    false_positives = 0
    for size, image, boxes in data:
        message = ros_image(image)
        started = time.perf_counter()
        converted = image_to_numpy(message, 'bgr8')
        convert = time.perf_counter() - started
        found = detector.detect(converted)
        publish_started = time.perf_counter()
        labels = ['face'] * len(found)
        serialize_message(boxes_to_detection_array(Header(), found.boxes, found.scores, labels))
        publish = time.perf_counter() - publish_started
        for stage, seconds in {'convert': convert, **detector.timings, 'publish': publish}.items():
            stages.setdefault(stage, []).append(seconds)
        stages.setdefault('total', []).append(time.perf_counter() - started)
        overlaps = iou_matrix(boxes, found.boxes) if len(found) else np.zeros((len(boxes), 0))
        hits[size][0] += int((overlaps.max(axis=1, initial=0) >= 0.5).sum())
        hits[size][1] += len(boxes)
        false_positives += int((overlaps.max(axis=0, initial=0) < 0.3).sum())
    on_negatives = sum(len(detector.detect(image)) for image in faceless)
    recall = {size: found / total for size, (found, total) in hits.items()}
    return stages, recall, false_positives / len(data), on_negatives


def make_detector(name, threads):
    """Return the engine (or the Haar baseline) for a profile with `threads` threads."""
    cv2.setNumThreads(threads)
    if name == HAAR:
        return HaarDetector()
    return InferenceEngine(name, device='CPU', threads=threads)


def main():
    """Print the latency and recall tables as markdown."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--seeds', type=int, default=6, help='frames per face size (%(default)s)')
    parser.add_argument('--profiles', default=','.join([*shipped_models(), HAAR]),
                        help='comma-separated profiles (%(default)s)')
    args = parser.parse_args()
    data = frames(args.seeds)
    faceless = negatives()
    names = args.profiles.split(',')
    print(f'{len(data)} frames of 640x480 with {sum(len(b) for _, _, b in data)} faces; '
          f'profiles: {", ".join(names)}; default profile {DEFAULT_MODEL}\n')
    latency_rows, recall_rows = [], []
    for name in names:
        for threads in (1, 2):
            detector = make_detector(name, threads)
            detector.detect(data[0][1])  # warm up
            stages, recall, fp_rate, on_negatives = run_profile(detector, data, faceless)
            median = {stage: statistics.median(times) * 1e3 for stage, times in stages.items()}
            fastest = min(stages['total']) * 1e3
            latency_rows.append((name, threads, median, fastest))
            if threads == 1:
                recall_rows.append((name, recall, fp_rate, on_negatives,
                                    getattr(detector, 'score_threshold', None)))
    cv2.setNumThreads(0)
    print('| profile | threads | convert | preprocess | infer | decode | publish | total median | '
          'frames/s (median) | total fastest | frames/s (fastest) |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')
    for name, threads, median, fastest in latency_rows:
        cells = [f'{median[stage]:.2f}' if stage in median else '-'
                 for stage in ('convert', 'preprocess', 'infer')]
        decode = median.get('decode', median.get('detect'))
        print(f'| {name} | {threads} | {" | ".join(cells)} | {decode:.2f} | '
              f'{median["publish"]:.2f} | {median["total"]:.2f} | {1e3 / median["total"]:.0f} | '
              f'{fastest:.2f} | {1e3 / fastest:.0f} |')
    print('\nTimes in ms per 640x480 frame; Haar has no separate preprocess/infer: its '
          'detectMultiScale time is in the decode column.\n')
    print('| profile | threshold | ' + ' | '.join(f'{size} px' for size in SIZES) +
          ' | false positives per frame | detections on 3 face-free photos |')
    print('|---|---|' + '---|' * len(SIZES) + '---|---|')
    for name, recall, fp_rate, on_negatives, threshold in recall_rows:
        shown = '-' if threshold is None else f'{threshold:.2f}'
        print(f'| {name} | {shown} | ' + ' | '.join(f'{recall[size]:.2f}' for size in SIZES) +
              f' | {fp_rate:.2f} | {on_negatives} |')
    print('\nRecall at IoU >= 0.5 by face width in a 640x480 frame.')


if __name__ == '__main__':
    main()
