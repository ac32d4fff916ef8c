"""
Rosbag2 bags without rosbag2: open, read, write and copy connections with their definitions.

Built on the pure-Python `rosbags` library (mcap and sqlite3 storage). Messages stay CDR bytes
wherever they are only copied or replayed; only images are deserialized (with rosbags), and the
vision_msgs results are serialized with rclpy, imported where they are. The message definitions
written into a bag come from the installed .msg files, so rosbag2 and rosbags readers decode it.
"""

import contextlib
import functools
from pathlib import Path
import sqlite3
import struct

import apsw
from face_detector_ros.files import atomic_output_dir, share_dir
from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.errors import ReaderError, WriterError
from rosbags.serde import SerdeError
from rosbags.typesys import get_types_from_idl, get_types_from_msg, get_typestore, Stores
from rosbags.typesys.base import TypesysError


class BagError(ValueError):
    """A bag, topic or message type that cannot be used; the message says which and why."""


IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
# What a damaged bag makes rosbags raise besides ReaderError (a garbage length field: MemoryError).
READ_ERRORS = (ReaderError, OSError, EOFError, struct.error, sqlite3.Error, apsw.Error,
               ValueError, KeyError, IndexError, MemoryError, SerdeError, TypesysError,
               AssertionError)


def register_package_types(store, package):
    """Register every message of `package` in a rosbags typestore, from its .msg files."""
    try:
        folder = share_dir(package) / 'msg'
    except FileNotFoundError as error:
        raise BagError(str(error)) from None
    files = sorted(folder.glob('*.msg'))
    if not files:
        raise BagError(f'no .msg files in {folder}')
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
            raise BagError(f'message type {msgtype} not found in its installed package')
    return store


@contextlib.contextmanager
def open_bag(path, differences=None):
    """
    Yield an open rosbags Reader of a rosbag2 directory or a single .mcap / .db3 file.

    Messages are read by topic and type, as rosbag2 reads them, also where metadata.yaml and
    the storage files record different QoS profiles or type hashes (rosbags skips such
    messages); the connections keep metadata.yaml's, which `ros2 bag play` uses too. Each
    such difference is appended to `differences` as (topic, 'QoS profiles' or 'type hash').
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f'bag {path} does not exist')
    try:
        reader = Reader(path)
        reader.open()
    except READ_ERRORS as error:
        raise _damaged(path, error) from None
    try:
        found = _read_by_topic_and_type(reader)
        if differences is not None:
            differences.extend(found)
        yield reader
    finally:
        with contextlib.suppress(*READ_ERRORS):
            reader.close()


def _read_by_topic_and_type(reader):
    """
    Give each storage file's connections the QoS and type hash of metadata.yaml's.

    rosbags yields a storage file's messages only for a metadata.yaml connection equal to the
    file's in QoS profiles and type hash; rosbag2 matches topic names only, and rewritten bags
    (rosbag2's own talker, convert and rewriter test bags) differ there. Returns the
    differences as [(topic, what)]; none for a single storage file (no metadata.yaml).
    """
    files = getattr(reader.storage, 'storages', [])  # rosbags' DirectoryReader only
    differences = []
    for conn in reader.connections:
        for storage in files:
            for index, own in enumerate(storage.connections):
                if (own.topic, own.msgtype) != (conn.topic, conn.msgtype):
                    continue
                qos_differs = own.ext != conn.ext
                hash_differs = bool(own.digest and conn.digest and own.digest != conn.digest)
                if not (qos_differs or hash_differs):
                    continue
                storage.connections[index] = own._replace(ext=conn.ext, digest=conn.digest)
                for what, differs in (('QoS profiles', qos_differs), ('type hash', hash_differs)):
                    if differs and (conn.topic, what) not in differences:
                        differences.append((conn.topic, what))
    return differences


def describe_differences(bag, differences):
    """Return play's and process's note on the (topic, what) pairs open_bag found in `bag`."""
    kinds = {}
    for topic, what in differences:
        kinds.setdefault(what, []).append(topic)
    listed = '; '.join(f'{what} of {", ".join(topics)}' for what, topics in kinds.items())
    return (f'note: metadata.yaml and the storage files of {bag} differ in the {listed}; '
            'messages read by topic and type as rosbag2 reads them')


def read_messages(reader, connections=()):
    """Yield (connection, timestamp ns, CDR bytes) in time order; a damaged bag: BagError."""
    try:
        yield from reader.messages(connections=connections)
    except READ_ERRORS as error:
        raise _damaged(reader.path, error) from None


def _damaged(path, error):
    return BagError(f'cannot read bag {path}: {str(error) or type(error).__name__} '
                    '(truncated or corrupt?)')


def select_connections(reader, topics=None):
    """Return the reader's connections on `topics` (all when None); unknown topics: BagError."""
    if not topics:
        return list(reader.connections)
    missing = sorted(set(topics) - {c.topic for c in reader.connections})
    if missing:
        raise BagError(f'topics not in the bag: {", ".join(missing)}; it has '
                       f'{", ".join(sorted(reader.topics))}')
    return [c for c in reader.connections if c.topic in topics]


def image_connection(reader, topic=None):
    """Return the connection of the image topic: `topic`, or the bag's only image topic."""
    images = {c.topic: c for c in reader.connections if c.msgtype in IMAGE_TYPES}
    if topic is not None:
        if topic not in images:
            raise BagError(f'{topic} is not an Image or CompressedImage topic of the bag; '
                           f'image topics: {", ".join(sorted(images)) or "none"}')
        return images[topic]
    # Overlays this package draws (tracks_image, debug_image) are never the camera.
    cameras = {t: c for t, c in images.items()
               if t.rsplit('/', 1)[-1] not in ('tracks_image', 'debug_image')}
    images = cameras or images
    if not images:
        raise BagError('the bag has no Image or CompressedImage topic (its topics: '
                       f'{", ".join(sorted(reader.topics)) or "none"})')
    if len(images) != 1:
        found = ', '.join(f'{t} ({images[t].msgtype})' for t in sorted(images))
        raise BagError(f'the bag has {len(images)} image topics ({found}); choose one with '
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
            raise BagError(f'cannot write bag {path}: {error}') from None
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
    """
    Add a connection of another bag to `writer`, keeping its definition and QoS.

    A type not installed here is copied with the definition the bag holds; a BagError says so
    when it holds none (sqlite3 bags before schema 4, Iron, store no definitions).
    """
    ext = connection.ext
    qos = getattr(ext, 'offered_qos_profiles', ())
    if not connection.msgdef.data:
        try:
            return add_typed_connection(writer, connection.topic, connection.msgtype, qos)
        except BagError:
            raise BagError(f'message type {connection.msgtype} is not installed and the bag '
                           'holds no definition of it') from None
    # A single .mcap file stores no type hash (nor do bags before metadata version 7).
    digest = connection.digest or definition_hash(connection)
    return writer.add_connection(
        connection.topic, connection.msgtype, msgdef=connection.msgdef.data, rihs01=digest,
        serialization_format=ext.serialization_format, offered_qos_profiles=qos)


def definition_hash(connection):
    """Return the RIHS01 hash of a connection's type: the installed type's, else its own."""
    try:
        return ensure_type(connection.msgtype).hash_rihs01(connection.msgtype)
    except BagError:
        pass
    store = get_typestore(Stores.EMPTY)
    try:
        if connection.msgdef.format == MessageDefinitionFormat.IDL:
            store.register(get_types_from_idl(connection.msgdef.data))
        else:
            store.register(get_types_from_msg(connection.msgdef.data, connection.msgtype))
        return store.hash_rihs01(connection.msgtype)
    except (TypesysError, KeyError, ValueError) as error:
        raise BagError(f'message type {connection.msgtype} is not installed and its '
                       f'definition in the bag cannot be read ({error})') from None


def ros_header(header):
    """Return a std_msgs/Header (ROS message class) equal to a rosbags-deserialized header."""
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header
    return Header(stamp=Time(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
                  frame_id=str(header.frame_id))
