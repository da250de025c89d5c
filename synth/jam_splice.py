"""Jam's beat splice, pure: where in a playing phrase a re-render can still come in, and the join.

    at = splice_at(earliest, bpm, bars, sample_rate, "beat")   # frames from the phrase's start, or None
    heard = splice(old, new, at)                                # old up to `at`, new from it, crossfaded

`quantize`: `beat` (any beat after the first), `bar` (a bar line inside the phrase) or `phrase` (never
inside: today's behaviour, the change waits for the next phrase). Beats fall on round(k * beat)
frames from the phrase's start, never accumulated, as the phrase's own length is (`phrase_samples`).
"""
from __future__ import annotations

import math

import numpy as np

from synth.jam import FADE, fade_ramp
from synth.state import BEATS_PER_BAR

QUANTIZE = ("beat", "bar", "phrase")
DEFAULT_QUANTIZE = "beat"


def check_quantize(value: str) -> str:
    if value not in QUANTIZE:
        raise ValueError(f"quantize {value!r} is not one of {', '.join(QUANTIZE)}")
    return value


def splice_at(earliest: int, bpm: float, bars: int, sample_rate: int, quantize: str,
              from_start: bool = False) -> int | None:
    """The first beat (or bar line) at or after frame `earliest` of the phrase (frames from its start) and
    before its end; None when there is none left, or under `phrase`. The phrase's own start (0) only
    `from_start` (a phrase not begun yet)."""
    check_quantize(quantize)
    if quantize == "phrase":
        return None
    step = 1 if quantize == "beat" else BEATS_PER_BAR
    beat = 60.0 / float(bpm) * sample_rate
    k = max(0 if from_start else step, step * math.ceil(max(0, earliest) / (beat * step) - 1e-9))
    while round(k * beat) < earliest:   # the ceil above, exact against the rounded beat frames
        k += step
    return int(round(k * beat)) if k < bars * BEATS_PER_BAR else None


def splice(old: np.ndarray, new: np.ndarray, at: int, fade: int = FADE) -> np.ndarray:
    """[C, N] `old` up to sample `at`, then `new` from `at` (a new array, `old`'s length), crossfaded over
    the phrase edges' raised cosine from `at` on: where both renders agree (the notes held across the
    beat ring on in both), the join is silent; where they differ, it has no step."""
    if not 0 < at < old.shape[-1]:
        raise ValueError(f"splice at sample {at} is outside the phrase's 1..{old.shape[-1] - 1}")
    out = np.array(old, dtype=np.float32, copy=True)
    tail = np.asarray(new, dtype=np.float32)[..., at:old.shape[-1]]
    n = min(fade, tail.shape[-1])
    ramp = fade_ramp(n)
    out[..., at:at + n] = out[..., at:at + n] * ramp[::-1] + tail[..., :n] * ramp
    out[..., at + n:at + tail.shape[-1]] = tail[..., n:]
    out[..., at + tail.shape[-1]:] = 0.0
    return out
