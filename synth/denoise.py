"""Our own denoising loop over a StableAudioPipeline's components.

`StableAudioPipeline.__call__` has no hook to change the guidance rule, and always denoises all
1024 latent frames (47.55 s). This loop:

- reproduces `__call__` operation for operation when there is one prompt branch and no steering
  (tests/test_denoise.py checks the samples are identical);
- combines any number of prompt branches and steered branches with `combine_guidance`
  (composable guidance mixing and guidance-mode steering);
- with `window="clip"` denoises only the latent frames the clip needs; `window="full"` denoises
  1024 frames and crops after decoding, as diffusers does;
- uses one CPU `torch.Generator` per seed for the initial latents *and* the scheduler's Brownian
  noise, so a seed renders the same audio alone or inside a batch, on any device. The initial
  latents of a `clip` window are the first frames of that seed's full-window latents. (The
  scheduler's Brownian noise depends on the latent shape, so it differs between lengths.)
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed
from diffusers.utils.torch_utils import randn_tensor

from synth.conditioning import Conditioning, combine_guidance

WINDOWS = ("clip", "full")


def latent_frames(pipe, seconds: float, window: str) -> int:
    """Latent frames to denoise: all of them (`full`) or just enough to cover `seconds` (`clip`)."""
    total = int(pipe.transformer.config.sample_size)
    if window == "full":
        return total
    if window != "clip":
        raise ValueError(f"unknown window {window!r} (use clip or full)")
    hop = int(pipe.vae.hop_length)
    sr = int(pipe.vae.config.sampling_rate)
    return min(total, max(1, math.ceil(seconds * sr / hop)))


def max_seconds(pipe) -> float:
    return pipe.transformer.config.sample_size * pipe.vae.hop_length / pipe.vae.config.sampling_rate


def generators(seeds: Sequence[int]) -> list[torch.Generator]:
    # CPU generators: the same seed gives the same initial noise on every device.
    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


def _project(pipe, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # As StableAudioPipeline.encode_prompt: projection, then the mask applied (twice, as there).
    out = pipe.projection_model(text_hidden_states=hidden).text_hidden_states
    m = mask.unsqueeze(-1).to(out.dtype)
    out = out * m
    return out * m


@torch.inference_mode()
def denoise(
    pipe,
    conds: Sequence[Conditioning],
    seeds: Sequence[int],
    seconds: float,
    steps: int,
    cfg: float,
    window: str = "clip",
    decode_batch: int = 8,
    output: str = "audio",
    threads: int | None = None,
) -> torch.Tensor:
    """Render B = len(conds) clips (one seed each) -> audio [B, channels, int(seconds * sr)] float32
    on the CPU (or the final latents [B, C, L] with `output="latent"`).

    All conditionings must share the branch structure (same number of prompt branches, steered or
    not, same steering gain); `Engine` groups states so that they do. `threads` sets torch's
    intra-op threads for the call (the tiny model runs fastest on one)."""
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        with warnings.catch_warnings():
            # torchsde warns whenever float32 rounding puts a query a hair outside
            # [sigma_min, sigma_max]; harmless (it clamps), and it would flood the daemon's log.
            warnings.filterwarnings("ignore", message=r"Should have (ta|tb)", category=UserWarning)
            return _denoise(pipe, conds, seeds, seconds, steps, cfg, window, decode_batch, output)
    finally:
        torch.set_num_threads(old_threads)


def _denoise(pipe, conds, seeds, seconds, steps, cfg, window, decode_batch, output) -> torch.Tensor:
    if len(conds) != len(seeds) or not conds:
        raise ValueError(f"denoise: {len(conds)} conditionings for {len(seeds)} seeds")
    k, has_steer, gain, weights = conds[0].branches, conds[0].steered is not None, conds[0].gain, conds[0].weights
    for c in conds[1:]:
        if c.branches != k or (c.steered is not None) != has_steer or c.gain != gain or c.weights != weights:
            raise ValueError("denoise: conditionings in one batch must share branches, weights and steering gain")
    limit = max_seconds(pipe)
    if not 0 < seconds <= limit:
        raise ValueError(f"clip length {seconds} s is outside (0, {limit:.2f}] s")

    device = pipe._execution_device
    dtype = pipe.transformer.dtype
    batch = len(conds)
    do_cfg = cfg > 1.0  # as diffusers: guidance_scale <= 1 means no unconditional branch

    # --- text + timing conditioning, one [B, T+2, C] tensor per branch
    secs = pipe.projection_model(
        start_seconds=torch.tensor([0.0] * batch).to(device),
        end_seconds=torch.tensor([float(seconds)] * batch).to(device),
    )
    start, end = secs.seconds_start_hidden_states, secs.seconds_end_hidden_states
    global_states = torch.cat([start, end], dim=2)

    def branch(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        text = _project(pipe, hidden.to(device=device, dtype=dtype), mask.to(device))
        return torch.cat([text, start, end], dim=1)

    cond_branches = [branch(torch.stack([c.hidden[i] for c in conds]), torch.stack([c.mask[i] for c in conds]))
                     for i in range(k)]
    steer_branches = [branch(torch.stack([c.steered[i] for c in conds]), torch.stack([c.mask[i] for c in conds]))
                      for i in range(k)] if has_steer else []
    uncond = [torch.zeros_like(cond_branches[0])] if do_cfg else []
    all_branches = uncond + cond_branches + steer_branches
    n_branch = len(all_branches)
    encoder_states = torch.cat(all_branches, dim=0)
    global_states = torch.cat([global_states] * n_branch, dim=0)

    # --- scheduler (a private copy: the pipeline's own one keeps per-run state) and noise
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    scheduler.set_timesteps(int(steps), device=device)
    frames = latent_frames(pipe, seconds, window)
    gens = generators(seeds)
    # Draw the full window's noise and crop it: a seed starts from the same noise whatever the
    # window or clip length, so `clip` and `full` (and a longer or shorter clip) stay comparable.
    total = int(pipe.transformer.config.sample_size)
    latents = randn_tensor((batch, pipe.transformer.config.in_channels, total), generator=gens, device=device, dtype=dtype)
    if frames < total:
        latents = latents[:, :, :frames].contiguous()
    latents = latents * scheduler.init_noise_sigma

    rotary = get_1d_rotary_pos_embed(pipe.rotary_embed_dim, frames + 1, use_real=True, repeat_interleave_real=False)
    rotary = tuple(r.to(device) for r in rotary)  # once, not every step

    for t in scheduler.timesteps:
        model_in = torch.cat([latents] * n_branch) if n_branch > 1 else latents
        model_in = scheduler.scale_model_input(model_in, t)
        pred = pipe.transformer(
            model_in, t.unsqueeze(0), encoder_hidden_states=encoder_states,
            global_hidden_states=global_states, rotary_embedding=rotary, return_dict=False,
        )[0]
        parts = pred.chunk(n_branch) if n_branch > 1 else (pred,)
        un = parts[0] if do_cfg else None
        offset = 1 if do_cfg else 0
        noise = combine_guidance(
            un, parts[offset:offset + k], weights, float(cfg),
            steered=parts[offset + k:] if has_steer else None, gain=gain,
        )
        latents = scheduler.step(noise, t, latents, generator=gens).prev_sample

    if output == "latent":
        return latents.float().cpu()
    n_samples = int(seconds * pipe.vae.config.sampling_rate)
    out = []
    for s in range(0, batch, max(1, decode_batch)):
        audio = pipe.vae.decode(latents[s:s + decode_batch]).sample
        out.append(audio[:, :, :n_samples].float().cpu())
    return torch.cat(out)
