"""The score model's training objective, matched exactly to the sampler it runs under.

The sampler is CosineDPMSolverMultistepScheduler with sigma_data = 1 and v-prediction. At noise level
sigma it feeds the DiT `precondition_inputs(x, sigma)` = x / sqrt(sigma^2 + 1), shows it the timestep
`precondition_noise(sigma)` = atan(sigma) * 2 / pi, and reads the clean sample back as
`precondition_outputs(x, F, sigma)` = c_skip * x + c_out * F with c_skip = 1 / (sigma^2 + 1) and
c_out = -sigma / sqrt(sigma^2 + 1). So with x = x0 + sigma * n the output that gives back x0 is

    F = (x0 - c_skip * x) / c_out = (n - sigma * x0) / sqrt(sigma^2 + 1),

the v target. Training on it with a plain MSE weighs every noise level as EDM does (unit loss weight on
F). tests/test_score_objective.py checks all three against the scheduler's own functions.
"""
from __future__ import annotations

import math

import torch

from synth.families.stable_audio import SIGMA_MAX, SIGMA_MIN  # the sampler's range, trained over whole


def model_input(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return x / torch.sqrt(sigma ** 2 + 1.0)


def timestep(sigma: torch.Tensor) -> torch.Tensor:
    return torch.atan(sigma) / math.pi * 2


def v_target(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return (noise - sigma * x0) / torch.sqrt(sigma ** 2 + 1.0)


def sample_sigmas(n: int, generator: torch.Generator) -> torch.Tensor:
    """Noise levels to train at: half log-normal around sigma = 1, where the score's notes take shape,
    half log-uniform over the sampler's whole range [0.3, 500], where the global choices (instrument,
    tempo, drums) are made."""
    normal = torch.exp(torch.randn(n, generator=generator) * 1.4)
    uniform = torch.exp(math.log(SIGMA_MIN) + torch.rand(n, generator=generator) * math.log(SIGMA_MAX / SIGMA_MIN))
    pick = torch.rand(n, generator=generator) < 0.5
    return torch.where(pick, uniform, normal).clamp(0.02, SIGMA_MAX)


def training_batch(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor):
    """x0, noise [B, C, L], sigma [B] -> (DiT input, DiT timestep [B], v target)."""
    s = sigma.view(-1, 1, 1)
    x = x0 + s * noise
    return model_input(x, s), timestep(sigma), v_target(x0, noise, s)
