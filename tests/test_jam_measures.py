"""The jam bench's measures on made-up data with known answers."""
import numpy as np
import pytest

from analysis.jam.measures import (boundary_flux, boundary_offsets, flux_across, melody_around, notes_kept,
                                   step_share)
from synth.jam import edge_fades
from synth.score.score import Note, Score, Voice


def test_boundary_offsets_find_the_faded_edges():
    rng = np.random.default_rng(0)
    phrases = [edge_fades(rng.uniform(-0.5, 0.5, (2, 4000)).astype(np.float32)) for _ in range(5)]
    audio = np.concatenate([np.zeros((2, 1000), np.float32)] + phrases, axis=1).T
    bars = [1000 + 4000 * k + 30 for k in range(1, 5)]      # the clock's bar lines, 30 frames late
    offsets = boundary_offsets(audio, bars, search=400)
    assert len(offsets) == 4 and all(abs(o + 30) <= 24 for o in offsets), offsets



def test_boundary_offsets_are_not_fooled_by_the_musics_own_silence():
    # The 10-minute bench's "off by up to a beat" boundaries: a rest of digital silence inside the
    # search window is quieter than the faded edge; the edge, with sound on both sides, is the boundary.
    rng = np.random.default_rng(1)
    phrases = []
    for k in range(4):
        x = rng.uniform(-0.5, 0.5, (2, 4000)).astype(np.float32)
        x[:, 3000:3400] = 0.0 if k % 2 else x[:, 3000:3400]     # a rest ending before the next onset
        x[:, 400:700] = 0.0 if k == 2 else x[:, 400:700]        # a rest early in a phrase
        phrases.append(edge_fades(x))
    audio = np.concatenate(phrases, axis=1).T
    bars = [4000 * k for k in range(1, 4)]
    offsets = boundary_offsets(audio, bars, search=1500)
    assert offsets == [pytest.approx(0, abs=24)] * 3, offsets
    # An edge that really is late is still found where it is.
    assert all(abs(o - 40) <= 24 for o in boundary_offsets(audio, [b - 40 for b in bars], search=1500))

def test_boundary_flux_is_high_at_a_hard_cut_and_low_across_a_continuation():
    sr = 8000
    t = np.arange(sr) / sr
    tone = lambda f: np.stack([np.sin(2 * np.pi * f * t)] * 2)          # noqa: E731
    at_same, inside_same = boundary_flux([tone(220) for _ in range(4)], win=2048)  # one tone, continued
    at_jump, inside_jump = boundary_flux([tone(f) for f in (220, 1760, 330, 2500)], win=2048)  # a new tone each
    assert at_same < 0.05 and inside_same < 0.05 and inside_jump < 0.05
    assert at_jump > 0.5


def test_step_share_and_notes_kept():
    assert step_share([[60, 62], [64, 65], [72], [], [70]]) == (pytest.approx(0.5), 2)
    src = Score(120.0, voices=[Voice("melody", 0, [Note(0, 1, 60, 90), Note(1, 1, 62, 90)])])
    var = Score(120.0, voices=[Voice("melody", 0, [Note(0.05, 1, 60, 90), Note(1, 1, 64, 90)])])
    assert notes_kept(src, var) == 0.5 and notes_kept(src, src) == 1.0


def test_flux_across_a_change_of_tone_is_high_and_across_the_same_tone_low():
    sr = 44100
    t = np.arange(sr) / sr
    y = np.concatenate([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1320 * t)])   # a new tone at sr
    got = flux_across(y, [sr, sr // 2, len(y) - 100])
    assert len(got) == 2                       # the frame too near the end is left out
    cut, same = got
    assert cut > 0.5 and cut > 10 * same
    y[sr:] *= 1e-3                             # the new tone a reverb tail's level: not judged
    assert len(flux_across(y, [sr, sr // 2])) == 1


def test_melody_around_a_time():
    notes = [(0.0, 60), (0.5, 62), (1.0, 64), (1.5, 67)]
    assert melody_around(notes, 1.0) == (62, 64)       # a note at the time belongs after it
    assert melody_around(list(reversed(notes)), 1.2) == (64, 67)
    assert melody_around(notes, 0.0) is None and melody_around(notes, 2.0) is None
