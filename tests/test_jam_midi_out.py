"""The jam's live MIDI notes: a phrase's notes go out at their frames' times, and a beat splice swaps
the notes from its beat on for the spliced score's, leaving no note hanging."""
import time

from bridge.jam.midi_out import MidiOut
from synth.score.score import Note, Score, Voice

SR = 1000   # output frames per second: at 120 bpm a beat is 500 frames


class Port:
    name = "memory"

    def __init__(self):
        self.sent = []

    def send(self, msg):
        self.sent.append(msg)

    def close(self):
        pass


class Clock:
    sample_rate = SR

    def __init__(self):
        self.t0 = time.monotonic()

    def frame_to_time(self, frame):
        return self.t0 + frame / SR


def melody(*pitches, length=1.0):
    return Score(120.0, voices=[Voice("melody", 0, [Note(i * length, length, p, 90) for i, p in enumerate(pitches)])])


def played(port):
    return [(m.type, m.note) for m in port.sent if m.type in ("note_on", "note_off")]


def test_a_splice_swaps_the_notes_from_its_beat_and_none_hangs():
    port, clock = Port(), Clock()
    out = MidiOut(port)
    try:
        chord = Voice("harmony", 48, [Note(1, 3, 67, 70)])      # held across the splice, to beat 4
        source = melody(60, 62, 64, 65)
        out.schedule(Score(120.0, voices=source.voices + [chord]), 0, clock)   # four beats from frame 0
        # a splice at beat 2 (frame 1000), before it is heard: the melody changes, the chord rings on
        head = Voice("melody", 0, [Note(0, 1, 60, 90), Note(1, 1, 62, 90)])
        spliced = Score(120.0, voices=[Voice("melody", 40, head.notes + [Note(2, 0.5, 72, 90), Note(2.5, 1.5, 74, 90)]),
                                       chord])
        out.schedule(melody(50), 2000, clock)                     # the next phrase, queued already
        out.reschedule(spliced, 0, 1000, clock)
        deadline = time.monotonic() + 5
        while out.sent < 17 and time.monotonic() < deadline:      # 5 program changes, 6 on + 6 off
            time.sleep(0.02)
    finally:
        out.close()
    notes = played(port)
    assert [n for kind, n in notes if kind == "note_on"] == [60, 62, 67, 72, 74, 50]
    ons = {n for kind, n in notes if kind == "note_on"}
    offs = {n for kind, n in notes if kind == "note_off"}
    assert ons == offs and 64 not in ons and 65 not in ons          # the old beats 3 and 4 never sound
    assert port.sent[0].type == "program_change"
    assert notes.index(("note_off", 67)) > notes.index(("note_on", 74))   # the held chord was not cut at the beat
    assert [(m.channel, m.program) for m in port.sent if m.type == "program_change"][2] == (0, 40)   # on the beat
