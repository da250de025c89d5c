"""`analysis atlas` on small synthetic activations and a random SAE."""
import json

import numpy as np
import pytest
import scipy.sparse as sp

from analysis.sae.atlas import build_atlas, lift, run
from test_geometry import Args, make_activations, make_sae


def test_atlas_end_to_end(tmp_path):
    acts, sae, out = make_activations(tmp_path / "acts"), make_sae(tmp_path / "sae"), tmp_path / "atlas"
    corpus = acts / "corpus.jsonl"
    assert run(Args(sae=str(sae), activations=str(acts), corpus=str(corpus), out=str(out), top=5, list=10)) == 0
    atlas = json.loads((out / "atlas.json").read_text())
    assert atlas["correlational"] is True and atlas["d_sae"] == 64 and atlas["n_prompts"] == 251   # 1 invalid row left out
    feats = atlas["features"]
    assert [f["id"] for f in feats] == list(range(64))
    assert sum(f["n_active"] for f in feats) == 251 * 8                                  # topk: k=8 codes per prompt
    for f in feats:
        acts_top = [t["activation"] for t in f["top"]]
        assert acts_top == sorted(acts_top, reverse=True) and len(acts_top) == min(5, f["n_active"])
        assert f["density"] == pytest.approx(f["n_active"] / 251)
        if f["n_active"]:
            assert sum(f["composition"]["source"].values()) <= f["n_active"]
    ranks = atlas["rankings"]
    dens = {f["id"]: f["density"] for f in feats}
    assert dens[ranks["densest"][0]] == max(dens.values())
    assert dens[ranks["rarest"][0]] == min(v for v in dens.values() if v > 0)
    index = (out / "index.md").read_text()
    assert "Correlational" in index and "Densest" in index and "Rarest" in index and "Most selective" in index
    assert (out / "features" / "features_00000-00255.md").read_text().count("## Feature ") == 64


def test_lift_finds_the_group_a_feature_fires_for():
    rows = [{"source": "s", "labels": {"emotion": "sad" if i < 60 else "happy"}} for i in range(120)]
    codes = np.zeros((120, 2), dtype=np.float32)
    codes[:60:6, 0] = 1.0          # feature 0: only in "sad" rows, 10 of 60 -> rate 1/6, density 1/12 -> lift 2
    codes[::2, 1] = 1.0            # feature 1: everywhere, every other row -> lift 1
    sel, group = lift(sp.csr_matrix(codes), {"emotion:sad": np.arange(60), "emotion:happy": np.arange(60, 120),
                                             "emotion:tiny": np.arange(5)})
    assert sel[0] == pytest.approx(2.0) and group[0] == "emotion:sad"
    assert sel[1] == pytest.approx(1.0)
    atlas = build_atlas(sp.csr_matrix(codes), rows, top=3)
    assert atlas["features"][0]["composition"]["emotion"] == {"sad": 10}


def test_atlas_rejects_a_different_corpus(tmp_path):
    acts, sae = make_activations(tmp_path / "acts"), make_sae(tmp_path / "sae")
    other = tmp_path / "other.jsonl"
    other.write_text('{"text": "x", "source": "s", "labels": {}}\n')
    (acts / "index.json").write_text((acts / "index.json").read_text().replace('"x"', '"' + "0" * 64 + '"'))
    with pytest.raises(ValueError, match="is not the corpus"):
        run(Args(sae=str(sae), activations=str(acts), corpus=str(other), out=str(tmp_path / "o"), top=5, list=5))
