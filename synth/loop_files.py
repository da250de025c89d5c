"""Jam phrases as bar-exact loop files in the DAW folder: `<name>_<bpm>bpm_<bars>bars_<n>.wav` (plus the
score's `.mid` on score families, and a JSON sidecar with the state). Ableton, Bitwig and Reaper read
the tempo from the name, so the bpm is written without trailing zeros: `96bpm`, `122.5bpm`.
Written by the clip writer (synth/clip_writer.py): atomic, and published with a hard link, so an
existing name is never overwritten (n moves on)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.clip_writer import clip_slug, encode_wav, publish_clip, writable_folder

MAX_TRIES = 100_000


def bpm_text(bpm: float) -> str:
    """96.0 -> '96', 122.5 -> '122.5', 99.99 -> '99.99' (three decimals at most)."""
    return f"{float(bpm):.3f}".rstrip("0").rstrip(".")


def loop_stem(name: str, bpm: float, bars: int, n: int) -> str:
    return f"{name}_{bpm_text(bpm)}bpm_{int(bars)}bars_{int(n)}"


def write_loop(folder, phrase, n: int, midi: bytes | None = None, subtype: str = "FLOAT",
               meta: dict | None = None) -> Path:
    """Write a `synth.jam.Phrase` as loop number `n` (or the next free number); returns the WAV path."""
    folder = writable_folder(folder)
    name = clip_slug(phrase.state)
    data = np.asarray(phrase.audio, dtype=np.float32)

    def sidecar(file: str) -> dict:
        return {"file": file, "kind": "jam", "bpm": phrase.bpm, "bars": phrase.bars, "frames": int(data.shape[1]),
                "sample_rate": int(phrase.sample_rate), "context_frames": phrase.context_frames,
                "render_seconds": round(phrase.render_seconds, 4), "state": phrase.state.to_dict(), **(meta or {})}

    stems = (loop_stem(name, phrase.bpm, phrase.bars, k) for k in range(int(n), int(n) + MAX_TRIES))
    return publish_clip(folder, stems, encode_wav(data, phrase.sample_rate, subtype), sidecar, midi)
