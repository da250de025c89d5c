"""Benchmark: does the score model do what a caption asks? Measured on held-out captions.

    python bench/score_quality.py                       # the shipped model, 5 seeds per caption
    python bench/score_quality.py --model-id DIR --seeds 10 --json out.json

For captions the corpus generator never produced (tests/fixtures/score_heldout.yaml), prints:
- instrument: share of caption x seed pairs whose melody voice is in the named instrument's GM family
  (program // 8); target >= 80%;
- tempo: share whose decoded bpm is within 10% of the stated one; target >= 80%;
- drums: share of "with drums" pairs that have drums (target >= 90%) and of "solo" / "no drums" pairs that
  have none (target >= 90%).
Scores are decoded from the model's latents at the backend's default steps and cfg (no audio is
rendered: the measure is of the score). These are properties of our score model, not of Stable Audio.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

HELDOUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "score_heldout.yaml"
TARGETS = {"instrument": 0.8, "tempo": 0.8, "drums_with": 0.9, "drums_without": 0.9}


def load_heldout(path=HELDOUT) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def state_scores(engine, state, seeds, seconds: float = 5.0):
    """One Score per seed for a resolved `state` (its conditioning, steps and cfg); no audio is rendered."""
    from synth.denoise import denoise

    latents = denoise(engine.family, [engine.conditioning(state)] * len(seeds), list(seeds), seconds, state.steps,
                      state.cfg, window="clip", output="latent")
    return engine.family.scores(latents, seconds)


def decode_scores(engine, text: str, seeds, seconds: float = 5.0):
    """One Score per seed for `text` at the engine's default steps and cfg."""
    from synth.state import PromptSlot, SynthState

    state = engine.resolve(SynthState(prompts=[PromptSlot(text, 1.0)], duration=seconds, seed=int(seeds[0])))
    return state_scores(engine, state, seeds, seconds)


def melody_family(score) -> int | None:
    v = score.voice("melody")
    return v.program // 8 if v is not None and v.notes else None


def measure(engine, heldout: dict, seeds, limit: int | None = None, seconds: float = 5.0) -> dict:
    """Rates and per-caption detail for the three checks."""
    detail = {"instrument": [], "tempo": [], "drums": []}
    for item in heldout["instrument"][:limit]:
        fams = [melody_family(s) for s in decode_scores(engine, item["text"], seeds, seconds)]
        detail["instrument"].append({"text": item["text"], "want": item["family"], "got": fams,
                                     "hits": sum(f == item["family"] for f in fams)})
    for item in heldout["tempo"][:limit]:
        bpms = [round(s.bpm, 1) for s in decode_scores(engine, item["text"], seeds, seconds)]
        detail["tempo"].append({"text": item["text"], "want": item["bpm"], "got": bpms,
                                "hits": sum(abs(b - item["bpm"]) <= 0.1 * item["bpm"] for b in bpms)})
    drum_items = heldout["drums"]
    if limit:
        drum_items = [d for d in drum_items if d["drums"]][:limit] + [d for d in drum_items if not d["drums"]][:limit]
    for item in drum_items:
        got = [bool(s.drums) for s in decode_scores(engine, item["text"], seeds, seconds)]
        detail["drums"].append({"text": item["text"], "want": item["drums"], "got": got,
                                "hits": sum(g == item["drums"] for g in got)})
    n = len(seeds)

    def rate(rows):
        return sum(r["hits"] for r in rows) / max(1, n * len(rows))

    rates = {"instrument": rate(detail["instrument"]), "tempo": rate(detail["tempo"]),
             "drums_with": rate([r for r in detail["drums"] if r["want"]]),
             "drums_without": rate([r for r in detail["drums"] if not r["want"]])}
    return {"rates": rates, "detail": detail, "seeds": list(seeds)}


SWEEPS = (  # (name, prompt at weight 0, prompt at weight 1, what to read off the score)
    ("tempo", "a slow calm piano piece", "a fast energetic piano piece", "bpm"),
    ("drums", "solo flute, no drums", "flute with drums", "drums"),
    ("register", "a low deep cello melody", "a high bright flute melody", "mean_pitch"),
)


def _reading(score, what: str) -> float:
    if what == "bpm":
        return score.bpm
    if what == "drums":
        return float(bool(score.drums))
    v = score.voice("melody")
    return sum(n.pitch for n in v.notes) / len(v.notes) if v is not None and v.notes else float("nan")


def mix_sweep(engine, a: str, b: str, what: str, seeds, points: int = 5, seconds: float = 5.0) -> list[float]:
    """Mean reading over seeds as the prompt mix moves from `a` to `b` in embedding mode: a model whose
    score depends smoothly on the text direction moves steadily, one that keys on exact words jumps."""
    import math

    from synth.denoise import denoise
    from synth.state import PromptSlot, SynthState

    out = []
    for i in range(points):
        w = i / (points - 1)
        state = engine.resolve(SynthState(prompts=[PromptSlot(a, 1 - w), PromptSlot(b, w)], mix_mode="embedding",
                                          duration=seconds, seed=0))
        cond = engine.conditioning(state)
        latents = denoise(engine.family, [cond] * len(seeds), list(seeds), seconds, state.steps, state.cfg,
                          output="latent")
        vals = [_reading(s, what) for s in engine.family.scores(latents, seconds)]
        vals = [v for v in vals if not math.isnan(v)]
        out.append(sum(vals) / len(vals) if vals else float("nan"))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-id", default=None, help="score model folder (default: the shipped one)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds per caption (default 5)")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the backend's)")
    ap.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the backend's)")
    ap.add_argument("--heldout", default=str(HELDOUT), help="held-out caption YAML")
    ap.add_argument("--json", metavar="PATH", help="also write rates and per-caption detail as JSON")
    ap.add_argument("--verbose", action="store_true", help="print every caption's outcome")
    ap.add_argument("--sweeps", action="store_true",
                    help="also sweep embedding-mode prompt mixes (tempo, drums, register) in 5 steps")
    args = ap.parse_args(argv)

    from dataclasses import replace

    from synth.config import SynthConfig
    from synth.engine import build_engine

    engine = build_engine(SynthConfig(backend="score", model_id=args.model_id, device="cpu"))
    if args.steps or args.cfg:
        engine.defaults = replace(engine.defaults, **{k: v for k, v in (("steps", args.steps), ("cfg", args.cfg)) if v})
    t0 = time.perf_counter()
    result = measure(engine, load_heldout(args.heldout), range(args.seeds))
    elapsed = time.perf_counter() - t0
    d = engine.defaults
    print(f"score model {engine.model_id}: {args.seeds} seeds per held-out caption, {d.steps} steps, cfg {d.cfg:g} "
          f"({elapsed:.0f} s)")
    print(f"{'check':<15} {'rate':>6} {'target':>7}  pairs")
    for key, value in result["rates"].items():
        rows = result["detail"]["drums" if key.startswith("drums") else key]
        if key.startswith("drums"):
            rows = [r for r in rows if r["want"] == (key == "drums_with")]
        ok = "ok" if value >= TARGETS[key] else "MISSED"
        print(f"{key:<15} {value:>6.1%} {TARGETS[key]:>7.0%}  {len(rows) * args.seeds:>4}  {ok}")
    if args.verbose:
        for key, rows in result["detail"].items():
            for r in rows:
                print(f"  {key:<10} {r['hits']}/{args.seeds}  want {r['want']!s:<6} got {r['got']}  {r['text']}")
    if args.sweeps:
        result["sweeps"] = {}
        print("embedding-mode mix from prompt A (weight 0) to prompt B (weight 1), mean over seeds:")
        for name, a, b, what in SWEEPS:
            values = mix_sweep(engine, a, b, what, range(args.seeds))
            result["sweeps"][name] = values
            print(f"  {name:<9} {what:<10} " + "  ".join(f"{v:7.2f}" for v in values) + f"   ({a!r} -> {b!r})")
    if args.json:
        from synth.atomic_io import atomic_write_text

        atomic_write_text(args.json, json.dumps({**result, "steps": d.steps, "cfg": d.cfg}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
