"""Standard MIDI File bytes -> Score: a `.mid` a user drags in (ours, or a DAW's) as the score model's
variation source (`render --init FILE.mid`).

Our own files map back exactly: channel 1 melody, 2 harmony, 3 bass, 10 drums (CHANNEL in events.py).
Another program's file: its pitched channels in order of first note become melody, harmony and bass
(at most three, the score model's voices). The latent stores a groove pattern rather than hits, so
channel 10 becomes the groove that plays it most alike (`synth.score.drums.read_groove`: ours read back
exactly), or no drums when none is alike. The key is the major or natural-minor scale that holds the most note time.
A file of drums alone is a drums-only score (no pitched voice).
"""
from __future__ import annotations

import io

import mido

from synth.score.drums import bars_in, groove_hits, read_groove
from synth.score.events import CHANNEL
from synth.score.gm import DRUM_CHANNEL
from synth.score.score import ROLES, Note, Score, Voice
from synth.score.theory import MODES

DEFAULT_BPM = 120.0


class MidiReadError(ValueError):
    """A file that is not a readable Standard MIDI File or holds no notes; the message says which."""


def _notes(mid: mido.MidiFile) -> tuple[float, dict[int, list[Note]], dict[int, int]]:
    """(bpm, channel -> notes in beats, channel -> GM program) from all tracks merged."""
    tpb = mid.ticks_per_beat
    bpm, tick = None, 0
    open_notes: dict[tuple[int, int], tuple[int, int]] = {}
    notes: dict[int, list[Note]] = {}
    programs: dict[int, int] = {}
    for msg in mido.merge_tracks(mid.tracks):
        tick += msg.time
        if msg.type == "set_tempo" and bpm is None:
            bpm = mido.tempo2bpm(msg.tempo)
        elif msg.type == "program_change":
            programs.setdefault(msg.channel, msg.program)
        elif msg.type == "note_on" and msg.velocity > 0:
            open_notes[(msg.channel, msg.note)] = (tick, msg.velocity)
        elif msg.type in ("note_off", "note_on"):
            started = open_notes.pop((msg.channel, msg.note), None)
            if started is not None:
                start, vel = started
                notes.setdefault(msg.channel, []).append(
                    Note(start / tpb, max(tick - start, 1) / tpb, msg.note, vel))
    return float(bpm or DEFAULT_BPM), notes, programs


def guess_key(notes: list[Note]) -> tuple[int, str]:
    """(tonic, mode) whose scale covers the most note time; ties go to major, then the lower tonic."""
    weight = [0.0] * 12
    for n in notes:
        weight[n.pitch % 12] += n.duration
    best = max(((sum(weight[(tonic + d) % 12] for d in MODES[mode]) + (weight[tonic] * 1e-3), mode == "major", -tonic)
                for tonic in range(12) for mode in MODES))
    return -best[2], "major" if best[1] else "minor"


def midi_to_score(data: bytes, name: str = "the MIDI file") -> Score:
    try:
        mid = mido.MidiFile(file=io.BytesIO(data))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise MidiReadError(f"{name} is not a readable MIDI file: {exc}") from None
    bpm, notes, programs = _notes(mid)
    pitched = {ch: ns for ch, ns in notes.items() if ch != DRUM_CHANNEL and ns}
    if not pitched and not notes.get(DRUM_CHANNEL):
        raise MidiReadError(f"{name} holds no notes to vary")
    ours = set(pitched) <= set(CHANNEL.values())
    order = sorted(pitched, key=lambda ch: (min(n.start for n in pitched[ch]), ch))
    role_of = {ch: ROLES[ch] for ch in pitched} if ours else dict(zip(order, ROLES))
    voices = [Voice(role, programs.get(ch, 0), sorted(pitched[ch], key=lambda n: (n.start, n.pitch)))
              for ch, role in sorted(role_of.items(), key=lambda kv: ROLES.index(kv[1]))]
    tonic, mode = guess_key([n for v in voices for n in v.notes])  # a drums-only file: C major, as good as any
    bpm = min(400.0, max(20.0, bpm))
    kit = notes.get(DRUM_CHANNEL, [])
    bars = bars_in(max((n.start + n.duration for ns in notes.values() for n in ns), default=0.0))
    groove = read_groove([(n.start, n.pitch, n.velocity) for n in kit], bpm, bars)
    drums = groove_hits(groove, bpm, bars) if groove else []
    return Score(bpm=bpm, tonic=tonic, mode=mode, voices=voices, drums=drums, groove=groove)
