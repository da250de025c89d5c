"""Jam playback in frames: bar-line starts, exact chaining, repeats when a phrase is late, silent stop,
and the MIDI clock's bar lines correcting a phrase that is a few frames off."""
import numpy as np

from bridge.jam.sequencer import InternalGrid, JamSequencer

SR = 1000  # frames per second: at 120 bpm a bar is 2000 frames


def phrase(value, n=2000):
    return np.full((n, 2), value, np.float32)


def run(seq, frames, block=256):
    return np.concatenate([seq.fill(block) for _ in range(frames // block)])


def test_starts_on_the_next_bar_line_and_chains_phrases_exactly():
    seq = JamSequencer(InternalGrid(SR, 120.0))
    begun = []
    seq.on_begin = lambda slot: begun.append((slot.start, slot.meta, slot.repeat))
    seq.fill(300)                            # idle: silence, nothing armed
    seq.start()
    seq.offer(phrase(1.0), "a")
    out = seq.fill(1700)                     # frames 300..1999: waits for the bar line at 2000
    assert not out.any() and begun == []
    seq.fill(10)
    assert begun == [(2000, "a", False)]
    seq.offer(phrase(2.0), "b")
    out = seq.fill(4000)                     # frames 2010..6009
    assert (out[:1990] == 1.0).all() and (out[1990:3990] == 2.0).all()
    assert begun[1] == (4000, "b", False)
    # nothing new by 6000: "b" repeats seamlessly, counted
    assert begun[2] == (6000, "b", True) and seq.repeats == 1 and (out[3990:] == 2.0).all()


def test_stop_is_silent_at_once_and_start_waits_for_a_bar_line():
    seq = JamSequencer(InternalGrid(SR, 120.0))
    seq.start()
    seq.offer(phrase(1.0), "a")
    seq.fill(2500)
    seq.stop()
    assert not seq.fill(100).any() and not seq.playing
    seq.start()
    seq.offer(phrase(3.0), "c")
    out = seq.fill(2000)                     # frames 2600..4599: the grid's next bar line is 4000
    assert not out[:1400].any() and (out[1400:] == 3.0).all()


class ClockGrid:
    """A DAW's bar lines every 2003 frames (its tempo a hair slower than the phrases think)."""
    bar = 2003
    moving = False

    def anchor_at(self, frame):
        pass                                 # the DAW's bar lines do not move with our phrases

    def next_bar(self, frame):
        return -(-frame // self.bar) * self.bar

    def boundary(self, natural_end):
        return round(natural_end / self.bar) * self.bar


def test_clock_bar_lines_win_over_phrase_length_so_nothing_drifts():
    seq = JamSequencer(ClockGrid())
    starts = []
    seq.on_begin = lambda slot: starts.append(slot.start)
    seq.start()
    seq.offer(phrase(1.0), "a")
    for _ in range(200):                     # 100 bars: a 3-frame error per bar would drift 300 frames
        seq.fill(1000)
        if seq.pending is None:
            seq.offer(phrase(1.0), "x")
    assert all(s % ClockGrid.bar == 0 for s in starts) and len(starts) >= 99


def test_a_splice_takes_back_queued_frames_and_the_speakers_play_the_new_audio():
    from bridge.jam.outputs import RingBuffer

    ring, seq = RingBuffer(4096), JamSequencer(InternalGrid(SR, 120.0))
    seq.start()
    seq.offer(phrase(1.0), "a")
    ring.write(seq.fill(1800))                   # phrase "a" from bar line 0, 1800 frames queued
    left, right = np.empty(300, np.float32), np.empty(300, np.float32)
    ring.read_into(left, right)                  # the speakers have played 300
    slot = seq.current
    # a splice at frame 1000: 700 ahead of the speakers, 800 behind the stream
    back = ring.take_back(seq.frame - 1000, keep=200)
    assert back == 800 and seq.rewind(seq.frame - back) and seq.frame == 1000
    assert seq.replace_from(slot, 1000, phrase(2.0), "b")
    ring.write(seq.fill(1000))
    left, right = np.empty(1700, np.float32), np.empty(1700, np.float32)
    assert ring.read_into(left, right) == (1700, 0)
    assert (left[:700] == 1.0).all() and (left[700:1700] == 2.0).all() and (right == left).all()
    # what the speakers may be copying now is never taken back, and the stream never rewinds past
    # the phrase playing or forward
    ring.write(seq.fill(150))
    assert ring.take_back(1000, keep=200) == 0
    assert not seq.rewind(slot.start - 1) and not seq.rewind(seq.frame + 1)
