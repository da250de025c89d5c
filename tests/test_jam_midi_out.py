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
        out.schedule(melody(60, 62, 64, 65), 0, clock)          # four beats from frame 0
        # a splice at beat 2 (frame 1000), before it is heard: a held note across it ends there
        head = Voice("melody", 0, [Note(0, 1, 60, 90), Note(1, 1, 62, 90)])
        spliced = Score(120.0, voices=[Voice("melody", 0, head.notes + [Note(2, 0.5, 72, 90), Note(2.5, 1.5, 74, 90)])])
        out.schedule(melody(50), 2000, clock)                     # the next phrase, queued already
        out.reschedule(spliced, 0, 1000, clock)
        deadline = time.monotonic() + 5
        while out.sent < 12 and time.monotonic() < deadline:      # 2 program changes, 5 on + 5 off
            time.sleep(0.02)
    finally:
        out.close()
    notes = played(port)
    assert [n for kind, n in notes if kind == "note_on"] == [60, 62, 72, 74, 50]
    ons = {n for kind, n in notes if kind == "note_on"}
    offs = {n for kind, n in notes if kind == "note_off"}
    assert ons == offs and 64 not in ons and 65 not in ons          # the old beats 3 and 4 never sound
    assert port.sent[0].type == "program_change"
