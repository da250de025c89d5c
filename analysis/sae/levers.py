"""Levers that might make a feature slider more selective, as pure tensor math on its steering vector.

- `shared_direction`: the unit mean of all decoder directions. Every SAE feature leans along it (the
  encoder space's common component), so moving any slider also moves this shared part; removing it
  (`without_shared`) leaves what is particular to the feature.
- `word_positions`: steer only at the prompt's word tokens (not the encoder's first and last special
  tokens). The vector is scaled by n_real / n_chosen so the mean-pooled shift is the same as steering
  at every token: only where the push lands changes.
"""
from __future__ import annotations

import torch


def shared_direction(W_dec: torch.Tensor) -> torch.Tensor:
    """Unit mean of the unit decoder rows [d_sae, D] -> [D]."""
    unit = W_dec.float() / W_dec.float().norm(dim=1, keepdim=True).clamp_min(1e-12)
    mean = unit.mean(0)
    return mean / mean.norm().clamp_min(1e-12)


def without_shared(vector: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
    """`vector` minus its component along the unit vector `shared`."""
    return vector - (vector @ shared) * shared


def word_positions(mask: torch.Tensor) -> torch.Tensor:
    """[T] 0/1 mask of real tokens without the first and last (the encoder's [CLS] and [SEP]); all real
    tokens when there are fewer than three."""
    real = mask.nonzero().flatten()
    out = mask.clone()
    if len(real) >= 3:
        out[real[0]] = 0
        out[real[-1]] = 0
    return out


def pooled_preserving_scale(mask: torch.Tensor, chosen: torch.Tensor) -> float:
    """n_real / n_chosen: steering only the chosen tokens by this much moves the mean-pooled vector as far
    as steering every real token by 1."""
    return float(mask.sum()) / max(float(chosen.sum()), 1.0)
