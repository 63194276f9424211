"""Recent rates per device, in bits per second, from the deltas of each reading.

A single reading is too jumpy to show (a burst lands in one interval), so the
rate is taken over the readings of the last RATE_WINDOW seconds.
"""

from __future__ import annotations

import threading
from collections import deque

RATE_WINDOW = 6.0  # seconds


class Rates:
    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._readings: deque[tuple[float, dict[str, tuple[int, int]]]] = deque()

    def record(self, now: float, deltas: dict[str, tuple[int, int]]) -> None:
        """One reading's bytes per device (only devices that moved bytes)."""
        with self._lock:
            self._readings.append((now, deltas))
            while self._readings and now - self._readings[0][0] > self.window:
                self._readings.popleft()

    def rate(self, mac: str) -> tuple[int, int]:
        """(up, down) bits per second over the window."""
        with self._lock:
            if len(self._readings) < 2:
                return 0, 0
            first, last = self._readings[0][0], self._readings[-1][0]
            span = max(last - first, 1e-3)
            up = sum(d.get(mac, (0, 0))[0] for _, d in list(self._readings)[1:])
            down = sum(d.get(mac, (0, 0))[1] for _, d in list(self._readings)[1:])
            return int(up * 8 / span), int(down * 8 / span)
