"""Engine: a model family held in memory + SynthState -> audio, and audio -> clips on disk.

    engine = build_engine(load_config())
    audio = engine.render(state, seeds=[0, 1, 2])       # np.float32 [3, 2, N]
    path = engine.write(audio[0], state, "clips/")      # atomic WAV + JSON sidecar

Reproducible: the same state and seed give identical samples on the same device, and a seed
renders the same audio alone or in a batch (up to float rounding in batched matrix products).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from synth.backends import load_backend
from synth.clip_writer import write_clip, write_midi_beside
from synth.conditioning import Conditioning, EncodingCache, build_conditioning
from synth.config import SynthConfig
from synth.denoise import Guide, denoise
from synth.families.base import Family
from synth.inside_vectors import InsideSteering
from synth.parameters import NO_SAE
from synth.preset_sae import loaded_sae
from synth.state import SynthState

log = logging.getLogger(__name__)

TINY_SAE_FEATURES = 256


class SAEMismatch(ValueError):
    """An SAE trained on another text encoder than the backend's; the message names both."""


class Engine:
    def __init__(self, family: Family, window: str = "clip", sae=None, sae_id: str | None = None,
                 cache_size: int = 512):
        self.family = family
        self.kind: str = family.backend
        self.window = window
        self.sample_rate: int = family.sample_rate
        self.model_id: str = family.model_id
        self.device: str = str(family.device)
        self.defaults = family.defaults
        self.preview_steps: int = family.defaults.preview_steps  # auto-render previews; 0 = off
        self.max_seconds: float = family.max_seconds
        self.encoder = family.encoder
        self.cache = EncodingCache(self.encoder.encode, maxsize=cache_size)
        self.sae = None
        self.sae_id: str | None = None
        self.sae_identity: dict | None = None  # what presets' feature ids are checked against (synth.preset_sae)
        self.inside = InsideSteering(family, self.cache.encode)  # steering_mode "inside": measured directions
        self._lock = threading.RLock()
        if sae is not None:
            self.set_sae(sae, sae_id)

    @property
    def dit_blocks(self) -> int:
        """How many DiT blocks inside steering can act at."""
        return self.family.inside_hooks().blocks

    @property
    def default_steps(self) -> int:
        return self.defaults.steps

    # ------------------------------------------------------------------ SAE
    def set_sae(self, sae, sae_id: str | None) -> None:
        """Use `sae` for feature steering; it must be trained on this backend's own text encoder."""
        if sae is not None:
            check_sae_encoder(sae, sae_id, self.family)
        self.sae = sae.to(self.family.device).eval() if sae is not None else None
        self.sae_id = sae_id if sae is not None else None
        self.sae_identity = loaded_sae(sae, sae_id or "the SAE") if sae is not None else None

    @property
    def d_sae(self) -> int | None:
        return self.sae.d_sae if self.sae is not None else None

    def feature_info(self, fid: int) -> list[str]:
        """The prompts SAE feature `fid` fires on most (correlational labels from `analysis sliders`)."""
        if self.sae is None:
            raise ValueError(NO_SAE)
        if not 0 <= fid < self.sae.d_sae:
            raise ValueError(f"unknown feature id {fid}; the SAE has {self.sae.d_sae} features (0..{self.sae.d_sae - 1})")
        if not self.sae.labels:
            raise ValueError(f"SAE {self.sae_id} has no labels.json (make one with `latent-synth analysis sliders`)")
        return list(self.sae.labels.get(fid, []))

    def feature_effect(self, fid: int) -> str:
        """What feature `fid` measurably does (the sliders' effect screen), or why that is unknown."""
        self.feature_info(fid)   # the same checks and errors
        return self.sae.effects.get(fid) or "not measured (not screened by `latent-synth analysis sliders --backend`)"

    # ------------------------------------------------------------------ conditioning
    def resolve(self, state: SynthState) -> SynthState:
        """The state with unset steps / cfg filled in with this backend's defaults (what is rendered)."""
        return state.with_defaults(self.defaults.steps, self.defaults.cfg)

    def conditioning(self, state: SynthState, delta: torch.Tensor | None = None) -> Conditioning:
        """The state's conditioning; `delta` [D] is an extra steering vector in encoder space,
        applied like a contrast (in the state's steering mode, times its gain)."""
        state.validate(d_sae=self.d_sae)
        self.family.check_seconds(state.seconds())
        return self._inside(build_conditioning(state, self.cache.encode, self.sae, extra_delta=delta), state, delta)

    def _inside(self, cond: Conditioning, state: SynthState, delta: torch.Tensor | None = None) -> Conditioning:
        """`cond` with the state's inside-mode steering (measured on first use; see synth.inside_vectors)."""
        if state.steering_mode != "inside":
            return cond
        if delta is not None:
            raise ValueError("inside steering takes contrasts and feature sliders, not a raw text-space vector")
        return dataclasses.replace(cond, inside=self.inside.shift(state, self.sae, self.sae_id))

    # ------------------------------------------------------------------ rendering
    def render(self, state: SynthState, seeds: Sequence[int] | None = None, window: str | None = None,
               delta: torch.Tensor | None = None) -> np.ndarray:
        """Audio [B, 2, N] float32 for `seeds` (default: [state.seed]), in one batch."""
        return self.render_detailed(state, seeds, window, delta)[0]

    def render_detailed(self, state: SynthState, seeds: Sequence[int] | None = None, window: str | None = None,
                        delta: torch.Tensor | None = None, guide: Guide | None = None) -> tuple[np.ndarray, list[dict]]:
        """(audio [B, 2, N], one dict of extras per clip): what `write(..., extras=)` puts beside each WAV
        (the score model's `.mid` and sidecar `score`; empty for the other families). `guide`: known
        content (a variation's source, see synth.denoise.Guide)."""
        seeds = [state.seed] if seeds is None else [int(s) for s in seeds]
        if not seeds:
            raise ValueError("render: no seeds")
        state = self.resolve(state)
        with self._lock:
            cond = self.conditioning(state, delta)
            audio, extras = denoise(self.family, [cond] * len(seeds), seeds, state.seconds(), state.steps,
                                    state.cfg, window=window or self.window, output="detailed", guide=guide)
        return audio.numpy(), extras

    def score_summaries(self, state: SynthState, seeds: Sequence[int], delta: torch.Tensor | None = None) -> list[dict]:
        """Each seed's decoded score summary (the sidecar's `score`) without rendering audio; only for
        families that write a score (ValueError otherwise)."""
        if not self.family.writes_score:
            raise ValueError(f"the {self.family.backend} backend writes no score")
        state = self.resolve(state)
        with self._lock:
            conds = [self.conditioning(state, delta)] * len(seeds)
            family = self.family.for_batch(conds)  # the score family binds each clip's tempo here
            latents = denoise(family, conds, [int(s) for s in seeds], state.seconds(), state.steps,
                              state.cfg, window="clip", output="latent")
        return family.summaries(latents, state.seconds())

    def render_guided(self, state: SynthState, guide: Guide | None, seconds: float) -> tuple[np.ndarray, dict, torch.Tensor]:
        """One clip of `seconds` (state.seed, the clip window) with known content: (audio [2, N], extras,
        latents [C, F]). Jam mode continues a phrase with it: the latents are the next phrase's context."""
        state = self.resolve(state)
        with self._lock:
            cond = self._inside(build_conditioning(state.validate(d_sae=self.d_sae), self.cache.encode, self.sae), state)
            self.family.check_seconds(seconds)
            audio, extras, latents = denoise(self.family, [cond], [state.seed], seconds, state.steps, state.cfg,
                                             window="clip", output="full", guide=guide)
        return audio[0].numpy(), extras[0], latents[0]

    def init_latent(self, path, seconds: float) -> torch.Tensor:
        """A user's clip (a WAV, or a .mid on score families) as this family's clean latent [1, C, F]."""
        from synth.init_source import init_latent

        return init_latent(self.family, path, seconds)

    def render_states(self, states: Sequence[SynthState], window: str | None = None,
                      deltas: Sequence[torch.Tensor | None] | None = None) -> np.ndarray:
        """Audio [B, 2, N] for B states, one seed each (state.seed). States that share length, steps,
        cfg and branch structure are denoised in one batch; all must have the same length."""
        if not states:
            raise ValueError("render_states: no states")
        deltas = list(deltas) if deltas is not None else [None] * len(states)
        if len(deltas) != len(states):
            raise ValueError(f"render_states: {len(deltas)} deltas for {len(states)} states")
        states = [self.resolve(s) for s in states]
        lengths = {round(s.seconds(), 6) for s in states}
        if len(lengths) > 1:
            raise ValueError(f"render_states: states differ in length ({sorted(lengths)} s); render them separately")
        with self._lock:
            conds = [self.conditioning(s, d) for s, d in zip(states, deltas)]
        groups: dict[tuple, list[int]] = {}
        for i, (s, c) in enumerate(zip(states, conds)):
            key = (s.steps, float(s.cfg), c.branches, c.steered is not None, c.gain, c.weights,
                   c.inside.site if c.inside is not None else None)
            groups.setdefault(key, []).append(i)
        out: list[np.ndarray | None] = [None] * len(states)
        with self._lock:
            for (steps, cfg, *_), idx in groups.items():
                audio = denoise(self.family, [conds[i] for i in idx], [states[i].seed for i in idx],
                                states[idx[0]].seconds(), steps, cfg, window=window or self.window)
                for j, i in enumerate(idx):
                    out[i] = audio[j].numpy()
        return np.stack(out)

    def release_memory(self) -> None:
        """Free cached allocator blocks, e.g. after CUDA ran out of memory, so the next render can fit."""
        import gc

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ output
    def meta(self, render_seconds: float | None = None, **extra) -> dict:
        return {"model_id": self.model_id, "backend": self.kind, "family": self.family.family,
                "encoder": self.family.encoder_id, "sae_id": self.sae_id, "device": self.device,
                "render_seconds": render_seconds, **extra}

    def write(self, audio: np.ndarray, state: SynthState, out_dir, render_seconds: float | None = None,
              subtype: str = "FLOAT", normalize: bool = False, extras: dict | None = None, **extra) -> Path:
        """One clip [2, N] -> WAV + sidecar in out_dir (see synth.clip_writer.write_clip). The sidecar's
        state shows the steps and cfg actually used. `extras` (from `render_detailed`) adds its JSON keys
        to the sidecar and writes its `midi` bytes as a `.mid` with the WAV's stem."""
        extras = dict(extras or {})
        midi = extras.pop("midi", None)
        path = write_clip(out_dir, audio, self.sample_rate, self.resolve(state),
                          self.meta(render_seconds, **extras, **extra), subtype=subtype, normalize=normalize)
        write_midi_beside(path, midi)
        return path

    def render_to_files(self, state: SynthState, out_dir, seeds: Sequence[int] | None = None,
                        window: str | None = None, subtype: str = "FLOAT", normalize: bool = False,
                        guide: Guide | None = None, **extra) -> list[Path]:
        """Render `seeds` in one batch and write one clip per seed. Each sidecar's render_seconds is the
        time from this call until the batch's audio was ready to write; `extra` goes into each sidecar."""
        t0 = time.perf_counter()
        seeds = [state.seed] if seeds is None else [int(s) for s in seeds]
        if state.steering_mode == "inside":
            extra.setdefault("inside", self.inside.describe(self.resolve(state)))
        audio, extras = self.render_detailed(state, seeds, window, guide=guide)
        elapsed = round(time.perf_counter() - t0, 4)
        return [self.write(clip, state.replace(seed=seed), out_dir, render_seconds=elapsed, subtype=subtype,
                           normalize=normalize, extras=ex, window=window or self.window, batch=len(seeds), **extra)
                for seed, clip, ex in zip(seeds, audio, extras)]


def check_sae_encoder(sae, sae_id: str | None, family: Family) -> None:
    """Refuse an SAE trained on another text encoder, even when the widths match (T5-base and T5Gemma
    are both 768-dim): its features would point in meaningless directions."""
    name = sae_id or "the SAE"
    trained_on = (sae.metadata or {}).get("encoder")
    fix = f"train one with `latent-synth analysis sliders --backend {family.backend}`"
    if trained_on is not None and trained_on != family.encoder_id:
        raise SAEMismatch(f"SAE {name} was trained on {trained_on} encodings, but the {family.backend} backend's "
                          f"text encoder is {family.encoder_id}: {fix}")
    if sae.d_in != family.encoder.dim:
        raise SAEMismatch(f"SAE {name} has d_in={sae.d_in}, but the {family.backend} backend's text encoder "
                          f"{family.encoder_id} is {family.encoder.dim}-dim: {fix}")
    if trained_on is None:
        log.warning("SAE %s does not record its text encoder; assuming %s", name, family.encoder_id)


def build_engine(config: SynthConfig, sae=None, sae_id: str | None = None) -> Engine:
    """Load the configured backend and SAE: `sae` if given, else the one at `config.sae`, else the
    backend's own (the tiny backends: an untrained random SAE, so feature sliders work offline; the
    score backend: the SAE that ships with it)."""
    # Dynamic int8 works on float32 Linear layers: asking for int8 makes `auto` mean float32 (a CPU with
    # bfloat16 units would otherwise pick bfloat16, and the two do not combine).
    dtype = "float32" if config.quantize and config.dtype in (None, "auto") else config.dtype
    family = load_backend(config.backend, config.model_id, config.device, dtype, config.cpu_offload,
                          size=config.size, soundfont=config.soundfont)
    if sae is None and config.sae:
        from synth.sae import load_sae

        sae = load_sae(config.sae, device=str(family.device))
        sae_id = sae_id or str(Path(config.sae).expanduser())
    elif sae is None:
        sae, sae_id = default_sae(family)
    if config.sde_noise != "auto" and hasattr(family, "sde_noise"):
        family.sde_noise = config.sde_noise
    if config.quantize:
        family.quantize(config.quantize)
    if config.compile:
        from synth.compile_cache import use_persistent_cache

        use_persistent_cache()  # a second start loads the compiled graphs from disk
        family.compile(mode="reduce-overhead" if family.device.type == "cuda" else None)
    engine = Engine(family, window=config.window, sae=sae, sae_id=sae_id)
    if config.preview_steps is not None:
        engine.preview_steps = int(config.preview_steps)
    return engine


def default_sae(family: Family):
    """(sae, sae_id) the backend brings along, or (None, None)."""
    if family.spec.bundled_sae:
        return family.bundled_sae()
    if family.spec.random_sae:
        log.info("%s backend: using an untrained random SAE (its features mean nothing)", family.backend)
        return tiny_random_sae(family.encoder.dim, encoder_id=family.encoder_id)
    return None, None


def tiny_random_sae(dim: int, d_sae: int = TINY_SAE_FEATURES, encoder_id: str | None = None):
    """The untrained SAE the tiny backends use when none is given (feature ids 0..d_sae-1)."""
    from synth.sae import random_sae

    sae = random_sae(dim, d_sae, k=8, seed=0)
    sae.metadata["encoder"] = encoder_id
    return sae, f"random-sae-{dim}x{d_sae} (untrained)"
