"""SAE codes of an activations folder, kept sparse (rows × d_sae), plus row selection by label.

Shared by geometry, probes and atlas: they all read an SAE folder and an activations folder.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp


def load_inputs(sae_dir, activations_dir):
    """(SparseAutoencoder, Activations), checked to fit each other."""
    from analysis.sae.activations import load_activations
    from synth.sae import load_sae

    sae = load_sae(sae_dir, device="cpu")
    acts = load_activations(activations_dir)
    if acts.dim != sae.d_in:
        raise ValueError(f"SAE {sae_dir} expects {sae.d_in}-dim inputs but activations {activations_dir} are "
                         f"{acts.dim}-dim (encoder {acts.index.get('encoder')!r})")
    enc = (sae.metadata or {}).get("encoder")
    if enc and acts.index.get("encoder") and enc != acts.index["encoder"]:
        raise ValueError(f"SAE {sae_dir} was trained on {enc!r} but activations {activations_dir} come from "
                         f"{acts.index['encoder']!r}")
    return sae, acts


def encode_codes(sae, embeddings: np.ndarray, batch_size: int = 4096, progress: bool = False) -> sp.csr_matrix:
    """Inference codes of `embeddings` [N, d_in] as a float32 CSR matrix [N, d_sae]."""
    import torch
    from tqdm import tqdm

    blocks = []
    with torch.no_grad():
        for start in tqdm(range(0, len(embeddings), batch_size), desc="SAE codes", unit="batch", disable=not progress):
            x = torch.from_numpy(np.ascontiguousarray(embeddings[start:start + batch_size], dtype=np.float32))
            blocks.append(sp.csr_matrix(sae.encode(x).float().numpy()))
    if not blocks:
        return sp.csr_matrix((0, sae.d_sae), dtype=np.float32)
    return sp.vstack(blocks, format="csr").astype(np.float32)


def label_rows(rows: Sequence[dict], key: str) -> tuple[np.ndarray, list[str]]:
    """Indices of rows whose labels carry a string `key`, and those label values."""
    idx, values = [], []
    for i, row in enumerate(rows):
        value = (row.get("labels") or {}).get(key)
        if isinstance(value, str) and value:
            idx.append(i)
            values.append(value)
    return np.asarray(idx, dtype=np.int64), values


def group_means(codes, labels: Sequence[str], groups: Sequence[str]) -> np.ndarray:
    """Centroid [len(groups), d] of the rows of `codes` (dense or sparse) in each group."""
    labels = np.asarray(labels)
    onehot = sp.csr_matrix(np.stack([(labels == g) for g in groups]).astype(np.float64))
    counts = np.asarray(onehot.sum(axis=1)).ravel()
    sums = onehot @ codes
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    return sums / counts[:, None]


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Pairwise cosine similarity of rows (zero rows give 0)."""
    b = a if b is None else b
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    return (a / np.where(na == 0, 1, na)) @ (b / np.where(nb == 0, 1, nb)).T
