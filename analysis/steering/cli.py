"""`latent-synth analysis compare|validate|validate-preset|sonify|geometry|probes|atlas|report`.

Each command's work lives in its own module; this file only declares flags and imports lazily.
"""
from __future__ import annotations

import argparse
import importlib

from analysis.ray_cluster import add_ray_flags
from synth.engine_flags import add_engine_flags  # a cheap table; it does not import torch


def _lazy(module: str, fn: str):
    def run(args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(module), fn)(args) or 0)

    return run


def _engine_flags(p: argparse.ArgumentParser) -> None:
    add_engine_flags(p)
    p.add_argument("--steps", type=int, help="denoising steps per clip (default: the state's)")
    p.add_argument("--duration", type=float, help="clip length in seconds (default: the state's)")
    p.add_argument("--batch", type=int, default=8, help="seeds rendered per engine call (default 8)")
    p.add_argument("--jobs", type=int, default=None, help="processes for feature extraction (default: all cores)")


def add_inside_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inside-site", choices=["cross", "residual"], help="inside mode: where (default: the state's)")
    p.add_argument("--inside-blocks", metavar="B,B", help="inside mode: DiT blocks (default: the state's, all)")
    p.add_argument("--inside-window", choices=["early", "middle", "late", "all"],
                   help="inside mode: denoising steps (default: the state's, all)")


def _resume_flags(p: argparse.ArgumentParser, default_cache: str) -> None:
    p.add_argument("--cache", metavar="DIR", help=f"per-clip feature cache that makes reruns resume (default: {default_cache})")
    p.add_argument("--fresh", action="store_true", help="ignore the feature cache: render and measure every clip again")


def register(sub) -> None:
    p = sub.add_parser("compare", help="11 acoustic features of two folders of clips, with statistics")
    p.add_argument("--a", required=True, help="folder of WAVs, group a")
    p.add_argument("--b", required=True, help="folder of WAVs, group b")
    p.add_argument("--out", required=True, help="output folder (results.json, features.csv, report.md, PNG)")
    p.add_argument("--jobs", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=_lazy("analysis.steering.compare", "run"))

    p = sub.add_parser("validate", help="N-seed validation of a contrast across text/embedding/guidance modes")
    p.add_argument("--pos", help="positive prompt, e.g. 'sound rhythmic'")
    p.add_argument("--neg", help="negative prompt, e.g. 'sound sustained'")
    p.add_argument("--n", type=int, default=100, help="seeds per pole (default 100)")
    p.add_argument("--modes", default="text,embedding,guidance", help="comma list of text, embedding, guidance, inside")
    p.add_argument("--neutral", default="sound", help="neutral prompt the steering is added to (default 'sound')")
    p.add_argument("--strength", type=float, default=0.5,
                   help="steered poles at neutral ± S·(pool(pos) − pool(neg)); 0.5 puts them one difference "
                        "vector apart, like the two prompts (default 0.5)")
    p.add_argument("--gain", type=float, help="steering gain (default: the config state's steering_gain)")
    p.add_argument("--inside-gain", type=float, help="the inside mode's gain (default: --gain)")
    p.add_argument("--target", help="the feature retention and selectivity are read on (default: the one the text "
                   "moves most)")
    p.add_argument("--features", help="SAE feature sliders to validate, ID=S,... (feature at +S vs −S)")
    p.add_argument("--steering-mode", choices=["embedding", "guidance", "inside"],
                   help="how --features steer (default: the config state's steering_mode)")
    p.add_argument("--seed", type=int, default=0, help="first seed (seeds are seed..seed+n-1)")
    add_inside_flags(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--keep-audio", action="store_true", help="also write every rendered WAV")
    _engine_flags(p)
    _resume_flags(p, "OUT/feature_cache")
    add_ray_flags(p)
    p.set_defaults(func=_lazy("analysis.steering.validate", "run"))

    p = sub.add_parser("steering-sweep", help="inside steering's retention and selectivity by block, step window "
                       "and strength; picks a configuration on contrasts held apart from those it is judged on")
    p.add_argument("--out", required=True, help="output folder (report.md, results.json, heat_map.png)")
    p.add_argument("--contrasts", help="comma list of the built-in contrasts to sweep (default all six)")
    p.add_argument("--pick", help="the contrasts the configuration is picked on (default fast-slow,drums,happy-sad); "
                   "the others judge it")
    p.add_argument("--sites", default="cross,residual", help="comma list of cross, residual (default both)")
    p.add_argument("--gains", default="4,8", help="steering gains, comma list (default 4,8)")
    p.add_argument("--n", type=int, default=3, help="seeds per pole (default 3: a screen, not a validation)")
    p.add_argument("--neutral", default="music", help="the prompt steered (default 'music')")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    _engine_flags(p)
    _resume_flags(p, "OUT/feature_cache")
    add_ray_flags(p)
    p.set_defaults(func=_lazy("analysis.steering.sweep", "run"), duration=2.0)

    p = sub.add_parser("validate-preset", help="measure each slider of a preset and store the result in it")
    p.add_argument("preset", help="preset YAML file, or a preset name in --presets or the shipped presets (its "
                   "`validation` is rewritten)")
    p.add_argument("--presets", default="presets", help="presets folder for a bare name (default ./presets)")
    p.add_argument("--n", type=int, default=20, help="seeds per slider end (default 20)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--out", help="also write results.json/report.md/plots here")
    _engine_flags(p)
    _resume_flags(p, "OUT/feature_cache with --out, else ~/.cache/latent-synth/features")
    add_ray_flags(p)
    p.set_defaults(func=_lazy("analysis.steering.validate_preset", "run"))

    p = sub.add_parser("sonify", help="render feature × strength and contrast × strength grids")
    p.add_argument("--out", required=True, help="output folder (WAVs, index.csv, index.json, index.md)")
    p.add_argument("--features", help="feature ids, comma list (default: the --n-features most common ones)")
    p.add_argument("--n-features", type=int, default=50, help="how many features when --features is absent")
    p.add_argument("--atlas", help="atlas.json: pick the --n-features densest features from it (default: 0..n-1)")
    p.add_argument("--all-contrasts", action="store_true",
                   help="use every built-in contrast pair instead of the config's contrasts")
    p.add_argument("--strengths", default="-2,-1,0,1,2", help="feature strengths (default -2,-1,0,1,2)")
    p.add_argument("--contrast", action="append", default=[],
                   help="NAME=POSITIVE|NEGATIVE (repeatable; default: the config's contrasts)")
    p.add_argument("--contrast-strengths", default="-3,-2,-1,0,1,2,3", help="default the 7 strengths -3..3")
    p.add_argument("--no-features", action="store_true", help="skip the feature grid")
    p.add_argument("--no-contrasts", action="store_true", help="skip the contrast grid")
    p.add_argument("--neutral", default="sound", help="prompt the features and contrasts steer (default 'sound')")
    p.add_argument("--seed", type=int, default=0, help="seed for every clip")
    p.add_argument("--gain", type=float, help="steering gain (default: the config state's steering_gain)")
    p.add_argument("--steering-mode", choices=["embedding", "guidance", "inside"], help="default: the config state's")
    _engine_flags(p)
    add_ray_flags(p)
    p.set_defaults(func=_lazy("analysis.steering.sonify", "run"))

    for name, module, helptext in (
        ("geometry", "analysis.sae.geometry", "cultural geometry of the tradition sets in SAE feature space"),
        ("probes", "analysis.sae.probes", "emotion probes: cosine structure, logistic probes, feature selectivity"),
        ("atlas", "analysis.sae.atlas", "feature atlas: top prompts, density and label composition per feature"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--sae", required=True, help="SAE folder")
        p.add_argument("--activations", required=True, help="activations folder from `analysis encode`")
        p.add_argument("--out", required=True, help="output folder")
        if name == "geometry":
            p.add_argument("--permutations", type=int, default=1000, help="label permutations (default 1000)")
            p.add_argument("--reference", default="music", help="the bare prompt for the default-bias table")
            p.add_argument("--seed", type=int, default=0, help="permutation RNG seed")
        if name == "probes":
            p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
            p.add_argument("--seed", type=int, default=0)
        if name == "atlas":
            p.add_argument("--corpus", help="corpus.jsonl the activations were encoded from (checked against them)")
            p.add_argument("--top", type=int, default=10, help="top prompts per feature (default 10)")
            p.add_argument("--list", type=int, default=50, help="features per index list (default 50)")
        p.set_defaults(func=_lazy(module, "run"))

    p = sub.add_parser("report", help="gather analysis runs into one Markdown document")
    p.add_argument("--runs", nargs="+", required=True, help="run folders (each with report.md and/or JSON)")
    p.add_argument("--out", required=True, help="Markdown file to write")
    p.set_defaults(func=_lazy("analysis.steering.report", "run"))
