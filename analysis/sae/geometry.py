"""`analysis geometry`: how the encoder + SAE arrange the corpus's 15 tradition prompt sets.

Centroids of each tradition's SAE codes, their pairwise cosine distances, a label-permutation
test of the between-tradition structure, the number of features carrying 90% of the
between-tradition variance, and each tradition's distance from the bare reference prompt.
These distances measure lexical proximity in the encoder's training data, not cultural importance.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from analysis.plots import figure, fmt, markdown_table, save_figure, write_json, write_text
from analysis.sae.codes import cosine_matrix, encode_codes, group_means, label_rows, load_inputs

log = logging.getLogger(__name__)

CAVEAT = ("These distances measure lexical proximity in the encoder's training data, not cultural "
          "importance. A tradition that sits close to the bare `music` prompt is one whose name co-occurs "
          "with generic music words in that data; a distant one is not thereby more distinctive, valued or "
          "'other', and a small distance says nothing about the music itself.")


def mean_pairwise_distance(centroids: np.ndarray) -> float:
    dist = 1.0 - cosine_matrix(centroids)
    iu = np.triu_indices(len(centroids), k=1)
    return float(dist[iu].mean())


def permutation_test(codes, labels: Sequence[str], groups: Sequence[str], n_permutations: int = 1000,
                     seed: int = 0, progress: bool = False) -> dict:
    """Is the centroids' mean pairwise cosine distance larger than under shuffled labels?

    p = (1 + #{null >= observed}) / (1 + n_permutations): never 0, exact for a fixed seed."""
    from tqdm import tqdm

    labels = np.asarray(labels)
    observed = mean_pairwise_distance(group_means(codes, labels, groups))
    rng = np.random.default_rng(seed)
    null = np.empty(n_permutations)
    for i in tqdm(range(n_permutations), desc="permutations", disable=not progress):
        null[i] = mean_pairwise_distance(group_means(codes, rng.permutation(labels), groups))
    p = (1 + int(np.sum(null >= observed))) / (1 + n_permutations)
    return {"observed": observed, "null_mean": float(null.mean()) if n_permutations else float("nan"),
            "null_sd": float(null.std()) if n_permutations else float("nan"),
            "null_max": float(null.max()) if n_permutations else float("nan"), "p": p}


def n_features_for_variance(centroids: np.ndarray, counts: np.ndarray, share: float = 0.9) -> tuple[int, np.ndarray]:
    """Smallest number of features whose between-group variance reaches `share` of the total;
    also the per-feature between-group variance (count-weighted)."""
    grand = (counts[:, None] * centroids).sum(axis=0) / counts.sum()
    per_feature = (counts[:, None] * (centroids - grand) ** 2).sum(axis=0)
    total = per_feature.sum()
    if total <= 0:
        return 0, per_feature
    cum = np.cumsum(np.sort(per_feature)[::-1]) / total
    return int(np.searchsorted(cum, share - 1e-12) + 1), per_feature


def pair_list(names: Sequence[str], dist: np.ndarray, k: int, closest: bool) -> list[dict]:
    iu = np.triu_indices(len(names), k=1)
    order = np.argsort(dist[iu], kind="stable")
    if not closest:
        order = order[::-1]
    return [{"a": names[iu[0][o]], "b": names[iu[1][o]], "distance": float(dist[iu][o])} for o in order[:k]]


def find_reference(rows: Sequence[dict], reference: str) -> int:
    for i, row in enumerate(rows):
        if (row.get("labels") or {}).get("reference") == reference:
            return i
    for i, row in enumerate(rows):
        if row.get("text", "").strip().lower() == reference.lower():
            return i
    raise ValueError(f"reference prompt {reference!r} not found in the activations' corpus "
                     "(no row labelled reference={reference!r} or with that text)")


def analyse(codes_tr, labels: Sequence[str], ref_code: np.ndarray, n_permutations: int = 1000, seed: int = 0,
            n_pairs: int = 5, progress: bool = False) -> tuple[dict, dict]:
    """(geometry.json content, details) from the tradition rows' codes and the reference code."""
    groups = sorted(set(labels))
    if len(groups) < 2:
        raise ValueError(f"need at least 2 traditions, found {len(groups)}: {groups}")
    counts = np.array([sum(1 for x in labels if x == g) for g in groups], dtype=np.float64)
    centroids = group_means(codes_tr, labels, groups)
    dist = 1.0 - cosine_matrix(centroids)
    np.fill_diagonal(dist, 0.0)
    perm = permutation_test(codes_tr, labels, groups, n_permutations, seed, progress)
    n90, per_feature = n_features_for_variance(centroids, counts)
    ref_dist = 1.0 - cosine_matrix(centroids, ref_code[None, :])[:, 0]
    order = np.argsort(ref_dist, kind="stable")
    default_bias = [{"rank": r + 1, "tradition": groups[i], "distance": float(ref_dist[i])} for r, i in enumerate(order)]
    result = {
        "permutation_p": perm["p"],
        "closest_pairs": pair_list(groups, dist, n_pairs, closest=True),
        "most_distant_pairs": pair_list(groups, dist, n_pairs, closest=False),
        "n_features_90pct": n90,
        "default_bias": default_bias,
    }
    top = np.argsort(per_feature)[::-1][:20]
    details = {
        "traditions": groups, "counts": counts.astype(int).tolist(), "distance_matrix": dist.tolist(),
        "permutation": {**perm, "n_permutations": n_permutations, "seed": seed,
                        "statistic": "mean pairwise cosine distance between tradition centroids"},
        "n_features_with_between_variance": int(np.sum(per_feature > 0)),
        "top_between_variance_features": [{"feature": int(f), "share": float(per_feature[f] / per_feature.sum())}
                                          for f in top if per_feature[f] > 0],
    }
    return result, details


def heatmap(names: Sequence[str], dist: np.ndarray, path: Path) -> Path:
    plt = figure()
    fig, ax = plt.subplots(figsize=(8.5, 7.5))
    im = ax.imshow(dist, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), names)
    fig.colorbar(im, ax=ax, label="cosine distance between centroids (SAE codes)")
    ax.set_title("Tradition centroids: pairwise cosine distance")
    return save_figure(fig, path)


def write_outputs(out: Path, result: dict, details: dict, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names, dist = details["traditions"], np.array(details["distance_matrix"])
    write_json(out / "geometry.json", result)
    write_json(out / "geometry_details.json", {**details, **meta})
    csv_lines = ["tradition," + ",".join(f'"{n}"' for n in names)]
    csv_lines += [f'"{n}",' + ",".join(repr(float(x)) for x in row) for n, row in zip(names, dist)]
    write_text(out / "distances.csv", "\n".join(csv_lines) + "\n")
    heatmap(names, dist, out / "distance_heatmap.png")
    perm = details["permutation"]
    md = [
        "# Cultural geometry of the tradition prompts", "",
        f"> **Caveat.** {CAVEAT}", "",
        f"- SAE: `{meta['sae']}` ({meta['d_sae']} features); activations: `{meta['activations']}` "
        f"(encoder `{meta['encoder']}`)",
        f"- {len(names)} traditions, {sum(details['counts'])} prompts "
        f"({min(details['counts'])}–{max(details['counts'])} per tradition)",
        f"- Permutation test ({perm['n_permutations']} label shuffles, seed {perm['seed']}): statistic = "
        f"{perm['statistic']}; observed {fmt(perm['observed'], 4)}, null mean {fmt(perm['null_mean'], 4)} "
        f"(sd {fmt(perm['null_sd'], 4)}, max {fmt(perm['null_max'], 4)}); **p = {fmt(result['permutation_p'], 4)}**",
        f"- Features carrying 90% of the between-tradition variance: **{result['n_features_90pct']}** "
        f"(of {details['n_features_with_between_variance']} with any between-tradition variance)", "",
        "![distance heatmap](distance_heatmap.png)", "",
        "## Closest pairs", "",
        markdown_table(["a", "b", "cosine distance"], [[p["a"], p["b"], p["distance"]] for p in result["closest_pairs"]]),
        "", "## Most distant pairs", "",
        markdown_table(["a", "b", "cosine distance"],
                       [[p["a"], p["b"], p["distance"]] for p in result["most_distant_pairs"]]),
        "", f"## Default bias: distance of each centroid from the bare `{meta['reference']}` prompt", "",
        "A small distance means the encoder places the tradition near its generic notion of music.", "",
        markdown_table(["rank", "tradition", "cosine distance"],
                       [[str(b["rank"]), b["tradition"], b["distance"]] for b in result["default_bias"]]),
        "", f"> {CAVEAT}", "",
        "Files: `geometry.json` (summary), `geometry_details.json` (matrix, null distribution summary, top "
        "features), `distances.csv`, `distance_heatmap.png`.", "",
    ]
    write_text(out / "report.md", "\n".join(md))


def run(args) -> int:
    if args.permutations < 1:
        raise ValueError(f"--permutations must be at least 1, got {args.permutations}")
    sae, acts = load_inputs(args.sae, args.activations)
    idx, labels = label_rows(acts.rows, "tradition")
    if len(idx) == 0:
        raise ValueError(f"no rows labelled 'tradition' in {args.activations}; build the corpus with probes")
    ref = find_reference(acts.rows, args.reference)
    codes = encode_codes(sae, acts.embeddings[np.append(idx, ref)], progress=True)
    codes_tr, ref_code = codes[:-1], codes[-1].toarray().ravel().astype(np.float64)
    result, details = analyse(codes_tr.astype(np.float64), labels, ref_code, args.permutations, args.seed,
                              progress=True)
    meta = {"sae": str(args.sae), "d_sae": sae.d_sae, "activations": str(args.activations),
            "encoder": acts.index.get("encoder"), "reference": args.reference}
    out = Path(args.out)
    write_outputs(out, result, details, meta)
    print(f"geometry: permutation p = {result['permutation_p']:.4g}; 90% of between-tradition variance in "
          f"{result['n_features_90pct']} features; closest {result['closest_pairs'][0]['a']}–"
          f"{result['closest_pairs'][0]['b']}; wrote {out}/geometry.json")
    return 0
