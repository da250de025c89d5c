"""The steps `analysis sliders` adds after the atlas on a backend: the effect screen, and validation that
names each slider by its validated effect (docs/analysis.md, "Sliders named by what they do")."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

STEPS = 7


def parse_contrasts(items: Sequence[str]) -> dict[str, tuple[str, str]]:
    """['fast-slow=fast|slow'] -> {'fast-slow': ('fast', 'slow')}."""
    out = {}
    for item in items:
        key, _, poles = item.partition("=")
        pos, sep, neg = poles.partition("|")
        if not key or not sep or not pos.strip() or not neg.strip():
            raise ValueError(f"--contrast {item!r}: expected NAME=POSITIVE|NEGATIVE, e.g. 'fast-slow=fast|slow'")
        out[key.strip()] = (pos.strip(), neg.strip())
    return out


def screen_seeds(args) -> list[int]:
    return list(range(args.screen_seed, args.screen_seed + args.screen_seeds))


def effect_text(row: dict, n_seeds: int) -> str:
    """One line for /synth/feature/info: what the feature measurably does."""
    from analysis.sae.effect_screen import score_note

    if row["target"] is None:
        return "not measured"
    note = score_note(row)
    return (f"{row['word']}: {row['target']} d {row['d_target']:+.2f} at ±{row['strength']:g} over {n_seeds} seeds, "
            f"selectivity {row['selectivity']:.1f}x" + (f"; score: {note}" if note else "")
            + f"; atlas label {row['verdict']}")


def screen_step(args, out: Path, sae_dir: Path, atlas: dict, ids: Sequence[int], labels: dict[int, str],
                contrasts: dict[str, tuple[str, str]]) -> tuple[list[dict], list[dict]]:
    """Render and measure every candidate (features, then the --contrast sliders); (rows, chosen rows)."""
    from analysis.steering.clip_runner import open_runner
    from analysis.sae.effect_screen import MIN_SELECTIVITY, choose, run_screen, write_screen
    from analysis.sae.effects import MIN_D
    from analysis.steering.validate import backend_note, feature_cache
    from synth.state import Contrast, PromptSlot, SynthState

    by_id = {x["id"]: x for x in atlas["features"]}
    candidates = [{"key": f"feature_{f}", "id": f, "address": f"/synth/feature/{f}", "strength": args.strength,
                   "label": labels[f], "top": [t["text"] for t in by_id[f]["top"]]} for f in ids]
    candidates += [{"key": f"contrast_{c}", "id": c, "address": f"/synth/contrast/{c}",
                    "strength": args.contrast_strength, "label": contrasts[c][0], "top": [" / ".join(contrasts[c])]}
                   for c in contrasts]
    args.sae = str(sae_dir)   # the engine steers with the SAE being screened
    args.min_d = MIN_D if args.min_d is None else args.min_d
    args.min_selectivity = MIN_SELECTIVITY if args.min_selectivity is None else args.min_selectivity
    screen_dir = out / "screen"
    with open_runner(args) as (runner, config):
        base = runner.info.resolve(SynthState(prompts=[PromptSlot(args.prompt, 1.0)], duration=args.duration,
                                              contrasts={c: Contrast(p, n, 0.0) for c, (p, n) in contrasts.items()}))
        engine = getattr(runner, "engine", None)
        score_fn = score_summaries(engine) if engine is not None and engine.family.writes_score else None
        rows = run_screen(runner, base, candidates, screen_seeds(args), args.batch, feature_cache(args, screen_dir),
                          screen_dir, score_fn, contrasts, args.min_d, args.min_selectivity)
    features = choose([r for r in rows if isinstance(r["id"], int)], args.sliders)
    kept_contrasts = [r for r in rows if not isinstance(r["id"], int) and r["drop"] is None]
    write_screen(screen_dir, rows, {"backend": config.backend, "candidates": len(rows), "strength": args.strength,
                                    "seeds": args.screen_seeds, "prompt": args.prompt, "seconds": base.seconds(),
                                    "sae": str(sae_dir), "note": backend_note(config.backend),
                                    "min_d": args.min_d, "min_selectivity": args.min_selectivity})
    for r in rows:
        if r["verdict"] == "contradicts" or (r in features or r in kept_contrasts):
            tag = "DROPPED" if r["drop"] else "slider"
            print(f"  {tag} #{r['id']} '{r['label']}': {r['word']} ({r['target']} d {r['d_target']:+.2f}, "
                  f"selectivity {r['selectivity']:.1f}x); label {r['verdict']}: {r['why']}")
    print(f"5/{STEPS} screen: {len(rows)} candidates, {sum(r['drop'] is None for r in rows)} large and selective, "
          f"{sum(r['verdict'] == 'contradicts' for r in rows)} contradict their label -> {screen_dir / 'screen.md'}")
    return rows, features + kept_contrasts


def validate_step(args, out: Path, preset_path: Path, sae_dir: Path, agreeing: dict[str, str | None]) -> None:
    """validate-preset over --validate-n seeds, then each slider is named by its validated effect (the
    same rule as the screen, on the features that changed at Holm p < 0.05; `agreeing`: slider name ->
    the acoustic feature its atlas label predicted and the screen saw), or dropped when nothing changed.
    The validated effect and its selectivity go into the validation block and labels.json."""
    import argparse

    from analysis.steering import validate_preset
    from analysis.sae.effects import selectivity, validated_name
    from synth.atomic_io import atomic_write_text
    from synth.presets import Slider, load_preset_file, save_preset_file

    vargs = argparse.Namespace(**{**vars(args), "preset": str(preset_path), "n": args.validate_n, "seed": 0,
                                  "out": str(out / "validation"), "steps": None, "duration": None,
                                  "presets": None, "sae": str(sae_dir)})
    validate_preset.run(vargs)
    preset = load_preset_file(preset_path)
    labels_path = sae_dir / "labels.json"
    labels = json.loads(labels_path.read_text(encoding="utf-8"))
    keep, measured = [], {}
    for i, slider in enumerate(preset.sliders):
        entry = preset.validation["sliders"].pop(slider.name, {})
        named = validated_name(slider.name, entry.get("features", {}), agreeing.get(slider.name))
        if named is None:
            print(f"  DROPPED slider '{slider.name}': nothing changed at Holm p < 0.05 over {args.validate_n} seeds")
            continue
        name, feature, d = named
        every = json.loads((out / "validation" / f"slider_{i:02d}" / "results.json").read_text())["features"]
        sel = selectivity({f: v["cohens_d"] for f, v in every.items() if v["cohens_d"] is not None}, feature)
        entry["effect"] = {"feature": feature, "d": d, "selectivity": sel}
        measured[name] = entry
        if name != slider.name:
            print(f"  renamed '{slider.name}' -> '{name}': at n={args.validate_n} {feature} d {d:+.2f} names it")
        keep.append(Slider(name, slider.address, slider.min, slider.max))
        if slider.address.startswith("/synth/feature/"):
            fid = slider.address.rsplit("/", 1)[1]
            text = labels["features"][fid].get("effect", "")
            labels["features"][fid].update(name=name, effect=(
                f"{name.split(' (')[0]}: {feature} d {d:+.2f} over {args.validate_n} seeds per end (validate-preset, "
                f"Holm p < 0.05), selectivity {sel:.1f}x; screen: {text.split(': ', 1)[-1]}"))
    preset.sliders, preset.validation["sliders"] = keep, measured
    playing = {int(s.address.rsplit("/", 1)[1]) for s in keep if s.address.startswith("/synth/feature/")}
    preset.state = preset.state.replace(features={f: v for f, v in preset.state.features.items() if f in playing})
    save_preset_file(preset, preset_path)
    atomic_write_text(labels_path, json.dumps(labels, indent=1) + "\n")
    print(f"7/{STEPS} validation: {len(keep)} sliders named by their effect at n={args.validate_n} -> {preset_path}")


def score_summaries(engine):
    """(state, seeds) -> each seed's decoded score summary (the sidecar's `score`), without audio."""
    return lambda state, seeds: [e["score"] for e in engine.render(state, seeds, audio=False).extras]
