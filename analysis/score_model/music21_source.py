"""Real music from PyPI's `music21` corpus (offline, public domain), reduced to what the score latent holds.

Each tune becomes a plain dict: its source, title, tune type (the ABC `R:` field, or "chorale"), meter,
key and mode, the tempo note if the book gives one (`N: "Slow"`), and its melody (plus, for Bach
chorales, the bass and the inner voices' pitches) as [start, duration, pitch] in quarter notes from the
first downbeat. Parsing is slow (about 6 s per O'Neill book here), so every source file's result is
cached as JSON under ~/.cache/latent-synth/music21/, keyed by music21's version and PARSER_VERSION.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

PARSER_VERSION = 1
SOURCES = {  # our name -> (music21 corpus composer / folder, kind)
    "oneills1850": ("oneills1850", "abc"),
    "ryansMammoth": ("ryansMammoth", "abc"),
    "essenFolksong": ("essenFolksong", "abc"),
    "bach": ("bach", "chorale"),
}
GRID = 0.25  # quarter notes per 16th: tunes that do not sit on 16ths (tuplets, grace runs) are dropped
DORIAN_LIKE = {"dorian": "minor", "phrygian": "minor", "aeolian": "minor", "minor": "minor",
               "mixolydian": "major", "lydian": "major", "ionian": "major", "major": "major"}


def cache_dir() -> Path:
    import music21

    root = Path(os.environ.get("LATENT_SYNTH_CACHE", Path.home() / ".cache" / "latent-synth"))
    return root / "music21" / f"{music21.__version__}-p{PARSER_VERSION}"


def source_files(source: str) -> list[Path]:
    from music21 import corpus

    if source not in SOURCES:
        raise ValueError(f"music21 source {source!r} is not one of {', '.join(SOURCES)}")
    name, kind = SOURCES[source]
    if source == "essenFolksong":
        paths = [Path(p) for p in corpus.getPaths() if "essenFolksong" in str(p) and str(p).endswith(".abc")
                 and not Path(p).name.startswith("test")]
    else:
        paths = [Path(p) for p in corpus.getComposer(name)]
    if kind == "chorale":  # the four-voice chorales (bwvNNN.N), not the instrumental works
        paths = [p for p in paths if re.match(r"bwv\d+\.\d+\.mxl$", p.name)]
    return sorted(paths)


def _on_grid(x: float) -> bool:
    return abs(x / GRID - round(x / GRID)) < 1e-6


def _line(part, shift: float) -> list[list] | None:
    """[start, duration, pitch] of a part's notes (a chord's top note), ties merged; None when off the grid."""
    out: list[list] = []
    for n in part.flatten().notes:
        start = float(n.offset) + shift
        dur = float(n.quarterLength)
        if dur <= 0:  # grace notes
            continue
        if not (_on_grid(start) and _on_grid(dur)):
            return None
        pitch = max(p.midi for p in n.pitches)
        tie = n.tie.type if n.tie is not None else None
        if tie in ("stop", "continue") and out and out[-1][2] == pitch:
            out[-1][1] = start + dur - out[-1][0]
            continue
        out.append([start, dur, pitch])
    return out


def _shift(score, bar: float) -> float:
    """Quarter notes to add so that downbeats fall on multiples of `bar` (a pickup bar is short)."""
    measures = list(score.recurse().getElementsByClass("Measure"))
    if len(measures) < 2:
        return 0.0
    first_full = float(measures[1].getOffsetInHierarchy(score))
    return (bar - first_full % bar) % bar


def _key(score) -> tuple[int, str]:
    keys = list(score.recurse().getElementsByClass("Key"))
    k = keys[0] if keys else score.analyze("key")
    return int(k.tonic.pitchClass), DORIAN_LIKE.get(str(k.mode), "major")


def _tune(score, source: str, title: str, rhythm: str, note: str) -> dict | None:
    ts = list(score.recurse().getElementsByClass("TimeSignature"))
    if not ts:
        return None
    meter = ts[0].ratioString
    bar = float(ts[0].barDuration.quarterLength)
    shift = _shift(score, bar)
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    satb = [p for p in parts if (p.partName or "").strip().lower() in ("soprano", "alto", "tenor", "bass")]
    parts = satb if len(satb) == 4 else parts[:1]
    melody = _line(parts[0], shift)
    if not melody or len(melody) < 8:
        return None
    tonic, mode = _key(score)
    out = {"source": source, "title": title, "type": rhythm, "meter": meter, "bar": bar, "tonic": tonic,
           "mode": mode, "tempo_note": note, "melody": melody}
    if len(parts) == 4:  # SATB: the bass line, and the inner voices for the chords
        lines = [_line(p, shift) for p in parts[1:]]
        if any(line is None for line in lines):
            return None
        out["inner"] = lines[0] + lines[1]
        out["bass"] = lines[2]
    return out


def _abc_blocks(text: str) -> list[str]:
    return ["X:" + b for b in re.split(r"(?m)^X:", text)[1:]]


def _field(block: str, name: str) -> str:
    m = re.search(rf"(?m)^{name}:\s*(.*)$", block)
    return m.group(1).strip().strip('"') if m else ""


def parse_file(path: Path, source: str) -> list[dict]:
    """Every usable tune in one corpus file."""
    from music21 import converter

    kind = SOURCES[source][1]
    tunes = []
    if kind == "chorale":
        try:
            score = converter.parse(str(path))
        except Exception:  # noqa: BLE001 - a file music21 cannot read is skipped, not fatal
            return []
        t = _tune(score, source, path.stem, "chorale", "")
        return [t] if t else []
    for block in _abc_blocks(path.read_text(errors="replace")):
        try:
            score = converter.parse(block, format="abc")
            t = _tune(score, source, _field(block, "T"), _field(block, "R").lower(), _field(block, "N"))
        except Exception:  # noqa: BLE001 - music21 raises many kinds on odd ABC; skip that tune
            continue
        if t:
            tunes.append(t)
    return tunes


def load_source(source: str, limit_files: int | None = None, progress: bool = True,
                cached_only: bool = False) -> list[dict]:
    """The tunes of one source, parsed once and then read from the cache (`cached_only`: skip files not
    parsed yet, for a quick reference figure)."""
    from synth.atomic_io import atomic_write_text

    folder = cache_dir() / source
    folder.mkdir(parents=True, exist_ok=True)
    files = source_files(source)[:limit_files]
    it = files
    if progress:
        from tqdm import tqdm

        it = tqdm(files, desc=f"music21 {source}", unit="file")
    tunes = []
    for path in it:
        cached = folder / (path.stem + ".json")
        if cached.is_file():
            tunes.extend(json.loads(cached.read_text()))
            continue
        if cached_only:
            continue
        parsed = parse_file(path, source)
        atomic_write_text(cached, json.dumps(parsed, separators=(",", ":")))
        tunes.extend(parsed)
    return tunes
