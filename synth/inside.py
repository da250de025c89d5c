"""Steering inside the denoiser: a direction added to chosen DiT blocks' output at chosen steps.

`install(transformer)` wraps, once, every block of a diffusers `StableAudioDiTModel` (Stable Audio Open,
the score model) or `StableAudio3DiTModel` at two sites:

- ``cross``: the block's cross-attention output, before it joins the residual stream (TADA's site);
- ``residual``: the block's output, the residual stream after the block.

Each wrapper adds its `shift` buffer to what it wraps. The shift is zero unless a render sets it, and
x + 0 == x, so an installed model renders what it rendered before, bit for bit. The wrappers are plain
modules and the shifts tensors they hold, so a model patched before `torch.compile` keeps steering
inside the compiled graph (a forward hook would not run there): the loop sets the shifts for each
step (`InsideHooks.set`) and the graph reads them as inputs.

The wrappers can also tap what they wrap (the mean over positions, per batch row), which is how
`synth.inside_vectors` measures activations.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import torch
from diffusers.models.transformers.stable_audio_transformer import StableAudioDiTBlock
from diffusers.models.transformers.transformer_stable_audio3 import StableAudio3DiTBlock

SITES = ("cross", "residual")
WINDOWS = ("early", "middle", "late", "all")
CROSS_ATTENTION = {StableAudioDiTBlock: "attn2", StableAudio3DiTBlock: "cross_attn"}  # where each block keeps it


class Shifted(torch.nn.Module):
    """`inner`'s output + `shift` (broadcast [rows or 1, 1, D]); optionally taps the output's mean over
    positions into `taps` (a list of [rows, D] float32 on the CPU)."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner
        self.register_buffer("shift", torch.zeros(1, 1, 1), persistent=False)
        self.taps: list[torch.Tensor] | None = None

    def forward(self, *args, **kwargs) -> torch.Tensor:
        out = self.inner(*args, **kwargs) + self.shift
        if self.taps is not None:
            self.taps.append(out.detach().float().mean(dim=1).cpu())
        return out


class InsideHooks:
    """The wrappers of one installed transformer: `sites[site][block]`."""

    def __init__(self, transformer: torch.nn.Module):
        blocks = transformer.transformer_blocks
        cross = []
        for block in blocks:
            name = CROSS_ATTENTION.get(type(block))
            if name is None:
                raise TypeError(f"inside steering: unknown DiT block {type(block).__name__} "
                                f"(knows {', '.join(c.__name__ for c in CROSS_ATTENTION)})")
            wrapped = Shifted(getattr(block, name))
            setattr(block, name, wrapped)
            cross.append(wrapped)
        residual = []
        for i, block in enumerate(list(blocks)):
            blocks[i] = Shifted(block)
            residual.append(blocks[i])
        self.sites: dict[str, list[Shifted]] = {"cross": cross, "residual": residual}
        config = transformer.config   # the activations' width: Stable Audio Open's inner_dim, Stable Audio 3's embed_dim
        self.width = int(getattr(transformer, "inner_dim", 0) or config.get("embed_dim", 0))
        self.dtype = next(transformer.parameters()).dtype
        self.device = next(transformer.parameters()).device

    @property
    def blocks(self) -> int:
        return len(self.sites["cross"])

    def set(self, site: str, shifts: torch.Tensor) -> None:
        """shifts [rows, blocks, D]: each block of `site` adds its row's vector at every position (the
        other site's shifts are zeroed)."""
        self.set_sites({site: shifts})

    def set_sites(self, by_site: dict[str, torch.Tensor]) -> None:
        """{site: shifts [rows, blocks, D]}; the sites not named are zeroed."""
        ready = {}
        for site, shifts in by_site.items():
            if shifts.dim() != 3 or shifts.shape[1] != self.blocks:
                raise ValueError(f"inside shifts must be [rows, {self.blocks}, D], got {tuple(shifts.shape)}")
            ready[site] = shifts.to(device=self.device, dtype=self.dtype)
        for name, wrappers in self.sites.items():
            for b, w in enumerate(wrappers):
                if name in ready:
                    _assign(w, ready[name][:, b].unsqueeze(1))
                elif w.shift.abs().sum() > 0 or w.shift.shape != (1, 1, 1):
                    w.shift = torch.zeros(1, 1, 1, device=self.device, dtype=self.dtype)

    def off(self) -> None:
        """Every shift back to zero: the model renders exactly as if never installed."""
        for wrappers in self.sites.values():
            for w in wrappers:
                w.shift = torch.zeros(1, 1, 1, device=self.device, dtype=self.dtype)

    def tap(self, on: bool) -> None:
        for wrappers in self.sites.values():
            for w in wrappers:
                w.taps = [] if on else None


def _assign(wrapper: Shifted, value: torch.Tensor) -> None:
    # In place where the shape allows: a compiled graph with CUDA graphs keeps reading the same memory.
    if wrapper.shift.shape == value.shape:
        wrapper.shift.copy_(value)
    else:
        wrapper.shift = value.clone()


_INSTALLED: "weakref.WeakKeyDictionary[torch.nn.Module, InsideHooks]" = weakref.WeakKeyDictionary()


def install(transformer: torch.nn.Module) -> InsideHooks:
    """Wrap `transformer`'s blocks (once; later calls return the same hooks). Call it before compiling."""
    if isinstance(transformer, torch._dynamo.eval_frame.OptimizedModule):
        transformer = transformer._orig_mod
    hooks = _INSTALLED.get(transformer)
    if hooks is None:
        hooks = _INSTALLED[transformer] = InsideHooks(transformer)
    return hooks


# --------------------------------------------------------------------------- where: blocks x steps
def window_steps(window: str, steps: int) -> list[int]:
    """The denoising steps (0-based) of a window: the first, middle or last third of `steps`, or all."""
    if window not in WINDOWS:
        raise ValueError(f"unknown step window {window!r} (use {', '.join(WINDOWS)})")
    if window == "all":
        return list(range(steps))
    part = np.array_split(np.arange(steps), 3)[WINDOWS.index(window)]
    return [int(i) for i in part]


@dataclass(frozen=True)
class Where:
    """Where inside steering acts: a site, the blocks (None: all) and a step window."""
    site: str = "cross"
    blocks: tuple[int, ...] | None = None
    window: str = "all"

    def __post_init__(self):
        if self.site not in SITES:
            raise ValueError(f"unknown inside site {self.site!r} (use {' or '.join(SITES)})")
        window_steps(self.window, 1)

    def block_list(self, n_blocks: int) -> list[int]:
        if self.blocks is None:
            return list(range(n_blocks))
        bad = [b for b in self.blocks if not 0 <= b < n_blocks]
        if bad:
            raise ValueError(f"inside blocks {bad} do not exist: the model has {n_blocks} blocks (0..{n_blocks - 1})")
        return sorted(set(self.blocks))

    def mask(self, n_blocks: int, steps: int) -> torch.Tensor:
        """[n_blocks, steps] of 0 / 1: where a direction is applied."""
        m = torch.zeros(n_blocks, steps)
        rows = torch.tensor(self.block_list(n_blocks), dtype=torch.long)
        cols = torch.tensor(window_steps(self.window, steps), dtype=torch.long)
        m[rows[:, None], cols[None, :]] = 1.0
        return m

    def describe(self, n_blocks: int, steps: int) -> dict:
        return {"site": self.site, "blocks": self.block_list(n_blocks), "window": self.window,
                "steps": window_steps(self.window, steps)}


@dataclass(frozen=True)
class InsideShift:
    """One clip's inside steering: `shifts` [n_blocks, steps, D] (already scaled and masked) at `site`;
    `heads`: what to add to each text head's output (the score model's tempo, drums and held heads);
    `more`: shifts at other sites ({site: [n_blocks, steps, D]}: DiT SAE sliders act at their own)."""
    site: str
    shifts: torch.Tensor
    heads: dict[str, float] = field(default_factory=dict)
    more: dict[str, torch.Tensor] = field(default_factory=dict)

    def by_site(self) -> dict[str, torch.Tensor]:
        out = dict(self.more)
        out[self.site] = out[self.site] + self.shifts if self.site in out else self.shifts
        return out

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(sorted({self.site, *self.more}))


def row_shifts(plans: list, step: int, uncond: int, cond: int) -> torch.Tensor:
    """The shifts [rows, blocks, D] for one step of a batch stacked as the loop stacks it: `uncond`
    unconditional branches (unsteered) then `cond` prompt branches, each holding every clip. `plans`: each
    clip's InsideShift (its `shifts`) or [n_blocks, steps, D] tensor."""
    clips = torch.stack([(p.shifts if isinstance(p, InsideShift) else p)[:, step] for p in plans])   # [B, blocks, D]
    return torch.cat([torch.zeros_like(clips)] * uncond + [clips] * cond)
