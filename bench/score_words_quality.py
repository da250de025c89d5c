"""The score model on a musician's own words, for `bench/score_quality.py`: every attribute of the
paraphrase set (tests/fixtures/score_paraphrases.yaml, written apart and never used to choose anything),
and how much the melodies move in 12-beat windows beside music21's tunes in the same windows.

Attributes, read from the decoded scores (no audio):
- instrument: the melody's GM program is in the caption's accepted set (exact, not the family);
- arrangement: the score's arrangement (`synth.score.arrangement_words.arrangement_of`) is the one asked
  for (an ensemble counts as a melody with accompaniment); drums_only: drums-only captions give drums and
  no pitched voice;
- drums: drums play or not as the caption says;
- tempo, dynamics, register: the bpm, the mean velocity of everything played, the melody's mean pitch
  move the caption's way from the median of the captions that say nothing about it (same run, same seeds).
Properties of our score model, not of Stable Audio.
"""
from __future__ import annotations

from pathlib import Path
from statistics import median

PARAPHRASES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "score_paraphrases.yaml"
TARGETS = {"instrument": 0.85, "arrangement": 0.90, "drums_only": 0.95, "drums": 0.95, "tempo": 0.90,
           "dynamics": 0.90, "register": 0.90}
MOTION_TARGETS = {"repeats": ("<=", 0.20), "range": (">=", 7), "distinct": (">=", 5), "stepwise": (">=", 0.55)}
UP = {"up", "loud", "high"}


def load(path=PARAPHRASES) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def _loudness(score) -> float | None:
    vels = [n.velocity for v in score.voices for n in v.notes] + [h.velocity for h in score.drums]
    return sum(vels) / len(vels) if vels else None


def _height(score) -> float | None:
    v = score.voice("melody")
    return sum(n.pitch for n in v.notes) / len(v.notes) if v is not None and v.notes else None


READINGS = {"tempo": lambda s: s.bpm, "dynamics": _loudness, "register": _height}


def _arrangement_hit(want: str, got: str) -> bool:
    return got == want or (want == "melody+accompaniment" and got == "ensemble")


def measure(engine, decode, data: dict, seeds) -> dict:
    """Rates and per-caption detail on the paraphrase set; `decode(engine, text, seeds)` -> Scores."""
    from synth.score.arrangement_words import arrangement_of

    accepted = {name: set(progs) for name, progs in data["accepted"].items()}
    rows = []
    for item in data["paraphrases"]:
        scores = decode(engine, item["text"], seeds)
        melody = [s.voice("melody") for s in scores]
        rows.append({"item": item, "programs": [v.program if v is not None and v.notes else None for v in melody],
                     "arrangements": [arrangement_of(s) for s in scores], "drums": [bool(s.drums) for s in scores],
                     **{k: [f(s) for s in scores] for k, f in READINGS.items()}})
    hits: dict[str, list[bool]] = {k: [] for k in TARGETS}
    misses: dict[str, list[str]] = {k: [] for k in TARGETS}

    def score(key: str, row: dict, results: list[bool]):
        hits[key] += results
        if not all(results):
            misses[key].append(row["item"]["text"])

    neutral = {k: median(x for r in rows if r["item"][k] is None for x in r[k] if x is not None) for k in READINGS}
    for r in rows:
        it = r["item"]
        if it["instrument"]:
            score("instrument", r, [p in accepted[it["instrument"]] for p in r["programs"]])
        if it["arrangement"]:
            score("arrangement", r, [_arrangement_hit(it["arrangement"], a) for a in r["arrangements"]])
        if it["arrangement"] == "drums-only":
            score("drums_only", r, [a == "drums-only" for a in r["arrangements"]])
        if it["drums"] is not None:
            score("drums", r, [d == it["drums"] for d in r["drums"]])
        for k in READINGS:
            if it[k] is not None:
                sign = 1 if it[k] in UP else -1
                score(k, r, [x is not None and sign * (x - neutral[k]) > 0 for x in r[k]])
    rates = {k: sum(v) / len(v) if v else None for k, v in hits.items()}
    return {"rates": rates, "pairs": {k: len(v) for k, v in hits.items()}, "neutral": neutral, "misses": misses}


def motion_of_clips(engine, texts, seeds, window_scores) -> dict:
    """Median range, distinct pitches, repeated notes and stepwise share of the melody's first 12 beats
    over `texts` x `seeds` (`window_scores(engine, text, seeds)` -> Scores at least 12 beats long)."""
    from analysis.score_model.melody_stats import median_of, motion, stepwise_share, window_pitches

    stats = []
    for text in texts:
        for s in window_scores(engine, text, seeds):
            v = s.voice("melody")
            pitches = window_pitches(v.notes) if v is not None else []
            m = motion(pitches)
            if m:
                stats.append({**m, "stepwise": stepwise_share(pitches)})
    return {"clips": len(stats), **{k: median_of(m[k] for m in stats) for k in ("range", "distinct", "repeats", "stepwise")}}


def motion_of_tunes(tunes: list[dict]) -> dict:
    """The same figures over every whole 12-beat window of music21's tunes, per source."""
    from analysis.score_model.melody_stats import median_of, motion, stepwise_share, tune_windows

    out = {}
    for source in sorted({t["source"] for t in tunes}):
        stats = [{**m, "stepwise": stepwise_share(w)} for t in tunes if t["source"] == source
                 for w in tune_windows(t["melody"]) if (m := motion(w))]
        out[source] = {"windows": len(stats),
                       **{k: median_of(m[k] for m in stats) for k in ("range", "distinct", "repeats", "stepwise")}}
    return out


def motion_ok(key: str, value: float | None) -> bool:
    op, bar = MOTION_TARGETS[key]
    return value is not None and (value <= bar if op == "<=" else value >= bar)
