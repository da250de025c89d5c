"""`analysis atlas`: what each SAE feature responds to in the corpus, feature by feature.

For every feature: its top-N activating prompts with activations, its activation density, its
label composition (sources, traditions, emotions, contrast poles among the prompts it fires on)
and a selectivity (lift): the highest activation rate within one label group divided by the
feature's overall density. Output: atlas.json and a browsable Markdown index (densest, rarest,
most selective) with per-feature pages. Every label here is correlational: it says which prompts
a feature fires on, not what the feature does to sound (seed 000's one validated
interpretation failed its causal test).
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from analysis.plots import figure, fmt, markdown_table, save_figure, write_json, write_text
from analysis.sae.codes import encode_codes, load_inputs

log = logging.getLogger(__name__)

LABEL_KEYS = ("tradition", "emotion", "pole", "reference")
MIN_GROUP = 50          # label groups smaller than this give no selectivity (too noisy)
MIN_ACTIVE = 5          # features firing on fewer prompts get no selectivity
PAGE_SIZE = 256
CORRELATIONAL_NOTE = ("**Correlational labels.** A feature's prompts and label composition describe which texts it "
                      "fires on, not what it does to sound. Seed 000's single validated interpretation failed its "
                      "causal test; check any label with `latent-synth analysis validate --features ID=S`.")


def label_groups(rows: Sequence[dict]) -> dict[str, np.ndarray]:
    """'source:X', 'tradition:X', ... -> row indices (string labels only)."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(f"source:{row.get('source', '?')}", []).append(i)
        for key in LABEL_KEYS:
            value = (row.get("labels") or {}).get(key)
            if isinstance(value, str) and value:
                groups.setdefault(f"{key}:{value}", []).append(i)
    return {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}


def lift(codes: sp.csr_matrix, groups: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str | None]]:
    """Per feature: max over label groups (>= MIN_GROUP rows) of rate-in-group / overall density."""
    n, d = codes.shape
    active = (codes > 0).astype(np.float64).tocsc()
    density = np.asarray(active.sum(axis=0)).ravel() / max(n, 1)
    names = [g for g, idx in groups.items() if len(idx) >= MIN_GROUP]
    if not names:
        return np.full(d, np.nan), [None] * d
    member = sp.csr_matrix((np.ones(sum(len(groups[g]) for g in names)),
                            (np.concatenate([np.full(len(groups[g]), j) for j, g in enumerate(names)]),
                             np.concatenate([groups[g] for g in names]))), shape=(len(names), n))
    sizes = np.array([len(groups[g]) for g in names], dtype=np.float64)
    rates = (member @ active).toarray() / sizes[:, None]
    best = rates.argmax(axis=0)
    n_active = density * n
    with np.errstate(divide="ignore", invalid="ignore"):
        sel = np.where(n_active >= MIN_ACTIVE, rates[best, np.arange(d)] / density, np.nan)
    return sel, [names[b] if np.isfinite(s) else None for b, s in zip(best, sel)]


def build_atlas(codes: sp.csr_matrix, rows: Sequence[dict], top: int = 10, progress: bool = False) -> dict:
    from tqdm import tqdm

    n, d = codes.shape
    csc = codes.tocsc()
    sel, sel_group = lift(codes, label_groups(rows))
    features = []
    for f in tqdm(range(d), desc="atlas", unit="feature", disable=not progress):
        start, end = csc.indptr[f], csc.indptr[f + 1]
        idx, vals = csc.indices[start:end], csc.data[start:end]
        live = vals > 0
        idx, vals = idx[live], vals[live]
        order = np.argsort(-vals, kind="stable")[:top]
        comp: dict[str, Counter] = {"source": Counter()}
        for i in idx:
            comp["source"][rows[i].get("source", "?")] += 1
            for key in LABEL_KEYS:
                value = (rows[i].get("labels") or {}).get(key)
                if isinstance(value, str) and value:
                    comp.setdefault(key, Counter())[value] += 1
        features.append({
            "id": f,
            "density": float(len(idx) / n) if n else 0.0,
            "n_active": int(len(idx)),
            "mean_activation": float(vals.mean()) if len(vals) else 0.0,
            "max_activation": float(vals.max()) if len(vals) else 0.0,
            "selectivity": float(sel[f]) if np.isfinite(sel[f]) else None,
            "selective_for": sel_group[f],
            "composition": {k: dict(c.most_common(8)) for k, c in comp.items() if c},
            "top": [{"text": rows[idx[o]].get("text", ""), "activation": float(vals[o]),
                     "source": rows[idx[o]].get("source"), "labels": rows[idx[o]].get("labels") or {}} for o in order],
        })
    return {"n_prompts": int(n), "d_sae": int(d), "correlational": True, "note": CORRELATIONAL_NOTE,
            "selectivity_definition": (f"max over label groups with >= {MIN_GROUP} prompts of the activation rate in "
                                       f"the group / overall density; features active on < {MIN_ACTIVE} prompts: null"),
            "n_dead": int(sum(1 for x in features if x["n_active"] == 0)), "features": features}


def rankings(atlas: dict, k: int) -> dict[str, list[int]]:
    live = [x for x in atlas["features"] if x["n_active"] > 0]
    selective = [x for x in live if x["selectivity"] is not None]
    return {
        "densest": [x["id"] for x in sorted(live, key=lambda x: (-x["density"], x["id"]))[:k]],
        "rarest": [x["id"] for x in sorted(live, key=lambda x: (x["density"], x["id"]))[:k]],
        "most_selective": [x["id"] for x in sorted(selective, key=lambda x: (-x["selectivity"], x["id"]))[:k]],
    }


def _page(f: int) -> str:
    lo = (f // PAGE_SIZE) * PAGE_SIZE
    return f"features/features_{lo:05d}-{lo + PAGE_SIZE - 1:05d}.md"


def _link(f: int) -> str:
    return f"[#{f}]({_page(f)}#feature-{f})"


def _md_text(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary(x: dict) -> str:
    top = x["top"][0]["text"] if x["top"] else ""
    return _md_text(top, 70)


def write_outputs(out: Path, atlas: dict, meta: dict, k: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ranks = rankings(atlas, k)
    write_json(out / "atlas.json", {**meta, **atlas, "rankings": ranks})
    feats = atlas["features"]
    plt = figure()
    dens = np.array([x["density"] for x in feats])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(np.log10(dens[dens > 0]) if np.any(dens > 0) else [], bins=50)
    ax.set_xlabel("log10 activation density")
    ax.set_ylabel("features")
    ax.set_title(f"Feature densities ({atlas['n_dead']} dead of {atlas['d_sae']})")
    save_figure(fig, out / "density_histogram.png")

    def table(ids):
        rows = []
        for f in ids:
            x = feats[f]
            rows.append([_link(f), x["density"], str(x["n_active"]), x["selectivity"], x["selective_for"] or "—",
                         _summary(x)])
        return markdown_table(["feature", "density", "prompts", "selectivity", "selective for", "top prompt"], rows)

    md = [
        "# Feature atlas", "", f"> {CORRELATIONAL_NOTE}", "",
        f"- SAE `{meta['sae']}` ({atlas['d_sae']} features, {atlas['n_dead']} never fire on this corpus)",
        f"- Activations `{meta['activations']}` (encoder `{meta['encoder']}`), {atlas['n_prompts']} prompts",
        f"- Selectivity: {atlas['selectivity_definition']}", "",
        "![density histogram](density_histogram.png)", "",
        f"## Densest {len(ranks['densest'])} features", "", table(ranks["densest"]), "",
        f"## Rarest {len(ranks['rarest'])} live features", "", table(ranks["rarest"]), "",
        f"## Most selective {len(ranks['most_selective'])} features", "", table(ranks["most_selective"]), "",
        "## All features", "",
        " · ".join(f"[{lo}–{min(lo + PAGE_SIZE, atlas['d_sae']) - 1}]({_page(lo)})"
                   for lo in range(0, atlas["d_sae"], PAGE_SIZE)), "",
    ]
    write_text(out / "index.md", "\n".join(md))
    for lo in range(0, atlas["d_sae"], PAGE_SIZE):
        page = [f"# Features {lo}–{min(lo + PAGE_SIZE, atlas['d_sae']) - 1}", "", f"> {CORRELATIONAL_NOTE}", "",
                "[back to the index](../index.md)", ""]
        for x in feats[lo: lo + PAGE_SIZE]:
            page += [f'<a id="feature-{x["id"]}"></a>', f"## Feature {x['id']}", ""]
            if x["n_active"] == 0:
                page += ["Never fires on this corpus (dead).", ""]
                continue
            comp = "; ".join(f"{key}: " + ", ".join(f"{v} {c}" for v, c in counts.items())
                             for key, counts in x["composition"].items())
            page += [f"density {fmt(x['density'], 5)} ({x['n_active']} prompts), mean activation "
                     f"{fmt(x['mean_activation'])}, selectivity {fmt(x['selectivity'], 2)}"
                     + (f" for {x['selective_for']}" if x["selective_for"] else ""), "",
                     f"Label composition (correlational): {comp}", "",
                     markdown_table(["activation", "prompt", "source"],
                                    [[t["activation"], _md_text(t["text"]), t["source"] or ""] for t in x["top"]]), ""]
        write_text(out / _page(lo), "\n".join(page))


def check_corpus(corpus, acts, activations_dir) -> None:
    """The corpus file given must be the one the activations were encoded from."""
    path = Path(corpus)
    if not path.is_file():
        raise ValueError(f"corpus file not found: {path}")
    from analysis.sae.corpus import file_sha256

    expected = acts.index.get("corpus_sha256")
    digest = file_sha256(path)
    if expected and digest != expected:
        own = Path(activations_dir) / "corpus.jsonl"
        if not (own.is_file() and file_sha256(own) == digest):
            raise ValueError(f"corpus {path} (sha256 {digest[:12]}…) is not the corpus the activations in "
                             f"{activations_dir} were encoded from (sha256 {expected[:12]}…)")


def run(args) -> int:
    if args.top < 1 or args.list < 1:
        raise ValueError(f"--top and --list must be positive, got {args.top} and {args.list}")
    sae, acts = load_inputs(args.sae, args.activations)
    if getattr(args, "corpus", None):
        check_corpus(args.corpus, acts, args.activations)
    codes = encode_codes(sae, acts.embeddings, progress=True)
    atlas = build_atlas(codes, acts.rows, top=args.top, progress=True)
    meta = {"sae": str(args.sae), "activations": str(args.activations), "encoder": acts.index.get("encoder")}
    write_outputs(Path(args.out), atlas, meta, args.list)
    print(f"atlas: {atlas['d_sae']} features over {atlas['n_prompts']} prompts ({atlas['n_dead']} dead); "
          f"wrote {args.out}/atlas.json and {args.out}/index.md")
    return 0
