"""Our denoising loop against diffusers' own StableAudioPipeline.__call__ on the tiny pipeline."""
import functools
import math

import pytest
import torch

from synth.backends import load_backend
from synth.conditioning import EncodingCache, build_conditioning
from synth.denoise import denoise, generators, latent_frames
from synth.encoders import TextEncoder
from synth.state import PromptSlot, SynthState

STEPS = 6


@pytest.fixture(autouse=True)
def one_thread():
    # The tiny model runs fastest single-threaded; both sides of each comparison run alike.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@functools.lru_cache(maxsize=1)
def tiny():
    b = load_backend("tiny", device="cpu")
    enc = TextEncoder(b.pipe.text_encoder, b.pipe.tokenizer, "tiny", max_length=128, device="cpu", dtype=torch.float32)
    return b.pipe, EncodingCache(enc.encode)


def cond(state):
    pipe, cache = tiny()
    return build_conditioning(state, cache.encode)


def state(**kw):
    base = dict(prompts=[PromptSlot("warm analog pad", 1.0)], steps=STEPS)
    base.update(kw)
    return SynthState(**base)


@pytest.mark.parametrize("cfg", [7.0, 1.0])
def test_identical_to_pipeline_call_without_steering(cfg):
    pipe, _ = tiny()
    seeds = [3, 11]
    c = cond(state())
    ours = denoise(pipe, [c, c], seeds, 2.0, STEPS, cfg, window="full")
    ref = pipe(prompt=["warm analog pad"] * 2, audio_end_in_s=2.0, num_inference_steps=STEPS,
               guidance_scale=cfg, generator=generators(seeds), output_type="pt").audios
    assert ours.shape == ref.shape == (2, 2, int(2.0 * 44100))
    assert torch.equal(ours, ref)


def test_guidance_modes_reduce_to_plain_call():
    """Guidance mixing of one prompt and guidance steering at gain 0 are the plain pipeline too."""
    pipe, _ = tiny()
    plain = denoise(pipe, [cond(state())], [5], 1.0, STEPS, 7.0, window="full")
    mixed = denoise(pipe, [cond(state(mix_mode="guidance"))], [5], 1.0, STEPS, 7.0, window="full")
    no_gain = cond(state(steering_mode="guidance", steering_gain=0.0,
                         contrasts={"c": {"positive": "loud", "negative": "soft", "strength": 3.0}}))
    assert no_gain.steered is None
    assert torch.equal(plain, mixed)
    assert torch.equal(plain, denoise(pipe, [no_gain], [5], 1.0, STEPS, 7.0, window="full"))


def test_guidance_steering_changes_audio_and_scales_with_gain():
    pipe, _ = tiny()
    con = {"c": {"positive": "loud drums", "negative": "soft strings", "strength": 3.0}}
    base = denoise(pipe, [cond(state())], [1], 1.0, STEPS, 7.0)
    w1 = denoise(pipe, [cond(state(contrasts=con, steering_mode="guidance", steering_gain=1.0))], [1], 1.0, STEPS, 7.0)
    w4 = denoise(pipe, [cond(state(contrasts=con, steering_mode="guidance", steering_gain=4.0))], [1], 1.0, STEPS, 7.0)
    d1, d4 = (w1 - base).abs().mean().item(), (w4 - base).abs().mean().item()
    assert d1 > 0 and d4 > d1


def test_guidance_mixing_differs_from_embedding_mixing():
    pipe, _ = tiny()
    prompts = [PromptSlot("warm analog pad", 1.0), PromptSlot("metal percussion", 1.0)]
    emb = denoise(pipe, [cond(state(prompts=prompts))], [2], 1.0, STEPS, 7.0)
    gui = denoise(pipe, [cond(state(prompts=prompts, mix_mode="guidance"))], [2], 1.0, STEPS, 7.0)
    assert emb.shape == gui.shape and not torch.equal(emb, gui)


@pytest.mark.parametrize("seconds", [1.0, 4.0, 30.0])
def test_clip_window_length(seconds):
    pipe, _ = tiny()
    frames = latent_frames(pipe, seconds, "clip")
    assert frames == math.ceil(seconds * 44100 / 2048) and latent_frames(pipe, seconds, "full") == 1024
    out = denoise(pipe, [cond(state())], [0], seconds, 2, 7.0, window="clip")
    assert out.shape == (1, 2, int(seconds * 44100)) and torch.isfinite(out).all()


def test_batched_seeds_match_single_renders():
    pipe, _ = tiny()
    c = cond(state())
    batch = denoise(pipe, [c] * 3, [4, 5, 6], 1.0, STEPS, 7.0)
    for i, s in enumerate([4, 5, 6]):
        single = denoise(pipe, [c], [s], 1.0, STEPS, 7.0)[0]
        torch.testing.assert_close(batch[i], single, rtol=0, atol=1e-5)
    assert not torch.allclose(batch[0], batch[1])


def test_rejects_mismatched_batches_and_lengths():
    pipe, _ = tiny()
    a, b = cond(state()), cond(state(mix_mode="guidance", prompts=[PromptSlot("x", 1), PromptSlot("y", 1)]))
    with pytest.raises(ValueError):
        denoise(pipe, [a, b], [0, 1], 1.0, 2, 7.0)
    with pytest.raises(ValueError, match="48"):
        denoise(pipe, [a], [0], 48.0, 2, 7.0)
