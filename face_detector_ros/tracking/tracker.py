"""
Multi-face tracking: stable identities from per-frame face detections.

`CentroidTracker` keeps the simplicity of the classic centroid tracker (one state per face,
matched by centre distance) and fixes its known failures: it assigns optimally (Hungarian),
gates matches by a distance relative to the face size, never matches different labels, predicts
with a constant-velocity Kalman filter (so crossing faces keep their ids and a missed frame costs
nothing), confirms tracks after a few hits, ages them in seconds rather than frames and smooths
the boxes. Given an appearance descriptor per detection (tracking.appearance), it also prefers
matches that look alike and gives a face that comes back within `reid_timeout` seconds its old
id. It never imports rclpy; `tracker_node` is a thin ROS wrapper around it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import dataclasses
import inspect
import itertools
import logging
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

LOGGER = logging.getLogger(__name__)

# Cost of an impossible match: larger than any sum of feasible costs, so the assignment first
# maximises the number of feasible matches, then minimises their cost.
INFEASIBLE = 1e9

# Track ids are positive int32 values (Detection2D.id strings, MOTChallenge files, other
# languages' ints), wrapping from MAX_TRACK_ID back to 1. A node takes its first id from the
# start time, IDS_PER_SECOND per second since ID_EPOCH: a restarted tracker starts above every
# id of the run before, as long as that run confirmed fewer than IDS_PER_SECOND tracks a second
# on average (docs/tracking.md). The range lasts 2**31 / 10 s = 6.8 years before it wraps.
MAX_TRACK_ID = 2**31 - 1
ID_EPOCH = 1735689600  # 2025-01-01T00:00:00Z
IDS_PER_SECOND = 10
# Weight of a track's newest appearance in its average once it has this many or more: a track's
# descriptor is the mean of its first 1 / APPEARANCE_RATE, then an exponential moving average.
APPEARANCE_RATE = 0.1
# The id of a track confirmed in this update, until it gets a new id or a lost track's.
_NEW = ''


def first_track_id(now: float) -> int:
    """Return the first track id of a tracker started at `now` (seconds since 1970, UTC)."""
    return int(math.floor((now - ID_EPOCH) * IDS_PER_SECOND)) % MAX_TRACK_ID + 1


def _track_ids(first):
    """Yield first, first + 1, ... wrapping from MAX_TRACK_ID back to 1."""
    current = first
    while True:
        yield current
        current = current % MAX_TRACK_ID + 1


@dataclasses.dataclass(slots=True)
class Track:
    """A confirmed face track, as returned by `CentroidTracker.update`."""

    id: str  # noqa: A003 (the field name the issue and the node use)
    label: str
    box: tuple          # x1, y1, x2, y2 in pixels, smoothed (predicted while coasting)
    score: float        # score of the last matched detection
    velocity: tuple     # vx, vy of the box centre in pixels/s
    hits: int           # number of detections matched to the track
    age: float          # seconds since the first detection
    time_since_update: float  # seconds since the last detection; > 0 while coasting


class CentroidTracker:
    """
    Track faces across frames with optimal, gated, motion-predicted assignment.

    Distances and noise levels are relative to the face size, and time is in seconds, so the
    defaults work for small and large faces, at 7 FPS as at 30 FPS. All parameters are keywords:

        min_hits: detections needed before a track is confirmed (and returned); a tentative track
            that misses a frame is dropped, which removes one-frame false positives.
        max_age: seconds a confirmed track coasts on its prediction without a detection before
            it is removed.
        distance_gate: largest distance between a detection and a track's predicted centre, in
            standard deviations of the prediction. The deviation is proportional to the face size
            and grows while a track coasts.
        size_gate: largest ratio between the sizes of a detection and of the track it may match.
        measurement_noise: detector jitter of the box centre and size, as a fraction of the face
            size. Larger values smooth more and react more slowly.
        acceleration_noise: how quickly a face changes velocity, in face sizes per second squared.
            Smaller values smooth more and trust the constant-velocity prediction longer.
        initial_speed: speed uncertainty of a new track in face sizes per second; it sets how far a
            face may move between its first two detections.
        size_noise: how quickly a face changes size (relative change per square root of a second).
        first_id: the first track id (then +1 per confirmed track, wrapping from MAX_TRACK_ID to
            1); 1 gives reproducible ids offline, nodes use first_track_id(start time).
        reid_timeout: seconds after its last detection during which a removed track can be
            re-identified: a new track that is confirmed, has the same label and looks like it
            (similarity at least `reid_similarity`, and more than like any other candidate)
            takes its id. 0 turns re-identification off. Needs appearances in `update`.
            While such candidates exist, a new track whose face was never seen whole (leaving
            the image, half hidden) waits up to `max_age` for its appearance before it is
            confirmed, and a track that missed the previous update does not take a detection
            that looks more like a lost track of its label than like it.
        reid_similarity: smallest appearance similarity (tracking.appearance.similarity, 1 for
            the same pixels) of a re-identification.
        appearance_weight: weight of appearance in the assignment cost, in squared standard
            deviations of the gate per unit of similarity; it only orders matches that the
            gates allow.
        image_size: (width, height) of the images in pixels, or None (unknown). When known, a
            track whose predicted box lies wholly outside the image is removed at once (kept for
            re-identification like one removed after `max_age`): its face has left the image
            and cannot be detected, so its coasting track must not take a face appearing inside.
            The attribute `image_size` may be set later (tracker_node: from its images).

    Counters for the node to report: `rejected_boxes` (invalid detections ignored) and `resets`
    (stamps that went backwards).
    """

    @classmethod
    def from_parameters(cls, params: Mapping[str, object]) -> CentroidTracker:
        """Build a tracker from a mapping (node parameters), taking the keys it knows."""
        known = inspect.signature(cls).parameters
        return cls(**{key: value for key, value in params.items() if key in known})

    def __init__(self, *, min_hits: int = 3, max_age: float = 1.0, distance_gate: float = 4.0,
                 size_gate: float = 2.0, measurement_noise: float = 0.05,
                 acceleration_noise: float = 2.0, initial_speed: float = 4.0,
                 size_noise: float = 0.3, first_id: int = 1, reid_timeout: float = 5.0,
                 reid_similarity: float = 0.8, appearance_weight: float = 10.0,
                 image_size: tuple[float, float] | None = None) -> None:
        if min_hits < 1:
            raise ValueError(f'min_hits must be at least 1, got {min_hits}')
        if not (isinstance(first_id, int) and 1 <= first_id <= MAX_TRACK_ID):
            raise ValueError(f'first_id must be an integer from 1 to {MAX_TRACK_ID}, '
                             f'got {first_id!r}')
        if not size_gate >= 1.0:
            raise ValueError(f'size_gate must be at least 1, got {size_gate}')
        for name, value in (('max_age', max_age), ('distance_gate', distance_gate),
                            ('measurement_noise', measurement_noise),
                            ('acceleration_noise', acceleration_noise),
                            ('initial_speed', initial_speed), ('size_noise', size_noise)):
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f'{name} must be a positive number, got {value}')
        for name, value in (('reid_timeout', reid_timeout),
                            ('appearance_weight', appearance_weight)):
            if not value >= 0 or not math.isfinite(value):
                raise ValueError(f'{name} must be zero or a positive number, got {value}')
        if not -1.0 <= reid_similarity <= 1.0:
            raise ValueError(f'reid_similarity must be from -1 to 1, got {reid_similarity}')
        if image_size is not None:
            image_size = tuple(float(side) for side in image_size)
            if len(image_size) != 2 or not all(0 < side < math.inf for side in image_size):
                raise ValueError(f'image_size must be (width, height) in pixels, got '
                                 f'{image_size!r}')
        self.min_hits = int(min_hits)
        self.max_age = float(max_age)
        self.distance_gate = float(distance_gate)
        self.size_gate = float(size_gate)
        self.measurement_noise = float(measurement_noise)
        self.acceleration_noise = float(acceleration_noise)
        self.initial_speed = float(initial_speed)
        self.size_noise = float(size_noise)
        self.reid_timeout = float(reid_timeout)
        self.reid_similarity = float(reid_similarity)
        self.appearance_weight = float(appearance_weight)
        self.image_size = image_size
        self.reidentified = 0    # tracks that got back the id of a lost one
        self.rejected_boxes = 0  # invalid detections ignored since construction
        self.resets = 0          # resets caused by a stamp going backwards
        self._next_id = _track_ids(first_id)  # survives resets: ids are never reused
        self._label_codes = {}  # label -> code; the tracks and detections carry codes
        self._dimension = 0     # columns of the appearances; 0 until some are given
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (ids already given are still never reused)."""
        self._tracks = _Tracks.empty(self._dimension)
        self._ids = []  # str for confirmed tracks, None while tentative
        self._lost = _Lost.empty(self._dimension)  # removed confirmed tracks that may come back
        self._stamp = None

    def update(self, boxes: np.ndarray, scores: np.ndarray, labels: Sequence[str],
               stamp: float, appearances: np.ndarray | None = None) -> list[Track]:
        """
        Add the detections of one image and return the confirmed tracks, coasting ones included.

        `boxes` is an (N, 4) array-like of x1, y1, x2, y2 in pixels (N may be 0), `scores` has N
        detection scores and `labels` N strings. Boxes that are not finite or have no area are
        ignored and counted in `rejected_boxes`. `stamp` is the image stamp in seconds; a stamp
        earlier than the previous one resets the tracker (logged and counted in `resets`).
        `appearances` is an optional (N, D) array of descriptors (tracking.appearance), D the
        same in every call; a row that is not finite means "no appearance" for that detection.
        """
        stamp = float(stamp)
        if not math.isfinite(stamp):
            raise ValueError(f'stamp must be finite, got {stamp}')
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        scores = np.asarray(scores, dtype=float).reshape(-1)
        if len(scores) != len(boxes) or len(labels) != len(boxes):
            raise ValueError(f'got {len(boxes)} boxes, {len(scores)} scores and '
                             f'{len(labels)} labels; they must be equally many')
        appearances = self._appearances(appearances, len(boxes))
        if self._stamp is not None and stamp < self._stamp:
            LOGGER.warning('image stamp went back from %.3f s to %.3f s (bag loop or time '
                           'jump): tracker reset', self._stamp, stamp)
            self.resets += 1
            self.reset()
        dt = 0.0 if self._stamp is None else stamp - self._stamp
        previous, self._stamp = self._stamp, stamp

        detections = self._detections(boxes, scores, labels, appearances)
        seen = self._tracks.seen
        if len(seen) and stamp - seen.min() > self.max_age:
            self._remember(stamp - seen > self.max_age)
            self._keep(stamp - seen <= self.max_age)
        if len(self._lost.seen) and stamp - self._lost.seen.min() > self.reid_timeout:
            self._lost = self._lost.take(stamp - self._lost.seen <= self.reid_timeout)
        area = self._tracks.area()  # box areas in pixels^2: the noises scale with them
        self._predict(dt, area)
        if self.image_size is not None and len(self._tracks.score):
            gone = self._gone()
            if gone.any():  # it cannot be detected: lost, re-identified if it comes back
                self._remember(gone)
                self._keep(~gone)
                area = area[~gone]
        rows, cols, innovation_variance = self._associate(detections, area, previous)
        self._correct(rows, detections.take(cols), innovation_variance[rows], stamp)
        if len(cols) < len(detections.score):
            unmatched = np.ones(len(detections.score), dtype=bool)
            unmatched[cols] = False
            self._spawn(detections.take(unmatched), stamp)
        if None in self._ids:
            # A tentative track that misses a frame is dropped: one-frame false positives vanish.
            self._keep(self._tracks.confirmed | (self._tracks.seen == stamp))
        if _NEW in self._ids:
            self._name_new_tracks(stamp)
        return self._confirmed_tracks(stamp)

    def _appearances(self, appearances, count):
        """Return the detections' descriptors, unit rows or NaN, (count, D); D is fixed once."""
        if appearances is None:
            return np.full((count, self._dimension), np.nan)
        appearances = np.array(appearances, dtype=float, ndmin=2)
        if appearances.ndim != 2 or len(appearances) != count:
            raise ValueError(f'appearances must be {count} rows (one per box), got an array of '
                             f'shape {appearances.shape}')
        if not self._dimension:
            self._dimension = appearances.shape[1]
            self._tracks.appearance = np.full((len(self._ids), self._dimension), np.nan)
            self._lost = _Lost.empty(self._dimension)
        if appearances.shape[1] != self._dimension:
            raise ValueError(f'appearances have {appearances.shape[1]} columns, earlier ones '
                             f'{self._dimension}')
        # Unit rows, so that a dot product is the similarity; a zero row has no appearance.
        with np.errstate(invalid='ignore', divide='ignore'):
            appearances /= np.linalg.norm(appearances, axis=1, keepdims=True)
        return appearances

    def _detections(self, boxes, scores, labels, appearances):
        """Return the valid detections: centres, log sizes, scores, label codes, appearance."""
        codes = [self._label_codes.setdefault(label, len(self._label_codes)) for label in labels]
        if not math.isfinite(boxes.sum() + scores.sum()):
            finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
            boxes = np.where(finite[:, None], boxes, 0.0)  # zero size: rejected below
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        size = boxes[:, 2:] - boxes[:, :2]
        detections = _Detections(centre, size, scores, np.array(codes, dtype=int), appearances)
        if not size.min(initial=np.inf) > 0:  # boxes are checked only when one is empty
            valid = size.min(axis=1) > 0
            self.rejected_boxes += int(np.count_nonzero(~valid))
            detections = detections.take(valid)
        np.log(detections.log_size, out=detections.log_size)
        return detections

    def _predict(self, dt, area):
        """Predict every track `dt` seconds ahead (constant velocity, constant size)."""
        tracks = self._tracks
        if dt <= 0 or not len(tracks.score):
            return
        # x = F x: the centre moves with its velocity.
        tracks.centre += tracks.velocity * dt
        # P = F P F' + Q, with Q the continuous white-noise acceleration, scaled to each face's
        # size (its box area): a face accelerates by so many face sizes per second squared.
        transition = np.array([[1.0, dt], [0.0, 1.0]])
        acceleration = self.acceleration_noise ** 2 * np.array(
            [[dt ** 3 / 3, dt * dt / 2], [dt * dt / 2, dt]])
        tracks.covariance = kalman_predict(tracks.covariance, transition,
                                           acceleration * area[:, None, None])
        # The log sizes follow a random walk.
        tracks.log_size_variance += self.size_noise ** 2 * dt

    def _associate(self, detections, area, previous):
        """
        Match tracks to detections by optimal gated assignment.

        `area` holds the tracks' box areas and `previous` the stamp of the previous update.
        Return the matched track indices (in increasing order), detection indices, and every
        track's innovation variance S = H P H' + R: the variance of a detected centre around the
        predicted one (pixels^2, per axis).
        """
        tracks = self._tracks
        innovation_variance = tracks.covariance[:, 0, 0] + self.measurement_noise ** 2 * area
        if not len(tracks.score) or not len(detections.score):
            none = np.empty(0, dtype=int)
            return none, none, innovation_variance
        # Squared Mahalanobis distance of every (track, detection) pair: rows are tracks.
        dx = np.subtract.outer(tracks.centre[:, 0], detections.centre[:, 0])
        dy = np.subtract.outer(tracks.centre[:, 1], detections.centre[:, 1])
        distance2 = dx * dx
        distance2 += dy * dy
        distance2 /= innovation_variance[:, None]
        log_area_ratio = np.subtract.outer(tracks.log_size.sum(axis=1),
                                           detections.log_size.sum(axis=1))
        feasible = distance2 <= self.distance_gate ** 2
        feasible &= np.abs(log_area_ratio, out=log_area_ratio) <= 2 * math.log(self.size_gate)
        if len(self._label_codes) > 1:  # never match different labels
            feasible &= np.equal.outer(tracks.label, detections.label)
        if self._dimension and len(self._lost.seen):
            feasible &= ~self._looks_lost(detections, tracks.seen < previous)
        # When no track or detection has two candidates (separate faces, the usual frame) the
        # optimal assignment is every feasible pair and the solver is not needed. Dense gates
        # (more pairs than tracks or detections) cannot be one-to-one and are not listed.
        if np.count_nonzero(feasible) <= min(feasible.shape):
            rows, cols = np.nonzero(feasible)
            if len(set(rows.tolist())) == len(set(cols.tolist())) == len(rows):
                return rows, cols, innovation_variance
        # Negative log-likelihood of the detection under the track's prediction: a coasting
        # track with a vague prediction does not steal a detection from a sharp one. Tentative
        # tracks pay the whole gate, so a confirmed track within its gate always wins.
        track_cost = np.log(innovation_variance) + np.where(tracks.confirmed, 0.0,
                                                            self.distance_gate ** 2)
        cost = distance2 + track_cost[:, None]
        if self._dimension and self.appearance_weight:
            # Pairs that look alike cost less, unlike ones more; a pair where either side has no
            # appearance costs as if its similarity were the re-identification threshold.
            similarity = tracks.appearance @ detections.appearance.T
            cost += self.appearance_weight * np.nan_to_num(
                self.reid_similarity - similarity, nan=0.0)
        cost = np.where(feasible, cost, INFEASIBLE)
        rows, cols = linear_sum_assignment(cost)
        keep = feasible[rows, cols]
        return rows[keep], cols[keep], innovation_variance

    def _looks_lost(self, detections, missed):
        """
        Return the (track, detection) pairs that a lost track's look rules out.

        A track that `missed` the previous update does not take a detection that looks more
        like a lost track of the same label than like it: when two people cross behind a pillar,
        the one hidden longer (lost) may come out where the other (coasting) is predicted.
        The detection then starts a new track, re-identified as the lost one when confirmed.
        """
        lost = self._lost.appearance @ detections.appearance.T
        lost[np.not_equal.outer(self._lost.label, detections.label)] = -np.inf
        # NaN (no appearance on either side) compares false: the pair stays possible.
        return missed[:, None] & (self._tracks.appearance @ detections.appearance.T
                                  < lost.max(axis=0))

    def _gone(self):
        """Return which tracks have their predicted box wholly outside the image."""
        tracks = self._tracks
        half = np.exp(tracks.log_size) / 2
        outside = (tracks.centre + half <= 0) | (tracks.centre - half >= self.image_size)
        return outside.any(axis=1)

    def _correct(self, rows, detections, innovation_variance, stamp):
        """Update the tracks `rows` (increasing) with their detections and innovation variances."""
        if not len(rows):
            return
        tracks = self._tracks
        # When every track matched (the usual frame) the arrays are updated in place.
        rows = slice(None) if len(rows) == len(tracks.score) else rows
        # Centre: y = z - H x, K = P H' / S, x += K y, P = (I - K H) P (H measures the position).
        gain, tracks.covariance[rows] = kalman_update(tracks.covariance[rows],
                                                      innovation_variance)
        residual = detections.centre - tracks.centre[rows]
        tracks.centre[rows] += gain[:, :1] * residual
        tracks.velocity[rows] += gain[:, 1:] * residual
        # Log sizes: the same for a state that is measured directly (H = 1, R = noise^2).
        variance = tracks.log_size_variance[rows]
        size_gain = variance / (variance + self.measurement_noise ** 2)
        tracks.log_size[rows] += size_gain[:, None] * (detections.log_size - tracks.log_size[rows])
        tracks.log_size_variance[rows] = (1 - size_gain) * variance
        tracks.score[rows] = detections.score
        tracks.seen[rows] = stamp
        tracks.hits[rows] += 1
        if self._dimension:
            self._average_appearance(rows, detections.appearance)
        if None in self._ids:
            rows = np.arange(len(tracks.score))[rows]
            confirm = rows[(tracks.hits[rows] >= self.min_hits) & ~tracks.confirmed[rows]]
            if len(confirm) and self._dimension and self.reid_timeout:
                confirm = confirm[self._ready(confirm, stamp)]
            tracks.confirmed[confirm] = True
            for row in confirm.tolist():
                self._ids[row] = _NEW

    def _average_appearance(self, rows, appearance):
        """Fold the detections' appearances into the tracks `rows` (unit running averages)."""
        tracks = self._tracks
        known = np.isfinite(appearance[:, 0])
        if not known.any():
            return
        rows = np.arange(len(tracks.score))[rows][known]
        # The first detections are averaged evenly, later ones with weight APPEARANCE_RATE.
        rate = np.maximum(APPEARANCE_RATE, 1.0 / (tracks.looks[rows] + 1))[:, None]
        tracks.looks[rows] += 1
        old = tracks.appearance[rows]
        mixed = np.where(np.isnan(old), appearance[known], old + rate * (appearance[known] - old))
        tracks.appearance[rows] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)

    def _ready(self, rows, stamp):
        """
        Return which of the tracks `rows`, due for confirmation, are confirmed now.

        One without an appearance yet waits (up to max_age) while a lost or coasting track of its
        label could be it: confirmed with a new id, it could no longer get the old one.
        """
        tracks = self._tracks
        waited = stamp - tracks.born[rows] >= self.max_age
        ready = np.isfinite(tracks.appearance[rows, 0]) | waited
        if ready.all():
            return ready
        waiting = np.concatenate([self._lost.label,
                                  tracks.label[tracks.confirmed & (tracks.seen < stamp)]])
        return ready | ~np.isin(tracks.label[rows], waiting)

    def _name_new_tracks(self, stamp):
        """Give the tracks confirmed in this update a lost or coasting track's id, or a new one."""
        tracks = self._tracks
        new = np.array([row for row, track_id in enumerate(self._ids) if track_id == _NEW])
        # Candidates: removed tracks (self._lost) and confirmed tracks not detected this time.
        coasting = tracks.confirmed & (tracks.seen < stamp)
        candidates = self._lost.concatenate(_Lost.of(tracks, self._ids, coasting))
        matches = [None] * len(new)
        if self.reid_timeout and self._dimension and len(candidates.seen):
            matches = self._reidentify(new, candidates)
        for row, index in zip(new.tolist(), matches):
            if index is None:
                self._ids[row] = str(next(self._next_id))
            else:
                self._ids[row] = candidates.ids[index]
                tracks.born[row] = candidates.born[index]
        taken = [index for index in matches if index is not None]
        if taken:
            self.reidentified += len(taken)
            free = np.ones(len(candidates.seen), dtype=bool)
            free[taken] = False
            count = len(self._lost.seen)  # the lost tracks come first, then the coasting ones
            self._lost = self._lost.take(free[:count])
            keep = np.ones(len(tracks.score), dtype=bool)
            keep[coasting] = free[count:]
            self._keep(keep)

    def _reidentify(self, rows, candidates):
        """
        Return, for each new track `rows`, the index of the candidate it is, or None.

        A candidate is taken by the new track of the same label that looks most like it, when
        their similarity reaches `reid_similarity` and each is the other's best match.
        """
        similarity = np.nan_to_num(self._tracks.appearance[rows] @ candidates.appearance.T,
                                   nan=-np.inf)
        similarity[np.not_equal.outer(self._tracks.label[rows], candidates.label)] = -np.inf
        matches = [None] * len(rows)
        for row in range(len(rows)):
            index = int(similarity[row].argmax())
            if (similarity[row, index] >= self.reid_similarity
                    and similarity[:, index].argmax() == row):
                matches[row] = index
        return matches

    def _remember(self, removed):
        """Keep the confirmed tracks being removed (`removed` true) that have an appearance."""
        if not (self.reid_timeout and self._dimension):
            return
        tracks = self._tracks
        removed = removed & tracks.confirmed & np.isfinite(tracks.appearance[:, 0])
        if removed.any():
            self._lost = self._lost.concatenate(_Lost.of(tracks, self._ids, removed))

    def _spawn(self, detections, stamp):
        """Start a tentative track (confirmed when `min_hits` is 1) on each detection."""
        count = len(detections.score)
        area = np.exp(detections.log_size.sum(axis=1))
        covariance = np.zeros((count, 2, 2))
        covariance[:, 0, 0] = self.measurement_noise ** 2 * area
        covariance[:, 1, 1] = self.initial_speed ** 2 * area
        confirmed = self.min_hits <= 1
        new = _Tracks(centre=detections.centre, velocity=np.zeros((count, 2)),
                      covariance=covariance, log_size=detections.log_size,
                      log_size_variance=np.full(count, self.measurement_noise ** 2),
                      score=detections.score, born=np.full(count, stamp),
                      seen=np.full(count, stamp), hits=np.ones(count, dtype=int),
                      label=detections.label, confirmed=np.full(count, confirmed),
                      appearance=detections.appearance,
                      looks=np.isfinite(detections.appearance[:, :1]).sum(axis=1))
        self._tracks = self._tracks.concatenate(new)
        self._ids.extend(_NEW if confirmed else None for _ in range(count))

    def _keep(self, keep):
        """Keep only the tracks where `keep` is true."""
        if keep.all():
            return
        self._tracks = self._tracks.take(keep)
        self._ids = list(itertools.compress(self._ids, keep))

    def _confirmed_tracks(self, stamp):
        tracks = self._tracks
        names = list(self._label_codes)
        rows = np.column_stack([tracks.centre, tracks.log_size, tracks.velocity, tracks.score,
                                tracks.born, tracks.seen]).tolist()
        confirmed = []
        for track_id, row, hits, label in zip(self._ids, rows, tracks.hits.tolist(),
                                              tracks.label.tolist()):
            if track_id is not None:
                cx, cy, log_w, log_h, vx, vy, score, born, seen = row
                half_width, half_height = math.exp(log_w) / 2, math.exp(log_h) / 2
                box = (cx - half_width, cy - half_height, cx + half_width, cy + half_height)
                confirmed.append(Track(track_id, names[label], box, score, (vx, vy), hits,
                                       stamp - born, stamp - seen))
        return confirmed


def kalman_predict(covariance: np.ndarray, transition: np.ndarray,
                   noise: np.ndarray) -> np.ndarray:
    """Return the predicted covariances F P F' + Q of a stack of covariances P (N, n, n)."""
    return transition @ covariance @ transition.T + noise


def kalman_update(covariance: np.ndarray,
                  innovation_variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Return the gains and the corrected covariances for a measurement of the first state variable.

    `covariance` is a stack of covariances P (N, n, n) and `innovation_variance` their
    S = H P H' + R (N,), with H = [1, 0, ...]. The gain is K = P H' / S (N, n) and the
    corrected covariance (I - K H) P.
    """
    gain = covariance[:, :, 0] / innovation_variance[:, None]
    return gain, covariance - gain[:, :, None] * covariance[:, None, 0, :]


@dataclasses.dataclass
class _Detections:
    """The valid detections of one image, one row per detection."""

    centre: np.ndarray    # (M, 2) box centre x, y in pixels
    log_size: np.ndarray  # (M, 2) log width and height in pixels
    score: np.ndarray     # (M,)
    label: np.ndarray     # (M,) label codes
    appearance: np.ndarray  # (M, D) unit descriptors, NaN rows where unknown (D may be 0)

    def take(self, index):
        """Return the detections selected by `index` (indices or a boolean mask)."""
        return _Detections(self.centre[index], self.log_size[index], self.score[index],
                           self.label[index], self.appearance[index])


@dataclasses.dataclass
class _Tracks:
    """
    The state of every track, one row per track.

    Each track runs two Kalman filters: the box centre with its velocity (constant velocity;
    x and y are independent with the same covariance, as their noises are the same) and the log
    width and height (random walk, one variance for both).
    """

    centre: np.ndarray             # (N, 2) box centre x, y in pixels
    velocity: np.ndarray           # (N, 2) velocity of the centre in pixels/s
    covariance: np.ndarray         # (N, 2, 2) covariance of (position, velocity), per axis
    log_size: np.ndarray           # (N, 2) log width and height in pixels
    log_size_variance: np.ndarray  # (N,) variance of each log size
    score: np.ndarray              # (N,) score of the last matched detection
    born: np.ndarray               # (N,) stamp of the first detection
    seen: np.ndarray               # (N,) stamp of the last detection
    hits: np.ndarray               # (N,) number of detections (int)
    label: np.ndarray              # (N,) label code
    confirmed: np.ndarray          # (N,) bool, true once `min_hits` detections were matched
    appearance: np.ndarray         # (N, D) unit average descriptor, NaN rows while unknown
    looks: np.ndarray              # (N,) number of descriptors averaged (int)

    @classmethod
    def empty(cls, dimension=0):
        """Return no tracks."""
        return cls(centre=np.empty((0, 2)), velocity=np.empty((0, 2)),
                   covariance=np.empty((0, 2, 2)), log_size=np.empty((0, 2)),
                   log_size_variance=np.empty(0), score=np.empty(0), born=np.empty(0),
                   seen=np.empty(0), hits=np.empty(0, dtype=int), label=np.empty(0, dtype=int),
                   confirmed=np.empty(0, dtype=bool), appearance=np.empty((0, dimension)),
                   looks=np.empty(0, dtype=int))

    def area(self):
        """Return the box areas in pixels^2 (the noises scale with them)."""
        return np.exp(self.log_size.sum(axis=1))

    def take(self, index):
        """Return the tracks selected by `index` (indices or a boolean mask)."""
        return _Tracks(*(getattr(self, field.name)[index] for field in dataclasses.fields(self)))

    def concatenate(self, other):
        """Return these tracks followed by `other`."""
        return _Tracks(*(np.concatenate([getattr(self, field.name), getattr(other, field.name)])
                         for field in dataclasses.fields(self)))


@dataclasses.dataclass
class _Lost:
    """Removed confirmed tracks that can be re-identified, one row per track."""

    ids: list               # their ids (str)
    label: np.ndarray       # (K,) label codes
    appearance: np.ndarray  # (K, D) unit average descriptors
    seen: np.ndarray        # (K,) stamp of the last detection
    born: np.ndarray        # (K,) stamp of the first detection

    @classmethod
    def empty(cls, dimension):
        """Return no lost tracks."""
        return cls([], np.empty(0, dtype=int), np.empty((0, dimension)), np.empty(0),
                   np.empty(0))

    @classmethod
    def of(cls, tracks, ids, mask):
        """Return the tracks (_Tracks, with their `ids`) where `mask` is true, as lost tracks."""
        return cls(list(itertools.compress(ids, mask)), tracks.label[mask],
                   tracks.appearance[mask], tracks.seen[mask], tracks.born[mask])

    def take(self, keep):
        """Return the lost tracks where `keep` (a boolean mask) is true."""
        return _Lost(list(itertools.compress(self.ids, keep)), self.label[keep],
                     self.appearance[keep], self.seen[keep], self.born[keep])

    def concatenate(self, other):
        """Return these lost tracks followed by `other`."""
        return _Lost(self.ids + other.ids, *(
            np.concatenate([getattr(self, name), getattr(other, name)])
            for name in ('label', 'appearance', 'seen', 'born')))
