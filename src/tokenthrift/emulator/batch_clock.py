"""Simulated time for the Batch APIs: a batch that takes hours upstream takes seconds here.

``now()`` runs ``time_scale`` simulated seconds per second of the emulator's clock, plus
whatever ``advance`` added; tests freeze it (``time_scale: 0``) and move it explicitly
(``POST /emulator/batches/advance {"seconds": 86400}``), so no test depends on wall time.
Timestamps start from the wall clock at start-up, so they look like real ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class BatchClock:
    def __init__(self, clock: Callable[[], float], time_scale: float) -> None:
        self._clock = clock
        self._started = clock()
        self._epoch = time.time()
        self._offset = 0.0
        self.time_scale = time_scale

    def now(self) -> float:
        return self._epoch + self._offset + (self._clock() - self._started) * self.time_scale

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("simulated time only moves forward")
        self._offset += seconds

    def set_scale(self, time_scale: float) -> None:
        """Change the speed without moving the current simulated moment."""
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        now = self.now()
        self._started, self._epoch, self._offset = self._clock(), now, 0.0
        self.time_scale = time_scale
