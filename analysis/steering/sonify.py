"""`analysis sonify`: hear what features and contrasts do, as grids of clips at one seed.

- feature grid: each SAE feature × each strength (default −2..2) on the neutral prompt;
- contrast grid: each contrast at 7 strengths −3..3 on the neutral prompt, plus the two text
  references (the + prompt and the − prompt rendered as plain prompts).

Writes the WAVs, index.csv, index.json and index.md (a page listing and linking every clip). With a
family whose decoder writes a score (the score backend), every clip also gets its `.mid` and a `.json`
sidecar with the decoded `score`, and index.md says what each feature or contrast changes in it
(`analysis.steering.sonify_scores`).
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from analysis.steering.clip_runner import Chunk, LocalRunner, check_outcome, open_runner
from analysis.plots import fmt, markdown_table, write_json, write_text
from analysis.steering.sonify_scores import cell_tag, score_change
from analysis.steering.validate import backend_note, base_state, write_wav

NEUTRAL_FILE = "neutral.wav"   # strength 0 of every feature and contrast: the neutral prompt alone
INDEX_COLUMNS = ("grid", "name", "strength", "reference", "prompt", "file", "seed", "seconds", "peak", "rms")


def parse_floats(text: str, flag: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a comma list of numbers") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{flag}: {text!r} needs at least one finite number")
    return values


def parse_contrasts(specs: Sequence[str]) -> dict[str, tuple[str, str]]:
    """['name=positive|negative', ...] -> {name: (positive, negative)}."""
    out = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        pos, bar, neg = rest.partition("|")
        if not (sep and bar and name.strip() and pos.strip() and neg.strip()):
            raise ValueError(f"--contrast: {spec!r} is not NAME=POSITIVE|NEGATIVE")
        out[name.strip()] = (pos.strip(), neg.strip())
    return out


def parse_ids(text: str, d_sae: int) -> list[int]:
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--features: {text!r} is not a comma list of feature ids") from None
    bad = [i for i in ids if not 0 <= i < d_sae]
    if bad or not ids:
        raise ValueError(f"--features: {bad or text!r} not in 0..{d_sae - 1}")
    return list(dict.fromkeys(ids))


def default_features(d_sae: int, n: int, atlas: str | None) -> list[int]:
    """The n densest live features of an atlas.json, or the first n features."""
    if atlas:
        data = json.loads(Path(atlas).read_text())
        live = [f for f in data["features"] if f["n_active"] > 0 and f["id"] < d_sae]
        return [f["id"] for f in sorted(live, key=lambda f: -f["density"])[:n]]
    return list(range(min(n, d_sae)))


def feature_labels(runner, features: Sequence[int], atlas: str | None) -> dict[str, str]:
    """{id: the prompt each feature fires on most}: from the SAE's labels.json in this process, else the atlas."""
    sae = getattr(getattr(runner, "engine", None), "sae", None)
    top: dict[int, list[str]] = dict(getattr(sae, "labels", None) or {})
    if not top and atlas:
        top = {f["id"]: [t["text"] for t in f.get("top", [])] for f in json.loads(Path(atlas).read_text())["features"]}
    return {str(f): top[f][0] for f in features if top.get(f)}


def _tag(x: float) -> str:
    return f"{x:+g}".replace(".", "p")


def plan(base, features: Sequence[int], strengths: Sequence[float], contrasts: dict[str, tuple[str, str]],
         contrast_strengths: Sequence[float]) -> list[dict]:
    """Every clip to render: {grid, name, strength, reference, prompt, file, state}. Pure."""
    from synth.state import Contrast, PromptSlot

    neutral = base.prompts[0].text
    items = []
    for fid in features:
        for s in strengths:
            state = base.replace(features={fid: s} if s else {})
            items.append({"grid": "feature", "name": str(fid), "strength": s, "reference": "", "prompt": neutral,
                          "file": f"features/feature_{fid:05d}_s{_tag(s)}.wav" if s else NEUTRAL_FILE,
                          "state": state})
    for name, (pos, neg) in contrasts.items():
        for s in contrast_strengths:
            state = base.replace(contrasts={name: Contrast(pos, neg, s)} if s else {})
            items.append({"grid": "contrast", "name": name, "strength": s, "reference": "", "prompt": neutral,
                          "file": f"contrasts/{name}_s{_tag(s)}.wav" if s else NEUTRAL_FILE, "state": state})
        for ref, text in (("positive", pos), ("negative", neg)):
            state = base.replace(prompts=[PromptSlot(text, 1.0)] + [PromptSlot() for _ in base.prompts[1:]])
            items.append({"grid": "contrast", "name": name, "strength": None, "reference": ref, "prompt": text,
                          "file": f"contrasts/{name}_text-{ref}.wav", "state": state})
    return items


def decodes_scores(runner) -> bool:
    """True when the clips are rendered here by a family whose decoder returns per-clip extras (the score
    model's score and MIDI). Ray actors return audio only, so a --ray run writes WAVs alone."""
    from synth.families.base import Family

    family = getattr(getattr(runner, "engine", None), "family", None) if isinstance(runner, LocalRunner) else None
    return isinstance(family, Family) and family.writes_score


def write_score_files(wav: Path, extras: dict, midi: bytes | None, state, engine) -> dict | None:
    """Beside `wav`: the `.mid` and a `.json` sidecar (state, seed, engine, decoded `score`). Returns the score."""
    from synth.clip_writer import write_midi_beside

    write_midi_beside(wav, midi)
    if extras:
        write_json(wav.with_suffix(".json"), {"file": wav.name, "seed": state.seed, "state": state.to_dict(),
                                               **engine.meta(), **extras})
    return extras.get("score")


def _render_with_scores(runner, unique: list[dict], out: Path) -> None:
    """One engine call per clip (each has its own state), keeping the decoder's extras."""
    from tqdm import tqdm

    engine, sr = runner.engine, runner.info.sample_rate
    for it in tqdm(unique, desc="sonify", unit="clip"):
        rendered = engine.render(it["state"], seeds=[it["state"].seed])
        clip = rendered.audio[0]
        write_wav(out / it["file"], clip, sr)
        it["score"] = write_score_files(out / it["file"], rendered.extras[0], rendered.midi(0), rendered.state, engine)
        it["peak"] = float(np.max(np.abs(clip)))
        it["rms"] = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64))))
        it["seconds"] = clip.shape[-1] / sr
        it["seed"] = it["state"].seed


def render_plan(runner, items: list[dict], out: Path, batch: int) -> None:
    """Render every distinct clip of the plan (`batch` states per engine call) and write its WAV; with a
    score-writing family in this process, also its `.mid` and score sidecar (one clip per call)."""
    if batch < 1:
        raise ValueError(f"--batch must be at least 1, got {batch}")
    unique = list({it["file"]: it for it in reversed(items)}.values())[::-1]   # strength 0 is one clip
    by_file = {it["file"]: it for it in unique}
    if decodes_scores(runner):
        _render_with_scores(runner, unique, out)
        for it in items:
            for key in ("peak", "rms", "seconds", "seed", "score"):
                it[key] = by_file[it["file"]][key]
        return
    chunks = [Chunk.of_states([it["file"] for it in unique[i:i + batch]], [it["state"] for it in unique[i:i + batch]])
              for i in range(0, len(unique), batch)]
    sr = runner.info.sample_rate

    def on_done(chunk: Chunk, _results, audio) -> None:
        for name, clip in zip(chunk.names, audio):
            it = by_file[name]
            write_wav(out / it["file"], clip, sr)
            it["peak"] = float(np.max(np.abs(clip)))
            it["rms"] = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64))))
            it["seconds"] = clip.shape[-1] / sr
            it["seed"] = it["state"].seed

    check_outcome(runner.run(chunks, on_done, measure=False, desc="sonify"),
                  "The other WAVs are written: rerun to render the whole grid")
    for it in items:
        for key in ("peak", "rms", "seconds", "seed"):
            it[key] = by_file[it["file"]][key]


def _cell(it: dict) -> str:
    tag = cell_tag(it.get("score"))
    return f"[wav]({it['file']})" + (f" {tag}" if tag else "")


def write_index(out: Path, items: list[dict], meta: dict, strengths, contrast_strengths) -> None:
    rows = [{k: it.get(k) for k in INDEX_COLUMNS} for it in items]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    write_text(out / "index.csv", buf.getvalue())
    scores = any(it.get("score") for it in items)
    clips = [{**r, "score": it.get("score")} if scores else r for r, it in zip(rows, items)]
    write_json(out / "index.json", {**meta, "clips": clips})
    md = ["# Sonification", "",
          f"Backend `{meta['backend']}` (model `{meta['model_id']}`), seed {meta['seed']}, {meta['steps']} steps, "
          f"{fmt(meta['seconds'], 2)} s per clip, neutral prompt `{meta['neutral']}`, steering mode "
          f"`{meta['steering_mode']}` (gain {meta['steering_gain']:g}). Strength 0 is the neutral prompt alone."]
    note = backend_note(meta["backend"])
    if note:
        md.append(f"\n**{note}**")
    if scores:
        md.append("\nEach clip has its score beside it (`.mid`, and `score` in the `.json` sidecar); a cell shows its "
                  "tempo, drums and melody instrument, and the last column what changes in the score from the "
                  "lowest strength to the highest (for contrasts also from the − prompt to the + prompt).")
    labels = meta.get("feature_labels") or {}
    feats = [it for it in items if it["grid"] == "feature"]
    if feats:
        md += ["", f"## Feature × strength ({len({it['name'] for it in feats})} features)", "",
               "Strength is in units of the feature's activation on its own top prompts (`feature_scale`).", ""]
        by = {}
        for it in feats:
            by.setdefault(it["name"], {})[it["strength"]] = it
        lo, hi = min(strengths), max(strengths)
        table = []
        for f, cells in by.items():
            label = f" ({labels[f]})" if labels.get(f) else ""
            row = [f"#{f}{label}", *[_cell(cells[s]) for s in strengths]]
            if scores:
                row.append(score_change(cells[lo].get("score"), cells[hi].get("score")))
            table.append(row)
        md.append(markdown_table(["feature", *[f"{s:+g}" for s in strengths],
                                  *([f"score {lo:+g} → {hi:+g}"] if scores else [])], table))
    cons = [it for it in items if it["grid"] == "contrast"]
    if cons:
        md += ["", f"## Contrasts × strength ({len({it['name'] for it in cons})} contrasts)", "",
               "Strength s adds s × (pool(+) − pool(−)) to the neutral prompt; the text columns render the two "
               "prompts themselves.", ""]
        by = {}
        for it in cons:
            key = it["reference"] or it["strength"]
            by.setdefault(it["name"], {})[key] = it
        lo, hi = min(contrast_strengths), max(contrast_strengths)
        table = []
        for n, v in by.items():
            row = [f"{n} (+ `{v['positive']['prompt']}` / − `{v['negative']['prompt']}`)", _cell(v["negative"]),
                   *[_cell(v[s]) for s in contrast_strengths], _cell(v["positive"])]
            if scores:
                row += [score_change(v[lo].get("score"), v[hi].get("score")),
                        score_change(v["negative"].get("score"), v["positive"].get("score"))]
            table.append(row)
        md.append(markdown_table(
            ["contrast", "text −", *[f"{s:+g}" for s in contrast_strengths], "text +",
             *([f"score {lo:+g} → {hi:+g}", "score text − → +"] if scores else [])], table))
    md += ["", "Index: `index.csv`, `index.json` (every clip with its peak and RMS"
           + (" and its decoded score" if scores else "") + ").", ""]
    write_text(out / "index.md", "\n".join(md))


def run(args, engine=None, config=None, engine_factory=None) -> int:
    """`engine`/`config` default to the ones --config and the flags describe; with --ray, each worker
    builds its own engine (`engine_factory`, default build_engine(config))."""
    from analysis.sae.probe_prompts import CONTRAST_PAIRS

    strengths = parse_floats(args.strengths, "--strengths")
    contrast_strengths = parse_floats(args.contrast_strengths, "--contrast-strengths")
    contrasts = parse_contrasts(args.contrast)
    with open_runner(args, engine, config, engine_factory) as (runner, config):
        info = runner.info
        if args.no_contrasts:
            contrasts = {}
        elif not contrasts:
            contrasts = dict(CONTRAST_PAIRS) if getattr(args, "all_contrasts", False) else (
                config.contrast_defs() or dict(CONTRAST_PAIRS))
        features: list[int] = []
        if not args.no_features:
            if info.d_sae is None:
                if args.features:
                    raise ValueError("--features needs an SAE: pass --sae SAE_DIR (or set sae in the config)")
                print("sonify: no SAE loaded, skipping the feature grid (pass --sae SAE_DIR)")
            else:
                if args.n_features < 1:
                    raise ValueError(f"--n-features must be positive, got {args.n_features}")
                features = (parse_ids(args.features, info.d_sae) if args.features
                            else default_features(info.d_sae, args.n_features, getattr(args, "atlas", None)))
        if not features and not contrasts:
            raise ValueError("nothing to sonify: no features (no SAE or --no-features) and no contrasts")
        base = info.resolve(base_state(config, args, args.neutral)).replace(seed=int(args.seed))
        if getattr(args, "steering_mode", None):
            base = base.replace(steering_mode=args.steering_mode)
        if getattr(args, "gain", None) is not None:
            base = base.replace(steering_gain=float(args.gain))
        base = base.validate(info.d_sae)
        items = plan(base, features, strengths, contrasts, contrast_strengths)
        for it in items:
            it["state"].validate(info.d_sae)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        render_plan(runner, items, out, args.batch)
        labels = feature_labels(runner, features, getattr(args, "atlas", None))
    meta = {"backend": config.backend, "model_id": info.model_id,
            "sae": info.sae_id, "seed": base.seed, "steps": base.steps,
            "seconds": base.seconds(), "neutral": args.neutral, "steering_mode": base.steering_mode,
            "steering_gain": base.steering_gain, "sample_rate": info.sample_rate,
            "features": features, "feature_labels": labels, "strengths": strengths,
            "contrasts": {k: list(v) for k, v in contrasts.items()}, "contrast_strengths": contrast_strengths}
    write_index(out, items, meta, strengths, contrast_strengths)
    print(f"sonify: {len(items)} clips ({len(features)} features × {len(strengths)} strengths, "
          f"{len(contrasts)} contrasts × {len(contrast_strengths)} strengths + text); wrote {out}/index.md")
    return 0
