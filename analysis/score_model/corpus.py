"""`latent-synth analysis score-corpus`: procedurally generated pieces with known parameters and captions.

DIR/corpus.jsonl holds one row per piece: {"id", "seed", "params" (the true parameters), "captions",
"score" (Score.to_dict)}; DIR/manifest.json says how it was made. Both are written atomically.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from analysis.score_model.captions import captions
from analysis.score_model.compose import compose
from analysis.score_model.params import sample_params
from synth.atomic_io import atomic_path, atomic_write_text

CORPUS_FILE = "corpus.jsonl"
MANIFEST = "manifest.json"
GENERATOR_VERSION = 2


def piece(index: int, seed: int, n_captions: int) -> dict:
    """Piece `index` of the corpus made with `seed`: the same arguments give the same row."""
    rng = random.Random(f"{seed}:{index}")
    params = sample_params(rng)
    score = compose(params, rng)
    return {"id": index, "seed": seed, "params": params.to_dict(), "captions": captions(params, rng, n_captions),
            "score": score.to_dict()}


def build_score_corpus(n: int, out_dir, seed: int = 0, n_captions: int = 3, progress: bool = True) -> dict:
    if n < 1:
        raise ValueError(f"--n {n}: must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    captions_total = 0
    indices = range(n)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="score corpus", unit="piece")
    with atomic_path(out / CORPUS_FILE) as tmp, open(tmp, "w") as fh:
        for i in indices:
            row = piece(i, seed, n_captions)
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
            p = row["params"]
            captions_total += len(row["captions"])
            counts["drums"] += p["drums"] is not None
            counts["solo"] += p["solo"]
            counts[f"emotion:{p['emotion']}"] += 1
            counts[f"genre:{p['genre']}"] += 1
    manifest = {"pieces": n, "captions": captions_total, "seed": seed, "captions_per_piece": n_captions,
                "generator_version": GENERATOR_VERSION, "counts": dict(sorted(counts.items()))}
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_score_corpus(corpus_dir) -> list[dict]:
    path = Path(corpus_dir) / CORPUS_FILE
    if not path.is_file():
        raise OSError(f"{str(corpus_dir)!r} holds no {CORPUS_FILE}: make one with `latent-synth analysis score-corpus`")
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]
