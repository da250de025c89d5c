"""`analysis encode`: layout, row alignment, caching, resuming, refusal of non-finite rows."""
import argparse
import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from analysis.sae import cli as cli_sae
from analysis.sae.activations import ActivationsError, load_activations
from analysis.sae.corpus import file_sha256, write_jsonl
from analysis.sae.encode import encode_corpus
from synth.encoders import TINY_T5_DIM, TINY_ID, load_encoder

TEXTS = [f"{adj} {thing}" for adj in ("loud", "soft", "distant", "close", "metallic")
         for thing in ("dog barking", "rain falling", "piano chord", "engine idling", "bird song")]


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("tiny", device="cpu")


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    write_jsonl([{"text": t, "source": "test", "labels": {"i": i}} for i, t in enumerate(TEXTS)], path)
    return path


class Broken:
    """Wraps a real encoder: NaN rows for texts containing 'metallic'; optionally dies after n calls."""

    def __init__(self, enc, die_after=None):
        self.enc, self.name, self.dim, self.calls, self.die_after = enc, enc.name, enc.dim, 0, die_after

    def encode_pooled(self, texts, batch_size=64, progress=False):
        self.calls += 1
        if self.die_after is not None and self.calls > self.die_after:
            raise KeyboardInterrupt("simulated interruption")
        out = self.enc.encode_pooled(texts, batch_size=batch_size)
        for i, t in enumerate(texts):
            if "metallic" in t:
                out[i, 0] = float("nan")
        return out


def test_layout_alignment_and_index(tiny, corpus, tmp_path):
    out = tmp_path / "acts"
    res = encode_corpus(corpus, tiny, out, batch_size=4, chunk_size=7, progress=False)
    assert not res.cached and res.n_encoded == len(TEXTS) and res.n_refused == 0
    idx = json.loads((out / "index.json").read_text())
    assert {k: idx[k] for k in ("encoder", "dim", "n_rows", "n_refused", "pooling")} == \
        {"encoder": TINY_ID, "dim": TINY_T5_DIM, "n_rows": 25, "n_refused": 0, "pooling": "mean"}
    assert idx["corpus_sha256"] == file_sha256(corpus)
    raw = load_file(str(out / "embeddings.safetensors"))
    assert raw["embeddings"].dtype == np.float32 and raw["embeddings"].shape == (25, TINY_T5_DIM)
    assert raw["valid"].dtype == np.uint8 and raw["valid"].all()
    assert (out / "corpus.jsonl").read_bytes() == corpus.read_bytes()
    acts = load_activations(out)
    direct = tiny.encode([TEXTS[3], TEXTS[20]]).pooled.numpy()
    np.testing.assert_allclose(acts.embeddings[[3, 20]], direct, atol=1e-5)
    assert acts.rows[20]["labels"] == {"i": 20}
    assert not (out / ".chunks").exists()


def test_identical_rerun_does_no_work(tiny, corpus, tmp_path):
    out = tmp_path / "acts"
    encode_corpus(corpus, tiny, out, progress=False)
    before = (out / "embeddings.safetensors").stat().st_mtime_ns

    def must_not_load():
        raise AssertionError("the encoder was loaded for a cached corpus")

    res = encode_corpus(corpus, must_not_load, out, encoder_name=TINY_ID, progress=False)
    assert res.cached and res.n_encoded == 0
    assert (out / "embeddings.safetensors").stat().st_mtime_ns == before
    # a different corpus (or encoder) is not served from the cache
    write_jsonl([{"text": "new text", "source": "t", "labels": {}}], corpus)
    res = encode_corpus(corpus, tiny, out, progress=False)
    assert not res.cached and res.n_rows == 1


def test_resume_after_interruption(tiny, corpus, tmp_path):
    fresh = encode_corpus(corpus, tiny, tmp_path / "fresh", chunk_size=5, progress=False)
    out = tmp_path / "acts"
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(corpus, Broken(tiny, die_after=2), out, batch_size=5, chunk_size=5, progress=False)
    assert not (out / "index.json").exists()  # incomplete
    with pytest.raises(ActivationsError, match="incomplete"):
        load_activations(out)
    res = encode_corpus(corpus, tiny, out, batch_size=5, chunk_size=5, progress=False)
    assert res.n_encoded == len(TEXTS) - 10  # two chunks of five were already done
    np.testing.assert_allclose(load_activations(out).embeddings, load_activations(fresh.out_dir).embeddings, atol=1e-6)


def test_non_finite_rows_refused_and_counted(tiny, corpus, tmp_path):
    out = tmp_path / "acts"
    res = encode_corpus(corpus, Broken(tiny), out, progress=False)
    assert res.n_refused == 5
    acts = load_activations(out)
    assert len(acts) == 20 and len(acts.rows) == 20
    assert np.isfinite(acts.embeddings).all()
    assert all("metallic" not in r["text"] for r in acts.rows)
    assert acts.valid.sum() == 20 and acts.index["n_refused"] == 5


def test_load_activations_detects_mismatch(tiny, corpus, tmp_path):
    out = tmp_path / "acts"
    encode_corpus(corpus, tiny, out, progress=False)
    with open(out / "corpus.jsonl", "a") as f:
        f.write('{"text": "extra", "source": "x", "labels": {}}\n')
    with pytest.raises(ActivationsError, match="do not line up"):
        load_activations(out)
    with pytest.raises(ActivationsError, match="not found"):
        load_activations(tmp_path / "none")


def test_cli_encode_twice(corpus, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli_sae.register(parser.add_subparsers())
    argv = ["encode", "--corpus", str(corpus), "--encoder", "tiny", "--out", str(tmp_path / "a"), "--quiet"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    assert "refused 0 non-finite rows" in capsys.readouterr().out
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    assert "up to date" in capsys.readouterr().out
