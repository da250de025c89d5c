"""The activations folder written by `latent-synth analysis encode` and how to read it back.

```
DIR/embeddings.safetensors   {"embeddings": float32 [N, D], "valid": uint8 [N]}  row-aligned with the corpus
DIR/corpus.jsonl             the corpus rows, same order
DIR/index.json               {"encoder", "dim", "n_rows", "n_refused", "corpus_sha256", "pooling": "mean"}
```
index.json is written last: a folder without it is incomplete.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


EMBEDDINGS_FILE = "embeddings.safetensors"
CORPUS_FILE = "corpus.jsonl"
INDEX_FILE = "index.json"


class ActivationsError(ValueError):
    """A missing, incomplete or inconsistent activations folder; the message names the file."""


@dataclass
class Activations:
    embeddings: np.ndarray  # float32 [N_valid, D], valid rows only
    rows: list[dict]  # corpus rows aligned with embeddings (valid rows only)
    index: dict
    valid: np.ndarray  # bool [N_all]: which corpus rows were kept

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])


def read_index(directory) -> dict | None:
    """index.json of a complete folder, or None when absent or unreadable."""
    p = Path(directory) / INDEX_FILE
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def load_activations(directory) -> Activations:
    from safetensors import safe_open

    from analysis.sae.corpus import read_jsonl

    d = Path(directory)
    if not d.is_dir():
        raise ActivationsError(f"activations folder not found: {d}")
    idx_path, emb_path, corpus_path = d / INDEX_FILE, d / EMBEDDINGS_FILE, d / CORPUS_FILE
    if not idx_path.is_file():
        raise ActivationsError(f"activations incomplete (no {INDEX_FILE}; rerun encode): {idx_path}")
    index = read_index(d)
    if not isinstance(index, dict) or "n_rows" not in index:
        raise ActivationsError(f"activations index unreadable: {idx_path}")
    if not emb_path.is_file():
        raise ActivationsError(f"activations file missing: {emb_path}")
    try:
        with safe_open(str(emb_path), framework="np") as f:
            emb = f.get_tensor("embeddings")
            valid = f.get_tensor("valid").astype(bool)
    except Exception as exc:
        raise ActivationsError(f"activations file unreadable: {emb_path} ({exc})") from None
    rows = read_jsonl(corpus_path)
    n = int(index["n_rows"])
    if emb.shape[0] != n or valid.shape != (n,) or len(rows) != n:
        raise ActivationsError(
            f"activations do not line up: {emb_path} has {emb.shape[0]} rows, valid {valid.shape[0]}, "
            f"{corpus_path.name} {len(rows)}, index says {n}"
        )
    keep = np.flatnonzero(valid)
    return Activations(
        embeddings=np.ascontiguousarray(emb[keep], dtype=np.float32),
        rows=[rows[i] for i in keep],
        index=index,
        valid=valid,
    )
