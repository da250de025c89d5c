"""bench/sae_train.py runs end to end on a small activations folder and reports both speeds."""
import importlib.util
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from analysis.plots import write_json
from analysis.sae.corpus import write_jsonl

BENCH = Path(__file__).resolve().parents[1] / "bench" / "sae_train.py"


def test_bench_prints_both_speeds_and_ratio(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n, d = 600, 16
    acts = tmp_path / "acts"
    acts.mkdir()
    save_file({"embeddings": rng.standard_normal((n, d)).astype(np.float32), "valid": np.ones(n, np.uint8)},
              str(acts / "embeddings.safetensors"))
    write_jsonl([{"text": str(i), "source": "s", "labels": {}} for i in range(n)], acts / "corpus.jsonl")
    write_json(acts / "index.json", {"encoder": "synthetic", "dim": d, "n_rows": n, "n_refused": 0,
                                     "corpus_sha256": "x", "pooling": "mean"})
    spec = importlib.util.spec_from_file_location("bench_sae_train", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "bench.json"
    assert mod.main(["--activations", str(acts), "--expansion", "4", "--k", "4", "--epochs", "1",
                     "--batch-size", "64", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dense:" in printed and "sparse:" in printed and "speedup" in printed
    res = json.loads(out.read_text())
    assert res["speedup"] == res["sparse"]["samples_per_second"] / res["dense"]["samples_per_second"]
    assert abs(res["sparse"]["fvu"] - res["dense"]["fvu"]) < 0.05  # same algorithm, same init
