"""`latent-synth analysis score-corpus`: pieces with known parameters and captions, from two sources:
`procedural` (the generator: every GM instrument, genres, drums) and `music21` (real folk tunes and Bach
chorales from PyPI's music21 corpus: `analysis.score_model.music21_pieces`).

DIR/corpus.jsonl holds one row per piece: {"id", "seed", "source", "bar_beats", "params" (the true
parameters), "captions", "score" (Score.to_dict)}; DIR/manifest.json says how it was made, with the mix
and its counts. Both are written atomically.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from analysis.score_model.captions import captions
from analysis.score_model.compose import compose
from analysis.score_model.params import sample_params
from synth.atomic_io import atomic_path, atomic_write_text

CORPUS_FILE = "corpus.jsonl"
MANIFEST = "manifest.json"
GENERATOR_VERSION = 5
SOURCES = ("procedural", "music21")
# music21 sources and how many of their files to parse (None: all); `--music21` overrides it
MUSIC21_DEFAULT = "oneills1850,bach,essenFolksong:6,ryansMammoth:200"


def piece(index: int, seed: int, n_captions: int) -> dict:
    """Piece `index` of the corpus made with `seed`: the same arguments give the same row."""
    rng = random.Random(f"{seed}:{index}")
    params = sample_params(rng)
    score = compose(params, rng)
    return {"id": index, "seed": seed, "source": "procedural", "bar_beats": 4.0, "params": params.to_dict(),
            "captions": captions(params, rng, n_captions), "score": score.to_dict()}


def tune_rows(tunes: list[dict], seed: int, n_captions: int, repeats: int, first_id: int) -> list[dict]:
    """`repeats` pieces per music21 tune (each in its own key, tempo and orchestration)."""
    from analysis.score_model.music21_pieces import tune_piece

    rows = []
    for r in range(repeats):
        for i, tune in enumerate(tunes):
            rng = random.Random(f"{seed}:music21:{r}:{i}")
            params, score, nouns, extra, bar = tune_piece(tune, rng)
            rows.append({"id": first_id + len(rows), "seed": seed, "source": f"music21:{tune['source']}",
                         "title": tune["title"], "bar_beats": bar, "params": params.to_dict(),
                         "captions": captions(params, rng, n_captions, nouns, extra), "score": score.to_dict()})
    return rows


def parse_sources(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in names if s not in SOURCES]
    if bad or not names:
        raise ValueError(f"--sources {text!r}: pick from {', '.join(SOURCES)} (comma-separated)")
    return names


def parse_music21(text: str) -> list[tuple[str, int | None]]:
    """"oneills1850,essenFolksong:6" -> [("oneills1850", None), ("essenFolksong", 6)] (files to parse)."""
    from analysis.score_model.music21_source import SOURCES as M21

    out = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        name, _, files = item.partition(":")
        if name not in M21 or (files and not files.isdigit()):
            raise ValueError(f"--music21 {item!r}: expected NAME or NAME:FILES with NAME one of {', '.join(M21)}")
        out.append((name, int(files) if files else None))
    return out


def build_score_corpus(n: int, out_dir, seed: int = 0, n_captions: int = 3, progress: bool = True,
                       sources: tuple[str, ...] = ("procedural",), music21: str = MUSIC21_DEFAULT,
                       music21_repeats: int = 2) -> dict:
    """`n` procedural pieces (when `procedural` is a source) and `music21_repeats` pieces per music21
    tune (from the files `music21` names: see parse_music21)."""
    if n < 1 and "procedural" in sources:
        raise ValueError(f"--n {n}: must be at least 1")
    extra_rows: list[dict] = []
    if "music21" in sources:
        from analysis.score_model.music21_source import load_source

        tunes = [t for src, files in parse_music21(music21) for t in load_source(src, files, progress)]
        extra_rows = tune_rows(tunes, seed, n_captions, music21_repeats, n if "procedural" in sources else 0)
    if "procedural" not in sources:
        n = 0
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    captions_total = 0
    indices = range(n)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="score corpus", unit="piece")
    with atomic_path(out / CORPUS_FILE) as tmp, open(tmp, "w") as fh:
        for row in (piece(i, seed, n_captions) for i in indices) if n else ():
            counts["source:procedural"] += 1
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
            p = row["params"]
            captions_total += len(row["captions"])
            counts["drums"] += p["drums"] is not None
            counts["solo"] += p["solo"]
            counts[f"emotion:{p['emotion']}"] += 1
            counts[f"genre:{p['genre']}"] += 1
        for row in extra_rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
            captions_total += len(row["captions"])
            counts[f"source:{row['source']}"] += 1
            counts["drums"] += row["params"]["drums"] is not None
    manifest = {"pieces": n + len(extra_rows), "procedural": n, "captions": captions_total, "seed": seed,
                "captions_per_piece": n_captions, "sources": list(sources), "music21": music21 if "music21" in sources else None,
                "music21_repeats": music21_repeats, "generator_version": GENERATOR_VERSION,
                "counts": dict(sorted(counts.items()))}
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_score_corpus(corpus_dir) -> list[dict]:
    path = Path(corpus_dir) / CORPUS_FILE
    if not path.is_file():
        raise OSError(f"{str(corpus_dir)!r} holds no {CORPUS_FILE}: make one with `latent-synth analysis score-corpus`")
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]
