"""
face-detector-bag process over many bags: on local Ray and in one process without Ray.

One Ray instance serves the module (2 CPUs, as this machine has); the command line, run in this
process, reaches it with --ray-address, as it would reach a cluster. The bags are cut from the
sample bag, each from another frame, so that swapped outputs show.
"""

import json
import logging
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys

from face_detector_ros import fleet
from face_detector_ros.bags.bag_io import bag_writer, copy_connection, open_bag, read_messages
from face_detector_ros.bags.batch import BagWorker, find_bags
from face_detector_ros.bags.process import process_bag
from face_detector_ros.evaluation.mot import evaluate, read_mot, write_mot
from face_detector_ros.tools.bag import main
import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from vision_msgs.msg import Detection2DArray

DATA = Path(__file__).resolve().parents[1] / 'data'
SAMPLE = DATA / 'sample.mcap'
IMAGE_TOPIC = '/camera/image_raw/compressed'
RESULT_TOPICS = ('/camera/detections', '/camera/tracks')
ENV = {**os.environ, 'ROS_DOMAIN_ID': '162', 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
       'ROS_LOCALHOST_ONLY': '1'}
# The command line in a process where `import ray` fails, as on a machine without Ray.
WITHOUT_RAY = ("import sys; sys.modules['ray'] = None; sys.argv[0] = 'face-detector-bag'; "
               'from face_detector_ros.tools.bag import main; sys.exit(main(sys.argv[1:]))')
GOOD = ('robot1_day1_run0', 'robot1_day2_run1', 'robot2_run2')


def cut_bag(path, first, count=20):
    """Write `count` frames of the sample from frame `first` (images and camera infos)."""
    with open_bag(SAMPLE) as reader:
        stamps = sorted(t for c, t, _ in read_messages(reader) if c.topic == IMAGE_TOPIC)
        keep = set(stamps[first:first + count])
        with bag_writer(path) as writer:
            outputs = {c.id: copy_connection(writer, c) for c in reader.connections}
            for conn, timestamp, data in read_messages(reader):
                if timestamp in keep:
                    writer.write(outputs[conn.id], timestamp, data)


@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    """Return a folder of bags as a fleet keeps them: folders, a single .mcap, a corrupt one."""
    root = tmp_path_factory.mktemp('archive')
    for number, bag in enumerate(('robot1/day1/run0', 'robot1/day2/run1', 'robot2/run2')):
        (root / bag).parent.mkdir(parents=True, exist_ok=True)
        cut_bag(root / bag, first=3 * number)
    folder = root / 'robot1' / 'day2' / 'run1'  # a single .mcap file, not a rosbag2 folder
    shutil.move(folder / 'run1.mcap', folder.with_suffix('.mcap'))
    shutil.rmtree(folder)
    good = (root / 'robot2' / 'run2' / 'run2.mcap').read_bytes()
    (root / 'robot2' / 'broken.mcap').write_bytes(good[:len(good) // 2])
    return root


def run_tool(*args, python=()):
    """Run face-detector-bag (`python`: the interpreter's arguments before the tool's)."""
    command = [sys.executable, *(python or ['-m', 'face_detector_ros.tools.bag']),
               *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=ENV)


@pytest.fixture(scope='module')
def one_process(archive, tmp_path_factory):
    """Return (completed process, output folder, MOT folder) of a run without Ray."""
    folder = tmp_path_factory.mktemp('one_process')
    result = run_tool('process', archive, folder / 'out', '--mot', folder / 'mot',
                      '--workers', '2', python=['-c', WITHOUT_RAY])
    return result, folder / 'out', folder / 'mot'


@pytest.fixture(scope='module')
def ray_address():
    """Start the module's local Ray (2 CPUs, quiet); yield its address; shut it down."""
    import ray
    with pytest.MonkeyPatch.context() as patch:
        for name in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOCALHOST_ONLY'):
            patch.setenv(name, ENV[name])  # inherited by the Ray workers
        ray.init(address='local', num_cpus=2, include_dashboard=False,
                 logging_level=logging.ERROR, log_to_driver=False)
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()


def bag_content(path):
    """Return {topic: [(timestamp, message)]}: input topics as bytes, results decoded."""
    content = {}
    with Reader(path) as reader:
        for conn, timestamp, data in reader.messages():
            # rclpy leaves CDR padding bytes unset, so equal results can differ in bytes.
            message = deserialize_message(bytes(data), Detection2DArray) \
                if conn.topic in RESULT_TOPICS else bytes(data)
            content.setdefault(conn.topic, []).append((timestamp, message))
    return content


def table_rows(stderr):
    """Return the summary table's rows (header and total left out), split in cells."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ['worker', 'inputs'])
    assert lines[start].split() == ['worker', *fleet.COLUMNS]
    end = next(i for i, line in enumerate(lines) if line.startswith('total '))
    return [line.split() for line in lines[start + 1:end + 1]]


def assert_same_outputs(out, mot, expected_out, expected_mot):
    assert sorted(p.name for p in out.iterdir()) == sorted(GOOD)
    assert sorted(p.name for p in mot.iterdir()) == sorted(f'{name}.txt' for name in GOOD)
    for name in GOOD:
        assert (mot / f'{name}.txt').read_bytes() == (expected_mot / f'{name}.txt').read_bytes()
        assert bag_content(out / name) == bag_content(expected_out / name)


def test_without_ray_one_process_writes_every_good_bag_and_reports_the_corrupt_one(
        one_process, archive, tmp_path):
    result, out, mot = one_process
    assert result.returncode == 2, result.stderr
    assert 'note: Ray is not installed' in result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if ': warning: ' in line] == [
        f'face-detector-bag: warning: {archive / "robot2" / "broken.mcap"}: cannot read bag '
        f'{archive / "robot2" / "broken.mcap"}: File end magic is invalid. (truncated or '
        'corrupt?) (tried 2 times)']
    assert lines[-1] == ('face-detector-bag: error: 1 of 4 bags failed after a retry (warnings '
                         f'above); the others are in {out}')
    (worker, total) = table_rows(result.stderr)  # one worker process
    detections = sum(int(line.split(': ')[2].split()[0]) for line in result.stdout.splitlines())
    assert worker[1:6] == total[1:6] == ['4', '60', str(detections), '9', '1']
    assert 'Traceback' not in result.stderr
    assert [line.split(': ')[0] for line in result.stdout.splitlines()] == [
        str(archive / 'robot1' / 'day1' / 'run0'), str(archive / 'robot1' / 'day2' / 'run1.mcap'),
        str(archive / 'robot2' / 'run2')]
    assert sorted(p.name for p in out.iterdir()) == sorted(GOOD)  # nothing hidden left either
    # Each bag as `process` alone writes it: its own engine and tracker.
    single = tmp_path / 'single'
    process_bag(archive / 'robot1' / 'day2' / 'run1.mcap', single, mot=tmp_path / 'single.txt',
                progress=False)
    assert (tmp_path / 'single.txt').read_bytes() == (mot / 'robot1_day2_run1.txt').read_bytes()
    assert bag_content(single) == bag_content(out / 'robot1_day2_run1')
    with Reader(out / 'robot2_run2') as reader:
        assert {c.topic: c.msgcount for c in reader.connections}[IMAGE_TOPIC] == 20


def test_on_ray_the_outputs_equal_the_single_process_run(ray_address, archive, one_process,
                                                         tmp_path, capsys):
    _, expected_out, expected_mot = one_process
    listing = tmp_path / 'bags.txt'  # a list, a glob and a folder name the same four bags
    listing.write_text(f'# the fleet\n{archive / "robot1" / "day1" / "run0"}\n\n')
    # In this process, which holds the module's Ray: the command line reaches it as a cluster.
    status = main(['process', f'{archive}/robot1/day2/*.mcap', str(archive / 'robot2'),
                   str(tmp_path / 'out'), '--from-list', str(listing), '--mot',
                   str(tmp_path / 'mot'), '--ray-address', ray_address])
    output = capsys.readouterr()
    assert status == 2, output.err
    assert 'robot2/broken.mcap: cannot read bag' in output.err
    assert_same_outputs(tmp_path / 'out', tmp_path / 'mot', expected_out, expected_mot)
    *workers, total = table_rows(output.err)
    assert len(workers) == 2 and total[1:6] == ['4', '60', total[3], '9', '1']
    assert sum(int(row[1]) for row in workers) == 4


def test_a_worker_killed_mid_run_is_replaced_and_every_bag_written(ray_address, archive,
                                                                   one_process, tmp_path):
    _, expected_out, expected_mot = one_process
    bags = [bag for bag in find_bags([archive]) if bag.name != 'broken.mcap']
    names = fleet.unique_names(bags, ('.mcap',))
    assert names == list(GOOD)
    # Twice each, so the killed worker always has a next bag in flight.
    items = [(str(bag), str(tmp_path / folder / 'out' / name),
              str(tmp_path / folder / 'mot' / f'{name}.txt'))
             for folder in ('a', 'b') for bag, name in zip(bags, names)]
    killed = []

    def kill_first(result):
        if not killed:  # the worker of the first result already has the next input
            killed.append(result.pid)
            os.kill(result.pid, signal.SIGKILL)

    results = fleet.run(BagWorker, {}, items, workers=2, address=ray_address,
                        on_result=kill_first, progress=False)
    fleet.remove_partials([path for item in items for path in item[1:]])
    assert [result.item for result in results] == items
    assert all(result.ok for result in results), [result.error for result in results]
    retried = [result for result in results if result.tries == 2]
    assert len(retried) == 1 and retried[0].retry_reason.startswith('worker ')
    assert 'died' in retried[0].retry_reason and retried[0].pid != killed[0]
    assert len({result.pid for result in results}) == 3  # the replacement did work too
    for folder in ('a', 'b'):
        assert_same_outputs(tmp_path / folder / 'out', tmp_path / folder / 'mot',
                            expected_out, expected_mot)
    assert not list(tmp_path.rglob('.*partial-*'))


def test_names_come_from_the_common_folder_and_collisions_are_refused(archive, tmp_path):
    listing = tmp_path / 'list.txt'
    listing.write_text('a/x.mcap\n# comment\n\n b/y.db3 \n')
    assert fleet.expand_inputs([f'{archive}/robot1/*'], listing) == [
        archive / 'robot1' / 'day1', archive / 'robot1' / 'day2', tmp_path / 'a' / 'x.mcap',
        tmp_path / 'b' / 'y.db3']
    with pytest.raises(fleet.FleetError, match=f'no file or folder matches {tmp_path}/none'):
        fleet.expand_inputs([f'{tmp_path}/none*'])
    assert fleet.unique_names([Path('r/a.mcap'), Path('r/s/b.db3'), Path('r/c')],
                              ('.mcap', '.db3')) == ['a', 's_b', 'c']
    assert fleet.unique_names([Path('x/run.mcap')], ('.mcap',)) == ['run']
    for pair, name in ((('r/a_b/c.mcap', 'r/a/b_c.mcap'), 'a_b_c'),
                       (('r/x.mcap', 'r/x.db3'), 'x'), (('r/x.mcap', 'r/x.mcap'), 'x')):
        with pytest.raises(fleet.FleetError, match=f'inputs {pair[0]} and {pair[1]} would '
                           f'both be written as {name}'):
            fleet.unique_names([Path(p) for p in pair], ('.mcap', '.db3'))
    # An output inside an input would be processed as a bag by the next run.
    result = run_tool('process', archive, archive / 'robot1' / 'out', python=['-c', WITHOUT_RAY])
    assert result.returncode == 2 and 'lies inside the input' in result.stderr.splitlines()[-1]
    empty = tmp_path / 'empty'
    empty.mkdir()
    result = run_tool('process', empty, tmp_path / 'out', python=['-c', WITHOUT_RAY])
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f'face-detector-bag: error: folder {empty} holds no '
                                          'bags (.mcap, .db3 or rosbag2 folders)']


def test_track_eval_pools_the_mot_files_of_a_run(one_process, tmp_path):
    _, _, mot = one_process
    # Ground truth per bag: the reviewed tracks of the sample's frames each bag holds.
    reviewed = np.loadtxt(DATA / 'sample_expected_tracks.txt', delimiter=',')
    truth = tmp_path / 'gt'
    truth.mkdir()
    for number, name in enumerate((*GOOD, 'robot2_broken')):
        first = 3 * number if name != 'robot2_broken' else 0
        rows = reviewed[(reviewed[:, 0] > first) & (reviewed[:, 0] <= first + 20)].copy()
        rows[:, 0] -= first
        write_mot(truth / f'{name}.txt', rows[:, :7])
    result = subprocess.run([sys.executable, '-m', 'face_detector_ros.tools.track_eval', '--gt',
                             str(truth), '--pred', str(mot), '--json'], capture_output=True,
                            text=True, timeout=60, env=ENV)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f'track_eval.py: warning: 1 of 4 sequences have no tracks in {mot} (robot2_broken); '
        'scored as all misses']
    *sequences, pooled = json.loads(result.stdout)
    assert [r['sequence'] for r in sequences] == sorted((*GOOD, 'robot2_broken'))
    assert pooled['sequence'] == 'all'
    broken = next(r for r in sequences if r['sequence'] == 'robot2_broken')
    assert broken['predictions'] == 0 and broken['false_negatives'] == broken['gt'] > 0
    # Pooled = the sequences scored as one: frames and ids apart, one after the other.
    gt_rows, pred_rows = [], []
    for offset, name in enumerate(r['sequence'] for r in sequences):
        for rows, path in ((gt_rows, truth), (pred_rows, mot)):
            if (path / f'{name}.txt').exists():
                part = read_mot(path / f'{name}.txt')
                part[:, 0] += 1000 * offset
                part[:, 1] += 1000 * offset
                rows.append(part)
    whole = evaluate(np.concatenate(gt_rows), np.concatenate(pred_rows))
    for key, value in whole.items():
        assert pooled[key] == pytest.approx(value), key
    assert 0 < pooled['mota'] < 1 and pooled['id_switches'] == sum(
        r['id_switches'] for r in sequences)
