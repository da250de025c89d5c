"""Benchmark: how much of the text effect does steering keep? (the product's central question)

    python bench/steering_retention.py --out runs/steering                  # score backend, N=100
    python bench/steering_retention.py --out runs/steering --gains 1,2,4    # plus a steering-gain sweep
    python bench/steering_retention.py --out runs/steering --n 8 --backend tiny --no-features  # machinery

For each contrast it runs `latent-synth analysis validate` (text, embedding and guidance modes; N
seeds per pole), and for each extra gain the two steered modes again at that gain. Then it prints,
side by side from that one run, each mode's Cohen's d on the contrast's target acoustic feature
and its retention (d_mode / d_text), and the median retention over the features the text moves
clearly (|d_text| >= 0.5). The SAE features run once per steering mode (+S vs −S on the neutral
prompt); there is no text reference for them, so their rows give d alone.

Every run resumes from its feature cache. Writes OUT/retention.json and OUT/retention.md.
Numbers from the `score` backend are properties of our score model, not of Stable Audio.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from functools import partial  # noqa: E402

from analysis import plots  # noqa: E402

fmt = partial(plots.fmt, digits=2)

# name: (positive, negative, the acoustic feature the contrast is about)
CONTRASTS = {
    "fast-slow": ("fast music", "slow music", "onset_density"),
    "loud-soft": ("loud music", "soft music", "rms_mean"),
    "high-low": ("music in a high register", "music in a low register", "spectral_centroid_mean"),
    "drums": ("music with drums", "solo music without drums", "spectral_flatness_mean"),
    "happy-sad": ("happy music", "sad music", "onset_density"),
}
# From the shipped MiniLM SAE v2's atlas (synth/models/minilm_sae/labels.json): the same four kinds of
# feature as v1's 2965, 1590, 2569, 2695 in docs/steering_research.md (ids differ between SAEs).
FEATURES = {5307: "synthesizer", 1590: "piano", 2378: "high-speed", 5496: "strong-wind"}
CLEAR_D = 0.5   # a text effect this large or larger counts toward the median retention


def run_validate(argv: list[str]) -> dict:
    from bridge.cli import main as cli

    out = Path(argv[argv.index("--out") + 1])
    code = cli(["analysis", "validate", *argv])   # resumes from OUT/feature_cache: a rerun renders nothing new
    if code:
        raise SystemExit(f"validate {' '.join(argv)} exited {code}")
    return json.loads((out / "results.json").read_text())


def d_of(results: dict, mode: str, feature: str) -> float | None:
    return results["modes"][mode]["features"][feature]["cohens_d"]


def ratio(d: float | None, d_text: float | None) -> float | None:
    return None if d is None or not d_text else d / d_text


def median_retention(text: dict, steered: dict) -> float | None:
    """Median d_mode / d_text over the acoustic features the text moves by |d| >= CLEAR_D."""
    ratios = [steered[n]["cohens_d"] / text[n]["cohens_d"] for n in text
              if text[n]["cohens_d"] is not None and abs(text[n]["cohens_d"]) >= CLEAR_D
              and steered[n]["cohens_d"] is not None]
    return statistics.median(ratios) if ratios else None


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (one validate run per subfolder)")
    ap.add_argument("--backend", default="score")
    ap.add_argument("--n", type=int, default=100, help="seeds per pole (default 100)")
    ap.add_argument("--neutral", default="music", help="prompt the steering is added to (default 'music')")
    ap.add_argument("--strength", type=float, default=0.5, help="contrast strength (default 0.5: poles one "
                                                                    "difference vector apart)")
    ap.add_argument("--gains", default="1", help="steering gains, comma list; the first also runs text mode")
    ap.add_argument("--contrasts", default=",".join(CONTRASTS), help=f"subset of {', '.join(CONTRASTS)}")
    ap.add_argument("--features", default=",".join(f"{f}=2" for f in FEATURES),
                    help="SAE features ID=S,... (default: four from the shipped atlas at ±2)")
    ap.add_argument("--no-features", action="store_true")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)
    out = Path(args.out)
    gains = [float(g) for g in args.gains.split(",")]
    common = ["--backend", args.backend, "--n", str(args.n), "--neutral", args.neutral,
              "--duration", str(args.duration), "--batch", str(args.batch)]

    rows, report = [], {"backend": args.backend, "n": args.n, "neutral": args.neutral, "strength": args.strength,
                        "contrasts": {}, "features": {}}
    for name in args.contrasts.split(","):
        pos, neg, target = CONTRASTS[name]
        text = None
        for i, gain in enumerate(gains):
            modes = "text,embedding,guidance" if i == 0 else "embedding,guidance"
            res = run_validate(["--pos", pos, "--neg", neg, "--modes", modes, "--strength", str(args.strength),
                                "--gain", str(gain), "--out", str(out / name / f"gain_{gain:g}"), *common])
            text = text or res["modes"]["text"]["features"]
            d_text = text[target]["cohens_d"]
            for mode in ("embedding", "guidance"):
                d = d_of(res, mode, target)
                entry = {"pos": pos, "neg": neg, "target": target, "gain": gain, "mode": mode, "d_text": d_text,
                         "d_mode": d, "retention": ratio(d, d_text),
                         "median_retention": median_retention(text, res["modes"][mode]["features"])}
                report["contrasts"].setdefault(name, []).append(entry)
                rows.append(entry | {"name": name})

    lines = [f"Steering retention, backend `{args.backend}`, {args.n} seeds per pole, neutral `{args.neutral}`, "
             f"contrast strength {args.strength:g}",
             "", "| contrast | target feature | d text | gain | mode | d mode | retention | median retention |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} (+ `{r['pos']}` / − `{r['neg']}`) | {r['target']} | {fmt(r['d_text'])} | "
                     f"{r['gain']:g} | {r['mode']} | {fmt(r['d_mode'])} | {pct(r['retention'])} | "
                     f"{pct(r['median_retention'])} |")

    if not args.no_features:
        lines += ["", "| SAE feature | steering | largest |d| (acoustic feature) | d onset_density | d rms_mean | "
                      "d spectral_centroid_mean |", "|---|---|---|---|---|---|"]
        for mode in ("embedding", "guidance"):
            res = run_validate(["--features", args.features, "--steering-mode", mode,
                                "--out", str(out / f"features_{mode}"), *common])
            for key, r in res["modes"].items():
                feats = r["features"]
                best = max(feats, key=lambda n: abs(feats[n]["cohens_d"] or 0.0))
                fid = int(key.split("_")[1])
                report["features"].setdefault(key, {})[mode] = {n: feats[n]["cohens_d"] for n in feats}
                lines.append(f"| #{fid} {FEATURES.get(fid, '')} | {mode} | {fmt(feats[best]['cohens_d'])} ({best}) | "
                             f"{fmt(feats['onset_density']['cohens_d'])} | {fmt(feats['rms_mean']['cohens_d'])} | "
                             f"{fmt(feats['spectral_centroid_mean']['cohens_d'])} |")

    text_md = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "retention.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "retention.md").write_text(text_md)
    print(text_md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
