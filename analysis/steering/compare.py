"""`analysis compare`: the 11 acoustic features of two sets of clips, tested feature by feature.

Writes results.json (the statistics), features.csv (one row per file), report.md and
effect_sizes.png into the output folder. `validate` and `validate-preset` reuse this machinery
on rendered clips.
"""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Sequence

from analysis.steering.acoustic_features import (
    ANALYSIS_SR, FEATURE_NAMES, HOP, N_FFT, ONSET_DELTA_DB, ONSET_GATE_DB, ONSET_MIN_GAP_S, SPECTRAL_GATE_DB,
    FileResult, extract_files, list_audio_files,
)
from analysis.plots import effect_size_plot, fmt, markdown_table, write_json, write_text
from analysis.stats import compare_groups

log = logging.getLogger(__name__)

ONSET_NOTE = (
    "Onset density is not librosa's default `onset_detect`. The default rescales each file's onset "
    "envelope to [0, 1] and picks peaks 0.07 above the local mean, so the ripple of a steady tone or "
    "steady noise is counted as onsets (about 13/s in a steady sine in the seed's measurements). Here the "
    "envelope (librosa's mel onset strength: mean positive dB rise across mel bands, a level ratio) is "
    f"left un-normalised and a peak must rise {ONSET_DELTA_DB:g} dB above the local average, be at least "
    f"{ONSET_MIN_GAP_S * 1000:g} ms after the previous onset, and sit within {ONSET_GATE_DB:g} dB of the "
    "file's loudest frame. A steady tone scores 0 onsets/s; click trains score their click rate."
)


def split_results(results: Sequence[FileResult]) -> tuple[list[FileResult], list[FileResult]]:
    ok = [r for r in results if r.features is not None]
    bad = [r for r in results if r.features is None]
    for r in bad:
        log.warning("skipped %s", r.error)
    return ok, bad


def columns(results: Sequence[FileResult]) -> dict[str, list[float]]:
    return {name: [r.features[name] for r in results] for name in FEATURE_NAMES}


def require_two(ok: Sequence[FileResult], label: str, total: int) -> None:
    if len(ok) < 2:
        raise ValueError(f"{label}: need at least 2 readable, non-silent audio files, found {len(ok)} of {total}")


def features_csv(ok_a: Sequence[FileResult], ok_b: Sequence[FileResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["group", "path", *FEATURE_NAMES])
    for group, results in (("a", ok_a), ("b", ok_b)):
        for r in results:
            writer.writerow([group, r.path, *(repr(float(r.features[n])) for n in FEATURE_NAMES)])
    return buf.getvalue()


def results_table(features: dict) -> str:
    rows = []
    for name, s in features.items():
        ci = s["d_ci95"]
        rows.append([name, s["mean_a"], s["mean_b"], s["cohens_d"], f"[{fmt(ci[0], 2)}, {fmt(ci[1], 2)}]",
                     s["welch_p"], s["mwu_p"], s["holm_p"], "yes" if (s["holm_p"] or 1.0) < 0.05 else ""])
    return markdown_table(["feature", "mean a", "mean b", "d", "d 95% CI", "Welch p", "MWU p", "Holm p", "sig."], rows)


def write_comparison(out: Path, ok_a: Sequence[FileResult], ok_b: Sequence[FileResult],
                     skipped: Sequence[FileResult] = (), label_a: str = "a", label_b: str = "b",
                     title: str = "Acoustic comparison", intro: str = "") -> dict:
    """Statistics of a vs b, written as results.json, features.csv, report.md, effect_sizes.png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = {**compare_groups(columns(ok_a), columns(ok_b), FEATURE_NAMES), "analysis_sr": ANALYSIS_SR}
    write_json(out / "results.json", results)
    write_text(out / "features.csv", features_csv(ok_a, ok_b))
    effect_size_plot(results["features"], out / "effect_sizes.png", f"{label_a} vs {label_b}")
    sig = [n for n, s in results["features"].items() if s["holm_p"] is not None and s["holm_p"] < 0.05]
    lines = [f"# {title}", ""]
    if intro:
        lines += [intro, ""]
    lines += [
        f"- a = {label_a}: {results['n_a']} files", f"- b = {label_b}: {results['n_b']} files",
        f"- features with Holm-adjusted Welch p < 0.05: {', '.join(sig) if sig else 'none'}",
        f"- analysis rate (`analysis_sr`): {ANALYSIS_SR} Hz (other rates resampled to it); frames of {N_FFT} "
        f"samples, hop {HOP}; spectral-shape features skip frames more than {SPECTRAL_GATE_DB:g} dB below the "
        "loudest", "",
        "Cohen's d = (mean a − mean b) / pooled SD (ddof 1); positive d means a is higher. Welch's t and "
        "Mann-Whitney U are two-sided; Holm-Bonferroni adjusts the 11 Welch p-values; the 95% CI of d is a "
        "BCa bootstrap (2,000 resamples, groups resampled independently).", "",
        results_table(results["features"]), "", "![effect sizes](effect_sizes.png)", "",
        "## Onset density", "", ONSET_NOTE, "",
    ]
    if skipped:
        lines += ["## Skipped files", ""] + [f"- {r.error}" for r in skipped] + [""]
    write_text(out / "report.md", "\n".join(lines))
    results["skipped"] = [r.error for r in skipped]
    return results


def compare_dirs(dir_a, dir_b, out, jobs: int | None = None, progress: bool = True) -> dict:
    files_a, files_b = list_audio_files(dir_a), list_audio_files(dir_b)
    for folder, files in ((dir_a, files_a), (dir_b, files_b)):
        if len(files) < 2:
            raise ValueError(f"{folder}: need at least 2 audio files, found {len(files)}")
    res = extract_files([*files_a, *files_b], jobs=jobs, progress=progress)
    ok_a, bad_a = split_results(res[: len(files_a)])
    ok_b, bad_b = split_results(res[len(files_a):])
    require_two(ok_a, str(dir_a), len(files_a))
    require_two(ok_b, str(dir_b), len(files_b))
    return write_comparison(Path(out), ok_a, ok_b, [*bad_a, *bad_b], str(dir_a), str(dir_b))


def run(args) -> int:
    res = compare_dirs(args.a, args.b, args.out, jobs=args.jobs)
    sig = [n for n, s in res["features"].items() if s["holm_p"] is not None and s["holm_p"] < 0.05]
    print(f"compared {res['n_a']} vs {res['n_b']} files; Holm p < 0.05: {', '.join(sig) or 'none'}; "
          f"skipped {len(res['skipped'])}; wrote {args.out}/results.json")
    return 0
