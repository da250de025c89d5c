"""`analysis report` gathers run folders into one Markdown file with working links."""
import json
import re
from pathlib import Path

import pytest

from analysis.steering.report import gather, rewrite_links, run


class Args:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _run_dir(root: Path, name: str, title: str) -> Path:
    d = root / "runs" / name
    (d / "sub").mkdir(parents=True)
    (d / "report.md").write_text(f"# {title}\n\nSome text.\n\n## Part\n\n![plot](plot.png)\n\n[detail](sub/report.md#x)"
                                 " and [web](https://example.org) and [top](#part)\n")
    (d / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (d / "extra.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (d / "sub" / "report.md").write_text("# detail\n")
    (d / "geometry.json").write_text(json.dumps({"permutation_p": 0.001, "n_features_90pct": 42, "pairs": [1, 2]}))
    return d


def test_report_gathers_runs_with_valid_links(tmp_path):
    a = _run_dir(tmp_path, "geo", "Cultural geometry")
    b = _run_dir(tmp_path, "val", "Validation")
    out = tmp_path / "docs" / "report.md"
    assert run(Args(runs=[str(a), str(b)], out=str(out))) == 0
    text = out.read_text()
    assert "## Cultural geometry (geo)" in text and "## Validation (val)" in text
    assert "### Part" in text and "\n## Part" not in text                         # headings demoted
    assert "`permutation_p`: 0.001" in text and "`n_features_90pct`: 42" in text
    assert "https://example.org" in text and "(#part)" in text                     # absolute/anchor links kept
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not t.startswith("http")]
    assert any(t.endswith("extra.png") for t in local)                            # unreferenced PNG added inline
    for t in local:
        assert (out.parent / t).exists(), t


def test_rewrite_links_relative_to_output(tmp_path):
    md = "![x](a.png) [y](sub/b.md#z) [w](http://h/x.png)"
    out = rewrite_links(md, tmp_path / "runs" / "r", tmp_path)
    assert out == "![x](runs/r/a.png) [y](runs/r/sub/b.md#z) [w](http://h/x.png)"


def test_report_errors(tmp_path):
    with pytest.raises(ValueError, match="run folder not found"):
        gather([str(tmp_path / "nope")], tmp_path / "r.md")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="nothing|no report.md"):
        gather([str(tmp_path / "empty")], tmp_path / "r.md")
    with pytest.raises(ValueError, match=".md"):
        run(Args(runs=[str(tmp_path)], out=str(tmp_path / "r.txt")))
