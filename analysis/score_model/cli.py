"""`latent-synth analysis score-corpus | train-score-model | fit-score-heads`: the score model's data and training.

Heavy imports happen inside each command so `--help` stays fast.
"""
from __future__ import annotations

import json
import shlex

# analysis.score_model.training.DEFAULT_GROUP_WEIGHTS, spelled out so `--help` needs no torch import
# (tests/test_score_family.py checks the two agree).
WEIGHTS_HELP = "drums=1 notes=1"


def register(sub) -> None:
    p = sub.add_parser("score-corpus", help="generate the score model's corpus: pieces with known parameters + captions")
    p.add_argument("--n", type=int, required=True, metavar="N", help="number of pieces")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for corpus.jsonl and manifest.json")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--captions", type=int, default=3, metavar="K", help="captions per piece (default 3)")
    p.add_argument("--sources", default="procedural", metavar="LIST",
                   help="comma-separated: procedural (the generator: --n pieces), music21 (real folk tunes and Bach "
                        "chorales from the music21 corpus; parsed once, cached in ~/.cache/latent-synth/music21)")
    p.add_argument("--music21", default=None, metavar="LIST",
                   help="music21 sources as NAME or NAME:FILES (the first FILES files), comma-separated, from "
                        "oneills1850, bach, ryansMammoth, essenFolksong (default: "
                        "oneills1850,bach,essenFolksong:6,ryansMammoth:200)")
    p.add_argument("--music21-repeats", type=int, default=2, metavar="R",
                   help="pieces per music21 tune, each in its own key, tempo and orchestration (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_score_corpus)

    p = sub.add_parser("train-score-model", help="train the score model (CPU; a time budget) and save it")
    p.add_argument("--corpus", required=True, metavar="DIR", help="folder written by `analysis score-corpus`")
    p.add_argument("--out", required=True, metavar="DIR", help="model folder to write (use with --model-id)")
    p.add_argument("--minutes", type=float, default=45.0, help="training time budget in minutes (default 45)")
    p.add_argument("--steps", type=int, default=None, help="train a fixed number of steps instead")
    p.add_argument("--tokens", type=int, default=1024, help="latent frames per batch (default 1024)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    p.add_argument("--width", type=int, default=128, help="DiT width (default 128)")
    p.add_argument("--layers", type=int, default=4, help="DiT layers (default 4)")
    p.add_argument("--weight", action="append", default=[], metavar="GROUP=W",
                   help="loss weight of a channel group (key, drums, notes, instruments); repeatable "
                        f"(default: {WEIGHTS_HELP}, the rest 1)")
    p.add_argument("--head-steps", type=int, default=1500, help="AdamW steps for each text head (default 1500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train_score_model)

    p = sub.add_parser("fit-score-heads", help="fit a trained score model's text heads (tempo, drums, held) again, in place")
    p.add_argument("--model", required=True, metavar="DIR", help="score model folder (from train-score-model)")
    p.add_argument("--corpus", required=True, metavar="DIR", help="the corpus it was trained on")
    p.add_argument("--head-steps", type=int, default=1500, help="AdamW steps for each head (default 1500)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_fit_score_heads)


def _default_weights() -> dict:
    from analysis.score_model.training import DEFAULT_GROUP_WEIGHTS

    return DEFAULT_GROUP_WEIGHTS


def _weights(items: list[str]) -> dict:
    """["tempo=3", "drums=2"] -> the default group weights updated with these."""
    out = dict(_default_weights())
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"--weight {item!r}: expected GROUP=NUMBER, e.g. notes=2")
    return out


def cmd_score_corpus(args) -> int:
    from analysis.score_model.corpus import MUSIC21_DEFAULT, build_score_corpus, parse_sources

    manifest = build_score_corpus(args.n, args.out, seed=args.seed, n_captions=args.captions, progress=not args.quiet,
                                  sources=parse_sources(args.sources), music21=args.music21 or MUSIC21_DEFAULT,
                                  music21_repeats=args.music21_repeats)
    print(json.dumps(manifest))
    print(f"wrote {args.out}")
    return 0


def _command(args) -> str:
    """The command line that reproduces this run (for the model card)."""
    parts = ["latent-synth", "analysis", "train-score-model", "--corpus", args.corpus, "--out", args.out]
    for flag in ("minutes", "steps", "tokens", "lr", "width", "layers", "head_steps", "seed", "threads"):
        value = getattr(args, flag)
        if value is not None:
            parts += [f"--{flag.replace('_', '-')}", str(value)]
    for item in args.weight:
        parts += ["--weight", item]
    return " ".join(shlex.quote(p) for p in parts)


def cmd_train_score_model(args) -> int:
    import torch

    from analysis.score_model.training import ScoreTrainConfig, train_score_model

    if args.minutes <= 0 and not args.steps:
        raise ValueError(f"--minutes {args.minutes}: must be positive")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps {args.steps}: must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = ScoreTrainConfig(minutes=args.minutes, steps=args.steps, tokens=args.tokens, lr=args.lr, width=args.width,
                           layers=args.layers, seed=args.seed, group_weights=_weights(args.weight),
                           head_steps=args.head_steps)
    command = _command(args)
    result = train_score_model(args.corpus, args.out, cfg, command=command, progress=not args.quiet)
    print(json.dumps({k: result[k] for k in ("steps", "train_seconds", "wall_seconds", "cpu_seconds", "final_loss",
                                             "val_loss")}))
    print(f"wrote {args.out}")
    return 0


def cmd_fit_score_heads(args) -> int:
    import torch

    from analysis.score_model.training import refit_text_heads

    if args.head_steps < 1:
        raise ValueError(f"--head-steps {args.head_steps}: must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    parts = ["latent-synth", "analysis", "fit-score-heads", "--model", args.model, "--corpus", args.corpus,
             "--head-steps", str(args.head_steps)] + (["--threads", str(args.threads)] if args.threads else [])
    figures = refit_text_heads(args.model, args.corpus, args.head_steps, " ".join(shlex.quote(p) for p in parts),
                               progress=not args.quiet)
    print(json.dumps(figures))
    print(f"wrote {args.model}")
    return 0
