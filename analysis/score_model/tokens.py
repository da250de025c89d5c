"""MiniLM token states for every caption of a score corpus, computed once and cached.

The cache (DIR/minilm_tokens.safetensors, beside the corpus) holds each caption's real-token states
back to back in float16 with their offsets, and records the encoder and the captions: a regenerated
corpus re-encodes only its new captions, another encoder everything. At training time a caption's
states are zero-padded to the encoder's 128 positions, as `TextEncoder.encode` pads them at render time.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from synth.atomic_io import atomic_path

CACHE_FILE = "minilm_tokens.safetensors"


class TokenStates:
    """Caption i -> hidden [T_i, D] float16 (real tokens only)."""

    def __init__(self, states: torch.Tensor, offsets: torch.Tensor):
        self.states, self.offsets = states, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def padded(self, indices, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """hidden [B, length, D] float32 zero-padded, mask [B, length] int64."""
        d = self.states.shape[1]
        hidden = torch.zeros(len(indices), length, d)
        mask = torch.zeros(len(indices), length, dtype=torch.int64)
        for row, i in enumerate(indices):
            a, b = int(self.offsets[i]), int(self.offsets[i + 1])
            n = min(b - a, length)
            hidden[row, :n] = self.states[a:a + n].float()
            mask[row, :n] = 1
        return hidden, mask


def _encode(encoder, captions: list[str], batch_size: int, progress: bool) -> list[torch.Tensor]:
    out = []
    starts = range(0, len(captions), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="MiniLM token states", unit="batch")
    for s in starts:
        enc = encoder.encode(captions[s:s + batch_size], batch_size=batch_size, padding="longest")
        out.extend(h[:int(m.sum())].to(torch.float16).cpu() for h, m in zip(enc.hidden, enc.mask))
    return out


def _read_cache(path: Path, encoder_name: str) -> dict[str, torch.Tensor]:
    """caption -> its states, from a cache made with the same encoder (empty otherwise)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        return {}
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    if meta.get("encoder") != encoder_name or "captions" not in meta:
        return {}
    t = load_file(str(path))
    offsets = t["offsets"].tolist()
    return {c: t["states"][offsets[i]:offsets[i + 1]] for i, c in enumerate(json.loads(meta["captions"]))}


def token_states(captions: list[str], cache_dir, encoder_factory, batch_size: int = 128,
                 progress: bool = True) -> TokenStates:
    """States for `captions`, encoding only those the cache does not hold yet (a regenerated corpus
    re-encodes just its new captions)."""
    from safetensors.torch import save_file

    path = Path(cache_dir) / CACHE_FILE
    encoder = encoder_factory()
    known = _read_cache(path, encoder.name)
    missing = list(dict.fromkeys(c for c in captions if c not in known))
    if missing:
        known.update(zip(missing, _encode(encoder, missing, batch_size, progress)))
    chunks = [known[c] for c in captions]
    offsets = torch.zeros(len(chunks) + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(torch.tensor([len(c) for c in chunks]), 0)
    states = torch.cat(chunks)
    if missing or not path.is_file():
        with atomic_path(path, suffix=".safetensors") as tmp:
            save_file({"states": states, "offsets": offsets}, str(tmp),
                      metadata={"encoder": encoder.name, "captions": json.dumps(captions)})
    return TokenStates(states, offsets)
