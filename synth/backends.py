"""The backends users pick by name, and the model family that loads each.

| backend            | family          | what it is                                                       |
|--------------------|-----------------|------------------------------------------------------------------|
| score              | score           | our own model: writes a score, plays it through a GM SoundFont    |
| stable-audio-3     | stable-audio-3  | Stable Audio 3 (medium, small-music, small-sfx), real weights     |
| stable-audio       | stable-audio    | Stable Audio Open 1.0, real weights                               |
| tiny / tiny-sa3    | SAO / SA3       | tiny random weights, offline, for tests: NOISE                    |
| random-full[-sa3]  | SAO / SA3       | full-size random weights, for timing and memory only: NOISE       |

What each one takes and offers (options, random weights, bundled SAE, score output, defaults) is declared
in its spec, `synth.families.specs.SPECS`: ask `spec_for(name)` rather than comparing names.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from synth.families.specs import SPECS, BackendSpec

if TYPE_CHECKING:  # importing this table must stay cheap: config and --help read it without torch
    from synth.families.base import Family

NAMES = tuple(SPECS)
SIZES = ("medium", "small")


def spec_for(backend: str) -> BackendSpec:
    """The backend's declared spec; ValueError (one line) for an unknown name."""
    if backend not in SPECS:
        raise ValueError(f"unknown backend {backend!r} (use {', '.join(NAMES)})")
    return SPECS[backend]


def load_backend(backend: str, model_id: str | None = None, device: str | None = "auto",
                 dtype: str | None = "auto", cpu_offload: bool = False, **options) -> "Family":
    """Load one backend's model family onto `device`, passing it the `options` (size, soundfont) its spec
    declares; the rest are ignored. Raises ValueError for an unknown name and BackendError (one line)
    when weights are missing (saying how to get them) or a library is older than the backend needs."""
    spec = spec_for(backend)
    from synth.families.loading import require, resolve_device

    require(spec.requires, f"the {backend} backend")
    dev = resolve_device(device)
    module = importlib.import_module(spec.module)
    taken = {k: v for k, v in options.items() if k in spec.options}
    return module.load(backend, model_id, dev, dtype, cpu_offload, **taken)
