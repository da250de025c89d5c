"""An Ableton Link session's timeline -> tempo, bar grid and transport (pure: snapshots in, facts out).

A `LinkSnapshot` is what the session said at one moment: its tempo, the beat at time `at` (on the clock
the caller schedules on), its peers and whether it plays. Bar lines fall on whole multiples of the
quantum (4 beats: the bar lines every peer shares). The grid is a line through the recent readings,
beat against the caller's clock: that clock (an audio device's frames) need not run at the rate of
Link's (the system's), so the slope is measured, not assumed from the tempo. Like the MIDI clock tracker, bad news is refused in
one line (`errors`) and the last good tempo and grid are kept: a tempo outside MIN_BPM..MAX_BPM (Link
allows up to 999), and a session that loses every peer (the jam plays on at its own bar lines).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from bridge.jam.midi_clock import MAX_BPM, MIN_BPM

QUANTUM = 4             # beats per bar: a 4/4 bar shared with every peer
TEMPO_DECIMALS = 2      # a Link tempo is exact (a peer set it); names read 96bpm or 122.5bpm
MAX_SPREAD = 0.002      # seconds: a reading whose beat was read in a wider window (the reader was
                        # preempted) does not move the grid
READINGS = 50           # the grid is a line through this many recent readings (at one tempo)
FIT = 5                 # ... once it has this many; till then the tempo from the last reading


@dataclass(frozen=True)
class LinkSnapshot:
    tempo: float
    beat: float         # the session's beat at `at`
    at: float           # seconds on the caller's clock
    peers: int
    playing: bool
    spread: float = 0.0  # the width of the window `beat` was read in (the uncertainty of `at`)


@dataclass
class LinkTimeline:
    quantum: int = QUANTUM
    bpm: float | None = None          # the last good tempo (the grid's)
    tempo: float | None = None        # the tempo loops are named and cut by
    peers: int = 0
    playing: bool = False
    errors: list[str] = field(default_factory=list)
    _line: tuple[float, float, float] = (0.0, 0.0, 1.0)   # (time, beat, beats per second): the grid
    _readings: deque = field(default_factory=lambda: deque(maxlen=READINGS))   # (at, beat) at this tempo
    _refused: bool = False

    def update(self, snap: LinkSnapshot) -> str | None:
        """Take a snapshot; returns "start" or "stop" when the session's transport changed, else None."""
        if MIN_BPM <= snap.tempo <= MAX_BPM:
            self._refused = False
            if snap.tempo != self.bpm:
                self._readings.clear()     # a new tempo: a new line
            if snap.spread <= MAX_SPREAD or not self._readings:
                self._readings.append((snap.at, snap.beat))
                self._line = fit_line(self._readings, snap.tempo / 60.0)
            self.bpm = snap.tempo
            self.tempo = round(snap.tempo, TEMPO_DECIMALS)
        elif not self._refused:
            self._refused = True
            self.errors.append(f"Link session at {snap.tempo:.1f} bpm is outside {MIN_BPM:g}..{MAX_BPM:g} bpm; "
                               f"keeping {self._bpm_text()} on the last good bar lines")
        if snap.peers == 0 and self.peers > 0:
            self.errors.append(f"the Link session lost every peer; keeping {self._bpm_text()} on its own bar lines")
        self.peers = snap.peers
        change = None
        if snap.playing != self.playing:
            change = "start" if snap.playing else "stop"
        self.playing = snap.playing
        return change

    def take_errors(self) -> list[str]:
        out, self.errors = self.errors, []
        return out

    def _bpm_text(self) -> str:
        return f"{self.bpm:.2f} bpm" if self.bpm is not None else "the internal tempo"

    # ------------------------------------------------------------------ the grid
    def beat_at(self, t: float) -> float | None:
        if self.bpm is None:
            return None
        t0, b0, rate = self._line
        return b0 + (t - t0) * rate

    def time_of(self, beat: float) -> float:
        t0, b0, rate = self._line
        return t0 + (beat - b0) / rate

    def phase(self, t: float) -> float | None:
        """Beats into the bar at time t (0 <= phase < quantum)."""
        beat = self.beat_at(t)
        return None if beat is None else beat % self.quantum

    def next_bar(self, after: float) -> tuple[int, float] | None:
        """(bar index, time) of the first bar line at or after time `after`; None without a tempo."""
        beat = self.beat_at(after)
        if beat is None:
            return None
        bar = math.ceil(beat / self.quantum - 1e-9)
        return bar, self.time_of(bar * self.quantum)


def fit_line(readings, rate: float) -> tuple[float, float, float]:
    """(time, beat, beats per second) through (at, beat) readings: least squares, then again without
    readings more than 3 median deviations off (one late by a preemption the spread did not catch);
    with fewer than FIT readings, the last one at `rate`."""
    if len(readings) < FIT:
        at, beat = readings[-1]
        return at, beat, rate
    t, b = np.array(readings, dtype=np.float64).T
    keep = np.ones(len(t), bool)
    for _ in range(2):
        tm, bm = t[keep].mean(), b[keep].mean()
        slope = float(((t[keep] - tm) * (b[keep] - bm)).sum() / ((t[keep] - tm) ** 2).sum())
        off = np.abs(b - bm - slope * (t - tm))
        keep = off <= 3 * max(float(np.median(off)), 1e-6)
    return float(tm), float(bm), slope if slope > 0 else rate
