"""Pure measures for jam mode (arrays and scores in, numbers out); bench/jam.py gathers the data.

- boundary_offsets: where phrase boundaries fall in a recording, against the clock's bar lines;
- boundary_flux: spectral change across each phrase boundary against inside the phrases;
- flux_across: the same spectral change across any frames of one recording (beat splices, phrase starts);
- step_share: the share of boundaries where the melody moves by a step (<= 2 semitones);
- melody_around: the melody's last pitch before a time and its first from it (a splice's step);
- notes_kept: how many of a source score's melody notes a variation keeps.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import minimum_filter1d

STEP = 2          # semitones: a melodic step, not a leap
EDGE_WINDOW = 16  # frames: phrases are faded to zero at their edges (synth.jam.FADE at 44.1 kHz ~ 70 at 48 kHz)
DIP = 0.1         # a phrase edge: the envelope falls below this share of the window's median
EDGE_SIDE = 96    # frames: just beyond an edge fade (FADE at 44.1 kHz ~ 70 at 48 kHz), where both phrases sound;
                  # a rest of digital silence longer than 2 x this never reads as an edge


def quiet_envelope(audio: np.ndarray, window: int = EDGE_WINDOW) -> np.ndarray:
    """Moving mean of |x| (the louder channel of [N, 2], or [N]) across `window` frames."""
    x = np.abs(audio).max(axis=1) if audio.ndim == 2 else np.abs(audio)
    return np.convolve(x, np.ones(window) / window, mode="same")


def _edge_ratio(env: np.ndarray, side: int = EDGE_SIDE) -> np.ndarray:
    """Per frame: the envelope there over the least envelope `side` to 2 x `side` frames before and
    after it. A phrase edge is a short V (the fades) with sound on both sides: tiny. Inside or at the
    end of a rest (a silence longer than 2 x `side`), a side is silent too: infinite."""
    floor = minimum_filter1d(env, size=side + 1, mode="constant", cval=0.0)   # env[j - side/2 .. j + side/2]
    shift = side + side // 2
    sides = np.zeros_like(env)   # the least of env[k - 2 side .. k - side] and env[k + side .. k + 2 side]
    sides[shift:len(env) - shift] = np.minimum(floor[:len(env) - 2 * shift], floor[2 * shift:])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = env / sides
    return np.where(sides > 0, ratio, np.inf)


def boundary_offsets(audio: np.ndarray, bar_frames: list[int], search: int, dip: float = DIP,
                     valid: np.ndarray | None = None) -> list[int]:
    """For each clock bar line (a frame in `audio`), the offset of the phrase edge within +-`search`
    frames: boundary frame minus bar line. The edge is the deepest short dip with sound on both sides
    (`_edge_ratio`), not the quietest frame: the music's own digital silence (a rest) is quieter than
    the faded edge and would be read as a boundary up to `search` frames off. Bar lines too near an end
    are skipped, as are those where nothing sounds or no such dip reaches `dip` (an edge inside a
    rest cannot be seen). `valid` (bool per frame) marks what the recorder really heard: gaps are never
    taken for edges."""
    env = quiet_envelope(audio).astype(np.float32)   # 10 minutes: 29 M frames
    ratio = _edge_ratio(env)
    if valid is not None:
        gap = np.convolve(~valid, np.ones(2 * EDGE_WINDOW + 1), mode="same") > 0
        env = np.where(gap, np.inf, env)
        ratio = np.where(gap, np.inf, ratio)
    out = []
    for bar in bar_frames:
        a, b = bar - search, bar + search
        if a < 0 or b > len(env):
            continue
        seg, edge = env[a:b], ratio[a:b]
        k = int(np.argmin(edge))
        loud = np.median(seg[np.isfinite(seg)]) if np.isfinite(seg).any() else 0.0
        if loud < 1e-4 or seg[k] > dip * loud or edge[k] > dip:
            continue
        out.append(int(a + k - bar))
    return out


def _spectrum(y: np.ndarray) -> np.ndarray:
    mag = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return mag / (mag.sum() + 1e-12)


def _change(a: np.ndarray, b: np.ndarray) -> float:
    """Spectral flux between two windows: the rise in normalised magnitude from a to b."""
    return float(np.maximum(_spectrum(b) - _spectrum(a), 0.0).sum())


def boundary_flux(phrases: list[np.ndarray], win: int = 4096, skip: int = 128) -> tuple[float, float]:
    """(median flux across the joins, median flux inside) for consecutive phrases [2, N] played back to
    back: the change from the window just before a join to the one just after it (the `skip` faded
    samples at each edge left out), against the change between two adjacent windows in the middle of
    each phrase. A continuation keeps the ratio near 1; a fresh start raises it."""
    mono = [p.mean(axis=0) for p in phrases]
    at = [_change(a[-skip - win:-skip], b[skip:skip + win]) for a, b in zip(mono, mono[1:])
          if len(a) > win + skip and len(b) > win + skip]
    inside = []
    for y in mono:
        mid = len(y) // 2
        if mid >= win:
            inside.append(_change(y[mid - win:mid], y[mid:mid + win]))
    return float(np.median(at)) if at else float("nan"), float(np.median(inside)) if inside else float("nan")


def flux_across(mono: np.ndarray, frames, win: int = 4096, skip: int = 128, floor: float = 0.1) -> list[float]:
    """The spectral change across each frame of one recording [N] (as `boundary_flux`): the window
    ending `skip` frames before it against the one starting `skip` frames after it. Frames too near an
    end are left out, and so are those where either window is quieter than `floor` x the recording's
    RMS: a reverb tail's normalised spectrum is noise, not what is heard."""
    level = floor * float(np.sqrt(np.mean(np.square(mono)))) if len(mono) else 0.0
    out = []
    for f in frames:
        if f - skip - win < 0 or f + skip + win > len(mono):
            continue
        a, b = mono[f - skip - win:f - skip], mono[f + skip:f + skip + win]
        if min(np.sqrt(np.mean(a * a)), np.sqrt(np.mean(b * b))) >= level:
            out.append(_change(a, b))
    return out


def melody_around(melody: list[tuple[float, int]], at: float) -> tuple[int, int] | None:
    """(last pitch starting before `at`, first pitch starting at or after it) of (start, pitch) notes;
    None when either side has none."""
    notes = sorted(melody)
    before = [p for s, p in notes if s < at]
    after = [p for s, p in notes if s >= at]
    return (before[-1], after[0]) if before and after else None


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
