"""Render one queued job through the engine and write one clip per seed; shared by serve and replay.

Final clips go into the DAW folder. Previews (auto-render's fast first pass) go into its hidden
`.previews` subfolder, which keeps only the newest few: a session of slider moves neither fills
the DAW's folder nor the disk, and a patch can still load each preview by the path it is sent.

A failed render never leaves a file behind: out of memory frees the engine's caches first, audio
with NaN or infinite samples is never written, and a full disk removes the temp file.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from bridge.failures import RenderFailed, is_out_of_memory, non_finite, os_error_advice, out_of_memory
from bridge.render_queue import PREVIEW, RenderJob
from synth.init_source import InitError

if TYPE_CHECKING:
    from synth.config import SynthConfig
    from synth.engine import Engine

log = logging.getLogger(__name__)

PREVIEW_DIR = ".previews"
PREVIEWS_KEPT = 16


class ClipRenderer:
    def __init__(self, engine: Engine, config: SynthConfig, out_dir,
                 on_clip: Callable[[Path, int, float, str], None] | None = None):
        self.engine: Engine = engine
        self.config: SynthConfig = config
        self.out_dir: Path = Path(out_dir).expanduser()
        self.on_clip: Callable[[Path, int, float, str], None] | None = on_clip  # on_clip(path, seed, seconds, kind)
        self.clips: int = 0
        self.last_render_seconds: float | None = None

    @property
    def preview_dir(self) -> Path:
        return self.out_dir / PREVIEW_DIR

    def __call__(self, job: RenderJob) -> list[Path]:
        started = time.perf_counter()
        try:
            guide = variation_guide(self.engine, job)
            rendered = self.engine.render(job.state, seeds=job.seeds, guide=guide)
        except InitError as exc:  # an unreadable or wrong kind of file: say so in one line
            raise RenderFailed(str(exc)) from exc
        except Exception as exc:
            if is_out_of_memory(exc):
                self.engine.release_memory()  # so the next, smaller render can fit
                raise out_of_memory(exc) from exc
            raise
        render_seconds = round(time.perf_counter() - started, 4)
        self.last_render_seconds = render_seconds
        folder = self.preview_dir if job.kind == PREVIEW else self.out_dir
        paths, broken = [], []
        for i, (clip, seed, extra) in enumerate(zip(rendered.audio, job.seeds, rendered.extras)):
            if not np.isfinite(clip).all():
                broken.append(seed)
                continue
            state = job.state if job.state.seed == seed else job.state.replace(seed=seed)
            try:
                path = self.engine.write(
                    clip, state, folder, render_seconds=render_seconds,
                    subtype=self.config.wav_subtype, normalize=self.config.normalize,
                    batch=len(job.seeds), source=job.reason, kind=job.kind, extras=extra, midi=rendered.midi(i),
                    **({"variation": {"init": job.init[0], "strength": job.init[1]}} if job.init else {}),
                )
            except OSError as exc:
                raise RenderFailed(os_error_advice(exc, f"write the clip into {folder}")) from exc
            seconds = clip.shape[-1] / float(self.engine.sample_rate)
            self.clips += 1
            paths.append(path)
            print(f"rendered {path} seed {seed} {seconds:.3f}s {job.kind}", flush=True)
            if self.on_clip is not None:
                self.on_clip(path, seed, seconds, job.kind)
        if job.kind == PREVIEW:
            prune_previews(folder, PREVIEWS_KEPT)
        if broken:
            raise non_finite(broken)
        return paths


def variation_guide(engine, job: RenderJob):
    """The Guide of a /synth/variation job (its clip encoded into the latent), or None."""
    if job.init is None:
        return None
    from synth.denoise import Guide

    path, strength = job.init
    return Guide(engine.init_latent(path, job.state.seconds()), strength=strength)


def prune_previews(folder: Path, keep: int) -> None:
    """Delete all but the newest `keep` preview clips (and their sidecars)."""
    try:
        wavs = sorted(folder.glob("*.wav"), key=lambda p: p.stat().st_mtime_ns)
    except OSError:
        return
    for wav in wavs[:-keep] if keep > 0 else wavs:
        for path in (wav, wav.with_suffix(".json"), wav.with_suffix(".mid")):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:  # e.g. open in a player on Windows; try again next time
                log.debug("could not remove old preview %s: %s", path, exc)
