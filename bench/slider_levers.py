"""Benchmark: do the levers make a preset's feature sliders more selective?

    python bench/slider_levers.py --preset presets/score-sliders.yaml --seeds 6

For each feature slider of the preset (at its ±max), on the backend it is rendered with (default `score`),
over N seeds, the target effect (the slider name's acoustic feature, or its largest one) and the
selectivity (|d| of the target over the mean |d| of the other 10 features) under:

- `embedding`: the preset's way, the feature's vector added at every token;
- `no shared`: the component along the direction shared by all features removed (analysis.sae.levers);
- `word tokens`: the vector only at the prompt's word tokens (same pooled shift);
- `guidance 2cfg`: guidance-mode steering at gain 2·cfg (at gain = cfg it is embedding mode exactly);
- `embedding 2x`: embedding at twice the strength (the same nominal push as `guidance 2cfg`).

Everything runs in this process on one engine; clips are measured with the project's 11 features. On the
score backend the numbers are properties of our own small model, not of Stable Audio.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

LEVERS = ("embedding", "no shared", "word tokens", "guidance 2cfg", "embedding 2x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default=str(Path(__file__).resolve().parents[1] / "presets" / "score-sliders.yaml"))
    ap.add_argument("--backend", default="score")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--first-seed", type=int, default=2000)
    ap.add_argument("--out", default=None, help="also write the table as Markdown here")
    args = ap.parse_args(argv)

    import torch

    from analysis.steering.acoustic_features import FEATURE_NAMES
    from analysis.steering.clip_runner import measure_chunk
    from analysis.plots import markdown_table, write_text
    from analysis.sae.effects import effect_of_name, effect_sizes, main_effect, selectivity
    from analysis.sae.levers import pooled_preserving_scale, shared_direction, without_shared, word_positions
    from synth.conditioning import add_at_tokens
    from synth.config import SynthConfig
    from synth.denoise import denoise
    from synth.engine import build_engine
    from synth.presets import load_preset_file

    preset = load_preset_file(args.preset)
    engine = build_engine(SynthConfig(backend=args.backend, device="cpu"))
    base = engine.resolve(preset.state.replace(features={}))
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    seconds = base.seconds()
    W_dec = engine.sae.W_dec.detach().float()
    scale = engine.sae.feature_scale().float()
    shared = shared_direction(W_dec)
    plain = engine.conditioning(base)
    words = word_positions(plain.mask[0])
    boost = pooled_preserving_scale(plain.mask[0], words)

    def measure(conds_or_state, label):
        if isinstance(conds_or_state, list):
            audio = denoise(engine.family, conds_or_state, seeds, seconds, base.steps, base.cfg, window="clip").numpy()
        else:
            audio = engine.render(conds_or_state, seeds=seeds).audio
        return [r.features for r in measure_chunk([f"{label}/{s}" for s in seeds], audio, engine.sample_rate)
                if r.features is not None]

    def with_vector(vec, mask):
        return [replace(plain, hidden=add_at_tokens(plain.hidden, mask, vec))] * len(seeds)

    def pole(lever, fid, s):
        vec = s * scale[fid] * W_dec[fid]
        if lever == "embedding":
            return base.replace(features={fid: s})
        if lever == "embedding 2x":
            return base.replace(features={fid: 2 * s})
        if lever == "guidance 2cfg":
            return base.replace(features={fid: s}, steering_mode="guidance", steering_gain=2 * base.cfg)
        if lever == "no shared":
            return with_vector(without_shared(vec, shared), plain.mask)
        return with_vector(vec * boost, words.unsqueeze(0))   # word tokens

    rows = []
    for slider in preset.sliders:
        if not slider.address.startswith("/synth/feature/"):
            continue
        fid, S = int(slider.address.rsplit("/", 1)[1]), float(slider.max)
        claim = effect_of_name(slider.name)
        cos = float(W_dec[fid] @ shared / W_dec[fid].norm())
        cells = [slider.name, f"{cos:+.2f}"]
        for lever in LEVERS:
            with torch.no_grad():
                d = effect_sizes(measure(pole(lever, fid, S), f"{lever}+"), measure(pole(lever, fid, -S), f"{lever}-"),
                                 FEATURE_NAMES)
            target = claim[0] if claim else main_effect(d)[0]
            cells.append(f"{d[target]:+.2f} / {selectivity(d, target):.1f}x")
            print(f"{slider.name} [{lever}]: {target} d {d[target]:+.2f}, selectivity {selectivity(d, target):.1f}x",
                  flush=True)
        rows.append(cells)
    table = markdown_table(["slider", "cos to shared", *(f"{lv}: d / sel." for lv in LEVERS)], rows)
    print(f"\n{args.backend}, {len(seeds)} seeds per pole (seeds {seeds[0]}..{seeds[-1]}), preset {preset.name}:\n")
    print(table)
    if args.out:
        write_text(Path(args.out), f"# Slider levers\n\n{len(seeds)} seeds per pole on `{args.backend}`.\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
