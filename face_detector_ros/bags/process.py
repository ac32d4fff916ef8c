"""
The detector and the tracker run over a bag, deterministically, into a new bag.

Parameters come from the nodes' sections of a ROS parameters file, read as rcl reads them.
"""

import contextlib
from pathlib import Path
import time

from face_detector_ros.bags.bag_io import (
    add_typed_connection,
    bag_writer,
    BagError,
    copy_connection,
    image_connection,
    open_bag,
    READ_ERRORS,
    read_messages,
    ros_header,
    sibling_topic,
    typestore,
)
from face_detector_ros.detection.drawing import draw_tracks
from face_detector_ros.detection.engine import InferenceEngine
from face_detector_ros.evaluation.mot import rows_from_tracks, write_mot
from face_detector_ros.files import atomic_output_file, default_params_file
from face_detector_ros.ros.images import ImageConversionError, numpy_to_image, to_bgr8
from face_detector_ros.ros.messages import detections_to_array, tracks_to_array
from face_detector_ros.ros.stamps import stamp_to_seconds
from face_detector_ros.tracking.tracker import CentroidTracker
import numpy as np
from tqdm import tqdm
import yaml

DETECTIONS_TYPE = 'vision_msgs/msg/Detection2DArray'


def node_parameters(params_file, node_name):
    """
    Return the ros__parameters a node named `node_name` gets from a ROS parameters YAML file.

    As rcl matches them for a node in the root namespace: `/**` first, then `/**/name`, then
    `name` or `/name`, later ones overriding. {} when nothing matches.
    """
    try:
        document = yaml.safe_load(Path(params_file).read_text(encoding='utf-8')) or {}
    except yaml.YAMLError as error:
        raise BagError(f'cannot parse parameters file {params_file}: {error}') from None
    except UnicodeDecodeError as error:
        raise BagError(f'parameters file {params_file} is not a text YAML file '
                       f'({error.reason} at byte {error.start})') from None
    values = {}
    for key in ('/**', f'/**/{node_name}', node_name, f'/{node_name}'):
        values.update((document.get(key) or {}).get('ros__parameters', {}))
    return values


class ProcessSummary:
    """Counts of a `process_bag` run and its tracks as MOTChallenge rows."""

    def __init__(self, image_topic):
        """Start empty."""
        self.image_topic = image_topic
        self.frames = 0
        self.detections = 0
        self.skipped = []      # (image number, reason) of images that could not be decoded
        self.replaced = []     # result topics of an earlier run, not copied from the input
        self.not_copied = []   # (topic, reason): input topics the output cannot hold
        self.differences = []  # (topic, what) metadata.yaml and the storage files disagree on
        self.track_rows = []
        self.seconds = 0.0

    @property
    def ids(self):
        """Return the distinct track ids, in order of appearance."""
        return list(dict.fromkeys(int(row[1]) for rows in self.track_rows for row in rows))

    def mot_rows(self):
        """Return the tracks as (N, 7) MOT rows: frame (1-based), id, left, top, w, h, score."""
        return np.concatenate(self.track_rows) if self.track_rows else np.empty((0, 7))


def bag_engine(params_file=None, model=None, device=None, threads=None):
    """
    Return the detector's InferenceEngine of `params_file`, `model` and `device` overriding.

    `threads` replaces the file's `threads` where that is 0 (OpenVINO decides).
    """
    params = node_parameters(Path(params_file or default_params_file()), 'face_detector')
    return InferenceEngine.from_parameters(
        {**params, 'model': model, 'device': device, 'threads': params.get('threads') or threads})


def process_bag(source, output, image_topic=None, params_file=None, model=None, device=None,
                annotate=False, storage='mcap', mot=None, progress=True, strict=False,
                engine=None):
    """
    Run the detector and the tracker over every image of a bag; write a new bag.

    The new bag holds every input message unchanged, plus Detection2DArray messages on
    <namespace>/detections and <namespace>/tracks (Detection2D.id = track id) with the image
    headers, written at the image's timestamp, and with `annotate` bgr8 <namespace>/tracks_image.
    Parameters come from the detector's and tracker's sections of `params_file`. With `mot`, the
    tracks also go to that MOTChallenge file, written only if the bag is. An image that cannot be
    decoded is copied, skipped and counted (`strict`: BagError instead). Result topics already in
    the input (a bag this function wrote) are replaced, not copied; a topic of a type neither
    installed nor defined in the bag cannot be, and is left out. `engine`: an engine of
    bag_engine() to use, instead of loading one (`model` and `device` are then unused); the
    tracker is always new. Returns a ProcessSummary.
    """
    # vision_msgs have no rosbags serializer without a field-by-field copy; rclpy's does it.
    from rclpy.serialization import serialize_message

    params_file = Path(params_file or default_params_file())
    store = typestore()
    differences = []
    with open_bag(source, differences) as reader:
        images = image_connection(reader, image_topic)
        engine = engine or bag_engine(params_file, model, device)
        tracker = CentroidTracker.from_parameters(node_parameters(params_file, 'face_tracker'))
        summary = ProcessSummary(images.topic)
        summary.differences = differences
        started = time.perf_counter()
        with bag_writer(output, storage) as writer, \
                (atomic_output_file(mot) if mot else contextlib.nullcontext()) as mot_file:
            names = ('detections', 'tracks', 'tracks_image') if annotate else \
                ('detections', 'tracks')
            result_topics = {sibling_topic(images.topic, name) for name in names}
            summary.replaced = sorted({conn.topic for conn in reader.connections
                                       if conn.topic in result_topics})
            outputs = {}
            for conn in reader.connections:
                if conn.topic in result_topics:
                    continue
                try:
                    outputs[conn.id] = copy_connection(writer, conn)
                except BagError as error:
                    summary.not_copied.append((conn.topic, str(error)))
            results = {name: add_typed_connection(
                writer, sibling_topic(images.topic, name),
                'sensor_msgs/msg/Image' if name == 'tracks_image' else DETECTIONS_TYPE)
                for name in names}
            number = 0
            for conn, timestamp, data in tqdm(read_messages(reader), total=reader.message_count,
                                              unit='msg', disable=not progress, leave=False):
                if conn.id not in outputs:
                    continue  # an earlier run's results, or a topic the output cannot hold
                writer.write(outputs[conn.id], timestamp, data)
                if conn.topic != images.topic:
                    continue
                number += 1
                try:
                    msg = store.deserialize_cdr(data, conn.msgtype)
                    image = to_bgr8(msg)
                except (ImageConversionError, *READ_ERRORS) as error:
                    if strict:
                        raise BagError(f'image {number} on {images.topic} cannot be '
                                       f'decoded: {error}') from None
                    summary.skipped.append((number, str(error)))
                    continue
                found = engine.detect(image)
                labels = [engine.labels[i] for i in found.class_ids]
                tracks = tracker.update(found.boxes, found.scores, labels,
                                        stamp_to_seconds(msg.header.stamp))
                header = ros_header(msg.header)
                messages = {'detections': detections_to_array(header, found, engine.labels),
                            'tracks': tracks_to_array(header, tracks)}
                if annotate:
                    overlay = draw_tracks(image, tracks)
                    messages['tracks_image'] = numpy_to_image(overlay, 'bgr8', header=header)
                for name, message in messages.items():
                    writer.write(results[name], timestamp, serialize_message(message))
                summary.frames += 1
                summary.detections += len(found)
                summary.track_rows.append(rows_from_tracks(number, tracks))
            if number == 0 and images.msgcount:
                # No output that looks like success from a bag whose images were not read.
                raise BagError(f'read none of the {images.msgcount} images that {source} lists '
                               f'on {images.topic}')
            if mot_file is not None:
                write_mot(mot_file, summary.mot_rows())
        summary.seconds = time.perf_counter() - started
    return summary
