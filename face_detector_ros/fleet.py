"""
Many inputs through one worker class: on Ray actors, or one after another in this process.

A worker class is constructed once per worker process (it loads the engine there) and its
`run(item)` returns the figures of one input as a dict (`frames`, `detections`, `tracks`, ...).
`run` sends every input to a worker, retries a failed one once (on another worker where there
is one), replaces a worker that died (its input goes back in the queue) and returns one Result
per input, in input order. Ray (`pip install .[fleet]`) is imported only when it is used: a
local instance of `workers` processes, or the cluster at `address`; without Ray, or with one
worker, the inputs run in this process with the same worker class, so the outputs are the same.
Nothing here imports rclpy.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import importlib.util
import itertools
import logging
import math
import os
from pathlib import Path
import shutil
import socket
import sys
import time

from tqdm import tqdm

TRIES = 2  # a failed input runs once more, then counts as failed


class FleetError(Exception):
    """A run that cannot start (Ray missing for an address, a worker that cannot load)."""


@dataclasses.dataclass
class Result:
    """What became of one input: the worker's figures, or the error of its last try."""

    index: int
    item: object
    value: dict | None = None
    error: str | None = None
    tries: int = 0
    retry_reason: str | None = None  # the error of the try before the last, if retried
    worker: str = ''        # host:pid of the process of the last try
    pid: int = 0
    seconds: float = 0.0    # of the last try, in the worker
    finished: float = 0.0   # time.perf_counter() in this process when it was final

    @property
    def ok(self):
        """Return whether the input was processed."""
        return self.error is None


def ray_available():
    """Return whether Ray can be imported here."""
    return importlib.util.find_spec('ray') is not None


def cpu_share():
    """
    Return the CPUs this worker process may use (Ray's OMP_NUM_THREADS for it), else None.

    Ray sets it to the actor's CPUs (1): an engine that took every core in every worker would
    run workers x cores threads. Worker classes give it to the engine as its thread count.
    """
    value = os.environ.get('OMP_NUM_THREADS', '')
    return int(value) if value.isdigit() and int(value) > 0 else None


def _describe(error, expected):
    """Return one readable line: the message of an expected error, else its type too."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ''
    if isinstance(error, expected) and text:
        return text
    return f'{type(error).__name__}: {text}' if text else type(error).__name__


class _Host:
    """Holds one worker in its process: constructed once, then runs inputs one at a time."""

    def __init__(self, worker_class, kwargs):
        """Construct the worker; a failure is kept and told by ready() and every run()."""
        self.expected = tuple(getattr(worker_class, 'errors', ()))
        self.name = f'{socket.gethostname()}:{os.getpid()}'
        try:
            self.worker, self.error = worker_class(**kwargs), None
        except Exception as error:  # told to the driver as one line
            self.worker, self.error = None, _describe(error, self.expected)

    def ready(self):
        """Return (None or why the worker could not be constructed, host:pid, pid)."""
        return self.error, self.name, os.getpid()

    def run(self, item):
        """Return (figures or None, error or None, host:pid, pid, seconds) of one input."""
        started = time.perf_counter()
        value, error = None, self.error
        if self.worker is not None:
            try:
                value = self.worker.run(item)
            except Exception as caught:  # one bad input never stops the rest
                error = _describe(caught, self.expected)
        return value, error, self.name, os.getpid(), time.perf_counter() - started


def run(worker_class, kwargs, items, workers=None, address=None, on_result=None,
        progress=None):
    """
    Give every item to the `run` method of a `worker_class(**kwargs)`; return Results in order.

    `workers`: processes, at most one per item (None: one per CPU of the cluster at `address`,
    else 1); on Ray unless Ray is missing or one worker runs without `address`. `on_result` gets
    each final Result in input order as soon as it and those before it are final. `progress`:
    a progress bar (None: on a terminal).
    """
    items = list(items)
    if address and not ray_available():
        raise FleetError(f'a Ray address ({address}) needs Ray: pip install .[fleet]')
    if not items:
        return []
    if not address and workers is None:
        workers = 1
    if workers is not None:
        workers = min(workers, len(items))
    on_ray = bool(address) or (workers is not None and workers > 1)
    if on_ray and not ray_available():
        _note(f'Ray is not installed (pip install .[fleet]): the {len(items)} inputs run one '
              'after another in this process')
        on_ray = False
    results = [Result(index, item) for index, item in enumerate(items)]
    delivery = _InOrder(results, on_result, progress)
    try:
        if on_ray:
            _run_on_ray(worker_class, kwargs, results, workers, address, delivery)
        else:
            _run_here(worker_class, kwargs, results, delivery)
    finally:
        delivery.close()
    return results


def _note(message):
    tqdm.write(f'{Path(sys.argv[0]).name}: note: {message}', file=sys.stderr)


class _InOrder:
    """Marks Results final and hands them on in input order, with a progress bar."""

    def __init__(self, results, on_result, progress):
        self.results = results
        self.on_result = on_result
        self.final = [False] * len(results)
        self.next = 0
        self.bar = tqdm(total=len(results), unit='input', file=sys.stderr, leave=False,
                        disable=None if progress is None else not progress)

    def finish(self, result):
        result.finished = time.perf_counter()
        self.final[result.index] = True
        self.bar.update()

    def deliver(self):
        while self.next < len(self.results) and self.final[self.next]:
            if self.on_result is not None:
                self.on_result(self.results[self.next])
            self.next += 1

    def close(self):
        self.bar.close()


def _record(result, outcome):
    result.value, result.error, result.worker, result.pid, result.seconds = outcome
    result.tries += 1
    if result.error is None or result.tries >= TRIES:
        return True
    result.retry_reason = result.error
    return False


def _run_here(worker_class, kwargs, results, delivery):
    host = _Host(worker_class, kwargs)
    if host.error is not None:
        raise FleetError(host.error)
    for result in results:
        while not _record(result, host.run(result.item)):
            continue  # its retry
        delivery.finish(result)
        delivery.deliver()


@dataclasses.dataclass
class _Actor:
    """One Ray actor holding a worker: its number (a replacement gets a new one) and process."""

    serial: int
    handle: object
    name: str = '?'
    pid: int = 0


def _run_on_ray(worker_class, kwargs, results, workers, address, delivery):
    import ray
    from ray.exceptions import RayActorError

    started_here = not ray.is_initialized()
    if started_here:
        # A local Ray's workers run at this command's priority (Ray's default, nice 15, left
        # them the CPU other work did not want: slower than one process on a busy machine).
        ray.init(address=address or 'local', num_cpus=None if address else workers,
                 include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
                 **({} if address else {'_system_config': {'worker_niceness': 0}}))
    actors = {}
    try:
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get('CPU', 1)))
        remote_host = ray.remote(num_cpus=1, max_restarts=0)(_Host)
        serials = itertools.count()

        def start():
            return _Actor(next(serials), remote_host.remote(worker_class, kwargs))

        # The cluster's CPUs may be more than the inputs.
        actors = {slot: start() for slot in range(min(workers, len(results)))}
        readiness = ray.get([actor.handle.ready.remote() for actor in actors.values()])
        for actor, (error, name, pid) in zip(actors.values(), readiness):
            if error is not None:
                raise FleetError(error)
            actor.name, actor.pid = name, pid
        pending = collections.deque(results)
        failed_on = {}   # input index -> serial of the actor its last try failed on
        in_flight = {}   # object ref -> (slot, Result)

        def assign(respect_failures):
            busy = {slot for slot, _ in in_flight.values()}
            for slot, actor in actors.items():
                if slot in busy or not pending:
                    continue
                choice = next((r for r in pending if not respect_failures or
                               failed_on.get(r.index) != actor.serial), None)
                if choice is not None:
                    pending.remove(choice)
                    in_flight[actor.handle.run.remote(choice.item)] = (slot, choice)

        while True:
            assign(respect_failures=True)
            if not in_flight:
                assign(respect_failures=False)  # only the worker it failed on is left
            delivery.deliver()
            if not in_flight:
                break
            (ref,), _ = ray.wait(list(in_flight), num_returns=1)
            slot, result = in_flight.pop(ref)
            actor = actors[slot]
            try:
                outcome = ray.get(ref)
                actor.name, actor.pid = outcome[2:4]
            except RayActorError as error:  # the process died: replace it, try the input again
                outcome = (None, f'worker {actor.name} died: {_describe(error, ())}',
                           actor.name, actor.pid, 0.0)
                ray.kill(actor.handle)
                actors[slot] = start()
            if _record(result, outcome):
                delivery.finish(result)
            else:
                failed_on[result.index] = actor.serial
                pending.appendleft(result)
    finally:
        for actor in actors.values():
            ray.kill(actor.handle)
        if started_here:
            ray.shutdown()


def add_arguments(parser, inputs, shared):
    """
    Add --from-list, --workers and --ray-address to a tool's argument parser.

    `inputs` names what a list holds ('bags', 'files'); `shared` what every node of a cluster
    must see ('the bags and OUT').
    """
    parser.add_argument('--from-list', metavar='LIST.txt',
                        help=f'also the {inputs} listed in this file, one path a line '
                        '(relative to its folder)')
    parser.add_argument('--workers', type=_worker_count, metavar='N',
                        help='worker processes, each loading the engine once, on a local Ray '
                        "when N > 1 (default: 1, this process; with --ray-address the cluster's "
                        'CPUs)')
    parser.add_argument('--ray-address', metavar='ADDRESS',
                        help=f'run on this Ray cluster (its CPUs unless --workers); {shared} '
                        'must be on storage every node sees')


def _worker_count(text):
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f'{count} must be at least 1')
    return count


def expand_inputs(paths, list_file=None):
    """
    Return the paths named on a command line: globs expanded, plus the lines of `list_file`.

    A pattern (with * ? or [) gives its matches, sorted (** across folders); one that matches
    nothing is a FleetError. A list holds one path a line (# comments, blank lines skipped),
    relative ones from the list's folder. Plain paths are returned as given.
    """
    found = []
    for text in paths:
        if glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise FleetError(f'no file or folder matches {text}')
            found += [Path(match) for match in matches]
        else:
            found.append(Path(text))
    if list_file is not None:
        list_file = Path(list_file)
        try:
            lines = list_file.read_text(encoding='utf-8').splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise FleetError(f'cannot read the input list {list_file}: {error}') from None
        entries = [line.strip() for line in lines
                   if line.strip() and not line.lstrip().startswith('#')]
        if not entries:
            raise FleetError(f'the input list {list_file} names no inputs')
        found += [list_file.parent / entry for entry in entries]
    return found


def unique_names(paths, suffixes=()):
    """
    Return one output name per path: its path from the inputs' common folder, '_'-joined.

    `suffixes` are dropped from the last part (a.mcap -> a). Two inputs that would get the same
    name (a_b/c.mcap and a/b_c.mcap, x.mcap and x.db3, the same path twice) are a FleetError.
    """
    resolved = [Path(os.path.abspath(path)) for path in paths]
    root = Path(os.path.commonpath([path.parent for path in resolved])) if resolved else None
    names, owner = [], {}
    for path, absolute in zip(paths, resolved):
        parts = list(absolute.relative_to(root).parts)
        for suffix in suffixes:
            if parts[-1].lower().endswith(suffix) and len(parts[-1]) > len(suffix):
                parts[-1] = parts[-1][:-len(suffix)]
                break
        name = '_'.join(parts)
        if name in owner:
            raise FleetError(f'inputs {owner[name]} and {path} would both be written as {name}; '
                             'rename one or process them apart')
        owner[name] = path
        names.append(name)
    return names


def remove_partials(outputs):
    """Remove what workers killed mid-write left of `outputs` (hidden .NAME.partial-* files)."""
    for output in outputs:
        output = Path(output)
        for leftover in output.parent.glob(f'.{glob.escape(output.name)}.partial-*'):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


COLUMNS = ('inputs', 'frames', 'detections', 'tracks', 'failures', 'frames/s')


def summary_table(results, seconds):
    """
    Return the table that ends a run: a row per worker process, then the total.

    A worker's frames/s is over its own busy time; the total's over the run's `seconds`.
    Figures a worker does not give (tracks of face-detect) show as '-'.
    """
    rows = {}
    for result in results:
        row = rows.setdefault(result.worker or '-', {'inputs': 0, 'failures': 0, 'busy': 0.0})
        row['inputs'] += 1
        row['busy'] += result.seconds
        if not result.ok:
            row['failures'] += 1
        for key in ('frames', 'detections', 'tracks'):
            if result.value and key in result.value:
                row[key] = row.get(key, 0) + result.value[key]
    total = {'inputs': len(results), 'failures': sum(not r.ok for r in results), 'busy': seconds}
    for key in ('frames', 'detections', 'tracks'):
        if any(key in row for row in rows.values()):
            total[key] = sum(row.get(key, 0) for row in rows.values())
    width = max([len('worker')] + [len(name) for name in rows])

    def cells(name, values):
        return ' '.join([name.ljust(width)] + [
            str(value).rjust(max(len(key), 6)) for value, key in zip(values, COLUMNS)])

    def line(name, row):
        rate = row.get('frames', 0) / row['busy'] if row['busy'] > 0 else 0.0
        return cells(name, [row.get(key, '-') for key in COLUMNS[:-1]] + [f'{rate:.1f}'])

    header = cells('worker', COLUMNS)
    lines = [header] + [line(name, row) for name, row in sorted(rows.items())]
    lines.append(line('total', total) + f'  ({seconds:.1f} s)')
    return '\n'.join(lines)


# Aggregating a run's per-input results (face-eval --pred, face-track-eval --pred DIR).

def result_files(paths, suffix):
    """Return the files `paths` name: files (and - for stdin) as given, a folder's *`suffix`."""
    found = []
    for text in map(str, paths):
        if text != '-' and Path(text).is_dir():
            inside = sorted(Path(text).glob(f'*{suffix}'))
            if not inside:
                raise FleetError(f'folder {text} holds no {suffix} files')
            found += inside
        else:
            found.append(text if text == '-' else Path(text))
    return found


POOLED = ('gt', 'predictions', 'gt_ids', 'pred_ids', 'matches', 'false_positives',
          'false_negatives', 'id_switches', 'fragmentations')


def score_tracks(truth_dir, tracks_dir, iou=0.5, zero_marked='devkit'):
    """
    Score each NAME.txt of `tracks_dir` (process --mot DIR) against NAME.txt of `truth_dir`.

    Returns face-track-eval's result dicts, one per ground-truth sequence, then 'all': counts
    summed over the sequences, MOTA, IDF1, precision and recall computed from the sums (pooled,
    as the MOTChallenge overall row, so long sequences weigh more). A sequence without a tracks
    file (its bag failed) is scored as all misses and a tracks file without ground truth is left
    out, each with a warning.
    """
    from face_detector_ros.evaluation.mot import evaluate, read_mot
    import numpy as np

    def rows(path):
        try:
            return read_mot(path)
        except (ValueError, UnicodeDecodeError) as error:
            raise FleetError(str(error)) from None

    truth = {path.stem: path for path in result_files([truth_dir], '.txt')}
    tracks = {path.stem: path for path in result_files([tracks_dir], '.txt')}
    missing, extra = sorted(truth.keys() - tracks.keys()), sorted(tracks.keys() - truth.keys())
    if missing:
        _warn(f'{len(missing)} of {len(truth)} sequences have no tracks in {tracks_dir} '
              f'({", ".join(missing[:3])}{", ..." if len(missing) > 3 else ""}); scored as '
              'all misses')
    if extra:
        _warn(f'{len(extra)} tracks files have no ground truth in {truth_dir} '
              f'({", ".join(extra[:3])}{", ..." if len(extra) > 3 else ""}); left out')
    results = [{'sequence': name, 'tracker': '-',
                **evaluate(rows(path), rows(tracks[name]) if name in tracks else
                           np.empty((0, 7)), iou, zero_marked)}
               for name, path in sorted(truth.items())]
    pooled = {key: sum(result[key] for result in results) for key in POOLED}
    # IDF1 = 2 IDTP / (GT + predictions) per sequence gives back its IDTP.
    id_true = sum(0 if math.isnan(r['idf1']) else r['idf1'] * (r['gt'] + r['predictions']) / 2
                  for r in results)
    gt, pred, matches = pooled['gt'], pooled['predictions'], pooled['matches']
    pooled.update(
        frames=sum(result['frames'] for result in results),
        mota=1 - (pooled['false_negatives'] + pooled['false_positives'] +
                  pooled['id_switches']) / gt if gt else math.nan,
        motp=sum(0 if math.isnan(r['motp']) else r['motp'] * r['matches'] for r in results) /
        matches if matches else math.nan,
        idf1=2 * id_true / (gt + pred) if gt + pred else math.nan,
        idp=id_true / pred if pred else math.nan, idr=id_true / gt if gt else math.nan,
        precision=matches / pred if pred else math.nan,
        recall=matches / gt if gt else math.nan)
    return results + [{'sequence': 'all', 'tracker': '-', **pooled}]


def _warn(message):
    tqdm.write(f'{Path(sys.argv[0]).name}: warning: {message}', file=sys.stderr)
