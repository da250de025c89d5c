"""When the jam renders its next phrase: early enough that a loaded machine's slower renders still make
the bar line (half a phrase, or 1.5 x the slowest recent render), late enough that a slider move is
heard after about one phrase."""
import numpy as np

from bridge.jam.player import FILL_PERIODS, render_due, render_lead
from bridge.jam.sequencer import Slot

SR, PERIOD = 48000, 256
BAR = 2 * SR   # one bar at 120 bpm


def a_bar(repeat=False):
    return Slot(np.zeros((BAR, 2), np.float32), None, start=0, stop=BAR, repeat=repeat)


def first_due(current, recent) -> float:
    """Seconds before the bar line at which the next render becomes due."""
    for played in range(0, BAR, PERIOD):
        if render_due(current, played, SR, PERIOD, recent):
            return (BAR - played) / SR
    return 0.0


def test_a_quick_render_starts_half_a_phrase_before_the_bar_line():
    recent = [0.3] * 8                # the machine's usual render: 0.3 s for a 2 s phrase
    ring = FILL_PERIODS * PERIOD / SR
    # Old rule (1.5 x 0.3 s) left a 0.45 s render 0.45 s: a render slowed by load to 0.6 s repeated.
    assert render_lead(2.0, recent) == 1.0
    assert abs(first_due(a_bar(), recent) - (1.0 + ring)) <= PERIOD / SR


def test_a_recent_slow_render_moves_the_start_earlier_still():
    ring = FILL_PERIODS * PERIOD / SR
    spiked = [0.3] * 6 + [1.2, 0.3]   # one spike among the last renders: the slowest counts
    assert abs(first_due(a_bar(), spiked) - (1.8 + ring)) <= PERIOD / SR
    assert abs(first_due(a_bar(), [0.3] * 8) - (1.0 + ring)) <= PERIOD / SR   # the spike aged out
    assert render_lead(0.2, [0.01]) == 0.25   # never closer than MIN_LEAD


def test_a_repeat_renders_at_once():
    assert render_due(a_bar(repeat=True), 0, SR, PERIOD, [0.3])
    assert not render_due(a_bar(), 0, SR, PERIOD, [0.3])
