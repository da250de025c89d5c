"""An Ableton Link session's timeline -> tempo, bar grid and transport (pure: snapshots in, facts out).

A `LinkSnapshot` is what the session said at one moment: its tempo, the beat at time `at` (on the clock
the caller schedules on), its peers and whether it plays. Bar lines fall on whole multiples of the
quantum (4 beats: the bar lines every peer shares). Like the MIDI clock tracker, bad news is refused in
one line (`errors`) and the last good tempo and grid are kept: a tempo outside MIN_BPM..MAX_BPM (Link
allows up to 999), and a session that loses every peer (the jam plays on at its own bar lines).
"""
from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

from bridge.jam.midi_clock import MAX_BPM, MIN_BPM

QUANTUM = 4             # beats per bar: a 4/4 bar shared with every peer
TEMPO_DECIMALS = 2      # a Link tempo is exact (a peer set it); names read 96bpm or 122.5bpm
MAX_SPREAD = 0.002      # seconds: a reading whose beat was read in a wider window (the reader was
                        # preempted) does not move the grid
ORIGINS = 25            # the grid is the median of this many readings' origins (at one tempo)


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
    _origin: float = 0.0              # the time of beat 0 at the last good tempo: the grid
    _origins: deque = field(default_factory=lambda: deque(maxlen=ORIGINS))
    _refused: bool = False

    def update(self, snap: LinkSnapshot) -> str | None:
        """Take a snapshot; returns "start" or "stop" when the session's transport changed, else None."""
        if MIN_BPM <= snap.tempo <= MAX_BPM:
            self._refused = False
            if snap.tempo != self.bpm:
                self._origins.clear()      # a new tempo: the beat 0 it implies moves
            if snap.spread <= MAX_SPREAD or not self._origins:
                # The median of recent readings: one late by a preemption the spread did not catch
                # (between the two clock reads) cannot move a bar line.
                self._origins.append(snap.at - snap.beat * 60.0 / snap.tempo)
                self._origin = statistics.median(self._origins)
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
        return (t - self._origin) * self.bpm / 60.0

    def time_of(self, beat: float) -> float:
        return self._origin + beat * 60.0 / self.bpm

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
