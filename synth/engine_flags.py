"""The engine flags, declared once: `render`, `serve`, `midi-replay` and the analysis jobs that render
all add them from this table, and `config_from_flags` applies them to the config the same way.

Each flag sets the SynthConfig field of the same name (`--model-id` -> `model_id`). A flag left off is
None, so the config file (or the packaged defaults) decides.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from synth.backends import NAMES as BACKENDS  # a cheap table; it does not import torch
from synth.backends import SIZES
from synth.config import DTYPES, SDE_NOISES, SynthConfig, load_config


@dataclass(frozen=True)
class EngineFlag:
    key: str                                  # the SynthConfig field (and argparse dest)
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    switch: bool = False                      # a store_true flag (None when absent)
    negatable: bool = False                   # a switch that also has --no-X (None when neither is given)

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


ENGINE_FLAGS: tuple[EngineFlag, ...] = (
    EngineFlag("backend", "model backend (default: the config's)", "NAME", BACKENDS),
    EngineFlag("model_id", "Hub id or local folder (default: the backend's own)", "ID"),
    EngineFlag("size", "random-full-sa3 only (small is an estimate)", "SIZE", SIZES),
    EngineFlag("soundfont", "score backend: a General MIDI .sf2 (default: FluidR3_GM, else TimGM6mb, installed)",
               "FILE"),
    EngineFlag("device", "auto | cpu | cuda | cuda:N (default: the config's)", "DEV"),
    EngineFlag("dtype", "auto = float16 on CUDA; float32 on a CPU (bfloat16 for Stable Audio 3 where the CPU has "
                        "bfloat16 matrix units)", "T", DTYPES),
    EngineFlag("cpu_offload", "stable-audio(-3): keep models on the CPU, move each to the GPU when used",
               switch=True),
    EngineFlag("quantize", "CPU: dynamic int8 Linear layers (about 2x faster for full-size Stable Audio 3 "
                           "on an AVX2 CPU)", "KIND", ("int8",)),
    EngineFlag("compile", "torch.compile the denoiser (CUDA graphs on a GPU): slower first clip, faster after "
                          "(serve: the default on CUDA; --no-compile opts out)", switch=True, negatable=True),
    EngineFlag("sde_noise", "Stable Audio Open's sampler noise: tree = diffusers' Brownian tree (bit-equal), "
                            "steps = fresh per-step noise, no host work (auto: steps on CUDA)", "KIND", SDE_NOISES),
    EngineFlag("sae", "SAE folder for feature sliders, trained on this backend's text encoder (default: the "
                      "backend's own: the score model's shipped SAE, a random one on tiny backends)", "SAE_DIR"),
    EngineFlag("dit_sae", "SAE folder trained on this DiT's own activations (`analysis dit-sae`), for "
                          "/synth/inside/<id> sliders", "DIR"),
)


def add_engine_flags(parser, argparse_choices: bool = True) -> None:
    """`--config` and every engine flag. With `argparse_choices=False` a bad choice is left for
    `config_from_flags` to refuse in one line (argparse would print the usage block too)."""
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="synth.yaml to start from (default: the packaged one)")
    for f in ENGINE_FLAGS:
        if f.switch:
            action = argparse.BooleanOptionalAction if f.negatable else "store_true"
            parser.add_argument(f.flag, action=action, default=None, help=f.help)
        elif f.choices and argparse_choices:
            parser.add_argument(f.flag, choices=f.choices, default=None, help=f.help)
        else:
            choices = f"{' | '.join(f.choices)}: " if f.choices else ""
            parser.add_argument(f.flag, metavar=f.metavar, default=None, help=choices + f.help)


def check_choice(flag: str, text: str, choices: tuple[str, ...]) -> str:
    if text not in choices:
        raise ValueError(f"{flag} {text!r}: choose one of {', '.join(choices)}")
    return text


def config_from_flags(args, **more) -> SynthConfig:
    """`--config FILE` (or the packaged defaults) with the engine flags that were given applied, and
    `more` config fields (a command's own, e.g. render's --window)."""
    changes = {}
    for f in ENGINE_FLAGS:
        value = getattr(args, f.key, None)
        if value is not None and f.choices:
            value = check_choice(f.flag, value, f.choices)
        changes[f.key] = value
    return load_config(getattr(args, "config", None)).override(**changes, **more)
