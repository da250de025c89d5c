"""`analysis report --runs DIR... --out report.md`: one Markdown document from several runs.

Each run folder contributes its report.md (or index.md), with headings moved one level down and
links and images rewritten to stay valid from the output file's folder, any PNG the report does
not already show, and the scalar figures of its JSON files.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path

from analysis.plots import write_text

REPORT_NAMES = ("report.md", "index.md")
MAX_JSON_BYTES = 2_000_000
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
_HEADING = re.compile(r"^(#{1,5}) ", re.MULTILINE)
_HREF = re.compile(r'(<a href=")([^"]+)(")')


def _is_relative(target: str) -> bool:
    return not (target.startswith(("#", "/", "mailto:")) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target))


def rewrite_links(markdown: str, run_dir: Path, out_dir: Path) -> str:
    """Relative link/image targets in `markdown` (written in run_dir) made relative to out_dir."""
    def fix(target: str) -> str:
        if not _is_relative(target):
            return target
        path, hashpart = (target.split("#", 1) + [""])[:2]
        new = os.path.relpath((run_dir / path).resolve(), out_dir.resolve()).replace(os.sep, "/")
        return new + (f"#{hashpart}" if hashpart else "")

    markdown = _LINK.sub(lambda m: m.group(1) + fix(m.group(2)) + m.group(3), markdown)
    return _HREF.sub(lambda m: m.group(1) + fix(m.group(2)) + m.group(3), markdown)


def demote(markdown: str) -> str:
    return _HEADING.sub(lambda m: "#" + m.group(1) + " ", markdown)


def json_figures(path: Path) -> list[str]:
    """'- key: value' lines for the top-level scalars of a JSON file (nothing for big files)."""
    if path.stat().st_size > MAX_JSON_BYTES:
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return [f"- (unreadable JSON: {path.name})"]
    if not isinstance(data, dict):
        return []
    lines = []
    for key, value in data.items():
        if isinstance(value, (int, float, str, bool)) and not (isinstance(value, str) and len(value) > 200):
            lines.append(f"- `{key}`: {value}")
    return lines


def section(run_dir: Path, out_dir: Path, level_title: str) -> str:
    if not run_dir.is_dir():
        raise ValueError(f"run folder not found: {run_dir}")
    md_file = next((run_dir / n for n in REPORT_NAMES if (run_dir / n).is_file()), None)
    pngs = sorted(run_dir.glob("*.png"))
    jsons = sorted(run_dir.glob("*.json"))
    if md_file is None and not pngs and not jsons:
        raise ValueError(f"{run_dir}: no report.md, index.md, JSON or PNG to gather")
    parts = [f"## {level_title}", "", f"Run folder: `{run_dir}`", ""]
    body = ""
    if md_file is not None:
        body = md_file.read_text(encoding="utf-8")
        # the run's own title becomes the section title
        body = re.sub(r"\A# [^\n]*\n", "", body.lstrip())
        body = rewrite_links(demote(body), run_dir, out_dir)
        parts += [body.strip(), ""]
    shown = {m.group(2) for m in _LINK.finditer(md_file.read_text(encoding="utf-8"))} if md_file else set()
    extra = [p for p in pngs if p.name not in shown and f"./{p.name}" not in shown]
    for png in extra:
        rel = os.path.relpath(png.resolve(), out_dir.resolve()).replace(os.sep, "/")
        parts += [f"![{png.stem}]({rel})", ""]
    figures = []
    for j in jsons:
        lines = json_figures(j)
        if lines:
            figures += [f"`{j.name}`:", *lines, ""]
    if figures:
        parts += ["### Key figures", "", *figures]
    return "\n".join(parts)


def gather(runs: list[str], out: Path) -> str:
    out_dir = out.resolve().parent
    titles, sections = [], []
    for run in runs:
        run_dir = Path(run)
        md_file = next((run_dir / n for n in REPORT_NAMES if (run_dir / n).is_file()), None)
        title = run_dir.name or str(run_dir)
        if md_file is not None:
            first = md_file.read_text(encoding="utf-8").lstrip().splitlines()[:1]
            if first and first[0].startswith("# "):
                title = f"{first[0][2:].strip()} ({run_dir.name})"
        titles.append(title)
        sections.append(section(run_dir, out_dir, title))
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    toc = [f"{i + 1}. [{t}](#{_anchor(t)})" for i, t in enumerate(titles)]
    return "\n".join(["# Latent Audio Synth: analysis report", "", f"Gathered {stamp} from {len(runs)} run(s).", "",
                      *toc, "", *sections])


def _anchor(title: str) -> str:
    a = re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")
    return a


def run(args) -> int:
    out = Path(args.out)
    if out.suffix.lower() != ".md":
        raise ValueError(f"--out must be a .md file, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, gather(args.runs, out))
    print(f"report: gathered {len(args.runs)} run(s) into {out}")
    return 0
