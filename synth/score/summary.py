"""The sidecar's `score` object: what a reader (or `analysis sonify`) needs to see what was played."""
from __future__ import annotations

from synth.score.score import Score


def summary(score: Score) -> dict:
    """{"bpm", "drums", "voices": [{"role", "program", "notes", "mean_pitch", "mean_velocity"}]};
    voices without notes are left out."""
    voices = []
    for v in score.voices:
        if not v.notes:
            continue
        voices.append({
            "role": v.role,
            "program": int(v.program),
            "notes": len(v.notes),
            "mean_pitch": round(sum(n.pitch for n in v.notes) / len(v.notes), 2),
            "mean_velocity": round(sum(n.velocity for n in v.notes) / len(v.notes), 2),
        })
    return {"bpm": round(float(score.bpm), 2), "drums": bool(score.drums), "voices": voices}
