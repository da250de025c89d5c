"""A score as a time-ordered list of MIDI channel events (what both the .mid writer and FluidSynth play)."""
from __future__ import annotations

from dataclasses import dataclass

from synth.score.gm import DRUM_CHANNEL
from synth.score.drums import DRUM_KEYS
from synth.score.score import ROLES, Score

CHANNEL = {role: i for i, role in enumerate(ROLES)}  # melody 0, harmony 1, bass 2; drums 9
PAN = {"melody": 64, "harmony": 40, "bass": 64}      # a little stereo: the chords sit left of centre
DRUM_LENGTH = 0.25  # beats a drum note is held (GM drums ignore note-off, MIDI files still want one)


@dataclass(frozen=True, order=True)
class Event:
    beat: float
    order: int          # note-offs (0) before note-ons (1) at the same time
    kind: str           # "on" | "off"
    channel: int
    key: int
    velocity: int


def programs(score: Score) -> dict[int, int]:
    """MIDI channel -> GM program for the score's voices."""
    return {CHANNEL[v.role]: v.program for v in score.voices}


def events(score: Score, end_beat: float | None = None) -> list[Event]:
    """Note on/off events sorted by time; notes are cut at `end_beat` when given."""
    out = []

    def add(start, duration, channel, key, velocity):
        if end_beat is not None and start >= end_beat:
            return
        stop = start + duration if end_beat is None else min(start + duration, end_beat)
        out.append(Event(start, 1, "on", channel, key, velocity))
        out.append(Event(stop, 0, "off", channel, key, 0))

    for voice in score.voices:
        for n in voice.notes:
            add(n.start, n.duration, CHANNEL[voice.role], n.pitch, n.velocity)
    for hit in score.drums:
        add(hit.start, DRUM_LENGTH, DRUM_CHANNEL, DRUM_KEYS[hit.lane], hit.velocity)
    return sorted(out)
