"""Pure measures for jam mode (arrays and scores in, numbers out); bench/jam.py gathers the data.

- boundary_offsets: where phrase boundaries fall in a recording, against the clock's bar lines;
- boundary_flux: spectral flux across each phrase boundary against inside the phrases;
- step_share: the share of boundaries where the melody moves by a step (<= 2 semitones);
- notes_kept: how many of a source score's melody notes a variation keeps.
"""
from __future__ import annotations

import numpy as np

STEP = 2          # semitones: a melodic step, not a leap
EDGE_WINDOW = 48  # frames: phrases are faded to zero at their edges (synth.jam.FADE at 44.1 kHz ~ 70 at 48 kHz)


def quiet_envelope(audio: np.ndarray, window: int = EDGE_WINDOW) -> np.ndarray:
    """Moving maximum of |x| over both channels ([N, 2] or [N]) across `window` frames."""
    x = np.abs(audio).max(axis=1) if audio.ndim == 2 else np.abs(audio)
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(x, size=window, mode="nearest")


def boundary_offsets(audio: np.ndarray, bar_frames: list[int], search: int) -> list[int]:
    """For each clock bar line (a frame in `audio`), the offset of the deepest dip (the faded phrase
    edge) within +-`search` frames: boundary frame minus bar line. Bar lines too near an end are
    skipped, as are those where nothing sounds (no dip to find)."""
    env = quiet_envelope(audio)
    out = []
    for bar in bar_frames:
        a, b = bar - search, bar + search
        if a < 0 or b > len(env):
            continue
        seg = env[a:b]
        if seg.max() < 1e-4:
            continue
        out.append(int(a + int(np.argmin(seg)) - bar))
    return out


def _flux(y: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Positive spectral flux per hop of mono `y` (the half-wave rectified magnitude difference)."""
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop] * np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=1))
    return np.maximum(np.diff(mag, axis=0), 0.0).sum(axis=1)


def boundary_flux(phrases: list[np.ndarray], hop: int = 256) -> tuple[float, float]:
    """(median flux at the boundaries, median flux inside) over consecutive phrases [2, N] played back
    to back: the flux in the hop that straddles each join against every other hop."""
    y = np.concatenate([p.mean(axis=0) for p in phrases])
    flux = _flux(y, hop=hop)
    joins = np.cumsum([p.shape[-1] for p in phrases])[:-1]
    at = np.zeros(len(flux), bool)
    for j in joins:
        k = j // hop
        at[max(0, k - 4):k + 1] = True   # the frames whose window covers the join
    return float(np.median(flux[at])), float(np.median(flux[~at]))


def step_share(melodies: list[list[int]]) -> tuple[float, int]:
    """(share of joins where the melody moves by <= STEP semitones, joins counted) over consecutive
    phrases' melody pitches; joins where either phrase has no melody are not counted."""
    moves = [abs(b[0] - a[-1]) for a, b in zip(melodies, melodies[1:]) if a and b]
    return (sum(m <= STEP for m in moves) / len(moves) if moves else float("nan")), len(moves)


def notes_kept(source, variation, tolerance: float = 0.125) -> float:
    """Share of the source's pitched notes (all voices) that the variation has at the same pitch and
    start (within `tolerance` beats)."""
    src = [(v.role, n.start, n.pitch) for v in source.voices for n in v.notes]
    if not src:
        return float("nan")
    got = {}
    for v in variation.voices:
        for n in v.notes:
            got.setdefault((v.role, n.pitch), []).append(n.start)
    kept = sum(any(abs(s - t) <= tolerance for t in got.get((role, pitch), ())) for role, s, pitch in src)
    return kept / len(src)
