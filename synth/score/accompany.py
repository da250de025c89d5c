"""An accompaniment made from a melody: used when the words ask for a melody with accompaniment (or an
ensemble) and the model wrote the melody alone. Pure: a melody voice in, a harmony or bass voice out.

Each 4/4 bar gets the diatonic triad whose tones the bar's melody sounds longest (I, V, IV, vi, ii, iii
preferred in that order on a tie), as the corpus's music21 pieces are harmonised: the harmony holds it
for the bar about an octave under the melody, the bass plays its root in half notes two octaves under.
"""
from __future__ import annotations

import math

from synth.score.score import Note, Voice
from synth.score.theory import MODES, triad

BEATS_PER_BAR = 4
DEGREES = (0, 4, 3, 5, 1, 2)           # scale degrees of the roots tried, preferred first
PROGRAMS = {"harmony": 48, "bass": 32}  # string ensemble, acoustic bass: when the words name none
SOFTER = {"harmony": 14, "bass": 8}    # velocity under the melody's


def _bar_root_pc(notes: list[Note], bar: int, tonic: int, mode: str) -> int:
    a, b = bar * BEATS_PER_BAR, (bar + 1) * BEATS_PER_BAR
    weight = [0.0] * 12
    for n in notes:
        overlap = min(b, n.start + n.duration) - max(a, n.start)
        if overlap > 0:
            weight[n.pitch % 12] += overlap
    scale = MODES[mode]

    def covered(degree: int) -> float:
        return sum(weight[(tonic + scale[(degree + k) % 7]) % 12] for k in (0, 2, 4))

    best = max(DEGREES, key=lambda d: (covered(d), -DEGREES.index(d)))
    return (tonic + scale[best]) % 12


def _nearest(pc: int, target: float) -> int:
    """The MIDI key of pitch class `pc` nearest `target`."""
    base = int(round(target)) - 6
    return next(k for k in range(base, base + 12) if k % 12 == pc)


def accompaniment(melody: Voice, tonic: int, mode: str, role: str) -> Voice:
    """A `role` ("harmony" or "bass") voice under `melody`, bar by bar, as long as the melody."""
    if role not in PROGRAMS:
        raise ValueError(f"an accompaniment is a harmony or a bass voice, not {role!r}")
    notes = sorted(melody.notes, key=lambda n: n.start)
    if not notes:
        return Voice(role, PROGRAMS[role], [])
    mean_pitch = sum(n.pitch for n in notes) / len(notes)
    velocity = max(1, round(sum(n.velocity for n in notes) / len(notes)) - SOFTER[role])
    bars = math.ceil(max(n.start + n.duration for n in notes) / BEATS_PER_BAR)
    out: list[Note] = []
    for bar in range(bars):
        pc = _bar_root_pc(notes, bar, tonic, mode)
        start = float(bar * BEATS_PER_BAR)
        if role == "harmony":
            root = _nearest(pc, max(45.0, mean_pitch - 14))
            out += [Note(start, float(BEATS_PER_BAR), k, velocity) for k in triad(root, tonic, mode) if 0 <= k <= 127]
        else:
            root = _nearest(pc, min(50.0, max(33.0, mean_pitch - 26)))
            out += [Note(start + half, BEATS_PER_BAR / 2, root, velocity) for half in (0.0, BEATS_PER_BAR / 2)]
    return Voice(role, PROGRAMS[role], out)
