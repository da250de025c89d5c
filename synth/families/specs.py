"""What each backend declares about itself, so the rest of the house asks instead of comparing names.

Torch-free on purpose: config validation, `--help` and reports read these without loading a model.
A family module (stable_audio, stable_audio_3, score) loads the backends whose spec names it; adding
a family is one module beside this file and its lines in `SPECS`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defaults:
    """What a state that leaves steps / cfg unset gets, and the auto-render preview's step count."""
    steps: int
    cfg: float
    preview_steps: int


@dataclass(frozen=True)
class BackendSpec:
    name: str                        # what users pick with --backend / `backend:`
    family: str                      # module under synth.families whose `load` builds it
    summary: str                     # one line for --help and docs
    defaults: Defaults               # steps / cfg / preview steps for its default model
    options: tuple[str, ...] = ()    # config keys its `load` takes beyond model, device and dtype
    random_weights: bool = False     # random weights: its audio is noise, for tests or timing
    random_sae: bool = False         # with no --sae, an untrained random SAE so feature sliders work offline
    bundled_sae: bool = False        # ships its own SAE (Family.bundled_sae loads it)
    writes_score: bool = False       # its decoder also writes a score (`.mid` + sidecar `score`)
    own_model_note: str | None = None  # what a report says about a real model's numbers, if anything
    requires: tuple[str, ...] = ()   # newer libraries than the package's floors, e.g. "diffusers>=0.40"

    @property
    def module(self) -> str:
        return f"synth.families.{self.family}"

    def report_note(self) -> str | None:
        """One line for a report about what its numbers mean on this backend, or None."""
        if self.random_weights:
            return (f"The `{self.name}` backend has random weights: its audio is noise and these numbers test the "
                    "machinery, not a model.")
        return self.own_model_note


SAO_STEPS = Defaults(steps=100, cfg=7.0, preview_steps=12)
# The tiny model's cost is the scheduler's per-seed Brownian noise (~1 ms per seed per step), so it
# defaults to fewer steps than the real model's 100.
TINY_SAO_STEPS = Defaults(steps=25, cfg=7.0, preview_steps=6)
# Stable Audio 3's distilled checkpoints (the defaults); its base checkpoints take SAO_STEPS.
SA3_DISTILLED_STEPS = Defaults(steps=8, cfg=1.0, preview_steps=2)
# Measured (docs/score_model.md): 12 steps at cfg 2 keep the held-out scores of 20 steps at cfg 2-7 and
# render a 5 s clip in 0.37 s on this CPU; higher cfg pushes the tempo past its trained range.
SCORE_STEPS = Defaults(steps=12, cfg=2.0, preview_steps=6)

# Stable Audio 3's classes (AutoencoderSAME, StableAudio3DiTModel) arrived in diffusers 0.40 and its T5Gemma
# text encoder in transformers 4.53: newer than the floors the other backends run with.
T5GEMMA_REQUIRES = ("transformers>=4.53",)
SA3_REQUIRES = ("diffusers>=0.40", *T5GEMMA_REQUIRES)

SPECS: dict[str, BackendSpec] = {s.name: s for s in (
    BackendSpec("tiny", "stable_audio", "tiny random Stable Audio Open (noise; tests)", TINY_SAO_STEPS,
                random_weights=True, random_sae=True),
    BackendSpec("stable-audio", "stable_audio", "Stable Audio Open 1.0 (gated weights)", SAO_STEPS,
                options=("cpu_offload",)),
    BackendSpec("random-full", "stable_audio", "full-size random Stable Audio Open (timing only)", SAO_STEPS,
                random_weights=True),
    BackendSpec("tiny-sa3", "stable_audio_3", "tiny random Stable Audio 3 (noise; tests)", SA3_DISTILLED_STEPS,
                random_weights=True, random_sae=True, requires=SA3_REQUIRES),
    BackendSpec("stable-audio-3", "stable_audio_3", "Stable Audio 3 medium / small-music / small-sfx",
                SA3_DISTILLED_STEPS, options=("cpu_offload",), requires=SA3_REQUIRES),
    BackendSpec("random-full-sa3", "stable_audio_3", "full-size random Stable Audio 3 (timing only)",
                SA3_DISTILLED_STEPS, options=("size",), random_weights=True, requires=SA3_REQUIRES),
    BackendSpec("score", "score", "our score model through a General MIDI SoundFont (offline music)", SCORE_STEPS,
                options=("soundfont",), bundled_sae=True, writes_score=True,
                own_model_note=("The `score` backend is our own small model (Stable Audio Open's architecture, our "
                                "data): everything measured here is a property of this model, not of Stable Audio.")),
)}
