"""Writing the analysis jobs' artifacts: strict JSON, Markdown and PNG figures, all atomically."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from analysis.stats import json_safe
from synth.atomic_io import atomic_path, atomic_write_text


def write_text(path, text: str) -> Path:
    return atomic_write_text(path, text)


def write_json(path, obj) -> Path:
    """Strict JSON (NaN/inf -> null), indented, written atomically."""
    return write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n")


def figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 120) -> Path:
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    finally:
        figure().close(fig)
    return Path(path)


def fmt(x, digits: int = 3) -> str:
    """A number for a Markdown table: NaN/None as an em dash, small p-values in scientific form."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return str(int(x))
    x = float(x)
    if x != 0 and abs(x) < 10 ** -digits:
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) if isinstance(c, str) else fmt(c) for c in row) + " |")
    return "\n".join(lines)


def effect_size_plot(features: Mapping[str, Mapping], path, title: str) -> Path:
    """Horizontal bars of Cohen's d with bootstrap 95% CIs; significant (Holm p < .05) bars filled."""
    plt = figure()
    names = list(features)
    d = np.array([_f(features[n]["cohens_d"]) for n in names])
    ci = np.array([[_f(v) for v in features[n]["d_ci95"]] for n in names]).reshape(len(names), 2)
    sig = np.array([_f(features[n]["holm_p"]) < 0.05 for n in names])
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(names) + 1.2))
    y = np.arange(len(names))
    finite = np.where(np.isfinite(d), d, 0.0)
    ax.barh(y, finite, color=np.where(sig, "tab:blue", "white"), edgecolor="tab:blue")
    lo = np.where(np.isfinite(ci[:, 0]), finite - ci[:, 0], 0)
    hi = np.where(np.isfinite(ci[:, 1]), ci[:, 1] - finite, 0)
    ax.errorbar(finite, y, xerr=[np.maximum(lo, 0), np.maximum(hi, 0)], fmt="none", ecolor="black", capsize=3)
    ax.axvline(0, color="grey", lw=0.8)
    if np.nanmax(np.abs(finite), initial=0.0) > 10:   # one huge d (near-constant groups) must not flatten the rest
        ax.set_xscale("symlog", linthresh=1.0)
    for yi, di in zip(y, d):
        ax.annotate(fmt(float(di), 2), (0, yi), xytext=(-4 if di > 0 else 4, 0), textcoords="offset points",
                    ha="right" if di > 0 else "left", va="center", fontsize=7, color="dimgrey")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("Cohen's d (a − b), bootstrap 95% CI; filled = Holm p < 0.05")
    ax.set_title(title)
    return save_figure(fig, path)


def _f(x) -> float:
    return math.nan if x is None else float(x)
