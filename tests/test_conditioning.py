import zlib

import pytest
import torch

from synth.conditioning import (
    EncodingCache, add_at_tokens, build_conditioning, combine_guidance, contrast_direction,
    feature_direction, mix_embeddings, normalized_weights,
)
from synth.encoders import Encoded, mean_pool
from synth.sae import random_sae
from synth.state import Contrast, PromptSlot, SynthState

T, D = 16, 8


def fake_encode(texts):
    """Deterministic per text: len(text)+1 real tokens (the +1 is EOS), zeros at pads."""
    hs, ms = [], []
    for t in texts:
        g = torch.Generator().manual_seed(zlib.crc32(t.encode()))
        n = min(len(t) + 1, T)
        m = torch.zeros(T, dtype=torch.int64)
        m[:n] = 1
        hs.append(torch.randn(T, D, generator=g) * m[:, None])
        ms.append(m)
    h, m = torch.stack(hs), torch.stack(ms)
    return Encoded(hidden=h, mask=m, pooled=mean_pool(h, m))


def test_mix_embeddings_over_union_of_masks():
    enc = fake_encode(["ab", "abcdef"])  # 3 and 7 real tokens
    w = torch.tensor([3.0, 1.0])
    h, m = mix_embeddings(enc.hidden, enc.mask, w)
    assert m.tolist() == [1] * 7 + [0] * (T - 7)
    # where both have tokens: weighted mean; where only the long one does: exactly it; pads: zero
    torch.testing.assert_close(h[:3], (3 * enc.hidden[0, :3] + enc.hidden[1, :3]) / 4)
    torch.testing.assert_close(h[3:7], enc.hidden[1, 3:7])
    assert torch.equal(h[7:], torch.zeros(T - 7, D))
    # weights are relative
    h2, _ = mix_embeddings(enc.hidden, enc.mask, w * 10)
    torch.testing.assert_close(h2, h)
    # one prompt: itself
    h1, m1 = mix_embeddings(enc.hidden[:1], enc.mask[:1], torch.tensor([0.3]))
    assert torch.equal(h1, enc.hidden[0]) and torch.equal(m1, enc.mask[0])


def test_normalized_weights():
    assert normalized_weights(torch.tensor([1.0, 3.0])).tolist() == [0.25, 0.75]
    with pytest.raises(ValueError):
        normalized_weights(torch.tensor([0.0, 0.0]))


def test_feature_direction_exact():
    W = torch.randn(10, D)
    scale = torch.rand(10) + 0.5
    delta = feature_direction(W, {2: 1.5, 7: -0.5, 4: 0.0}, scale)
    expected = 1.5 * scale[2] * W[2] + (-0.5) * scale[7] * W[7]
    torch.testing.assert_close(delta, expected, rtol=0, atol=1e-6)
    assert torch.equal(feature_direction(W, {}, scale), torch.zeros(D))
    with pytest.raises(ValueError, match="12"):
        feature_direction(W, {12: 1.0}, scale)


def test_steering_only_at_non_padding_tokens():
    enc = fake_encode(["abc", "a"])
    delta = torch.randn(D)
    out = add_at_tokens(enc.hidden, enc.mask, delta)
    real = enc.mask.bool()
    torch.testing.assert_close(out[real], enc.hidden[real] + delta, rtol=0, atol=1e-6)
    assert torch.equal(out[~real], enc.hidden[~real])  # pads untouched, bit for bit
    assert torch.equal(out[~real], torch.zeros_like(out[~real]))


def test_combine_guidance_formula():
    g = torch.Generator().manual_seed(0)
    u, c1, c2, s1, s2 = (torch.randn(2, 4, 5, generator=g) for _ in range(5))
    out = combine_guidance(u, [c1, c2], [0.25, 0.75], 7.0, steered=[s1, s2], gain=2.0)
    expected = u + 7.0 * (0.25 * (c1 - u) + 0.75 * (c2 - u)) + 2.0 * (0.25 * (s1 - c1) + 0.75 * (s2 - c2))
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    # one prompt, no steering: diffusers' rule bit for bit
    assert torch.equal(combine_guidance(u, [c1], [1.0], 7.0), u + 7.0 * (c1 - u))
    # guidance off (no unconditional branch)
    assert torch.equal(combine_guidance(None, [c1], [1.0], 1.0), c1)
    torch.testing.assert_close(combine_guidance(None, [c1, c2], [0.5, 0.5], 1.0), 0.5 * c1 + 0.5 * c2)
    # steering with gain 0 changes nothing
    assert torch.equal(combine_guidance(u, [c1], [1.0], 7.0, steered=[s1], gain=0.0), u + 7.0 * (c1 - u))


def test_contrast_direction():
    a, b = torch.randn(D), torch.randn(D)
    torch.testing.assert_close(contrast_direction(a, b, 2.0), 2.0 * (a - b))


def test_cache_never_reencodes():
    calls = []

    def enc(texts):
        calls.append(list(texts))
        return fake_encode(texts)

    cache = EncodingCache(enc, maxsize=3)
    e1 = cache.encode(["a", "b", "a"])
    assert calls == [["a", "b"]] and cache.misses == 2
    e2 = cache.encode(["b", "c"])
    assert calls[-1] == ["c"] and cache.misses == 3
    assert torch.equal(e2.hidden[0], e1.hidden[1])
    cache.encode(["a", "b", "c"])
    assert len(calls) == 2  # all cached
    cache.encode(["d"])  # evicts the least recently used ("a")
    assert "a" not in cache and len(cache) == 3
    cache.encode(["a"])
    assert calls[-1] == ["a"]


def _state(**kw):
    base = dict(prompts=[PromptSlot("warm pad", 1.0)])
    base.update(kw)
    return SynthState(**base)


def test_build_conditioning_embedding_steering():
    sae = random_sae(D, 32, seed=1)
    plain = build_conditioning(_state(), fake_encode, sae)
    steered = build_conditioning(_state(features={5: 2.0}, steering_gain=1.5), fake_encode, sae)
    delta = 2.0 * sae.W_dec[5].detach()
    real = plain.mask.bool()
    torch.testing.assert_close(steered.hidden[real], plain.hidden[real] + 1.5 * delta, rtol=0, atol=1e-5)
    assert torch.equal(steered.hidden[~real], plain.hidden[~real])
    assert steered.steered is None and steered.gain == 0.0
    # feature_scale multiplies: strengths are in units of feature_scale
    sae.metadata["feature_scale"] = [3.0] * 32
    scaled = build_conditioning(_state(features={5: 2.0}), fake_encode, sae)
    torch.testing.assert_close(scaled.delta, 3.0 * delta, rtol=0, atol=1e-5)


def test_build_conditioning_guidance_steering_and_mix():
    sae = random_sae(D, 32, seed=1)
    st = _state(prompts=[PromptSlot("warm pad", 1.0), PromptSlot("bells", 3.0)], features={1: 1.0},
                steering_mode="guidance", steering_gain=4.0, mix_mode="guidance")
    c = build_conditioning(st, fake_encode, sae)
    enc = fake_encode(["warm pad", "bells"])
    assert c.branches == 2 and c.weights == (0.25, 0.75) and c.gain == 4.0
    assert torch.equal(c.hidden, enc.hidden)  # branches stay in distribution
    torch.testing.assert_close(c.steered, add_at_tokens(enc.hidden, enc.mask, sae.W_dec[1].detach()))


def test_contrast_without_sae_and_external_delta():
    st = _state(contrasts={"x": Contrast("loud", "quiet", 2.0)})
    c = build_conditioning(st, fake_encode)
    p = fake_encode(["loud", "quiet"]).pooled
    torch.testing.assert_close(c.delta, 2.0 * (p[0] - p[1]))
    ext = torch.randn(D)
    c2 = build_conditioning(_state(), fake_encode, extra_delta=ext)
    torch.testing.assert_close(c2.delta, ext)
    with pytest.raises(ValueError, match="no SAE"):
        build_conditioning(_state(features={1: 1.0}), fake_encode)


def test_no_active_prompt_uses_empty_prompt():
    c = build_conditioning(SynthState(prompts=[PromptSlot("x", 0.0)]), fake_encode)
    assert int(c.mask.sum()) == 1  # the empty prompt: just its end token
