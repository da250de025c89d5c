"""What a model family must provide to the one denoising loop in `synth/denoise.py`.

A family is one loaded model: its text encoder, how one prompt branch becomes model inputs, its
unconditional branch, its scheduler and initial noise, its latent geometry and its decoder. The loop
and `synth/conditioning.py` (mixing, steering, guidance) never ask which family they drive: both work
on text-encoder states and on model predictions that are affine in the clean sample (v-prediction
and rectified-flow velocity alike), so composable guidance applies unchanged.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from synth.encoders import TextEncoder
from synth.families.specs import SPECS, BackendSpec, Defaults
from synth.inside import InsideHooks, install

Inputs = dict  # name -> tensor with the batch first; one branch's model inputs


@dataclass(frozen=True)
class Decoded:
    """What a family reads from final latents: the audio, and per clip what it adds."""
    audio: torch.Tensor | None     # [B, 2, N] float32 on the CPU; None when not asked for
    extras: list[dict]             # per clip: JSON keys for the sidecar (the score's summary)
    scores: list | None = None     # score families: each clip's decoded Score


class Family:
    """One loaded model. Subclasses set the attributes in `__init__` and implement the hooks."""

    family: str = ""          # "stable-audio" | "stable-audio-3" | "score"
    windows: tuple[str, ...] = ("clip", "full")
    full_differs: bool = True  # `full` denoises the whole window, more frames than `clip` (SA3: both the clip's)
    pipe = None               # the pipeline whose transformer `compile` wraps (None: no compiled path)
    continues_audio = False   # jam context: the previous phrase's audio re-encoded (else its own latent)

    def __init__(self, *, backend: str, model_id: str, device: torch.device, dtype: torch.dtype,
                 encoder: TextEncoder, encoder_id: str, sample_rate: int, hop: int, max_frames: int,
                 defaults: Defaults | None = None, max_seconds: float | None = None, threads: int | None = None,
                 estimate: str | None = None):
        self.backend = backend            # the backend name users pick (tiny, stable-audio-3, score, ...)
        self.spec: BackendSpec = SPECS[backend]
        self.model_id = model_id
        self.device = device
        self.dtype = dtype
        self.encoder = encoder
        self.encoder_id = encoder_id      # an SAE's metadata.encoder must equal this
        self.sample_rate = int(sample_rate)
        self.hop = int(hop)               # audio samples per latent frame
        self.max_frames = int(max_frames)
        self.defaults = defaults if defaults is not None else self.spec.defaults
        self.max_seconds = float(max_seconds if max_seconds is not None else max_frames * hop / sample_rate)
        self.threads = threads            # torch intra-op threads for a render (None: leave as is)
        self.estimate = estimate          # set when the architecture is an estimate; reported with timings
        self.quantized: str | None = None
        self.compiled = False

    # ------------------------------------------------------------------ geometry
    def frames(self, seconds: float, window: str) -> int:
        """Latent frames to denoise: just enough for `seconds` (`clip`) or the whole window (`full`)."""
        if window not in self.windows:
            raise ValueError(f"unknown window {window!r} for {self.backend} (use {' or '.join(self.windows)})")
        if window == "full":
            return self.max_frames
        return min(self.max_frames, max(1, math.ceil(seconds * self.sample_rate / self.hop)))

    def frame_seconds(self, bpm: float | None = None) -> float:
        """Seconds one latent frame lasts (a hop of audio; a family in musical time needs the tempo)."""
        return self.hop / self.sample_rate

    def for_batch(self, conds) -> "Family":
        """The family to render these conditionings with (one per clip). A family that plays in musical
        time returns a copy bound to each clip's tempo (`Conditioning.bpm`); the others are themselves."""
        return self

    @property
    def needs_batch(self) -> bool:
        """True while `for_batch` has still to bind this family to a batch before it can render."""
        return False

    def check_seconds(self, seconds: float) -> None:
        if not 0 < seconds <= self.max_seconds + 1e-9:
            raise ValueError(f"clip length {seconds:.2f} s is over the {self.backend} backend's limit of "
                             f"{self.max_seconds:.2f} s")

    # ------------------------------------------------------------------ hooks
    def context(self, hidden: torch.Tensor, mask: torch.Tensor, seconds: float) -> Inputs:
        """Model inputs for one prompt branch: hidden [B, T, D] and mask [B, T] in text-encoder space."""
        raise NotImplementedError

    def unconditional(self, cond: Inputs, seconds: float) -> Inputs:
        """The unconditional branch's inputs, shaped like `cond` (for classifier-free guidance)."""
        raise NotImplementedError

    def schedule(self, steps: int):
        """(a private scheduler, its timesteps) for one render."""
        raise NotImplementedError

    def initial_latents(self, generators: Sequence[torch.Generator], frames: int) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, scheduler, latents: torch.Tensor, t: torch.Tensor, inputs: Inputs) -> torch.Tensor:
        """The model's prediction for `latents` stacked over branches, with `inputs` stacked alike."""
        raise NotImplementedError

    def step(self, scheduler, pred: torch.Tensor, t: torch.Tensor, latents: torch.Tensor,
             generators: Sequence[torch.Generator]) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, latents: torch.Tensor, seconds: float) -> torch.Tensor:
        """Latents [B, C, L] -> audio [B, 2, int(seconds * sample_rate)] float32 on the CPU."""
        raise NotImplementedError

    def decode_all(self, latents: torch.Tensor, seconds: float, audio: bool = True) -> Decoded:
        """`decode` (unless `audio` is False) plus what else the family reads from the latents, once:
        per-clip sidecar keys and, on score families, the decoded scores. Most families add nothing."""
        return Decoded(self.decode(latents, seconds) if audio else None, [{} for _ in range(latents.shape[0])])

    def play(self, score, seconds: float, start: float = 0.0) -> np.ndarray:
        """A score family's Score played as its audio, the samples from `start` to `seconds` [2, N] (the
        jam's splice plays the notes it joined)."""
        raise NotImplementedError(f"the {self.backend} backend does not play scores")

    def modules(self) -> dict[str, torch.nn.Module]:
        """The torch modules this family runs (for compiling, moving and counting)."""
        raise NotImplementedError

    def bundled_sae(self):
        """(sae, sae_id) of the SAE this backend ships with (its spec says whether it has one), or (None, None)."""
        return None, None

    def bundled_dit_sae(self):
        """(sae, sae_id) of a DiT SAE shipped for this very model (`synth.dit_sae`), or (None, None)."""
        return None, None

    def head_readings(self, cond) -> dict[str, float]:
        """What the model's text heads read from a conditioning (name -> output); none without heads."""
        return {}

    def pipeline_kwargs(self, seconds: float) -> dict:
        """The clip length as the family's own diffusers pipeline takes it (benches call it as a reference)."""
        raise NotImplementedError(f"the {self.backend} backend has no pipeline to call")

    @property
    def writes_score(self) -> bool:
        """Decodes to a score (MIDI out, .mid loops, .mid variations): the backend's spec says so."""
        return self.spec.writes_score

    # ------------------------------------------------------------------ known content (jam, variations)
    def sigma(self, scheduler, index: int) -> float:
        """The noise level of the latents before step `index` of `scheduler` (index = steps: clean)."""
        return float(scheduler.sigmas[index])

    def begin_at(self, scheduler, index: int) -> None:
        """Start sampling at step `index` (a variation skips the noisiest steps)."""
        scheduler.set_begin_index(index)

    def strength_sigma(self, strength: float) -> float:
        """The noise level a variation at `strength` (0..1, the share of noise) starts from."""
        raise NotImplementedError(f"the {self.backend} backend cannot take known content")

    def noised(self, x0: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
        """A clean latent brought to noise level `sigma` of this family's sampler."""
        raise NotImplementedError(f"the {self.backend} backend cannot take known content")

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio [B, 2, N] at `sample_rate` -> clean latent [B, C, ceil(N / hop)] (the autoencoder)."""
        raise NotImplementedError(f"the {self.backend} backend has no audio encoder")

    def tail_latent(self, latent: torch.Tensor, audio: np.ndarray, frames: int) -> torch.Tensor:
        """Jam continuity: the clean latent [1, C, frames] of the last `frames` frames before a phrase's
        end, which the next phrase holds as known context. `latent` [C, F] is the phrase's own (its F
        frames wholly inside it), `audio` [2, N] the end of its sound, unfaded, ending on the bar line.
        A family whose frames tile the phrase (the score's 16ths) takes its own latent, exactly; one with
        an autoencoder (`continues_audio`) encodes the audio, so the context ends on the phrase's last
        sample rather than on the last whole frame, and holds what was heard."""
        if not self.continues_audio:
            return latent[None, :, latent.shape[-1] - frames:]
        tail = torch.from_numpy(np.ascontiguousarray(audio[:, -frames * self.hop:], dtype=np.float32))[None]
        return self.encode_audio(tail)[:, :, -frames:].to(latent.dtype)

    def known_inputs(self, clean: torch.Tensor, known: int) -> Inputs:
        """Model inputs that tell a model with inpainting inputs of its own which leading `known` frames
        of `clean` [B, C, F] are given (added to every branch). None by default."""
        return {}

    # ------------------------------------------------------------------ shared
    def describe(self) -> dict:
        """Facts for sidecars, /synth/status and benchmark reports."""
        out = {"backend": self.backend, "family": self.family, "model_id": self.model_id,
               "encoder": self.encoder_id, "device": str(self.device), "dtype": str(self.dtype).replace("torch.", ""),
               "max_seconds": round(self.max_seconds, 2)}
        if self.estimate:
            out["estimate"] = self.estimate
        if self.quantized:
            out["quantized"] = self.quantized
        return out

    def compile(self, mode: str | None = None, backend: str = "inductor") -> None:
        """torch.compile the denoiser in place (CUDA graphs with mode="reduce-overhead" on a GPU). Every clip
        length shares one graph; a second batch size (prompt branches x seeds) builds at most one more."""
        if self.pipe is None or getattr(self.pipe, "transformer", None) is None:
            raise NotImplementedError(f"the {self.backend} backend has no compiled path")
        # One graph for every clip length: the loop marks the latents' length dynamic (synth/denoise.py),
        # so a length not played before costs no recompilation (CUDA graphs record one more shape).
        self.inside_hooks()  # inside steering's wrappers go in first, so the compiled graph has them
        self.pipe.transformer = torch.compile(self.pipe.transformer, mode=mode, backend=backend, dynamic=None)
        self.compiled = True

    def inside_hooks(self) -> "InsideHooks":
        """The denoiser's inside-steering wrappers (`synth.inside`), installed on first use."""
        if self.pipe is None or getattr(self.pipe, "transformer", None) is None:
            raise NotImplementedError(f"the {self.backend} backend has no DiT to steer inside")
        return install(self.pipe.transformer)

    def quantize(self, kind: str = "int8") -> None:
        """Dynamic int8 quantisation of the denoiser's and decoder's Linear layers (per output channel),
        in place. CPU only: on this project's AVX2 CPU it runs the full-size SA3 DiT ~2x faster; its
        output differs from float32 by rounding (bench/render.py prints the correlation)."""
        if kind != "int8":
            raise ValueError(f"unknown quantisation {kind!r} (use int8)")
        if self.device.type != "cpu" or self.dtype != torch.float32:
            raise ValueError("quantize: int8 runs on the CPU in float32 (use --device cpu --dtype float32)")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        modules = self.modules()
        for name in ("transformer", "vae"):  # the denoiser and the decoder: the text encoder is run once per prompt
            module = modules.get(name)
            if module is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torch.ao's deprecation notice points to torchao
                    quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
        self.quantized = kind

    def decode_in_batches(self, decode_fn, latents: torch.Tensor, seconds: float, batch: int) -> torch.Tensor:
        """`decode_fn(latents[s:s+batch]) -> audio`, trimmed to the clip, float32 on the CPU, concatenated:
        decoders' memory grows with the batch, so long or many clips go through in slices."""
        n = int(seconds * self.sample_rate)
        return torch.cat([decode_fn(latents[s:s + batch])[:, :, :n].float().cpu()
                          for s in range(0, latents.shape[0], max(1, batch))])


def concat_inputs(branches: Sequence[Inputs]) -> Inputs:
    """Stack branches along the batch: the loop runs every branch in one forward pass."""
    if len(branches) == 1:
        return dict(branches[0])
    return {k: torch.cat([b[k] for b in branches]) for k in branches[0]}


def pad_to_hop(audio: torch.Tensor, hop: int) -> torch.Tensor:
    """Audio [B, 2, N] zero-padded to a whole number of latent frames (for an autoencoder)."""
    extra = (-audio.shape[-1]) % hop
    return torch.nn.functional.pad(audio, (0, extra)) if extra else audio


def generators(seeds: Sequence[int]) -> list[torch.Generator]:
    # CPU generators: the same seed gives the same noise on every device, alone or in a batch.
    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


class StepNoise:
    """Fresh N(0, 1) noise [B, *shape] at each call, for samplers that draw noise at every step.

    Each seed's own CPU generator draws its rows, so a seed gets the same numbers alone or in a batch, on
    any device; the rows go to the device from pinned memory without blocking, so the host never waits
    for the GPU to drain (a pageable copy would) and runs ahead while the GPU computes."""

    def __init__(self, generators: Sequence[torch.Generator], shape: Sequence[int], device: torch.device):
        self.generators, self.shape, self.device = list(generators), tuple(shape), torch.device(device)

    def draw(self) -> torch.Tensor:
        rows = torch.cat([torch.randn((1, *self.shape), generator=g, dtype=torch.float32) for g in self.generators])
        if self.device.type == "cuda":
            return rows.pin_memory().to(self.device, non_blocking=True)
        return rows.to(self.device)

    def __call__(self, sigma=None, sigma_next=None) -> torch.Tensor:
        # (sigma, sigma_next): the signature of diffusers' BrownianTreeNoiseSampler, which this replaces.
        # The tree's increments over consecutive steps, divided by their standard deviation, are
        # independent N(0, 1): the same statistics.
        return self.draw()
