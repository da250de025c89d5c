"""PieceParams -> Score: a chord progression, a melody that walks the scale and lands on chord tones,
block chords, a bass line on the roots, and a drum groove (`synth.score.drums`), all on a 16th-note grid."""
from __future__ import annotations

import random

from analysis.score_model.params import PieceParams
from synth.score.drums import FAST_BPM, Groove, groove_hits
from synth.score.layout import FRAMES_PER_BAR, TRAIN_FRAMES
from synth.score.score import Note, Score, Voice
from synth.score.theory import degree_pitch, triad

STEPS = 16  # 16th notes per 4/4 bar

PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 0, 4), (0, 2, 3, 4), (5, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4), (0, 0, 3, 4)),
}
# Probability of a melody onset at each 16th of a bar, per density.
_ONSET_P = {
    "held": [1, 0, 0, 0, 0, 0, 0, 0, 0.3, 0, 0, 0, 0, 0, 0, 0],   # pads, drones, held chords: long notes
    "sparse": [1, 0, 0, 0, 0.6, 0, 0.1, 0, 0.8, 0, 0.1, 0, 0.6, 0, 0.1, 0],
    "medium": [1, 0, 0.35, 0, 0.8, 0, 0.4, 0, 0.9, 0, 0.35, 0, 0.8, 0, 0.4, 0.05],
    "dense": [1, 0.4, 0.85, 0.4, 1, 0.4, 0.85, 0.4, 1, 0.4, 0.85, 0.4, 1, 0.4, 0.85, 0.45],
}
_LENGTH = {"staccato": 0.4, "normal": 0.85, "legato": 1.0}
# Melodic motion in scale degrees: mostly steps, as in the folk tunes and chorales of the music21 corpus
# (O'Neill's tunes move by step 66% of the time, Bach's soprano lines 85%).
_MOVES = ((-1, 1, 0, -2, 2, -3, 3, -4, 4), (0.36, 0.36, 0.08, 0.07, 0.07, 0.02, 0.02, 0.01, 0.01))
_VELOCITY = {"soft": (32, 56), "medium": (64, 86), "loud": (96, 122)}
_CENTER = {"low": 50, "mid": 65, "high": 79}
# The register moves the whole arrangement, not the melody alone: "a low, dark piece" is low throughout.
_HARMONY_LOW = {"low": 45, "mid": 50, "high": 57}
_BASS_LOW = {"low": 31, "mid": 36, "high": 40}


def compose(p: PieceParams, rng: random.Random, bars: int | None = None) -> Score:
    """A piece of `bars` 4/4 bars (default: the longest training crop and one more)."""
    bars = TRAIN_FRAMES // FRAMES_PER_BAR + 1 if bars is None else bars
    prog = rng.choice(PROGRESSIONS[p.mode])
    chords = [prog[b % len(prog)] for b in range(bars)]
    lo_v, hi_v = _VELOCITY[p.dynamics]
    base_vel = rng.randint(lo_v, hi_v)
    voices = [Voice("melody", p.melody, _melody(p, rng, chords, base_vel))]
    if p.harmony is not None:
        voices.append(Voice("harmony", p.harmony, _harmony(p, rng, chords, base_vel)))
    if p.bass is not None:
        voices.append(Voice("bass", p.bass, _bass(p, rng, chords, base_vel)))
    groove = _groove(p, rng, bars, base_vel) if p.drums else None
    drums = groove_hits(groove, p.bpm, bars) if groove else []
    return Score(bpm=float(p.bpm), tonic=p.tonic, mode=p.mode, voices=voices, drums=drums, groove=groove)


def _vel(rng: random.Random, base: int, accent: float = 0.0, floor: int = 1) -> int:
    return max(floor, min(127, int(base + 10 * accent + rng.randint(-5, 5))))


def _melody(p: PieceParams, rng, chords, base_vel) -> list[Note]:
    center = _CENTER[p.register] + rng.randint(-3, 3)
    # the scale degree nearest the register's centre
    deg = min(range(-21, 36), key=lambda d: abs(degree_pitch(d, p.tonic, p.mode) - center))
    home = deg
    onsets = []
    for bar in range(len(chords)):
        for s in range(STEPS):
            phrase_end = bar % 4 == 3 and s >= 8  # breathe at the end of each 4-bar phrase
            if s % 2 and p.bpm > FAST_BPM:
                continue
            if rng.random() < _ONSET_P[p.density][s] * (0.3 if phrase_end and s > 8 else 1.0):
                onsets.append(bar * STEPS + s)
    notes = []
    for i, step in enumerate(onsets):
        bar, s = divmod(step, STEPS)
        root = chords[bar]
        tones = [root + k + 7 * o for k in (0, 2, 4) for o in range(-4, 5)]
        near = min(tones, key=lambda d: (abs(d - deg), rng.random()))
        if s in (0, 8) and abs(near - deg) <= 1:  # strong beats land on a chord tone a step away
            deg = near
        else:
            deg += rng.choices(*_MOVES)[0]
        deg += (home - deg) // 5 if abs(home - deg) > 5 else 0  # pull back toward the register
        gap = (onsets[i + 1] if i + 1 < len(onsets) else step + 8) - step
        length = max(0.5, min(gap, 16 if p.density == "held" else 8) * _LENGTH[p.articulation])
        pitch = degree_pitch(deg, p.tonic, p.mode)
        if 0 <= pitch <= 127:
            notes.append(Note(step / 4.0, length / 4.0, pitch, _vel(rng, base_vel, 1.0 if s == 0 else 0.0)))
    return notes


def _root(degree: int, p: PieceParams, low: int) -> int:
    """The chord root's pitch in [low, low + 12)."""
    pitch = degree_pitch(degree, p.tonic, p.mode, octave_base=0)
    return low + (pitch - low) % 12


def _harmony(p: PieceParams, rng, chords, base_vel) -> list[Note]:
    pulse = rng.choice({"held": (16,), "sparse": (16, 16, 8), "medium": (16, 8, 4), "dense": (8, 4, 4)}[p.density])
    vel = base_vel - 12
    notes = []
    for bar, degree in enumerate(chords):
        root = triad(_root(degree, p, _HARMONY_LOW[p.register]), p.tonic, p.mode)
        for s in range(0, STEPS, pulse):
            length = pulse * (_LENGTH[p.articulation] if pulse < 16 else 0.95)
            v = _vel(rng, vel, 0.5 if s == 0 else 0.0)
            notes.extend(Note((bar * STEPS + s) / 4.0, length / 4.0, k, v) for k in root)
    return notes


def _bass(p: PieceParams, rng, chords, base_vel) -> list[Note]:
    pulse = rng.choice({"held": (16,), "sparse": (16, 8), "medium": (8, 4), "dense": (4, 2)}[p.density])
    notes = []
    for bar, degree in enumerate(chords):
        low = _BASS_LOW[p.register]
        root = _root(degree, p, low)
        for s in range(0, STEPS, pulse):
            pitch = root
            if pulse <= 4 and s in (4, 12) and rng.random() < 0.35:  # a fifth now and then
                pitch = degree_pitch(degree + 4, p.tonic, p.mode, octave_base=0)
                pitch = low + (pitch - low) % 12
            length = pulse * _LENGTH[p.articulation]
            notes.append(Note((bar * STEPS + s) / 4.0, length / 4.0, pitch, _vel(rng, base_vel - 4, 1.0 if s == 0 else 0.0)))
    return notes


def _groove(p: PieceParams, rng, bars: int, base_vel: int) -> Groove:
    """The piece's pattern a little under the melody's level, with a snare fill ending half the phrases."""
    fills = tuple(bar for bar in range(bars) if bar % 4 == 3 and rng.random() < 0.5)
    return Groove(p.drums, max(1, base_vel - 8), fills)
