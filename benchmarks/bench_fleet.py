"""
Process a batch of bags in one process, then on local Ray: frames/s, speed-up, first result.

The batch (default 16 bags of 300 frames, 320x240 JPEG at 10 FPS, three real faces moving:
face_detector_ros.simulation.faces.sample_sequence, one seed per bag) is generated into a
temporary folder. Each run gives every bag to face_detector_ros.fleet with BagWorker, as
`face-detector-bag process BAGS... OUT [--workers N]` does, writing the output bags (and MOT
files) next to it: first in this process (the baseline, as without Ray), then on a local Ray of
--workers processes. Ray's start is timed apart (a running cluster does not pay it); the
figures are over the processing itself, and over the whole run with Ray's start. Time to first
result is from the start of the run (Ray already up) to the first bag written. Both runs must
give the same MOT files. Engines use the parameters file's `threads` (0: OpenVINO decides in
one process; a Ray worker's engine takes its CPU share, 1 thread); --threads sets it for both.

    python benchmarks/bench_fleet.py [--bags 16] [--frames 300] [--workers 2] [--threads 1]
"""

import argparse
import logging
import os
from pathlib import Path
import tempfile
import time

import cv2
from face_detector_ros import fleet
from face_detector_ros.bags.bag_io import add_typed_connection, bag_writer, typestore
from face_detector_ros.bags.batch import BagWorker
from face_detector_ros.files import default_params_file
from face_detector_ros.simulation.faces import sample_sequence
from tqdm import tqdm

TOPIC = '/camera/image_raw/compressed'


def write_bag(path, frames, seed):
    """Write `frames` JPEG images of the sample sequence of `seed` as a rosbag2 folder."""
    store = typestore()
    header, stamp = store.types['std_msgs/msg/Header'], store.types['builtin_interfaces/msg/Time']
    compressed = store.types['sensor_msgs/msg/CompressedImage']
    sequence = sample_sequence(num_frames=frames, width=320, height=240, fps=10.0, seed=seed)
    with bag_writer(path) as writer:
        connection = add_typed_connection(writer, TOPIC, compressed.__msgtype__)
        for index, frame in enumerate(sequence.frames):
            ns = 1_700_000_000 * 10**9 + index * 10**8
            ok, jpeg = cv2.imencode('.jpg', frame.image, [cv2.IMWRITE_JPEG_QUALITY, 80])
            message = compressed(header=header(stamp=stamp(sec=ns // 10**9, nanosec=ns % 10**9),
                                               frame_id='camera_optical_frame'),
                                 format='jpeg', data=jpeg.ravel())
            writer.write(connection, ns, store.serialize_cdr(message, message.__msgtype__))


def timed_run(bags, out, workers, options):
    """Process `bags` into `out`; return (results, seconds, seconds to the first result)."""
    items = [(str(bag), str(out / bag.name), str(out / f'{bag.name}.txt')) for bag in bags]
    started = time.perf_counter()
    results = fleet.run(BagWorker, options, items, workers=workers, progress=True)
    seconds = time.perf_counter() - started
    failed = [result.error for result in results if not result.ok]
    assert not failed, failed
    return results, seconds, min(result.finished for result in results) - started


def main():
    """Generate the batch, time both runs, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--bags', type=int, default=16)
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--threads', type=int, default=0,
                        help='inference threads of each engine (0: OpenVINO decides)')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='bench_fleet-') as folder:
        folder = Path(folder)
        bags = [folder / 'in' / f'bag{number:03d}' for number in range(args.bags)]
        for number, bag in enumerate(tqdm(bags, desc='writing bags', leave=False)):
            write_bag(bag, args.frames, seed=number)
        options = {}
        if args.threads:  # the shipped parameters, the detector's section overridden
            options['params_file'] = str(folder / 'params.yaml')
            (folder / 'params.yaml').write_text(
                default_params_file().read_text() +
                f'\nface_detector:\n  ros__parameters: {{threads: {args.threads}}}\n')
        frames = args.bags * args.frames
        threads = f'{args.threads} inference thread(s) per engine' if args.threads else \
            'inference threads: OpenVINO decides in one process, 1 per Ray worker'
        print(f'{args.bags} bags x {args.frames} frames (320x240 JPEG), default profile, '
              f'{threads}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at '
              'the start')

        _, local, local_first = timed_run(bags, folder / 'one', 1, options)
        print(f'1 process:          {frames / local:6.1f} frames/s ({local:.1f} s), first result '
              f'after {local_first:.1f} s')

        import ray
        started = time.perf_counter()
        ray.init(address='local', num_cpus=args.workers, include_dashboard=False,
                 logging_level=logging.ERROR, log_to_driver=False,
                 _system_config={'worker_niceness': 0})  # as fleet starts a local Ray
        ray_start = time.perf_counter() - started
        try:
            results, on_ray, ray_first = timed_run(bags, folder / 'ray', args.workers, options)
        finally:
            ray.shutdown()
        workers = len({result.worker for result in results})
        print(f'Ray, {args.workers} workers:   {frames / on_ray:6.1f} frames/s ({on_ray:.1f} s), '
              f'first result after {ray_first:.1f} s (workers start and load the engine); '
              f'Ray itself started in {ray_start:.1f} s')
        print(f'speed-up {local / on_ray:.2f}x ({local / (on_ray + ray_start):.2f}x counting '
              f"Ray's start); {workers} worker processes did the work; load average "
              f'{os.getloadavg()[0]:.2f} at the end')
        for bag in bags:
            one = (folder / 'one' / f'{bag.name}.txt').read_bytes()
            assert one == (folder / 'ray' / f'{bag.name}.txt').read_bytes(), bag.name
        print('MOT files of both runs identical')


if __name__ == '__main__':
    main()
