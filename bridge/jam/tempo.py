"""The tempo a jam names its loops by (pure: numbers in, numbers out).

A clock's tempo is measured with an error (tick jitter, a short fit); a loop's name and length must not
wobble with it. `published_tempo` gives the simplest tempo the measurement cannot tell apart from the
clock's (a whole bpm, else a half, a tenth, a hundredth) and holds the tempo already published while
the measurement still agrees with it, so every loop of a steady run carries one tempo, and a real
change is taken at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z = 3.0                 # the band: this many standard errors of the fitted tempo either side
FLOOR = 0.0001          # ... but at least this share of the tempo (frame-rounded tick times)
CAP = 0.003             # ... and at most this share: a name never moves the tempo by more
HOLD = 0.003            # a published tempo is held while the fit stays this close, or within Z standard
HOLD_CAP = 0.01         # errors of it up to this share: a clock whose phase wanders (jack_midi_clock -J 5,
                        # a loaded machine) moves a few bars' fit by ~0.3%, and the error says so
PRECISE = 0.002         # a fit whose standard error is within this share of its tempo can be named
STEPS = (1.0, 0.5, 0.1, 0.01)   # the simplest tempi first
MIN_WANDER = 24         # ticks a fit needs before its intervals are checked for a wandering phase


@dataclass(frozen=True)
class TempoFit:
    bpm: float          # the least-squares tempo
    error: float        # its standard error, in bpm (0 for a perfect clock)

    @property
    def precise(self) -> bool:
        """Precise enough to name a phrase by (the first after Start waits for this)."""
        return self.error <= PRECISE * self.bpm

    def band(self) -> float:
        """Half-width (bpm) within which a tempo agrees with this fit well enough to be named by it."""
        return min(max(Z * self.error, FLOOR * self.bpm), CAP * self.bpm)

    def hold_band(self) -> float:
        """Half-width (bpm) within which a tempo already published still agrees with this fit."""
        return max(HOLD * self.bpm, min(Z * self.error, HOLD_CAP * self.bpm))


def fit_tempo(times, ppqn: int) -> TempoFit | None:
    """Tempo and its standard error from tick times, one tick apart each (needs 3+ ticks, a positive
    slope); None otherwise."""
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    if n < 3:
        return None
    i = np.arange(n) - (n - 1) / 2.0
    t = t - t.mean()
    sxx = n * (n * n - 1) / 12.0
    slope = float(i @ t) / sxx
    if slope <= 0:
        return None
    residual = t - slope * i
    slope_error = math.sqrt(float(residual @ residual) / max(1, n - 2) / sxx)
    if n >= MIN_WANDER:
        # A clock whose every interval is jittered (its phase wanders, as jack_midi_clock -J does) fits a
        # line closely at every scale, so the line's error understates the tempo's. The intervals tell
        # the two apart: jitter on each tick makes neighbouring intervals anti-correlated (-0.5), a
        # wandering phase leaves them independent, and the mean interval's error is then
        # sd * sqrt((1 + 2 r) / (n - 1)). r is read from few intervals early on: one standard error
        # (1/sqrt(n)) is added, so a chance anti-correlation rarely names a wandering clock's first beat.
        d = np.diff(t) - slope
        sd = float(d.std())
        if sd > 0:
            r = min(1.0, float((d[1:] * d[:-1]).mean()) / sd ** 2 + 1.0 / math.sqrt(n))
            slope_error = max(slope_error, sd * math.sqrt(max(0.0, 1.0 + 2.0 * r) / (n - 1)))
    bpm = 60.0 / (slope * ppqn)
    return TempoFit(bpm, bpm * slope_error / slope)


def published_tempo(fit: TempoFit, held: float | None) -> float:
    """The tempo to name and cut loops by: `held` while the fit agrees with it, else the simplest
    tempo within the fit's band."""
    if held is not None and abs(fit.bpm - held) <= fit.hold_band():
        return held
    band = fit.band()
    for step in STEPS:
        candidate = round(round(fit.bpm / step) * step, 2)
        if abs(candidate - fit.bpm) <= band:
            return candidate
    return round(fit.bpm, 2)


def change_point(times: list[float], recent: int) -> int:
    """Index of the tick where the tempo changed: `times[:-recent]` fit one line; the change is at the
    last tick before the first of the recent ones that strays from that line by more than its jitter
    (4 residual deviations, at least a tenth of an interval). That tick ends an interval of the old
    tempo and begins one of the new: a fit from it on holds only the new tempo."""
    old = times[:-recent]
    n = len(old)
    if n < 3:
        return max(0, len(times) - recent)
    mean_i, mean_t = (n - 1) / 2.0, math.fsum(old) / n
    slope = math.fsum((i - mean_i) * (t - mean_t) for i, t in enumerate(old)) / (n * (n * n - 1) / 12.0)
    spread = math.sqrt(math.fsum((t - mean_t - slope * (i - mean_i)) ** 2 for i, t in enumerate(old)) / n)
    tolerance = max(4.0 * spread, 0.1 * abs(slope))
    for i in range(n, len(times)):
        if abs(times[i] - mean_t - slope * (i - mean_i)) > tolerance:
            return max(0, i - 1)
    return n
