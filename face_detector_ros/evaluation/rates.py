"""Rates and latency summaries for diagnostics and benchmarks (no rclpy)."""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
import time

import numpy as np


class RateCounter:
    """Events per second over a sliding window of the last `window` seconds."""

    def __init__(self, window: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self.times = collections.deque()
        self.count = 0

    def tick(self) -> None:
        """Record one event now."""
        now = self.clock()
        self.times.append(now)
        self.count += 1
        self._forget(now)

    def rate(self) -> float:
        """Return events per second in the window (0 with fewer than two events)."""
        self._forget(self.clock())
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-9)

    def _forget(self, now):
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Return median, 90th percentile and max of a list of numbers (NaN when empty)."""
    if len(values) == 0:
        return {'median': float('nan'), 'p90': float('nan'), 'max': float('nan')}
    array = np.asarray(values, dtype=np.float64)
    return {'median': float(np.median(array)), 'p90': float(np.percentile(array, 90)),
            'max': float(array.max())}
