"""Benchmark: what a steering slider does to the score model's *scores*, over N seeds.

    python bench/steering_scores.py                          # the features of presets/score-sliders.yaml
    python bench/steering_scores.py --features 1590,2965 --strength 4 --seeds 50 --mode guidance --gain 2

Acoustic features (`analysis validate`) see a change of instrument only through its timbre. The score
model's latent says it outright, so this decodes the scores of N seeds at −S, 0 and +S for each slider
and prints, side by side: the share of seeds whose melody is in each slider's most common GM family
at +S, the mean bpm, the share with drums, and the melody's mean pitch and velocity. No audio is
rendered. The same is printed for text references (`--text POS|NEG`), to compare with the text's own
effect. These are properties of our score model, not of Stable Audio.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from score_quality import state_scores as pole_scores  # noqa: E402  (bench/ is this script's folder)

PRESET = Path(__file__).resolve().parents[1] / "presets" / "score-sliders.yaml"
FAMILIES = ("piano", "chromatic perc.", "organ", "guitar", "bass", "strings", "ensemble", "brass", "reed", "pipe",
            "synth lead", "synth pad", "synth fx", "ethnic", "percussive", "sound fx")


def describe(scores) -> dict:
    """Per-pole summary: melody family counts, mean bpm, drum share, melody mean pitch and velocity."""
    melodies = [s.voice("melody") for s in scores]
    notes = [m for m in melodies if m is not None and m.notes]
    return {"families": Counter(m.program // 8 for m in notes),
            "bpm": statistics.fmean(s.bpm for s in scores),
            "drums": sum(bool(s.drums) for s in scores) / len(scores),
            "pitch": statistics.fmean(statistics.fmean(n.pitch for n in m.notes) for m in notes) if notes else float("nan"),
            "velocity": statistics.fmean(statistics.fmean(n.velocity for n in m.notes) for m in notes) if notes else float("nan"),
            "n": len(scores)}


def row(name: str, poles: dict[str, dict]) -> str:
    top = poles["+"]["families"].most_common(1)
    fam = top[0][0] if top else None
    share = {k: (p["families"][fam] / p["n"] if fam is not None else 0.0) for k, p in poles.items()}
    cells = [name, FAMILIES[fam] if fam is not None else "—"]
    cells.append(" / ".join(f"{100 * share[k]:.0f}%" for k in poles))
    for key, f in (("bpm", "{:.0f}"), ("drums", "{:.0%}"), ("pitch", "{:.1f}"), ("velocity", "{:.0f}")):
        cells.append(" / ".join(f.format(p[key]) for p in poles.values()))
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", help="comma list of SAE feature ids (default: the score-sliders preset's)")
    ap.add_argument("--text", action="append", default=[], metavar="POS|NEG",
                    help="text reference: the two prompts as poles (repeatable)")
    ap.add_argument("--neutral", default="music")
    ap.add_argument("--strength", type=float, default=4.0, help="feature strength S (poles −S, 0, +S; default 4)")
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--mode", choices=["embedding", "guidance"], default="embedding")
    ap.add_argument("--gain", type=float, default=1.0)
    args = ap.parse_args(argv)

    import yaml

    from synth.config import SynthConfig
    from synth.engine import build_engine
    from synth.state import PromptSlot, SynthState

    engine = build_engine(SynthConfig(backend="score", device="cpu"))
    labels = getattr(engine.sae, "labels", None) or {}
    if args.features:
        features = [int(f) for f in args.features.split(",")]
    else:
        features = sorted(yaml.safe_load(PRESET.read_text())["state"]["features"])
    seeds = list(range(args.seeds))

    def state_for(text: str, **kw) -> SynthState:
        return engine.resolve(SynthState(prompts=[PromptSlot(text, 1.0)], duration=args.seconds, seed=0,
                                         steering_mode=args.mode, steering_gain=args.gain, **kw))

    base = describe(pole_scores(engine, state_for(args.neutral), seeds, args.seconds))
    print(f"score backend, {args.seeds} seeds per pole, neutral `{args.neutral}`, features at −{args.strength:g} / 0 / "
          f"+{args.strength:g} ({args.mode} steering, gain {args.gain:g}); text rows: − prompt / neutral / + prompt\n")
    print("| slider | melody family most common at + | its share − / 0 / + | bpm | drums | melody pitch | "
          "melody velocity |")
    print("|---|---|---|---|---|---|---|")
    for fid in features:
        poles = {"−": describe(pole_scores(engine, state_for(args.neutral, features={fid: -args.strength}), seeds,
                                           args.seconds)),
                 "0": base,
                 "+": describe(pole_scores(engine, state_for(args.neutral, features={fid: args.strength}), seeds,
                                           args.seconds))}
        label = (labels.get(fid) or [""])[0]
        print(row(f"#{fid} {label}".strip(), poles), flush=True)
    for pair in args.text:
        pos, _, neg = pair.partition("|")
        poles = {"−": describe(pole_scores(engine, state_for(neg), seeds, args.seconds)), "0": base,
                 "+": describe(pole_scores(engine, state_for(pos), seeds, args.seconds))}
        print(row(f"text `{pos}` / `{neg}`", poles), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
