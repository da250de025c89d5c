"""Engine: a model family held in memory + SynthState -> audio, and audio -> clips on disk.

    engine = build_engine(load_config())
    rendered = engine.render(state, seeds=[0, 1, 2])    # Rendered: .audio np.float32 [3, 2, N], .latents, .scores
    path = engine.write(rendered.audio[0], state, "clips/")   # atomic WAV + JSON sidecar

Reproducible: the same state and seed give identical samples on the same device, and a seed
renders the same audio alone or in a batch (up to float rounding in batched matrix products).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from synth.backends import load_backend
from synth.clip_writer import write_clip
from synth.conditioning import Conditioning, EncodingCache, build_conditioning
from synth.config import SynthConfig
from synth.denoise import Guide, denoise, family_threads, sample
from synth.families.base import Family
from synth.inside_vectors import InsideSteering
from synth.parameters import NO_SAE
from synth.preset_sae import loaded_sae
from synth.state import SynthState

log = logging.getLogger(__name__)

TINY_SAE_FEATURES = 256


@dataclass(frozen=True)
class Rendered:
    """One render's result: what `Engine.render` checked, resolved and made, each stage done once."""
    state: SynthState                # what was rendered: checked, steps and cfg resolved
    seeds: list[int]
    seconds: float                   # the length rendered (a jam phrase's context included)
    window: str                      # clip | full
    audio: np.ndarray | None         # [B, 2, int(seconds * sample_rate)] float32; None: not synthesised
    latents: torch.Tensor            # [B, C, F] float32 on the CPU (the frames denoised)
    scores: list | None              # score families: each clip's decoded synth.score Score; else None
    extras: list[dict]               # per clip: the JSON keys the family adds to the sidecar (its score's summary)

    def midi(self, i: int) -> bytes | None:
        """Clip i's score as a Standard MIDI File (encoded on request: only where a .mid is written)."""
        if self.scores is None:
            return None
        from synth.score.midi import score_to_midi

        score = self.scores[i]
        return score_to_midi(score, end_beat=self.seconds / score.seconds_per_beat)


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
        self.dit_sae = None        # SAE on the DiT's own activations: /synth/inside/<id> sliders (synth.dit_sae)
        self.dit_sae_id: str | None = None
        self._lock = threading.RLock()
        if sae is not None:
            self.set_sae(sae, sae_id)

    @property
    def dit_blocks(self) -> int:
        """How many DiT blocks inside steering can act at."""
        return self.family.inside_hooks().blocks

    # ------------------------------------------------------------------ SAE
    def set_sae(self, sae, sae_id: str | None) -> None:
        """Use `sae` for feature steering; it must be trained on this backend's own text encoder."""
        if sae is not None:
            check_sae_encoder(sae, sae_id, self.family)
        self.sae = sae.to(self.family.device).eval() if sae is not None else None
        self.sae_id = sae_id if sae is not None else None
        self.sae_identity = loaded_sae(sae, sae_id or "the SAE") if sae is not None else None

    def set_dit_sae(self, sae, sae_id: str | None) -> None:
        """Use `sae` (trained by `analysis dit-sae` on this DiT) for /synth/inside/<id> sliders."""
        from synth.dit_sae import check_dit_sae

        if sae is not None:
            hooks = self.family.inside_hooks()
            check_dit_sae(sae, hooks.width, hooks.blocks)
        self.dit_sae = sae.eval() if sae is not None else None
        self.dit_sae_id = sae_id if sae is not None else None

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
        """`cond` with the state's inside steering: inside-mode contrasts and sliders (measured on first use;
        see synth.inside_vectors), and DiT SAE sliders in any mode."""
        if state.steering_mode != "inside" and not state.inside_features:
            return cond
        if delta is not None and state.steering_mode == "inside":
            raise ValueError("inside steering takes contrasts and feature sliders, not a raw text-space vector")
        return dataclasses.replace(cond, inside=self.inside.shift(state, self.sae, self.sae_id, self.dit_sae))

    # ------------------------------------------------------------------ rendering
    def render(self, state: SynthState, seeds: Sequence[int] | None = None, *, window: str | None = None,
               delta: torch.Tensor | None = None, guide: Guide | None = None, seconds: float | None = None,
               audio: bool = True, cancel: Callable[[], bool] | None = None) -> Rendered:
        """Render `seeds` (default: [state.seed]) of `state` in one batch -> `Rendered`.

        `window`: clip | full (default: the engine's); `delta` [D]: an extra steering vector in encoder
        space, applied like a contrast; `guide`: known content (jam's previous phrase, a variation's
        source; see synth.denoise.Guide); `seconds`: the length to render when it is not the state's
        (jam renders its context before the phrase); `audio=False`: the latents and the decoded scores
        alone (no audio is synthesised); `cancel`: asked before each step, True gives the render up
        (`synth.denoise.Cancelled`)."""
        # 1. check the inputs once, and resolve the backend's defaults
        seeds = [state.seed] if seeds is None else [int(s) for s in seeds]
        if not seeds:
            raise ValueError("render: no seeds")
        state = self.resolve(state).validate(d_sae=self.d_sae)
        seconds = state.seconds() if seconds is None else float(seconds)
        window = window or self.window
        with self._lock:
            # 2. the conditioning, and the family bound to it (the score family reads tempo and drums here)
            cond = self._inside(build_conditioning(state, self.cache.encode, self.sae, extra_delta=delta), state, delta)
            conds = [cond] * len(seeds)
            family = self.family.for_batch(conds)
            family.check_seconds(seconds)
            with family_threads(family), torch.inference_mode():
                # 3. denoise
                latents = sample(family, conds, seeds, seconds, state.steps, state.cfg, window=window, guide=guide,
                                 cancel=cancel)
                # 4. decode: audio, and what the family reads from the latents (the score model's scores)
                decoded = family.decode_all(latents, seconds, audio=audio)
                latents = latents.float().cpu()
        return Rendered(state, seeds, seconds, window, decoded.audio.numpy() if decoded.audio is not None else None,
                        latents, decoded.scores, decoded.extras)

    def play(self, score, seconds: float, start: float = 0.0) -> np.ndarray:
        """A score played by a score family as audio [2, N] (FluidSynth and its room): from `start` to
        `seconds` of it (`Family.play`)."""
        with self._lock, family_threads(self.family):
            return self.family.play(score, seconds, start)

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
                   c.inside.sites if c.inside is not None else None)
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
              subtype: str = "FLOAT", normalize: bool = False, extras: dict | None = None,
              midi: bytes | None = None, **extra) -> Path:
        """One clip [2, N] -> WAV + sidecar in out_dir (see synth.clip_writer.write_clip). The sidecar's
        state shows the steps and cfg actually used. `extras` (a `Rendered`'s, per clip) adds its JSON
        keys to the sidecar; `midi` (`Rendered.midi(i)`) is written as a `.mid` with the WAV's stem."""
        return write_clip(out_dir, audio, self.sample_rate, self.resolve(state),
                          self.meta(render_seconds, **(extras or {}), **extra), subtype=subtype, normalize=normalize,
                          midi=midi)

    def render_to_files(self, state: SynthState, out_dir, seeds: Sequence[int] | None = None,
                        window: str | None = None, subtype: str = "FLOAT", normalize: bool = False,
                        guide: Guide | None = None, **extra) -> list[Path]:
        """Render `seeds` in one batch and write one clip per seed. Each sidecar's render_seconds is the
        time from this call until the batch's audio was ready to write; `extra` goes into each sidecar."""
        t0 = time.perf_counter()
        if state.steering_mode == "inside" or state.inside_features:
            extra.setdefault("inside", self.inside.describe(self.resolve(state), self.sae, self.dit_sae, self.dit_sae_id))
        rendered = self.render(state, seeds, window=window, guide=guide)
        elapsed = round(time.perf_counter() - t0, 4)
        return [self.write(clip, rendered.state.replace(seed=seed), out_dir, render_seconds=elapsed, subtype=subtype,
                           normalize=normalize, extras=rendered.extras[i], midi=rendered.midi(i),
                           window=rendered.window, batch=len(rendered.seeds), **extra)
                for i, (seed, clip) in enumerate(zip(rendered.seeds, rendered.audio))]


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
    if config.dit_sae:
        from synth.sae import load_sae

        engine.set_dit_sae(load_sae(config.dit_sae, device="cpu"), str(Path(config.dit_sae).expanduser()))
    else:
        engine.set_dit_sae(*family.bundled_dit_sae())
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
