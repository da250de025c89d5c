"""The score model's latent (layout version 4): control curves in musical time, one channel per row.

Frame f is the 16th note f of the clip (FRAMES_PER_16TH = 1; 16 frames to a 4/4 bar). The latent holds no
tempo: the decoder plays the frames at the tempo it is given (an explicit bpm, a number in the prompt,
or the model's tempo head reading tempo words; `synth.families.score`), so a set tempo is met exactly.

| channels | name                          | raw value                                                      |
|----------|-------------------------------|----------------------------------------------------------------|
| 0, 1     | tonic_cos, tonic_sin          | cos / sin of 2 pi x tonic / 12, constant                       |
| 2        | mode                          | +1 major, -1 minor, constant                                   |
| 3..13    | drums_none, drums_{pattern}   | one-hot drum pattern (none or one of synth.score.drums'), const |
| 14       | drum_level                    | groove level / 127 (0 without drums), constant                 |
| 15       | drum_fill                     | 1 over the last beat of a bar that ends in a snare fill        |
| then, for each voice in (melody, harmony, bass), 29 channels:                                   |
| +0       | {role}_onset                  | 1 on the 16th where a note (a chord) starts, else 0            |
| +1       | {role}_gate                   | 1 on every 16th the note sounds for at least half of, else 0   |
| +2       | {role}_pitch                  | (MIDI key - 60) / 12 of the sounding note (the chord root);    |
|          |                               | held from the last note through rests                          |
| +3       | {role}_velocity               | velocity / 127, held like pitch                                |
| +4       | {role}_step                   | scale steps from the previous note (chord root) / 4, held      |
| +5..+20  | {role}_family_0..15           | one-hot GM family (program // 8), constant; 0 if no voice      |
| +21..+28 | {role}_member_0..7            | one-hot program % 8, constant; 0 if no voice                   |

103 channels. Why `step` (new in version 4): a semitone is a small move of the pitch curve, so the pitch
the model writes is only good to a few semitones, and version 3's melodies leapt at random (24-30% steps).
The interval in scale steps is a large, local move the model writes well; the decoder reads each note
from both curves, the melody that agrees best with both (`synth.score.curves`). The tempo the piece is played at is also a conditioning input (the projection model's
start-seconds token carries bpm / 10), so the model writes for its tempo. Every global choice (drum
pattern, instruments) is a constant one-hot the model learns as a classification. No per-hit drum
channels: the drum part is rebuilt from the pattern (`synth.score.drums`). The model sees every channel
normalised, (raw - mean) / std, with the mean and std of the training corpus stored in the model's
config (`synth.score.normalisation`).
"""
from __future__ import annotations

import math

from synth.score.drums import PATTERN_NAMES
from synth.score.score import ROLES

VERSION = 4  # of this layout; a model's config.json records the one it was trained on
SAMPLE_RATE = 44100
HOP = 2048             # kept for the family's geometry; frames are 16ths, not hops, in this version
FRAMES_PER_16TH = 1
FRAMES_PER_BEAT = 4 * FRAMES_PER_16TH
FRAMES_PER_BAR = 4 * FRAMES_PER_BEAT
MAX_FRAMES = 384       # 24 bars (96 beats): 24 s at 240 bpm, 115 s at 50 bpm
TRAIN_FRAMES = 256     # the longest crop trained on (16 bars)
BPM_RANGE = (50, 180)  # the tempi the model is trained on; other tempi are played, conditioned as the nearest
DEFAULT_BPM = 110.0    # when neither a number nor the model's tempo head says otherwise

KEY = ("tonic_cos", "tonic_sin", "mode")
DRUMS = ("drums_none",) + tuple(f"drums_{name}" for name in PATTERN_NAMES) + ("drum_level", "drum_fill")
VOICE_FIELDS = ("onset", "gate", "pitch", "velocity", "step") + tuple(f"family_{i}" for i in range(16)) + tuple(
    f"member_{i}" for i in range(8))

CHANNELS: tuple[str, ...] = KEY + DRUMS + tuple(f"{r}_{f}" for r in ROLES for f in VOICE_FIELDS)
INDEX = {name: i for i, name in enumerate(CHANNELS)}
N_CHANNELS = len(CHANNELS)
PATTERN0 = INDEX["drums_none"]     # drums_none, then one channel per pattern in PATTERN_NAMES order
N_PATTERNS = 1 + len(PATTERN_NAMES)
FAMILY0 = VOICE_FIELDS.index("family_0")   # offsets inside a voice's block
MEMBER0 = VOICE_FIELDS.index("member_0")
STEP_UNIT = 4.0                            # scale steps per raw unit of the step curve


def voice_base(role: str) -> int:
    """Index of the role's first channel (its onset)."""
    return INDEX[f"{role}_onset"]


def groups() -> dict[str, list[int]]:
    """Channel indices by what they say: the training loss can weigh each group."""
    out = {"key": [INDEX[c] for c in KEY],
           "drums": [INDEX[c] for c in DRUMS], "notes": [], "instruments": []}
    for role in ROLES:
        base = voice_base(role)
        out["notes"] += list(range(base, base + FAMILY0))
        out["instruments"] += list(range(base + FAMILY0, base + len(VOICE_FIELDS)))
    return out


def frames_for(seconds: float, bpm: float) -> int:
    """16ths (frames) that start within `seconds` at `bpm`."""
    return max(1, math.ceil(float(seconds) * float(bpm) / 60.0 * FRAMES_PER_BEAT - 1e-9))


def beats_in(frames: int) -> float:
    return frames / FRAMES_PER_BEAT
