"""SAE features of the DiT's own activations, played as sliders inside the model (`/synth/inside/<id>`).

A DiT SAE (`latent-synth analysis dit-sae`) is an ordinary SAE folder (`synth.sae`) whose metadata says
where its inputs were read: `dit_site` (cross or residual, `synth.inside.SITES`), `dit_blocks` (the
blocks whose activations it was trained on), `dit_width` and `model` (the DiT's fingerprint). A slider
at strength s adds s x its typical activation x its decoder row at those blocks, at the state's step
window: the same place, and the same unit, as the activations it was trained on. Pure: tensors in,
tensors out.
"""
from __future__ import annotations

from typing import Mapping

import torch

from synth.inside import SITES, Where


class DitSAEError(ValueError):
    """An SAE that is not a DiT SAE, or one made on another DiT; the message says which."""


def dit_place(sae) -> tuple[str, list[int]]:
    """(site, blocks) a DiT SAE was trained at, from its metadata."""
    meta = sae.metadata
    site, blocks = meta.get("dit_site"), meta.get("dit_blocks")
    if site not in SITES or not isinstance(blocks, list) or not blocks:
        raise DitSAEError("not a DiT SAE: its metadata has no dit_site / dit_blocks "
                          "(make one with `latent-synth analysis dit-sae`)")
    return site, [int(b) for b in blocks]


def check_dit_sae(sae, width: int, n_blocks: int) -> None:
    """Refuse a DiT SAE whose width or blocks do not fit this DiT, in one line."""
    site, blocks = dit_place(sae)
    if sae.d_in != width:
        raise DitSAEError(f"the DiT SAE reads activations of width {sae.d_in}; this DiT's are {width} wide "
                          "(was it trained on another model?)")
    bad = [b for b in blocks if not 0 <= b < n_blocks]
    if bad:
        raise DitSAEError(f"the DiT SAE was trained at blocks {bad}; this DiT has {n_blocks} (0..{n_blocks - 1})")


def dit_feature_shift(sae, features: Mapping[int, float], n_blocks: int, steps: int, window: str) -> torch.Tensor:
    """Sum of strength x scale x W_dec[id] at the SAE's blocks and the window's steps: [n_blocks, steps, D]."""
    site, blocks = dit_place(sae)
    bad = sorted(f for f in features if not 0 <= int(f) < sae.d_sae)
    if bad:
        raise DitSAEError(f"unknown DiT SAE feature id {bad[0]}; the DiT SAE has {sae.d_sae} features "
                          f"(0..{sae.d_sae - 1})")
    w_dec, scale = sae.W_dec.detach().float().cpu(), sae.feature_scale().float().cpu()
    direction = torch.zeros(sae.d_in)
    for fid, strength in sorted(features.items()):
        direction += float(strength) * float(scale[int(fid)]) * w_dec[int(fid)]
    mask = Where(site, tuple(blocks), window).mask(n_blocks, steps)
    return mask[..., None] * direction
