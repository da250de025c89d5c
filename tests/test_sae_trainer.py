"""SAE trainer on synthetic sparse data: correctness of the sparse kernels, metrics, files."""
import argparse
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from analysis.sae import cli as cli_sae
from analysis.sae.activations import Activations
from analysis.sae.trainer import SAETrainer, TrainConfig, evaluate, feature_scales, fvu, train_and_save, train_sae
from synth.sae import load_sae, random_sae


def sparse_data(n=1500, d_in=16, n_atoms=48, active=3, seed=0):
    """x = sparse non-negative combination of unit atoms + offset + small noise."""
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((n_atoms, d_in))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    codes = np.zeros((n, n_atoms))
    for i in range(n):
        codes[i, rng.choice(n_atoms, active, replace=False)] = rng.uniform(0.5, 2.0, active)
    x = codes @ atoms + 0.3 + 0.01 * rng.standard_normal((n, d_in))
    return x.astype(np.float32)


BASE = TrainConfig(arch="topk", expansion=4, k=4, epochs=6, batch_size=64, lr=3e-3, progress=False, device="cpu")


@pytest.fixture(scope="module")
def data():
    return sparse_data()


def test_fvu_definition():
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    assert fvu(x, x) == 0.0
    assert fvu(x, x.mean(0).expand_as(x)) == pytest.approx(1.0)
    assert fvu(x, torch.zeros_like(x)) == pytest.approx(float(x.pow(2).sum() / (x - x.mean(0)).pow(2).sum()))


def test_tied_init_and_data_mean(data):
    x = torch.tensor(data)
    tr = SAETrainer(16, BASE, x.mean(0), len(x))
    assert torch.equal(tr.p.enc, tr.p.W_dec)  # W_enc = W_dec^T
    assert torch.allclose(tr.p.W_dec.norm(dim=1), torch.ones(64))
    assert torch.allclose(tr.p.b_dec, x.mean(0))


@pytest.mark.parametrize("arch", ["topk", "batchtopk"])
def test_sparse_step_matches_dense_step(data, arch):
    """The gather/embedding_bag path computes the same update as the plain dense loop."""
    x = torch.tensor(data)
    cfg = replace(BASE, arch=arch)
    a = SAETrainer(16, replace(cfg, sparse=True), x.mean(0), len(x))
    b = SAETrainer(16, replace(cfg, sparse=False), x.mean(0), len(x))
    b.p.load_state_dict(a.p.state_dict())
    # plain SGD: parameter differences are gradient differences (Adam's tiny eps would amplify float noise)
    a.opt, b.opt = (torch.optim.SGD(t.p.parameters(), lr=0.05) for t in (a, b))
    for i in range(3):
        xb = x[i * 64 : (i + 1) * 64]
        oa, ob = a.step(xb, 0.0), b.step(xb, 0.0)
        assert oa["loss"] == pytest.approx(ob["loss"], rel=1e-4)
    for (n, pa), (_, pb) in zip(a.p.named_parameters(), b.p.named_parameters()):
        assert torch.allclose(pa, pb, atol=1e-5), n


@pytest.mark.parametrize("aux_relu", [True, False])
def test_auxk_runs_on_dead_latents_and_matches_dense(data, aux_relu):
    x = torch.tensor(data)
    cfg = replace(BASE, aux_window=0.0, aux_relu=aux_relu)  # silent at the last step counts as dead
    a = SAETrainer(16, replace(cfg, sparse=True), x.mean(0), len(x))
    b = SAETrainer(16, replace(cfg, sparse=False), x.mean(0), len(x))
    b.p.load_state_dict(a.p.state_dict())
    a.opt, b.opt = (torch.optim.SGD(t.p.parameters(), lr=0.05) for t in (a, b))
    a.step(x[:64], 0.0), b.step(x[:64], 0.0)
    oa, ob = a.step(x[64:128], 0.0), b.step(x[64:128], 0.0)
    assert oa["aux"] is not None and oa["aux"] == pytest.approx(ob["aux"], rel=1e-4)
    assert torch.allclose(a.p.enc, b.p.enc, atol=1e-5)


def test_topk_learns_and_reports(data):
    res = train_sae(data, BASE)
    m = res.metrics
    for key in ("fvu", "mse", "l0", "dead_fraction", "epochs", "samples_per_second", "history"):
        assert key in m
    assert m["epochs"] == 6 and len(m["history"]) == 6
    assert m["l0"] == pytest.approx(4.0) and m["l0_train"] == pytest.approx(4.0)
    first, last = m["history"][0]["fvu"], m["fvu"]
    assert last < 0.35 and last < 0.8 * first  # an untrained tied SAE leaves FVU above 1 here
    assert torch.allclose(res.sae.W_dec.norm(dim=1), torch.ones(64), atol=1e-5)
    assert m["n_val"] == 75 and m["n_train"] == 1425
    assert len(res.sae.metadata["feature_scale"]) == 64
    assert all(h["alive"] + round(h["dead_fraction"] * 64) == 64 for h in m["history"])


def test_batchtopk_threshold_gives_k_at_inference(data):
    res = train_sae(data, replace(BASE, arch="batchtopk"))
    assert res.sae.arch == "batchtopk" and float(res.sae.threshold[0]) > 0
    assert res.metrics["l0"] == pytest.approx(4.0, rel=0.25)
    assert res.metrics["fvu"] < 0.45


def test_relu_l1_schedule_and_inference_topk(data):
    cfg = replace(BASE, arch="relu-l1", epochs=6, mse_epochs=2, ramp_epochs=2, l1=1e-2)
    tr = SAETrainer(16, cfg, torch.zeros(16), 100)
    assert [tr.l1_coef(e) for e in (0, 1.9, 2, 3, 4, 5.5)] == pytest.approx([0, 0, 0, 5e-3, 1e-2, 1e-2])
    res = train_sae(data, cfg)
    m = res.metrics
    assert m["l0"] == pytest.approx(cfg.k)  # TopK@k at inference
    assert m["l0_train"] > cfg.k
    assert "fvu_train_activation" in m and m["fvu_train_activation"] < m["fvu"]
    # L1 switched on after the MSE-only epochs pushes the training L0 down
    hist = m["history"]
    assert hist[-1]["l0_train"] < hist[1]["l0_train"]
    assert [h["l1_coef"] for h in hist][:2] == [0.0, 0.0]


def test_lr_schedule():
    tr = SAETrainer(16, replace(BASE, lr=1e-3, lr_decay=0.25), torch.zeros(16), 100)
    assert [tr.lr_at(f) for f in (0.0, 0.5, 0.75, 0.875, 1.0)] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 0.0])
    tr.step(torch.randn(8, 16), epoch_pos=0.875 * BASE.epochs)
    assert tr.opt.param_groups[0]["lr"] == pytest.approx(5e-4)


def test_seed_determinism(data):
    a = train_sae(data[:400], replace(BASE, epochs=2))
    b = train_sae(data[:400], replace(BASE, epochs=2))
    c = train_sae(data[:400], replace(BASE, epochs=2, seed=1))
    assert torch.equal(a.sae.W_dec, b.sae.W_dec) and not torch.equal(a.sae.W_dec, c.sae.W_dec)


def test_feature_scales_mean_of_the_top_rows():
    sae = random_sae(4, 4, k=4, seed=0)
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(4))
        sae.W_dec.copy_(torch.eye(4))
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0], [3.0, 2.0, 0.0, 0.0], [0.0, 4.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0]])
    assert feature_scales(sae, x, top=2)[:2] == pytest.approx([4.0, 3.0])   # feature 0: mean(5, 3), not of 5, 3, 1
    scales = feature_scales(sae, x, batch_size=1)                              # top 20: every nonzero row, across batches
    assert scales[:2] == pytest.approx([3.0, 3.0])
    assert scales[2:] == pytest.approx([3.0, 3.0])  # never fire: the median of the alive ones
    assert evaluate(sae, x)["fvu"] == pytest.approx(0.0, abs=1e-6)


def test_bad_config_and_data():
    x = sparse_data(n=50)
    with pytest.raises(ValueError, match="k must be"):
        train_sae(x, replace(BASE, k=100))
    with pytest.raises(ValueError, match="learning rate"):
        train_sae(x, replace(BASE, lr=-1.0))
    with pytest.raises(ValueError, match="non-finite"):
        bad = x.copy()
        bad[3, 2] = np.nan
        train_sae(bad, BASE)
    with pytest.raises(ValueError, match="unknown SAE architecture"):
        train_sae(x, replace(BASE, arch="gated"))


def _acts(x):
    return Activations(embeddings=x, rows=[{"text": str(i), "source": "s", "labels": {}} for i in range(len(x))],
                       index={"encoder": "synthetic", "pooling": "mean", "corpus_sha256": "f00d", "n_rows": len(x)},
                       valid=np.ones(len(x), bool))


def test_train_and_save_files(data, tmp_path):
    out = tmp_path / "sae"
    train_and_save(_acts(data), replace(BASE, epochs=2), out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"fvu", "mse", "l0", "dead_fraction", "epochs", "samples_per_second", "history"} <= set(metrics)
    assert (out / "training_curves.png").stat().st_size > 1000
    sae = load_sae(out)
    assert sae.metadata["encoder"] == "synthetic" and sae.metadata["corpus_hash"] == "f00d"
    assert sae.metadata["pooling"] == "mean" and sae.feature_scale().shape == (64,)
    x = torch.tensor(data[:5])
    assert sae.encode(x).shape == (5, 64)


def test_cli_train_sweep_stability(tmp_path, capsys):
    from analysis.sae.encode import encode_corpus
    from analysis.sae.corpus import write_jsonl
    from synth.encoders import load_encoder

    texts = [f"{a} {b} {c}" for a in ("loud", "soft", "far", "near", "dull") for b in ("dog", "rain", "bell", "car")
             for c in ("at night", "indoors", "outside", "in a hall", "underwater")]
    write_jsonl([{"text": t, "source": "t", "labels": {}} for t in texts], tmp_path / "c.jsonl")
    encode_corpus(tmp_path / "c.jsonl", load_encoder("tiny", device="cpu"), tmp_path / "acts", progress=False)
    parser = argparse.ArgumentParser()
    cli_sae.register(parser.add_subparsers())
    common = ["--activations", str(tmp_path / "acts"), "--epochs", "2", "--batch-size", "32", "--quiet"]

    args = parser.parse_args(["train", *common, "--arch", "topk", "--expansion", "2", "--k", "4",
                              "--out", str(tmp_path / "sae")])
    assert args.func(args) == 0
    assert load_sae(tmp_path / "sae").d_sae == 64

    argv = ["sweep", *common, "--arch", "relu-l1", "--expansion", "2", "--k", "4", "--l1", "1e-3", "1e-2",
            "--out", str(tmp_path / "sweep")]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    table = json.loads((tmp_path / "sweep" / "sweep.json").read_text())["settings"]
    assert [r["l1"] for r in table] == [1e-3, 1e-2]
    assert all(r["l0"] == pytest.approx(4) and r["fvu"] is not None and "dead_fraction" in r for r in table)
    assert "| name |" in (tmp_path / "sweep" / "sweep.md").read_text()
    assert (tmp_path / "sweep" / "l0_vs_fvu.png").is_file()
    capsys.readouterr()
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    assert capsys.readouterr().out.count("skipped") == 2

    args = parser.parse_args(["stability", *common, "--expansion", "2", "--k", "4", "--seeds", "0", "1",
                              "--out", str(tmp_path / "stab")])
    assert args.func(args) == 0
    rep = json.loads((tmp_path / "stab" / "stability.json").read_text())
    assert rep["n_seeds"] == 2 and len(rep["pairs"]) == 1 and 0 <= rep["mean_fraction_matched"] <= 1
    assert (tmp_path / "stab" / "stability.png").is_file()
