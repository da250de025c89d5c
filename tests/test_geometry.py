"""`analysis geometry` on small synthetic activations and a random SAE."""
import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from analysis.sae.geometry import analyse, n_features_for_variance, run
from analysis.sae.codes import encode_codes
from synth.sae import random_sae, save_sae

D, D_SAE = 16, 64


def make_activations(folder, structured=True, per_group=30, seed=0, traditions=("A", "B", "C", "D"),
                     emotions=("happy", "sad", "calm")):
    """An activations folder in `analysis encode`'s layout: traditions, a `music` reference, emotions,
    generic captions and one invalid row. With structured=False every label is noise."""
    rng = np.random.default_rng(seed)
    rows, emb = [], []
    centers = {name: rng.normal(0, 1, D) * 2 for name in (*traditions, *emotions)}
    for name in traditions:
        for i in range(per_group):
            rows.append({"text": f"{name} music {i}", "source": "probe-tradition", "labels": {"tradition": name}})
            emb.append((centers[name] if structured else 0) + rng.normal(0, 1, D))
    rows.append({"text": "music", "source": "probe-reference", "labels": {"reference": "music"}})
    emb.append(centers[traditions[0]] * 0.8 + rng.normal(0, 0.1, D))   # the reference sits near tradition A
    for name in emotions:
        for i in range(per_group):
            rows.append({"text": f"{name} song {i}", "source": "probe-emotion", "labels": {"emotion": name}})
            emb.append((centers[name] if structured else 0) + rng.normal(0, 1, D))
    for i in range(40):
        rows.append({"text": f"a dog barks {i}", "source": "audiocaps" if i % 2 else "clotho", "labels": {}})
        emb.append(rng.normal(0, 1, D))
    rows.append({"text": "", "source": "clotho", "labels": {}})
    emb.append(np.zeros(D))
    valid = np.ones(len(rows), dtype=np.uint8)
    valid[-1] = 0
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": np.asarray(emb, dtype=np.float32), "valid": valid}, str(folder / "embeddings.safetensors"))
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "index.json").write_text(json.dumps({"encoder": "synthetic", "dim": D, "n_rows": len(rows),
                                                   "n_refused": 0, "corpus_sha256": "x", "pooling": "mean"}))
    return folder


def make_sae(folder, d_in=D, seed=0):
    save_sae(random_sae(d_in, D_SAE, k=8, seed=seed), folder)
    return folder


class Args:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_geometry_end_to_end_on_structured_data(tmp_path):
    acts, sae, out = make_activations(tmp_path / "acts"), make_sae(tmp_path / "sae"), tmp_path / "geo"
    assert run(Args(sae=str(sae), activations=str(acts), out=str(out), permutations=200, reference="music", seed=0)) == 0
    geo = json.loads((out / "geometry.json").read_text())
    assert set(geo) == {"permutation_p", "closest_pairs", "most_distant_pairs", "n_features_90pct", "default_bias"}
    assert geo["permutation_p"] == pytest.approx(1 / 201)
    assert 1 <= geo["n_features_90pct"] <= D_SAE
    assert [b["tradition"] for b in geo["default_bias"]][0] == "A"       # the reference was placed near A
    assert len(geo["default_bias"]) == 4 and len(geo["closest_pairs"]) == 5 == len(geo["most_distant_pairs"])
    d_close, d_far = geo["closest_pairs"][0]["distance"], geo["most_distant_pairs"][0]["distance"]
    assert d_close <= d_far
    report = (out / "report.md").read_text()
    assert "lexical proximity" in report and "not cultural importance" in report
    assert (out / "distance_heatmap.png").exists() and (out / "distances.csv").read_text().count("\n") == 5


def test_permutation_test_finds_no_structure_in_noise(tmp_path):
    make_activations(tmp_path / "acts", structured=False, seed=3)
    from analysis.sae.activations import load_activations
    from analysis.sae.codes import label_rows

    acts = load_activations(tmp_path / "acts")
    idx, labels = label_rows(acts.rows, "tradition")
    codes = encode_codes(random_sae(D, D_SAE, k=8), acts.embeddings[idx]).astype(np.float64)
    result, details = analyse(codes, labels, np.ones(D_SAE), n_permutations=200)
    assert result["permutation_p"] > 0.05
    assert details["permutation"]["observed"] < details["permutation"]["null_max"]


def test_n_features_for_variance_counts_the_dominant_features():
    centroids = np.zeros((3, 10))
    centroids[:, 0] = [0, 10, -10]    # nearly all between-group variance in feature 0
    centroids[:, 1] = [0, 1, -1]
    n, per_feature = n_features_for_variance(centroids, np.array([5.0, 5.0, 5.0]))
    assert n == 1 and per_feature[0] > per_feature[1] > 0
    n, _ = n_features_for_variance(centroids, np.array([5.0, 5.0, 5.0]), share=0.999)
    assert n == 2


def test_geometry_errors_are_clear(tmp_path):
    acts, out = make_activations(tmp_path / "acts"), tmp_path / "geo"
    wrong = make_sae(tmp_path / "sae8", d_in=8)
    with pytest.raises(ValueError, match="8-dim"):
        run(Args(sae=str(wrong), activations=str(acts), out=str(out), permutations=10, reference="music", seed=0))
    sae = make_sae(tmp_path / "sae")
    with pytest.raises(ValueError, match="reference prompt 'silence'"):
        run(Args(sae=str(sae), activations=str(acts), out=str(out), permutations=10, reference="silence", seed=0))
