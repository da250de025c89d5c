"""The score model's training parametrisation against the sampler's own preconditioning functions."""
import torch

from analysis.score_model.objective import model_input, sample_sigmas, timestep, training_batch, v_target
from synth.families.stable_audio import scheduler


def test_training_matches_the_schedulers_preconditioning():
    sched = scheduler()
    assert sched.config.sigma_data == 1.0 and sched.config.prediction_type == "v_prediction"
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 5, 17, generator=gen)
    noise = torch.randn(6, 5, 17, generator=gen)
    sigma = torch.tensor([0.3, 0.7, 1.0, 4.0, 60.0, 500.0])
    model_in, t, target = training_batch(x0, noise, sigma)
    for i, s in enumerate(sigma):
        x = x0[i] + s * noise[i]
        # what the DiT is fed, and the timestep it is shown, at this sigma
        assert torch.allclose(model_in[i], sched.precondition_inputs(x, s), atol=1e-6)
        assert torch.allclose(t[i], sched.precondition_noise(s).reshape(()), atol=1e-7)
        # the v target is the output the sampler turns back into exactly x0
        assert torch.allclose(sched.precondition_outputs(x, target[i], s), x0[i], atol=1e-4 * (1 + float(s)))
        # and any other output does not
        assert not torch.allclose(sched.precondition_outputs(x, target[i] + 0.01, s), x0[i], atol=1e-4)


def test_scheduler_timesteps_are_the_preconditioned_sigmas_the_model_trains_on():
    sched = scheduler()
    sched.set_timesteps(20)
    sig = sched.sigmas[:-1]
    assert torch.allclose(sched.timesteps, timestep(sig), atol=1e-7)
    sample = torch.randn(2, 3, 4)
    assert torch.allclose(sched.scale_model_input(sample, sched.timesteps[0]), model_input(sample, sig[0]))


def test_v_target_is_the_cosine_v():
    x0, n, s = torch.randn(3, 4), torch.randn(3, 4), torch.tensor(2.0)
    alpha, beta = 1 / torch.sqrt(1 + s ** 2), s / torch.sqrt(1 + s ** 2)
    assert torch.allclose(v_target(x0, n, s), alpha * n - beta * x0)


def test_sigmas_cover_the_samplers_range():
    s = sample_sigmas(20000, torch.Generator().manual_seed(0))
    assert s.min() >= 0.02 and s.max() <= 500.0
    assert (s > 100).float().mean() > 0.02 and ((s > 0.3) & (s < 3)).float().mean() > 0.4
