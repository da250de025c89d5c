"""`latent-synth render`: one-shot rendering from the command line.

    latent-synth render --backend tiny --prompt "warm analog pad" --feature 12=1.5 --seed 7 \\
        --duration 4 --out DIR

writes one WAV (+ JSON sidecar) per seed into DIR and prints each WAV's path, one per line; the
last line is the last WAV. Every flag is parsed here rather than by argparse `type=`/`choices=`, so
a bad value fails with one line naming it (argparse would print the usage block too).
"""
from __future__ import annotations

import math
import os
import re
import sys
import time
from pathlib import Path

from synth.backends import spec_for
from synth.engine_flags import add_engine_flags, check_choice, config_from_flags
from synth.state import ARRANGEMENTS, INSIDE_SITES, INSIDE_WINDOWS, NUM_SLOTS, STEERING_MODES, Contrast, PromptSlot, SynthState

DEFAULT_STRENGTH = 0.5  # --init without --strength: halfway between the source and a fresh clip
NEEDS_SAE = ("--feature needs --sae SAE_DIR (an SAE trained on this backend's text encoder; make one with "
             "`latent-synth analysis sliders --backend {backend}`)")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render",
        help="render clips from prompts, SAE features and contrasts into a folder",
        description="Render one clip per seed (WAV + JSON sidecar) and print the WAV paths; the last "
                    "line is the last WAV. The tiny backend runs offline but its output is noise.",
    )
    add_engine_flags(p, argparse_choices=False)
    p.add_argument("--prompt", action="append", default=[], metavar="TEXT[=WEIGHT]",
                   help=f"a prompt slot (repeat up to {NUM_SLOTS}); weight defaults to 1")
    p.add_argument("--feature", action="append", default=[], metavar="ID=S",
                   help="SAE feature strength in units of its top prompts' activation (repeatable)")
    p.add_argument("--contrast", action="append", default=[], metavar="POS/NEG=S",
                   help="add S * (enc(POS) - enc(NEG)); or NAME=S for a contrast named in the config")
    p.add_argument("--seed", metavar="N", help="first seed")
    p.add_argument("--n", metavar="N", help="number of seeds: seed .. seed+N-1 (default 1)")
    p.add_argument("--duration", metavar="SECONDS", help="clip length in seconds")
    p.add_argument("--bpm", metavar="BPM", help="tempo; with --bars sets the length")
    p.add_argument("--bars", metavar="BARS", help="length in 4/4 bars at --bpm")
    p.add_argument("--steps", metavar="N", help="denoising steps (default: the backend's, e.g. 8 for Stable Audio 3)")
    p.add_argument("--cfg", metavar="G", help="classifier-free guidance scale (default: the backend's)")
    p.add_argument("--window", metavar="W", help="clip (denoise only the frames needed) | full (47.55 s, crop)")
    p.add_argument("--steering", "--steering-mode", dest="steering", metavar="MODE",
                   help="embedding | guidance | inside (directions added in the DiT's blocks)")
    p.add_argument("--inside-site", metavar="SITE", help="inside steering: residual (the residual stream, default) | cross (cross-attention output)")
    p.add_argument("--inside-blocks", metavar="B,B", help="inside steering: the DiT blocks, comma list (default all)")
    p.add_argument("--inside-window", metavar="W", help="inside steering: early | middle | late (default) | all steps")
    p.add_argument("--arrangement", metavar="A", help="score backend: which voices play, drums-only | solo | "
                   "melody+accompaniment | ensemble (default: what the words say, else the model)")
    p.add_argument("--gain", metavar="W", help="steering gain")
    p.add_argument("--mix", metavar="MODE", help="prompt mixing: embedding | guidance")
    p.add_argument("--name", metavar="NAME", help="clip name (file slug); default: the strongest prompt")
    p.add_argument("--out", metavar="DIR", help="output folder (default: out_dir from the config)")
    p.add_argument("--subtype", metavar="S", help="FLOAT (32-bit float, default) | PCM_24")
    p.add_argument("--normalize", action="store_true", default=None, help="peak-normalise to -1 dBFS")
    p.add_argument("--init", metavar="FILE", help="a variation of this clip: a WAV (Stable Audio) or a .mid (score)")
    p.add_argument("--strength", metavar="S", help="with --init: how far to move from it, 0 < S <= 1 (default 0.5)")
    p.set_defaults(func=run)


# ------------------------------------------------------------------ flag parsing (pure)
def _flag_float(flag: str, text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} {text!r}: not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{flag} {text!r}: must be a finite number")
    return value


def _flag_int(flag: str, text: str) -> int:
    if not re.fullmatch(r"\s*[+-]?\d+\s*", str(text)):
        raise ValueError(f"{flag} {text!r}: not an integer")
    return int(text)


def parse_prompt(text: str) -> PromptSlot:
    """'TEXT' (weight 1) or 'TEXT=WEIGHT'; an '=' not followed by a number belongs to the text."""
    head, sep, tail = text.rpartition("=")
    if sep and head.strip():
        try:
            weight = float(tail)
        except ValueError:
            return PromptSlot(text, 1.0)
        if not math.isfinite(weight):
            raise ValueError(f"--prompt {text!r}: weight must be a finite number")
        return PromptSlot(head.strip(), weight)
    if not text.strip():
        raise ValueError(f"--prompt {text!r}: empty prompt")
    return PromptSlot(text.strip(), 1.0)


def parse_feature(text: str) -> tuple[int, float]:
    m = re.fullmatch(r"\s*(\d+)\s*=\s*(\S+)\s*", text)
    if not m:
        raise ValueError(f"--feature {text!r}: expected ID=STRENGTH, e.g. 12=1.5")
    try:
        strength = float(m.group(2))
    except ValueError:
        raise ValueError(f"--feature {text!r}: strength {m.group(2)!r} is not a number") from None
    if not math.isfinite(strength):
        raise ValueError(f"--feature {text!r}: strength must be a finite number")
    return int(m.group(1)), strength


def parse_contrast(text: str, defs: dict[str, tuple[str, str]]) -> tuple[str, Contrast]:
    head, sep, tail = text.rpartition("=")
    if not sep or not head.strip():
        raise ValueError(f"--contrast {text!r}: expected POSITIVE/NEGATIVE=STRENGTH or NAME=STRENGTH")
    try:
        strength = float(tail)
    except ValueError:
        raise ValueError(f"--contrast {text!r}: strength {tail!r} is not a number") from None
    if not math.isfinite(strength):
        raise ValueError(f"--contrast {text!r}: strength must be a finite number")
    if "/" in head:
        pos, _, neg = head.partition("/")
        if not pos.strip() or not neg.strip():
            raise ValueError(f"--contrast {text!r}: both POSITIVE and NEGATIVE prompts are needed")
        from synth.clip_writer import slugify

        name = f"{slugify(pos)}-vs-{slugify(neg)}"
        return name, Contrast(pos.strip(), neg.strip(), strength)
    name = head.strip()
    if name not in defs:
        known = ", ".join(sorted(defs)) or "none"
        raise ValueError(f"--contrast {text!r}: no contrast named {name!r} in the config (known: {known}); "
                         "use POSITIVE/NEGATIVE=STRENGTH")
    pos, neg = defs[name]
    return name, Contrast(pos, neg, strength)


def state_from_args(args, config) -> SynthState:
    """The config's default state with the flags applied (validated, without the SAE-size check)."""
    base = config.state()
    changes: dict = {}
    if args.prompt:
        if len(args.prompt) > NUM_SLOTS:
            raise ValueError(f"--prompt given {len(args.prompt)} times; at most {NUM_SLOTS} slots")
        changes["prompts"] = [parse_prompt(t) for t in args.prompt]
    if args.feature:
        changes["features"] = dict(parse_feature(t) for t in args.feature)
    if args.contrast:
        contrasts = dict(base.contrasts)
        contrasts.update(parse_contrast(t, config.contrast_defs()) for t in args.contrast)
        changes["contrasts"] = contrasts
    if args.seed is not None:
        changes["seed"] = _flag_int("--seed", args.seed)
    for flag, key in (("--duration", "duration"), ("--bpm", "bpm"), ("--bars", "bars"), ("--cfg", "cfg"),
                      ("--gain", "steering_gain")):
        value = getattr(args, key if key != "steering_gain" else "gain")
        if value is not None:
            changes[key] = _flag_float(flag, value)
    if args.steps is not None:
        changes["steps"] = _flag_int("--steps", args.steps)
    if args.steering is not None:
        changes["steering_mode"] = check_choice("--steering-mode", args.steering, STEERING_MODES)
    if args.inside_site is not None:
        changes["inside_site"] = check_choice("--inside-site", args.inside_site, INSIDE_SITES)
    if args.inside_window is not None:
        changes["inside_window"] = check_choice("--inside-window", args.inside_window, INSIDE_WINDOWS)
    if args.arrangement is not None:
        changes["arrangement"] = check_choice("--arrangement", args.arrangement, ARRANGEMENTS)
    if args.inside_blocks is not None:
        changes["inside_blocks"] = [_flag_int("--inside-blocks", b.strip()) for b in args.inside_blocks.split(",")]
    if args.mix is not None:
        changes["mix_mode"] = check_choice("--mix", args.mix, ("embedding", "guidance"))
    if args.name is not None:
        changes["name"] = args.name
    return base.replace(**changes)


def _variation_strength(args) -> float:
    """--strength as a number in (0, 1]; refused without --init, so a typo is not silently ignored."""
    if args.strength is None:
        return DEFAULT_STRENGTH
    if not args.init:
        raise ValueError("--strength needs --init FILE (the clip to vary)")
    value = _flag_float("--strength", args.strength)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"--strength {args.strength!r}: must be in (0, 1]")
    return value


def _check_out_dir(text: str) -> Path:
    folder = Path(text).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"--out {text!r}: cannot create the folder ({exc.strerror or exc})") from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OSError(f"--out {text!r}: the folder is not writable")
    return folder


def run(args) -> int:
    from synth.config import WAV_SUBTYPES, WINDOWS

    config = config_from_flags(
        args, window=check_choice("--window", args.window, WINDOWS) if args.window else None,
        wav_subtype=check_choice("--subtype", args.subtype, WAV_SUBTYPES) if args.subtype else None,
        normalize=args.normalize)
    state = state_from_args(args, config)
    n = _flag_int("--n", args.n) if args.n is not None else 1
    if not 1 <= n <= 1000:
        raise ValueError(f"--n {args.n!r}: must be between 1 and 1000")
    seeds = [state.seed + i for i in range(n)]
    strength = _variation_strength(args)
    if args.init and not Path(args.init).expanduser().is_file():
        raise OSError(f"--init {args.init!r}: no such file")

    # Fail before loading the model where we can.
    if config.sae:
        if not Path(config.sae).expanduser().exists():
            raise OSError(f"--sae {config.sae!r}: no such folder")
    elif state.features and spec_for(config.backend).random_sae:
        from synth.engine import TINY_SAE_FEATURES

        state.validate(d_sae=TINY_SAE_FEATURES)
    elif state.features and not spec_for(config.backend).bundled_sae:
        raise ValueError(NEEDS_SAE.format(backend=config.backend))
    out_dir = _check_out_dir(args.out if args.out is not None else config.out_dir)

    from synth.engine import build_engine

    t0 = time.perf_counter()
    engine = build_engine(config)
    load_s = time.perf_counter() - t0
    if state.features and engine.sae is None:
        raise ValueError(NEEDS_SAE.format(backend=config.backend))
    guide, extra = None, {}
    if args.init:
        from synth.denoise import Guide

        guide = Guide(engine.init_latent(args.init, state.seconds()), strength=strength)
        extra = {"variation": {"init": str(Path(args.init).expanduser()), "strength": strength}}
    paths = engine.render_to_files(state, out_dir, seeds=seeds, window=config.window, subtype=config.wav_subtype,
                                   normalize=config.normalize, guide=guide, **extra)
    total = time.perf_counter() - t0
    print(f"rendered {len(paths)} clip(s) of {state.seconds():.2f} s with {engine.model_id} on {engine.device} "
          f"in {total - load_s:.2f} s (model load {load_s:.2f} s)", file=sys.stderr)
    for p in paths:
        print(p)
    return 0
