"""`analysis probes` on small synthetic activations and a random SAE."""
import json

import numpy as np
import pytest

from analysis.sae.probes import probe_accuracy, run, selectivity, within_between_cosine
from test_geometry import Args, make_activations, make_sae


def test_probes_end_to_end_separates_structured_emotions(tmp_path):
    acts, sae, out = make_activations(tmp_path / "acts"), make_sae(tmp_path / "sae"), tmp_path / "probes"
    assert run(Args(sae=str(sae), activations=str(acts), out=str(out), folds=5, seed=0)) == 0
    res = json.loads((out / "probes.json").read_text())
    assert res["n_prompts"] == 90 and res["emotions"] == {"calm": 30, "happy": 30, "sad": 30}
    for space in ("raw", "sae"):
        assert res["cosine"][space]["within"] > res["cosine"][space]["between"]
        probe = res["probe"][space]
        assert probe["accuracy_mean"] > 0.8 and probe["accuracy_sd"] >= 0 and probe["folds"] == 5
        assert probe["chance"] == pytest.approx(1 / 3)
    sel = res["selectivity"]
    assert 0 <= sel["n_features_selective"] <= sel["n_features_active"] <= 64
    assert all(t["selectivity"] >= 1.0 for t in sel["top"])
    assert (out / "selectivity_heatmap.png").exists() and "correlational" in (out / "report.md").read_text()
    assert (out / "selectivity.csv").read_text().count("\n") == 65


def test_probe_is_at_chance_on_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 10))
    labels = ["a", "b", "c"] * 40
    acc = probe_accuracy(x, labels, folds=4)
    assert abs(acc["accuracy_mean"] - 1 / 3) < 0.2
    cos = within_between_cosine(x, labels)
    assert abs(cos["difference"]) < 0.05


def test_selectivity_definition():
    codes = np.zeros((6, 3))
    codes[:2, 0] = 1.0           # feature 0 fires only for emotion a: rates (1, 0, 0) -> 3
    codes[:, 1] = 1.0            # feature 1 fires everywhere -> 1
    rates, sel = selectivity(codes, ["a", "a", "b", "b", "c", "c"], ["a", "b", "c"])
    assert sel[0] == pytest.approx(3.0) and sel[1] == pytest.approx(1.0) and np.isnan(sel[2])
    assert rates[:, 0].tolist() == [1.0, 0.0, 0.0]


def test_probe_needs_two_classes():
    with pytest.raises(ValueError, match="at least 2 classes"):
        probe_accuracy(np.zeros((4, 2)), ["a"] * 4)
