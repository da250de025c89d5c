"""Our one denoising loop against each family's own pipeline `__call__`, on the tiny pipelines."""
import functools
import math

import pytest
import torch

from synth.backends import load_backend
from synth.conditioning import EncodingCache, build_conditioning
from synth.denoise import denoise
from synth.families.base import generators
from synth.state import PromptSlot, SynthState

STEPS = 6
BACKENDS = ["tiny", "tiny-sa3"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@functools.lru_cache(maxsize=None)
def tiny(backend: str = "tiny"):
    family = load_backend(backend, device="cpu")
    return family, EncodingCache(family.encoder.encode)


def cond(state, backend="tiny"):
    return build_conditioning(state, tiny(backend)[1].encode)


def state(**kw):
    base = dict(prompts=[PromptSlot("warm analog pad", 1.0)], steps=STEPS)
    base.update(kw)
    return SynthState(**base)


def pipeline_call(backend, prompts, seconds, cfg, seeds):
    family, _ = tiny(backend)
    timing = {"audio_end_in_s": seconds} if backend == "tiny" else {"duration": seconds}
    return family.pipe(prompt=prompts, num_inference_steps=STEPS, guidance_scale=cfg, generator=generators(seeds),
                       output_type="pt", **timing).audios


@pytest.mark.filterwarnings("ignore:Should have")
@pytest.mark.parametrize("backend,cfg", [("tiny", 7.0), ("tiny", 1.0), ("tiny-sa3", 1.0), ("tiny-sa3", 3.0)])
def test_identical_to_pipeline_call_without_steering(backend, cfg):
    family, _ = tiny(backend)
    seeds = [3, 11]
    c = cond(state(), backend)
    ours = denoise(family, [c, c], seeds, 2.0, STEPS, cfg, window="full")
    ref = pipeline_call(backend, ["warm analog pad"] * 2, 2.0, cfg, seeds)
    assert ours.shape == ref.shape == (2, 2, int(2.0 * 44100))
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_guidance_modes_reduce_to_plain_call(backend):
    """Guidance mixing of one prompt and guidance steering at gain 0 are the plain pipeline too."""
    family, _ = tiny(backend)
    plain = denoise(family, [cond(state(), backend)], [5], 1.0, STEPS, 7.0, window="full")
    mixed = denoise(family, [cond(state(mix_mode="guidance"), backend)], [5], 1.0, STEPS, 7.0, window="full")
    no_gain = cond(state(steering_mode="guidance", steering_gain=0.0,
                         contrasts={"c": {"positive": "loud", "negative": "soft", "strength": 3.0}}), backend)
    assert no_gain.steered is None
    assert torch.equal(plain, mixed)
    assert torch.equal(plain, denoise(family, [no_gain], [5], 1.0, STEPS, 7.0, window="full"))


@pytest.mark.parametrize("backend,cfg", [("tiny", 7.0), ("tiny-sa3", 1.0)])
def test_guidance_steering_changes_audio_and_scales_with_gain(backend, cfg):
    family, _ = tiny(backend)
    con = {"c": {"positive": "loud drums", "negative": "soft strings", "strength": 3.0}}
    base = denoise(family, [cond(state(), backend)], [1], 1.0, STEPS, cfg)
    w1 = denoise(family, [cond(state(contrasts=con, steering_mode="guidance", steering_gain=1.0), backend)], [1],
                 1.0, STEPS, cfg)
    w4 = denoise(family, [cond(state(contrasts=con, steering_mode="guidance", steering_gain=4.0), backend)], [1],
                 1.0, STEPS, cfg)
    d1, d4 = (w1 - base).abs().mean().item(), (w4 - base).abs().mean().item()
    assert d1 > 0 and d4 > d1


@pytest.mark.parametrize("backend,cfg", [("tiny", 7.0), ("tiny-sa3", 1.0)])
def test_guidance_mixing_differs_from_embedding_mixing(backend, cfg):
    family, _ = tiny(backend)
    prompts = [PromptSlot("warm analog pad", 1.0), PromptSlot("metal percussion", 1.0)]
    emb = denoise(family, [cond(state(prompts=prompts), backend)], [2], 1.0, STEPS, cfg)
    gui = denoise(family, [cond(state(prompts=prompts, mix_mode="guidance"), backend)], [2], 1.0, STEPS, cfg)
    assert emb.shape == gui.shape and not torch.equal(emb, gui)


@pytest.mark.parametrize("seconds", [1.0, 4.0, 30.0])
def test_clip_window_length(seconds):
    family, _ = tiny()
    frames = family.frames(seconds, "clip")
    assert frames == math.ceil(seconds * 44100 / 2048) and family.frames(seconds, "full") == 1024
    out = denoise(family, [cond(state())], [0], seconds, 2, 7.0, window="clip")
    assert out.shape == (1, 2, int(seconds * 44100)) and torch.isfinite(out).all()


def test_sa3_frames_follow_its_4096_hop_in_both_windows():
    family, _ = tiny("tiny-sa3")
    assert family.hop == 4096 and family.frames(5.0, "clip") == family.frames(5.0, "full") == math.ceil(5 * 44100 / 4096)


@pytest.mark.parametrize("backend,cfg", [("tiny", 7.0), ("tiny-sa3", 1.0), ("tiny-sa3", 3.0)])
def test_batched_seeds_match_single_renders(backend, cfg):
    """Each seed has its own generator, for the initial noise and for the stochastic re-noising alike."""
    family, _ = tiny(backend)
    c = cond(state(), backend)
    batch = denoise(family, [c] * 3, [4, 5, 6], 1.0, STEPS, cfg)
    for i, s in enumerate([4, 5, 6]):
        single = denoise(family, [c], [s], 1.0, STEPS, cfg)[0]
        torch.testing.assert_close(batch[i], single, rtol=0, atol=1e-5)
    assert not torch.allclose(batch[0], batch[1])


@pytest.mark.parametrize("backend,limit", [("tiny", "47.55"), ("tiny-sa3", "120.00")])
def test_rejects_mismatched_batches_and_lengths(backend, limit):
    family, _ = tiny(backend)
    a = cond(state(), backend)
    b = cond(state(mix_mode="guidance", prompts=[PromptSlot("x", 1), PromptSlot("y", 1)]), backend)
    with pytest.raises(ValueError, match="share"):
        denoise(family, [a, b], [0, 1], 1.0, 2, 7.0)
    with pytest.raises(ValueError, match=f"{backend} backend's limit of {limit} s"):
        denoise(family, [a], [0], 121.0, 2, 7.0)


def test_sa3_unconditional_branch_is_the_encoded_empty_prompt():
    family, _ = tiny("tiny-sa3")
    enc = family.encoder.encode([""])
    ctx = family.context(cond(state(), "tiny-sa3").hidden, cond(state(), "tiny-sa3").mask, 2.0)
    un = family.unconditional(ctx, 2.0)
    assert torch.equal(un["encoder_hidden_states"][0, :-1], enc.hidden[0])
    assert torch.equal(un["encoder_attention_mask"][0], torch.cat([enc.mask[0], torch.ones(1, dtype=torch.int64)]))
    # the duration vector is both the global conditioning and the last cross-attention token
    assert torch.equal(un["encoder_hidden_states"][0, -1], un["global_hidden_states"][0])
    assert un["encoder_hidden_states"].abs().sum() > 0
