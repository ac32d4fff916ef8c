"""
Many bags through the detector and the tracker: finding them, naming outputs, the worker class.

`BagWorker` is what face_detector_ros.fleet runs in each worker process: it loads the engine
once and processes one bag per `run`, with a new tracker each time, as `process_bag` alone does.
"""

import os
from pathlib import Path

from face_detector_ros.bags.bag_io import BagError, describe_differences
from face_detector_ros.bags.process import bag_engine, process_bag
from face_detector_ros.detection.engine import EngineError
from face_detector_ros.detection.model_cards import ModelError
from face_detector_ros.files import OutputExistsError
from face_detector_ros.fleet import cpu_share

BAG_SUFFIXES = ('.mcap', '.db3')


def is_bag(path):
    """Return whether `path` is a rosbag2 directory or a single .mcap / .db3 file."""
    path = Path(path)
    if path.is_dir():
        return (path / 'metadata.yaml').is_file()
    return path.is_file() and path.suffix.lower() in BAG_SUFFIXES


def find_bags(paths):
    """
    Return the bags `paths` name: bags as they are, the bags anywhere inside folders, sorted.

    A rosbag2 directory counts once (its storage files are not bags of their own); a path that
    is neither a bag nor a folder holding one is a BagError.
    """
    found = []
    for path in map(Path, paths):
        if is_bag(path):
            found.append(path)
        elif path.is_dir():
            inside = []
            for folder, subfolders, files in _walk(path):
                if (folder / 'metadata.yaml').is_file():
                    inside.append(folder)
                    subfolders.clear()
                    continue
                inside += [folder / name for name in files if is_bag(folder / name)]
            if not inside:
                raise BagError(f'folder {path} holds no bags (.mcap, .db3 or rosbag2 folders)')
            found += sorted(inside)
        elif not path.exists():
            raise BagError(f'bag {path} does not exist')
        else:
            raise BagError(f'{path} is not a bag: neither a .mcap or .db3 file nor a rosbag2 '
                           'folder')
    return found


def _walk(root):
    """Yield (folder, subfolders, files) as os.walk, sorted; clearing subfolders prunes."""
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        yield Path(folder), subfolders, sorted(files)


def summary_lines(summary, source, output):
    """Return (stdout lines, stderr lines) that tell what process_bag did with one bag."""
    out, err = [], []
    if summary.differences:
        out.append(describe_differences(source, summary.differences)
                   + ", the output keeps metadata.yaml's profiles")
    out += [f'{topic}: the input has it from an earlier run; replaced by this run'
            for topic in summary.replaced]
    err += [f'warning: {topic} is not copied to the output: {reason}'
            for topic, reason in summary.not_copied]
    if summary.skipped:
        number, reason = summary.skipped[0]
        err.append(f'warning: {len(summary.skipped)} image(s) could not be decoded and were '
                   f'skipped (first: image {number}: {reason}); --strict stops at the first '
                   'instead')
    fps = summary.frames / summary.seconds if summary.seconds else 0.0
    out.append(f'{summary.frames} images on {summary.image_topic}: {summary.detections} '
               f'detections, {len(summary.mot_rows())} track boxes, track ids {summary.ids}, '
               f'{fps:.1f} images/s; wrote {output}')
    return out, err


class BagWorker:
    """
    Processes bags one after another: the engine loaded once, a new tracker per bag.

    The engine takes the worker's CPU share as its threads (fleet.cpu_share: 1 on Ray) unless
    the parameters file sets `threads`.
    """

    errors = (BagError, EngineError, ModelError, OutputExistsError, OSError)

    def __init__(self, params_file=None, model=None, device=None, progress=False, **options):
        """Load the engine; `options` are process_bag's (image_topic, annotate, storage, ...)."""
        self.params_file = params_file
        self.engine = bag_engine(params_file, model, device, threads=cpu_share())
        self.progress = progress
        self.options = options

    def run(self, item):
        """Process one (source, output, mot file or None); return its figures and lines."""
        source, output, mot = item
        summary = process_bag(source, output, params_file=self.params_file, mot=mot,
                              progress=self.progress, engine=self.engine, **self.options)
        out, err = summary_lines(summary, source, output)
        return {'frames': summary.frames, 'detections': summary.detections,
                'tracks': len(summary.ids), 'stdout': out, 'stderr': err}
