"""The one denoising loop, over any model family (`synth/families/`).

Neither `StableAudioPipeline.__call__` nor `StableAudio3Pipeline.__call__` has a hook to change the
guidance rule. This loop:

- reproduces each pipeline's `__call__` operation for operation when there is one prompt branch and no
  steering (tests/test_denoise.py and tests/test_denoise_sa3.py check the samples are identical);
- combines any number of prompt branches and steered branches with `combine_guidance`
  (composable guidance mixing and guidance-mode steering), for every family alike;
- denoises only the latent frames the clip needs (`window="clip"`), where the family allows it;
- uses one CPU `torch.Generator` per seed for the initial latents *and* any noise the scheduler draws,
  so a seed renders the same audio alone or inside a batch, on any device;
- takes known content as a `Guide`: leading frames held at their noised values at every step
  (RePaint-style inpainting: jam mode's continuation of the previous phrase) and/or a start from a
  clean latent noised to a strength (SDEdit: variations of a user's clip).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

from synth.conditioning import Conditioning, combine_guidance
from synth.families.base import Family, concat_inputs, generators
from synth.inside import row_shifts

WINDOWS = ("clip", "full")
GUIDE_NOISE_SEED = 0x6A616D  # the guide's noise has its own generators, so the scheduler's draws are unchanged


class Cancelled(Exception):
    """A render given up between steps: its `cancel` said a newer one will take its place."""


@dataclass(frozen=True)
class Guide:
    """Known content for a render, in the family's latent (`Family.encode_audio`, `encode_score`, or a
    previous render's latents).

    latent: clean latent [1 or B, C, F]; cropped or zero-padded to the frames denoised.
    known: the leading frames held at the schedule's noise level after every step (RePaint); they come
        out equal to `latent` there, and the model fills the rest to fit them.
    strength: 1 starts from pure noise; below 1 the render starts from `latent` noised to that share of
        noise (the family's `strength_sigma`: a rectified-flow time, the same on every family) and runs
        the steps from there (SDEdit), so 0.1 stays close and 0.9 strays far."""
    latent: torch.Tensor
    known: int = 0
    strength: float = 1.0

    def __post_init__(self):
        if self.latent.dim() != 3:
            raise ValueError(f"guide latent must be [B, C, F], got shape {tuple(self.latent.shape)}")
        if not 0 <= self.known <= self.latent.shape[-1]:
            raise ValueError(f"guide: {self.known} known frames, but the latent has {self.latent.shape[-1]}")
        if not 0.0 < float(self.strength) <= 1.0:
            raise ValueError(f"strength {self.strength!r} is outside (0, 1]")


def start_index(sigmas: Sequence[float], target: float) -> int:
    """The first step whose noise level is at most `target` (at least the last step runs)."""
    for i, sigma in enumerate(sigmas[:-1]):
        if sigma <= target:
            return i
    return len(sigmas) - 2


def fit_frames(latent: torch.Tensor, batch: int, frames: int) -> torch.Tensor:
    """`latent` [1 or B, C, F] -> [B, C, frames]: cropped, or zero-padded at the end."""
    if latent.shape[0] not in (1, batch):
        raise ValueError(f"guide latent has batch {latent.shape[0]}, the render {batch}")
    x = latent[:, :, :frames]
    if x.shape[-1] < frames:
        x = torch.nn.functional.pad(x, (0, frames - x.shape[-1]))
    return x.expand(batch, -1, -1)


def guide_noise(seeds: Sequence[int], shape: tuple[int, int], device, dtype) -> torch.Tensor:
    """One fixed noise draw per seed [B, C, F] for noising the guide's latent (deterministic per seed)."""
    gens = generators([int(s) ^ GUIDE_NOISE_SEED for s in seeds])
    return torch.stack([torch.randn(shape, generator=g) for g in gens]).to(device=device, dtype=dtype)


def hold_known(latents: torch.Tensor, noised_known: torch.Tensor, known: int) -> torch.Tensor:
    """The leading `known` frames replaced by the guide's noised values (a new tensor)."""
    if known <= 0:
        return latents
    return torch.cat([noised_known[:, :, :known].to(latents.dtype), latents[:, :, known:]], dim=-1)


def denoise(
    family: Family,
    conds: Sequence[Conditioning],
    seeds: Sequence[int],
    seconds: float,
    steps: int,
    cfg: float,
    window: str = "clip",
    output: str = "audio",
    guide: Guide | None = None,
) -> torch.Tensor:
    """Render B = len(conds) clips (one seed each) -> audio [B, 2, int(seconds * sr)] float32 on the CPU;
    with `output="latent"` the final latents [B, C, L] (float32, CPU). `Engine.render` runs `sample` and
    the family's `decode_all` itself, to keep both the latents and what the family decodes from them."""
    if output not in ("audio", "latent"):
        raise ValueError(f"denoise: output {output!r} is not audio or latent")
    family = family if not family.needs_batch else family.for_batch(conds)
    with family_threads(family), torch.inference_mode():
        latents = sample(family, conds, seeds, seconds, steps, cfg, window, guide)
        return latents.float().cpu() if output == "latent" else family.decode(latents, seconds)


@contextmanager
def family_threads(family: Family) -> Iterator[None]:
    """torch's intra-op threads set to the family's for a render (its loop and its decode), then restored."""
    old_threads = torch.get_num_threads()
    if family.threads is not None:
        torch.set_num_threads(int(family.threads))
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)


def _check_batch(conds: Sequence[Conditioning], seeds: Sequence[int]) -> None:
    if len(conds) != len(seeds) or not conds:
        raise ValueError(f"denoise: {len(conds)} conditionings for {len(seeds)} seeds")
    first = conds[0]
    for c in conds[1:]:
        if (c.branches != first.branches or (c.steered is None) != (first.steered is None) or c.gain != first.gain
                or c.weights != first.weights or _inside_site(c) != _inside_site(first)):
            raise ValueError("denoise: conditionings in one batch must share branches, weights and steering gain")


def _inside_site(c: Conditioning) -> tuple[str, ...] | None:
    return c.inside.sites if c.inside is not None else None


def _inside_hooks(family: Family, conds: Sequence[Conditioning], steps: int):
    """The family's inside-steering wrappers when this batch steers inside, else None."""
    if conds[0].inside is None:
        return None
    for c in conds:
        for shifts in c.inside.by_site().values():
            if shifts.shape[1] != steps:
                raise ValueError(f"inside steering: shifts for {shifts.shape[1]} steps, the render has {steps}")
    return family.inside_hooks()


def _stack(conds: Sequence[Conditioning], i: int, steered: bool) -> tuple[torch.Tensor, torch.Tensor]:
    hidden = torch.stack([(c.steered if steered else c.hidden)[i] for c in conds])
    return hidden, torch.stack([c.mask[i] for c in conds])


@torch.inference_mode()
def sample(family: Family, conds: Sequence[Conditioning], seeds: Sequence[int], seconds: float, steps: int,
           cfg: float, window: str = "clip", guide: Guide | None = None,
           cancel: Callable[[], bool] | None = None) -> torch.Tensor:
    """The denoising loop: B = len(conds) clips (one seed each) -> their final latents [B, C, L], on the
    family's device in its dtype. `family` is bound to `conds` (`Family.for_batch`) here unless it is
    already. Run it inside `family_threads(family)`, with the decode.

    All conditionings must share the branch structure (same number of prompt branches, steered or
    not, same weights and steering gain); `Engine` groups states so that they do. `cancel`, asked before
    every step: True raises `Cancelled` (the jam's beat splice gives way to a newer state)."""
    _check_batch(conds, seeds)
    if family.needs_batch:
        family = family.for_batch(conds)
    family.check_seconds(seconds)
    k, has_steer = conds[0].branches, conds[0].steered is not None
    do_cfg = cfg > 1.0  # as diffusers: guidance_scale <= 1 means no unconditional branch

    cond = [family.context(*_stack(conds, i, False), seconds) for i in range(k)]
    steer = [family.context(*_stack(conds, i, True), seconds) for i in range(k)] if has_steer else []
    uncond = [family.unconditional(cond[0], seconds)] if do_cfg else []
    branches = uncond + cond + steer           # the pipelines' order: unconditional first
    n_branch = len(branches)
    inputs = concat_inputs(branches)
    if family.compiled:
        for value in inputs.values():
            torch._dynamo.maybe_mark_dynamic(value, 0)

    scheduler, timesteps = family.schedule(steps)
    gens = generators(seeds)
    latents = family.initial_latents(gens, family.frames(seconds, window))
    known, x0, noise, first = 0, None, None, 0
    if guide is not None:
        frames = latents.shape[-1]
        known = min(guide.known, frames)
        x0 = fit_frames(guide.latent.to(device=latents.device, dtype=latents.dtype), len(seeds), frames)
        noise = guide_noise(seeds, tuple(x0.shape[1:]), latents.device, latents.dtype)
        if guide.strength < 1.0:
            levels = [family.sigma(scheduler, i) for i in range(len(timesteps) + 1)]
            first = start_index(levels, family.strength_sigma(guide.strength))
            latents = family.noised(x0, noise, family.sigma(scheduler, first))
            family.begin_at(scheduler, first)
            timesteps = timesteps[first:]
        latents = hold_known(latents, family.noised(x0, noise, family.sigma(scheduler, first)), known)
        if known:   # and a model with inpainting inputs of its own is told which frames are given
            for name, value in family.known_inputs(x0, known).items():
                inputs[name] = torch.cat([value] * n_branch) if n_branch > 1 else value
    offset = 1 if do_cfg else 0
    hooks = _inside_hooks(family, conds, steps)
    by_site = [c.inside.by_site() for c in conds] if hooks is not None else None   # once, not every step
    try:
        for i, t in enumerate(timesteps):
            if cancel is not None and cancel():
                raise Cancelled(f"given up before step {first + i + 1} of {steps}")
            model_in = torch.cat([latents] * n_branch) if n_branch > 1 else latents
            if family.compiled:  # clip length and batch vary: keep them symbolic rather than recompile for each
                torch._dynamo.maybe_mark_dynamic(model_in, model_in.dim() - 1)  # (negative dims are not understood)
                torch._dynamo.maybe_mark_dynamic(model_in, 0)
            if hooks is not None:   # this step's directions, on the prompt branches only
                hooks.set_sites({site: row_shifts([b[site] for b in by_site], first + i, offset, k)
                                 for site in conds[0].inside.sites})
            pred = family.predict(scheduler, model_in, t, inputs)
            parts = pred.chunk(n_branch) if n_branch > 1 else (pred,)
            guided = combine_guidance(
                parts[0] if do_cfg else None, parts[offset:offset + k], conds[0].weights, float(cfg),
                steered=parts[offset + k:] if has_steer else None, gain=conds[0].gain,
            )
            latents = family.step(scheduler, guided, t, latents, gens)
            if known:
                latents = hold_known(latents, family.noised(x0, noise, family.sigma(scheduler, first + i + 1)), known)
    finally:
        if hooks is not None:
            hooks.off()

    return latents
