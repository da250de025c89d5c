"""The effect screen of `analysis sliders`: render each candidate feature at ±S over a few seeds and
measure what it does, so sliders are named by their effect rather than by the prompts they fire on.

For every candidate: the 11 acoustic features at +S against −S (Cohen's d), and on backends that write
a score (the `score` backend) the decoded score too (bpm, melody register and velocity, notes per
second, drums, the melody's instrument family). Rendering goes through the batch path
(`measure_poles`: batches of seeds, the per-clip feature cache, `--ray`); score summaries are decoded
in this process from the latents alone (no audio) and kept in `scores.json` so a rerun reuses them.
Writes `screen.md`, `screen.json` and `screen.csv` into its folder.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Callable, Sequence

from analysis.steering.acoustic_features import FEATURE_NAMES
from analysis.plots import fmt, markdown_table, write_json, write_text
from analysis.sae.effects import (
    MIN_D, MIN_SHARE, SCORE_MEASURES, effect_sizes, effect_word, instrument_shift, label_verdict, named_effect,
    score_measures, selectivity,
)
from synth.atomic_io import atomic_write_text
from synth.score.gm import FAMILIES

MIN_SELECTIVITY = 1.5   # a kept slider moves its target at least this many times more than the rest on average

ScoreFn = Callable[[object, Sequence[int]], list]   # (state, seeds) -> one score summary per seed


def pole_label(key: str, sign: int) -> str:
    return f"{key}{'+' if sign > 0 else '-'}"


def pole_states(base, address: str, strength: float, contrast_defs=None) -> tuple:
    """(+S state, −S state): the slider at `address` moved on the base state (everything else at rest)."""
    from synth.addresses import apply_numeric

    return tuple(apply_numeric(base, address, sign * float(strength), contrast_defs) for sign in (1, -1))


def measure_scores(score_fn: ScoreFn, poles: Sequence[tuple[str, object]], seeds: Sequence[int],
                   path: Path, seconds: float) -> dict[str, list[dict]]:
    """{label: per-seed SCORE_MEASURES + 'family'} for every pole; decoded summaries are cached in `path`
    (keyed by label, state and seed), so a rerun decodes only what is new."""
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    out: dict[str, list[dict]] = {}
    for label, state in poles:
        key = json.dumps([state.to_dict(), list(map(int, seeds))], sort_keys=True)
        if cache.get(label, {}).get("key") != key:
            cache[label] = {"key": key, "summaries": score_fn(state, list(seeds))}
            atomic_write_text(path, json.dumps(cache) + "\n")
        out[label] = cache[label]["summaries"]
    return out


def screen_row(fid, label: str, top: Sequence[str], pos: list[dict], neg: list[dict],
               pos_scores: list[dict] | None, neg_scores: list[dict] | None, seconds: float) -> dict:
    """One candidate's measured effect: pure, from the per-clip measurements of its two poles."""
    d = effect_sizes(pos, neg, FEATURE_NAMES)
    row = {"id": fid, "label": label, "top": list(top[:3]), "d": d, "score": None}
    family, share_pos, share_neg = None, 0.0, 0.0
    verdict_d = dict(d)
    if pos_scores is not None and neg_scores is not None:
        sp = [score_measures(s, seconds) for s in pos_scores]
        sn = [score_measures(s, seconds) for s in neg_scores]
        score_d = effect_sizes(sp, sn, SCORE_MEASURES)
        family, share_pos, share_neg = instrument_shift(pos_scores, neg_scores)
        row["score"] = {"d": score_d, "melody_family": FAMILIES[family] if family is not None else None,
                        "share_pos": share_pos, "share_neg": share_neg}
        verdict_d.update(score_d)
    row["verdict"], row["why"], agreeing = label_verdict(label, verdict_d, family, share_pos, share_neg,
                                                         scored=row["score"] is not None)
    target, d_target = named_effect(d, agreeing)
    row.update(target=target, d_target=d_target, agreeing=agreeing, selectivity=selectivity(d, target) if target else math.nan,
               word=effect_word(target, d_target) if target else None)
    return row


def keep_reason(row: dict, min_d: float = MIN_D, min_selectivity: float = MIN_SELECTIVITY) -> str | None:
    """None when the row makes a slider; else why not (one phrase)."""
    if row["target"] is None or not math.isfinite(row["d_target"]) or abs(row["d_target"]) < min_d:
        return f"largest |d| {fmt(abs(row['d_target']), 2)} < {min_d}"
    if row["selectivity"] < min_selectivity:
        return f"not selective ({fmt(row['selectivity'], 2)}x the mean of the rest < {min_selectivity}x)"
    if row["verdict"] == "contradicts":
        return f"contradicts its atlas label: {row['why']}"
    return None


def choose(rows: Sequence[dict], n: int) -> list[dict]:
    """Up to `n` kept rows: the strongest selective effect first (|d| times selectivity, capped), one
    slider per effect word before any word repeats."""
    kept = [r for r in rows if r.get("drop") is None]
    kept.sort(key=lambda r: (-abs(r["d_target"]) * min(r["selectivity"], 4.0), r["id"]))
    first, rest, seen = [], [], set()
    for r in kept:
        (rest if r["word"] in seen else first).append(r)
        seen.add(r["word"])
    return (first + rest)[:n]


def slider_label(row: dict) -> str:
    """'brighter (piano)': the measured effect, the atlas label beside it."""
    return f"{row['word']} ({row['label']})"


def score_note(row: dict) -> str:
    """What else changes in the score, in words (|d| >= MIN_D, or the melody's instrument)."""
    s = row.get("score")
    if not s:
        return ""
    parts = [f"{k} {v:+.1f}" for k, v in s["d"].items() if math.isfinite(v) and abs(v) >= MIN_D]
    if s["melody_family"] and s["share_pos"] - s["share_neg"] >= MIN_SHARE:
        parts.insert(0, f"melody {s['melody_family']} {s['share_neg']:.0%} → {s['share_pos']:.0%}")
    return ", ".join(parts) or "little"


def write_screen(out: Path, rows: Sequence[dict], meta: dict) -> None:
    """screen.md (sorted by |d|), screen.json (everything) and screen.csv (one row per candidate)."""
    ordered = sorted(rows, key=lambda r: -abs(r["d_target"]) if math.isfinite(r["d_target"]) else 0.0)
    table = [[f"#{r['id']}" if isinstance(r["id"], int) else f"contrast {r['id']}", r["label"], r["word"] or "—", r["target"] or "—", r["d_target"], r["selectivity"],
              score_note(r) or "—", f"{r['verdict']}: {r['why']}", "kept" if r.get("drop") is None else r["drop"]]
             for r in ordered]
    agree = sum(r["verdict"] == "agrees" for r in rows)
    contra = sum(r["verdict"] == "contradicts" for r in rows)
    claims = sum(r["verdict"] != "no claim" for r in rows)
    write_text(out / "screen.md", "\n".join([
        "# Effect screen", "",
        f"{meta['candidates']} candidate features, each at +{meta['strength']:g} against −{meta['strength']:g} over "
        f"{meta['seeds']} seeds on `{meta['backend']}` (prompt `{meta['prompt']}`, {meta['seconds']:g} s clips). "
        f"effect = the acoustic feature the slider is named by: the one its atlas label predicts where that shows, "
        f"else the largest of onset density, centroid, RMS and flatness with |d| ≥ {meta['min_d']}, else the "
        f"largest; d = its Cohen's d (+ minus −); selectivity = its |d| over the mean "
        f"|d| of the other 10 features. Kept: |d| ≥ {meta['min_d']}, selectivity ≥ {meta['min_selectivity']}, label not "
        f"contradicted. The atlas label is correlational (the prompts a feature fires on).", "",
        f"Atlas label against measured effect: {agree} of {claims} labels that predict something agree, "
        f"{contra} contradict; {len(rows) - claims} name nothing measurable.", "",
        *([f"**{meta['note']}**", ""] if meta.get("note") else []),
        markdown_table(["feature", "atlas label", "effect", "acoustic target", "d", "selectivity",
                        "what else changes in the score", "label vs effect", "slider"], table), ""]))
    write_json(out / "screen.json", {"meta": meta, "rows": list(rows)})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "label", "word", "target", "d_target", "selectivity", "verdict", "drop",
                *FEATURE_NAMES, *(f"score_{m}" for m in SCORE_MEASURES), "melody_family", "share_pos", "share_neg"])
    for r in rows:
        s = r.get("score") or {"d": {}, "melody_family": None, "share_pos": None, "share_neg": None}
        w.writerow([r["id"], r["label"], r["word"], r["target"], r["d_target"], r["selectivity"], r["verdict"],
                    r.get("drop") or "", *(r["d"][f] for f in FEATURE_NAMES),
                    *(s["d"].get(m, "") for m in SCORE_MEASURES), s["melody_family"] or "", s["share_pos"],
                    s["share_neg"]])
    atomic_write_text(out / "screen.csv", buf.getvalue())


def run_screen(runner, base, candidates: Sequence[dict], seeds: Sequence[int], batch: int, cache, out: Path,
               score_fn: ScoreFn | None = None, contrast_defs=None, min_d: float = MIN_D,
               min_selectivity: float = MIN_SELECTIVITY) -> list[dict]:
    """Screen `candidates` ({"key", "id" (feature id or contrast name), "address", "strength", "label",
    "top"}): one row each, with 'address', 'strength' and 'drop' (None = kept, else why not)."""
    from analysis.steering.validate import measure_poles

    poles = [p for c in candidates for p in zip((pole_label(c["key"], 1), pole_label(c["key"], -1)),
                                                pole_states(base, c["address"], c["strength"], contrast_defs))]
    measured = measure_poles(runner, poles, seeds, batch, cache)
    seconds = base.seconds()
    scores = measure_scores(score_fn, poles, seeds, out / "scores.json", seconds) if score_fn else None
    rows = []
    for c in candidates:
        plus, minus = pole_label(c["key"], 1), pole_label(c["key"], -1)
        pos = [r.features for r in measured[plus] if r.features is not None]
        neg = [r.features for r in measured[minus] if r.features is not None]
        row = screen_row(c["id"], c["label"], c["top"], pos, neg, scores and scores[plus], scores and scores[minus],
                         seconds)
        row.update(address=c["address"], strength=c["strength"], drop=keep_reason(row, min_d, min_selectivity))
        rows.append(row)
    return rows
