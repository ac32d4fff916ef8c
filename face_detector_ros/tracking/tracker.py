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
import inspect
import itertools
import logging
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

LOGGER = logging.getLogger(__name__)

# Rows of the state matrix, one column per track (so each field of all tracks is one
# contiguous vector, which keeps numpy's per-call cost low for a handful of faces): centre and
# its velocity (pixels, pixels/s), the centre covariance shared by x and y (P00 position, P01
# cross term, P11 velocity), the box area (exp of the log width and height, refreshed on each
# update: the noise of the prediction and of the detection scale with it), the log width and
# height with their variance, the last matched score, the stamps of the first and the last
# detection, the number of detections, the label code and 1 once confirmed.
(CX, CY, VX, VY, P00, P01, P11, AREA, LOG_W, LOG_H, P_SIZE, SCORE, BORN, SEEN, HITS, LABEL,
 CONFIRMED) = range(17)
NUM_FIELDS = 17

# Cost of an impossible match: larger than any sum of feasible costs, so the assignment first
# maximises the number of feasible matches, then minimises their cost.
INFEASIBLE = 1e9

# Maps a box's x1, y1, x2, y2 to its centre, width and height (exactly: halves and differences).
CORNERS_TO_CENTRE_SIZE = np.array([[0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5], [-1, 0, 1, 0],
                                   [0, -1, 0, 1]])

# Label codes are multiplied by this in the size gate, so different labels never pass it.
LABEL_SPACING = 1e4

# Track ids are positive int32 values (Detection2D.id strings, MOTChallenge files, other
# languages' ints), wrapping from MAX_TRACK_ID back to 1. A node takes its first id from the
# start time, IDS_PER_SECOND per second since ID_EPOCH: a restarted tracker starts above every
# id of the run before, as long as that run confirmed fewer than IDS_PER_SECOND tracks a second
# on average (docs/tracking.md). The range lasts 2**31 / 10 s = 6.8 years before it wraps.
MAX_TRACK_ID = 2**31 - 1
ID_EPOCH = 1735689600  # 2025-01-01T00:00:00Z
IDS_PER_SECOND = 10


def first_track_id(now):
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

    Counters for the node to report: `rejected_boxes` (invalid detections ignored) and `resets`
    (stamps that went backwards).
    """

    @classmethod
    def from_parameters(cls, params):
        """Build a tracker from a mapping (node parameters), taking the keys it knows."""
        known = inspect.signature(cls).parameters
        return cls(**{key: value for key, value in params.items() if key in known})

    def __init__(self, *, min_hits=3, max_age=1.0, distance_gate=4.0, size_gate=2.0,
                 measurement_noise=0.05, acceleration_noise=2.0, initial_speed=4.0,
                 size_noise=0.3, first_id=1):
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
        self._next_id = _track_ids(first_id)  # survives resets: ids are never reused
        # Prediction x' = F x + Q area on the rows up to P11, as one product with the area row:
        # x' = dynamics @ x[:AREA + 1]; F and Q are set from dt on each prediction.
        self._dynamics = np.eye(P11 + 1, AREA + 1)
        self._label_codes = {}
        self.reset()

    def reset(self):
        """Forget all tracks (ids already given are still never reused)."""
        self._state = np.empty((NUM_FIELDS, 0))
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
        seen = self._state[SEEN]
        if len(seen) and stamp - seen.min() > self.max_age:
            self._keep(stamp - seen <= self.max_age)
        # Sizes changed in the last correction: refresh the area that the noise scales with.
        log_area = self._state[LOG_W] + self._state[LOG_H]
        np.exp(log_area, out=self._state[AREA])
        self._predict(dt)
        rows, cols, variance = self._associate(detections, log_area)
        self._correct(rows, detections.take(cols, axis=1), variance.take(rows), stamp)
        if len(cols) < detections.shape[1]:
            unmatched = np.ones(detections.shape[1], dtype=bool)
            unmatched[cols] = False
            self._spawn(detections[:, unmatched], stamp)
        if None in self._ids:
            # A tentative track that misses a frame is dropped: one-frame false positives vanish.
            self._keep((self._state[CONFIRMED] > 0) | (self._state[SEEN] == stamp))
        return self._confirmed_tracks(stamp)

    def _detections(self, boxes, scores, labels):
        """Return the valid detections as rows cx, cy, log w, log h, score, label code."""
        codes = [self._label_codes.setdefault(label, len(self._label_codes)) for label in labels]
        if not math.isfinite(boxes.sum() + scores.sum()):
            finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
            boxes = np.where(finite[:, None], boxes, 0.0)  # zero size: rejected below
        detections = np.empty((6, len(boxes)))
        np.matmul(CORNERS_TO_CENTRE_SIZE, boxes.T, out=detections[:4])
        detections[4] = scores
        detections[5] = codes
        if not detections[2:4].min(initial=np.inf) > 0:  # boxes are checked when one is empty
            valid = detections[2:4].min(axis=0) > 0
            self.rejected_boxes += int(np.count_nonzero(~valid))
            detections = detections[:, valid]
        np.log(detections[2:4], out=detections[2:4])
        return detections

    def _predict(self, dt):
        """Predict every track `dt` seconds ahead."""
        state = self._state
        if dt <= 0 or not state.shape[1]:
            return
        # Constant velocity: x += v dt; P = F P F' + Q on the (P00, P01, P11) triplet, where Q
        # is continuous white-noise acceleration scaled to each face's size (its area).
        dynamics = self._dynamics
        dynamics[CX, VX] = dynamics[CY, VY] = dynamics[P01, P11] = dt
        dynamics[P00, P01] = 2 * dt
        dynamics[P00, P11] = dt * dt
        acceleration2 = self.acceleration_noise ** 2
        dynamics[P00, AREA] = acceleration2 * dt ** 3 / 3
        dynamics[P01, AREA] = acceleration2 * dt * dt / 2
        dynamics[P11, AREA] = acceleration2 * dt
        state[:P11 + 1] = dynamics @ state[:AREA + 1]
        state[P_SIZE] += self.size_noise ** 2 * dt

    def _associate(self, detections, log_area):
        """
        Match tracks to detections by optimal gated assignment.

        `log_area` holds the tracks' log box areas. Return the matched track indices (in
        increasing order), detection indices, and every track's innovation variance: the
        variance of a detected centre around the predicted one (pixels^2, per axis).
        """
        state = self._state
        variance = state[P00] + self.measurement_noise ** 2 * state[AREA]
        if not len(variance) or not detections.shape[1]:
            none = np.empty(0, dtype=int)
            return none, none, variance
        # Squared distances of every (track, detection) pair, x and y in one broadcast.
        delta = detections[:2, None, :] - state[CX:CY + 1, :, None]
        delta *= delta
        distance2 = delta[0] + delta[1]
        distance2 /= variance[:, None]
        # One comparison gates both size and label: codes are spaced far beyond any log area.
        key = LABEL_SPACING * state[LABEL] + log_area
        detection_key = LABEL_SPACING * detections[5] + detections[2] + detections[3]
        feasible = ((distance2 <= self.distance_gate ** 2)
                    & (np.abs(detection_key - key[:, None]) <= 2 * math.log(self.size_gate)))
        # When no track or detection has two candidates (separate faces, the usual frame) the
        # optimal assignment is every feasible pair and the solver is not needed. Dense gates
        # (more pairs than tracks or detections) cannot be one-to-one and are not listed.
        if np.count_nonzero(feasible) <= min(feasible.shape):
            rows, cols = np.nonzero(feasible)
            if len(set(rows.tolist())) == len(set(cols.tolist())) == len(rows):
                return rows, cols, variance
        # Negative log-likelihood of the detection under the track's prediction: a coasting
        # track with a vague prediction does not steal a detection from a sharp one. Tentative
        # tracks pay the whole gate, so a confirmed track within its gate always wins.
        track_cost = np.log(variance) + (1 - state[CONFIRMED]) * self.distance_gate ** 2
        cost = np.where(feasible, distance2 + track_cost[:, None], INFEASIBLE)
        rows, cols = linear_sum_assignment(cost)
        keep = feasible[rows, cols]
        return rows[keep], cols[keep], variance

    def _correct(self, rows, detections, variance, stamp):
        """Update the tracks `rows` (increasing) with their detections and variances."""
        if not len(rows):
            return
        # When every track matched (the usual frame) the state is updated in place.
        every_track = len(rows) == self._state.shape[1]
        tracks = self._state if every_track else self._state.take(rows, axis=1)
        gain = tracks[P00:P01 + 1] / variance  # position and velocity gains
        residual = detections[:2] - tracks[CX:CY + 1]
        # (x, y, vx, vy) += (position gain, velocity gain) x residual
        tracks[CX:VY + 1] += (gain[:, None] * residual).reshape(4, -1)
        tracks[P11] -= gain[1] * tracks[P01]
        tracks[P00:P01 + 1] *= 1 - gain[0]
        gain_size = tracks[P_SIZE] / (tracks[P_SIZE] + self.measurement_noise ** 2)
        tracks[LOG_W:LOG_H + 1] += gain_size * (detections[2:4] - tracks[LOG_W:LOG_H + 1])
        tracks[P_SIZE] *= 1 - gain_size
        tracks[SCORE] = detections[4]
        tracks[SEEN] = stamp
        tracks[HITS] += 1
        if None in self._ids:
            confirm = tracks[HITS] == self.min_hits  # hits grow by one: reached exactly once
            tracks[CONFIRMED, confirm] = 1
            for row in rows[confirm]:
                self._ids[row] = str(next(self._next_id))
        if not every_track:
            self._state[:, rows] = tracks

    def _spawn(self, detections, stamp):
        """Start a tentative track (confirmed when `min_hits` is 1) on each detection."""
        new = np.zeros((NUM_FIELDS, detections.shape[1]))
        new[[CX, CY, LOG_W, LOG_H, SCORE, LABEL]] = detections
        area = np.exp(detections[2] + detections[3])
        new[P00] = self.measurement_noise ** 2 * area
        new[P11] = self.initial_speed ** 2 * area
        new[P_SIZE] = self.measurement_noise ** 2
        new[BORN] = stamp
        new[SEEN] = stamp
        new[HITS] = 1
        confirmed = self.min_hits <= 1
        new[CONFIRMED] = confirmed
        self._state = np.concatenate([self._state, new], axis=1)
        self._ids.extend(str(next(self._next_id)) if confirmed else None
                         for _ in range(detections.shape[1]))
        labels = list(self._label_codes)
        self._labels.extend(labels[int(code)] for code in detections[5])

    def _keep(self, keep):
        """Keep only the tracks where `keep` is true."""
        if keep.all():
            return
        self._state = self._state[:, keep]
        self._ids = list(itertools.compress(self._ids, keep))
        self._labels = list(itertools.compress(self._labels, keep))

    def _confirmed_tracks(self, stamp):
        tracks = []
        for track_id, label, row in zip(self._ids, self._labels, self._state.T.tolist()):
            if track_id is not None:
                half_width, half_height = math.exp(row[LOG_W]) / 2, math.exp(row[LOG_H]) / 2
                box = (row[CX] - half_width, row[CY] - half_height,
                       row[CX] + half_width, row[CY] + half_height)
                tracks.append(Track(track_id, label, box, row[SCORE], (row[VX], row[VY]),
                                    int(row[HITS]), stamp - row[BORN], stamp - row[SEEN]))
        return tracks
