"""A small fixed stereo room: FluidSynth's own reverb keeps state between renders, this one does not,
so the same score always gives the same samples."""
from __future__ import annotations

import functools

import numpy as np
from scipy.signal import oaconvolve

RT60 = 1.1      # seconds for the tail to fall 60 dB
LENGTH = 1.2    # seconds of impulse response
WET = 0.22


@functools.lru_cache(maxsize=4)
def impulse(sample_rate: int) -> np.ndarray:
    """[2, n] decorrelated exponentially decaying noise, unit energy per channel, fixed seed."""
    n = int(LENGTH * sample_rate)
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(2048)
    ir = rng.standard_normal((2, n)) * np.exp(-6.91 * t / RT60)
    ir[:, : int(0.012 * sample_rate)] = 0.0  # pre-delay: the dry sound stays clear
    return (ir / np.sqrt((ir ** 2).sum(axis=1, keepdims=True))).astype(np.float32)


def add_room(audio: np.ndarray, sample_rate: int, wet: float = WET) -> np.ndarray:
    """audio [2, N] -> dry + wet room, same length."""
    if audio.shape[-1] == 0 or wet <= 0:
        return audio
    ir = impulse(sample_rate)
    tail = np.stack([oaconvolve(audio[c], ir[c])[: audio.shape[-1]] for c in range(2)])
    return (audio + wet * tail).astype(np.float32)
