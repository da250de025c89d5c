"""How well an SAE reconstructs prompts it never saw: musician-style prompts written by hand
(tests/fixtures/musician_prompts.yaml), measured against the TRAINING corpus's variance.

The figure is mean ||x - x_hat||^2 over the prompts divided by the training embeddings' total variance
(mean ||x - mean||^2). It is not the held-out set's own FVU on purpose: musician prompts resemble each
other, so their own variance is small and would inflate the ratio for reasons that are not the SAE's.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from analysis.sae.corpus import dedupe_key

DEFAULT_PROMPTS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "musician_prompts.yaml"
METRICS_KEY = "musician_prompts"


# ------------------------------------------------------------------ pure
def total_variance(x: np.ndarray | torch.Tensor) -> float:
    """Mean squared distance of the rows from their mean (the sum of the per-dimension variances)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return float((x - x.mean(0)).pow(2).sum(1).mean())


@torch.no_grad()
def reconstruction_figures(sae, x: torch.Tensor, corpus_variance: float) -> dict:
    """Squared reconstruction error as a fraction of `corpus_variance`, and the mean cosine between each
    embedding and its reconstruction."""
    x = x.to(torch.float32)
    x_hat = sae.decode(sae.encode(x))
    sq = (x - x_hat).pow(2).sum(1)
    cos = torch.nn.functional.cosine_similarity(x, x_hat, dim=1)
    return {"n": int(x.shape[0]), "error_over_corpus_variance": float(sq.mean()) / max(corpus_variance, 1e-12),
            "mean_cosine": float(cos.mean()), "worst_cosine": float(cos.min())}


def in_corpus(prompts: list[str], corpus_texts) -> list[str]:
    """The prompts that the corpus holds (the corpus's duplicate rule: case, spacing, final full stop)."""
    keys = {dedupe_key(t) for t in corpus_texts}
    return [p for p in prompts if dedupe_key(p) in keys]


# ------------------------------------------------------------------ files
def load_prompts(path=DEFAULT_PROMPTS) -> list[str]:
    """The `prompts:` list of a YAML file; each a non-empty string, none repeated."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read prompts from {path}: {exc}") from None
    prompts = data.get("prompts") if isinstance(data, dict) else None
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValueError(f"{path}: expected 'prompts:' with a list of non-empty strings")
    seen = set()
    for p in prompts:
        if dedupe_key(p) in seen:
            raise ValueError(f"{path}: prompt listed twice: {p!r}")
        seen.add(dedupe_key(p))
    return prompts


def prompts_sha256(prompts: list[str]) -> str:
    return hashlib.sha256("\n".join(prompts).encode("utf-8")).hexdigest()
