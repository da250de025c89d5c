"""SparseAutoencoder math and the SAELens folder format."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from synth.sae import SAEFileError, SparseAutoencoder, load_sae, random_sae, save_sae


def _trained_like(arch="topk", d_in=12, d_sae=48, k=4, seed=0):
    sae = random_sae(d_in, d_sae, k=k, seed=seed)
    sae.arch = arch
    with torch.no_grad():
        sae.b_enc.copy_(torch.linspace(-0.1, 0.1, d_sae))
        sae.b_dec.copy_(torch.linspace(0, 1, d_in))
        sae.threshold.fill_(0.2)
    sae.metadata.update(encoder="tiny-t5", corpus_hash="abc", feature_scale=[0.5] * d_sae)
    return sae


def test_random_sae_is_tied_unit_norm_and_deterministic():
    a, b, c = random_sae(8, 32, k=4, seed=1), random_sae(8, 32, k=4, seed=1), random_sae(8, 32, k=4, seed=2)
    assert torch.equal(a.W_dec, b.W_dec) and not torch.equal(a.W_dec, c.W_dec)
    assert torch.allclose(a.W_dec.norm(dim=1), torch.ones(32))
    assert torch.equal(a.W_enc, a.W_dec.T)


def test_topk_encode_has_exactly_k_nonneg_codes_and_decode_shape():
    sae = random_sae(16, 64, k=5, seed=0)
    x = torch.randn(10, 16) * 3
    codes = sae.encode(x)
    assert codes.shape == (10, 64)
    assert (codes >= 0).all()
    assert ((codes > 0).sum(1) <= 5).all() and ((codes > 0).sum(1) == 5).float().mean() > 0.8
    # the k kept are the largest pre-activations
    pre = torch.relu(sae.pre_activation(x))
    assert torch.allclose(codes.sum(1), pre.topk(5, dim=1).values.sum(1))
    assert sae.decode(codes).shape == (10, 16)
    assert sae.encode(x.reshape(2, 5, 16)).shape == (2, 5, 64)


def test_batchtopk_uses_threshold():
    sae = _trained_like("batchtopk")
    x = torch.randn(6, 12)
    pre = torch.relu(sae.pre_activation(x))
    assert torch.equal(sae.encode(x), pre * (pre > 0.2))


def test_feature_scale_default_and_metadata():
    sae = random_sae(4, 8)
    assert torch.equal(sae.feature_scale(), torch.ones(8))
    sae.metadata["feature_scale"] = [float(i) for i in range(8)]
    assert torch.equal(sae.feature_scale(), torch.arange(8.0))


def test_wrong_width_raises():
    sae = random_sae(4, 8, k=2)
    with pytest.raises(ValueError, match="width 4"):
        sae.encode(torch.zeros(1, 5))
    with pytest.raises(ValueError, match="width 8"):
        sae.decode(torch.zeros(1, 7))
    with pytest.raises(ValueError, match="unknown SAE architecture"):
        SparseAutoencoder(4, 8, arch="gated")
    with pytest.raises(ValueError, match="k must be"):
        SparseAutoencoder(4, 8, k=9)


@pytest.mark.parametrize("arch,saelens", [("topk", "topk"), ("relu-l1", "standard"), ("batchtopk", "jumprelu")])
def test_round_trip_saelens_layout(tmp_path, arch, saelens):
    sae = _trained_like(arch)
    save_sae(sae, tmp_path / "sae")
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    assert cfg["d_in"] == 12 and cfg["d_sae"] == 48 and cfg["k"] == 4
    assert cfg["architecture"] == saelens and cfg["dtype"] == "float32"
    assert cfg["apply_b_dec_to_input"] is True and cfg["normalize_activations"] == "none"
    assert cfg["metadata"]["arch"] == arch and cfg["metadata"]["corpus_hash"] == "abc"
    tensors = load_file(str(tmp_path / "sae" / "sae_weights.safetensors"))
    assert tensors["W_enc"].shape == (12, 48) and tensors["W_dec"].shape == (48, 12)
    assert ("threshold" in tensors) == (arch == "batchtopk")
    back = load_sae(tmp_path / "sae")
    assert back.arch == arch and back.k == 4
    x = torch.randn(7, 12)
    assert torch.allclose(back.encode(x), sae.encode(x)) and torch.allclose(back(x), sae(x))
    assert torch.equal(back.feature_scale(), torch.full((48,), 0.5))


def test_save_replaces_existing_folder_and_leaves_no_temp(tmp_path):
    save_sae(random_sae(4, 8, seed=0), tmp_path / "sae")
    (tmp_path / "sae" / "metrics.json").write_text("{}")
    second = random_sae(4, 8, seed=1)
    save_sae(second, tmp_path / "sae")
    assert torch.equal(load_sae(tmp_path / "sae").W_dec, second.W_dec)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sae"]
    assert (tmp_path / "sae" / "metrics.json").read_text() == "{}"  # files kept beside the weights survive


def test_half_precision_sae_is_small_on_disk_and_float32_on_the_cpu(tmp_path):
    sae = random_sae(4, 8, seed=0)
    save_sae(sae.half(), tmp_path / "sae")
    loaded = load_sae(tmp_path / "sae")
    assert json.loads((tmp_path / "sae" / "cfg.json").read_text())["dtype"] == "float16"
    assert loaded.W_dec.dtype == torch.float32 and torch.allclose(loaded.W_dec, sae.W_dec.float(), atol=1e-3)


def test_plain_saelens_folder_without_our_metadata_loads(tmp_path):
    d = tmp_path / "ext"
    d.mkdir()
    save_file({"W_enc": torch.randn(3, 6), "b_enc": torch.zeros(6), "W_dec": torch.randn(6, 3), "b_dec": torch.zeros(3)},
              str(d / "sae_weights.safetensors"))
    (d / "cfg.json").write_text(json.dumps({"d_in": 3, "d_sae": 6, "architecture": "topk", "k": 2}))
    sae = load_sae(d)
    assert sae.arch == "topk" and sae.k == 2 and torch.equal(sae.feature_scale(), torch.ones(6))


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(SAEFileError, match="not found"):
        load_sae(tmp_path / "missing")
    save_sae(_trained_like(), tmp_path / "sae")
    w = tmp_path / "sae" / "sae_weights.safetensors"
    cfg = tmp_path / "sae" / "cfg.json"
    good_w, good_cfg = w.read_bytes(), cfg.read_text()

    w.write_bytes(good_w[: len(good_w) // 2])
    with pytest.raises(SAEFileError, match="sae_weights.safetensors"):
        load_sae(tmp_path / "sae")
    w.write_bytes(good_w[:5])
    with pytest.raises(SAEFileError, match="sae_weights.safetensors"):
        load_sae(tmp_path / "sae")
    w.write_bytes(good_w)

    cfg.write_text(good_cfg.replace('"d_sae": 48', '"d_sae": 40'))
    with pytest.raises(SAEFileError, match=r"shape .*sae_weights"):
        load_sae(tmp_path / "sae")
    cfg.write_text(good_cfg[:20])
    with pytest.raises(SAEFileError, match="cfg.json"):
        load_sae(tmp_path / "sae")
    cfg.write_text(good_cfg)

    w.unlink()
    with pytest.raises(SAEFileError, match="weights missing"):
        load_sae(tmp_path / "sae")
    assert issubclass(SAEFileError, ValueError)


def test_load_rejects_bad_feature_scale_and_missing_tensor(tmp_path):
    save_sae(_trained_like(), tmp_path / "sae")
    cfg_path = tmp_path / "sae" / "cfg.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["metadata"]["feature_scale"] = [1.0] * 3
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(SAEFileError, match="feature_scale has 3 entries"):
        load_sae(tmp_path / "sae")
    w = tmp_path / "sae" / "sae_weights.safetensors"
    t = load_file(str(w))
    del t["b_dec"]
    save_file(t, str(w))
    cfg["metadata"].pop("feature_scale")
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(SAEFileError, match="lack tensor.*b_dec"):
        load_sae(tmp_path / "sae")


def test_saved_folder_is_not_private(tmp_path):
    import os

    mask = os.umask(0)
    os.umask(mask)
    save_sae(random_sae(4, 8), tmp_path / "sae")
    assert (tmp_path / "sae").stat().st_mode & 0o777 == 0o777 & ~mask
    for f in ("cfg.json", "sae_weights.safetensors"):
        assert (tmp_path / "sae" / f).stat().st_mode & 0o777 == 0o666 & ~mask
