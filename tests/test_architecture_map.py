"""docs/ARCHITECTURE.md's file map is true to the tree: every .py under synth/, bridge/ and analysis/
is listed, and nothing listed is missing."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("synth", "bridge", "analysis")
NAME = re.compile(r"[\w.-]+/?")


def map_block() -> list[str]:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    after = text.split("## Map", 1)[1]
    return after.split("```", 2)[1].splitlines()[1:]


def listed_paths() -> set[str]:
    """Paths the map names: a line's leading names (comma-separated) under the folder it is indented in."""
    folders: list[tuple[int, str]] = []      # (indent, path) of the enclosing folders
    listed = set()
    for line in map_block():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while folders and folders[-1][0] >= indent:
            folders.pop()
        parent = folders[-1][1] if folders else ""
        names = []
        rest = line.strip()
        while (m := NAME.match(rest)) and (m.group().endswith((".py", "/")) or m.group() in ("shipped_presets",)):
            names.append(m.group())
            rest = rest[m.end():]
            if not rest.startswith(","):
                break
            rest = rest[1:].lstrip()
        for name in names:
            path = parent + name
            listed.add(path.rstrip("/"))
            if name.endswith("/") and len(names) == 1:
                folders.append((indent, path))
    return listed


def test_every_python_file_is_on_the_map_and_every_entry_exists():
    listed = listed_paths()
    files = {p.relative_to(ROOT).as_posix() for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
             if p.name != "__init__.py" and "__pycache__" not in p.parts}
    missing_from_map = sorted(files - listed)
    assert not missing_from_map, f"not on docs/ARCHITECTURE.md's map: {missing_from_map}"
    gone = sorted(p for p in listed if not (ROOT / p).exists())
    assert not gone, f"on the map but not in the tree: {gone}"
