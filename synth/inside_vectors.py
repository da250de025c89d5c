"""Directions for inside steering, measured on the model itself (`synth.inside` applies them).

- A contrast's vectors (contrastive activation addition, as TADA does): render its + prompt and its
  − prompt over a few seeds, and take the mean difference of each block's activation (the mean over
  positions, on the prompt branch), per (site, block, step).
- An SAE feature slider carried inside: the activation difference that its text direction makes,
  act(prompt + scale · W_dec[id]) − act(prompt), on the state's own prompt; a slider at strength s
  adds s times it. Presets made for embedding steering gain the mode without training anything.

Vectors are [sites, blocks, steps, D] float32 (sites in `synth.inside.SITES` order). `VectorStore`
keeps them in memory, and in safetensors files when given a folder (written atomically), so a sweep
resumes and a preset's vectors ship beside it (`preset_vectors_path`).
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from synth.atomic_io import atomic_write_bytes
from synth.conditioning import Conditioning, build_conditioning
from synth.inside import SITES, InsideShift, Where
from synth.presets import SHIPPED_PRESETS
from synth.state import PromptSlot, SynthState

VECTOR_SEEDS = tuple(range(10_000, 10_008))   # apart from the seeds analysis measures with (0..)
SUFFIX = ".inside.safetensors"
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- measuring
@contextmanager
def eager(family) -> Iterator[None]:
    """Run the family's uncompiled transformer meanwhile (taps append to lists: no place in a graph)."""
    transformer = family.pipe.transformer
    if isinstance(transformer, torch._dynamo.eval_frame.OptimizedModule):
        family.pipe.transformer = transformer._orig_mod
    try:
        yield
    finally:
        family.pipe.transformer = transformer


def mean_activations(family, cond: Conditioning, seeds: Sequence[int], seconds: float, steps: int,
                     cfg: float) -> torch.Tensor:
    """The prompt branch's activations at every site, block and step, averaged over positions and seeds
    (prompt branches mixed by their weights): [sites, blocks, steps, D] float32."""
    from synth.denoise import denoise

    hooks = family.inside_hooks()
    hooks.tap(True)
    try:
        with eager(family):
            denoise(family, [cond] * len(seeds), list(seeds), seconds, steps, cfg, window="clip", output="latent")
        taps = {site: [w.taps for w in hooks.sites[site]] for site in SITES}
    finally:
        hooks.tap(False)
    b, offset = len(seeds), 1 if cfg > 1.0 else 0
    weights = torch.tensor(cond.weights, dtype=torch.float32)
    out = []
    for site in SITES:
        blocks = []
        for per_step in taps[site]:
            if len(per_step) != steps:
                raise RuntimeError(f"inside: {len(per_step)} forward passes tapped for {steps} steps")
            rows = torch.stack(per_step)                                        # [steps, R, D]
            branches = rows[:, offset * b:(offset + cond.branches) * b].unflatten(1, (cond.branches, b))
            blocks.append((branches.mean(2) * weights[None, :, None]).sum(1))    # [steps, D]
        out.append(torch.stack(blocks))
    return torch.stack(out)


def model_fingerprint(module: torch.nn.Module) -> str:
    """sha256 of every parameter's shape and sum (names change when `synth.inside` wraps the blocks), taken
    at float16 precision so the same weights loaded in float32 or float16 (CUDA) give the same print."""
    with torch.no_grad():
        parts = [f"{tuple(p.shape)}:{float(p.detach().cpu().half().double().sum()):.9e}" for p in module.parameters()]
    return "sha256:" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def one_prompt(state: SynthState, text: str) -> SynthState:
    """`state` playing `text` alone, unsteered."""
    return state.replace(prompts=[PromptSlot(text, 1.0)], features={}, contrasts={}, steering_mode="embedding",
                         steering_gain=1.0)


# --------------------------------------------------------------------------- the store
def _key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]


class VectorStore:
    """Measured vectors by what they were measured from (`spec`), in memory and, with `folder`, on disk.
    `shelves`: folders whose `*.inside.safetensors` files are read on the first miss (the presets'
    vectors: a preset's contrasts play without measuring them again)."""

    def __init__(self, folder: Path | str | None = None, maxsize: int = 64, shelves: Sequence[Path] = ()):
        self.folder = Path(folder).expanduser() if folder is not None else None
        self.maxsize = int(maxsize)
        self.shelves = [Path(p) for p in shelves]
        self._items: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._specs: dict[str, dict] = {}
        self._shelved: dict[str, tuple[dict, torch.Tensor]] | None = None
        self.measured = 0

    def _from_shelves(self, key: str) -> tuple[dict, torch.Tensor] | None:
        if self._shelved is None:
            self._shelved = {}
            for folder in self.shelves:
                for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else ():
                    try:
                        self._shelved.update(load_vectors(path))
                    except ValueError as exc:   # a damaged file costs a measurement, not the render
                        log.warning("%s", exc)
        return self._shelved.get(key)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, spec: dict, measure: Callable[[], torch.Tensor]) -> torch.Tensor:
        key = _key(spec)
        if key not in self._items and self.folder is not None and (self.folder / f"{key}{SUFFIX}").is_file():
            self.add_file(self.folder / f"{key}{SUFFIX}")
        if key not in self._items and self._from_shelves(key) is not None:
            self._put(key, *self._from_shelves(key))
        if key not in self._items:
            vectors = measure().to(torch.float32).cpu().contiguous()
            self.measured += 1
            self._put(key, spec, vectors)
            if self.folder is not None:
                save_vectors(self.folder / f"{key}{SUFFIX}", {key: (spec, vectors)})
        self._items.move_to_end(key)
        return self._items[key]

    def _put(self, key: str, spec: dict, vectors: torch.Tensor) -> None:
        self._items[key] = vectors
        self._specs[key] = spec
        while len(self._items) > self.maxsize:
            old, _ = self._items.popitem(last=False)
            self._specs.pop(old, None)

    def add_file(self, path) -> int:
        """Load every entry of a vectors file (a preset's, or a cached one); returns how many."""
        entries = load_vectors(path)
        for key, (spec, vectors) in entries.items():
            self._put(key, spec, vectors)
        return len(entries)

    def entries(self) -> dict[str, tuple[dict, torch.Tensor]]:
        return {k: (self._specs[k], v) for k, v in self._items.items()}


def save_vectors(path, entries: dict[str, tuple[dict, torch.Tensor]]) -> Path:
    """Entries {key: (spec, [sites, blocks, steps, D])} -> one safetensors file, written atomically."""
    from safetensors.torch import save

    data = save({k: v.contiguous() for k, (_, v) in entries.items()},
                metadata={k: json.dumps(spec, sort_keys=True) for k, (spec, _) in entries.items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, data)


def load_vectors(path) -> dict[str, tuple[dict, torch.Tensor]]:
    from safetensors import SafetensorError, safe_open

    out = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            for key in f.keys():
                out[key] = (json.loads(meta[key]), f.get_tensor(key).to(torch.float32))
    except (OSError, KeyError, ValueError, SafetensorError) as exc:
        raise ValueError(f"{path}: not an inside-steering vectors file ({exc})") from None
    return out


def preset_vectors_path(preset_path) -> Path:
    """Where a preset's inside-steering vectors live: beside it, NAME.inside.safetensors."""
    p = Path(preset_path)
    return p.with_name(p.name.removesuffix(".yaml") + SUFFIX)


# --------------------------------------------------------------------------- a state's shifts
class InsideSteering:
    """Turns a state's contrasts and feature sliders into inside shifts, measuring vectors as needed."""

    def __init__(self, family, encode: Callable, store: VectorStore | None = None,
                 seeds: Sequence[int] = VECTOR_SEEDS):
        self.family = family
        self.encode = encode
        self.store = store if store is not None else VectorStore(shelves=[SHIPPED_PRESETS])
        self.seeds = tuple(int(s) for s in seeds)
        self._model: str | None = None

    @property
    def model(self) -> str:
        """The DiT's weights in a few bytes, so stored vectors match the model wherever it is installed."""
        if self._model is None:
            self._model = model_fingerprint(self.family.pipe.transformer)
        return self._model

    def _spec(self, state: SynthState, **what) -> dict:
        return {"backend": self.family.backend, "model": self.model, "steps": state.steps,
                "cfg": float(state.cfg), "seconds": round(state.seconds(), 4), "seeds": list(self.seeds),
                "bpm": state.bpm, **what}

    def _acts(self, state: SynthState, sae=None) -> torch.Tensor:
        cond = build_conditioning(state, self.encode, sae)
        return mean_activations(self.family, cond, self.seeds, state.seconds(), state.steps, state.cfg)

    def contrast(self, state: SynthState, positive: str, negative: str) -> torch.Tensor:
        """act(positive) − act(negative): [sites, blocks, steps, D]."""
        spec = self._spec(state, kind="contrast", positive=positive, negative=negative)
        return self.store.get(spec, lambda: self._acts(one_prompt(state, positive)) - self._acts(one_prompt(state, negative)))

    def feature(self, state: SynthState, sae, sae_id: str | None, fid: int) -> torch.Tensor:
        """act(prompt + unit feature direction) − act(prompt) on the state's prompts: [sites, blocks, steps, D]."""
        plain = state.replace(features={}, contrasts={}, steering_mode="embedding", steering_gain=1.0)
        prompts = [[p.text, p.weight] for p in plain.active_prompts()]
        spec = self._spec(state, kind="feature", feature=int(fid), sae=sae_id, prompts=prompts, mix=state.mix_mode)
        return self.store.get(spec, lambda: self._acts(plain.replace(features={fid: 1.0}), sae) - self._acts(plain))

    def _heads(self, state: SynthState, sae=None) -> dict[str, float]:
        return self.family.head_readings(build_conditioning(state, self.encode, sae))

    def head_shift(self, state: SynthState, sae=None) -> dict[str, float]:
        """What the state's contrasts and sliders add to the model's text heads (the score model's tempo,
        drums, held): strength x (heads(+ prompt) - heads(- prompt)) for a contrast, strength x (heads(prompt +
        the feature's direction) - heads(prompt)) for a slider. The heads read the text, which inside
        steering leaves alone; their outputs are the model's activations that decide tempo and drums. No
        gain: the gain makes up for a block's share of the DiT, and a head's output is the whole decision."""
        total: dict[str, float] = {}

        def add(strength: float, a: dict, b: dict) -> None:
            for name in a:
                total[name] = total.get(name, 0.0) + strength * (a[name] - b[name])

        for _, c in sorted(state.contrasts.items()):
            if c.strength != 0.0:
                add(c.strength, self._heads(one_prompt(state, c.positive)), self._heads(one_prompt(state, c.negative)))
        plain = state.replace(features={}, contrasts={}, steering_mode="embedding", steering_gain=1.0)
        for fid, s in sorted(state.features.items()):
            if s != 0.0:
                add(s, self._heads(plain.replace(features={fid: 1.0}), sae), self._heads(plain))
        return total

    def where(self, state: SynthState) -> Where:
        blocks = tuple(state.inside_blocks) if state.inside_blocks is not None else None
        return Where(state.inside_site, blocks, state.inside_window)

    def shift(self, state: SynthState, sae=None, sae_id: str | None = None, dit_sae=None) -> InsideShift | None:
        """The state's inside shifts, or None when nothing steers inside: in steering mode `inside`, gain x
        (contrasts + text-SAE sliders) at its blocks and steps; in any mode, its DiT SAE sliders
        (`synth.dit_sae`: in their own unit, the activation they were trained on, so no gain) at the DiT
        SAE's own site and blocks, in the state's step window."""
        text = self._text_shift(state, sae, sae_id) if state.steering_mode == "inside" else None
        dit = self._dit_shift(state, dit_sae)
        if dit is None or text is None:
            return dit or text
        if text.site == dit.site:
            return InsideShift(text.site, text.shifts + dit.shifts, heads=text.heads)
        return InsideShift(text.site, text.shifts, heads=text.heads, more={dit.site: dit.shifts})

    def _text_shift(self, state: SynthState, sae, sae_id) -> InsideShift | None:
        parts = [c.strength * self.contrast(state, c.positive, c.negative)
                 for _, c in sorted(state.contrasts.items()) if c.strength != 0.0]
        if state.features and sae is None:
            raise ValueError("feature strengths set but no SAE is loaded (pass --sae SAE_DIR)")
        parts += [s * self.feature(state, sae, sae_id, fid) for fid, s in sorted(state.features.items()) if s != 0.0]
        if not parts or state.steering_gain == 0.0:
            return None
        total = torch.stack(parts).sum(0)[SITES.index(state.inside_site)]      # [blocks, steps, D]
        mask = self.where(state).mask(total.shape[0], total.shape[1])
        return InsideShift(state.inside_site, float(state.steering_gain) * total * mask[..., None],
                           heads=self.head_shift(state, sae))

    def _dit_shift(self, state: SynthState, dit_sae) -> InsideShift | None:
        from synth.dit_sae import dit_feature_shift, dit_place
        from synth.parameters import NO_DIT_SAE

        active = {f: s for f, s in state.inside_features.items() if s != 0.0}
        if not active:
            return None
        if dit_sae is None:
            raise ValueError(NO_DIT_SAE)
        shifts = dit_feature_shift(dit_sae, active, self.family.inside_hooks().blocks, state.steps, state.inside_window)
        return InsideShift(dit_place(dit_sae)[0], shifts)

    def describe(self, state: SynthState, sae=None, dit_sae=None, dit_sae_id: str | None = None) -> dict:
        """What a sidecar records: in steering mode `inside`, site, blocks, steps (0-based), strength (the gain)
        and the text heads' shifts; with DiT SAE sliders, the DiT SAE, where it acts and the sliders."""
        out: dict = {}
        if state.steering_mode == "inside":
            n_blocks = self.family.inside_hooks().blocks
            heads = self.head_shift(state, sae) if state.steering_gain != 0.0 else {}
            out = {**self.where(state).describe(n_blocks, state.steps), "strength": float(state.steering_gain),
                   "contrasts": {n: c.strength for n, c in sorted(state.contrasts.items()) if c.strength != 0.0},
                   "features": {str(f): s for f, s in sorted(state.features.items()) if s != 0.0},
                   "vector_seeds": len(self.seeds),
                   **({"heads": {k: round(v, 4) for k, v in heads.items()}} if heads else {})}
        if state.inside_features and dit_sae is not None:
            from synth.dit_sae import dit_place

            site, blocks = dit_place(dit_sae)
            out["dit_sae"] = {"sae": dit_sae_id, "site": site, "blocks": blocks, "window": state.inside_window,
                              "features": {str(f): s for f, s in sorted(state.inside_features.items())}}
        return out
