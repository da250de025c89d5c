"""Write rendered clips into a DAW folder: atomic WAV + JSON sidecar, never overwriting.

The one writer of the files users keep from a render: clips (`write_clip`) and jam loops
(synth/loop_files.py) both publish through `publish_clip`. A DAW watching the folder must never see a
half-written file, so every file is written under a hidden temporary name in the same folder
(synth.atomic_io's names, which the daemon's next start removes if a crash left them), fsynced, and
then published in one step. Publishing uses a hard link where the filesystem has them (it fails
instead of replacing an existing file, so two writers can't clobber each other) and falls back to
`os.replace` after an existence check elsewhere.

The WAV is encoded in memory and written with plain file I/O, so a full disk raises
OSError(ENOSPC) with its real reason (libsndfile only says "System error").
"""
from __future__ import annotations

import datetime as _dt
import io
import itertools
import json
import os
import pathlib
import re
import unicodedata
from typing import Callable, Iterable

import numpy as np
import soundfile as sf

from synth.atomic_io import atomic_write_bytes, temp_name, write_durably
from synth.state import SynthState

SUBTYPES = ("FLOAT", "PCM_24")
NORMALIZE_PEAK = 10 ** (-1.0 / 20.0)  # -1 dBFS leaves headroom for the DAW's resampling
MAX_SLUG = 48
_MAX_SUFFIX = 10_000


def slugify(text: str) -> str:
    """Lower-case ASCII letters, digits and single dashes; 'clip' when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:MAX_SLUG].rstrip("-")
    return slug or "clip"


def clip_slug(state: SynthState) -> str:
    """From the preset name, else the strongest prompt, else the first non-empty prompt."""
    if state.name:
        return slugify(state.name)
    active = state.active_prompts()
    if active:
        return slugify(max(active, key=lambda p: p.weight).text)
    texts = [p.text for p in state.prompts if p.text.strip()]
    return slugify(texts[0] if texts else "clip")


def encode_wav(audio: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> bytes:
    """[channels, N] float -> WAV bytes (PCM_24 clipped to [-1, 1]: libsndfile would wrap, not clip)."""
    data = np.asarray(audio, dtype=np.float32)
    if subtype == "PCM_24":
        data = np.clip(data, -1.0, 1.0)
    encoded = io.BytesIO()
    sf.write(encoded, data.T, int(sample_rate), subtype=subtype, format="WAV")
    return encoded.getvalue()


def publish_clip(folder: pathlib.Path, stems: Iterable[str], wav_bytes: bytes, sidecar: Callable[[str], dict],
                 midi: bytes | None = None) -> pathlib.Path:
    """Publish a WAV, its JSON sidecar (`sidecar(wav_name)`) and, given, its `.mid` under the first of
    `stems` whose names are all free; returns the WAV's path. Each file is written durably under a temp
    name, then published with a hard link, which refuses to replace a file another writer published
    meanwhile (that name is skipped): nothing is ever overwritten. The WAV comes last, so whatever
    notices it can already read its sidecar and MIDI."""
    stems = iter(stems)
    first = next(stems)
    tmp = {ext: folder / temp_name(f"{first}{ext}") for ext in (".wav", ".json", ".mid")}
    try:
        write_durably(tmp[".wav"], wav_bytes, f"{first}.wav")
        if midi is not None:
            write_durably(tmp[".mid"], midi, f"{first}.mid")
        for stem in itertools.chain([first], stems):
            final = {ext: folder / f"{stem}{ext}" for ext in tmp}
            if any(final[ext].exists() for ext in (".wav", ".json") + ((".mid",) if midi is not None else ())):
                continue
            text = json.dumps(_jsonable(sidecar(final[".wav"].name)), indent=2, sort_keys=False) + "\n"
            write_durably(tmp[".json"], text.encode("utf-8"), final[".json"].name)
            order = [".json"] + ([".mid"] if midi is not None else []) + [".wav"]
            published: list[pathlib.Path] = []
            for ext in order:
                if not _publish(tmp[ext], final[ext]):
                    for path in published:   # the name was taken meanwhile: take back ours, try the next
                        path.unlink(missing_ok=True)
                    break
                published.append(final[ext])
            else:
                return final[".wav"]
            if midi is not None and not tmp[".mid"].exists():
                write_durably(tmp[".mid"], midi, f"{first}.mid")   # published and taken back: write it again
            if not tmp[".wav"].exists():
                write_durably(tmp[".wav"], wav_bytes, f"{first}.wav")
        raise OSError(f"no free file name for {first!r} in {str(folder)!r}")
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)


def writable_folder(out_dir) -> pathlib.Path:
    folder = pathlib.Path(out_dir).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create output folder {str(folder)!r}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OSError(f"output folder {str(folder)!r} is not writable")
    return folder


def write_clip(
    out_dir,
    audio: np.ndarray,
    sample_rate: int,
    state: SynthState,
    meta: dict,
    subtype: str = "FLOAT",
    normalize: bool = False,
    midi: bytes | None = None,
) -> pathlib.Path:
    """Write `audio` [2, N] (channels first) as `{slug}_{YYYYmmdd-HHMMSS}_{seed}.wav` plus a `.json`
    sidecar with the full state and `meta` (model_id, sae_id, device, render_seconds, ...), and `midi`
    (a score family's) as a `.mid` of the same stem. Returns the WAV path. An existing name gets a
    `-1`, `-2`, ... suffix; nothing is overwritten."""
    if subtype not in SUBTYPES:
        raise ValueError(f"unknown WAV subtype {subtype!r} (use {' or '.join(SUBTYPES)})")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"bad sample rate {sample_rate!r}")
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim != 2 or data.shape[0] not in (1, 2) or data.shape[1] == 0:
        raise ValueError(f"audio must be [channels, samples] with 1 or 2 channels, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("audio contains NaN or infinite samples; not writing the clip")

    peak = float(np.abs(data).max())
    if normalize and peak > 0:
        data = data * (NORMALIZE_PEAK / peak)
    folder = writable_folder(out_dir)
    now = _dt.datetime.now()
    stem = f"{clip_slug(state)}_{now.strftime('%Y%m%d-%H%M%S')}_{state.seed}"

    def sidecar(file: str) -> dict:
        return {
            "file": file,
            "sample_rate": int(sample_rate),
            "channels": int(data.shape[0]),
            "frames": int(data.shape[1]),
            "seconds": data.shape[1] / float(sample_rate),
            "subtype": subtype,
            "normalized": bool(normalize),
            "peak_before_normalize": peak,
            "created": now.isoformat(timespec="seconds"),
            "model_id": None,
            "sae_id": None,
            "device": None,
            "render_seconds": None,
            **(meta or {}),
            "state": state.to_dict(),
        }

    stems = (stem if n == 0 else f"{stem}-{n}" for n in range(_MAX_SUFFIX))
    return publish_clip(folder, stems, encode_wav(data, sample_rate, subtype), sidecar, midi)


def write_midi_beside(wav, midi: bytes | None) -> None:
    """A score-writing family's Standard MIDI File, as a `.mid` with the WAV's stem (nothing when None)."""
    if midi is not None:
        atomic_write_bytes(pathlib.Path(wav).with_suffix(".mid"), midi)


def _publish(tmp: pathlib.Path, final: pathlib.Path) -> bool:
    """Move `tmp` to `final` atomically unless `final` exists; False when the name is taken."""
    try:
        os.link(tmp, final)  # atomic and refuses to replace an existing file
    except FileExistsError:
        return False
    except OSError:
        # Filesystems without hard links (FAT, some network shares).
        if final.exists():
            return False
        os.replace(tmp, final)
        return True
    tmp.unlink()
    return True


def _jsonable(value):
    """numpy / torch scalars and paths into JSON types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)
