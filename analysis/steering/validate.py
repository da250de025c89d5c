"""`analysis validate`: does a contrast (or an SAE feature slider) really change the sound?

For each mode it renders n seeds per pole through the Engine, in batches, measures the 11
acoustic features and compares the poles with the machinery of `analysis compare`:

- text:      the + prompt against the − prompt, as plain prompts;
- embedding: the neutral prompt + S·(pool(pos) − pool(neg)) against the neutral prompt − S·(…),
             added to the conditioning (steering_mode "embedding");
- guidance:  the same vector through steering guidance (steering_mode "guidance");
- inside:    the neutral prompt ± S × the contrast's activation difference added in the DiT's blocks
             (steering_mode "inside", at the config state's inside_site, inside_blocks, inside_window);
- feature_ID (from --features ID=S): the neutral prompt with feature ID at +S against −S.

With the default S = 0.5 the two steered poles sit exactly one difference vector apart, as the
two prompts do. The retention table divides each mode's d by the text mode's d per feature
(seed 000's "Direct Comparison"), flagging sign reversals.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from analysis.steering.acoustic_features import ANALYSIS_SR, FEATURE_NAMES, FileResult
from analysis.steering.clip_runner import Chunk, check_outcome, clip_name, open_runner
from analysis.steering.clip_runner import engine_from_args  # noqa: F401  (sonify and the tests build engines through here)
from analysis.steering.compare import require_two, split_results, write_comparison
from analysis.steering.feature_cache import FeatureCache, clip_key
from analysis.plots import figure, fmt, markdown_table, save_figure, write_json, write_text
from synth.atomic_io import atomic_path

log = logging.getLogger(__name__)

MODES = ("text", "embedding", "guidance", "inside")
CONTRAST_NAME = "validate"


def backend_note(backend: str) -> str | None:
    """One line for a report about what its numbers mean for this backend, or None (real Stable Audio)."""
    from synth.backends import spec_for

    return spec_for(backend).report_note()


# ------------------------------------------------------------------ engine helpers (shared)
def base_state(config, args, text: str):
    """The config's default state with one prompt, and --steps/--duration applied (steps and cfg left
    unset take the backend's defaults)."""
    from synth.state import PromptSlot

    state = config.state()
    prompts = [PromptSlot(text, 1.0)] + [PromptSlot() for _ in state.prompts[1:]]
    changes = {"prompts": prompts, "features": {}, "contrasts": {}, "bpm": None, "bars": None}
    if getattr(args, "steps", None) is not None:
        changes["steps"] = int(args.steps)
    if getattr(args, "duration", None) is not None:
        changes["duration"] = float(args.duration)
    changes.update(inside_changes(args))
    return state.replace(**changes).validate()


def inside_changes(args) -> dict:
    """--inside-site / --inside-blocks B,B / --inside-window as state changes (those given)."""
    changes = {}
    if getattr(args, "inside_site", None):
        changes["inside_site"] = args.inside_site
    if getattr(args, "inside_window", None):
        changes["inside_window"] = args.inside_window
    if getattr(args, "inside_blocks", None):
        try:
            changes["inside_blocks"] = [int(b) for b in str(args.inside_blocks).split(",")]
        except ValueError:
            raise ValueError(f"--inside-blocks {args.inside_blocks!r}: expected block numbers, e.g. 1,2") from None
    return changes


def measure_poles(runner, poles: Sequence[tuple[str, object]], seeds: Sequence[int], batch: int,
                  cache: FeatureCache | None = None, audio_dir: Path | None = None) -> dict[str, list[FileResult]]:
    """Render every (label, state) at every seed, `batch` seeds per engine call, and measure each clip:
    {label: results in seed order}. A batch whose clips are all in `cache` (and, with `audio_dir`, on
    disk) is not rendered again; any other batch is rendered whole, so every seed is always rendered
    in the same batch and gives the same samples. Raises naming the seeds a Ray run could not finish."""
    if batch < 1:
        raise ValueError(f"--batch must be at least 1, got {batch}")
    seeds = [int(s) for s in seeds]
    ident = runner.info.identity()
    keys: dict[str, str] = {}
    found: dict[str, FileResult] = {}
    todo: list[Chunk] = []
    for label, state in poles:
        for start in range(0, len(seeds), batch):
            chunk = Chunk.of_seeds(label, state, seeds[start:start + batch])
            hits = {}
            for name, st, seed in chunk.clips():
                keys[name] = clip_key(st, seed, ident)
                hit = cache.get(keys[name], name) if cache is not None else None
                if hit is not None and (audio_dir is None or (audio_dir / f"{name}.wav").is_file()):
                    hits[name] = hit
            if len(hits) == len(chunk):
                found.update(hits)
            else:
                todo.append(chunk)

    def on_done(chunk: Chunk, results: list[FileResult], audio) -> None:
        for i, result in enumerate(results):
            found[result.path] = result
            if audio_dir is not None:
                write_wav(audio_dir / f"{result.path}.wav", audio[i], runner.info.sample_rate)
            if cache is not None:   # after the WAV: an entry means the clip is wholly done
                cache.put(keys[result.path], result)

    reused = len(found)
    outcome = runner.run(todo, on_done, measure=True, keep_audio=audio_dir is not None, desc="render + measure")
    total = len(poles) * len(seeds)
    check_outcome(outcome, "Finished clips are cached: rerun the same command to render only these")
    if cache is not None:
        print(f"{reused} of {total} clips reused from the feature cache ({cache.root}), {total - reused} rendered")
    return {label: [found[clip_name(label, s)] for s in seeds] for label, _ in poles}


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Float WAV [C, N] written atomically (temp file in the same folder, then os.replace)."""
    import soundfile as sf

    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, np.asarray(audio, dtype=np.float32).T, sample_rate, subtype="FLOAT", format="WAV")
    return path


def compare_poles(measured: dict[str, list[FileResult]], label_a: str, label_b: str, out: Path, title: str,
                  intro: str = "", name_a: str | None = None, name_b: str | None = None) -> dict:
    """The §1 comparison of two measured poles, written into `out`."""
    ok_a, bad_a = split_results(measured[label_a])
    ok_b, bad_b = split_results(measured[label_b])
    require_two(ok_a, name_a or label_a, len(measured[label_a]))
    require_two(ok_b, name_b or label_b, len(measured[label_b]))
    return write_comparison(out, ok_a, ok_b, [*bad_a, *bad_b], name_a or label_a, name_b or label_b, title, intro)


def feature_cache(args, out: Path | None) -> FeatureCache:
    """--cache DIR, else OUT/feature_cache, else the user cache folder; --fresh reads nothing from it."""
    from analysis.steering.feature_cache import default_cache_root

    root = getattr(args, "cache", None) or (out / "feature_cache" if out is not None else default_cache_root())
    return FeatureCache(root, fresh=bool(getattr(args, "fresh", False)))


# ------------------------------------------------------------------ parsing
def parse_modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"--modes: {','.join(bad) or repr(text)} is not a comma list of {', '.join(MODES)}")
    return list(dict.fromkeys(modes))


def parse_features(text: str | None) -> dict[int, float]:
    """'12=2,40=1.5' -> {12: 2.0, 40: 1.5}."""
    out: dict[int, float] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        fid, sep, strength = part.partition("=")
        try:
            fid_i, s = int(fid), float(strength)
        except ValueError:
            raise ValueError(f"--features: {part!r} is not ID=STRENGTH (e.g. 12=2.0)") from None
        if not sep or fid_i < 0 or not math.isfinite(s) or s <= 0:
            raise ValueError(f"--features: {part!r} needs a feature id >= 0 and a strength > 0")
        out[fid_i] = s
    return out


# ------------------------------------------------------------------ pure: states and retention
def mode_states(base, mode: str, pos: str, neg: str, neutral: str, strength: float, gain: float | None):
    """The (+ pole, − pole) states of one mode."""
    from synth.state import Contrast, PromptSlot

    def with_prompt(text):
        return base.replace(prompts=[PromptSlot(text, 1.0)] + [PromptSlot() for _ in base.prompts[1:]])

    if mode == "text":
        return with_prompt(pos), with_prompt(neg)
    neutral_state = with_prompt(neutral).replace(steering_mode=mode)
    if gain is not None:
        neutral_state = neutral_state.replace(steering_gain=gain)
    return tuple(neutral_state.replace(contrasts={CONTRAST_NAME: Contrast(pos, neg, s)}).validate()
                 for s in (strength, -strength))


def feature_states(base, neutral: str, fid: int, strength: float, gain: float | None, mode: str | None = None):
    from synth.state import PromptSlot

    state = base.replace(prompts=[PromptSlot(neutral, 1.0)] + [PromptSlot() for _ in base.prompts[1:]])
    if mode is not None:
        state = state.replace(steering_mode=mode)
    if gain is not None:
        state = state.replace(steering_gain=gain)
    return state.replace(features={fid: strength}).validate(), state.replace(features={fid: -strength}).validate()


def retention_table(results: dict[str, dict]) -> dict[str, dict]:
    """{mode: {feature: {d_mode, d_text, retention, sign_reversal}}} for the embedding and guidance modes."""
    if "text" not in results:
        return {}
    text = results["text"]["features"]
    table = {}
    for mode, res in results.items():
        if mode not in MODES or mode == "text":   # SAE-feature sliders are not the contrast: no retention
            continue
        rows = {}
        for name in FEATURE_NAMES:
            dm, dt = res["features"][name]["cohens_d"], text[name]["cohens_d"]
            ok = all(isinstance(x, float) and math.isfinite(x) for x in (dm, dt))
            rows[name] = {
                "d_mode": dm, "d_text": dt,
                "retention": dm / dt if ok and dt != 0 else math.nan,
                "sign_reversal": bool(ok and dm * dt < 0),
            }
        table[mode] = rows
    return table


def side_by_side(results: dict[str, dict], target: str | None = None) -> dict:
    """Per steering mode, on one target feature (default: the one the text moves most): d, retention
    (d_mode / d_text) and selectivity (|d| on the target over the mean |d| of the other features)."""
    if "text" not in results:
        return {}
    def d_of(mode, name):
        v = results[mode]["features"][name]["cohens_d"]
        return v if isinstance(v, float) and math.isfinite(v) else math.nan
    if target is None:
        target = max(FEATURE_NAMES, key=lambda n: abs(d_of("text", n)) if math.isfinite(d_of("text", n)) else -1.0)
    if target not in FEATURE_NAMES:
        raise ValueError(f"--target {target!r} is not one of {', '.join(FEATURE_NAMES)}")
    rows = {}
    for mode in results:
        if mode not in MODES:
            continue
        others = [abs(d_of(mode, n)) for n in FEATURE_NAMES if n != target and math.isfinite(d_of(mode, n))]
        mean_other = sum(others) / len(others) if others else math.nan
        d, dt = d_of(mode, target), d_of("text", target)
        rows[mode] = {"d": d, "retention": d / dt if dt else math.nan,
                      "selectivity": abs(d) / mean_other if mean_other else math.nan}
    return {"target": target, "modes": rows}


def retention_plot(results: dict[str, dict], path: Path) -> Path:
    plt = figure()
    modes = list(results)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(modes), 1)
    x = np.arange(len(FEATURE_NAMES))
    for i, mode in enumerate(modes):
        d = [results[mode]["features"][n]["cohens_d"] for n in FEATURE_NAMES]
        d = [v if isinstance(v, float) and math.isfinite(v) else 0.0 for v in d]
        ax.bar(x + (i - (len(modes) - 1) / 2) * width, d, width, label=mode)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, FEATURE_NAMES, rotation=45, ha="right")
    ax.set_ylabel("Cohen's d (+ pole − − pole)")
    ax.legend()
    ax.set_title("Effect size per mode")
    return save_figure(fig, path)


def write_summary(out: Path, meta: dict, results: dict[str, dict], retention: dict) -> None:
    write_json(out / "results.json", {**meta, "modes": results, "retention": retention})
    retention_plot(results, out / "effect_sizes_by_mode.png")
    md = ["# Validation", "",
          f"- backend `{meta['backend']}` (model `{meta['model_id']}`), {meta['n']} seeds per pole "
          f"(seeds {meta['seeds'][0]}..{meta['seeds'][1]}), {meta['steps']} steps, {meta['duration']} s clips",
          f"- features measured at `analysis_sr` = {meta['analysis_sr']} Hz (clips rendered at {meta['sample_rate']} Hz)"]
    note = backend_note(meta["backend"])
    if note:
        md.append(f"- **{note}**")
    if meta.get("pos"):
        md.append(f"- contrast: + `{meta['pos']}` / − `{meta['neg']}`; neutral prompt `{meta['neutral']}`; steered "
                  f"poles at ±{meta['strength']} × (pool(+) − pool(−))")
    md += ["", "![effect sizes by mode](effect_sizes_by_mode.png)", "", "## Per mode", ""]
    rows = []
    for mode, res in results.items():
        sig = [n for n, s in res["features"].items() if s["holm_p"] is not None and s["holm_p"] < 0.05]
        best = max(FEATURE_NAMES, key=lambda n: abs(res["features"][n]["cohens_d"] or 0.0))
        rows.append([f"[{mode}]({mode}/report.md)", str(res["n_a"]), str(res["n_b"]), str(len(sig)),
                     f"{best} ({fmt(res['features'][best]['cohens_d'], 2)})"])
    md += [markdown_table(["mode", "n +", "n −", "features Holm p < .05", "largest |d|"], rows), ""]
    side = meta.get("side_by_side") or {}
    if side:
        md += [f"## Side by side on `{side['target']}`", "",
               "retention = d_mode / d_text; selectivity = |d| on the target over the mean |d| of the other ten.", "",
               markdown_table(["mode", "d", "retention", "selectivity"],
                              [[m, fmt(r["d"], 2), f"{r['retention']:.0%}" if math.isfinite(r["retention"]) else "–",
                                f"{fmt(r['selectivity'], 2)}x"] for m, r in side["modes"].items()]), ""]
    if retention:
        md += ["## Retention (d_mode / d_text)", "",
               "Per feature, the steered mode's Cohen's d divided by the text mode's. 1 = the steering keeps the "
               "whole effect of swapping the prompt; ⚠ marks a sign reversal.", ""]
        modes = list(retention)
        table = []
        for name in FEATURE_NAMES:
            row = [name, results["text"]["features"][name]["cohens_d"]]
            for mode in modes:
                r = retention[mode][name]
                row.append(f"{fmt(r['d_mode'], 2)} ({fmt(r['retention'], 2)}){' ⚠' if r['sign_reversal'] else ''}")
            table.append(row)
        md += [markdown_table(["feature", "d text", *[f"d {m} (retention)" for m in modes]], table), ""]
        flips = [f"{m}: {n}" for m in modes for n in FEATURE_NAMES if retention[m][n]["sign_reversal"]]
        md += [f"Sign reversals: {', '.join(flips) if flips else 'none'}.", ""]
    write_text(out / "report.md", "\n".join(md))


def run(args, engine=None, config=None, engine_factory=None) -> int:
    """`engine`/`config` default to the ones --config and the flags describe; with --ray, each worker
    builds its own engine (`engine_factory`, default build_engine(config))."""
    if args.n < 2:
        raise ValueError(f"--n must be at least 2 (seeds per pole), got {args.n}")
    features = parse_features(args.features)
    modes = parse_modes(args.modes) if (args.pos or args.neg or not features) else []
    if modes and not (args.pos and args.neg):
        raise ValueError("--pos and --neg are both needed for the text/embedding/guidance modes")
    if not math.isfinite(args.strength) or args.strength <= 0:
        raise ValueError(f"--strength must be a positive number, got {args.strength}")
    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    if getattr(args, "target", None) and args.target not in FEATURE_NAMES:
        raise ValueError(f"--target {args.target!r} is not one of {', '.join(FEATURE_NAMES)}")
    out = Path(args.out)
    seeds = list(range(args.seed, args.seed + args.n))
    audio_dir = out / "audio" if getattr(args, "keep_audio", False) else None
    gain = getattr(args, "gain", None)
    with open_runner(args, engine, config, engine_factory) as (runner, config):
        info = runner.info
        if features and info.d_sae is None:
            raise ValueError("--features needs an SAE: pass --sae SAE_DIR (or set sae in the config)")
        if features and max(features) >= info.d_sae:
            raise ValueError(f"--features: feature {max(features)} does not exist (the SAE has {info.d_sae})")
        base = info.resolve(base_state(config, args, args.neutral))
        feature_mode = getattr(args, "steering_mode", None) or base.steering_mode
        # build every state first, so a bad value fails before any rendering
        jobs = []
        inside_gain = getattr(args, "inside_gain", None)
        for mode in modes:
            a, b = mode_states(base, mode, args.pos, args.neg, args.neutral, args.strength,
                               inside_gain if mode == "inside" and inside_gain is not None else gain)
            jobs.append((mode, a, b, f"{mode}+", f"{mode}-", f"Validation, {mode} mode"))
        for fid, s in features.items():
            a, b = feature_states(base, args.neutral, fid, s, gain, feature_mode)
            mode = f"feature_{fid}"
            jobs.append((mode, a, b, f"{mode}+{s:g}", f"{mode}-{s:g}",
                         f"Validation, SAE feature {fid} at ±{s:g} ({feature_mode} steering)"))
        out.mkdir(parents=True, exist_ok=True)
        poles = [pole for _, a, b, la, lb, _ in jobs for pole in ((la, a), (lb, b))]
        measured = measure_poles(runner, poles, seeds, args.batch, feature_cache(args, out), audio_dir)
    results: dict[str, dict] = {}
    for mode, _a, _b, label_a, label_b, title in jobs:
        results[mode] = compare_poles(measured, label_a, label_b, out / mode, title)
    for res in results.values():
        res.pop("skipped", None)
    retention = retention_table(results)
    side = side_by_side(results, getattr(args, "target", None)) if "text" in results else {}
    meta = {"side_by_side": side, "backend": config.backend, "model_id": info.model_id, "sae": info.sae_id, "pos": args.pos,
            "neg": args.neg, "neutral": args.neutral, "strength": args.strength,
            "features": {str(k): v for k, v in features.items()}, "n": args.n,
            "steering_mode": feature_mode if features else None, "gain": gain,
            "inside_gain": getattr(args, "inside_gain", None), "inside": {k: getattr(base, k) for k in
                                                                         ("inside_site", "inside_blocks", "inside_window")},
            "seeds": [seeds[0], seeds[-1]], "steps": base.steps, "duration": base.seconds(),
            "sample_rate": info.sample_rate, "analysis_sr": ANALYSIS_SR}
    write_summary(out, meta, results, retention)
    flips = sum(r["sign_reversal"] for m in retention.values() for r in m.values())
    print(f"validate: {', '.join(results)} over {args.n} seeds per pole; {flips} sign reversal(s); "
          f"wrote {out}/results.json and {out}/report.md")
    return 0
