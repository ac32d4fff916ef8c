"""
End-to-end latency, frames delivered and CPU per node: camera -> detector -> tracker.

A 640x480 sample sequence at 30 FPS goes through the pipeline in three set-ups, in one run:
three processes with Fast DDS's default transports (the baseline), three processes with the
large shared-memory segment of config/fastdds.xml (here without its UDP part, so that nothing
can leave this machine), and face-detector-pipeline (one process). Latency is image stamp
(capture) to tracks received by a subscriber in this process; CPU is each process's user +
system time over the run, as a percentage of one core.

    python benchmarks/bench_pipeline.py [--frames 300] [--model PROFILE]
"""

import argparse
import os
from pathlib import Path
import tempfile
import time

from face_detector_ros.detection.model_cards import DEFAULT_MODEL
from face_detector_ros.evaluation.rates import summarize
from face_detector_ros.files import FASTDDS_PROFILE_VARIABLES, share_dir
from face_detector_ros.simulation import faces
from face_detector_ros.simulation.processes import executable, NodeProcess

SHM_PROFILE = Path(__file__).resolve().parent / 'fastdds_shm_only.xml'


def cpu_seconds(pid):
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def node_commands(frames_dir, one_process, model):
    params = str(share_dir() / 'config' / 'face_detector.yaml')
    remap = ['-r', 'image:=image_raw']
    camera_args = ['-p', f'source:={frames_dir}', '-p', 'width:=0', '-p', 'height:=0',
                   '-p', 'wait_for_subscribers:=1', '-p', 'fps:=30.0']
    if one_process:
        prefixed = [arg.replace('source:', 'camera:source:').replace(
            'width:', 'camera:width:').replace('height:', 'camera:height:').replace(
            'wait_for', 'camera:wait_for').replace('fps:', 'camera:fps:')
            for arg in camera_args]
        return {'pipeline': [executable('face-detector-pipeline'), '--ros-args', *prefixed,
                             '-p', f'face_detector:model:={model}']}
    return {
        'tracker': [executable('tracker_node'), '--ros-args', '--params-file', params, *remap],
        'detector': [executable('detector_node'), '--ros-args', '--params-file', params,
                     *remap, '-p', f'model:={model}'],
        'camera': [executable('camera_node'), '--ros-args', '--params-file', params,
                   *camera_args],
    }


def run(frames_dir, one_process, profile, log_dir, timeout, model):
    """Run one set-up; return latencies (ms) of the frames tracked, frames published, CPU %."""
    from face_detector_ros.ros.common import qos_profile
    from face_detector_ros.ros.stamps import stamp_to_seconds
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo
    from vision_msgs.msg import Detection2DArray

    env = {name: profile or '' for name in FASTDDS_PROFILE_VARIABLES}
    for name in FASTDDS_PROFILE_VARIABLES:  # this process's participant uses the same transports
        if profile:
            os.environ[name] = profile
        else:
            os.environ.pop(name, None)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('bench_watcher', context=context)
    arrivals, published = {}, []

    def on_tracks(msg):
        arrivals[stamp_to_seconds(msg.header.stamp)] = time.time()

    node.create_subscription(Detection2DArray, 'tracks', on_tracks, qos_profile('reliable', 50))
    # camera_info carries each image's header and is small: it counts the published frames.
    node.create_subscription(CameraInfo, 'camera_info', lambda msg: published.append(
        stamp_to_seconds(msg.header.stamp)), qos_profile('reliable', 50))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    processes = {name: NodeProcess(args, log_dir / f'{name}.log', env=env)
                 for name, args in node_commands(frames_dir, one_process, model).items()}
    source = processes['pipeline' if one_process else 'camera']
    cpu_start, started = None, None
    try:
        deadline = time.monotonic() + timeout
        while source.process.poll() is None and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            if cpu_start is None and 'publishing' in source.output():
                time.sleep(0.6)  # the camera holds frames until the detector has matched
                cpu_start = {n: cpu_seconds(p.pid) for n, p in processes.items()}
                started = time.monotonic()
            if 'end of' in source.output() and cpu_start is not None:
                cpu_end = {n: cpu_seconds(p.pid) for n, p in processes.items()}
                elapsed = time.monotonic() - started
                quiet = time.monotonic() + 1.0
                while time.monotonic() < quiet:
                    executor.spin_once(timeout_sec=0.05)
                break
        else:
            raise RuntimeError('the camera did not finish: ' + source.output()[-1500:])
    finally:
        for process in processes.values():
            process.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    # Count from the first frame both subscriptions of this watcher had matched.
    start = max(min(arrivals), min(published))
    frames = [stamp for stamp in published if stamp >= start]
    latency = [(arrivals[stamp] - stamp) * 1e3 for stamp in frames if stamp in arrivals]
    cpu = {n: 100.0 * (cpu_end[n] - cpu_start[n]) / elapsed for n in processes}
    return latency, len(frames), cpu


def main():
    """Run the three set-ups and print a table with ratios to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--model', default=DEFAULT_MODEL,
                        help='detector profile (%(default)s, the default)')
    options = parser.parse_args()
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_LOCALHOST_ONLY', '1')
    os.environ.setdefault('ROS_DOMAIN_ID', str(os.getpid() % 90 + 5))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        frames_dir = folder / 'frames'
        faces.write_sample_sequence(frames_dir, image_format='jpg',
                                    num_frames=options.frames)
        setups = [('3 processes, default transports', False, None),
                  ('3 processes, shared memory 16 MB', False, str(SHM_PROFILE)),
                  ('1 process (face-detector-pipeline)', True, None)]
        results = []
        for title, one_process, profile in setups:
            log_dir = folder / str(len(results))
            log_dir.mkdir()
            results.append((title, *run(frames_dir, one_process, profile, log_dir,
                                        timeout=60 + options.frames / 10,
                                        model=options.model)))
    baseline = summarize(results[0][1])['median']
    print(f'{options.frames} frames 640x480 bgr8 at 30 FPS, detector {options.model} on the '
          f'CPU, {os.cpu_count()} cores')
    print(f'{"set-up":38} {"delivered":>10} {"median ms":>10} {"p90 ms":>8} {"vs base":>8}'
          f'  CPU % of one core')
    for title, latency, published, cpu in results:
        stats = summarize(latency)
        cpu_text = ', '.join(f'{name} {value:.0f}' for name, value in cpu.items())
        print(f'{title:38} {len(latency) / published:>9.1%} {stats["median"]:>10.1f} '
              f'{stats["p90"]:>8.1f} {stats["median"] / baseline:>7.2f}x  {cpu_text}')


if __name__ == '__main__':
    main()
