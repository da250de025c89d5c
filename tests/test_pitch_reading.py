"""Reading notes from the pitch and step curves (layout 4): exact curves give the notes back, and the
written moves decide the line where the written pitch is vague."""
import numpy as np

from synth.score.pitch_reading import read_pitches, scale_steps, scale_tones


def test_scale_steps_count_scale_tones_not_semitones():
    # C major: C D E G C' = 0, +1, +1, +2 (E->G skips F), +3 (G->C')
    assert scale_steps([60, 62, 64, 67, 72], 0, "major") == [0, 1, 1, 2, 3]
    assert scale_steps([61], 0, "major") == [0]                 # out of key: snapped, first move is 0
    assert list(scale_tones(9, "minor")[:3]) == [0, 2, 4]        # A minor: C, D, E at the bottom


def test_exact_curves_read_back_exactly():
    rng = np.random.default_rng(0)
    tones = scale_tones(7, "minor")
    line = [int(t) for t in rng.choice(tones[30:50], size=40)]  # leaps and steps alike
    got = read_pitches(np.array(line, float), np.array(scale_steps(line, 7, "minor"), float), 7, "minor")
    assert got == line


def test_moves_decide_where_the_pitch_is_vague():
    line = [60, 62, 64, 65, 67, 65, 64, 62, 60, 59, 60]         # a stepwise C major line
    steps = np.array(scale_steps(line, 0, "major"), float)
    rng = np.random.default_rng(1)
    vague = np.array(line, float) + rng.normal(0, 2.5, len(line))
    snapped = [min(scale_tones(0, "major"), key=lambda t: abs(t - p)) for p in vague]
    assert snapped != line                                      # the pitch curve alone would leap
    assert read_pitches(vague, steps, 0, "major") == line
    # written leaps stay leaps: the reading follows the model, it does not smooth
    leaps = [60, 67, 60, 72, 64]
    assert read_pitches(np.array(leaps, float), np.array(scale_steps(leaps, 0, "major"), float), 0, "major") == leaps


def test_nothing_to_read():
    assert read_pitches(np.array([]), np.array([]), 0, "major") == []
