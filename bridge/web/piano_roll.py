"""A `.mid` as a piano roll a page can draw: per channel its GM instrument and notes in seconds."""
from __future__ import annotations

import mido

from synth.score.gm import DRUM_CHANNEL, PROGRAMS


def piano_roll(path) -> dict:
    """{"seconds", "voices": [{"channel", "program", "instrument", "notes": [[start, length, pitch, velocity]]}]}."""
    programs: dict[int, int] = {}
    names: dict[int, str] = {}
    started: dict[tuple[int, int], tuple[float, int]] = {}
    notes: dict[int, list] = {}
    t = 0.0
    mid = mido.MidiFile(path)
    for track in mid.tracks:  # our tracks are named "role: instrument"; keep the role for the legend
        for msg in track:
            if msg.type == "program_change":
                names.setdefault(msg.channel, track.name.split(":")[0].strip())
    for msg in mid:  # merged, times in seconds
        t += msg.time
        if msg.type == "program_change":
            programs[msg.channel] = msg.program
        elif msg.type == "note_on" and msg.velocity > 0:
            started[(msg.channel, msg.note)] = (t, msg.velocity)
        elif msg.type in ("note_off", "note_on"):
            begun = started.pop((msg.channel, msg.note), None)
            if begun is not None:
                notes.setdefault(msg.channel, []).append([round(begun[0], 4), round(t - begun[0], 4), msg.note, begun[1]])
    voices = []
    for channel in sorted(notes):
        program = programs.get(channel, 0)
        drums = channel == DRUM_CHANNEL
        voices.append({"channel": channel, "program": None if drums else program,
                       "role": "drums" if drums else names.get(channel, f"channel {channel + 1}"),
                       "instrument": "Drums" if drums else PROGRAMS[program], "notes": notes[channel]})
    return {"seconds": round(t, 4), "voices": voices}
