"""`analysis validate-preset PRESET --n N`: measure what each slider of a preset really does.

For every slider the preset's state is rendered with the slider at its minimum and at its
maximum over N seeds; the 11 acoustic features are compared (max against min, so d > 0 means
raising the slider raises the feature). The features with Holm p < 0.05 and their d are
written back into the preset file under `validation`, atomically.
"""
from __future__ import annotations

import datetime as _dt
import tempfile
from pathlib import Path

from analysis.steering.acoustic_features import ANALYSIS_SR
from analysis.steering.clip_runner import LocalRunner, open_runner
from analysis.plots import fmt, markdown_table, write_json, write_text
from analysis.stats import json_safe
from analysis.steering.validate import backend_note, compare_poles, feature_cache, measure_poles

ALPHA = 0.05
UNMEASURABLE = {"/synth/seed": "the seed slider picks the noise, which the N seeds already vary"}


def slider_states(state, slider, contrast_defs, d_sae):
    from synth.addresses import apply_numeric

    lo = apply_numeric(state, slider.address, slider.min, contrast_defs, d_sae=d_sae)
    hi = apply_numeric(state, slider.address, slider.max, contrast_defs, d_sae=d_sae)
    return lo, hi


def significant(results: dict) -> tuple[dict[str, float], dict[str, float]]:
    """({feature: d}, {feature: holm_p}) for features with Holm p < ALPHA."""
    d, p = {}, {}
    for name, s in results["features"].items():
        if s["holm_p"] is not None and s["holm_p"] < ALPHA:
            d[name], p[name] = s["cohens_d"], s["holm_p"]
    return d, p


def named_effect_entry(name: str, d: dict[str, float], results: dict) -> dict:
    """{"effect": {feature, d, selectivity}} for a slider named by an effect that the measurement backs
    ('brighter (piano)' and spectral_centroid_mean up at Holm p < ALPHA), else {} (what a page shows)."""
    from analysis.sae.effects import effect_of_name, selectivity

    claim = effect_of_name(name)
    if claim is None or claim[0] not in d or d[claim[0]] * claim[1] <= 0:
        return {}
    every = {f: v["cohens_d"] for f, v in results["features"].items() if v["cohens_d"] is not None}
    return {"effect": {"feature": claim[0], "d": d[claim[0]], "selectivity": selectivity(every, claim[0])}}


def write_back(preset, path: Path, store) -> Path:
    """Save the measured preset where it was read, except a shipped one: package data is never rewritten,
    so its measured copy goes to the user's presets folder (where it then overrides the shipped one)."""
    from synth.presets import save_preset_file

    shipped = store.shipped is not None and Path(path).resolve().parent == Path(store.shipped).resolve()
    if not shipped:
        try:
            save_preset_file(preset, path)
            return path
        except PermissionError:
            pass
    saved = store.save(preset)
    print(f"validate-preset: {path} is {'a shipped preset' if shipped else 'read-only'}; wrote the measured "
          f"preset to {saved} (it overrides the shipped one)")
    return saved


def run(args, engine=None, config=None, engine_factory=None) -> int:
    """`engine`/`config` default to the ones --config and the flags describe; with --ray, each worker
    builds its own engine (`engine_factory`, default build_engine(config))."""
    from synth.preset_sae import check_preset_sae
    from synth.presets import SHIPPED_PRESETS, PresetStore, load_preset_file

    path = Path(args.preset)
    store = PresetStore(getattr(args, "presets", None) or "presets", SHIPPED_PRESETS)
    if not path.exists() and path.suffix == "":  # a bare name: the user's presets folder, else the shipped one
        path = store.find(args.preset) or store.path(args.preset)
    if args.n < 2:
        raise ValueError(f"--n must be at least 2 (seeds per slider end), got {args.n}")
    preset = load_preset_file(path)
    if not preset.sliders:
        raise ValueError(f"{path}: the preset has no sliders to validate")
    seeds = list(range(args.seed, args.seed + args.n))
    with open_runner(args, engine, config, engine_factory) as (runner, config):
        info = runner.info
        needs_sae = bool(preset.state.features) or any(s.address.startswith("/synth/feature/") for s in preset.sliders)
        if needs_sae and info.d_sae is None:
            raise ValueError(f"{path}: the preset uses SAE features; pass --sae SAE_DIR (or set sae in the config)")
        check_preset_sae(preset, info.sae_identity)
        d_sae = info.d_sae
        state = preset.state
        if args.steps is not None:
            state = state.replace(steps=int(args.steps))
        state = info.resolve(state)
        if args.duration is not None:
            state = state.replace(duration=float(args.duration), bpm=None, bars=None)
        state = state.validate(d_sae)
        # every slider's two states first, so a bad slider fails before any rendering
        names = [s.name for s in preset.sliders]
        plans = []
        for i, slider in enumerate(preset.sliders):
            key = slider.name if names.count(slider.name) == 1 else f"{slider.name} ({i})"
            ends = None if slider.address in UNMEASURABLE else slider_states(state, slider, config.contrast_defs(), d_sae)
            plans.append((i, key, slider, ends))
        poles = [pole for i, key, _, ends in plans if ends is not None
                 for pole in ((f"{key}@max", ends[1]), (f"{key}@min", ends[0]))]
        out_dir = Path(args.out) if args.out else None
        measured = measure_poles(runner, poles, seeds, args.batch, feature_cache(args, out_dir))
        # an inside preset's measured directions ship beside it (a Ray run's stay on its workers)
        vectors = (runner.engine.inside.store.entries()
                   if state.steering_mode == "inside" and isinstance(runner, LocalRunner) else None)
    sliders_out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="validate-preset-") as scratch:
        out = out_dir or Path(scratch)
        for i, key, slider, ends in plans:
            entry = {"address": slider.address, "min": slider.min, "max": slider.max}
            if ends is None:
                sliders_out[key] = {**entry, "features": {}, "holm_p": {},
                                    "note": f"not measured: {UNMEASURABLE[slider.address]}"}
                continue
            res = compare_poles(measured, f"{key}@max", f"{key}@min", out / f"slider_{i:02d}",
                                f"Preset {preset.name}: slider {slider.name} ({slider.address}) max vs min",
                                name_a=f"{slider.name}@max", name_b=f"{slider.name}@min")
            d, p = significant(res)
            sliders_out[key] = {**entry, "features": d, "holm_p": p, **named_effect_entry(slider.name, d, res)}
    validation = json_safe({
        "measured": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "n": args.n, "seeds": [seeds[0], seeds[-1]], "backend": config.backend,
        "model_id": info.model_id, "sae": info.sae_id,
        "steps": state.steps, "duration": state.seconds(), "analysis_sr": ANALYSIS_SR, "alpha": ALPHA,
        "method": "slider max vs min, 11 acoustic features, Welch t with Holm across features; d = Cohen's d",
        "sliders": sliders_out,
    })
    preset.validation = validation
    path = write_back(preset, path, store)
    if vectors:
        from synth.inside_vectors import preset_vectors_path, save_vectors

        print(f"validate-preset: wrote the inside-steering vectors to {save_vectors(preset_vectors_path(path), vectors)}")
    if args.out:
        write_json(Path(args.out) / "validation.json", validation)
        rows = [[name, v["address"], ", ".join(f"{f} {fmt(d, 2)}" for f, d in v["features"].items()) or
                 v.get("note", "none")] for name, v in sliders_out.items()]
        write_text(Path(args.out) / "report.md", "\n".join([
            f"# Slider validation: preset `{preset.name}`", "",
            f"{args.n} seeds per slider end, backend `{config.backend}`, features measured at `analysis_sr` = "
            f"{ANALYSIS_SR} Hz. Features with Holm p < {ALPHA} (d: max − min):",
            *([f"\n**{backend_note(config.backend)}**\n"] if backend_note(config.backend) else []),
            "", markdown_table(["slider", "address", "features (d)"], rows), "",
            *[f"- [{name}](slider_{i:02d}/report.md)" for i, name in enumerate(sliders_out)
              if "note" not in sliders_out[name]], ""]))
    n_sig = sum(1 for v in sliders_out.values() if v["features"])
    print(f"validate-preset: {n_sig} of {len(sliders_out)} sliders change at least one feature "
          f"(Holm p < {ALPHA}); wrote validation into {path}")
    return 0
