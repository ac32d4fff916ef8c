"""
The main job on embedded sample input: camera -> detector -> tracker, as separate processes.

`make demo` runs `python -m face_detector_ros.demo --output out/demo`: it writes a sample sequence
of real faces moving and crossing (scikit-image photos, with ground truth), starts camera_node,
detector_node and tracker_node in their own processes as `ros2 launch` would, watches tracks and
the tracks_image overlay, then writes an annotated video and image strip and prints a summary.
"""

import argparse
import os
from pathlib import Path
import struct
import sys
import time

import cv2
from face_detector_ros.evaluation import mot
from face_detector_ros.evaluation.rates import summarize
from face_detector_ros.files import default_params_file, fastdds_environment
from face_detector_ros.ros.images import to_bgr8
from face_detector_ros.ros.messages import detection_array_to_boxes
from face_detector_ros.ros.stamps import stamp_key, stamp_to_seconds
from face_detector_ros.simulation.processes import executable, NodeProcess
from face_detector_ros.tools.cli import CliError, console_main
import numpy as np

STRIP_FRAMES = 6


def isolate_dds():
    """Keep DDS traffic on this machine, in a domain of our own, unless the caller chose one."""
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_LOCALHOST_ONLY', '1')
    os.environ.setdefault('ROS_DOMAIN_ID', str(os.getpid() % 90 + 5))


def start_nodes(frames_dir, fps, log_dir, watcher):
    """
    Start tracker and detector, then, once `watcher` sees their outputs, the camera.

    The camera holds its first frame until the detector, the tracker (for the overlay) and the
    Watcher subscribe to image_raw, so the Watcher sees every image and every frame's tracks.
    """
    params = str(default_params_file())
    remap = ['-r', 'image:=image_raw']
    # As the launch files run them: with the shared-memory segment that holds whole images
    # (by default they go as UDP fragments, whose bursts made this watcher lose tracks).
    env = fastdds_environment(default_params_file().with_name('fastdds.xml'))
    tracker = NodeProcess([executable('tracker_node'), '--ros-args', '--params-file', params,
                           *remap], log_dir / 'tracker.log', env)
    detector = NodeProcess([executable('detector_node'), '--ros-args', '--params-file', params,
                            *remap], log_dir / 'detector.log', env)
    try:
        watcher.wait_for_publishers([detector, tracker])
    except BaseException:
        for process in (detector, tracker):
            process.stop()
        raise
    camera = NodeProcess([executable('camera_node'), '--ros-args', '--params-file', params,
                          '-p', f'source:={frames_dir}', '-p', f'fps:={fps}', '-p', 'width:=0',
                          '-p', 'height:=0', '-p', 'wait_for_subscribers:=3'],
                         log_dir / 'camera.log', env)
    return [camera, detector, tracker]


class Watcher:
    """
    Subscribes to image_raw, tracks and tracks_image in this process.

    Created before the nodes start, so that no frame's tracks are missed.
    """

    def __init__(self):
        """Create the watching node; start the pipeline after this, so nothing is missed."""
        from face_detector_ros.ros.common import qos_profile
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray

        self.tracks, self.received_at, self.overlays, self.image_stamps = [], [], {}, []
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('demo_watcher', context=self.context)
        reliable = qos_profile('reliable', 50)
        self.node.create_subscription(Detection2DArray, 'tracks', self.on_tracks, reliable)
        self.node.create_subscription(Image, 'tracks_image', self.on_overlay, reliable)
        # Counts the frames published. camera_info missed the first frames under load (the
        # camera waits for image_raw subscribers; camera_info matched later). Serialized: only
        # the stamp is read, and deserializing every image slowed this watcher enough to lose
        # tracks messages.
        self.node.create_subscription(Image, 'image_raw', self.on_image, reliable, raw=True)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def on_tracks(self, msg):
        self.received_at.append(time.time())
        self.tracks.append(msg)

    def on_overlay(self, msg):
        self.overlays[stamp_key(msg.header)] = msg  # converted later: keep this callback quick

    def on_image(self, serialized):
        # CDR: a 4-byte encapsulation header, then the Header's stamp (int32 sec, uint32 nsec).
        little_endian = serialized[1] == 1
        self.image_stamps.append(struct.unpack_from('<iI' if little_endian else '>iI',
                                                    serialized, 4))

    def wait_for_publishers(self, processes, timeout=60.0):
        """Spin until the tracks and tracks_image publishers are seen, so no frame is missed."""
        deadline = time.monotonic() + timeout
        while not (self.node.count_publishers('tracks') and
                   self.node.count_publishers('tracks_image')):
            failed = [p for p in processes if p.process.poll() is not None]
            if failed or time.monotonic() > deadline:
                log = (failed or processes)[0]
                raise CliError(f'the nodes did not start; a log ({log.log_path}):\n'
                               + log.output()[-2000:])
            self.executor.spin_once(timeout_sec=0.05)

    def watch(self, processes, timeout):
        """Spin until the camera (processes[0]) ended and all tracks came, or 2 s of quiet."""
        camera = processes[0]
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            before = len(self.tracks)
            self.executor.spin_once(timeout_sec=0.05)
            failed = [p for p in processes if p.process.poll() not in (None, 0)]
            if failed:
                raise CliError(f'a node failed; its log ({failed[0].log_path}):\n'
                               + failed[0].output()[-2000:])
            if camera.process.poll() is None or len(self.tracks) > before:
                quiet_since = time.monotonic()
            elif (len(self.tracks) >= len(self.image_stamps) >= 1
                  and len(self.overlays) >= len(self.tracks)
                  or time.monotonic() - quiet_since > 2.0):
                break
        return self

    def close(self):
        """Destroy the node and its context."""
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tracks_to_mot_rows(tracks, image_stamps):
    """
    MOT rows of tracks; frame numbers follow the published images (1-based), by stamp.

    Tracks of an image the watcher did not see (it should see all: the camera waits for it)
    have no frame number: they are left out (see `unseen_tracks`).
    """
    frame_of = {stamp: index + 1 for index, stamp in enumerate(image_stamps)}
    rows = []
    for msg in tracks:
        frame = frame_of.get(stamp_key(msg.header))
        if frame is None:
            continue
        boxes, scores, _, ids = detection_array_to_boxes(msg)
        rows.extend(mot.rows_from_boxes(frame, [int(i) for i in ids], boxes, scores))
    return np.asarray(rows, dtype=float).reshape(-1, 7)


def unseen_tracks(tracks, image_stamps):
    """Return how many tracks messages have a stamp that is not among `image_stamps`."""
    known = set(image_stamps)
    return sum(stamp_key(msg.header) not in known for msg in tracks)


def write_outputs(output, watched, fps):
    """Write tracks.txt (MOTChallenge), tracks.mp4 and strip.png; return the MOT rows."""
    rows = tracks_to_mot_rows(watched.tracks, watched.image_stamps)
    mot.write_mot(output / 'tracks.txt', rows)
    images = [to_bgr8(watched.overlays[s]) for s in watched.image_stamps
              if s in watched.overlays]
    if images:
        height, width = images[0].shape[:2]
        video = cv2.VideoWriter(str(output / 'tracks.mp4'), cv2.VideoWriter_fourcc(*'mp4v'),
                                fps, (width, height))
        for image in images:
            video.write(image)
        video.release()
        picks = np.linspace(0, len(images) - 1, STRIP_FRAMES).round().astype(int)
        thumbs = [cv2.resize(images[i], (width // 2, height // 2)) for i in picks]
        strip = np.vstack([np.hstack(thumbs[:3]), np.hstack(thumbs[3:])])
        cv2.imwrite(str(output / 'strip.png'), strip)
    return rows, len(images)


@console_main
def main(argv=None):
    """Run the demo; print what it did."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--output', default='out/demo', help='folder for the results')
    parser.add_argument('--frames', type=int, default=90, help='frames in the sample sequence')
    # 10 FPS: the default detector (about 30 ms a frame) beside the camera, the tracker, the
    # overlays and this watcher on 2 cores takes every frame; at 30 FPS it skips some by design
    # (the newest frame wins), which the demo would report as frames not tracked.
    parser.add_argument('--fps', type=float, default=10.0, help='camera rate (%(default)s)')
    options = parser.parse_args(argv)
    isolate_dds()
    from face_detector_ros.simulation import faces
    output = Path(options.output)
    frames_dir = output / 'frames'
    faces.write_sample_sequence(frames_dir, image_format='jpg', overwrite=True,
                                num_frames=options.frames, fps=options.fps)
    print(f'sample sequence: {options.frames} frames 640x480 with 3 moving, crossing faces '
          f'in {frames_dir}')
    with Watcher() as watcher:
        processes = start_nodes(frames_dir, options.fps, output, watcher)
        started = time.monotonic()
        try:
            watched = watcher.watch(processes, timeout=60 + 2 * options.frames / options.fps)
        finally:
            for process in processes:
                process.stop()
    elapsed = time.monotonic() - started
    rows, drawn = write_outputs(output, watched, options.fps)
    tracks, published = watched.tracks, len(watched.image_stamps)
    truth = mot.read_mot(frames_dir / 'ground_truth.txt')
    scores = mot.evaluate(truth, rows)
    latency = [(arrival - stamp_to_seconds(t.header.stamp)) * 1e3
               for arrival, t in zip(watched.received_at, tracks)]
    stats = summarize(latency)
    detections_seen = sum(len(t.detections) for t in tracks)
    print(f'frames: {published} published, {len(tracks)} tracked '
          f'({len(tracks) / max(published, 1):.0%}), {drawn} overlay images')
    unseen = unseen_tracks(tracks, watched.image_stamps)
    if unseen:
        print(f'{unseen} tracks messages are of images the watcher missed: left out of '
              'tracks.txt and the scores')
    track_ids = sorted(set(rows[:, 1].astype(int).tolist()))
    print(f'tracks: {detections_seen} track boxes, ids {track_ids} (ground truth: 3 faces)')
    print(f'MOT vs ground truth: MOTA {scores["mota"]:.3f}, IDF1 {scores["idf1"]:.3f}, '
          f'id switches {scores["id_switches"]}, recall {scores["recall"]:.3f}')
    print(f'latency image stamp -> tracks received: median {stats["median"]:.1f} ms, '
          f'p90 {stats["p90"]:.1f} ms, max {stats["max"]:.1f} ms; rate '
          f'{len(tracks) / max(elapsed, 1e-9):.1f} tracks/s over {elapsed:.1f} s')
    print(f'wrote {output / "tracks.mp4"}, {output / "strip.png"}, {output / "tracks.txt"} '
          f'and node logs in {output}')
    if published < options.frames or len(tracks) < 0.9 * published:
        raise CliError(f'only {len(tracks)} tracked of {published} published of '
                       f'{options.frames} frames: see the node logs in {output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
