"""The DiT's own activations over captions and denoising steps: what `analysis dit-sae` trains on.

Each caption is rendered (latents only) through the family's denoising loop; the inside-steering wrappers
(`synth.inside`) tap one site of the chosen blocks on the prompt branch: the mean over positions per clip,
the same vector inside steering adds to. One row per (caption, step, block): [captions x steps x blocks, D].
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from synth.conditioning import build_conditioning
from synth.denoise import denoise
from synth.inside_vectors import eager
from synth.state import PromptSlot, SynthState


def prompt_rows(taps: list[torch.Tensor], batch: int, cfg: float) -> torch.Tensor:
    """One block's taps (a list of [rows, D] per step; rows = unconditional then prompt branch, each
    `batch` clips) -> the prompt branch [batch, steps, D]."""
    offset = batch if cfg > 1.0 else 0
    return torch.stack([t[offset:offset + batch] for t in taps], dim=1)


def collect(family, encode, captions: Sequence[str], site: str, blocks: Sequence[int], steps: int, cfg: float,
            seconds: float, batch: int = 16, seed: int = 0, progress: bool = True) -> np.ndarray:
    """Activations [len(captions), steps, len(blocks), D] float32 (caption i rendered with seed `seed` + i)."""
    hooks = family.inside_hooks()
    bad = [b for b in blocks if not 0 <= b < hooks.blocks]
    if bad:
        raise ValueError(f"blocks {bad} do not exist: the DiT has {hooks.blocks} (0..{hooks.blocks - 1})")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(captions), desc=f"DiT activations ({site}, blocks {list(blocks)})", unit="caption",
                   dynamic_ncols=True)
    out = []
    for start in range(0, len(captions), batch):
        chunk = list(captions[start:start + batch])
        conds = [build_conditioning(SynthState(prompts=[PromptSlot(text, 1.0)], duration=seconds), encode)
                 for text in chunk]
        hooks.tap(True)
        try:
            with eager(family), torch.no_grad():
                denoise(family, conds, list(range(seed + start, seed + start + len(chunk))), seconds, steps, cfg,
                        window="clip", output="latent")
            per_block = [prompt_rows(hooks.sites[site][b].taps, len(chunk), cfg) for b in blocks]
        finally:
            hooks.tap(False)
        out.append(torch.stack(per_block, dim=2).numpy())   # [chunk, steps, blocks, D]
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return np.concatenate(out).astype(np.float32)
