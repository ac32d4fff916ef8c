"""
face-detector-bag on bags in the layouts rosbag2 writes (rosbag2_layouts.py generates them).

Metadata versions 4 to 9, offered_qos_profiles as a string and as a list, sqlite3 and mcap,
split bags, storage files whose QoS differs from metadata.yaml's (rosbags read none of their
messages: play played 0 and exited 0), a type not installed (it aborted play).
"""

import contextlib
import itertools
import os
from pathlib import Path
import sqlite3
import subprocess
import sys

from face_detector_ros.bags.bag_io import open_bag, read_messages, typestore
from face_detector_ros.tools.bag import message_class
from face_detector_ros.tools.cli import CliError
import pytest
from rcl_interfaces.srv import GetParameters_Event
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, QoSProfile
from rclpy.serialization import deserialize_message, serialize_message
from ros_helpers import NodeProcess, spin_until
from rosbag2_layouts import (
    CHATTER,
    CHATTER_TOPIC,
    FRAMES,
    IMAGE_TOPIC,
    LAYOUTS,
    offered_qos,
    UNKNOWN_TOPIC,
    UNKNOWN_TYPE,
    write_layout,
)
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import String
from vision_msgs.msg import Detection2DArray
import yaml

SAMPLE = Path(__file__).resolve().parents[1] / 'data' / 'sample.mcap'
TOOL = [sys.executable, '-m', 'face_detector_ros.tools.bag']
PLAYED = FRAMES + CHATTER
# What rosbag2_storage/yaml.hpp writes for each metadata version, in its order.
FIELDS = ['version', 'storage_identifier', 'duration', 'starting_time', 'message_count',
          'topics_with_message_count', 'compression_format', 'compression_mode',
          'relative_file_paths']
VERSION_FIELDS = {5: 'files', 6: 'custom_data', 8: 'ros_distro'}
TOPIC_FIELDS = ['name', 'type', 'serialization_format', 'offered_qos_profiles']

_domains = itertools.count()


@pytest.fixture(autouse=True)
def ros_domain(monkeypatch):
    """Give each test a ROS_DOMAIN_ID of this module's range, 101-130 (conftest's: 1-100)."""
    domain = 101 + (os.getpid() + next(_domains)) % 30
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
    return domain


def fields(version):
    """Return the metadata.yaml fields rosbag2 writes for `version`, in its order."""
    return FIELDS + [field for since, field in VERSION_FIELDS.items() if version >= since]


def run_tool(*args):
    return subprocess.run([*TOOL, *map(str, args)], capture_output=True, text=True, timeout=120)


def error_lines(stderr):
    """Return the tool's error lines (rcl's own warnings go to stderr too)."""
    assert 'Traceback' not in stderr, stderr
    return [line for line in stderr.splitlines() if ': error: ' in line]


def layouts(*names):
    """Parametrize a test over the layouts named (all without names)."""
    chosen = [layout for layout in LAYOUTS if not names or layout.name in names]
    assert len(chosen) == (len(names) or len(LAYOUTS))
    return pytest.mark.parametrize('layout', chosen, ids=lambda layout: layout.name)


@layouts()
def test_every_layout_is_read_whole_with_metadata_qos(tmp_path, layout):
    bag = tmp_path / layout.name
    rows = write_layout(bag, layout, SAMPLE)
    metadata = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert list(metadata) == fields(layout.version)  # also in rosbag2's order
    topic_fields = TOPIC_FIELDS + (['type_description_hash'] if layout.version >= 7 else [])
    assert all(list(topic['topic_metadata']) == topic_fields
               for topic in metadata['topics_with_message_count'])
    qos_type = list if layout.version >= 9 else str
    assert all(isinstance(topic['topic_metadata']['offered_qos_profiles'], qos_type)
               for topic in metadata['topics_with_message_count'])
    assert len(metadata['relative_file_paths']) == layout.files
    if layout.storage == 'sqlite3':
        expected = {4: 2, 5: 3, 6: 3}.get(layout.version, 4)
        database = bag / metadata['relative_file_paths'][0]
        with contextlib.closing(sqlite3.connect(f'file:{database}?mode=ro', uri=True)) as db:
            tables = {row[0] for row in db.execute(
                'SELECT name FROM sqlite_master WHERE type = ?', ('table',))}
            schema = db.execute('SELECT schema_version FROM schema').fetchone()[0] \
                if 'schema' in tables else 2
        assert schema == expected and ('message_definitions' in tables) == (expected == 4)

    if layout.storage_qos != 'same':  # what rosbags alone makes of them: nothing
        with Reader(bag) as reader:
            assert not list(reader.messages())
    differences = []
    with open_bag(bag, differences) as reader:
        read = [(conn.topic, timestamp, bytes(data))
                for conn, timestamp, data in read_messages(reader)]
        qos = {conn.topic: conn.ext.offered_qos_profiles for conn in reader.connections}
    assert read == rows
    assert qos == offered_qos(layout)
    if layout.storage_qos == 'same':
        assert differences == []
    else:
        assert sorted(differences) == sorted(
            (topic, 'QoS profiles') for topic in (IMAGE_TOPIC, CHATTER_TOPIC, UNKNOWN_TOPIC))


# Each metadata version and QoS disagreement (every layout is read whole above).
@layouts('v4_sqlite3_2files_otherqos', 'v4_mcap_1files_noneqos', 'v5_mcap_2files_otherqos',
         'v8_mcap_3files_sameqos', 'v9_sqlite3_2files_otherqos', 'v9_mcap_2files_sameqos')
def test_play_plays_the_layouts_and_skips_the_unknown_type(ros_node, tmp_path, layout):
    node, executor = ros_node
    bag = tmp_path / layout.name
    rows = write_layout(bag, layout, SAMPLE)
    images, chatter = [], []
    node.create_subscription(CompressedImage, IMAGE_TOPIC, images.append, QoSProfile(depth=50))
    node.create_subscription(String, CHATTER_TOPIC, chatter.append, QoSProfile(depth=50))
    with NodeProcess([*TOOL, 'play', str(bag), '--rate', '5', '--wait-for-subscribers', '1'],
                     tmp_path / 'play.log') as play:
        assert spin_until(executor, lambda: play.process.poll() is not None or
                          len(images) + len(chatter) == PLAYED, 60), play.output()
        assert play.wait(timeout=20) == 0, play.output()
        spin_until(executor, lambda: len(images) + len(chatter) == PLAYED, 5)
    output = play.output()
    assert f'played {PLAYED} messages on 2 topics' in output, output
    # Skipped with one line naming topic and type (it aborted the whole play).
    assert output.count(f'warning: skipping {UNKNOWN_TOPIC}: message type {UNKNOWN_TYPE} is '
                        'not installed') == 1, output
    notes = [line for line in output.splitlines() if line.startswith('note: ')]
    if layout.storage_qos == 'same':
        assert notes == [], output
    else:
        assert notes == [f'note: metadata.yaml and the storage files of {bag} differ in the '
                         f'QoS profiles of {IMAGE_TOPIC}, {CHATTER_TOPIC}; messages read by '
                         'topic and type as rosbag2 reads them, published reliable, depth 10 '
                         '(--qos)'], output
    # Equal messages, in order (CDR padding bytes may differ once re-serialized).
    for received, topic, msgtype in ((images, IMAGE_TOPIC, CompressedImage),
                                     (chatter, CHATTER_TOPIC, String)):
        assert received == [deserialize_message(data, msgtype)
                            for name, _, data in rows if name == topic]


def test_message_classes_of_service_events_and_bad_type_names():
    # Service event topics (rosbag2 records them since Jazzy) were looked up in pkg.msg, and a
    # type name without two slashes was a ValueError traceback.
    assert message_class('rcl_interfaces/srv/GetParameters_Event') is GetParameters_Event
    with pytest.raises(CliError, match="'std_msgs/String' is not of the form package/msg/Name"):
        message_class('std_msgs/String')


def edited_bag(tmp_path, name, old, new):
    """Return a v8 sqlite3 bag whose metadata.yaml has `old` replaced by `new`."""
    bag = tmp_path / name
    write_layout(bag, next(layout for layout in LAYOUTS if layout.version == 8), SAMPLE)
    metadata = bag / 'metadata.yaml'
    assert old in metadata.read_text()
    metadata.write_text(metadata.read_text().replace(old, new))
    return bag


def test_a_type_hash_that_differs_is_read_by_topic_and_type(tmp_path):
    store = typestore()
    bag = edited_bag(tmp_path, 'hash', store.hash_rihs01('std_msgs/msg/String'),
                     store.hash_rihs01('std_msgs/msg/Header'))
    differences = []
    with open_bag(bag, differences) as reader:
        chatter = [data for conn, _, data in read_messages(reader) if conn.topic == CHATTER_TOPIC]
    assert differences == [(CHATTER_TOPIC, 'type hash')] and len(chatter) == CHATTER


def test_play_and_process_never_report_success_on_no_messages(tmp_path):
    # metadata.yaml names topics that no storage file holds (say, edited by hand).
    bag = edited_bag(tmp_path, 'renamed', f'name: {CHATTER_TOPIC}\n', 'name: /renamed\n')
    result = run_tool('play', bag, '--topics', '/renamed')
    assert result.returncode == 2, result.stdout + result.stderr
    [error] = error_lines(result.stderr)
    assert error.endswith(f': error: played none of the 4 messages that {bag} lists on the '
                          'played topics'), result.stderr
    assert 'played 0' not in result.stdout

    result = run_tool('play', bag, '--topics', UNKNOWN_TOPIC)
    assert result.returncode == 2
    [error] = error_lines(result.stderr)
    assert error.endswith(': error: none of the topics can be played: their message types are '
                          'not installed'), result.stderr
    assert f'warning: skipping {UNKNOWN_TOPIC}: message type {UNKNOWN_TYPE}' in result.stderr

    bag = edited_bag(tmp_path, 'images', f'name: {IMAGE_TOPIC}\n', 'name: /renamed/image\n')
    result = run_tool('process', bag, tmp_path / 'out', '--device', 'CPU')
    assert result.returncode == 2 and not (tmp_path / 'out').exists()
    [error] = error_lines(result.stderr)
    assert error.endswith(f': error: read none of the {FRAMES} images that {bag} lists on '
                          '/renamed/image'), result.stderr


@layouts('v4_sqlite3_2files_otherqos', 'v5_mcap_2files_otherqos', 'v9_mcap_2files_sameqos')
def test_process_copies_what_it_can_of_the_layouts(tmp_path, layout):
    """v4 sqlite3 holds no definitions, v5 mcap no type hashes, v9 mcap both."""
    bag, out = tmp_path / layout.name, tmp_path / 'out'
    rows = write_layout(bag, layout, SAMPLE)
    result = run_tool('process', bag, out, '--device', 'CPU')
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(f'{FRAMES} images on {IMAGE_TOPIC}: ')
    notes = [line for line in result.stdout.splitlines() if line.startswith('note: ')]
    assert len(notes) == (layout.storage_qos != 'same'), result.stdout
    with open_bag(out) as reader:
        copied = [(conn.topic, timestamp, bytes(data))
                  for conn, timestamp, data in read_messages(reader)
                  if conn.topic in (IMAGE_TOPIC, CHATTER_TOPIC, UNKNOWN_TOPIC)]
        tracks = [deserialize_message(bytes(data), Detection2DArray)
                  for conn, _, data in read_messages(reader) if conn.topic == '/camera/tracks']
        qos = {conn.topic: conn.ext.offered_qos_profiles for conn in reader.connections}
    definitions = layout.version >= 7 or layout.storage == 'mcap'
    skipped = f'warning: {UNKNOWN_TOPIC} is not copied to the output: message type ' \
        f'{UNKNOWN_TYPE} is not installed and the bag holds no definition of it'
    assert (skipped in result.stderr) == (not definitions), result.stderr
    assert copied == [row for row in rows if definitions or row[0] != UNKNOWN_TOPIC]
    assert len(tracks) == FRAMES
    recorded = offered_qos(layout)
    assert all(qos[topic] == recorded[topic] for topic in qos if topic in recorded)
    if definitions:  # the type not installed keeps its definition and hash
        with open_bag(bag) as source, open_bag(out) as output:
            before = next(c for c in source.connections if c.topic == UNKNOWN_TOPIC)
            after = next(c for c in output.connections if c.topic == UNKNOWN_TOPIC)
            assert after.msgdef == before.msgdef or not before.msgdef.data
            assert after.digest.startswith('RIHS01_')


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_record_from_a_live_publisher_writes_rosbag2s_layout(ros_node, tmp_path, storage):
    node, executor = ros_node
    images = node.create_publisher(CompressedImage, IMAGE_TOPIC, QoSProfile(depth=5))
    latched = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    chatter = node.create_publisher(String, CHATTER_TOPIC, latched)
    with Reader(SAMPLE) as reader:
        frames = [bytes(data) for conn, _, data in reader.messages()
                  if conn.topic == IMAGE_TOPIC][:FRAMES]
    texts = [bytes(serialize_message(String(data=f'hello {index}'))) for index in range(CHATTER)]
    out = tmp_path / 'recorded'
    with NodeProcess([*TOOL, 'record', str(out), '--storage', storage, '--topics', IMAGE_TOPIC,
                      CHATTER_TOPIC, '--max-messages', str(PLAYED)],
                     tmp_path / 'record.log') as recorder:
        assert spin_until(executor, lambda: recorder.output().count('recording ') == 2 or
                          recorder.process.poll() is not None, 30), recorder.output()
        assert spin_until(executor, lambda: images.get_subscription_count() == 1 and
                          chatter.get_subscription_count() == 1, 10), recorder.output()
        for frame in frames:
            images.publish(deserialize_message(frame, CompressedImage))
        for text in texts:
            chatter.publish(deserialize_message(text, String))
        for publisher in (images, chatter):
            assert publisher.wait_for_all_acked(Duration(seconds=10))
        assert recorder.wait(timeout=20) == 0, recorder.output()

    metadata = yaml.safe_load((out / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    # rosbags sorts the fields: the same set as rosbag2's.
    assert sorted(metadata) == sorted(fields(9)) and metadata['version'] == 9
    assert metadata['storage_identifier'] == storage
    name = f'recorded.{"db3" if storage == "sqlite3" else "mcap"}'
    assert metadata['relative_file_paths'] == [name] and (out / name).is_file()
    assert [entry['path'] for entry in metadata['files']] == [name]
    topics = {topic['topic_metadata']['name']: topic for topic in
              metadata['topics_with_message_count']}
    assert {topic: topics[topic]['message_count'] for topic in topics} == {
        IMAGE_TOPIC: FRAMES, CHATTER_TOPIC: CHATTER}
    store = typestore()
    for topic, durability in ((IMAGE_TOPIC, 'volatile'), (CHATTER_TOPIC, 'transient_local')):
        info = topics[topic]['topic_metadata']
        assert sorted(info) == sorted(TOPIC_FIELDS + ['type_description_hash'])
        assert info['type_description_hash'] == store.hash_rihs01(info['type'])
        # The publisher's offer, as rosbag2 records it (it was an empty list).
        [offer] = info['offered_qos_profiles']
        assert (offer['reliability'], offer['durability']) == ('reliable', durability)

    classes = {IMAGE_TOPIC: CompressedImage, CHATTER_TOPIC: String}
    with open_bag(out) as reader:
        read = {}
        for conn, _, data in read_messages(reader):
            read.setdefault(conn.topic, []).append(deserialize_message(bytes(data),
                                                                       classes[conn.topic]))
    assert read == {topic: [deserialize_message(data, classes[topic]) for data in sent]
                    for topic, sent in ((IMAGE_TOPIC, frames), (CHATTER_TOPIC, texts))}
