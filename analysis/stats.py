"""Two-group statistics for the acoustic comparisons: pure functions on arrays.

Cohen's d uses the pooled standard deviation (ddof = 1); Welch's t and Mann-Whitney U are
two-sided (scipy); Holm-Bonferroni comes from statsmodels; the CI of d is a bootstrap
(scipy.stats.bootstrap, BCa, groups resampled independently).
"""
from __future__ import annotations

import math
import warnings
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as sps

N_BOOTSTRAP = 2000
BOOTSTRAP_SEED = 0


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float:
    """(mean_a - mean_b) / pooled sd (ddof=1). 0 when both groups are constant and equal, ±inf when
    constant and different, NaN with fewer than 2 values in a group."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    diff = float(a.mean() - b.mean())
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0.0:
        return 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    return diff / pooled


def _d_vectorized(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    na, nb = a.shape[axis], b.shape[axis]
    pooled = np.sqrt(((na - 1) * a.var(axis=axis, ddof=1) + (nb - 1) * b.var(axis=axis, ddof=1)) / (na + nb - 2))
    diff = a.mean(axis=axis) - b.mean(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = diff / pooled
    # a resample where both groups are constant: same convention as cohens_d (0 or ±inf, never NaN)
    return np.where(pooled == 0, np.where(diff == 0, 0.0, np.copysign(np.inf, diff)), d)


def bootstrap_d_ci(a: Sequence[float], b: Sequence[float], n_resamples: int = N_BOOTSTRAP,
                   confidence: float = 0.95, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Bootstrap CI of Cohen's d (BCa; percentile where BCa is undefined). NaNs when degenerate; an
    end is ±inf when many resamples have both groups constant (tiny, tied samples)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2 or not math.isfinite(cohens_d(a, b)):
        return (math.nan, math.nan)
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sps.bootstrap((a, b), _d_vectorized, n_resamples=n_resamples, confidence_level=confidence,
                                method=method, vectorized=True, rng=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isnan(lo) or math.isnan(hi)):
            return (lo, hi)
    return (math.nan, math.nan)


def welch(a, b) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # constant groups give NaN, which we report as such
        res = sps.ttest_ind(np.asarray(a, float), np.asarray(b, float), equal_var=False)
    return float(res.statistic), float(res.pvalue)


def mann_whitney(a, b) -> tuple[float, float]:
    res = sps.mannwhitneyu(np.asarray(a, float), np.asarray(b, float), alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values; NaN inputs stay NaN and do not count as tests."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return [float(x) for x in out]


def compare_groups(a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]],
                   names: Sequence[str] | None = None, n_resamples: int = N_BOOTSTRAP) -> dict:
    """Per-feature statistics of group a against group b, Holm across the features.

    Returns {"n_a", "n_b", "features": {name: {mean_a, mean_b, cohens_d, welch_t, welch_p, mwu_u,
    mwu_p, holm_p, d_ci95}}} with floats (NaN where undefined)."""
    names = list(names if names is not None else a.keys())
    n_a = len(next(iter(a.values()))) if a else 0
    n_b = len(next(iter(b.values()))) if b else 0
    features: dict[str, dict] = {}
    for name in names:
        xa = np.asarray(a[name], dtype=np.float64)
        xb = np.asarray(b[name], dtype=np.float64)
        if len(xa) != n_a or len(xb) != n_b:
            raise ValueError(f"feature {name!r} has {len(xa)}/{len(xb)} values, expected {n_a}/{n_b}")
        t, tp = welch(xa, xb)
        u, up = mann_whitney(xa, xb)
        lo, hi = bootstrap_d_ci(xa, xb, n_resamples=n_resamples)
        features[name] = {
            "mean_a": float(xa.mean()), "mean_b": float(xb.mean()), "cohens_d": cohens_d(xa, xb),
            "welch_t": t, "welch_p": tp, "mwu_u": u, "mwu_p": up, "holm_p": math.nan, "d_ci95": [lo, hi],
        }
    for name, hp in zip(names, holm([features[n]["welch_p"] for n in names])):
        features[name]["holm_p"] = hp
    return {"n_a": int(n_a), "n_b": int(n_b), "features": features}


def json_safe(value):
    """NaN and ±inf become None so that the JSON is strict (readable by any parser)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value
