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
# last detection, the number of detections, the label code and 1 once confirmed.
(CX, CY, VX, VY, P00, P01, P11, LOG_W, LOG_H, P_SIZE, SCORE, BORN, SEEN, HITS, LABEL,
 CONFIRMED) = range(16)
NUM_COLUMNS = 16

# Cost of an impossible match: larger than any sum of feasible costs, so the assignment first
# maximises the number of feasible matches, then minimises their cost.
INFEASIBLE = 1e9

# Label codes are multiplied by this in the size gate, so different labels never pass it.
LABEL_SPACING = 1e4


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
        if not size_gate >= 1.0:
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
        self._transition = np.eye(P11 + 1)  # x' = x @ transition, dt set on each prediction
        self._process_noise = np.zeros(P11 + 1)
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
        state = self._state
        if len(state) and stamp - state[:, SEEN].min() > self.max_age:
            self._keep(stamp - state[:, SEEN] <= self.max_age)
        if len(self._state):
            self._predict(dt)
        rows, cols, variance = self._associate(detections)
        self._correct(rows, detections[cols], variance[rows], stamp)
        if len(cols) < len(detections):
            self._spawn(np.delete(detections, cols, axis=0), stamp)
        if None in self._ids:
            # A tentative track that misses a frame is dropped: one-frame false positives vanish.
            self._keep((self._state[:, CONFIRMED] > 0) | (self._state[:, SEEN] == stamp))
        return self._confirmed_tracks(stamp)

    def _detections(self, boxes, scores, labels):
        """Return the valid detections as rows of cx, cy, log w, log h, score, label code."""
        codes = [self._label_codes.setdefault(label, len(self._label_codes)) for label in labels]
        if not math.isfinite(boxes.sum() + scores.sum()):
            finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
            boxes = np.where(finite[:, None], boxes, 0.0)  # zero size: rejected below
        size = boxes[:, 2:] - boxes[:, :2]
        valid = size.min(axis=1, initial=np.inf) > 0
        if not valid.all():
            self.rejected_boxes += int(np.count_nonzero(~valid))
            boxes, size, scores = boxes[valid], size[valid], scores[valid]
            codes = np.asarray(codes)[valid]
        detections = np.empty((len(boxes), 6))
        detections[:, :2] = (boxes[:, :2] + boxes[:, 2:]) * 0.5
        np.log(size, out=detections[:, 2:4])
        detections[:, 4] = scores
        detections[:, 5] = codes
        return detections

    def _predict(self, dt):
        if dt <= 0:
            return
        # Constant velocity: x += v dt; P = F P F' + Q on the (P00, P01, P11) triplet, where Q
        # is continuous white-noise acceleration scaled to each face's size.
        transition, noise = self._transition, self._process_noise
        transition[VX, CX] = transition[VY, CY] = transition[P11, P01] = dt
        transition[P01, P00] = 2 * dt
        transition[P11, P00] = dt * dt
        noise[P00:P11 + 1] = dt ** 3 / 3, dt * dt / 2, dt
        state = self._state
        q = self.acceleration_noise ** 2 * np.exp(state[:, LOG_W] + state[:, LOG_H])
        state[:, :P11 + 1] = state[:, :P11 + 1] @ transition + q[:, None] * noise
        state[:, P_SIZE] += self.size_noise ** 2 * dt

    def _associate(self, detections):
        """
        Match tracks to detections by optimal gated assignment.

        Return the matched track rows, detection rows, and every track's innovation variance:
        the variance of a detected centre around the predicted one (pixels^2, per axis).
        """
        state = self._state
        log_area = state[:, LOG_W] + state[:, LOG_H]
        variance = state[:, P00] + self.measurement_noise ** 2 * np.exp(log_area)
        none = np.empty(0, dtype=int)
        if not len(state) or not len(detections):
            return none, none, variance
        dx = detections[:, 0] - state[:, CX, None]
        dy = detections[:, 1] - state[:, CY, None]
        distance2 = (dx * dx + dy * dy) / variance[:, None]
        # One comparison gates both size and label: codes are spaced far beyond any log area.
        key = LABEL_SPACING * state[:, LABEL] + log_area
        detection_key = LABEL_SPACING * detections[:, 5] + detections[:, 2] + detections[:, 3]
        feasible = ((distance2 <= self.distance_gate ** 2)
                    & (np.abs(detection_key - key[:, None]) <= 2 * math.log(self.size_gate)))
        # Negative log-likelihood of the detection under the track's prediction: a coasting
        # track with a vague prediction does not steal a detection from a sharp one. Tentative
        # tracks pay the whole gate, so a confirmed track within its gate always wins.
        track_cost = np.log(variance) + (1 - state[:, CONFIRMED]) * self.distance_gate ** 2
        cost = np.where(feasible, distance2 + track_cost[:, None], INFEASIBLE)
        rows, cols = linear_sum_assignment(cost)
        keep = feasible[rows, cols]
        return rows[keep], cols[keep], variance

    def _correct(self, rows, detections, variance, stamp):
        if not len(rows):
            return
        tracks = self._state[rows]
        gain = tracks[:, P00:P01 + 1] / variance[:, None]  # position and velocity gains
        residual = detections[:, :2] - tracks[:, CX:CY + 1]
        tracks[:, CX:CY + 1] += gain[:, :1] * residual
        tracks[:, VX:VY + 1] += gain[:, 1:] * residual
        tracks[:, P11] -= gain[:, 1] * tracks[:, P01]
        tracks[:, P00:P01 + 1] *= 1 - gain[:, :1]
        gain_size = tracks[:, P_SIZE] / (tracks[:, P_SIZE] + self.measurement_noise ** 2)
        tracks[:, LOG_W:LOG_H + 1] += gain_size[:, None] * (
            detections[:, 2:4] - tracks[:, LOG_W:LOG_H + 1])
        tracks[:, P_SIZE] *= 1 - gain_size
        tracks[:, SCORE] = detections[:, 4]
        tracks[:, SEEN] = stamp
        tracks[:, HITS] += 1
        confirm = tracks[:, HITS] == self.min_hits  # hits grow by one: reached exactly once
        if confirm.any():
            tracks[confirm, CONFIRMED] = 1
            for row in rows[confirm]:
                self._ids[row] = str(next(self._next_id))
        self._state[rows] = tracks

    def _spawn(self, detections, stamp):
        if not len(detections):
            return
        new = np.zeros((len(detections), NUM_COLUMNS))
        new[:, [CX, CY, LOG_W, LOG_H, SCORE, LABEL]] = detections
        area = np.exp(detections[:, 2] + detections[:, 3])
        new[:, P00] = self.measurement_noise ** 2 * area
        new[:, P11] = self.initial_speed ** 2 * area
        new[:, P_SIZE] = self.measurement_noise ** 2
        new[:, BORN] = stamp
        new[:, SEEN] = stamp
        new[:, HITS] = 1
        confirmed = self.min_hits <= 1
        new[:, CONFIRMED] = confirmed
        self._state = np.concatenate([self._state, new])
        self._ids.extend(str(next(self._next_id)) if confirmed else None for _ in detections)
        labels = list(self._label_codes)
        self._labels.extend(labels[int(code)] for code in detections[:, 5])

    def _keep(self, keep):
        """Keep only the tracks where `keep` is true."""
        if keep.all():
            return
        self._state = self._state[keep]
        self._ids = list(itertools.compress(self._ids, keep))
        self._labels = list(itertools.compress(self._labels, keep))

    def _confirmed_tracks(self, stamp):
        tracks = []
        for track_id, label, row in zip(self._ids, self._labels, self._state.tolist()):
            if track_id is not None:
                half_width, half_height = math.exp(row[LOG_W]) / 2, math.exp(row[LOG_H]) / 2
                box = (row[CX] - half_width, row[CY] - half_height,
                       row[CX] + half_width, row[CY] + half_height)
                tracks.append(Track(track_id, label, box, row[SCORE], (row[VX], row[VY]),
                                    int(row[HITS]), stamp - row[BORN], stamp - row[SEEN]))
        return tracks
