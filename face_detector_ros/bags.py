"""
Rosbag2 bags without rosbag2: reading, writing, and the detector and tracker run over a bag.

Built on the pure-Python `rosbags` library (mcap and sqlite3 storage). Messages stay CDR bytes
wherever they are only copied or replayed; only images are deserialized (with rosbags), and the
vision_msgs results are serialized with rclpy, imported where they are. The message definitions
written into a bag come from the installed .msg files, so rosbag2 and rosbags readers decode it.
"""

import contextlib
import functools
import importlib.util
from pathlib import Path
import sqlite3
import struct
import time

import apsw
from face_detector_ros.cli import atomic_output_dir, atomic_output_file, CliError
from face_detector_ros.drawing import draw_detections
from face_detector_ros.engine import InferenceEngine
from face_detector_ros.image_conversion import ImageConversionError, numpy_to_image, to_bgr8
from face_detector_ros.messages import boxes_to_detection_array
from face_detector_ros.mot import rows_from_boxes, write_mot
from face_detector_ros.paths import default_params_file
from face_detector_ros.tracking import CentroidTracker
import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.errors import ReaderError, WriterError
from rosbags.serde import SerdeError
from rosbags.typesys import get_types_from_msg, get_typestore, Stores
from rosbags.typesys.base import TypesysError
from tqdm import tqdm
import yaml

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
DETECTIONS_TYPE = 'vision_msgs/msg/Detection2DArray'
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
# What a damaged bag makes rosbags raise besides ReaderError (a garbage length field: MemoryError).
_READ_ERRORS = (ReaderError, OSError, EOFError, struct.error, sqlite3.Error, apsw.Error,
                ValueError, KeyError, IndexError, MemoryError, SerdeError, TypesysError,
                AssertionError)


def package_share(package):
    """
    Return share/<package> of an installed ROS package.

    Through ament_index when the environment is sourced, else found beside the package's Python
    module (a venv with the PyPI ROS wheels sets no AMENT_PREFIX_PATH).
    """
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(package))
    except (ImportError, LookupError, OSError):
        pass
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.origin:
        for parent in Path(spec.origin).parents:
            if (parent / 'share' / package / 'package.xml').is_file():
                return parent / 'share' / package
    raise CliError(f'ROS package {package} is not installed (no share/{package} found); '
                   'source your ROS environment')


def register_package_types(store, package):
    """Register every message of `package` in a rosbags typestore, from its .msg files."""
    files = sorted((package_share(package) / 'msg').glob('*.msg'))
    if not files:
        raise CliError(f'no .msg files in {package_share(package) / "msg"}')
    types = {}
    for path in files:
        types.update(get_types_from_msg(path.read_text(), f'{package}/msg/{path.stem}'))
    store.register(types)


@functools.lru_cache(maxsize=1)
def typestore():
    """Return the rosbags typestore: ROS 2 Jazzy's types plus the installed vision_msgs."""
    store = get_typestore(Stores.ROS2_JAZZY)
    register_package_types(store, 'vision_msgs')
    return store


def ensure_type(msgtype):
    """Make `msgtype` ('pkg/msg/Name') known to the typestore, from its installed package."""
    store = typestore()
    if msgtype not in store.types:
        register_package_types(store, msgtype.split('/')[0])
        if msgtype not in store.types:
            raise CliError(f'message type {msgtype} not found in its installed package')
    return store


@contextlib.contextmanager
def open_bag(path):
    """Yield an open rosbags Reader of a rosbag2 directory or a single .mcap / .db3 file."""
    path = Path(path)
    if not path.exists():
        raise CliError(f'bag {path} does not exist')
    try:
        reader = Reader(path)
        reader.open()
    except _READ_ERRORS as error:
        raise _damaged(path, error) from None
    try:
        yield reader
    finally:
        with contextlib.suppress(*_READ_ERRORS):
            reader.close()


def read_messages(reader, connections=()):
    """Yield (connection, timestamp ns, CDR bytes) in time order; a damaged bag: CliError."""
    try:
        yield from reader.messages(connections=connections)
    except _READ_ERRORS as error:
        raise _damaged(reader.path, error) from None


def _damaged(path, error):
    return CliError(f'cannot read bag {path}: {str(error) or type(error).__name__} '
                    '(truncated or corrupt?)')


def select_connections(reader, topics=None):
    """Return the reader's connections on `topics` (all when None); unknown topics: CliError."""
    if not topics:
        return list(reader.connections)
    missing = sorted(set(topics) - {c.topic for c in reader.connections})
    if missing:
        raise CliError(f'topics not in the bag: {", ".join(missing)}; it has '
                       f'{", ".join(sorted(reader.topics))}')
    return [c for c in reader.connections if c.topic in topics]


def image_connection(reader, topic=None):
    """Return the connection of the image topic: `topic`, or the bag's only image topic."""
    images = {c.topic: c for c in reader.connections if c.msgtype in IMAGE_TYPES}
    if topic is not None:
        if topic not in images:
            raise CliError(f'{topic} is not an Image or CompressedImage topic of the bag; '
                           f'image topics: {", ".join(sorted(images)) or "none"}')
        return images[topic]
    if len(images) != 1:
        found = ', '.join(f'{t} ({images[t].msgtype})' for t in sorted(images)) or 'none'
        raise CliError(f'the bag has {len(images)} image topics ({found}); choose one with '
                       '--image-topic')
    return next(iter(images.values()))


def sibling_topic(image_topic, name):
    """
    Return topic `name` in the namespace of an image topic, as the nodes publish it.

    /camera/image_raw -> /camera/<name>; an image_transport topic such as
    /camera/image_raw/compressed belongs to /camera/image_raw, so it also gives /camera/<name>.
    """
    base = image_topic
    for suffix in ('/compressed', '/theora', '/zstd'):
        base = base.removesuffix(suffix)
    namespace = base.rsplit('/', 1)[0]
    return f'{namespace}/{name}'


@contextlib.contextmanager
def bag_writer(path, storage='mcap'):
    """
    Yield an open rosbags Writer whose bag appears at `path` only once it is complete.

    The bag is written in a temporary sibling and renamed into place after the writer closed,
    so its storage file is named after `path` as rosbag2 names it.
    """
    path = Path(path)
    with atomic_output_dir(path) as staging:
        inner = Path(staging) / path.name
        try:
            writer = Writer(inner, version=Writer.VERSION_LATEST,
                            storage_plugin=STORAGES[storage])
            writer.open()
        except WriterError as error:
            raise CliError(f'cannot write bag {path}: {error}') from None
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.close()
        for item in inner.iterdir():
            item.rename(Path(staging) / item.name)
        inner.rmdir()


def add_typed_connection(writer, topic, msgtype, qos=()):
    """Add a connection whose definition and type hash come from the installed messages."""
    return writer.add_connection(topic, msgtype, typestore=ensure_type(msgtype),
                                 offered_qos_profiles=qos)


def copy_connection(writer, connection):
    """Add a connection of another bag to `writer`, keeping its definition and QoS."""
    ext = connection.ext
    qos = getattr(ext, 'offered_qos_profiles', ())
    if not connection.msgdef.data:
        return add_typed_connection(writer, connection.topic, connection.msgtype, qos)
    # A single .mcap file stores no type hash: take the installed type's.
    digest = connection.digest or ensure_type(connection.msgtype).hash_rihs01(connection.msgtype)
    return writer.add_connection(
        connection.topic, connection.msgtype, msgdef=connection.msgdef.data, rihs01=digest,
        serialization_format=ext.serialization_format, offered_qos_profiles=qos)


def node_parameters(params_file, node_name):
    """
    Return the ros__parameters a node named `node_name` gets from a ROS parameters YAML file.

    As rcl matches them for a node in the root namespace: `/**` first, then `/**/name`, then
    `name` or `/name`, later ones overriding. {} when nothing matches.
    """
    try:
        document = yaml.safe_load(Path(params_file).read_text()) or {}
    except yaml.YAMLError as error:
        raise CliError(f'cannot parse parameters file {params_file}: {error}') from None
    values = {}
    for key in ('/**', f'/**/{node_name}', node_name, f'/{node_name}'):
        values.update((document.get(key) or {}).get('ros__parameters', {}))
    return values


def make_engine(params, model=None, device=None):
    """Build the inference engine as detector_node does from its parameters."""
    engine = InferenceEngine(model or params.get('model', 'blazeface_short_range'),
                             device=device or params.get('device', 'CPU'),
                             precision=params.get('precision', 'f32'),
                             threads=params.get('threads', 0))
    engine.set_thresholds(params.get('score_threshold', -1.0), params.get('nms_iou', -1.0),
                          params.get('max_detections'))
    return engine


def make_tracker(params):
    """Build the tracker as tracker_node does from its parameters."""
    return CentroidTracker.from_parameters(params)


def stamp_seconds(header):
    """Return a header's stamp in seconds."""
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def ros_header(header):
    """Return a std_msgs/Header (ROS message class) equal to a rosbags-deserialized header."""
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header
    return Header(stamp=Time(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
                  frame_id=str(header.frame_id))


class ProcessSummary:
    """Counts of a `process_bag` run and its tracks as MOTChallenge rows."""

    def __init__(self, image_topic):
        """Start empty."""
        self.image_topic = image_topic
        self.frames = 0
        self.detections = 0
        self.track_rows = []
        self.seconds = 0.0

    @property
    def ids(self):
        """Return the distinct track ids, in order of appearance."""
        return list(dict.fromkeys(int(row[1]) for rows in self.track_rows for row in rows))

    def mot_rows(self):
        """Return the tracks as (N, 7) MOT rows: frame (1-based), id, left, top, w, h, score."""
        return np.concatenate(self.track_rows) if self.track_rows else np.empty((0, 7))


def process_bag(source, output, image_topic=None, params_file=None, model=None, device=None,
                annotate=False, storage='mcap', mot=None, progress=True):
    """
    Run the detector and the tracker over every image of a bag; write a new bag.

    The new bag holds every input message unchanged, plus Detection2DArray messages on
    <namespace>/detections and <namespace>/tracks (Detection2D.id = track id) with the image
    headers, written at the image's timestamp, and with `annotate` bgr8 <namespace>/tracks_image.
    Parameters come from the detector's and tracker's sections of `params_file`. With `mot`, the
    tracks also go to that MOTChallenge file, written only if the bag is. Returns a
    ProcessSummary.
    """
    # vision_msgs have no rosbags serializer without a field-by-field copy; rclpy's does it.
    from rclpy.serialization import serialize_message

    params_file = Path(params_file or default_params_file())
    store = typestore()
    with open_bag(source) as reader:
        images = image_connection(reader, image_topic)
        engine = make_engine(node_parameters(params_file, 'face_detector'), model, device)
        tracker = make_tracker(node_parameters(params_file, 'face_tracker'))
        summary = ProcessSummary(images.topic)
        started = time.perf_counter()
        with bag_writer(output, storage) as writer, \
                (atomic_output_file(mot) if mot else contextlib.nullcontext()) as mot_file:
            outputs = {conn.id: copy_connection(writer, conn) for conn in reader.connections}
            results = {name: add_typed_connection(writer, sibling_topic(images.topic, name),
                                                  DETECTIONS_TYPE)
                       for name in ('detections', 'tracks')}
            if annotate:
                results['tracks_image'] = add_typed_connection(
                    writer, sibling_topic(images.topic, 'tracks_image'),
                    'sensor_msgs/msg/Image')
            for conn, timestamp, data in tqdm(read_messages(reader), total=reader.message_count,
                                              unit='msg', disable=not progress, leave=False):
                writer.write(outputs[conn.id], timestamp, data)
                if conn.topic != images.topic:
                    continue
                try:
                    msg = store.deserialize_cdr(data, conn.msgtype)
                    image = to_bgr8(msg)
                except (ImageConversionError, *_READ_ERRORS) as error:
                    raise CliError(f'image {summary.frames + 1} on {images.topic} cannot be '
                                   f'decoded: {error}') from None
                found = engine.detect(image)
                labels = [engine.labels[i] for i in found.class_ids]
                tracks = tracker.update(found.boxes, found.scores, labels,
                                        stamp_seconds(msg.header))
                header = ros_header(msg.header)
                boxes = [t.box for t in tracks]
                scores = [t.score for t in tracks]
                track_labels = [t.label for t in tracks]
                ids = [t.id for t in tracks]
                messages = {
                    'detections': boxes_to_detection_array(header, found.boxes, found.scores,
                                                           labels),
                    'tracks': boxes_to_detection_array(header, boxes, scores, track_labels,
                                                       ids=ids)}
                if annotate:
                    overlay = draw_detections(image, boxes, track_labels, scores, ids=ids)
                    messages['tracks_image'] = numpy_to_image(overlay, 'bgr8', header=header)
                for name, message in messages.items():
                    writer.write(results[name], timestamp, serialize_message(message))
                summary.frames += 1
                summary.detections += len(found)
                summary.track_rows.append(rows_from_boxes(
                    summary.frames, [int(i) for i in ids], boxes, scores))
            if mot_file is not None:
                write_mot(mot_file, summary.mot_rows())
        summary.seconds = time.perf_counter() - started
    return summary
