"""The one denoising loop, over any model family (`synth/families/`).

Neither `StableAudioPipeline.__call__` nor `StableAudio3Pipeline.__call__` has a hook to change the
guidance rule. This loop:

- reproduces each pipeline's `__call__` operation for operation when there is one prompt branch and no
  steering (tests/test_denoise.py and tests/test_denoise_sa3.py check the samples are identical);
- combines any number of prompt branches and steered branches with `combine_guidance`
  (composable guidance mixing and guidance-mode steering), for every family alike;
- denoises only the latent frames the clip needs (`window="clip"`), where the family allows it;
- uses one CPU `torch.Generator` per seed for the initial latents *and* any noise the scheduler draws,
  so a seed renders the same audio alone or inside a batch, on any device.
"""
from __future__ import annotations

from typing import Sequence

import torch

from synth.conditioning import Conditioning, combine_guidance
from synth.families.base import Family, concat_inputs, generators

WINDOWS = ("clip", "full")


@torch.inference_mode()
def denoise(
    family: Family,
    conds: Sequence[Conditioning],
    seeds: Sequence[int],
    seconds: float,
    steps: int,
    cfg: float,
    window: str = "clip",
    output: str = "audio",
) -> torch.Tensor:
    """Render B = len(conds) clips (one seed each) -> audio [B, 2, int(seconds * sr)] float32 on the CPU;
    with `output="latent"` the final latents [B, C, L] (float32, CPU); with `output="detailed"` the pair
    (audio, one dict of extras per clip) from the family's `decode_detailed` (the score model's score).

    All conditionings must share the branch structure (same number of prompt branches, steered or
    not, same weights and steering gain); `Engine` groups states so that they do."""
    old_threads = torch.get_num_threads()
    if family.threads is not None:
        torch.set_num_threads(int(family.threads))
    try:
        return _denoise(family, conds, seeds, seconds, steps, cfg, window, output)
    finally:
        torch.set_num_threads(old_threads)


def _check_batch(conds: Sequence[Conditioning], seeds: Sequence[int]) -> None:
    if len(conds) != len(seeds) or not conds:
        raise ValueError(f"denoise: {len(conds)} conditionings for {len(seeds)} seeds")
    first = conds[0]
    for c in conds[1:]:
        if (c.branches != first.branches or (c.steered is None) != (first.steered is None) or c.gain != first.gain
                or c.weights != first.weights):
            raise ValueError("denoise: conditionings in one batch must share branches, weights and steering gain")


def _stack(conds: Sequence[Conditioning], i: int, steered: bool) -> tuple[torch.Tensor, torch.Tensor]:
    hidden = torch.stack([(c.steered if steered else c.hidden)[i] for c in conds])
    return hidden, torch.stack([c.mask[i] for c in conds])


def _denoise(family, conds, seeds, seconds, steps, cfg, window, output) -> torch.Tensor:
    _check_batch(conds, seeds)
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
    offset = 1 if do_cfg else 0
    for t in timesteps:
        model_in = torch.cat([latents] * n_branch) if n_branch > 1 else latents
        if family.compiled:  # clip length and batch vary: keep them symbolic rather than recompile for each
            torch._dynamo.maybe_mark_dynamic(model_in, model_in.dim() - 1)  # (negative dims are not understood)
            torch._dynamo.maybe_mark_dynamic(model_in, 0)
        pred = family.predict(scheduler, model_in, t, inputs)
        parts = pred.chunk(n_branch) if n_branch > 1 else (pred,)
        guided = combine_guidance(
            parts[0] if do_cfg else None, parts[offset:offset + k], conds[0].weights, float(cfg),
            steered=parts[offset + k:] if has_steer else None, gain=conds[0].gain,
        )
        latents = family.step(scheduler, guided, t, latents, gens)

    if output == "latent":
        return latents.float().cpu()
    if output == "detailed":
        return family.decode_detailed(latents, seconds)
    return family.decode(latents, seconds)
