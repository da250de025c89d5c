"""What a musician hears in a melody line, as numbers: how often it moves by step, how much of it is in
the key, and how many notes a clip holds. Pure functions over pitches and note lists."""
from __future__ import annotations

from statistics import median

from synth.score.theory import MODES

STEP = 2  # semitones: a move of at most a whole tone is a step


def stepwise_share(pitches: list[int]) -> float | None:
    """Share of melodic moves that are steps (|interval| <= 2 semitones), repeated notes excluded;
    None for a line with no moves."""
    moves = [b - a for a, b in zip(pitches, pitches[1:]) if b != a]
    if not moves:
        return None
    return sum(abs(m) <= STEP for m in moves) / len(moves)


def in_key_share(pitches: list[int], tonic: int, mode: str) -> float | None:
    """Share of pitches in the (tonic, mode) scale (natural minor for minor)."""
    if not pitches:
        return None
    return sum((p - tonic) % 12 in MODES[mode] for p in pitches) / len(pitches)


def melody_stats(score) -> dict:
    """A Score's melody line: stepwise share, in-key share, notes and mean note length (beats)."""
    v = score.voice("melody")
    notes = sorted(v.notes, key=lambda n: n.start) if v is not None else []
    pitches = [n.pitch for n in notes]
    return {"stepwise": stepwise_share(pitches), "in_key": in_key_share(pitches, score.tonic, score.mode),
            "notes": len(notes), "mean_length": sum(n.duration for n in notes) / len(notes) if notes else None}


def notes_within(starts_in_beats: list[float], bpm: float, seconds: float) -> int:
    """Notes that start inside the first `seconds` at `bpm`."""
    end = seconds * bpm / 60.0
    return sum(0 <= s < end for s in starts_in_beats)


def median_of(values) -> float | None:
    vals = [v for v in values if v is not None]
    return median(vals) if vals else None


def music21_reference(tunes: list[dict], seconds: float = 8.0, bpm_of=None) -> dict:
    """Per music21 source: median stepwise share, median in-key share and the share of `seconds` clips
    (from the first downbeat, at the tune type's typical tempo) with under 4 melody notes."""
    from analysis.score_model.music21_pieces import TYPES, tune_type

    out: dict[str, dict] = {}
    by_source: dict[str, list[dict]] = {}
    for t in tunes:
        by_source.setdefault(t["source"], []).append(t)
    for source, rows in sorted(by_source.items()):
        steps, keys, short = [], [], []
        for t in rows:
            pitches = [p for *_, p in t["melody"]]
            steps.append(stepwise_share(pitches))
            keys.append(in_key_share(pitches, t["tonic"], t["mode"]))
            lo, hi = TYPES[tune_type(t)][0]
            bpm = bpm_of(t) if bpm_of else (lo + hi) / 2
            short.append(notes_within([a for a, *_ in t["melody"]], bpm, seconds) < 4)
        out[source] = {"tunes": len(rows), "stepwise_median": round(median_of(steps), 3),
                       "in_key_median": round(median_of(keys), 3),
                       "short_clip_share": round(sum(short) / len(short), 3)}
    return out


WINDOW_BEATS = 12.0  # the window melodic motion is measured in (about an 8 s clip at 96 bpm)


def motion(pitches: list[int]) -> dict | None:
    """How much a line moves: its range (semitones), its distinct pitches and the share of its notes that
    repeat the one before; None for a line of under two notes."""
    if len(pitches) < 2:
        return None
    repeats = sum(a == b for a, b in zip(pitches, pitches[1:])) / (len(pitches) - 1)
    return {"range": max(pitches) - min(pitches), "distinct": len(set(pitches)), "repeats": repeats}


def window_pitches(notes, start: float = 0.0, beats: float = WINDOW_BEATS) -> list[int]:
    """Pitches of the notes ([start, ..., pitch] rows or Notes) that start in [start, start + beats), in order."""
    rows = sorted((n.start, n.pitch) if hasattr(n, "pitch") else (n[0], n[-1]) for n in notes)
    return [p for s, p in rows if start <= s < start + beats]


def tune_windows(melody, beats: float = WINDOW_BEATS) -> list[list[int]]:
    """A tune's melody ([start, ..., pitch] rows, in beats) cut into its whole consecutive windows."""
    if not melody:
        return []
    end = max(row[0] for row in melody)
    return [window_pitches(melody, k * beats, beats) for k in range(int(end // beats))]
