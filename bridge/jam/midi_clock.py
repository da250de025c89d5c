"""A DAW's MIDI clock -> tempo and bar grid (pure: messages and their arrival times in, facts out).

24 clock ticks (0xF8) per quarter note set the tempo and the grid: a least-squares line through the
ticks since the last tempo change (up to `window`, 8 bars), so late or early ticks (USB, JACK cycles and
scheduler jitter, tens of ms on a loaded machine) average out; bar lines are predicted from that line,
not from the last tick. A tempo change (the last RECENT ticks off the line by over CHANGE) restarts the
fit. Loops are named and cut by `tempo`: the simplest tempo within the fit's error band, held while the
clock stays steady (bridge.jam.tempo), set once the fit is `settled` (a beat of ticks, precise enough).
Start (0xFA) sets the song position to 0, Continue (0xFB) resumes from the last one, Song Position
(0xF2, in 16th notes) moves it, Stop (0xFC) halts it. Per the MIDI spec the first tick after Start
or Continue is the downbeat of that position. In 4/4, bar b begins at tick 96 * b.
With exact times (`exact`: JACK frames) a tick's place is read from its time, not from a count: ticks
a loaded machine lost are filled in, ticks handed over twice or late are dropped, and a run's first
ticks are recounted once five are heard, so the grid stays the DAW's.

Absurd clocks are refused with one line (`errors`): a tempo outside MIN_BPM..MAX_BPM (0 bpm and
1000 bpm alike), and ticks that stop while the transport runs (`check(now)`); the tracker then
keeps the last good tempo and grid, so the jam never goes silent for it.
"""
from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

from bridge.jam.tempo import TempoFit, change_point, fit_tempo, published_tempo
from synth.state import BPM_RANGE

# The MIDI clock and transport messages, by status byte, with mido's names for them.
CLOCK_KINDS = {0xF8: "clock", 0xFA: "start", 0xFB: "continue", 0xFC: "stop", 0xF2: "songpos"}
CLOCK_STATUS = frozenset(CLOCK_KINDS)
CLOCK_TYPES = frozenset(CLOCK_KINDS.values())

PPQN = 24
TICKS_PER_BAR = 4 * PPQN        # 4/4
MIN_BPM, MAX_BPM = BPM_RANGE    # the state's own tempo range
WINDOW = 8 * TICKS_PER_BAR      # ticks in the tempo fit: up to 8 bars since the last change
RECENT = 24                     # ticks that decide whether the clock is absurd or changed: a beat
SETTLED = 0.02                  # a fit's two halves within this share of the tempo: it has settled
CHANGE = 0.08                   # the recent ticks off the fit by more than this: the tempo changed
STALL_BEATS = 2.0               # no tick for this many beats while running: the clock stopped
FRESH = 5                       # ticks heard since a (re)start: their median interval reads the run's first gaps
REPEAT_SHARE = 0.3              # exact tick times under this share of an interval apart: one tick delivered twice


@dataclass
class ClockTracker:
    window: int = WINDOW
    running: bool = False
    position: int = 0                       # ticks since song start of the NEXT tick to arrive
    bpm: float | None = None                # the fitted tempo (the bar grid's); None before enough ticks
    tempo: float | None = None              # the tempo loops are named and cut by (bridge.jam.tempo)
    last_tick: float | None = None          # arrival time of the last tick
    ticks: int = 0
    exact: bool = False                     # times are exact (JACK frames): fill in lost ticks
    errors: list[str] = field(default_factory=list)   # one-line complaints, taken by the caller
    _times: deque = field(default_factory=deque)
    _stalled: bool = False
    _refused: bool = False
    _slow: int = 0                    # ticks in a row that came after a stall
    _owed: int = 0                    # ticks just filled into a gap that may yet arrive, late
    _run_start: tuple | None = None   # (time of Start/Continue/Song Position, first tick's time) to check
    _recounted: bool = False          # this fit began with a recount of the run's first ticks
    duplicates: int = 0               # ticks dropped as delivered twice or late (exact times only)
    _filled: deque = field(default_factory=lambda: deque(maxlen=RECENT))   # which recent ticks had a gap filled
    _centre: tuple | None = None      # (song tick, time) of the fitted line's centre
    _history: deque = field(default_factory=lambda: deque(maxlen=RECENT))   # the last RECENT tempi
    _fit: TempoFit | None = None      # the fit of the ticks since the last change, with its error

    # ------------------------------------------------------------------ input
    def feed(self, kind: str, t: float, pos: int | None = None) -> str | None:
        """One message by mido type: clock | start | stop | continue | songpos (pos in 16ths).
        Returns a transport change ("start", "stop", "continue", "songpos") or None."""
        if kind == "clock":
            self._tick(t)
            return None
        if kind == "start":
            self.position, self.running = 0, True
            self._new_run(t)
            return "start"
        if kind == "continue":
            self.running = True
            self._new_run(t)
            return "continue"
        if kind == "stop":
            self.running = False
            return "stop"
        if kind == "songpos":
            self.position = int(pos or 0) * (PPQN // 4)
            self._new_run(t)
            return "songpos"
        return None

    def _tick(self, t: float) -> None:
        self.ticks += 1
        previous = self.last_tick
        missed, owed, self._owed = 0, self._owed, 0
        if (self.exact and self.bpm and (len(self._times) >= FRESH or self._recounted) and self.last_tick is not None
                and self._filled.count(True) < RECENT - 2):   # a fit of this run's ticks, not every tick a gap
            # Exact times (JACK frames): the tick's place is read from the time, not from a count. Under
            # load JACK hands a client a tick twice (same frame, or a cycle later), or late, bunched
            # with the next one after a gap already filled for it; counting those shifts the bar grid
            # a tick per event (the early ~1,000-frame phase error at 120 bpm). Neither moves the count
            # nor the fit. (A real clock would have to speed up REPEAT_SHARE^-1 = 3.3x within one tick.)
            intervals = (t - self.last_tick) * self.bpm * PPQN / 60.0
            if intervals < 0.5 and (owed or intervals < REPEAT_SHARE):
                self._owed = max(0, owed - 1)
                self.duplicates += 1
                return
            # A gap of k intervals is k-1 ticks this process did not hear (cycles a loaded machine
            # skipped it in); count them, so the bar grid stays the DAW's.
            missed = max(0, int(round(intervals)) - 1)
            if missed >= STALL_BEATS * PPQN:
                missed = 0      # longer than a stall: a stopped (or absurdly slow) clock, not lost ticks
            if self.running:
                self.position += missed
            self._owed = missed    # a late tick may still come, right after this one
        if self._stalled:
            self._stalled = False
            self._reset_fit()   # a fresh fit: the gap is not a tempo
            self._slow += 1
            if self._slow >= 2 and not self._refused and previous is not None:
                # Tick after tick comes a stall apart: not a paused clock but an absurdly slow one.
                self.errors.append(f"MIDI clock at {60.0 / (PPQN * (t - previous)):.2f} bpm is outside "
                                   f"{MIN_BPM:g}..{MAX_BPM:g} bpm; keeping {self._bpm_text()}")
                self._refused = True
        else:
            self._slow = 0
        if missed and self._times and not self._slow:
            step = (t - self.last_tick) / (missed + 1)
            self._times.extend(self.last_tick + (k + 1) * step for k in range(min(missed, self.window)))
        # Gaps filled among the last ticks: a gap at nearly every tick is not loss but a slower tempo.
        self._filled.append(bool(missed))
        self._times.append(t)
        while len(self._times) > self.window:
            self._times.popleft()
        self.last_tick = t
        if self.running:
            self.position += 1
        if self._run_start is not None and self._run_start[1] is None:
            self._run_start = (self._run_start[0], t)
        times = list(self._times)
        recent = fit_bpm(times[-RECENT:])
        if recent is None:
            return
        if not MIN_BPM <= recent <= MAX_BPM:
            if not self._refused:
                # Forget what the run-up to the absurd tempo left behind: the tempo RECENT ticks ago.
                self.bpm = self._history[0] if self._history else None
                self.errors.append(f"MIDI clock at {recent:.1f} bpm is outside {MIN_BPM:g}..{MAX_BPM:g} bpm; "
                                   f"keeping {self._bpm_text()}")
                self._refused = True
            self._reset_fit()
            return
        self._refused = False
        bpm = fit_bpm(times)
        if abs(recent - bpm) > CHANGE * bpm:
            # A tempo change, not jitter: fit only the ticks since, so it is followed within a beat.
            for _ in range(change_point(times, RECENT)):
                self._times.popleft()
        if self._run_start is not None and self.running and len(self._times) >= FRESH:
            self._recount_run_start()
        self._fit = fit_tempo(list(self._times), PPQN)
        if self._fit is None:
            return
        self.bpm = self._fit.bpm
        self._history.append(self.bpm)
        if self.settled:
            self.tempo = published_tempo(self._fit, self.tempo)
        # The line's centre: (song tick, time) at the mean of the fitted ticks.
        n = len(self._times)
        self._centre = (self.position - 1 - (n - 1) / 2.0 if self.running else None, sum(self._times) / n)

    def _new_run(self, t: float) -> None:
        """Start, Continue or Song Position at time t: the clock's tempo is judged afresh (a refusal of
        the last run's absurd tempo must not silence this run's)."""
        self._refused, self._slow, self._stalled = False, 0, False
        self._reset_fit()
        self._run_start = (t, None) if self.exact else None

    def _recount_run_start(self) -> None:
        """Exact times, at the FRESH-th tick of a run: recount its ticks by their median interval. The
        first tick after Start or Continue is the downbeat, due within about an interval (a JACK cycle,
        for jack_midi_clock); a loaded machine can miss it or one of the next, before any fit could
        tell a gap from the tempo, and the grid would stay a tick late for good."""
        started, _ = self._run_start
        self._run_start = None
        heard = list(self._times)
        gaps = [b - a for a, b in zip(heard, heard[1:])]
        # The interval: the median gap among those near the largest (ticks heard twice give gaps near 0,
        # which must not halve it: a halved interval would fill a tick into every gap from then on).
        step = statistics.median(g for g in gaps if g >= 0.45 * max(gaps))
        if step <= 0 or any(abs(g / step - round(g / step)) > 0.25 for g in gaps if g >= REPEAT_SHARE * step):
            return                                 # not a steady clock with a few ticks lost: count as heard
        times = [heard[0]]
        spanned = 1 + max(0, int(round((heard[0] - started) / step - 0.75)))   # lost before the first heard
        for t in heard[1:]:
            k = int(round((t - times[-1]) / step))
            if (t - times[-1]) < REPEAT_SHARE * step:
                continue                                  # the same tick again
            k = max(1, k)
            times += [times[-1] + (t - times[-1]) * j / k for j in range(1, k)] + [t]
            spanned += k
        self.position += spanned - len(heard)
        self._times = deque(times)
        self._recounted = True

    def _reset_fit(self) -> None:
        self._owed, self._recounted, self._fit = 0, False, None
        self._times.clear()
        self._filled.clear()
        self._centre = None
        self.last_tick = None if self.exact else self.last_tick   # no gap is counted across a restart

    def shift(self, delta: float) -> None:
        """Move every remembered time by `delta` seconds: the caller moves to another clock."""
        self._times = deque(t + delta for t in self._times)
        if self.last_tick is not None:
            self.last_tick += delta
        if self._centre is not None:
            self._centre = (self._centre[0], self._centre[1] + delta)

    def check(self, now: float) -> None:
        """Call now and then: notices a clock that stopped ticking while the transport runs."""
        if not self.running or self.last_tick is None or self.bpm is None or self._stalled:
            return
        gap = now - self.last_tick
        if gap > STALL_BEATS * 60.0 / self.bpm:
            self._stalled = True
            if self._refused and self._slow:
                return      # an absurdly slow clock, said so already: its gaps are no news
            at = (self.position % TICKS_PER_BAR) / PPQN
            self.errors.append(f"MIDI clock stopped mid-bar (no tick for {gap:.1f} s, at beat {at:.2f} of bar "
                               f"{self.position // TICKS_PER_BAR + 1}) without a Stop; keeping {self._bpm_text()}")

    def _bpm_text(self) -> str:
        return f"{self.bpm:.2f} bpm" if self.bpm is not None else "the internal tempo"

    @property
    def settled(self) -> bool:
        """A tempo fitted over a beat or more since the last change, whose last beat's halves agree
        within SETTLED (no change under way), and precise enough to be named (its band within the cap):
        good enough to render a phrase at."""
        if self._fit is None or len(self._times) < RECENT or not self._fit.precise:
            return False
        times = list(self._times)[-RECENT:]
        a, b = fit_bpm(times[:RECENT // 2]), fit_bpm(times[RECENT // 2:])
        return a is not None and b is not None and abs(a - b) <= SETTLED * self.bpm

    def take_errors(self) -> list[str]:
        out, self.errors = self.errors, []
        return out

    # ------------------------------------------------------------------ the grid
    def _anchor(self) -> tuple[float, float] | None:
        """(song tick, time) a prediction starts from: the fitted line's centre, else the last tick."""
        if self.bpm is None or self.last_tick is None:
            return None
        if self._centre is not None and self._centre[0] is not None:
            return self._centre
        return self.position - 1, self.last_tick

    def tick_time(self, tick: int) -> float | None:
        """Predicted time of song tick `tick` on the fitted line."""
        anchor = self._anchor()
        if anchor is None:
            return None
        return anchor[1] + (tick - anchor[0]) * 60.0 / (self.bpm * PPQN)

    def next_bar(self, after: float) -> tuple[int, float] | None:
        """(bar index, time) of the first bar line at or after time `after`; None without a tempo."""
        anchor = self._anchor()
        if anchor is None:
            return None
        at = anchor[0] + (after - anchor[1]) * self.bpm * PPQN / 60.0
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
