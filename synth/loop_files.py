"""Jam phrases as bar-exact loop files in the DAW folder: `<name>_<bpm>bpm_<bars>bars_<n>.wav` (plus the
score's `.mid` on score families, and a JSON sidecar with the state). Ableton, Bitwig and Reaper read
the tempo from the name, so the bpm is written without trailing zeros: `96bpm`, `122.5bpm`.
Written atomically (temp file, then rename); an existing name is never overwritten (n moves on)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from synth.atomic_io import atomic_write_bytes, atomic_write_text
from synth.clip_writer import clip_slug

MAX_TRIES = 100_000


def bpm_text(bpm: float) -> str:
    """96.0 -> '96', 122.5 -> '122.5', 99.99 -> '99.99' (three decimals at most)."""
    return f"{float(bpm):.3f}".rstrip("0").rstrip(".")


def loop_stem(name: str, bpm: float, bars: int, n: int) -> str:
    return f"{name}_{bpm_text(bpm)}bpm_{int(bars)}bars_{int(n)}"


def write_loop(folder, phrase, n: int, midi: bytes | None = None, subtype: str = "FLOAT",
               meta: dict | None = None) -> Path:
    """Write a `synth.jam.Phrase` as loop number `n` (or the next free number); returns the WAV path."""
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    name = clip_slug(phrase.state)
    for k in range(int(n), int(n) + MAX_TRIES):
        wav = folder / f"{loop_stem(name, phrase.bpm, phrase.bars, k)}.wav"
        if not wav.exists():
            break
    else:
        raise OSError(f"no free loop number in {folder} after {MAX_TRIES} tries")
    data = np.asarray(phrase.audio, dtype=np.float32)
    if subtype == "PCM_24":
        data = np.clip(data, -1.0, 1.0)
    encoded = io.BytesIO()
    sf.write(encoded, data.T, int(phrase.sample_rate), subtype=subtype, format="WAV")
    if midi is not None:
        atomic_write_bytes(wav.with_suffix(".mid"), midi)
    side = {"file": wav.name, "kind": "jam", "bpm": phrase.bpm, "bars": phrase.bars, "frames": int(data.shape[1]),
            "sample_rate": int(phrase.sample_rate), "context_frames": phrase.context_frames,
            "render_seconds": round(phrase.render_seconds, 4), "state": phrase.state.to_dict(), **(meta or {})}
    atomic_write_text(wav.with_suffix(".json"), json.dumps(side, indent=1, default=str))
    atomic_write_bytes(wav, encoded.getvalue())   # last: a watcher that sees the WAV finds its .mid and .json
    return wav
