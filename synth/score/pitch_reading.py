"""Which scale tone each decoded note plays, read from two curves the model writes: the note's pitch and
its move in scale steps from the note before (layout version 4). Pure numpy.

The pitch curve places a line in its register but is only good to a few semitones; the step curve says
how the line moves. The notes chosen are the line that agrees best with both (a Viterbi path over the
key's scale tones), so a model that writes steps gets steps, and one that writes leaps gets leaps.

Where the model is unsure its step curve sits between two moves (+0.5: a step up, or a repeat?), the
path is the most probable one given how melodies move in its training corpus (`MOVE_PRIOR`): an HMM's
MAP path, the written curves as Gaussian emissions and the corpus's moves as transitions. Without it a
regression-to-the-mean step of +0.5 read as a repeat as often as a step, and the melodies hovered on two
or three notes (48% repeated notes).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from synth.score.theory import MODES, snap

SIGMA_PITCH = 3.0  # semitones: how far the written pitch may be off
SIGMA_STEP = 0.5   # scale steps: how far the written move may be off
# How melodies move in the corpus generator, in scale steps (analysis/score_model/compose.py's _MOVES;
# tests/test_score_words.py keeps the two equal); any larger move gets LEAP_FLOOR.
MOVE_PRIOR = {-1: 0.36, 1: 0.36, 0: 0.08, -2: 0.07, 2: 0.07, -3: 0.02, 3: 0.02, -4: 0.01, 4: 0.01}
LEAP_FLOOR = 0.002


def scale_tones(tonic: int, mode: str) -> np.ndarray:
    """The key's tones in the MIDI range, ascending: index differences are scale steps."""
    return np.array([p for p in range(128) if (p - tonic) % 12 in MODES[mode]])


def scale_steps(pitches: list[int], tonic: int, mode: str) -> list[int]:
    """Each note's move in scale steps from the one before (0 for the first), out-of-key notes snapped."""
    tones = list(scale_tones(tonic, mode))
    idx = [tones.index(snap(p, tonic, mode)) for p in pitches]
    return [0] + [b - a for a, b in zip(idx, idx[1:])]


@lru_cache(maxsize=4)
def move_cost(tones: int) -> np.ndarray:
    """[from, to] -> -2 log P(move) under MOVE_PRIOR for `tones` scale tones: the transition cost in the
    units of the squared z-scores (read-only)."""
    prob = np.full(2 * tones - 1, LEAP_FLOOR)            # moves -(tones - 1) .. tones - 1
    for move, p in MOVE_PRIOR.items():
        prob[move + tones - 1] = p
    k = np.arange(tones)
    cost = -2.0 * np.log(prob[k[None, :] - k[:, None] + tones - 1])
    cost.flags.writeable = False
    return cost


def read_pitches(pitch: np.ndarray, step: np.ndarray, tonic: int, mode: str) -> list[int]:
    """Notes' written pitches (MIDI, float) and moves (scale steps, float; the first is ignored) -> the
    scale tones that minimise sum ((tone - pitch) / SIGMA_PITCH)^2 + ((move - step) / SIGMA_STEP)^2
    - 2 log MOVE_PRIOR(move)."""
    pitch, step = np.asarray(pitch, np.float64), np.asarray(step, np.float64)
    if not len(pitch):
        return []
    tones = scale_tones(tonic, mode)
    k = np.arange(len(tones))
    moves = k[None, :] - k[:, None]                     # [from, to] in scale steps
    prior = move_cost(len(tones))
    cost = ((tones - pitch[0]) / SIGMA_PITCH) ** 2
    back = []
    for p, s in zip(pitch[1:], step[1:]):
        total = cost[:, None] + ((moves - s) / SIGMA_STEP) ** 2 + prior
        back.append(np.argmin(total, axis=0))
        cost = total[back[-1], k] + ((tones - p) / SIGMA_PITCH) ** 2
    path = [int(np.argmin(cost))]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return [int(tones[i]) for i in reversed(path)]
