"""What a sonify grid changes in the decoded score (the score backend's sidecar `score` objects).

Pure: score summaries in ({"bpm", "drums", "voices": [{"role", "program", "notes", "mean_pitch",
"mean_velocity"}]}, as `synth.score.summary` writes them), short text out, so a reader of
`index.md` sees what a feature or contrast does ("melody program 0 → 56 (Trumpet)", "bpm 92 → 140",
"drums off → on") without opening the clips.
"""
from __future__ import annotations

from typing import Mapping

from synth.score.gm import PROGRAMS

ROLES = ("melody", "harmony", "bass")
# Smallest changes worth a word: below these the difference is within what one seed's rounding or
# the decoder's quantisation moves.
BPM_RATIO = 0.05
PITCH_SEMITONES = 2.0
VELOCITY_STEPS = 10.0
NOTES_RATIO = 0.3


def _voices(score: Mapping) -> dict[str, Mapping]:
    return {v["role"]: v for v in score.get("voices", [])}


def program_name(program: int) -> str:
    return PROGRAMS[int(program)]


def cell_tag(score: Mapping | None) -> str:
    """One clip in a few words: '92 bpm, drums, melody Trumpet'."""
    if not score:
        return ""
    parts = [f"{score['bpm']:.0f} bpm"]
    if score.get("drums"):
        parts.append("drums")
    melody = _voices(score).get("melody")
    if melody is not None:
        parts.append(f"melody {program_name(melody['program'])}")
    return ", ".join(parts)


def score_change(a: Mapping | None, b: Mapping | None) -> str:
    """What changes from score `a` to score `b`, as '; '-joined phrases ('no change in the score' when
    nothing passes the thresholds above; '' when either is missing)."""
    if not a or not b:
        return ""
    out = []
    if abs(b["bpm"] - a["bpm"]) >= BPM_RATIO * max(a["bpm"], 1e-9):
        out.append(f"bpm {a['bpm']:.0f} → {b['bpm']:.0f}")
    if bool(a.get("drums")) != bool(b.get("drums")):
        out.append(f"drums {'on' if a.get('drums') else 'off'} → {'on' if b.get('drums') else 'off'}")
    va, vb = _voices(a), _voices(b)
    for role in ROLES:
        x, y = va.get(role), vb.get(role)
        if x is None and y is None:
            continue
        if x is None or y is None:
            v = x or y
            state = "off → on" if x is None else "on → off"
            out.append(f"{role} {state} ({program_name(v['program'])})")
            continue
        if x["program"] != y["program"]:
            out.append(f"{role} program {x['program']} → {y['program']} ({program_name(y['program'])})")
        if abs(y["mean_pitch"] - x["mean_pitch"]) >= PITCH_SEMITONES:
            out.append(f"{role} pitch {x['mean_pitch']:.0f} → {y['mean_pitch']:.0f}")
        if abs(y["mean_velocity"] - x["mean_velocity"]) >= VELOCITY_STEPS:
            out.append(f"{role} velocity {x['mean_velocity']:.0f} → {y['mean_velocity']:.0f}")
        if abs(y["notes"] - x["notes"]) >= max(2, NOTES_RATIO * x["notes"]):
            out.append(f"{role} notes {x['notes']} → {y['notes']}")
    return "; ".join(out) or "no change in the score"
