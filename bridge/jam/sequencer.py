"""Jam playback in frames (pure: no threads, no devices): which phrase sounds at which output frame.

The feeder asks `fill(n)` for the next n frames. A phrase begins on a bar line and is replaced at its
`stop` frame: its own end on the internal clock (phrases are whole bars, so they chain bar line to bar
line), or the MIDI clock's bar line nearest that end (so a small tempo misreading never drifts: the
next phrase starts on the DAW's bar line, at most a few frames early or late). If no new phrase has
arrived by then, the one that played repeats (`repeats` counts it) - never silence. `start` arms the
jam to begin on the next bar line once a phrase is ready; `stop` is silent at once. `replace_from`
swaps the rest of the phrase playing (a beat splice) where the stream has not reached yet; `rewind`
takes the stream back (within the phrase playing) to frames the output has given back, not played.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np


@dataclass
class Slot:
    audio: np.ndarray      # [N, 2] float32 at the output rate
    meta: object           # what the player needs back (the synth.jam.Phrase)
    start: int = 0
    stop: int = 0
    repeat: bool = False


class Grid(Protocol):
    """Where bar lines fall, in output frames."""

    moving: bool   # the bar lines move as the output's frame map does: re-read them at every fill

    def next_bar(self, frame: int) -> int:
        """The first bar line at or after `frame`."""

    def boundary(self, natural_end: int) -> int:
        """Where a phrase whose audio ends at `natural_end` hands over (the bar line nearest it)."""

    def anchor_at(self, frame: int) -> None:
        """A phrase began at `frame`: the internal clock counts its bars from there."""


class InternalGrid:
    """Bar lines of the internal clock in output frames, anchored where the stream last began a phrase."""

    moving = False

    def __init__(self, sample_rate: int, bpm: float = 120.0, anchor: int = 0):
        self.sample_rate: int = int(sample_rate)
        self.bpm: float = float(bpm)
        self.anchor: int = int(anchor)

    def bar(self) -> float:
        return 4 * 60.0 / self.bpm * self.sample_rate

    def next_bar(self, frame: int) -> int:
        k = max(0, math.ceil((frame - self.anchor) / self.bar() - 1e-9))
        return self.anchor + int(round(k * self.bar()))

    def boundary(self, natural_end: int) -> int:
        return natural_end

    def anchor_at(self, frame: int) -> None:
        self.anchor = int(frame)


class JamSequencer:
    def __init__(self, grid: Grid, frame: int = 0, on_begin: Callable[[Slot], None] | None = None,
                 on_end: Callable[[Slot], None] | None = None):
        self.grid: Grid = grid
        self.frame: int = frame              # the next frame fill() produces
        self.armed: bool = False
        self.current: Slot | None = None
        self.pending: Slot | None = None
        self.start_at: int | None = None
        self.repeats: int = 0
        self.phrases: int = 0
        self.on_begin: Callable[[Slot], None] | None = on_begin   # called (in fill) as each slot begins
        self.on_end: Callable[[Slot], None] | None = on_end       # ... and as each one has played to its stop

    def start(self) -> None:
        self.armed = True
        self.start_at = None

    def stop(self) -> None:
        self.armed = False
        self.current = self.pending = None
        self.start_at = None

    @property
    def playing(self) -> bool:
        return self.current is not None

    def offer(self, audio: np.ndarray, meta) -> None:
        """A newly rendered phrase; it begins at the next boundary (or the next bar line, when idle)."""
        self.pending = Slot(np.ascontiguousarray(audio, dtype=np.float32), meta)

    def replace_from(self, slot: Slot, at: int, audio: np.ndarray, meta) -> bool:
        """`slot` (playing) sounds `audio` [N, 2] from its frame `at` on, and carries `meta`; False (and
        nothing changes) when it no longer plays or the stream has already produced that frame."""
        if self.current is not slot or self.frame > slot.start + at:
            return False
        slot.audio = np.concatenate([slot.audio[:at], np.asarray(audio, np.float32)[at:len(slot.audio)]])
        slot.meta = meta
        return True

    def rewind(self, frame: int) -> bool:
        """The next fill produces from `frame` again (its frames were withdrawn from the output's ring):
        only within the phrase playing, whose start stays where it sounded; False (no change) otherwise."""
        cur = self.current
        if cur is None or not cur.start <= frame <= self.frame:
            return False
        self.frame = int(frame)
        return True

    def _begin(self, slot: Slot, start: int, repeat: bool) -> None:
        if self.current is not None and self.on_end is not None:
            self.on_end(self.current)
        slot = Slot(slot.audio, slot.meta, start, 0, repeat)
        slot.stop = max(start + 1, int(self.grid.boundary(start + len(slot.audio))))
        self.current = slot
        if repeat:
            self.repeats += 1
        else:
            self.phrases += 1
        self.grid.anchor_at(start)
        if self.on_begin is not None:
            self.on_begin(slot)

    def fill(self, n: int) -> np.ndarray:
        out = np.zeros((n, 2), np.float32)
        i = 0
        while i < n:
            f = self.frame + i
            cur = self.current
            if cur is None:
                if not (self.armed and self.pending is not None):
                    break
                if self.start_at is None:
                    self.start_at = int(self.grid.next_bar(f))
                if f < self.start_at:
                    i = min(n, self.start_at - self.frame)
                    continue
                slot, self.pending = self.pending, None
                self._begin(slot, self.start_at, repeat=False)
                continue
            if self.grid.moving:
                # The clock's bar lines, re-read as the output's frame map moves (cycles a loaded
                # machine skipped make the stream late): the phrase ends on the bar line regardless.
                cur.stop = max(cur.start + 1, int(self.grid.boundary(cur.start + len(cur.audio))))
            if f >= cur.stop:
                if self.pending is not None:
                    slot, self.pending = self.pending, None
                    self._begin(slot, cur.stop, repeat=False)
                else:
                    self._begin(cur, cur.stop, repeat=True)
                continue
            k = f - cur.start
            m = min(n - i, cur.stop - f)
            if 0 <= k < len(cur.audio):
                m = min(m, len(cur.audio) - k)
                out[i:i + m] = cur.audio[k:k + m]
            i += max(1, m)
        self.frame += n
        return out
