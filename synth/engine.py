"""Engine: a pipeline held in memory + SynthState -> audio, and audio -> clips on disk.

    engine = build_engine(load_config())
    audio = engine.render(state, seeds=[0, 1, 2])       # np.float32 [3, 2, N]
    path = engine.write(audio[0], state, "clips/")      # atomic WAV + JSON sidecar

Reproducible: the same state and seed give identical samples on the same device, and a seed
renders the same audio alone or in a batch (up to float rounding in batched matrix products).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from synth.backends import Backend, load_backend
from synth.clip_writer import write_clip
from synth.conditioning import Conditioning, EncodingCache, build_conditioning
from synth.config import TINY_DEFAULT_STEPS, SynthConfig
from synth.denoise import denoise, max_seconds
from synth.encoders import TextEncoder
from synth.state import SynthState

log = logging.getLogger(__name__)

TINY_SAE_FEATURES = 256


class Engine:
    def __init__(self, backend: Backend, kind: str = "stable-audio", window: str = "clip",
                 sae=None, sae_id: str | None = None, cache_size: int = 512):
        self.backend = backend
        self.pipe = backend.pipe
        self.kind = kind
        self.window = window
        self.sample_rate: int = backend.sample_rate
        self.model_id: str = backend.model_id
        self.device: str = str(backend.device)
        self.default_steps = TINY_DEFAULT_STEPS if kind == "tiny" else 100
        self.preview_steps = 12  # auto-render preview steps (0 = no previews); set by build_engine
        self.max_seconds = max_seconds(self.pipe)
        # With CPU offload the text encoder (T5-base, ~0.2 GB in fp16) simply stays on the GPU: its
        # outputs must live on the execution device, and the DiT and VAE are what offload saves.
        self.encoder = TextEncoder(self.pipe.text_encoder, self.pipe.tokenizer, name=self.model_id,
                                   max_length=int(self.pipe.tokenizer.model_max_length),
                                   device=backend.device, dtype=backend.dtype)
        self.cache = EncodingCache(self.encoder.encode, maxsize=cache_size)
        self.sae = None
        self.sae_id: str | None = None
        self._lock = threading.RLock()
        if sae is not None:
            self.set_sae(sae, sae_id)

    # ------------------------------------------------------------------ SAE
    def set_sae(self, sae, sae_id: str | None) -> None:
        """Use `sae` for feature steering; it must live in this text encoder's pooled space."""
        if sae is not None and sae.d_in != self.encoder.dim:
            raise ValueError(f"SAE {sae_id or ''} has d_in={sae.d_in}, but the {self.model_id} text encoder "
                             f"is {self.encoder.dim}-dim: train the SAE on this encoder's embeddings")
        self.sae = sae.to(self.backend.device).eval() if sae is not None else None
        self.sae_id = sae_id if sae is not None else None

    @property
    def d_sae(self) -> int | None:
        return self.sae.d_sae if self.sae is not None else None

    # ------------------------------------------------------------------ conditioning
    def conditioning(self, state: SynthState, delta: torch.Tensor | None = None) -> Conditioning:
        """The state's conditioning; `delta` [D] is an extra steering vector in encoder space,
        applied like a contrast (in the state's steering mode, times its gain)."""
        state.validate(d_sae=self.d_sae)
        if state.seconds() > self.max_seconds:
            raise ValueError(f"clip length {state.seconds():.2f} s exceeds the model's {self.max_seconds:.2f} s")
        return build_conditioning(state, self.cache.encode, self.sae, extra_delta=delta)

    # ------------------------------------------------------------------ rendering
    def render(self, state: SynthState, seeds: Sequence[int] | None = None, window: str | None = None,
               delta: torch.Tensor | None = None) -> np.ndarray:
        """Audio [B, 2, N] float32 for `seeds` (default: [state.seed]), in one batch."""
        seeds = [state.seed] if seeds is None else [int(s) for s in seeds]
        if not seeds:
            raise ValueError("render: no seeds")
        with self._lock:
            cond = self.conditioning(state, delta)
            audio = denoise(self.pipe, [cond] * len(seeds), seeds, state.seconds(), state.steps, state.cfg,
                            window=window or self.window, threads=self.threads)
        return audio.numpy()

    def render_states(self, states: Sequence[SynthState], window: str | None = None,
                      deltas: Sequence[torch.Tensor | None] | None = None) -> np.ndarray:
        """Audio [B, 2, N] for B states, one seed each (state.seed). States that share length, steps,
        cfg and branch structure are denoised in one batch; all must have the same length."""
        if not states:
            raise ValueError("render_states: no states")
        deltas = list(deltas) if deltas is not None else [None] * len(states)
        if len(deltas) != len(states):
            raise ValueError(f"render_states: {len(deltas)} deltas for {len(states)} states")
        lengths = {round(s.seconds(), 6) for s in states}
        if len(lengths) > 1:
            raise ValueError(f"render_states: states differ in length ({sorted(lengths)} s); render them separately")
        with self._lock:
            conds = [self.conditioning(s, d) for s, d in zip(states, deltas)]
        groups: dict[tuple, list[int]] = {}
        for i, (s, c) in enumerate(zip(states, conds)):
            key = (s.steps, float(s.cfg), c.branches, c.steered is not None, c.gain, c.weights)
            groups.setdefault(key, []).append(i)
        out: list[np.ndarray | None] = [None] * len(states)
        with self._lock:
            for (steps, cfg, *_), idx in groups.items():
                audio = denoise(self.pipe, [conds[i] for i in idx], [states[i].seed for i in idx],
                                states[idx[0]].seconds(), steps, cfg, window=window or self.window,
                                threads=self.threads)
                for j, i in enumerate(idx):
                    out[i] = audio[j].numpy()
        return np.stack(out)

    @property
    def threads(self) -> int | None:
        # The tiny model's matrices are far too small for intra-op threads: on a busy CPU, thread
        # hand-offs cost 100x the arithmetic. denoise() restores the caller's setting afterwards.
        return 1 if self.kind == "tiny" and self.backend.device.type == "cpu" else None

    def release_memory(self) -> None:
        """Free cached allocator blocks, e.g. after CUDA ran out of memory, so the next render can fit."""
        import gc

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ output
    def meta(self, render_seconds: float | None = None, **extra) -> dict:
        return {"model_id": self.model_id, "backend": self.kind, "sae_id": self.sae_id, "device": self.device,
                "render_seconds": render_seconds, **extra}

    def write(self, audio: np.ndarray, state: SynthState, out_dir, render_seconds: float | None = None,
              subtype: str = "FLOAT", normalize: bool = False, **extra) -> Path:
        """One clip [2, N] -> WAV + sidecar in out_dir (see synth.clip_writer.write_clip)."""
        return write_clip(out_dir, audio, self.sample_rate, state, self.meta(render_seconds, **extra),
                          subtype=subtype, normalize=normalize)

    def render_to_files(self, state: SynthState, out_dir, seeds: Sequence[int] | None = None,
                        window: str | None = None, subtype: str = "FLOAT", normalize: bool = False) -> list[Path]:
        """Render `seeds` in one batch and write one clip per seed. Each sidecar's render_seconds is the
        time from this call until the batch's audio was ready to write."""
        t0 = time.perf_counter()
        seeds = [state.seed] if seeds is None else [int(s) for s in seeds]
        audio = self.render(state, seeds, window)
        elapsed = round(time.perf_counter() - t0, 4)
        return [self.write(clip, state.replace(seed=seed), out_dir, render_seconds=elapsed, subtype=subtype,
                           normalize=normalize, window=window or self.window, batch=len(seeds))
                for seed, clip in zip(seeds, audio)]


def build_engine(config: SynthConfig, sae=None, sae_id: str | None = None) -> Engine:
    """Load the configured backend and SAE: `sae` if given, else the one at `config.sae`, else (tiny
    backend only) an untrained random SAE over the tiny encoder, so feature sliders work offline."""
    backend = load_backend(config.backend, config.model_id, config.device, config.dtype, config.cpu_offload)
    if sae is None and config.sae:
        from synth.sae import load_sae

        sae = load_sae(config.sae, device=str(backend.device))
        sae_id = sae_id or str(Path(config.sae).expanduser())
    elif sae is None and config.backend == "tiny":
        sae, sae_id = tiny_random_sae(int(backend.pipe.text_encoder.config.d_model))
        log.info("tiny backend: using %s (its features mean nothing)", sae_id)
    engine = Engine(backend, kind=config.backend, window=config.window, sae=sae, sae_id=sae_id)
    if config.preview_steps is not None:
        engine.preview_steps = int(config.preview_steps)
    return engine


def tiny_random_sae(dim: int, d_sae: int = TINY_SAE_FEATURES):
    """The untrained SAE the tiny backend uses when none is given (feature ids 0..d_sae-1)."""
    from synth.sae import random_sae

    return random_sae(dim, d_sae, k=8, seed=0), f"random-sae-{dim}x{d_sae} (untrained)"
