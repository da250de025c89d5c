"""The Link timeline (pure): tempo, bar lines on the quantum, transport, and bad news refused in one
line with the last good tempo kept; and the one-line error when the aalink binding is missing."""
import sys

import pytest

from bridge.jam.link_timeline import LinkSnapshot, LinkTimeline


def snap(tempo=96.0, beat=0.0, at=0.0, peers=1, playing=True, spread=0.0):
    return LinkSnapshot(tempo, beat, at, peers, playing, spread)


def test_bar_lines_fall_on_the_quantum_and_follow_the_tempo():
    tl = LinkTimeline()
    assert tl.next_bar(0.0) is None and tl.tempo is None
    assert tl.update(snap(beat=5.0, at=10.0)) == "start"
    assert tl.tempo == 96.0 and tl.phase(10.0) == pytest.approx(1.0)
    bar, at = tl.next_bar(10.0)                  # beat 8 is the next bar line: 3 beats at 96 bpm later
    assert bar == 2 and at == pytest.approx(10.0 + 3 * 60 / 96)
    assert tl.next_bar(at) == (2, pytest.approx(at))
    tl.update(snap(tempo=110.0, beat=5.0, at=10.0))
    assert tl.tempo == 110.0 and tl.next_bar(10.0)[1] == pytest.approx(10.0 + 3 * 60 / 110)
    assert tl.update(snap(tempo=110.0, beat=6.0, at=10.5, playing=False)) == "stop"
    assert tl.update(snap(tempo=110.0, beat=7.0, at=11.0, playing=False)) is None


def test_an_absurd_tempo_is_refused_once_and_the_last_good_grid_kept():
    tl = LinkTimeline()
    tl.update(snap(beat=0.0, at=0.0))
    for k in range(3):
        tl.update(snap(tempo=999.0, beat=100.0 + k, at=1.0 + k))
    (error,) = tl.take_errors()
    assert "Link session at 999.0 bpm is outside 20..400 bpm; keeping 96.00 bpm" in error
    assert tl.tempo == 96.0 and tl.next_bar(1.0)[1] == pytest.approx(4 * 60 / 96)
    tl.update(snap(tempo=120.0, beat=0.0, at=5.0))
    tl.update(snap(tempo=999.0, beat=0.0, at=6.0))
    assert len(tl.take_errors()) == 1             # a second absurd tempo, after a good one, is named again


def test_losing_every_peer_is_said_once_and_the_jam_keeps_its_tempo():
    tl = LinkTimeline()
    tl.update(snap(peers=0))
    assert not tl.take_errors()                   # alone from the start: nothing lost
    tl.update(snap(peers=2))
    tl.update(snap(peers=0))
    tl.update(snap(peers=0))
    (error,) = tl.take_errors()
    assert "lost every peer; keeping 96.00 bpm" in error and tl.tempo == 96.0


def test_a_missing_binding_is_one_line(monkeypatch):
    from bridge.jam.link_session import LinkSession, LinkUnavailable

    monkeypatch.setitem(sys.modules, "aalink", None)     # import aalink raises ImportError
    with pytest.raises(LinkUnavailable, match=r"needs the aalink package: pip install 'latent-audio-synth\[link\]'"):
        LinkSession(120.0)


def test_a_reading_late_by_a_preemption_does_not_move_the_bar_lines():
    tl = LinkTimeline()
    for k in range(10):
        tl.update(snap(beat=k * 0.16, at=k * 0.1))          # 96 bpm: 1.6 beats a second
    line = tl.next_bar(1.0)[1]
    tl.update(snap(beat=1.6, at=1.03, spread=0.06))         # preempted for 60 ms between the reads
    tl.update(snap(beat=1.76, at=1.12))                     # late by 20 ms, unseen: outvoted
    assert tl.next_bar(1.0)[1] == pytest.approx(line, abs=1e-9) == pytest.approx(2.5)


def test_bar_lines_on_a_caller_clock_that_runs_slower_than_links():
    # JACK's dummy driver on a loaded machine ran 9% slow against the system clock: the line's slope is
    # measured in the caller's seconds, not taken from the tempo.
    tl = LinkTimeline()
    for k in range(50):
        tl.update(snap(beat=k * 0.01 * 1.6, at=k * 0.01 * 0.91))
    assert tl.next_bar(0.5)[1] == pytest.approx(4 / 1.6 * 0.91, rel=1e-6)
