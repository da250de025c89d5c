"""Encode a corpus into pooled text-encoder vectors: resumable, cached, non-finite rows refused.

Work is written in chunk files under ``DIR/.chunks/<key>/`` (key = encoder + corpus hash), each
one atomically, so an interrupted run resumes from the last finished chunk. The final files are
assembled at the end and ``index.json`` is written last; a rerun with the same encoder and corpus
finds it and does nothing.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from analysis.plots import write_json
from analysis.sae.activations import CORPUS_FILE, EMBEDDINGS_FILE, INDEX_FILE, read_index
from synth.atomic_io import atomic_path, current_umask
from analysis.sae.corpus import file_sha256, read_jsonl

DEFAULT_CHUNK = 2048


@dataclass
class EncodeResult:
    out_dir: Path
    n_rows: int
    n_refused: int
    n_encoded: int  # rows encoded in this run (0 when cached)
    cached: bool


def _chunk_key(encoder_name: str, corpus_sha: str) -> str:
    return hashlib.sha256(f"{encoder_name}\0{corpus_sha}".encode()).hexdigest()[:16]


def _chunk_path(chunk_dir: Path, start: int, n: int) -> Path:
    return chunk_dir / f"chunk_{start:09d}_{n}.safetensors"


def _save_atomic(tensors: dict, path: Path) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def encoder_factory(kind: str, model_id: str | None, device: str | None):
    """(identity, factory) of the text encoder `kind` from `model_id`; a Stable Audio 3 checkpoint folder
    is converted first (synth.families.sa3_convert), so its own T5Gemma encodes the corpus."""
    from synth.encoders import encoder_name, load_encoder
    from synth.families.sa3_convert import encoder_source

    return encoder_name(kind, model_id), lambda: load_encoder(kind, encoder_source(model_id), device)


def is_cached(out_dir, encoder_name: str, corpus_sha: str) -> bool:
    idx = read_index(out_dir)
    return bool(
        idx and idx.get("encoder") == encoder_name and idx.get("corpus_sha256") == corpus_sha
        and (Path(out_dir) / EMBEDDINGS_FILE).is_file() and (Path(out_dir) / CORPUS_FILE).is_file()
    )


def encode_corpus(corpus_path, encoder_or_factory, out_dir, encoder_name: str | None = None,
                  batch_size: int = 64, chunk_size: int = DEFAULT_CHUNK, progress: bool = True) -> EncodeResult:
    """Encode every row's text with ``encoder.encode_pooled``.

    ``encoder_or_factory`` is a TextEncoder-like object (``name``, ``dim``, ``encode_pooled``) or a
    zero-argument callable returning one; a callable is only called when there is work to do, so a
    cached rerun never loads the model. Pass ``encoder_name`` with a factory.
    """
    corpus_path, out_dir = Path(corpus_path), Path(out_dir)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    rows = read_jsonl(corpus_path)
    if not rows:
        raise ValueError(f"corpus is empty: {corpus_path}")
    corpus_sha = file_sha256(corpus_path)
    encoder = None if callable(encoder_or_factory) and not hasattr(encoder_or_factory, "encode_pooled") else encoder_or_factory
    name = encoder_name or (encoder.name if encoder is not None else None)
    if name is None:
        raise ValueError("encode_corpus: pass encoder_name together with an encoder factory")
    if is_cached(out_dir, name, corpus_sha):
        idx = read_index(out_dir)
        return EncodeResult(out_dir, int(idx["n_rows"]), int(idx["n_refused"]), 0, True)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / INDEX_FILE).unlink(missing_ok=True)  # the folder is incomplete from here on
    chunk_dir = out_dir / ".chunks" / _chunk_key(name, corpus_sha)
    chunk_dir.mkdir(parents=True, exist_ok=True)

    starts = list(range(0, len(rows), chunk_size))
    todo = [s for s in starts if not _chunk_path(chunk_dir, s, min(chunk_size, len(rows) - s)).is_file()]
    n_encoded = 0
    if todo:
        if encoder is None:
            encoder = encoder_or_factory()
        bar = None
        if progress:
            from tqdm import tqdm

            done = len(rows) - sum(min(chunk_size, len(rows) - s) for s in todo)
            bar = tqdm(total=len(rows), initial=done, desc=f"encode {name}", unit="row", dynamic_ncols=True)
        for s in todo:
            n = min(chunk_size, len(rows) - s)
            texts = [r["text"] for r in rows[s : s + n]]
            # Batch texts of similar length together (less padding), then restore corpus order.
            order = sorted(range(n), key=lambda i: len(texts[i]))
            parts = [encoder.encode_pooled([texts[j] for j in order[i : i + batch_size]], batch_size=batch_size)
                     for i in range(0, n, batch_size)]
            vecs = torch.empty(n, parts[0].shape[1], dtype=torch.float32)
            vecs[torch.tensor(order)] = torch.cat(parts).to(torch.float32)
            _save_atomic({"embeddings": vecs.to(torch.float32).contiguous()}, _chunk_path(chunk_dir, s, n))
            n_encoded += n
            if bar is not None:
                bar.update(n)
        if bar is not None:
            bar.close()

    emb = _assemble(chunk_dir, starts, len(rows), chunk_size)
    valid = np.isfinite(emb).all(axis=1)
    emb[~valid] = 0.0  # keep row alignment; the valid mask says which rows count
    n_refused = int((~valid).sum())

    from safetensors.numpy import save_file

    with atomic_path(out_dir / EMBEDDINGS_FILE) as tmp:
        save_file({"embeddings": emb, "valid": valid.astype(np.uint8)}, str(tmp))
        os.chmod(tmp, 0o666 & ~current_umask())  # safetensors writes owner-only files
    with atomic_path(out_dir / CORPUS_FILE) as tmp:
        shutil.copyfile(corpus_path, tmp)
    write_json(
        out_dir / INDEX_FILE,
        {"encoder": name, "dim": int(emb.shape[1]), "n_rows": len(rows), "n_refused": n_refused,
         "corpus_sha256": corpus_sha, "pooling": "mean", "corpus_path": str(corpus_path.resolve())},
    )
    shutil.rmtree(out_dir / ".chunks", ignore_errors=True)
    return EncodeResult(out_dir, len(rows), n_refused, n_encoded, False)


def _assemble(chunk_dir: Path, starts: list[int], n_rows: int, chunk_size: int) -> np.ndarray:
    from safetensors.numpy import load_file

    parts = []
    for s in starts:
        n = min(chunk_size, n_rows - s)
        arr = load_file(str(_chunk_path(chunk_dir, s, n)))["embeddings"]
        if arr.shape[0] != n:
            raise ValueError(f"chunk {_chunk_path(chunk_dir, s, n)} holds {arr.shape[0]} rows, expected {n}")
        parts.append(arr)
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32, copy=False)
