"""A user's clip as a variation source: a file -> the family's clean latent (`Guide`'s latent).

Score families read a `.mid` into their exact score latent; the others read audio (WAV, FLAC, ...)
and encode it with their autoencoder, after resampling to the model's rate and making it stereo.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from synth.families.base import Family

MIDI_SUFFIXES = (".mid", ".midi")


class InitError(ValueError):
    """An init file this backend cannot use; the one-line message names the file and the fix."""


def read_audio(path: Path, sample_rate: int, seconds: float) -> np.ndarray:
    """The file's first `seconds` as float32 [2, N] at `sample_rate` (mono doubled, >2 channels cut)."""
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise InitError(f"cannot read {path} as audio: {' '.join(str(exc).split())}") from None
    if data.shape[0] == 0:
        raise InitError(f"{path} holds no audio")
    x = data.T
    x = np.concatenate([x, x]) if x.shape[0] == 1 else x[:2]
    if sr != sample_rate:
        g = math.gcd(int(sr), int(sample_rate))
        x = resample_poly(x, sample_rate // g, int(sr) // g, axis=1).astype(np.float32)
    n = int(round(seconds * sample_rate))
    return np.pad(x[:, :n], ((0, 0), (0, max(0, n - x.shape[1]))))


def init_latent(family: Family, path, seconds: float) -> torch.Tensor:
    """`path` as a clean latent [1, C, frames] covering `seconds` for `family`; raises InitError."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InitError(f"init file {path} does not exist")
    is_midi = path.suffix.lower() in MIDI_SUFFIXES
    if family.writes_score:
        if not is_midi:
            raise InitError(f"the {family.backend} backend varies a score: give it a .mid file, not {path.name}")
        from synth.score.midi_read import MidiReadError, midi_to_score

        try:
            return family.encode_score(midi_to_score(path.read_bytes(), str(path)), seconds)
        except MidiReadError as exc:
            raise InitError(str(exc)) from None
    if is_midi:
        raise InitError(f"the {family.backend} backend varies audio: give it a WAV, not {path.name}")
    audio = torch.from_numpy(read_audio(path, family.sample_rate, seconds)).unsqueeze(0)
    frames = max(1, math.ceil(seconds * family.sample_rate / family.hop))
    return family.encode_audio(audio)[:, :, :frames]
