"""Hyperparameter sweep: one SAE per setting (L1 coefficient for relu-l1, or k x expansion),
a table of inference FVU, L0 and dead fraction (JSON + Markdown) and the L0-versus-FVU plot.

Finished settings are kept in ``DIR/runs/<name>.json``; rerunning the same sweep skips them.
With ``ray_address`` every setting still to train is one Ray task (analysis.sae.ray_training).
"""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, replace
from pathlib import Path

from analysis.plots import write_json
from analysis.sae.trainer import TrainConfig, train_sae

COLUMNS = ("name", "arch", "expansion", "k", "l1", "fvu", "fvu_train_activation", "l0", "l0_train",
           "dead_fraction", "alive", "samples_per_second")


def settings(base: TrainConfig, l1s, ks, expansions) -> list[TrainConfig]:
    l1s = list(l1s or [base.l1]) if base.arch == "relu-l1" else [base.l1]
    ks = list(ks or [base.k])
    expansions = list(expansions or [base.expansion])
    return [replace(base, expansion=e, k=k, l1=l1) for e, k, l1 in itertools.product(expansions, ks, l1s)]


def setting_name(cfg: TrainConfig) -> str:
    name = f"{cfg.arch}_x{cfg.expansion}_k{cfg.k}"
    return name + (f"_l1-{cfg.l1:g}" if cfg.arch == "relu-l1" else "")


def _row(name: str, metrics: dict) -> dict:
    return {c: metrics.get(c) for c in COLUMNS if c != "name"} | {"name": name}


def markdown_table(rows: list[dict]) -> str:
    cols = [c for c in COLUMNS if any(r.get(c) is not None for r in rows)]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            if isinstance(v, float):
                v = f"{v:.4g}" if c not in ("dead_fraction",) else f"{100 * v:.2f}%"
            cells.append("" if v is None else str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def plot_tradeoff(rows: list[dict], path) -> None:
    from analysis.plots import figure, save_figure

    plt = figure()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.scatter([r["l0"] for r in rows], [r["fvu"] for r in rows], label="inference codes", zorder=3)
    for r in rows:
        ax.annotate(r["name"].split("_", 1)[1], (r["l0"], r["fvu"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    if any(r.get("fvu_train_activation") is not None for r in rows):
        ax.scatter([r["l0_train"] for r in rows], [r["fvu_train_activation"] for r in rows], marker="x",
                   label="training activation (all ReLU)")
    ax.set_xlabel("L0 (active latents per sample)")
    ax.set_ylabel("held-out FVU")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("L0 vs FVU")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def _wanted(cfg: TrainConfig) -> dict:
    """The part of a config that decides the result (what a finished record must match)."""
    return {k: v for k, v in asdict(cfg).items() if k not in ("progress", "device")}


def run_sweep(acts, base: TrainConfig, out_dir, l1s=None, ks=None, expansions=None,
              save_saes: bool = False, ray_address: str | None = None) -> list[dict]:
    from analysis.sae.trainer import plot_curves
    from synth.sae import save_sae

    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    base = replace(base, l1=base.l1 if base.l1 is not None else 3e-3, k=base.k or 64, expansion=base.expansion or 16)
    configs = settings(base, l1s, ks, expansions)
    for cfg in configs:  # fail on a bad setting before hours of training
        cfg.validate(acts.dim, len(acts))
    meta = {"encoder": acts.index.get("encoder"), "pooling": acts.index.get("pooling", "mean"),
            "corpus_hash": acts.index.get("corpus_sha256")}
    done: dict[str, dict] = {}
    todo = []
    for i, cfg in enumerate(configs, start=1):
        name = setting_name(cfg)
        record = out / "runs" / f"{name}.json"
        if record.is_file():
            prev = json.loads(record.read_text())
            if prev.get("config") == _wanted(cfg):
                print(f"[{i}/{len(configs)}] {name}: done before, skipped")
                done[name] = prev["metrics"]
                continue
        todo.append((i, name, cfg))

    def finish(name: str, cfg: TrainConfig, result) -> None:
        if save_saes:
            save_sae(result.sae, out / "saes" / name)
            plot_curves(result.history, out / "runs" / f"{name}_curves.png", title=name)
        write_json(out / "runs" / f"{name}.json", {"config": _wanted(cfg), "metrics": result.metrics})
        done[name] = result.metrics

    if ray_address and todo:
        from analysis.sae.ray_training import train_on_ray

        train_on_ray(ray_address, acts.embeddings, [(name, cfg) for _, name, cfg in todo], meta,
                     finish, "sweep",
                     resume_hint=f"; finished settings are kept in {out / 'runs'}: rerun to train only these")
    else:
        for i, name, cfg in todo:
            print(f"[{i}/{len(configs)}] {name}")
            finish(name, cfg, train_sae(acts.embeddings, cfg, metadata=meta))
    rows = [_row(setting_name(cfg), done[setting_name(cfg)]) for cfg in configs]
    write_json(out / "sweep.json", {"activations": acts.index, "settings": rows})
    tmp = out / ".sweep.md.tmp"
    tmp.write_text(f"# SAE sweep on {meta['encoder']} ({len(acts)} rows)\n\n" + markdown_table(rows))
    tmp.replace(out / "sweep.md")
    plot_tradeoff(rows, out / "l0_vs_fvu.png")
    return rows
