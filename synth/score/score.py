"""The symbolic score the model writes: tempo, key, up to three voices and a drum part.

Times are in beats from the start of the clip (a beat = 60 / bpm seconds). The harmony voice holds
chords: its notes are every chord tone, and each chord is a diatonic root-position triad in the key
(`synth.score.theory.triad`), so its lowest tone (the root) says the whole chord. The drum part is a
`Groove` (a named pattern, a level and the bars that end in a fill); `drums` holds the hits it plays
(`synth.score.drums.groove_hits`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from synth.score.drums import DrumHit, Groove, check_groove
from synth.score.gm import check_program
from synth.score.theory import check_key

ROLES = ("melody", "harmony", "bass")


@dataclass(frozen=True)
class Note:
    start: float     # beats
    duration: float  # beats
    pitch: int       # MIDI key
    velocity: int    # 1..127


@dataclass
class Voice:
    role: str        # melody | harmony | bass
    program: int     # GM program 0..127
    notes: list[Note] = field(default_factory=list)

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"voice role {self.role!r} is not one of {', '.join(ROLES)}")
        check_program(self.program)


@dataclass
class Score:
    bpm: float
    tonic: int = 0             # pitch class of the key's tonic (0 = C)
    mode: str = "major"        # major | minor
    voices: list[Voice] = field(default_factory=list)
    drums: list[DrumHit] = field(default_factory=list)
    groove: Groove | None = None   # what `drums` was made from (the latent stores the groove, not the hits)

    def __post_init__(self):
        if not 20.0 <= float(self.bpm) <= 400.0:
            raise ValueError(f"tempo {self.bpm} bpm is outside 20..400")
        check_key(self.tonic, self.mode)
        roles = [v.role for v in self.voices]
        if len(set(roles)) != len(roles):
            raise ValueError(f"a score has at most one voice per role, got {roles}")
        if self.groove is not None:
            check_groove(self.groove)

    def voice(self, role: str) -> Voice | None:
        return next((v for v in self.voices if v.role == role), None)

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / float(self.bpm)

    def to_dict(self) -> dict:
        """Compact JSON form: notes as [start, duration, pitch, velocity], hits as [start, lane, velocity]."""
        return {"bpm": float(self.bpm), "tonic": self.tonic, "mode": self.mode,
                "voices": [{"role": v.role, "program": v.program,
                            "notes": [[n.start, n.duration, n.pitch, n.velocity] for n in v.notes]} for v in self.voices],
                "drums": [[h.start, h.lane, h.velocity] for h in self.drums],
                "groove": self.groove.to_dict() if self.groove else None}

    @classmethod
    def from_dict(cls, d: dict) -> "Score":
        voices = [Voice(v["role"], int(v["program"]), [Note(float(a), float(b), int(c), int(e)) for a, b, c, e in v["notes"]])
                  for v in d.get("voices", [])]
        drums = [DrumHit(float(a), int(b), int(c)) for a, b, c in d.get("drums", [])]
        groove = Groove.from_dict(d["groove"]) if d.get("groove") else None
        return cls(bpm=float(d["bpm"]), tonic=int(d.get("tonic", 0)), mode=d.get("mode", "major"), voices=voices,
                   drums=drums, groove=groove)
