"""A DAW's MIDI clock -> tempo and bar grid (pure: messages and their arrival times in, facts out).

24 clock ticks (0xF8) per quarter note set the tempo: a least-squares line through the last
`window` tick times, so single late or early ticks (USB and scheduler jitter) barely move it.
Start (0xFA) sets the song position to 0, Continue (0xFB) resumes from the last one, Song Position
(0xF2, in 16th notes) moves it, Stop (0xFC) halts it. Per the MIDI spec the first tick after Start
or Continue is the downbeat of that position. In 4/4, bar b begins at tick 96 * b.

Absurd clocks are refused with one line (`errors`): a tempo outside MIN_BPM..MAX_BPM (0 bpm and
1000 bpm alike), and ticks that stop while the transport runs (`check(now)`); the tracker then
keeps the last good tempo and grid, so the jam never goes silent for it.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

PPQN = 24
TICKS_PER_BAR = 4 * PPQN        # 4/4
MIN_BPM, MAX_BPM = 20.0, 400.0  # the state's tempo range (synth.state)
WINDOW = 48                     # ticks in the tempo fit: two beats
RECENT = 6                      # ticks that decide whether the clock is absurd (reacts within a 16th)
CHANGE = 0.05                   # the recent ticks off the fit by more than this: the tempo changed
STALL_BEATS = 2.0               # no tick for this many beats while running: the clock stopped


@dataclass
class ClockTracker:
    window: int = WINDOW
    running: bool = False
    position: int = 0                       # ticks since song start of the NEXT tick to arrive
    bpm: float | None = None                # smoothed tempo; None before enough ticks
    last_tick: float | None = None          # arrival time of the last tick
    ticks: int = 0
    errors: list[str] = field(default_factory=list)   # one-line complaints, taken by the caller
    _times: deque = field(default_factory=deque)
    _stalled: bool = False
    _refused: bool = False
    _steady: int = 0                  # ticks since the last tempo change
    _stable: float | None = None      # the last tempo that held for a beat

    # ------------------------------------------------------------------ input
    def feed(self, kind: str, t: float, pos: int | None = None) -> str | None:
        """One message by mido type: clock | start | stop | continue | songpos (pos in 16ths).
        Returns a transport change ("start", "stop", "continue", "songpos") or None."""
        if kind == "clock":
            self._tick(t)
            return None
        if kind == "start":
            self.position, self.running = 0, True
            self._times.clear()
            return "start"
        if kind == "continue":
            self.running = True
            self._times.clear()
            return "continue"
        if kind == "stop":
            self.running = False
            return "stop"
        if kind == "songpos":
            self.position = int(pos or 0) * (PPQN // 4)
            self._times.clear()
            return "songpos"
        return None

    def _tick(self, t: float) -> None:
        self.ticks += 1
        if self._stalled:
            self._stalled = False
            self._times.clear()   # a fresh fit: the gap is not a tempo
        self._times.append(t)
        while len(self._times) > self.window:
            self._times.popleft()
        self.last_tick = t
        if self.running:
            self.position += 1
        times = list(self._times)
        recent = fit_bpm(times[-RECENT:])
        if recent is None:
            return
        if not MIN_BPM <= recent <= MAX_BPM:
            if not self._refused:
                self.bpm = self._stable  # forget what the run-up to the absurd tempo left behind
                self.errors.append(f"MIDI clock at {recent:.1f} bpm is outside {MIN_BPM:g}..{MAX_BPM:g} bpm; "
                                   f"keeping {self._bpm_text()}")
                self._refused = True
            self._times.clear()
            return
        self._refused = False
        bpm = fit_bpm(times)
        if abs(recent - bpm) > CHANGE * bpm:
            # A tempo change, not jitter: fit only the ticks since, so it is followed within a 16th.
            for _ in range(len(times) - RECENT):
                self._times.popleft()
            bpm, self._steady = recent, 0
        self.bpm = bpm
        self._steady += 1
        if self._steady >= PPQN:
            self._stable = bpm

    def check(self, now: float) -> None:
        """Call now and then: notices a clock that stopped ticking while the transport runs."""
        if not self.running or self.last_tick is None or self.bpm is None or self._stalled:
            return
        gap = now - self.last_tick
        if gap > STALL_BEATS * 60.0 / self.bpm:
            self._stalled = True
            at = (self.position % TICKS_PER_BAR) / PPQN
            self.errors.append(f"MIDI clock stopped mid-bar (no tick for {gap:.1f} s, at beat {at:.2f} of bar "
                               f"{self.position // TICKS_PER_BAR + 1}) without a Stop; keeping {self._bpm_text()}")

    def _bpm_text(self) -> str:
        return f"{self.bpm:.2f} bpm" if self.bpm is not None else "the internal tempo"

    def take_errors(self) -> list[str]:
        out, self.errors = self.errors, []
        return out

    # ------------------------------------------------------------------ the grid
    def tick_time(self, tick: int) -> float | None:
        """Predicted arrival time of song tick `tick` from the last tick and the fitted tempo."""
        if self.bpm is None or self.last_tick is None:
            return None
        return self.last_tick + (tick - (self.position - 1)) * 60.0 / (self.bpm * PPQN)

    def next_bar(self, after: float) -> tuple[int, float] | None:
        """(bar index, time) of the first bar line at or after time `after`; None without a tempo."""
        if self.bpm is None or self.last_tick is None:
            return None
        tick_s = 60.0 / (self.bpm * PPQN)
        last = self.position - 1
        at = last + (after - self.last_tick) / tick_s
        bar = max(0, math.ceil(at / TICKS_PER_BAR - 1e-9))
        return bar, self.tick_time(bar * TICKS_PER_BAR)


def fit_bpm(times: list[float]) -> float | None:
    """Tempo from tick arrival times: the least-squares slope of time against tick index (needs 3+).
    Equal times (a clock at 'infinite' tempo) give inf; a single pair a plain difference."""
    n = len(times)
    if n < 3:
        return None
    mean_i = (n - 1) / 2.0
    mean_t = sum(times) / n
    num = sum((i - mean_i) * (t - mean_t) for i, t in enumerate(times))
    den = sum((i - mean_i) ** 2 for i in range(n))
    slope = num / den
    if slope <= 0:
        return math.inf
    return 60.0 / (slope * PPQN)
