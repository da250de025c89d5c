"""The 11 acoustic features of seed 000, measured with librosa at 44.1 kHz, in parallel across cores.

Every clip is analysed at `ANALYSIS_SR` = 44,100 Hz, the rate every backend renders at, so the top
octave (11-22 kHz) counts: at 22.05 kHz, equal-RMS noise high-passed at 4 kHz read 40% quieter
than noise low-passed at 500 Hz. Other rates are resampled to it. Frames keep the durations they
had at 22.05 kHz (a 4096-sample window = 92.9 ms, hop 1024 = 23.2 ms), so the frame rate that
librosa's tempo and onset settings are expressed in (sr / hop = 43.07 frames/s) is unchanged.

Onset density is the one feature that differs from a plain librosa call. librosa's default
`onset_detect` rescales the onset envelope to [0, 1] per file and then picks peaks 0.07 above
the local mean, so the ripple of a steady tone or steady noise becomes "onsets". Here the
envelope stays un-normalised: librosa's onset strength is a mean over mel bands of positive
log-power (dB) rises, i.e. already a level ratio, so a fixed threshold (`ONSET_DELTA_DB`) is
relative to the signal's own level without any per-file rescaling. Peaks must also be at
least `ONSET_MIN_GAP_S` apart and lie in frames within `ONSET_GATE_DB` of the file's loudest
frame (so dither in a silent tail never counts). The envelope's 128 mel bands stop at
`ONSET_FMAX` = 11,025 Hz, exactly the bands it had at 22.05 kHz: bands above it hold little
energy in most audio, and averaging in ~20 near-silent bands would quietly raise the 3 dB
threshold. Tempo is read from the same envelope.
"""
from __future__ import annotations

import concurrent.futures
import functools
import os
import sys
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

# librosa's numba kernels, compiled fresh for this host's CPU, segfault on AVX512-BF16 CPUs (measured on a
# 2-core AMD EPYC: peak_pick in a new venv); code for a generic x86-64 CPU is safe everywhere and these
# kernels are a small part of the work. Set before numba is imported; a user's own setting wins.
os.environ.setdefault("NUMBA_CPU_NAME", "generic")

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

ANALYSIS_SR = 44100          # every file is resampled to this rate so that Hz features compare
N_FFT = 4096                 # 92.9 ms, the 2048 samples it was at 22.05 kHz
HOP = 1024                   # 23.2 ms
ONSET_FMAX = 11025.0         # the onset/tempo envelope's mel bands: 0..11,025 Hz, as at 22.05 kHz
ONSET_MELS = 128
ONSET_DELTA_DB = 3.0         # mean positive dB rise across mel bands, above the local average
ONSET_MIN_GAP_S = 0.05
ONSET_GATE_DB = 50.0
SPECTRAL_GATE_DB = 80.0      # spectral-shape features skip frames this far below the loudest (librosa's top_db)
SILENCE_PEAK = 1e-5          # peak |sample| below this counts as silent
MIN_SECONDS = 0.25
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
# Bump when a definition above changes: cached features (analysis.steering.feature_cache) carry it in their key.
FEATURES_VERSION = 2


class AudioFileError(ValueError):
    """A file that cannot be analysed (unreadable, silent, too short, not finite)."""


@dataclass(frozen=True)
class FileResult:
    path: str
    features: dict[str, float] | None   # None when skipped
    error: str | None = None


@functools.lru_cache(maxsize=4)
def _onset_mel_basis(sr: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=ONSET_MELS, fmax=ONSET_FMAX)


def onset_envelope(mag: np.ndarray, peak: float, sr: int = ANALYSIS_SR) -> np.ndarray:
    """librosa's mel onset strength of the magnitude spectrogram `mag` [bins, frames], taken as if
    the signal were scaled to peak 1 (keeps librosa's amin/top_db clamps in the same place at
    every level). Equal to `onset_strength(y=y / peak, n_fft=N_FFT, fmax=ONSET_FMAX)`, without a
    second STFT."""
    import librosa

    mel_db = librosa.power_to_db(_onset_mel_basis(sr) @ (mag / peak) ** 2)
    return librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=HOP, n_fft=N_FFT)


def count_onsets(env: np.ndarray, rms: np.ndarray, sr: int = ANALYSIS_SR) -> int:
    """Peaks of the un-normalised envelope, ONSET_MIN_GAP_S apart, within ONSET_GATE_DB of the loudest frame."""
    import librosa

    wait = max(1, int(round(ONSET_MIN_GAP_S * sr / HOP)))
    frames = librosa.onset.onset_detect(
        onset_envelope=env, sr=sr, hop_length=HOP, normalize=False, delta=ONSET_DELTA_DB, wait=wait, units="frames"
    )
    if len(frames):
        rms_db = 20 * np.log10(np.maximum(rms, 1e-12) / max(rms.max(), 1e-12))
        # the frame an onset is found in can still be mostly silence; look just after it too
        after = np.array([rms_db[f: f + 3].max() for f in np.minimum(frames, len(rms_db) - 1)])
        frames = frames[after > -ONSET_GATE_DB]
    return len(frames)


def onset_density(y: np.ndarray, sr: int) -> float:
    """Onsets per second, counted on the un-normalised onset-strength envelope (at ANALYSIS_SR)."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak <= 0:
        return 0.0
    if sr != ANALYSIS_SR:
        y = librosa.resample(y.astype(np.float64), orig_sr=sr, target_sr=ANALYSIS_SR, res_type="soxr_hq")
        y = y.astype(np.float32)
        peak = float(np.max(np.abs(y)))
    mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    rms = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)[0]
    return float(count_onsets(onset_envelope(mag, peak), rms) / (len(y) / ANALYSIS_SR))


def spectral_flux(mag: np.ndarray) -> np.ndarray:
    """Per-frame L2 norm of the positive magnitude change between consecutive frames."""
    diff = np.diff(mag, axis=1)
    return np.sqrt(np.sum(np.maximum(diff, 0.0) ** 2, axis=0)) / mag.shape[0]


def sounding_frames(mag: np.ndarray) -> np.ndarray:
    """Boolean mask of the frames within SPECTRAL_GATE_DB of the loudest frame (by total power)."""
    energy = np.sum(np.square(mag, dtype=np.float64), axis=0)
    return energy >= energy.max() * 10 ** (-SPECTRAL_GATE_DB / 10)


def features_from_signal(y: np.ndarray, sr: int = ANALYSIS_SR) -> dict[str, float]:
    """The 11 features of a mono float signal already at ANALYSIS_SR."""
    import librosa

    if sr != ANALYSIS_SR:
        raise ValueError(f"features_from_signal: signal at {sr} Hz; resample to {ANALYSIS_SR} (prepare_signal)")
    y = np.asarray(y, dtype=np.float32)
    peak = float(np.max(np.abs(y)))
    mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    # Spectral shape is undefined in silence: the centroid of a silent gap is whatever rounding noise
    # (or resampling residue, ~120 dB down) happens to be there, so those frames are left out.
    active = sounding_frames(mag)
    shape = mag[:, active]
    centroid = librosa.feature.spectral_centroid(S=shape, sr=sr, n_fft=N_FFT, hop_length=HOP)
    bandwidth = librosa.feature.spectral_bandwidth(S=shape, sr=sr, n_fft=N_FFT, hop_length=HOP, centroid=centroid)[0]
    centroid = centroid[0]
    # power relative to the clip's peak, so librosa's amin floor sits at the same level for loud and quiet clips
    flatness = librosa.feature.spectral_flatness(S=(shape / peak) ** 2, power=1.0)[0]
    rms = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0][active]
    env = onset_envelope(mag, peak) if peak > 0 else np.zeros(mag.shape[1], dtype=np.float32)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=HOP))[0])
    flux = spectral_flux(mag)
    if flux.size == 0:
        flux = np.zeros(1)
    values = {
        "onset_density": float(count_onsets(env, rms) / (len(y) / sr)) if peak > 0 else 0.0,
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


def measure_clip(name: str, audio: np.ndarray, sr: int) -> FileResult:
    """One in-memory clip's features, or its error (silent, too short, not finite) as a FileResult."""
    try:
        return FileResult(name, features_from_audio(audio, sr, name))
    except AudioFileError as exc:
        return FileResult(name, None, str(exc))


def _audio_worker(item: tuple[str, np.ndarray, int]) -> FileResult:
    return measure_clip(*item)


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def process_pool_context():
    """fork is fastest, but a forked child of a process that has initialised CUDA is unsafe."""
    import multiprocessing
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return multiprocessing.get_context("spawn")
    return None


@functools.cache
def warm_kernels() -> None:
    """Compile librosa's numba kernels in this process, once, before a pool starts. On a cold numba cache
    every worker otherwise compiles them and writes the same cache files at the same moment, and a worker
    could die in it (BrokenProcessPool). Forked workers inherit the compiled code; others read the cache
    written here."""
    t = np.arange(ANALYSIS_SR, dtype=np.float64) / ANALYSIS_SR
    features_from_signal(0.5 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0))


def worker_died(names: Sequence[str]) -> list[FileResult]:
    return [FileResult(n, None, f"{n}: skipped, the feature worker process died while measuring it") for n in names]


class FeaturePool:
    """Worker processes for feature extraction, started after `warm_kernels`. A task whose worker died (a crash
    in native code) is redone alone in a fresh process; if that one dies too, the task's result is `if_dead`,
    which names its files, and the run carries on with the rest."""

    def __init__(self, jobs: int):
        warm_kernels()
        self.jobs = jobs
        self._pool = self._start(jobs)
        self.deaths = 0

    @staticmethod
    def _start(jobs: int) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=process_pool_context())

    def submit(self, fn, *args) -> concurrent.futures.Future:
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:   # a worker died earlier: later work goes to a fresh pool
            self._pool.shutdown(wait=False)
            self._pool = self._start(self.jobs)
            return self._pool.submit(fn, *args)

    def outcome(self, future: concurrent.futures.Future, fn, args: tuple, if_dead):
        try:
            return future.result()
        except BrokenProcessPool:
            self.deaths += 1
            if self.deaths == 1:
                print("a feature worker process died; its unfinished work is redone one task per process",
                      file=sys.stderr)
            with self._start(1) as alone:
                try:
                    return alone.submit(fn, *args).result()
                except BrokenProcessPool:
                    return if_dead

    def close(self) -> None:
        self._pool.shutdown()

    def __enter__(self) -> "FeaturePool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _run_parallel(worker, items: Sequence, names: Sequence[str], jobs: int | None, progress: bool,
                  desc: str) -> list[FileResult]:
    from tqdm import tqdm

    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    if jobs == 1 or len(items) < 2:
        return [worker(item) for item in tqdm(items, desc=desc, disable=not progress, unit="file")]
    with FeaturePool(min(jobs, len(items))) as pool:
        futures = [pool.submit(worker, item) for item in items]
        return [pool.outcome(fut, worker, (item,), worker_died([name])[0])
                for fut, item, name in tqdm(zip(futures, items, names), total=len(items), desc=desc,
                                            disable=not progress, unit="file")]


def extract_files(paths: Iterable[str | os.PathLike], jobs: int | None = None, progress: bool = False,
                  desc: str = "features") -> list[FileResult]:
    """Features of every file, in input order; files that fail carry `.error` instead."""
    paths = [str(p) for p in paths]
    return _run_parallel(_file_worker, paths, paths, jobs, progress, desc)


def extract_arrays(items: Sequence[tuple[str, np.ndarray, int]], jobs: int | None = None, progress: bool = False,
                   desc: str = "features") -> list[FileResult]:
    """Features of in-memory clips given as (name, audio [C, N] or [N], sample_rate)."""
    items = list(items)
    return _run_parallel(_audio_worker, items, [name for name, _, _ in items], jobs, progress, desc)


def list_audio_files(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
