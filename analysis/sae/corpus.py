"""Build the prompt corpus: real captions and label terms from a folder in the layout of
``shared/corpora`` plus the generated probing sets (analysis/sae/probe_prompts.py), and optionally the
captions of a score-model corpus (`latent-synth analysis score-corpus`): musician-style prompts
(tempos, keys, grooves, instruments, tune types) that the caption corpora rarely contain.

Rows: ``{"text": str, "source": str, "labels": {...}}``. Probing rows come first so that
deduplication never strips their labels (AudioSet's class "Music" would otherwise swallow the
bare reference prompt ``music``).
"""
from __future__ import annotations

import ast
import csv
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Iterator

from analysis.sae.probe_prompts import probe_rows
from synth.atomic_io import atomic_path

# source -> files it reads, relative to the corpus folder (all required).
SOURCE_FILES: dict[str, tuple[str, ...]] = {
    "audiocaps": ("audiocaps/train.csv", "audiocaps/val.csv", "audiocaps/test.csv"),
    "clotho": ("clotho/train.csv", "clotho/val.csv", "clotho/test.csv"),
    "musiccaps": ("musiccaps/musiccaps-public.csv",),
    "wavcaps_soundbible": ("wavcaps_soundbible/sb_final.json",),
    "audioset": ("audioset/ontology.json", "audioset/class_labels_indices.csv"),
    "mtg_jamendo": ("mtg_jamendo/genre.tsv", "mtg_jamendo/instrument.tsv", "mtg_jamendo/mood_theme.tsv",
                    "mtg_jamendo/moodtheme.txt", "mtg_jamendo/top50.txt"),
}
SOURCES = tuple(SOURCE_FILES)


class CorpusError(ValueError):
    """A missing or malformed source file; the message names the file."""


def _row(text: str, source: str, labels: dict | None = None) -> dict:
    return {"text": text, "source": source, "labels": labels or {}}


def _clean(text) -> str:
    return " ".join(str(text).split()) if text is not None else ""


def _open_text(path: Path):
    if not path.is_file():
        raise CorpusError(f"corpus source file missing: {path}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"corpus source file is not UTF-8 text: {path} ({exc.reason} at byte {exc.start})") from None


def _csv_rows(path: Path, required: Iterable[str], delimiter: str = ",") -> Iterator[tuple[int, dict]]:
    text = _open_text(path)
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise CorpusError(f"{path}: missing column(s) {', '.join(missing)} (header: {reader.fieldnames})")
    try:
        for line, rec in enumerate(reader, start=2):
            if None in rec:  # more fields than the header names: a broken row
                raise CorpusError(f"{path}: line {line} has more fields than the header")
            yield line, rec
    except csv.Error as exc:
        raise CorpusError(f"{path}: malformed CSV ({exc})") from None


def _json(path: Path):
    text = _open_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path}: malformed JSON ({exc})") from None


def read_audiocaps(root: Path) -> Iterator[dict]:
    for rel in SOURCE_FILES["audiocaps"]:
        for _, rec in _csv_rows(root / rel, ["caption"]):
            yield _row(_clean(rec["caption"]), "audiocaps")


def read_clotho(root: Path) -> Iterator[dict]:
    cols = [f"caption_{i}" for i in range(1, 6)]
    for rel in SOURCE_FILES["clotho"]:
        for _, rec in _csv_rows(root / rel, cols):
            for c in cols:
                yield _row(_clean(rec[c]), "clotho")


def read_musiccaps(root: Path) -> Iterator[dict]:
    path = root / SOURCE_FILES["musiccaps"][0]
    for line, rec in _csv_rows(path, ["caption", "aspect_list"]):
        try:
            aspects = ast.literal_eval(rec["aspect_list"]) if rec["aspect_list"].strip() else []
        except (ValueError, SyntaxError):
            raise CorpusError(f"{path}: line {line}: aspect_list is not a list literal: {rec['aspect_list'][:60]!r}") from None
        if not isinstance(aspects, list):
            raise CorpusError(f"{path}: line {line}: aspect_list is not a list: {rec['aspect_list'][:60]!r}")
        yield _row(_clean(rec["caption"]), "musiccaps", {"aspects": [_clean(a) for a in aspects]})


def read_soundbible(root: Path) -> Iterator[dict]:
    path = root / SOURCE_FILES["wavcaps_soundbible"][0]
    data = _json(path)
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise CorpusError(f"{path}: expected an object with a 'data' list")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "caption" not in item:
            raise CorpusError(f"{path}: data[{i}] has no 'caption'")
        yield _row(_clean(item["caption"]), "wavcaps_soundbible")


def read_audioset(root: Path) -> Iterator[dict]:
    onto_path, classes_path = (root / p for p in SOURCE_FILES["audioset"])
    onto = _json(onto_path)
    if not isinstance(onto, list):
        raise CorpusError(f"{onto_path}: expected a JSON list of classes")
    for i, cls in enumerate(onto):
        if not isinstance(cls, dict) or "name" not in cls or "id" not in cls:
            raise CorpusError(f"{onto_path}: entry {i} lacks 'id' or 'name'")
        yield _row(_clean(cls["name"]), "audioset", {"audioset_mid": cls["id"]})
    for _, rec in _csv_rows(classes_path, ["mid", "display_name"]):
        yield _row(_clean(rec["display_name"]), "audioset", {"audioset_mid": rec["mid"]})


def read_mtg_jamendo(root: Path) -> Iterator[dict]:
    files = SOURCE_FILES["mtg_jamendo"]
    for rel in files[:3]:  # tag vocabularies with counts
        category = Path(rel).stem.replace("mood_theme", "mood/theme")
        for _, rec in _csv_rows(root / rel, ["tag"], delimiter="\t"):
            yield _row(_clean(rec["tag"]), "mtg_jamendo", {"tag_category": category})
    for rel in files[3:]:  # lists of "category---tag"
        path = root / rel
        for n, line in enumerate(_open_text(path).splitlines(), start=1):
            if not line.strip():
                continue
            if "---" not in line:
                raise CorpusError(f"{path}: line {n} is not 'category---tag': {line[:60]!r}")
            category, tag = line.strip().split("---", 1)
            yield _row(_clean(tag), "mtg_jamendo", {"tag_category": category})


READERS: dict[str, Callable[[Path], Iterator[dict]]] = {
    "audiocaps": read_audiocaps,
    "clotho": read_clotho,
    "musiccaps": read_musiccaps,
    "wavcaps_soundbible": read_soundbible,
    "audioset": read_audioset,
    "mtg_jamendo": read_mtg_jamendo,
}


def dedupe_key(text: str) -> str:
    """Texts that differ only in case, spacing or a final full stop count as duplicates."""
    return " ".join(text.split()).casefold().rstrip(".").rstrip()


def dedupe(rows: Iterable[dict]) -> tuple[list[dict], Counter]:
    """Keep the first row per text; empty texts are dropped. Returns (rows, dropped per source)."""
    seen: set[str] = set()
    kept, dropped = [], Counter()
    for row in rows:
        key = dedupe_key(row["text"])
        if not key or key in seen:
            dropped[row["source"]] += 1
            continue
        seen.add(key)
        kept.append(row)
    return kept, dropped


def read_score_captions(corpus_dir) -> Iterator[dict]:
    """Every caption of a score-model corpus folder, one row each; source "score:" + the piece's source
    ("score:procedural", "score:music21:bach")."""
    from analysis.score_model.corpus import read_score_corpus

    try:
        pieces = read_score_corpus(corpus_dir)
    except (OSError, ValueError) as exc:
        raise CorpusError(f"--score-corpus: {exc}") from None
    for piece in pieces:
        caps = piece.get("captions") if isinstance(piece, dict) else None
        if not isinstance(caps, list):
            raise CorpusError(f"--score-corpus {corpus_dir}: a piece has no 'captions' list (id {piece.get('id')!r})")
        for text in caps:
            yield _row(_clean(text), f"score:{piece.get('source', 'procedural')}", {"score_piece": piece.get("id")})


def build_corpus(sources_dir, include: Iterable[str] | None = None, probes: bool = True,
                 score_corpus=None) -> tuple[list[dict], Counter]:
    """Read every included source (all by default), the probing sets and, with `score_corpus` (a folder
    written by `analysis score-corpus`), its captions; dedupe (score captions come last, so a caption
    that is also a real one keeps its real source).

    Returns (rows, duplicates dropped per source). Raises CorpusError naming a missing or malformed file.
    """
    root = Path(sources_dir)
    if not root.is_dir():
        raise CorpusError(f"corpus sources folder not found: {root}")
    names = list(include) if include else list(SOURCES)
    for n in names:
        if n not in READERS:
            raise CorpusError(f"unknown corpus source {n!r}; choose from {', '.join(SOURCES)}")
    # Check every file up front so a missing one fails fast, before any parsing.
    for n in names:
        for rel in SOURCE_FILES[n]:
            if not (root / rel).is_file():
                raise CorpusError(f"corpus source file missing: {root / rel}")
    rows: list[dict] = probe_rows() if probes else []
    for n in names:
        rows.extend(READERS[n](root))
    if score_corpus is not None:
        rows.extend(read_score_captions(score_corpus))
    return dedupe(rows)


def write_jsonl(rows: Iterable[dict], path) -> str:
    """Write rows atomically; returns the SHA-256 of the file written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for row in rows:
            line = _jsonl_line(row)
            digest.update(line)
            f.write(line)
    return digest.hexdigest()


def _jsonl_line(row: dict) -> bytes:
    return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


def rows_sha256(rows: Iterable[dict]) -> str:
    """The SHA-256 that write_jsonl would give these rows (a subset of a corpus can be matched to the
    corpus_hash an SAE was trained on)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(_jsonl_line(row))
    return digest.hexdigest()


def read_jsonl(path) -> list[dict]:
    """Read a corpus file; every row must have a str text, a str source and a dict of labels."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus file not found: {path}")
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}: line {n} is not JSON ({exc.msg})") from None
            if not (isinstance(row, dict) and isinstance(row.get("text"), str)):
                raise CorpusError(f"{path}: line {n} lacks a string 'text'")
            row.setdefault("source", "unknown")
            row.setdefault("labels", {})
            if not isinstance(row["labels"], dict):
                raise CorpusError(f"{path}: line {n}: 'labels' must be an object")
            rows.append(row)
    return rows


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def count_by_source(rows: Iterable[dict]) -> Counter:
    return Counter(r["source"] for r in rows)
