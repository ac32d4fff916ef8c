"""
Multi-face tracking: stable identities from per-frame face detections.

`CentroidTracker` keeps the simplicity of the classic centroid tracker (one state per face,
matched by centre distance) and fixes its known failures: it assigns optimally (Hungarian),
gates matches by a distance relative to the face size, never matches different labels, predicts
with a constant-velocity Kalman filter (so crossing faces keep their ids and a missed frame costs
nothing), confirms tracks after a few hits, ages them in seconds rather than frames and smooths
the boxes. It never imports rclpy; `tracker_node` is a thin ROS wrapper around it.
"""

import dataclasses
import itertools
import logging
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

LOGGER = logging.getLogger(__name__)

# Columns of the state matrix, one row per track: centre and its velocity (pixels, pixels/s),
# the centre covariance shared by x and y (P00 position, P01 cross term, P11 velocity), the log
# width and height with their variance, the last matched score, the stamps of the first and the
# last detection, the number of detections and the label code.
CX, CY, VX, VY, P00, P01, P11, LOG_W, LOG_H, P_SIZE, SCORE, BORN, SEEN, HITS, LABEL = range(15)
NUM_COLUMNS = 15

# Cost of an impossible match: larger than any sum of feasible costs, so the assignment first
# maximises the number of feasible matches, then minimises their cost.
INFEASIBLE = 1e9


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

    Counters for the node to report: `rejected_boxes` (invalid detections ignored) and `resets`
    (stamps that went backwards).
    """

    def __init__(self, *, min_hits=3, max_age=1.0, distance_gate=4.0, size_gate=2.0,
                 measurement_noise=0.05, acceleration_noise=2.0, initial_speed=4.0,
                 size_noise=0.3):
        if min_hits < 1:
            raise ValueError(f'min_hits must be at least 1, got {min_hits}')
        if size_gate < 1.0:
            raise ValueError(f'size_gate must be at least 1, got {size_gate}')
        for name, value in (('max_age', max_age), ('distance_gate', distance_gate),
                            ('measurement_noise', measurement_noise),
                            ('acceleration_noise', acceleration_noise),
                            ('initial_speed', initial_speed), ('size_noise', size_noise)):
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f'{name} must be a positive number, got {value}')
        self.min_hits = int(min_hits)
        self.max_age = float(max_age)
        self.distance_gate = float(distance_gate)
        self.size_gate = float(size_gate)
        self.measurement_noise = float(measurement_noise)
        self.acceleration_noise = float(acceleration_noise)
        self.initial_speed = float(initial_speed)
        self.size_noise = float(size_noise)
        self.rejected_boxes = 0  # invalid detections ignored since construction
        self.resets = 0          # resets caused by a stamp going backwards
        self._next_id = itertools.count(1)  # survives resets: ids are never reused
        self._label_codes = {}
        self.reset()

    def reset(self):
        """Forget all tracks (ids already given are still never reused)."""
        self._state = np.empty((0, NUM_COLUMNS))
        self._ids = []       # str for confirmed tracks, None while tentative
        self._labels = []
        self._stamp = None

    def update(self, boxes, scores, labels, stamp):
        """
        Add the detections of one image and return the confirmed tracks, coasting ones included.

        `boxes` is an (N, 4) array-like of x1, y1, x2, y2 in pixels (N may be 0), `scores` has N
        detection scores and `labels` N strings. Boxes that are not finite or have no area are
        ignored and counted in `rejected_boxes`. `stamp` is the image stamp in seconds; a stamp
        earlier than the previous one resets the tracker (logged and counted in `resets`).
        """
        stamp = float(stamp)
        if not math.isfinite(stamp):
            raise ValueError(f'stamp must be finite, got {stamp}')
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        scores = np.asarray(scores, dtype=float).reshape(-1)
        if len(scores) != len(boxes) or len(labels) != len(boxes):
            raise ValueError(f'got {len(boxes)} boxes, {len(scores)} scores and '
                             f'{len(labels)} labels; they must be equally many')
        if self._stamp is not None and stamp < self._stamp:
            LOGGER.warning('image stamp went back from %.3f s to %.3f s (bag loop or time '
                           'jump): tracker reset', self._stamp, stamp)
            self.resets += 1
            self.reset()
        dt = 0.0 if self._stamp is None else stamp - self._stamp
        self._stamp = stamp

        detections = self._detections(boxes, scores, labels)
        self._predict(dt)
        rows, cols = self._associate(detections)
        self._correct(rows, detections[cols], stamp)
        unmatched = np.ones(len(detections), dtype=bool)
        unmatched[cols] = False
        self._spawn(detections[unmatched], stamp)
        self._prune(stamp)
        return self._confirmed_tracks(stamp)

    # Detections travel as rows of: cx, cy, log w, log h, score, label code.
    def _detections(self, boxes, scores, labels):
        with np.errstate(invalid='ignore'):
            width = boxes[:, 2] - boxes[:, 0]
            height = boxes[:, 3] - boxes[:, 1]
            valid = (np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
                     & (width > 0) & (height > 0))
        codes = [self._label_codes.setdefault(label, len(self._label_codes)) for label in labels]
        if not valid.all():
            self.rejected_boxes += int(np.count_nonzero(~valid))
        detections = np.empty((int(np.count_nonzero(valid)), 6))
        if len(detections):
            detections[:, 0] = (boxes[valid, 0] + boxes[valid, 2]) / 2
            detections[:, 1] = (boxes[valid, 1] + boxes[valid, 3]) / 2
            detections[:, 2] = np.log(width[valid])
            detections[:, 3] = np.log(height[valid])
            detections[:, 4] = scores[valid]
            detections[:, 5] = np.asarray(codes, dtype=float)[valid]
        return detections

    def _predict(self, dt):
        state = self._state
        if not len(state) or dt <= 0:
            return
        state[:, CX] += state[:, VX] * dt
        state[:, CY] += state[:, VY] * dt
        # Continuous white-noise acceleration, scaled to each face's size.
        q = (self.acceleration_noise ** 2) * np.exp(state[:, LOG_W] + state[:, LOG_H])
        p00, p01, p11 = state[:, P00], state[:, P01], state[:, P11]
        state[:, P00] = p00 + 2 * dt * p01 + dt * dt * p11 + q * dt ** 3 / 3
        state[:, P01] = p01 + dt * p11 + q * dt * dt / 2
        state[:, P11] = p11 + q * dt
        state[:, P_SIZE] += self.size_noise ** 2 * dt

    def _innovation_variance(self, state):
        """Return the variance of a detected centre around each track's prediction (pixels^2)."""
        size_squared = np.exp(state[:, LOG_W] + state[:, LOG_H])
        return state[:, P00] + self.measurement_noise ** 2 * size_squared

    def _associate(self, detections):
        """Return matched (track rows, detection rows) by optimal gated assignment."""
        state = self._state
        if not len(state) or not len(detections):
            return np.empty(0, dtype=int), np.empty(0, dtype=int)
        variance = self._innovation_variance(state)[:, None]
        dx = detections[None, :, 0] - state[:, None, CX]
        dy = detections[None, :, 1] - state[:, None, CY]
        distance2 = (dx * dx + dy * dy) / variance
        size_change = np.abs(detections[None, :, 2] + detections[None, :, 3]
                             - state[:, None, LOG_W] - state[:, None, LOG_H]) / 2
        feasible = ((distance2 <= self.distance_gate ** 2)
                    & (size_change <= math.log(self.size_gate))
                    & (detections[None, :, 5] == state[:, None, LABEL]))
        track_rows = np.flatnonzero(feasible.any(axis=1))
        if not len(track_rows):
            return np.empty(0, dtype=int), np.empty(0, dtype=int)
        detection_rows = np.flatnonzero(feasible.any(axis=0))
        feasible = feasible[np.ix_(track_rows, detection_rows)]
        # Negative log-likelihood of the detection under the track's prediction: a coasting
        # track with a vague prediction does not steal a detection from a sharp one. Tentative
        # tracks pay the whole gate, so a confirmed track within its gate always wins.
        cost = distance2[np.ix_(track_rows, detection_rows)] + np.log(variance[track_rows])
        tentative = np.array([self._ids[row] is None for row in track_rows])
        cost[tentative] += self.distance_gate ** 2
        rows, cols = linear_sum_assignment(np.where(feasible, cost, INFEASIBLE))
        keep = feasible[rows, cols]
        return track_rows[rows[keep]], detection_rows[cols[keep]]

    def _correct(self, rows, detections, stamp):
        if not len(rows):
            return
        state = self._state
        tracks = state[rows]
        variance = self._innovation_variance(tracks)
        gain_position = tracks[:, P00] / variance
        gain_velocity = tracks[:, P01] / variance
        for position, velocity, measured in ((CX, VX, 0), (CY, VY, 1)):
            residual = detections[:, measured] - tracks[:, position]
            tracks[:, position] += gain_position * residual
            tracks[:, velocity] += gain_velocity * residual
        p01 = tracks[:, P01].copy()
        tracks[:, P11] -= gain_velocity * p01
        tracks[:, P01] = (1 - gain_position) * p01
        tracks[:, P00] *= 1 - gain_position
        gain_size = tracks[:, P_SIZE] / (tracks[:, P_SIZE] + self.measurement_noise ** 2)
        tracks[:, LOG_W] += gain_size * (detections[:, 2] - tracks[:, LOG_W])
        tracks[:, LOG_H] += gain_size * (detections[:, 3] - tracks[:, LOG_H])
        tracks[:, P_SIZE] *= 1 - gain_size
        tracks[:, SCORE] = detections[:, 4]
        tracks[:, SEEN] = stamp
        tracks[:, HITS] += 1
        state[rows] = tracks
        for row in rows[tracks[:, HITS] >= self.min_hits]:
            if self._ids[row] is None:
                self._ids[row] = str(next(self._next_id))

    def _spawn(self, detections, stamp):
        if not len(detections):
            return
        new = np.zeros((len(detections), NUM_COLUMNS))
        new[:, [CX, CY, LOG_W, LOG_H, SCORE, LABEL]] = detections
        size_squared = np.exp(detections[:, 2] + detections[:, 3])
        new[:, P00] = self.measurement_noise ** 2 * size_squared
        new[:, P11] = self.initial_speed ** 2 * size_squared
        new[:, P_SIZE] = self.measurement_noise ** 2
        new[:, BORN] = stamp
        new[:, SEEN] = stamp
        new[:, HITS] = 1
        self._state = np.concatenate([self._state, new])
        confirmed = self.min_hits <= 1
        self._ids.extend(str(next(self._next_id)) if confirmed else None for _ in detections)
        codes = list(self._label_codes)
        self._labels.extend(codes[int(code)] for code in detections[:, 5])

    def _prune(self, stamp):
        """Drop tracks unseen for max_age seconds, and tentative tracks that missed a frame."""
        seen = self._state[:, SEEN]
        keep = stamp - seen <= self.max_age
        tentative = [index for index, track_id in enumerate(self._ids) if track_id is None]
        keep[tentative] &= seen[tentative] == stamp
        if keep.all():
            return
        self._state = self._state[keep]
        self._ids = list(itertools.compress(self._ids, keep))
        self._labels = list(itertools.compress(self._labels, keep))

    def _confirmed_tracks(self, stamp):
        state = self._state
        width_half = np.exp(state[:, LOG_W]) / 2
        height_half = np.exp(state[:, LOG_H]) / 2
        boxes = np.stack([state[:, CX] - width_half, state[:, CY] - height_half,
                          state[:, CX] + width_half, state[:, CY] + height_half], axis=1)
        return [
            Track(track_id, label, tuple(box), score, (vx, vy), int(hits), stamp - born,
                  stamp - seen)
            for track_id, label, box, score, vx, vy, hits, born, seen in zip(
                self._ids, self._labels, boxes.tolist(), state[:, SCORE].tolist(),
                state[:, VX].tolist(), state[:, VY].tolist(), state[:, HITS].tolist(),
                state[:, BORN].tolist(), state[:, SEEN].tolist())
            if track_id is not None]
