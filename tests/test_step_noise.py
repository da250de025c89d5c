"""The samplers' per-step noise without host waits (base.StepNoise): reproducible per seed alone or in
a batch, the statistics of the Brownian tree it replaces for Stable Audio Open, and no per-step syncs
(counted by bench/host_syncs.py)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from synth.backends import load_backend
from synth.engine import Engine
from synth.families.base import StepNoise, generators
from synth.state import PromptSlot, SynthState

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("host_syncs", REPO / "bench" / "host_syncs.py")
host_syncs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(host_syncs)

STATE = SynthState(prompts=[PromptSlot("warm analog pad", 1.0)], seed=3, duration=1.0, steps=6)


def test_a_seed_draws_the_same_noise_alone_or_in_a_batch():
    alone = StepNoise(generators([3]), (4, 5), torch.device("cpu"))
    batch = StepNoise(generators([1, 3, 9]), (4, 5), torch.device("cpu"))
    for _ in range(3):
        assert torch.equal(alone(), batch()[1:2])


def test_steps_noise_has_the_brownian_trees_statistics():
    from diffusers.schedulers.scheduling_dpmsolver_sde import BrownianTreeNoiseSampler

    sigmas = torch.tensor([500.0, 120.0, 30.0, 8.0, 2.0, 0.5])
    x = torch.zeros(1, 64, 256)
    tree = BrownianTreeNoiseSampler(x, sigma_min=0.3, sigma_max=500.0, seed=[5])
    ours = StepNoise(generators([5]), x.shape[1:], torch.device("cpu"))
    for name, draws in (("tree", [tree(a, b) for a, b in zip(sigmas[:-1], sigmas[1:])]),
                        ("steps", [ours(a, b) for a, b in zip(sigmas[:-1], sigmas[1:])])):
        stacked = torch.stack(draws).flatten(1).double()
        assert abs(stacked.mean()) < 0.02 and abs(stacked.std() - 1) < 0.02, name
        corr = np.corrcoef(stacked.numpy())[np.triu_indices(len(draws), 1)]
        assert np.abs(corr).max() < 0.03, name  # consecutive steps' noise is independent


def test_stable_audio_open_steps_noise_is_per_seed_and_the_tree_stays_bit_equal():
    family = load_backend("tiny", device="cpu")
    assert family.sde_noise == "tree"  # the CPU default: diffusers' samples (tests/test_denoise.py)
    engine = Engine(family)
    tree = engine.render(STATE, [3]).audio
    family.sde_noise = "steps"
    alone, batch = engine.render(STATE, [3]).audio, engine.render(STATE, [1, 3]).audio
    np.testing.assert_allclose(alone[0], batch[1], rtol=0, atol=1e-6)
    assert np.abs(alone - tree).max() > 1e-3  # a different noise source, documented in docs/engine.md


@pytest.mark.parametrize("backend,mode", [("tiny-sa3", None), ("tiny", "steps")])
def test_no_step_waits_on_the_host(backend, mode):
    """After the first step (which also prepares the render), a step reads nothing back from the device
    and draws only its own noise: on CUDA the host queues step after step without waiting."""
    family = load_backend(backend, device="cpu", dtype="float32")
    if mode:
        family.sde_noise = mode
    rows = host_syncs.per_step_counts(family, STATE)["steps"]
    assert len(rows) == STATE.steps
    assert all(r["syncs"] == 0 for r in rows[1:]), rows
    assert all(r["host_draws"] <= 1 for r in rows[1:]), rows  # one seed: one draw per step at most
