"""`analysis steering-sweep`: where inside steering keeps the text's effect, by block, step window and strength.

For each contrast it renders the text's own poles (+ prompt against − prompt) and, for every
configuration, the neutral prompt ± 0.5 × gain × the contrast's activation difference added inside
(`steering_mode` "inside"): each block alone and all blocks together, in each step window (early,
middle, late third, all), at each site and gain. Then, on the *pick* contrasts only, it ranks the single
blocks and tries the best two and three together, and picks one configuration; it reports that
configuration on the *judged* contrasts, which played no part in choosing it.

- retention: d_inside / d_text on the contrast's target feature;
- selectivity: |d_inside| on the target over the mean |d_inside| of the other ten features;
- the pick maximises min(median retention, 1.5) × min(1, median selectivity / 2) over the pick contrasts
  (enough effect, and selective; overshooting the text earns nothing), ties broken by the mean retention.

Renders go through `measure_poles`: in batches, resumed from the feature cache, over Ray with --ray.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Sequence

import numpy as np

from analysis.plots import figure, fmt, markdown_table, save_figure, write_json, write_text
from analysis.stats import cohens_d
from analysis.steering.acoustic_features import FEATURE_NAMES
from analysis.steering.clip_runner import open_runner
from analysis.steering.compare import split_results
from analysis.steering.validate import base_state, feature_cache, measure_poles, mode_states

# (name, + prompt, − prompt, target feature). The judged phrasings of `analysis validate` live elsewhere
# (bench/judged_contrasts.tsv) and are never read here.
CONTRASTS = (
    ("fast-slow", "fast music", "slow music", "onset_density"),
    ("loud-soft", "loud music", "soft music", "rms_mean"),
    ("high-low", "music in a high register", "music in a low register", "spectral_centroid_mean"),
    ("drums", "music with drums", "solo music without drums", "spectral_flatness_mean"),
    ("happy-sad", "happy music", "sad music", "onset_density"),
    ("piano-strings", "piano music", "string music", "spectral_flux_mean"),
)
DEFAULT_PICK = ("fast-slow", "drums", "happy-sad")
WINDOWS = ("early", "middle", "late", "all")
CAP = 1.5


@dataclass(frozen=True)
class Config:
    site: str
    blocks: tuple[int, ...] | None   # None: all blocks
    window: str
    gain: float

    @property
    def label(self) -> str:
        blocks = "all" if self.blocks is None else "+".join(f"b{b}" for b in self.blocks)
        return f"{self.site}/{blocks}/{self.window}/g{self.gain:g}"

    @property
    def rows(self) -> str:
        return "all" if self.blocks is None else "+".join(str(b) for b in self.blocks)


def effect(pos: Sequence, neg: Sequence, target: str) -> dict:
    """Cohen's d per feature of two measured poles, and the target's selectivity."""
    a, b = split_results(pos)[0], split_results(neg)[0]
    d = {n: cohens_d([r.features[n] for r in a], [r.features[n] for r in b]) for n in FEATURE_NAMES}
    others = [abs(v) for n, v in d.items() if n != target and math.isfinite(v)]
    sel = abs(d[target]) / (sum(others) / len(others)) if others and sum(others) > 0 else math.nan
    return {"d": d, "target_d": d[target], "selectivity": sel}


def score(cells: Sequence[dict]) -> float:
    """The pick's objective over contrasts' cells {retention, selectivity}."""
    ret = [c["retention"] for c in cells if math.isfinite(c["retention"])]
    sel = [c["selectivity"] for c in cells if math.isfinite(c["selectivity"])]
    if not ret or not sel:
        return -math.inf
    return min(median(ret), CAP) * min(1.0, median(sel) / 2.0)


def rank_key(cells: Sequence[dict]) -> tuple[float, float]:
    """Sort key (score, mean retention): where no configuration scores, the one that keeps most on average."""
    ret = [min(c["retention"], CAP) for c in cells if math.isfinite(c["retention"])]
    return score(cells), sum(ret) / len(ret) if ret else -math.inf


def parse_list(text: str, kind, what: str) -> list:
    try:
        out = [kind(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a comma list") from None
    if not out:
        raise ValueError(f"{what}: empty")
    return out


def grid(sites, gains, n_blocks: int) -> list[Config]:
    sets = [(b,) for b in range(n_blocks)] + [None]
    return [Config(s, bl, w, g) for s in sites for g in gains for bl in sets for w in WINDOWS]


def run(args, engine=None, config=None, engine_factory=None) -> int:
    names = [c[0] for c in CONTRASTS]
    chosen = parse_list(args.contrasts, str, "--contrasts") if args.contrasts else names
    pick = parse_list(args.pick, str, "--pick") if args.pick else [c for c in DEFAULT_PICK if c in chosen]
    bad = [c for c in chosen + pick if c not in names]
    if bad:
        raise ValueError(f"unknown contrast(s) {', '.join(bad)} (known: {', '.join(names)})")
    if not set(pick) <= set(chosen) or not set(chosen) - set(pick) or not pick:
        raise ValueError("--pick must name some, not all, of the swept contrasts: the rest are judged")
    sites = parse_list(args.sites, str, "--sites")
    if not set(sites) <= {"cross", "residual"}:
        raise ValueError(f"--sites: {args.sites!r} (use cross, residual)")
    gains = parse_list(args.gains, float, "--gains")
    if args.n < 2:
        raise ValueError(f"--n must be at least 2, got {args.n}")
    contrasts = [c for c in CONTRASTS if c[0] in chosen]
    seeds = list(range(args.seed, args.seed + args.n))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = feature_cache(args, out)
    with open_runner(args, engine, config, engine_factory) as (runner, config):
        info = runner.info
        if not info.dit_blocks:
            raise ValueError(f"the {config.backend} backend has no DiT to steer inside")
        base = info.resolve(base_state(config, args, args.neutral))

        def poles(configs):
            jobs = {}
            for name, pos, neg, _ in contrasts:
                for cfg in configs:
                    s = base.replace(inside_site=cfg.site, inside_window=cfg.window,
                                     inside_blocks=list(cfg.blocks) if cfg.blocks is not None else None)
                    jobs[(name, cfg)] = mode_states(s, "inside", pos, neg, args.neutral, 0.5, cfg.gain)
            return jobs

        text_poles = {name: mode_states(base, "text", pos, neg, args.neutral, 0.5, None) for name, pos, neg, _ in contrasts}
        first = grid(sites, gains, info.dit_blocks)
        jobs = poles(first)
        labelled = [(f"{n}/text{s}", st) for n, (a, b) in text_poles.items() for s, st in (("+", a), ("-", b))]
        labelled += [(f"{n}/{c.label}{s}", st) for (n, c), (a, b) in jobs.items() for s, st in (("+", a), ("-", b))]
        measured = measure_poles(runner, labelled, seeds, args.batch, cache)
        cells = tabulate(contrasts, first, measured)
        combos = best_combos(cells, pick, sites, gains)
        if combos:
            more = poles(combos)
            labelled = [(f"{n}/{c.label}{s}", st) for (n, c), (a, b) in more.items() for s, st in (("+", a), ("-", b))]
            measured.update(measure_poles(runner, labelled, seeds, args.batch, cache))
            cells = tabulate(contrasts, first + combos, measured)
    configs = first + combos
    ranked = sorted(configs, key=lambda c: rank_key([cells[(n, c)] for n in pick]), reverse=True)
    best = ranked[0]
    judged = [n for n in chosen if n not in pick]
    summary = {
        "backend": config.backend, "model_id": info.model_id, "n": args.n, "seeds": [seeds[0], seeds[-1]],
        "steps": base.steps, "duration": base.seconds(), "neutral": args.neutral, "pick_contrasts": pick,
        "judged_contrasts": judged, "picked": config_dict(best),
        "picked_on_pick": summarise([cells[(n, best)] for n in pick]),
        "picked_on_judged": summarise([cells[(n, best)] for n in judged]),
        "cells": [{"contrast": n, **config_dict(c), **cells[(n, c)]} for c in configs for n, *_ in contrasts],
    }
    write_json(out / "results.json", summary)
    heat_map(cells, [n for n, *_ in contrasts], first, sites, gains, info.dit_blocks, out / "heat_map.png")
    write_report(out, summary, cells, contrasts, configs, ranked, pick, judged)
    print(f"steering-sweep: picked {best.label} on {', '.join(pick)}; on the judged contrasts ({', '.join(judged)}) "
          f"median retention {fmt(summary['picked_on_judged']['median_retention'], 2)}, median selectivity "
          f"{fmt(summary['picked_on_judged']['median_selectivity'], 2)}; wrote {out}/report.md and {out}/heat_map.png")
    return 0


def tabulate(contrasts, configs, measured) -> dict:
    """{(contrast, config): {d_text, d, retention, selectivity, text_selectivity}}."""
    cells = {}
    for name, _pos, _neg, target in contrasts:
        text = effect(measured[f"{name}/text+"], measured[f"{name}/text-"], target)
        for cfg in configs:
            e = effect(measured[f"{name}/{cfg.label}+"], measured[f"{name}/{cfg.label}-"], target)
            dt = text["target_d"]
            cells[(name, cfg)] = {"target": target, "d_text": dt, "d": e["target_d"],
                                  "retention": e["target_d"] / dt if dt and math.isfinite(dt) else math.nan,
                                  "selectivity": e["selectivity"], "text_selectivity": text["selectivity"]}
    return cells


def best_combos(cells: dict, pick: Sequence[str], sites, gains) -> list[Config]:
    """The best two and three single blocks (on the pick contrasts), together, in each site's best window."""
    out = []
    for site in sites:
        for gain in gains:
            singles = [c for (n, c) in cells if n == pick[0] and c.site == site and c.gain == gain and c.blocks]
            ranked = sorted(singles, key=lambda c: rank_key([cells[(n, c)] for n in pick]), reverse=True)
            order = list(dict.fromkeys(c.blocks[0] for c in ranked))
            window = ranked[0].window if ranked else "all"
            for k in (2, 3):
                if len(order) > k:
                    out.append(Config(site, tuple(sorted(order[:k])), window, gain))
    return list(dict.fromkeys(out))


def config_dict(c: Config) -> dict:
    return {"site": c.site, "blocks": list(c.blocks) if c.blocks is not None else None, "window": c.window,
            "gain": c.gain, "label": c.label}


def summarise(cells: Sequence[dict]) -> dict:
    ret = [c["retention"] for c in cells if math.isfinite(c["retention"])]
    sel = [c["selectivity"] for c in cells if math.isfinite(c["selectivity"])]
    return {"median_retention": median(ret) if ret else math.nan, "median_selectivity": median(sel) if sel else math.nan}


def heat_map(cells, names, configs, sites, gains, n_blocks: int, path: Path) -> Path:
    """Blocks x step windows per site and gain, coloured by the median retention over the contrasts;
    a dot marks median selectivity >= 2."""
    plt = figure()
    rows = [str(b) for b in range(n_blocks)] + ["all"]
    fig, axes = plt.subplots(len(gains), len(sites), figsize=(4.2 * len(sites), 3.2 * len(gains)), squeeze=False)
    for gi, gain in enumerate(gains):
        for si, site in enumerate(sites):
            ax = axes[gi][si]
            grid_ = np.full((len(rows), len(WINDOWS)), np.nan)
            marks = []
            for c in configs:
                if c.site != site or c.gain != gain:
                    continue
                s = summarise([cells[(n, c)] for n in names])
                r, w = rows.index(c.rows), WINDOWS.index(c.window)
                grid_[r, w] = s["median_retention"]
                if s["median_selectivity"] >= 2:
                    marks.append((w, r))
            im = ax.imshow(grid_, cmap="viridis", vmin=0, vmax=max(1.0, float(np.nanmax(grid_)) if np.isfinite(grid_).any() else 1.0))
            for r in range(len(rows)):
                for w in range(len(WINDOWS)):
                    if np.isfinite(grid_[r, w]):
                        ax.text(w, r, f"{grid_[r, w]:.0%}", ha="center", va="center", fontsize=7, color="white")
            for w, r in marks:
                ax.plot(w, r - 0.32, marker="*", color="red", markersize=6)
            ax.set_xticks(range(len(WINDOWS)), WINDOWS)
            ax.set_yticks(range(len(rows)), [f"block {r}" if r != "all" else "all blocks" for r in rows])
            ax.set_title(f"{site}, gain {gain:g}", fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046, label="median retention")
    fig.suptitle("Inside steering: median retention over the contrasts (* median selectivity >= 2)", fontsize=9)
    return save_figure(fig, path)


def write_report(out: Path, summary: dict, cells, contrasts, configs, ranked, pick, judged) -> None:
    best = ranked[0]
    md = ["# Inside steering sweep", "",
          f"- backend `{summary['backend']}` (model `{summary['model_id']}`), {summary['n']} seeds per pole "
          f"(seeds {summary['seeds'][0]}..{summary['seeds'][1]}), {summary['steps']} steps, {summary['duration']} s "
          f"clips, neutral prompt `{summary['neutral']}`, poles at ±0.5 × gain × the contrast's activation difference",
          f"- picked on {', '.join(pick)}; judged on {', '.join(judged)}",
          f"- **picked: {best.label}**: on the pick contrasts median retention "
          f"{fmt(summary['picked_on_pick']['median_retention'], 2)}, selectivity "
          f"{fmt(summary['picked_on_pick']['median_selectivity'], 2)}; **on the judged contrasts median retention "
          f"{fmt(summary['picked_on_judged']['median_retention'], 2)}, selectivity "
          f"{fmt(summary['picked_on_judged']['median_selectivity'], 2)}**", "",
          "![heat map](heat_map.png)", "", "## The picked configuration per contrast", ""]
    rows = []
    for name, *_ in contrasts:
        c = cells[(name, best)]
        rows.append([name, "pick" if name in pick else "judged", c["target"], fmt(c["d_text"], 2), fmt(c["d"], 2),
                     f"{c['retention']:.0%}" if math.isfinite(c["retention"]) else "–", fmt(c["selectivity"], 2),
                     fmt(c["text_selectivity"], 2)])
    md += [markdown_table(["contrast", "role", "target", "d text", "d inside", "retention", "selectivity",
                           "text's selectivity"], rows), "", "## Every configuration (ranked on the pick contrasts)", ""]
    rows = []
    for cfg in ranked:
        on_pick = summarise([cells[(n, cfg)] for n in pick])
        row = [cfg.label, fmt(score([cells[(n, cfg)] for n in pick]), 2), fmt(on_pick["median_retention"], 2),
               fmt(on_pick["median_selectivity"], 2)]
        row += [f"{fmt(cells[(n, cfg)]['retention'], 2)} / {fmt(cells[(n, cfg)]['selectivity'], 1)}" for n, *_ in contrasts]
        rows.append(row)
    md += [markdown_table(["configuration", "score", "pick: median retention", "pick: median selectivity",
                           *[f"{n} (ret. / sel.)" for n, *_ in contrasts]], rows), ""]
    write_text(out / "report.md", "\n".join(md))
