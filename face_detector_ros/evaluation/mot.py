"""
MOT metrics (CLEAR MOT and identity scores) and the MOTChallenge text format.

Tracks and ground truth are arrays of rows `frame, id, left, top, width, height, conf`, as in
MOTChallenge files (frames 1-based, boxes in pixels). `evaluate` follows the definitions used by
the MOTChallenge benchmark and py-motmetrics:

- Ground-truth rows with conf 0 ("zero-marked") follow one of two conventions, `zero_marked`:
  'devkit' (the default, the MOTChallenge devkit's regions to ignore): in each frame, ground
  truth and predictions are matched one to one (largest total IoU, IoU at least 0.5),
  predictions matched to a zero-marked row are removed, then those rows are dropped, before
  anything is scored; 'trackeval' (TrackEval's MOTChallenge reader): the zero-marked rows are
  dropped and every prediction is kept, so one on such a region is a false positive.

- CLEAR MOT (Bernardin and Stiefelhagen, 2008): in each frame a ground-truth object keeps the
  hypothesis it was matched to last time if their IoU still passes the threshold; the others are
  matched by minimum-cost assignment on 1 - IoU. An id switch is a match to a hypothesis other
  than the object's previous one (however many frames ago). MOTA = 1 - (FN + FP + IDSW) / GT.
  MOTP here is the mean IoU of the matches (higher is better).
- Fragmentations: for each object, the number of times it goes from tracked to not tracked
  between its first and its last tracked frame.
- Identity scores (Ristani et al., 2016): ground-truth and predicted trajectories are matched
  one to one, globally, to maximise the number of frames in which they overlap (IoU at least the
  threshold); IDF1 = 2 IDTP / (GT + predictions).
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from pathlib import Path
from typing import IO

import numpy as np
from scipy.optimize import linear_sum_assignment

# The devkit's IoU for removing predictions on ignored ground truth, whatever the threshold.
IGNORE_IOU = 0.5


def rows_from_boxes(frame: int, ids: Sequence[int] | int, boxes: np.ndarray,
                    confidences: Sequence[float] | None = None) -> np.ndarray:
    """Return MOT rows for one frame from ids and x1, y1, x2, y2 boxes."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    rows = np.empty((len(boxes), 7))
    rows[:, 0] = frame
    rows[:, 1] = ids
    rows[:, 2:4] = boxes[:, :2]
    rows[:, 4:6] = boxes[:, 2:] - boxes[:, :2]
    rows[:, 6] = 1.0 if confidences is None else confidences
    return rows


def rows_from_tracks(frame: int, tracks: Sequence,
                     ids: Sequence[int] | None = None) -> np.ndarray:
    """Return MOT rows for one frame of `Track`s; `ids` replaces their (integer) ids."""
    if ids is None:
        ids = [int(track.id) for track in tracks]
    return rows_from_boxes(frame, ids, [track.box for track in tracks],
                           [track.score for track in tracks])


def write_mot(path_or_stream: str | Path | IO, rows: np.ndarray) -> None:
    """Write rows (frame, id, left, top, width, height[, conf]) as a MOTChallenge text file."""
    rows = np.asarray(rows, dtype=float).reshape(-1, 7)
    order = np.lexsort((rows[:, 1], rows[:, 0]))
    lines = ''.join(
        f'{int(frame)},{int(track_id)},{left:.2f},{top:.2f},{width:.2f},{height:.2f},'
        f'{conf:.4g},-1,-1,-1\n'
        for frame, track_id, left, top, width, height, conf in rows[order].tolist())
    if hasattr(path_or_stream, 'write'):
        path_or_stream.write(lines)
    else:
        with open(path_or_stream, 'w') as stream:
            stream.write(lines)


def read_mot(path: str | Path) -> np.ndarray:
    """
    Read a MOTChallenge text file into rows (frame, id, left, top, width, height, conf).

    Values may be separated by commas or white space; columns after the seventh are ignored and
    a missing conf is 1. Every row is returned: in ground truth, conf 0 marks a region that
    `evaluate` ignores. An id may appear once per frame, except negative ids (detection files
    use -1). Raises ValueError naming the file and line of the first malformed row.
    """
    rows = []
    with open(path) as stream:
        for number, line in enumerate(stream, 1):
            text = line.strip()
            if not text:
                continue
            rows.append(_parse_row(text, f'{path}:{number}'))
    rows = np.array(rows, dtype=float).reshape(-1, 7)
    keys, counts = np.unique(rows[rows[:, 1] >= 0, :2], axis=0, return_counts=True)
    if (counts > 1).any():
        frame, track_id = keys[np.argmax(counts > 1)]
        raise ValueError(f'{path}: id {int(track_id)} appears twice in frame {int(frame)}')
    return rows


def _parse_row(text, where):
    fields = text.replace(',', ' ').split()
    try:
        values = [float(field) for field in fields[:7]]
    except ValueError:
        raise ValueError(f'{where}: expected numbers "frame, id, bb_left, bb_top, bb_width, '
                         f'bb_height, conf, ...", got {text[:60]!r}') from None
    if len(values) < 6:
        raise ValueError(f'{where}: expected at least 6 values (frame, id, bb_left, bb_top, '
                         f'bb_width, bb_height), got {len(values)}')
    if not all(math.isfinite(value) for value in values):
        raise ValueError(f'{where}: values must be finite, got {text[:60]!r}')
    frame, track_id, _, _, width, height = values[:6]
    if frame < 1 or frame != int(frame) or track_id != int(track_id):
        raise ValueError(f'{where}: frame must be an integer >= 1 and id an integer')
    if width <= 0 or height <= 0:
        raise ValueError(f'{where}: box width and height must be positive')
    return values + [1.0] * (7 - len(values))


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Return the IoU of every pair of left, top, width, height boxes, shape (len(a), len(b))."""
    a = np.asarray(boxes_a, dtype=float).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=float).reshape(-1, 4)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    bottom = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return inter / np.maximum(union, 1e-12)


ZERO_MARKED = ('devkit', 'trackeval')


def evaluate(gt: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.5,
             zero_marked: str = 'devkit') -> dict:
    """
    Score predicted tracks against ground truth; return a dict of MOT metrics.

    `gt` and `pred` are arrays of rows (frame, id, left, top, width, height[, conf]); a
    prediction counts as a ground-truth object when their IoU is at least `iou_threshold`.
    Ground-truth rows with conf 0 are never counted as objects; with zero_marked 'devkit' the
    predictions they match are removed too, with 'trackeval' those predictions stay (see the
    module docstring).
    """
    if zero_marked not in ZERO_MARKED:
        raise ValueError(f'zero_marked must be one of {ZERO_MARKED}, got {zero_marked!r}')
    gt = _as_rows(gt)
    pred = _as_rows(pred)
    if zero_marked == 'devkit':
        pred = _without_ignored(pred, gt)
    gt = gt[gt[:, 6] != 0]
    gt_frames = _by_frame(gt)
    pred_frames = _by_frame(pred)
    empty = np.empty((0, 7))
    last_match = {}     # gt id -> pred id it was last matched to
    tracked = {}        # gt id -> list of booleans, one per frame where it is present
    pairs = []          # (gt id, pred id) overlapping in a frame, for the identity scores
    matches = switches = 0
    iou_sum = 0.0
    for frame in sorted(set(gt_frames) | set(pred_frames)):
        g = gt_frames.get(frame, empty)
        p = pred_frames.get(frame, empty)
        iou = iou_matrix(g[:, 2:6], p[:, 2:6])
        valid = iou >= iou_threshold
        g_ids = g[:, 1].astype(int).tolist()
        p_ids = p[:, 1].astype(int).tolist()
        pairs.extend((g_ids[i], p_ids[j]) for i, j in zip(*np.nonzero(valid)))
        matched = _clear_matches(g_ids, p_ids, iou, valid, last_match)
        for i, j in matched:
            if g_ids[i] in last_match and last_match[g_ids[i]] != p_ids[j]:
                switches += 1
            last_match[g_ids[i]] = p_ids[j]
            iou_sum += iou[i, j]
        matches += len(matched)
        matched_rows = {i for i, _ in matched}
        for i, gt_id in enumerate(g_ids):
            tracked.setdefault(gt_id, []).append(i in matched_rows)

    num_gt, num_pred = len(gt), len(pred)
    false_negatives = num_gt - matches
    false_positives = num_pred - matches
    id_true_positives = _identity_true_positives(pairs)
    return {
        'frames': len(set(gt_frames) | set(pred_frames)),
        'gt': num_gt,
        'predictions': num_pred,
        'gt_ids': len(tracked),
        'pred_ids': len(np.unique(pred[:, 1])) if num_pred else 0,
        'matches': matches,
        'false_positives': false_positives,
        'false_negatives': false_negatives,
        'id_switches': switches,
        'fragmentations': sum(_fragmentations(flags) for flags in tracked.values()),
        'mota': 1 - (false_negatives + false_positives + switches) / num_gt if num_gt else
        math.nan,
        'motp': iou_sum / matches if matches else math.nan,
        'idf1': _ratio(2 * id_true_positives, num_gt + num_pred),
        'idp': _ratio(id_true_positives, num_pred),
        'idr': _ratio(id_true_positives, num_gt),
        'precision': _ratio(matches, num_pred),
        'recall': _ratio(matches, num_gt),
    }


def _as_rows(rows):
    """Return rows as (N, 7) floats: frame, id, left, top, width, height, conf (1 if absent)."""
    rows = np.asarray(rows, dtype=float)
    if not rows.size:
        return np.empty((0, 7))
    if rows.shape[1] == 6:
        rows = np.column_stack([rows, np.ones(len(rows))])
    return rows[:, :7]


def _without_ignored(pred, gt):
    """Return `pred` without the rows that the MOTChallenge devkit matches to ignored gt rows."""
    ignored = gt[:, 6] == 0
    keep = np.ones(len(pred), dtype=bool)
    for frame in np.unique(gt[ignored, 0]):
        g = np.flatnonzero(gt[:, 0] == frame)
        p = np.flatnonzero(pred[:, 0] == frame)
        iou = iou_matrix(gt[g, 2:6], pred[p, 2:6])
        iou[iou < IGNORE_IOU] = 0
        rows, cols = linear_sum_assignment(iou, maximize=True)
        matched = iou[rows, cols] > 0
        keep[p[cols[matched & ignored[g[rows]]]]] = False
    return pred[keep]


def _by_frame(rows):
    if not len(rows):
        return {}
    rows = rows[np.argsort(rows[:, 0], kind='stable')]
    frames, starts = np.unique(rows[:, 0], return_index=True)
    return dict(zip(frames.astype(int).tolist(), np.split(rows, starts[1:])))


def _clear_matches(g_ids, p_ids, iou, valid, last_match):
    """Return (gt row, pred row) matches: previous pairs kept, the rest assigned by IoU."""
    pred_row = {pred_id: j for j, pred_id in enumerate(p_ids)}
    matched = []
    for i, gt_id in enumerate(g_ids):
        # The previous hypothesis stays a candidate for every object until its IoU fails here.
        j = pred_row.get(last_match.get(gt_id))
        if j is not None and valid[i, j]:
            matched.append((i, j))
            del pred_row[last_match[gt_id]]
    free_g = np.setdiff1d(np.arange(len(g_ids)), [i for i, _ in matched])
    free_p = np.setdiff1d(np.arange(len(p_ids)), [j for _, j in matched])
    if len(free_g) and len(free_p):
        sub_valid = valid[np.ix_(free_g, free_p)]
        cost = np.where(sub_valid, 1 - iou[np.ix_(free_g, free_p)], len(g_ids) + 1.0)
        rows, cols = linear_sum_assignment(cost)
        keep = sub_valid[rows, cols]
        matched.extend(zip(free_g[rows[keep]].tolist(), free_p[cols[keep]].tolist()))
    return matched


def _fragmentations(flags):
    first = flags.index(True) if True in flags else None
    if first is None:
        return 0
    last = len(flags) - flags[::-1].index(True)
    span = flags[first:last]
    return sum(1 for before, now in zip(span, span[1:]) if before and not now)


def _identity_true_positives(pairs):
    """Return the frames covered by the best one-to-one matching of gt and predicted ids."""
    if not pairs:
        return 0
    pairs = np.array(pairs)
    gt_ids, gt_index = np.unique(pairs[:, 0], return_inverse=True)
    pred_ids, pred_index = np.unique(pairs[:, 1], return_inverse=True)
    overlap = np.zeros((len(gt_ids), len(pred_ids)))
    np.add.at(overlap, (gt_index, pred_index), 1)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return int(overlap[rows, cols].sum())


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else math.nan
