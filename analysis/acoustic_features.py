"""The 11 acoustic features of seed 000, measured with librosa, in parallel across cores.

Onset density is the one feature that differs from a plain librosa call. librosa's default
`onset_detect` rescales the onset envelope to [0, 1] per file and then picks peaks 0.07 above
the local mean, so the ripple of a steady tone or steady noise becomes "onsets". Here the
envelope stays un-normalised: librosa's onset strength is a mean over mel bands of positive
log-power (dB) rises, i.e. already a level ratio, so a fixed threshold (`ONSET_DELTA_DB`) is
relative to the signal's own level without any per-file rescaling. Peaks must also be at
least `ONSET_MIN_GAP_S` apart and lie in frames within `ONSET_GATE_DB` of the file's loudest
frame (so dither in a silent tail never counts).
"""
from __future__ import annotations

import concurrent.futures
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

FEATURE_NAMES: tuple[str, ...] = (
    "onset_density",
    "spectral_centroid_mean",
    "spectral_centroid_std",
    "rms_mean",
    "rms_std",
    "spectral_flatness_mean",
    "zero_crossing_rate",
    "tempo",
    "spectral_bandwidth_mean",
    "spectral_flux_mean",
    "spectral_flux_std",
)

ANALYSIS_SR = 22050          # every file is resampled to this rate so that Hz features compare
N_FFT = 2048
HOP = 512
ONSET_DELTA_DB = 3.0         # mean positive dB rise across mel bands, above the local average
ONSET_MIN_GAP_S = 0.05
ONSET_GATE_DB = 50.0
SILENCE_PEAK = 1e-5          # peak |sample| below this counts as silent
MIN_SECONDS = 0.25
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")


class AudioFileError(ValueError):
    """A file that cannot be analysed (unreadable, silent, too short, not finite)."""


@dataclass(frozen=True)
class FileResult:
    path: str
    features: dict[str, float] | None   # None when skipped
    error: str | None = None


def onset_density(y: np.ndarray, sr: int) -> float:
    """Onsets per second, counted on the un-normalised onset-strength envelope."""
    import librosa

    peak = float(np.max(np.abs(y)))
    if peak <= 0:
        return 0.0
    y = y / peak   # keeps librosa's amin/top_db clamps at the same place for every level
    env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)
    wait = max(1, int(round(ONSET_MIN_GAP_S * sr / HOP)))
    frames = librosa.onset.onset_detect(
        onset_envelope=env, sr=sr, hop_length=HOP, normalize=False, delta=ONSET_DELTA_DB, wait=wait, units="frames"
    )
    if len(frames):
        rms = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)[0]
        rms_db = 20 * np.log10(np.maximum(rms, 1e-12) / max(rms.max(), 1e-12))
        # the frame an onset is found in can still be mostly silence; look just after it too
        after = np.array([rms_db[f: f + 3].max() for f in np.minimum(frames, len(rms_db) - 1)])
        frames = frames[after > -ONSET_GATE_DB]
    return float(len(frames) / (len(y) / sr))


def spectral_flux(mag: np.ndarray) -> np.ndarray:
    """Per-frame L2 norm of the positive magnitude change between consecutive frames."""
    diff = np.diff(mag, axis=1)
    return np.sqrt(np.sum(np.maximum(diff, 0.0) ** 2, axis=0)) / mag.shape[0]


def features_from_signal(y: np.ndarray, sr: int) -> dict[str, float]:
    """The 11 features of a mono float signal already at `sr`."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = mag**2
    centroid = librosa.feature.spectral_centroid(S=mag, sr=sr, n_fft=N_FFT, hop_length=HOP)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=mag, sr=sr, n_fft=N_FFT, hop_length=HOP)[0]
    flatness = librosa.feature.spectral_flatness(S=power, power=1.0)[0]
    rms = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0]
    tempo_env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=tempo_env, sr=sr, hop_length=HOP))[0])
    flux = spectral_flux(mag)
    if flux.size == 0:
        flux = np.zeros(1)
    values = {
        "onset_density": onset_density(y, sr),
        "spectral_centroid_mean": float(centroid.mean()),
        "spectral_centroid_std": float(centroid.std()),
        "rms_mean": float(rms.mean()),
        "rms_std": float(rms.std()),
        "spectral_flatness_mean": float(flatness.mean()),
        "zero_crossing_rate": float(zcr.mean()),
        "tempo": tempo,
        "spectral_bandwidth_mean": float(bandwidth.mean()),
        "spectral_flux_mean": float(flux.mean()),
        "spectral_flux_std": float(flux.std()),
    }
    return {name: values[name] for name in FEATURE_NAMES}


def prepare_signal(audio: np.ndarray, sr: int, name: str = "audio") -> np.ndarray:
    """Mono, finite, non-silent, resampled to ANALYSIS_SR. Accepts [N], [C, N] (channels first)."""
    import librosa

    y = np.asarray(audio, dtype=np.float64)
    if y.ndim == 2:
        y = y.mean(axis=0)
    elif y.ndim != 1:
        raise AudioFileError(f"{name}: expected 1 or 2 dimensions, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise AudioFileError(f"{name}: contains NaN or infinite samples")
    if len(y) < MIN_SECONDS * sr:
        raise AudioFileError(f"{name}: too short ({len(y) / sr:.3f} s < {MIN_SECONDS} s)")
    if np.max(np.abs(y)) < SILENCE_PEAK:
        raise AudioFileError(f"{name}: silent (peak below {SILENCE_PEAK:g})")
    if sr != ANALYSIS_SR:
        y = librosa.resample(y, orig_sr=sr, target_sr=ANALYSIS_SR, res_type="soxr_hq")
    return y.astype(np.float32)


def features_from_audio(audio: np.ndarray, sr: int, name: str = "audio") -> dict[str, float]:
    return features_from_signal(prepare_signal(audio, sr, name), ANALYSIS_SR)


def features_from_file(path: str | os.PathLike) -> dict[str, float]:
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as exc:  # soundfile raises its own LibsndfileError, RuntimeError, ...
        raise AudioFileError(f"{path}: unreadable ({exc})") from exc
    return features_from_audio(data.T, sr, str(path))


def _file_worker(path: str) -> FileResult:
    try:
        return FileResult(path, features_from_file(path))
    except AudioFileError as exc:
        return FileResult(path, None, str(exc))


def _audio_worker(item: tuple[str, np.ndarray, int]) -> FileResult:
    name, audio, sr = item
    try:
        return FileResult(name, features_from_audio(audio, sr, name))
    except AudioFileError as exc:
        return FileResult(name, None, str(exc))


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _mp_context():
    """fork is fastest, but a forked child of a process that has initialised CUDA is unsafe."""
    import multiprocessing
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return multiprocessing.get_context("spawn")
    return None


def _run_parallel(worker, items: Sequence, jobs: int | None, progress: bool, desc: str) -> list[FileResult]:
    from tqdm import tqdm

    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    if jobs == 1 or len(items) < 2:
        return [worker(item) for item in tqdm(items, desc=desc, disable=not progress, unit="file")]
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=_mp_context()) as pool:
        chunk = max(1, len(items) // (jobs * 4))
        return list(tqdm(pool.map(worker, items, chunksize=chunk), total=len(items), desc=desc,
                         disable=not progress, unit="file"))


def extract_files(paths: Iterable[str | os.PathLike], jobs: int | None = None, progress: bool = False,
                  desc: str = "features") -> list[FileResult]:
    """Features of every file, in input order; files that fail carry `.error` instead."""
    return _run_parallel(_file_worker, [str(p) for p in paths], jobs, progress, desc)


def extract_arrays(items: Sequence[tuple[str, np.ndarray, int]], jobs: int | None = None, progress: bool = False,
                   desc: str = "features") -> list[FileResult]:
    """Features of in-memory clips given as (name, audio [C, N] or [N], sample_rate)."""
    return _run_parallel(_audio_worker, list(items), jobs, progress, desc)


def list_audio_files(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
