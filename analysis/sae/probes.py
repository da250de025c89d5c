"""`analysis probes`: how the encoder and the SAE separate the corpus's emotion prompts.

Within- vs between-emotion cosine similarity, a cross-validated logistic-regression probe on the
raw embeddings and on the SAE codes, and per-feature selectivity: the highest per-emotion
activation rate divided by the mean rate over emotions (1 = indifferent, k = fires for one of
k emotions only).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from analysis.plots import figure, fmt, markdown_table, save_figure, write_json, write_text
from analysis.sae.codes import cosine_matrix, encode_codes, label_rows, load_inputs

SELECTIVITY_THRESHOLD = 2.0
MIN_ACTIVE = 5   # features firing on fewer emotion prompts are counted but not listed or drawn


def within_between_cosine(x: np.ndarray, labels: Sequence[str]) -> dict:
    labels = np.asarray(labels)
    sim = cosine_matrix(np.asarray(x, dtype=np.float64))
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    within, between = float(sim[same & off].mean()), float(sim[~same].mean())
    return {"within": within, "between": between, "difference": within - between}


def probe_accuracy(x: np.ndarray, labels: Sequence[str], folds: int = 5, seed: int = 0) -> dict:
    """Stratified k-fold accuracy of a standardised multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    folds = int(min(folds, counts.min()))
    if len(classes) < 2 or folds < 2:
        raise ValueError(f"a probe needs at least 2 classes with 2 prompts each; got {dict(zip(classes, counts))}")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(model, np.asarray(x, dtype=np.float64), labels, cv=cv)
    return {"accuracy_mean": float(scores.mean()), "accuracy_sd": float(scores.std(ddof=1)) if len(scores) > 1 else 0.0,
            "fold_accuracies": [float(s) for s in scores], "folds": folds,
            "chance": float(counts.max() / counts.sum())}


def selectivity(codes: np.ndarray, labels: Sequence[str], groups: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rates [n_groups, d_sae], selectivity [d_sae]); selectivity NaN for features that never fire."""
    labels = np.asarray(labels)
    active = np.asarray(codes) > 0
    rates = np.stack([active[labels == g].mean(axis=0) for g in groups])
    mean = rates.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sel = np.where(mean > 0, rates.max(axis=0) / mean, np.nan)
    return rates, sel


def analyse(embeddings: np.ndarray, codes: np.ndarray, labels: Sequence[str], folds: int = 5, seed: int = 0,
            top: int = 40) -> tuple[dict, np.ndarray, np.ndarray]:
    groups = sorted(set(labels))
    rates, sel = selectivity(codes, labels, groups)
    live = np.isfinite(sel)
    n_active = (np.asarray(codes) > 0).sum(axis=0)
    robust = live & (n_active >= MIN_ACTIVE)
    # the listed features fire on at least MIN_ACTIVE prompts: one lucky prompt gives selectivity = n_emotions
    # highest selectivity first; among ties (e.g. features that fire for one emotion only), the most active
    order = np.lexsort((-rates.max(axis=0), -np.where(robust, sel, -np.inf)))
    top_features = [
        {"feature": int(f), "selectivity": float(sel[f]), "emotion": groups[int(np.argmax(rates[:, f]))],
         "rates": {g: float(rates[i, f]) for i, g in enumerate(groups)}}
        for f in order[:top] if robust[f]
    ]
    result = {
        "n_prompts": int(len(labels)),
        "emotions": {g: int(sum(1 for x in labels if x == g)) for g in groups},
        "cosine": {"raw": within_between_cosine(embeddings, labels), "sae": within_between_cosine(codes, labels)},
        "probe": {"raw": probe_accuracy(embeddings, labels, folds, seed), "sae": probe_accuracy(codes, labels, folds, seed)},
        "selectivity": {
            "definition": "max over emotions of the activation rate (code > 0) / mean rate over emotions",
            "threshold": SELECTIVITY_THRESHOLD,
            "n_features_selective": int(np.sum(sel[live] > SELECTIVITY_THRESHOLD)),
            "n_features_active": int(live.sum()),
            "min_active_prompts": MIN_ACTIVE,
            "n_features_selective_min_active": int(np.sum(sel[robust] > SELECTIVITY_THRESHOLD)),
            "n_features_min_active": int(robust.sum()),
            "n_features": int(len(sel)),
            "top": top_features,
        },
    }
    return result, rates, sel


def heatmap(rates: np.ndarray, sel: np.ndarray, groups: Sequence[str], path: Path, feats: Sequence[int]) -> Path:
    plt = figure()
    feats = list(feats)
    fig, ax = plt.subplots(figsize=(1.2 * len(groups) + 2.5, 0.22 * max(len(feats), 4) + 1.5))
    im = ax.imshow(rates[:, feats].T if feats else np.zeros((1, len(groups))), aspect="auto", cmap="magma", vmin=0, vmax=1)
    ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
    ax.set_yticks(range(len(feats)), [f"#{f} (sel {sel[f]:.1f})" for f in feats], fontsize=7)
    fig.colorbar(im, ax=ax, label="activation rate")
    ax.set_title(f"Top {len(feats)} emotion-selective SAE features")
    return save_figure(fig, path)


def write_outputs(out: Path, result: dict, rates: np.ndarray, sel: np.ndarray, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result = {**result, **meta}
    write_json(out / "probes.json", result)
    groups = list(result["emotions"])
    lines = ["feature,selectivity," + ",".join(f"rate_{g}" for g in groups)]
    lines += [f"{f},{'' if not np.isfinite(sel[f]) else repr(float(sel[f]))}," + ",".join(repr(float(r)) for r in rates[:, f])
              for f in range(len(sel))]
    write_text(out / "selectivity.csv", "\n".join(lines) + "\n")
    heatmap(rates, sel, groups, out / "selectivity_heatmap.png", [t["feature"] for t in result["selectivity"]["top"]])
    c, p, s = result["cosine"], result["probe"], result["selectivity"]
    md = [
        "# Emotion probes", "",
        f"- SAE `{meta['sae']}`; activations `{meta['activations']}` (encoder `{meta['encoder']}`)",
        f"- {result['n_prompts']} prompts: " + ", ".join(f"{g} {n}" for g, n in result["emotions"].items()), "",
        "## Cosine similarity", "",
        markdown_table(["space", "within emotion", "between emotions", "difference"],
                       [[k, v["within"], v["between"], v["difference"]] for k, v in c.items()]),
        "", "## Logistic-regression probe (stratified k-fold, standardised features)", "",
        markdown_table(["input", "accuracy", "± sd", "folds", "chance"],
                       [[k, v["accuracy_mean"], v["accuracy_sd"], str(v["folds"]), v["chance"]] for k, v in p.items()]),
        "", "## Feature selectivity", "",
        f"Selectivity = {s['definition']}. **{s['n_features_selective']}** of {s['n_features_active']} active "
        f"features (of {s['n_features']}) have selectivity > {fmt(s['threshold'], 1)}; counting only the "
        f"{s['n_features_min_active']} features that fire on at least {s['min_active_prompts']} emotion prompts, "
        f"{s['n_features_selective_min_active']} do (a feature firing on one prompt has selectivity = the number of "
        "emotions). The table and heatmap list only those. Selectivity describes "
        "co-occurrence with emotion words in prompts: it is correlational, not evidence that a feature steers "
        "the emotion of the audio.", "",
        "![selectivity heatmap](selectivity_heatmap.png)", "",
        markdown_table(["feature", "selectivity", "emotion", *groups],
                       [[str(t["feature"]), t["selectivity"], t["emotion"], *[t["rates"][g] for g in groups]]
                        for t in s["top"][:20]]),
        "", "Files: `probes.json`, `selectivity.csv` (every feature), `selectivity_heatmap.png`.", "",
    ]
    write_text(out / "report.md", "\n".join(md))


def run(args) -> int:
    sae, acts = load_inputs(args.sae, args.activations)
    idx, labels = label_rows(acts.rows, "emotion")
    if len(idx) == 0:
        raise ValueError(f"no rows labelled 'emotion' in {args.activations}; build the corpus with probes")
    x = acts.embeddings[idx]
    codes = encode_codes(sae, x, progress=True).toarray()
    result, rates, sel = analyse(x, codes, labels, args.folds, args.seed)
    meta = {"sae": str(args.sae), "activations": str(args.activations), "encoder": acts.index.get("encoder")}
    write_outputs(Path(args.out), result, rates, sel, meta)
    p = result["probe"]
    print(f"probes: raw accuracy {p['raw']['accuracy_mean']:.3f} ± {p['raw']['accuracy_sd']:.3f}, SAE "
          f"{p['sae']['accuracy_mean']:.3f} ± {p['sae']['accuracy_sd']:.3f} (chance {p['raw']['chance']:.3f}); "
          f"{result['selectivity']['n_features_selective']} features with selectivity > 2; wrote {args.out}/probes.json")
    return 0
