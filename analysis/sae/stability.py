"""Feature stability across seeds: train one SAE per seed, match features between every pair of
seeds by decoder cosine with a Hungarian assignment, and report how many match above a threshold.

A random decoder of the same shape gives the chance level for the matched cosines. With
``ray_address`` each seed's training is one Ray task (analysis.sae.ray_training).
"""
from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np

from analysis.plots import write_json
from analysis.sae.trainer import TrainConfig, train_sae


def match_features(dec_a: np.ndarray, dec_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of decoder rows [d_sae, d_in] maximising total cosine.

    Returns (column index in b for each row of a, matched cosine per row of a).
    """
    from scipy.optimize import linear_sum_assignment

    a = dec_a / np.maximum(np.linalg.norm(dec_a, axis=1, keepdims=True), 1e-12)
    b = dec_b / np.maximum(np.linalg.norm(dec_b, axis=1, keepdims=True), 1e-12)
    cos = (a @ b.T).astype(np.float64)
    rows, cols = linear_sum_assignment(cos, maximize=True)
    order = np.argsort(rows)
    cols = cols[order]
    return cols, cos[np.arange(len(cols)), cols]


def summarize(cos: np.ndarray, threshold: float) -> dict:
    return {
        "fraction_matched": float((cos > threshold).mean()),
        "mean_cosine": float(cos.mean()),
        "median_cosine": float(np.median(cos)),
        "quantiles": {str(q): float(np.quantile(cos, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
    }


def plot_stability(pair_cos: dict[str, np.ndarray], chance: np.ndarray | None, threshold: float, path) -> None:
    from analysis.plots import figure, save_figure

    plt = figure()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    bins = np.linspace(-0.2, 1.0, 61)
    for name, cos in pair_cos.items():
        ax.hist(cos, bins=bins, histtype="step", label=f"seeds {name}")
    if chance is not None:
        ax.hist(chance, bins=bins, histtype="stepfilled", alpha=0.25, color="gray", label="vs random decoder")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_xlabel("decoder cosine of matched feature (Hungarian)")
    ax.set_ylabel("features")
    ax.legend(fontsize=7)
    ax.set_title("SAE feature stability across seeds")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def run_stability(acts, base: TrainConfig, seeds, out_dir, threshold: float = 0.7, save_saes: bool = True,
                  ray_address: str | None = None) -> dict:
    from synth.sae import save_sae

    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if len(seeds) < 2:
        raise ValueError(f"stability needs at least two distinct seeds, got {seeds}")
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"cosine threshold must be in [-1, 1], got {threshold}")
    base.validate(acts.dim, len(acts))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"encoder": acts.index.get("encoder"), "pooling": acts.index.get("pooling", "mean"),
            "corpus_hash": acts.index.get("corpus_sha256")}
    decoders, per_seed = {}, {}

    def finish(s: int, result) -> None:
        decoders[s] = result.sae.W_dec.detach().numpy()
        codes_fired = result.history[-1]["alive"]
        per_seed[s] = {k: result.metrics[k] for k in ("fvu", "l0", "dead_fraction")} | {"alive": codes_fired}
        if save_saes:
            save_sae(result.sae, out / f"seed_{s}")

    if ray_address:
        from analysis.sae.ray_training import train_on_ray

        train_on_ray(ray_address, acts.embeddings, [(f"seed {s}", replace(base, seed=s)) for s in seeds], meta,
                     lambda _name, cfg, result: finish(cfg.seed, result), "stability")
    else:
        for s in seeds:
            print(f"seed {s}")
            finish(s, train_sae(acts.embeddings, replace(base, seed=s), metadata=meta))
    pairs, pair_cos = [], {}
    for a, b in itertools.combinations(seeds, 2):
        _, cos = match_features(decoders[a], decoders[b])
        pair_cos[f"{a}-{b}"] = cos
        pairs.append({"seeds": [a, b]} | summarize(cos, threshold))
    rng = np.random.default_rng(12345)
    random_dec = rng.standard_normal(decoders[seeds[0]].shape)
    _, chance = match_features(decoders[seeds[0]], random_dec)
    report = {
        "n_seeds": len(seeds), "seeds": seeds, "threshold": threshold,
        "arch": base.arch, "expansion": base.expansion, "k": base.k, "epochs": base.epochs,
        "mean_fraction_matched": float(np.mean([p["fraction_matched"] for p in pairs])),
        "median_cosine": float(np.median(np.concatenate(list(pair_cos.values())))),
        "pairs": pairs, "per_seed": {str(k): v for k, v in per_seed.items()},
        "random_baseline": summarize(chance, threshold),
    }
    write_json(out / "stability.json", report)
    np.savez_compressed(out / "matched_cosines.npz", **pair_cos)
    plot_stability(pair_cos, chance, threshold, out / "stability.png")
    return report
