"""The sidecar's `score` object: what a reader (or `analysis sonify`) needs to see what was played."""
from __future__ import annotations

from synth.score.score import Score


def summary(score: Score, end_beat: float | None = None) -> dict:
    """{"bpm", "drums", "voices": [{"role", "program", "notes", "mean_pitch", "mean_velocity"}]};
    only notes and hits that start before `end_beat` count (what the clip and its MIDI play); voices
    without notes are left out."""
    def played(start: float) -> bool:
        return end_beat is None or start < end_beat

    voices = []
    for v in score.voices:
        notes = [n for n in v.notes if played(n.start)]
        if not notes:
            continue
        voices.append({
            "role": v.role,
            "program": int(v.program),
            "notes": len(notes),
            "mean_pitch": round(sum(n.pitch for n in notes) / len(notes), 2),
            "mean_velocity": round(sum(n.velocity for n in notes) / len(notes), 2),
        })
    drums = any(played(h.start) for h in score.drums)
    return {"bpm": round(float(score.bpm), 2), "drums": drums, "voices": voices}
