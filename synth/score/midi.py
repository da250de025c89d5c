"""Score -> Standard MIDI File bytes (type 1: a tempo track, one track per voice, a drum track)."""
from __future__ import annotations

import io

import mido

from synth.score.events import CHANNEL, PAN, events
from synth.score.gm import DRUM_CHANNEL, PROGRAMS
from synth.score.score import Score

TICKS_PER_BEAT = 480


def _track(name: str, evs, channel: int, program: int | None, pan: int) -> mido.MidiTrack:
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    if program is not None:
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    track.append(mido.Message("control_change", channel=channel, control=10, value=pan, time=0))
    now = 0
    for e in evs:
        tick = int(round(e.beat * TICKS_PER_BEAT))
        kind = "note_on" if e.kind == "on" else "note_off"
        track.append(mido.Message(kind, channel=channel, note=e.key, velocity=e.velocity, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def score_to_midi(score: Score, end_beat: float | None = None) -> bytes:
    """The score as SMF bytes; a DAW user can drag it in and re-orchestrate it."""
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    tempo = mido.MidiTrack([
        mido.MetaMessage("track_name", name="tempo", time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(score.bpm), time=0),
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
        mido.MetaMessage("end_of_track", time=0),
    ])
    mid.tracks.append(tempo)
    evs = events(score, end_beat)
    for voice in score.voices:
        ch = CHANNEL[voice.role]
        mid.tracks.append(_track(f"{voice.role}: {PROGRAMS[voice.program]}", [e for e in evs if e.channel == ch],
                                 ch, voice.program, PAN[voice.role]))
    if score.drums:
        mid.tracks.append(_track("drums", [e for e in evs if e.channel == DRUM_CHANNEL], DRUM_CHANNEL, None, 64))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()
