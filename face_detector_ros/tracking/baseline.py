"""
The classic greedy centroid tracker, kept as the baseline `CentroidTracker` must beat.

It reproduces the behaviour of the PyImageSearch centroid tracker that the detector article
suggests: objects are centroids; each update matches them to the new centroids greedily (tracks
in order of their closest distance, each taking its nearest centroid unless already taken), with
no distance gate and no motion model; unmatched detections are dropped when tracks outnumber
them, otherwise registered as new objects (at once, no confirmation); an object is deregistered
after more than `max_disappeared` consecutive updates without a match (frames, not seconds).

To be scored like the project's tracker it takes the same `update()` arguments and returns
`Track`s; the box, label and score are those of the last matched detection, which the original
does not keep. Labels are ignored for matching, as in the original.
"""

from __future__ import annotations

from collections.abc import Sequence

from face_detector_ros.tracking.tracker import Track
import numpy as np


class GreedyCentroidTracker:
    """Greedy nearest-centroid tracker ageing by frame count (the baseline)."""

    def __init__(self, *, max_disappeared: int = 50) -> None:
        self.max_disappeared = int(max_disappeared)
        self._next_id = 1
        self._objects = {}  # id -> [centroid, box, label, score, disappeared, hits, born, seen]

    def update(self, boxes: np.ndarray, scores: np.ndarray, labels: Sequence[str],
               stamp: float) -> list[Track]:
        """Match one frame's detections and return every registered object."""
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        if not len(boxes):
            for object_id in list(self._objects):
                self._disappear(object_id)
            return self._tracks(stamp)
        centroids = (boxes[:, :2] + boxes[:, 2:]) / 2
        if not self._objects:
            for index in range(len(boxes)):
                self._register(centroids[index], boxes[index], labels[index], scores[index], stamp)
            return self._tracks(stamp)

        object_ids = list(self._objects)
        object_centroids = np.array([self._objects[i][0] for i in object_ids])
        distance = np.linalg.norm(object_centroids[:, None] - centroids[None], axis=2)
        rows = distance.min(axis=1).argsort()
        cols = distance.argmin(axis=1)[rows]
        used_rows, used_cols = set(), set()
        for row, col in zip(rows, cols):
            if row in used_rows or col in used_cols:
                continue
            entry = self._objects[object_ids[row]]
            entry[:5] = centroids[col], boxes[col], labels[col], scores[col], 0
            entry[5] += 1
            entry[7] = stamp
            used_rows.add(row)
            used_cols.add(col)
        if distance.shape[0] >= distance.shape[1]:
            for row in set(range(distance.shape[0])) - used_rows:
                self._disappear(object_ids[row])
        else:
            for col in sorted(set(range(distance.shape[1])) - used_cols):
                self._register(centroids[col], boxes[col], labels[col], scores[col], stamp)
        return self._tracks(stamp)

    def _register(self, centroid, box, label, score, stamp):
        self._objects[self._next_id] = [centroid, box, label, score, 0, 1, stamp, stamp]
        self._next_id += 1

    def _disappear(self, object_id):
        self._objects[object_id][4] += 1
        if self._objects[object_id][4] > self.max_disappeared:
            del self._objects[object_id]

    def _tracks(self, stamp):
        return [Track(str(object_id), label, tuple(box.tolist()), float(score), (0.0, 0.0),
                      hits, stamp - born, stamp - seen)
                for object_id, (_, box, label, score, _, hits, born, seen)
                in self._objects.items()]
