"""The score model's latent: control curves at the latent frame rate, one channel per row.

Frame f covers [f, f + 1) * HOP / SAMPLE_RATE seconds (2048 / 44100 = 46.4 ms, 21.5 frames/s).

| channels | name                          | raw value                                                      |
|----------|-------------------------------|----------------------------------------------------------------|
| 0        | tempo                         | log2(bpm), constant                                            |
| 1, 2     | tonic_cos, tonic_sin          | cos / sin of 2 pi x tonic / 12, constant                       |
| 3        | mode                          | +1 major, -1 minor, constant                                   |
| 4..7     | drum_kick/snare/hihat/ride    | velocity / 127 on a hit's frame, else 0                        |
| then, for each voice in (melody, harmony, bass), 28 channels:                                   |
| +0       | {role}_onset                  | 1 on a note's (a chord's) first frame, else 0                  |
| +1       | {role}_gate                   | 1 while a note sounds, else 0                                  |
| +2       | {role}_pitch                  | (MIDI key - 60) / 12 of the sounding note (the chord root);    |
|          |                               | held from the last note through rests                          |
| +3       | {role}_velocity               | velocity / 127, held like pitch                                |
| +4..+19  | {role}_family_0..15           | one-hot GM family (program // 8), constant; 0 if no voice      |
| +20..+27 | {role}_member_0..7            | one-hot program % 8, constant; 0 if no voice                   |

92 channels. (No beat-clock channel: a clock the model could lock onto from the initial noise
would let the noise, not the text, set the tempo.) The model sees every channel normalised, (raw - mean) / std, with the mean and std of
the training corpus stored in the model's config (`synth.score.normalisation`).
"""
from __future__ import annotations

from synth.score.score import DRUM_LANE_NAMES, ROLES

SAMPLE_RATE = 44100
HOP = 2048
FRAME_RATE = SAMPLE_RATE / HOP
MAX_FRAMES = 512  # 23.78 s: the score model's window
BPM_RANGE = (50, 180)  # the tempi the model is trained on; a decoded tempo is clamped to them

GLOBAL = ("tempo", "tonic_cos", "tonic_sin", "mode")
DRUMS = tuple(f"drum_{n.replace('-', '')}" for n in DRUM_LANE_NAMES)
VOICE_FIELDS = ("onset", "gate", "pitch", "velocity") + tuple(f"family_{i}" for i in range(16)) + tuple(
    f"member_{i}" for i in range(8))

CHANNELS: tuple[str, ...] = GLOBAL + DRUMS + tuple(f"{r}_{f}" for r in ROLES for f in VOICE_FIELDS)
INDEX = {name: i for i, name in enumerate(CHANNELS)}
N_CHANNELS = len(CHANNELS)
DRUM0 = INDEX[DRUMS[0]]


def voice_base(role: str) -> int:
    """Index of the role's first channel (its onset)."""
    return INDEX[f"{role}_onset"]


def frame_of(seconds: float) -> int:
    return int(round(seconds * FRAME_RATE))


def frames_for(seconds: float) -> int:
    return max(1, int(-(-seconds * SAMPLE_RATE // HOP)))
