"""A jam output that plays its ring into memory at its sample rate, in real time (tests and bench/jam.py
measure what the jam sounds without a sound server)."""
from __future__ import annotations

import threading
import time

import numpy as np

from bridge.jam.outputs import Output


class MemoryOutput(Output):
    name = "memory"

    def __init__(self, sample_rate: int, period: int = 256):
        super().__init__(1 << 15)
        self.sample_rate, self.period = int(sample_rate), int(period)
        self.heard: list[np.ndarray] = []   # [2, n] per cycle: the stream frames it played
        self._run = True
        self._thread = threading.Thread(target=self._play, name="memory-output", daemon=True)
        self._thread.start()

    def _play(self) -> None:
        t0, k = time.monotonic(), 0
        while self._run:
            time.sleep(max(0.0, t0 + k * self.period / self.sample_rate - time.monotonic()))
            left, right = np.zeros(self.period, np.float32), np.zeros(self.period, np.float32)
            before = self.played
            self._consume(left, right, self.now())
            self.heard.append(np.stack([left, right])[:, :self.played - before])
            k += 1

    def recording(self) -> np.ndarray:
        """[2, played]: every stream frame played, frame i at index i."""
        return np.concatenate(self.heard, axis=1) if self.heard else np.zeros((2, 0), np.float32)

    def close(self) -> None:
        self._run = False
