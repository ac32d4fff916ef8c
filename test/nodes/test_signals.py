"""SIGINT and SIGTERM end every node and the one-process pipeline cleanly, every time."""

import os
import random
import signal
import time

import pytest
from ros_helpers import executable, NodeProcess

pytestmark = pytest.mark.ros

RUNS = 10  # per signal and executable
BATCH = 10  # processes started at once
# A fast model: the signal, not the inference, is under test.
FAST = 'blazeface_short_range'


def cases(frames):
    """Return {executable: (arguments, the log line that says it is spinning)}."""
    return {
        'camera_node': (['--ros-args', '-p', f'source:={frames}', '-p', 'loop:=true'],
                        'publishing '),
        'detector_node': (['--ros-args', '-p', f'model:={FAST}', '-p', 'device:=CPU'],
                          ' runs on '),
        'tracker_node': ([], 'tracking '),
        'face-detector-pipeline': (['--ros-args', '-p', f'camera:source:={frames}', '-p',
                                    'camera:loop:=true', '-p', f'face_detector:model:={FAST}',
                                    '-p', 'face_detector:device:=CPU'], 'tracking '),
    }


@pytest.fixture(scope='module')
def frames(tmp_path_factory):
    from face_detector_ros.simulation import faces
    folder = tmp_path_factory.mktemp('signals') / 'frames'
    faces.write_sample_sequence(folder, image_format='jpg', num_frames=5)
    return folder


@pytest.mark.parametrize('name', ['camera_node', 'detector_node', 'tracker_node',
                                  'face-detector-pipeline'])
def test_sigint_and_sigterm_end_with_status_0_every_time(name, frames, tmp_path, ros_domain):
    args, ready = cases(frames)[name]
    # SIGTERM, SIGINT, and SIGINT to a process that started with SIGINT ignored (`cmd &` in a
    # script): rclpy takes SIGINT over, so it must end that one cleanly too.
    runs = [(signal.SIGTERM, False)] * RUNS + [(signal.SIGINT, False)] * (RUNS - RUNS // 2) + \
        [(signal.SIGINT, True)] * (RUNS // 2)
    randomness = random.Random(17)
    failures = []
    for first in range(0, len(runs), BATCH):
        batch = runs[first:first + BATCH]
        processes = []
        try:
            for index, (sig, ignored) in enumerate(batch, first):
                # A domain each: the runs of a batch do not see each other's topics.
                domain = str((ros_domain + index % BATCH) % 100 + 1)
                processes.append(NodeProcess([executable(name), *args], tmp_path / f'{index}.log',
                                             env={'ROS_DOMAIN_ID': domain},
                                             ignore_sigint=ignored))
            for process in processes:
                assert process.wait_for_output(ready, 60), process.output()
            # Signals at varied moments of the spin (timers, callbacks, waits).
            for process, (sig, _) in zip(processes, batch):
                time.sleep(randomness.uniform(0.0, 0.05))
                os.kill(process.pid, sig)
            for process, (sig, ignored) in zip(processes, batch):
                code = process.wait(timeout=20)
                output = process.output()
                if code != 0 or 'Traceback' in output or 'Error' in output:
                    failures.append((sig.name, ignored, code, output[-1500:]))
        finally:
            for process in processes:
                process.stop()
    assert not failures, f'{len(failures)} of {len(runs)} runs failed: {failures[:2]}'
