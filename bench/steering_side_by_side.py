"""Steering modes side by side on the score model: text, embedding, guidance and inside, on the same seeds.

For each contrast of bench/judged_contrasts.tsv (phrasings the inside sweep never saw) it runs
`latent-synth analysis validate` (retention and selectivity on the contrast's target feature), then
measures what each mode keeps of the music (the melody's stepwise share and notes in key, medians over
the first --music-n seeds, against unsteered renders of the neutral prompt on the same seeds) and, on the
first contrast, each steered mode's render time against embedding mode's (a batch of --time-n seeds,
best of 3, vectors already measured; a property of the mode, not of the contrast). Writes OUT/side_by_side.md and OUT/side_by_side.json.

    python bench/steering_side_by_side.py --n 100 --inside-gain 8 --inside-blocks 1 --inside-window all \
        --out runs/side_by_side
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from statistics import median
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TSV = Path(__file__).with_name("judged_contrasts.tsv")
MODES = ("text", "embedding", "guidance", "inside")


def judged(path: Path = TSV) -> list[tuple[str, str, str, str]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, pos, neg, target = line.split("\t")
            rows.append((name, pos, neg, target))
    return rows


def musicality(engine, state, seeds) -> dict:
    from analysis.score_model.melody_stats import median_of, melody_stats
    from score_quality import state_scores

    stats = [melody_stats(s) for s in state_scores(engine, state, seeds, state.seconds())]
    return {k: median_of(m[k] for m in stats) for k in ("stepwise", "in_key")}


def matched_strength(side: dict | None) -> float:
    """0.5 / the inside retention an earlier run measured at strength 0.5 (the strength whose effect should
    equal the text's, if the effect is linear in it), within [0.05, 2]."""
    if side is None or "inside" not in side["modes"]:
        raise SystemExit("--match: the earlier run has no inside row for this contrast")
    retention = side["modes"]["inside"]["retention"]
    if not math.isfinite(retention) or retention <= 0:
        return 0.5
    return min(2.0, max(0.05, 0.5 / retention))


def largest_change(poles: list[dict], plain: dict, key: str) -> float:
    """The largest |pole - unsteered| of a musicality median; NaN where a side has no melody to judge."""
    changes = [abs(k[key] - plain[key]) for k in poles if k[key] is not None and plain[key] is not None]
    return max(changes) if len(changes) == len(poles) else math.nan


def render_seconds(engine, state, seeds, repeats: int = 3) -> float:
    engine.render(state, seeds)      # measures inside vectors once, warms the caches
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        engine.render(state, seeds)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=100, help="seeds per pole for validate (default 100)")
    p.add_argument("--music-n", type=int, default=20, help="seeds for the musicality medians (default 20)")
    p.add_argument("--time-n", type=int, default=8, help="seeds in the timed batch (default 8)")
    p.add_argument("--contrasts", help="comma list of names from the TSV (default all)")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--neutral", default="music")
    p.add_argument("--inside-gain", type=float, default=1.0)
    p.add_argument("--inside-site", default="cross")
    p.add_argument("--inside-blocks")
    p.add_argument("--inside-window", default="all")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--match", metavar="DIR", help="an earlier run's OUT: each contrast's poles at the strength that "
                   "should equal the text's effect, 0.5 / that run's inside retention (linear in the strength)")
    args = p.parse_args(argv)

    from analysis.steering import validate
    from synth.config import SynthConfig
    from synth.engine import build_engine

    out = Path(args.out)
    config = SynthConfig(backend="score", device="cpu")
    engine = build_engine(config)
    rows = judged()
    if args.contrasts:
        wanted = args.contrasts.split(",")
        rows = [r for r in rows if r[0] in wanted]
    modes = args.modes.split(",")
    report = {}
    timing: dict = {}
    earlier = json.loads((Path(args.match) / "side_by_side.json").read_text()) if args.match else {}
    for name, pos, neg, target in rows:
        vargs = SimpleNamespace(out=str(out / name), pos=pos, neg=neg, n=args.n, modes=args.modes, neutral=args.neutral,
                                strength=matched_strength(earlier.get(name)) if args.match else 0.5,
                                gain=None, inside_gain=args.inside_gain, target=target, features=None, seed=0,
                                keep_audio=False, config=None, backend="score", model_id=None, device="cpu", sae=None,
                                steps=None, duration=None, batch=args.batch, jobs=args.jobs, ray=None, ray_actors=None,
                                cache=str(out / "feature_cache"), fresh=False, steering_mode=None,
                                inside_site=args.inside_site, inside_blocks=args.inside_blocks,
                                inside_window=args.inside_window)
        validate.run(vargs, engine, config)
        report[name] = side_of(engine, config, vargs, out, name, modes, args, timing)
    write(out, report, args)
    return 0


def side_of(engine, config, vargs, out, name, modes, args, timing: dict) -> dict:
    """Validate's side-by-side entry plus musicality and render time per mode."""
    from analysis.steering.validate import base_state, mode_states

    side = json.loads((out / name / "results.json").read_text())["side_by_side"]
    base = engine.resolve(base_state(config, vargs, vargs.neutral))
    seeds = list(range(args.music_n))
    plain = musicality(engine, base, seeds)
    first = not timing
    for mode in modes:
        gain = args.inside_gain if mode == "inside" else None
        a, b = mode_states(base, mode, vargs.pos, vargs.neg, vargs.neutral, vargs.strength, gain)
        kept = [musicality(engine, st, seeds) for st in (a, b)]
        for key in ("stepwise", "in_key"):
            side["modes"][mode][f"{key}_change"] = largest_change(kept, plain, key)
        if mode != "text" and first:
            timing[mode] = render_seconds(engine, a, list(range(args.time_n)))
    for mode, t in timing.items():
        side["modes"][mode]["render_seconds"] = t
        side["modes"][mode]["time_vs_embedding"] = t / timing["embedding"] if "embedding" in timing else math.nan
    side["unsteered"] = plain
    side["strength"] = vargs.strength
    return side


def write(out: Path, report: dict, args) -> None:
    from analysis.plots import fmt, markdown_table

    out.mkdir(parents=True, exist_ok=True)
    (out / "side_by_side.json").write_text(json.dumps(report, indent=1))
    rows = []
    for name, side in report.items():
        for mode, r in side["modes"].items():
            rows.append([name, side["target"], f"{side.get('strength', 0.5):.3g}", mode, fmt(r["d"], 2),
                         f"{r['retention']:.0%}" if math.isfinite(r["retention"]) else "–", f"{fmt(r['selectivity'], 2)}x",
                         fmt(r["stepwise_change"], 3), fmt(r["in_key_change"], 3),
                         f"{r['time_vs_embedding']:.2f}x" if math.isfinite(r.get("time_vs_embedding", math.nan)) else "–"])
    md = [f"# Steering modes side by side (n = {args.n} per pole; musicality over {args.music_n} seeds; "
          f"inside: {args.inside_site}, blocks {args.inside_blocks or 'all'}, {args.inside_window} steps, gain "
          f"{args.inside_gain:g})", "",
          markdown_table(["contrast", "target", "strength", "mode", "d", "retention", "selectivity", "Δ stepwise", "Δ in key",
                          "time vs embedding"], rows), "", "## Medians over the contrasts", ""]
    summary = []
    for mode in next(iter(report.values()))["modes"]:
        ret = [s["modes"][mode]["retention"] for s in report.values() if math.isfinite(s["modes"][mode]["retention"])]
        sel = [s["modes"][mode]["selectivity"] for s in report.values() if math.isfinite(s["modes"][mode]["selectivity"])]
        summary.append([mode, f"{median(ret):.0%}" if ret else "–", f"{fmt(median(sel), 2)}x" if sel else "–"])
    md += [markdown_table(["mode", "median retention", "median selectivity"], summary), ""]
    (out / "side_by_side.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
