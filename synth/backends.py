"""The backends users pick by name, and the model family that loads each.

| backend            | family          | what it is                                                       |
|--------------------|-----------------|------------------------------------------------------------------|
| score              | score           | our own model: writes a score, plays it through a GM SoundFont    |
| stable-audio-3     | stable-audio-3  | Stable Audio 3 (medium, small-music, small-sfx), real weights     |
| stable-audio       | stable-audio    | Stable Audio Open 1.0, real weights                               |
| tiny / tiny-sa3    | SAO / SA3       | tiny random weights, offline, for tests: NOISE                    |
| random-full[-sa3]  | SAO / SA3       | full-size random weights, for timing and memory only: NOISE       |
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing this table must stay cheap: config and --help read it without torch
    from synth.families.base import Family

# backend -> (module with `load`, one line for --help and docs)
BACKENDS: dict[str, tuple[str, str]] = {
    "tiny": ("synth.families.stable_audio", "tiny random Stable Audio Open (noise; tests)"),
    "stable-audio": ("synth.families.stable_audio", "Stable Audio Open 1.0 (gated weights)"),
    "random-full": ("synth.families.stable_audio", "full-size random Stable Audio Open (timing only)"),
    "tiny-sa3": ("synth.families.stable_audio_3", "tiny random Stable Audio 3 (noise; tests)"),
    "stable-audio-3": ("synth.families.stable_audio_3", "Stable Audio 3 medium / small-music / small-sfx"),
    "random-full-sa3": ("synth.families.stable_audio_3", "full-size random Stable Audio 3 (timing only)"),
    "score": ("synth.families.score", "our score model through a General MIDI SoundFont (offline music)"),
}
NAMES = tuple(BACKENDS)
SIZES = ("medium", "small")
# Backends whose family decodes to a score (Family.writes_score), known without loading the model:
# jam mode's --midi-out and bench/jam.py ask this before a daemon runs.
WRITES_SCORE = frozenset({"score"})


def load_backend(backend: str, model_id: str | None = None, device: str | None = "auto",
                 dtype: str | None = "auto", cpu_offload: bool = False, size: str = "medium",
                 **options) -> "Family":
    """Load one backend's model family onto `device`. Raises ValueError for an unknown name and
    BackendError (one line, saying how to get the weights) when weights are missing."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (use {', '.join(NAMES)})")
    from synth.families.loading import resolve_device

    dev = resolve_device(device)
    module = importlib.import_module(BACKENDS[backend][0])
    if backend == "random-full-sa3":
        options["size"] = size
    return module.load(backend, model_id, dev, dtype, cpu_offload, **options)
