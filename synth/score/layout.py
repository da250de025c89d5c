"""The score model's latent (layout version 2): control curves at the latent frame rate, one channel per row.

Frame f covers [f, f + 1) * HOP / SAMPLE_RATE seconds (2048 / 44100 = 46.4 ms, 21.5 frames/s).

| channels | name                          | raw value                                                      |
|----------|-------------------------------|----------------------------------------------------------------|
| 0..19    | tempo_0..19                   | two-hot over log-spaced tempo bins (bin k = 50 x 2^(k/10) bpm): |
|          |                               | 1 - a on bin k and a on bin k + 1 for 10 log2(bpm / 50) = k + a; |
|          |                               | constant                                                       |
| 20, 21   | tonic_cos, tonic_sin          | cos / sin of 2 pi x tonic / 12, constant                       |
| 22       | mode                          | +1 major, -1 minor, constant                                   |
| 23..33   | drums_none, drums_{pattern}   | one-hot drum pattern (none or one of synth.score.drums'), const |
| 34       | drum_level                    | groove level / 127 (0 without drums), constant                 |
| 35       | drum_fill                     | 1 over the last beat of a bar that ends in a snare fill        |
| then, for each voice in (melody, harmony, bass), 28 channels:                                   |
| +0       | {role}_onset                  | 1 on a note's (a chord's) first frame, else 0                  |
| +1       | {role}_gate                   | 1 while a note sounds, else 0                                  |
| +2       | {role}_pitch                  | (MIDI key - 60) / 12 of the sounding note (the chord root);    |
|          |                               | held from the last note through rests                          |
| +3       | {role}_velocity               | velocity / 127, held like pitch                                |
| +4..+19  | {role}_family_0..15           | one-hot GM family (program // 8), constant; 0 if no voice      |
| +20..+27 | {role}_member_0..7            | one-hot program % 8, constant; 0 if no voice                   |

120 channels. Every global choice (tempo, drum pattern, instruments) is a constant one-hot: the model
learns those as classifications, while a constant scalar (version 1's log2 bpm) was set by the seed's
noise rather than the text. Bins are 0.1 octave (7.2%) apart, so a decoded tempo up to 1.37 bins off
(2^0.137 = 1.10) is still within 10%: a one-bin miss towards the near side passes. No beat-clock or per-hit drum
channels either: the drum part is rebuilt from the pattern at the decoded tempo (`synth.score.drums`). The
model sees every channel normalised, (raw - mean) / std, with the mean and std of the training corpus
stored in the model's config (`synth.score.normalisation`).
"""
from __future__ import annotations

import math

from synth.score.drums import PATTERN_NAMES
from synth.score.score import ROLES

VERSION = 2  # of this layout; a model's config.json records the one it was trained on
SAMPLE_RATE = 44100
HOP = 2048
FRAME_RATE = SAMPLE_RATE / HOP
MAX_FRAMES = 512  # 23.78 s: the score model's window
BPM_RANGE = (50, 180)  # the tempi the model is trained on; a decoded tempo is clamped to them
TEMPO_BINS = 20
TEMPO_BASE = 50.0      # bpm of bin 0
BINS_PER_OCTAVE = 10   # 0.1 octave (7.2%) per bin; bin 19 = 186.6 bpm covers 180

TEMPO = tuple(f"tempo_{k}" for k in range(TEMPO_BINS))
KEY = ("tonic_cos", "tonic_sin", "mode")
DRUMS = ("drums_none",) + tuple(f"drums_{name}" for name in PATTERN_NAMES) + ("drum_level", "drum_fill")
VOICE_FIELDS = ("onset", "gate", "pitch", "velocity") + tuple(f"family_{i}" for i in range(16)) + tuple(
    f"member_{i}" for i in range(8))

CHANNELS: tuple[str, ...] = TEMPO + KEY + DRUMS + tuple(f"{r}_{f}" for r in ROLES for f in VOICE_FIELDS)
INDEX = {name: i for i, name in enumerate(CHANNELS)}
N_CHANNELS = len(CHANNELS)
TEMPO0 = INDEX["tempo_0"]
PATTERN0 = INDEX["drums_none"]     # drums_none, then one channel per pattern in PATTERN_NAMES order
N_PATTERNS = 1 + len(PATTERN_NAMES)


def voice_base(role: str) -> int:
    """Index of the role's first channel (its onset)."""
    return INDEX[f"{role}_onset"]


def groups() -> dict[str, list[int]]:
    """Channel indices by what they say: the training loss can weigh each group."""
    out = {"tempo": [INDEX[c] for c in TEMPO], "key": [INDEX[c] for c in KEY],
           "drums": [INDEX[c] for c in DRUMS], "notes": [], "instruments": []}
    for role in ROLES:
        base = voice_base(role)
        out["notes"] += list(range(base, base + 4))
        out["instruments"] += list(range(base + 4, base + 28))
    return out


def tempo_position(bpm: float) -> float:
    """Fractional tempo bin of `bpm` (0 = TEMPO_BASE)."""
    return BINS_PER_OCTAVE * math.log2(float(bpm) / TEMPO_BASE)


def bin_bpm(position: float) -> float:
    return TEMPO_BASE * 2.0 ** (float(position) / BINS_PER_OCTAVE)


def frame_of(seconds: float) -> int:
    return int(round(seconds * FRAME_RATE))


def frames_for(seconds: float) -> int:
    return max(1, int(-(-seconds * SAMPLE_RATE // HOP)))
