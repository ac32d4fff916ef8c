"""face-detector-bag end to end: process vs reviewed tracks, play, record, the live pipeline."""

import hashlib
import json
from pathlib import Path
import re
import signal
import subprocess
import sys
import time

from face_detector_ros.bags.bag_io import (
    add_typed_connection,
    bag_writer,
    BagError,
    copy_connection,
    image_connection,
    open_bag,
    read_messages,
    sibling_topic,
    typestore,
)
from face_detector_ros.bags.process import node_parameters
from face_detector_ros.files import share_dir
from face_detector_ros.ros.messages import detection_array_to_boxes
from face_detector_ros.tools.bag import message_class
import numpy as np
import pytest
from rclpy.duration import Duration
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from ros_helpers import executable, NodeProcess, spin_until
from rosbags.rosbag2 import Reader
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import String
from vision_msgs.msg import Detection2DArray

DATA = Path(__file__).resolve().parents[1] / 'data'
SAMPLE = DATA / 'sample.mcap'
EXPECTED = DATA / 'sample_expected_tracks.txt'
IMAGE_TOPIC = '/camera/image_raw/compressed'
FRAMES = 30
TOOL = [sys.executable, '-m', 'face_detector_ros.tools.bag']


def run_tool(*args):
    return subprocess.run([*TOOL, *map(str, args)], capture_output=True, text=True, timeout=60)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_bag(path):
    """Return {topic: [(timestamp, bytes)]} and {topic: connection} of a bag."""
    messages, connections = {}, {}
    with Reader(path) as reader:
        for conn in reader.connections:
            connections[conn.topic] = conn
        for conn, timestamp, data in reader.messages():
            messages.setdefault(conn.topic, []).append((timestamp, bytes(data)))
    return messages, connections


def image_headers():
    """Return the (sec, nanosec, frame_id) of the sample's images, in order."""
    store = typestore()
    messages, connections = read_bag(SAMPLE)
    msgtype = connections[IMAGE_TOPIC].msgtype
    headers = [store.deserialize_cdr(data, msgtype).header for _, data in messages[IMAGE_TOPIC]]
    return [(h.stamp.sec, h.stamp.nanosec, h.frame_id) for h in headers]


def assert_tracks_match(rows, expected):
    """Assert MOT rows equal the expected ones: same frames and ids, boxes within 0.5 px."""
    rows, expected = np.asarray(rows), np.asarray(expected)
    assert rows.shape == expected.shape
    np.testing.assert_array_equal(rows[:, :2], expected[:, :2])
    np.testing.assert_allclose(rows[:, 2:6], expected[:, 2:6], atol=0.5)


def tracks_to_mot(arrays, frame_of):
    """Return MOT rows (frame, id, left, top, w, h) of Detection2DArray tracks messages."""
    rows = []
    for array in arrays:
        boxes, _, _, ids = detection_array_to_boxes(array)
        frame = frame_of[(array.header.stamp.sec, array.header.stamp.nanosec)]
        for track_id, (x1, y1, x2, y2) in zip(ids, boxes):
            rows.append((frame, int(track_id), x1, y1, x2 - x1, y2 - y1))
    return sorted(rows)


def write_image_bag(path, topics):
    """Write a bag with one empty message per {topic: msgtype}."""
    with bag_writer(path) as writer:
        for topic, msgtype in topics.items():
            conn = add_typed_connection(writer, topic, msgtype)
            writer.write(conn, 1, serialize_message(message_class(msgtype)()))


def test_process_matches_reviewed_tracks(tmp_path):
    before = sha256(SAMPLE)
    out, mot = tmp_path / 'out', tmp_path / 'tracks.txt'
    result = run_tool('process', SAMPLE, out, '--mot', mot)
    assert result.returncode == 0, result.stderr
    assert 'track ids [1, 2, 3]' in result.stdout
    assert sha256(SAMPLE) == before
    expected = np.loadtxt(EXPECTED, delimiter=',')
    assert_tracks_match(np.loadtxt(mot, delimiter=','), expected)

    # The bag: input copied byte for byte, results with the image headers and ids.
    messages, connections = read_bag(out)
    source, _ = read_bag(SAMPLE)
    for topic, recorded in source.items():
        assert messages[topic] == recorded
    headers = image_headers()
    frame_of = {(sec, nanosec): index + 1 for index, (sec, nanosec, _) in enumerate(headers)}
    tracks = [deserialize_message(data, Detection2DArray)
              for _, data in messages['/camera/tracks']]
    detections = [deserialize_message(data, Detection2DArray)
                  for _, data in messages['/camera/detections']]
    assert len(tracks) == len(detections) == FRAMES
    for array in tracks + detections:
        assert array.header.frame_id == 'camera_optical_frame'
        assert all(d.header == array.header for d in array.detections)
    assert [t for t, _ in messages['/camera/tracks']] == [t for t, _ in messages[IMAGE_TOPIC]]
    assert_tracks_match(tracks_to_mot(tracks, frame_of), expected[:, :6])
    # Definitions from the installed vision_msgs: the hash rosbag2 readers check.
    share = share_dir('vision_msgs') / 'msg' / 'Detection2DArray.json'
    hashes = {h['type_name']: h['hash_string']
              for h in json.loads(share.read_text())['type_hashes']}
    assert connections['/camera/tracks'].digest == hashes['vision_msgs/msg/Detection2DArray']
    assert 'MSG: vision_msgs/Detection2D' in connections['/camera/tracks'].msgdef.data


def test_parameters_come_from_the_yaml_as_the_nodes_get_them(tmp_path):
    shipped = node_parameters(DATA.parent.parent / 'config' / 'face_detector.yaml',
                              'face_detector')
    assert shipped['model'] == 'retinaface' and shipped['max_detections'] == 100
    params = tmp_path / 'params.yaml'
    params.write_text('/**:\n  ros__parameters: {max_age: 9.0}\n'
                      '/**/face_tracker:\n  ros__parameters: {min_hits: 5, max_age: 2.0}\n'
                      'face_tracker:\n  ros__parameters: {min_hits: 7}\n')
    assert node_parameters(params, 'face_tracker') == {'max_age': 2.0, 'min_hits': 7}
    assert node_parameters(params, 'face_detector') == {'max_age': 9.0}
    params.write_bytes(b'\xff\xfe\x00 binary')  # was a bare UTF-8 error
    with pytest.raises(BagError, match=f'parameters file {params} is not a text YAML file'):
        node_parameters(params, 'face_tracker')


def test_image_topic_found_or_error_lists_candidates(tmp_path):
    bag = tmp_path / 'two'
    write_image_bag(bag, {'/left/image_raw': 'sensor_msgs/msg/Image',
                          '/right/image_raw/compressed': 'sensor_msgs/msg/CompressedImage',
                          '/chatter': 'std_msgs/msg/String'})
    with open_bag(bag) as reader:
        with pytest.raises(BagError, match='2 image topics.*/left/image_raw.*/right/'):
            image_connection(reader)
        assert image_connection(reader, '/left/image_raw').topic == '/left/image_raw'
        with pytest.raises(BagError, match='/chatter is not an Image'):
            image_connection(reader, '/chatter')
    single = tmp_path / 'one'
    write_image_bag(single, {'/cam/image': 'sensor_msgs/msg/Image'})
    with open_bag(single) as reader:
        assert image_connection(reader).topic == '/cam/image'
    none = tmp_path / 'none'
    write_image_bag(none, {'/chatter': 'std_msgs/msg/String'})
    with open_bag(none) as reader:  # it said "choose one with --image-topic"
        with pytest.raises(BagError, match=r'no Image or CompressedImage topic \(its topics: '
                           r'/chatter\)'):
            image_connection(reader)

    result = run_tool('process', bag, tmp_path / 'out')
    assert result.returncode == 2
    assert 'error: the bag has 2 image topics' in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / 'out').exists()
    assert sibling_topic('/camera/image_raw', 'tracks') == '/camera/tracks'
    assert sibling_topic('/camera/image_raw/compressed', 'tracks') == '/camera/tracks'
    assert sibling_topic('/image', 'detections') == '/detections'


def one_error_line(result):
    """Return the tool's error line, asserting it is all the tool wrote on stderr."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and ': error: ' in lines[0], result.stderr
    return lines[0]


def test_a_device_or_model_that_cannot_run_is_one_error_line_and_no_bag(tmp_path):
    out = tmp_path / 'out'
    for option, message in ((['--device', 'foo'], 'no device of FOO can run model'),
                            (['--model', 'nope'], "unknown model 'nope'")):
        result = run_tool('process', SAMPLE, out, *option)
        assert result.returncode != 0
        assert message in one_error_line(result)
        assert not out.exists()


def test_an_unwritable_mot_file_leaves_no_output_bag(tmp_path):
    (tmp_path / 'file').write_text('a file, not a folder')
    out = tmp_path / 'out'
    result = run_tool('process', SAMPLE, out, '--device', 'CPU',
                      '--mot', tmp_path / 'file' / 'tracks.txt')
    assert result.returncode != 0
    assert 'file' in one_error_line(result)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if '.partial-' in p.name]


def damaged_copies(tmp_path):
    """Yield damaged bags: a truncated mcap, and a sqlite3 bag with a corrupted database."""
    truncated = tmp_path / 'truncated.mcap'
    truncated.write_bytes(SAMPLE.read_bytes()[:SAMPLE.stat().st_size // 2])
    yield truncated
    sqlite = tmp_path / 'sqlite'
    with open_bag(SAMPLE) as reader, bag_writer(sqlite, 'sqlite3') as writer:
        outputs = {c.id: copy_connection(writer, c) for c in reader.connections}
        for conn, timestamp, data in read_messages(reader):
            writer.write(outputs[conn.id], timestamp, data)
    database = sqlite / 'sqlite.db3'
    content = bytearray(database.read_bytes())
    middle = len(content) // 2
    content[middle:middle + 8192] = bytes(range(256)) * 32
    database.write_bytes(bytes(content))
    yield database.parent


def test_damaged_input_gives_one_line_and_stays_untouched(tmp_path):
    for bag in damaged_copies(tmp_path):
        files = [bag] if bag.is_file() else sorted(bag.iterdir())
        before = [sha256(path) for path in files]
        out = tmp_path / f'{bag.name}-out'
        result = run_tool('process', bag, out)
        assert result.returncode != 0
        errors = [line for line in result.stderr.splitlines() if ': error: ' in line]
        assert len(errors) == 1 and f'cannot read bag {bag}' in errors[0], result.stderr
        assert 'Traceback' not in result.stderr
        assert [sha256(path) for path in files] == before
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if '.partial-' in p.name]


def test_play_publishes_recorded_messages_and_clock(ros_node, tmp_path):
    node, executor = ros_node
    images, received, clocks = [], [], []

    def on_image(image):
        images.append(image)
        received.append(time.monotonic())
    node.create_subscription(CompressedImage, IMAGE_TOPIC, on_image, QoSProfile(depth=50))
    node.create_subscription(Clock, '/clock', clocks.append, QoSProfile(depth=100))
    with NodeProcess([*TOOL, 'play', str(SAMPLE), '--rate', '3', '--clock', '--topics',
                      IMAGE_TOPIC, '--wait-for-subscribers', '1'], tmp_path / 'play.log') as play:
        assert spin_until(executor, lambda: len(images) == FRAMES or
                          play.process.poll() is not None, 30), play.output()
        spin_until(executor, lambda: play.process.poll() is not None, 10)
        assert play.process.returncode == 0, play.output()
    assert f'played {FRAMES} messages on 1 topics' in play.output()
    headers = [(m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id) for m in images]
    assert headers == image_headers()
    source, _ = read_bag(SAMPLE)
    first_jpeg = typestore().deserialize_cdr(source[IMAGE_TOPIC][0][1],
                                             'sensor_msgs/msg/CompressedImage').data
    assert bytes(images[0].data) == first_jpeg.tobytes()
    # The recorded span, played at rate 3, takes a third of its time (spinning adds jitter).
    stamps = [timestamp for timestamp, _ in source[IMAGE_TOPIC]]
    span = (stamps[-1] - stamps[0]) * 1e-9 / 3
    assert 0.8 * span < received[-1] - received[0] < 1.4 * span
    stamps = [c.clock.sec + c.clock.nanosec * 1e-9 for c in clocks]
    assert stamps and stamps == sorted(stamps)
    assert 1_700_000_000 <= stamps[0] and stamps[-1] == pytest.approx(1_700_000_002.9)


def test_record_sigint_mid_stream_leaves_readable_bag(ros_node, tmp_path):
    node, executor = ros_node
    reliable = node.create_publisher(String, '/chatter', QoSProfile(depth=100))
    best_effort = node.create_publisher(
        String, '/status', QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))
    out = tmp_path / 'recorded'
    with NodeProcess([*TOOL, 'record', str(out), '--topics', '/chatter', 'status',
                      '--storage', 'sqlite3'], tmp_path / 'record.log') as recorder:
        assert spin_until(executor, lambda: recorder.output().count('recording ') == 2,
                          20), recorder.output()
        assert 'recording /status (std_msgs/msg/String, best_effort)' in recorder.output()
        assert spin_until(executor, lambda: reliable.get_subscription_count() == 1, 10)
        for index in range(40):
            reliable.publish(String(data=str(index)))
            best_effort.publish(String(data='ok'))
            if index == 20:
                recorder.process.send_signal(signal.SIGINT)  # while messages still arrive
            spin_until(executor, lambda: False, 0.02)
        assert recorder.wait(timeout=10) == 0, recorder.output()
    assert 'recorded ' in recorder.output()
    messages, connections = read_bag(out)
    assert connections['/chatter'].msgtype == 'std_msgs/msg/String'
    chatter = [deserialize_message(data, String).data for _, data in messages['/chatter']]
    # The bag holds an unbroken, ordered prefix of what was sent: at least the messages well
    # before the signal (the last few may still have been in flight when it came).
    assert len(chatter) >= 15 and chatter == [str(i) for i in range(len(chatter))]
    assert not [p for p in tmp_path.iterdir() if '.partial-' in p.name]


def test_record_keeps_the_bag_through_a_burst_of_sigints(ros_node, tmp_path):
    """Ctrl-C pressed again while the bag closes does not throw the recording away."""
    node, executor = ros_node
    publisher = node.create_publisher(String, '/chatter', QoSProfile(depth=100))
    out = tmp_path / 'recorded'
    with NodeProcess([*TOOL, 'record', str(out), '--topics', '/chatter'],
                     tmp_path / 'record.log') as recorder:
        assert recorder.wait_for_output('recording /chatter', 20), recorder.output()
        assert spin_until(executor, lambda: publisher.get_subscription_count() == 1, 10)
        for index in range(20):
            publisher.publish(String(data=str(index)))
        # Delivered to the recorder (reliable): what it wrote once stopped.
        assert publisher.wait_for_all_acked(Duration(seconds=10))
        deadline = time.monotonic() + 10
        while recorder.process.poll() is None and time.monotonic() < deadline:
            recorder.process.send_signal(signal.SIGINT)
            time.sleep(0.002)
        # Said on failure: once a CI run found no bag, with nothing to tell why.
        assert recorder.process.poll() is not None, 'still recording after 10 s of SIGINTs'
    assert out.exists(), f'exit {recorder.process.returncode}:\n{recorder.output()}'
    messages, _ = read_bag(out)
    assert [deserialize_message(data, String).data for _, data in messages['/chatter']] == [
        str(index) for index in range(20)]


def test_play_through_live_nodes_gives_process_tracks(tmp_path):
    """Bag through play, detector_node, tracker_node and record gives the tracks of process."""
    common = ['--ros-args', '-r', '__ns:=/camera', '-p', 'use_sim_time:=true']
    # image_qos stays 'auto': its graph polling runs on a steady clock, so under use_sim_time
    # the detector finds the player before /clock moves.
    detector_args = [*common, '-r', f'image/compressed:={IMAGE_TOPIC}',
                     '-p', 'input_type:=compressed', '-p', 'device:=CPU']
    out = tmp_path / 'live'
    with NodeProcess([executable('detector_node'), *detector_args],
                     tmp_path / 'detector.log') as detector, \
            NodeProcess([executable('tracker_node'), *common, '-p', 'first_track_id:=1'],
                        tmp_path / 'tracker.log'), \
            NodeProcess([*TOOL, 'record', str(out), '--topics', '/camera/detections',
                         '/camera/tracks', '--max-messages', str(2 * FRAMES)],
                        tmp_path / 'record.log') as recorder:
        assert recorder.wait_for_output('recording /camera/tracks', 30), recorder.output()
        assert recorder.wait_for_output('recording /camera/detections', 30), recorder.output()
        # The detector keeps only the newest frame: paced on tracks, play sends the next frame
        # once the last one is tracked, so that a loaded machine loses none.
        play = subprocess.run([*TOOL, 'play', str(SAMPLE), '--clock', '--rate', '2',
                               '--wait-for-subscribers', '1', '--topics', IMAGE_TOPIC,
                               '--pace-on', '/camera/tracks', '--pace-timeout', '20'],
                              capture_output=True, text=True, timeout=120)
        assert play.returncode == 0, play.stderr
        assert 'warning' not in play.stderr, play.stderr
        try:
            recorder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass  # frames lost: stop() below interrupts it and the comparison says which
    messages, _ = read_bag(out)
    headers = image_headers()
    frame_of = {(sec, nanosec): index + 1 for index, (sec, nanosec, _) in enumerate(headers)}
    tracks = [deserialize_message(data, Detection2DArray)
              for _, data in messages['/camera/tracks']]
    # Every frame arrives (reliable QoS, paced play): the live ids and boxes are process's.
    assert len(tracks) == FRAMES, detector.output()
    assert len(messages['/camera/detections']) == FRAMES
    expected = np.loadtxt(EXPECTED, delimiter=',')[:, :6]
    assert_tracks_match(tracks_to_mot(tracks, frame_of), expected)


def test_paced_play_waits_for_each_answer_and_warns_when_one_is_missing(ros_node, tmp_path):
    """--pace-on: a frame goes out only once the last was answered; a missing answer warns."""
    node, executor = ros_node
    answers = node.create_publisher(Detection2DArray, '/answers', QoSProfile(depth=10))
    images = []
    node.create_subscription(CompressedImage, IMAGE_TOPIC, images.append, QoSProfile(depth=50))
    # At --rate 1000 an unpaced play sends the 30 frames within milliseconds; the probe answers
    # each frame 0.1 s after it came, except the fifth.
    answered, most_waiting, deadline = 0, 0, time.monotonic() + 60
    with NodeProcess([*TOOL, 'play', str(SAMPLE), '--rate', '1000', '--topics', IMAGE_TOPIC,
                      '--wait-for-subscribers', '1', '--pace-on', '/answers',
                      '--pace-timeout', '1'], tmp_path / 'play.log') as play:
        while (play.process.poll() is None or answered < len(images)) and \
                time.monotonic() < deadline:
            spin_until(executor, lambda: False, 0.1)
            most_waiting = max(most_waiting, len(images) - answered)
            for image in images[answered:]:
                if answered != 4:
                    answers.publish(Detection2DArray(header=image.header))
                answered += 1
        assert play.wait(timeout=20) == 0, play.output()
    assert len(images) == FRAMES and most_waiting == 1, play.output()
    assert play.output().count('warning: no answer on /answers within 1 s') == 1, play.output()
    assert 'message 5 on /camera/image_raw/compressed' in play.output()
    assert '1 answers on /answers timed out' in play.output()


def test_pace_on_needs_one_paced_topic(tmp_path):
    bag = tmp_path / 'two'
    write_image_bag(bag, {'/a/image_raw': 'sensor_msgs/msg/Image',
                          '/b/image_raw/compressed': 'sensor_msgs/msg/CompressedImage'})
    result = run_tool('play', bag, '--pace-on', '/tracks')
    assert result.returncode != 0
    assert 'image topics /a/image_raw, /b/image_raw/compressed' in result.stderr
    assert 'choose one with --paced-topic' in result.stderr
    result = run_tool('play', bag, '--pace-on', '/tracks', '--paced-topic', '/c')
    assert result.returncode != 0 and '--paced-topic /c is not played' in result.stderr


def test_play_loops_until_interrupted_and_record_stops_after_duration(ros_node, tmp_path):
    node, executor = ros_node
    images = []
    node.create_subscription(CompressedImage, IMAGE_TOPIC, images.append, QoSProfile(depth=50))
    out = tmp_path / 'idle'
    with NodeProcess([*TOOL, 'record', str(out), '--topics', '/nobody', '--duration', '1'],
                     tmp_path / 'record.log') as recorder, \
            NodeProcess([*TOOL, 'play', str(SAMPLE), '--rate', '10', '--loop', '--topics',
                         IMAGE_TOPIC, '--wait-for-subscribers', '1'],
                        tmp_path / 'play.log') as play:
        assert spin_until(executor, lambda: len(images) > FRAMES + 5, 30), play.output()
        assert play.stop() == 0, play.output()
        assert recorder.wait(timeout=10) == 0, recorder.output()
    played = re.search(r'played (\d+) messages .* \((\d+) passes\)', play.output())
    assert played and int(played[1]) > FRAMES and int(played[2]) >= 2, play.output()
    assert 'no publishers showed on /nobody' in recorder.output()
    with Reader(out) as reader:
        assert reader.message_count == 0


@pytest.mark.parametrize('extra, message', [
    (['--duration', '0'], '--duration 0.0 must be a positive number of seconds'),
    (['--duration', '-5'], '--duration -5.0 must be a positive number of seconds'),
    (['--max-messages', '0'], '--max-messages 0 must be at least 1'),
    (['--topics', 'not a topic!'], "--topics 'not a topic!': Invalid topic name"),
])
def test_record_refuses_bad_settings_before_recording(tmp_path, extra, message):
    # --duration 0 recorded for ever, -5 stopped at once, a bad name was an RCLError traceback.
    topics = [] if '--topics' in extra else ['--topics', '/camera/tracks']
    result = run_tool('record', tmp_path / 'out', *topics, *extra)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr and not (tmp_path / 'out').exists()


def test_an_undecodable_image_is_skipped_and_counted_unless_strict(tmp_path):
    # One bad JPEG used to abort the whole run.
    messages, _ = read_bag(SAMPLE)
    broken = tmp_path / 'broken'
    with bag_writer(broken) as writer:
        for topic, rows in messages.items():
            msgtype = ('sensor_msgs/msg/CompressedImage' if topic == IMAGE_TOPIC
                       else 'sensor_msgs/msg/CameraInfo')
            conn = add_typed_connection(writer, topic, msgtype)
            for index, (timestamp, data) in enumerate(rows):
                if topic == IMAGE_TOPIC and index == 4:
                    image = deserialize_message(data, CompressedImage)
                    image.data = b'not a jpeg'
                    data = serialize_message(image)
                writer.write(conn, timestamp, data)
    mot = tmp_path / 'tracks.txt'
    result = run_tool('process', broken, tmp_path / 'out', '--mot', mot)
    assert result.returncode == 0, result.stderr
    assert 'warning: 1 image(s) could not be decoded and were skipped (first: image 5' in \
        result.stderr and result.stdout.startswith(f'{FRAMES - 1} images on')
    frames = set(np.loadtxt(mot, delimiter=',')[:, 0].astype(int))
    assert 5 not in frames and {4, 6} <= frames, 'frames keep their numbers'
    strict = run_tool('process', broken, tmp_path / 'strict', '--strict')
    assert strict.returncode == 2 and 'image 5 on /camera/image_raw/compressed cannot be ' \
        'decoded' in strict.stderr and not (tmp_path / 'strict').exists()


def test_process_on_its_own_output_replaces_the_earlier_results(tmp_path):
    # Processing an output bag again raised a rosbags WriterError (topics written twice).
    first, second = tmp_path / 'first', tmp_path / 'second'
    assert run_tool('process', SAMPLE, first, '--annotate').returncode == 0
    result = run_tool('process', first, second, '--annotate', '--mot', tmp_path / 'again.txt')
    assert result.returncode == 0, result.stderr
    assert '/camera/tracks: the input has it from an earlier run; replaced' in result.stdout
    once, _ = read_bag(first)
    twice, _ = read_bag(second)
    # Inputs copied byte for byte, results once each (their CDR padding bytes may differ).
    assert set(once) == set(twice) and {t: len(rows) for t, rows in once.items()} == {
        t: len(rows) for t, rows in twice.items()}
    assert once[IMAGE_TOPIC] == twice[IMAGE_TOPIC]
    assert_tracks_match(np.loadtxt(tmp_path / 'again.txt', delimiter=','),
                        np.loadtxt(EXPECTED, delimiter=','))
