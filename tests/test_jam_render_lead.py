"""When the jam renders its next phrase: early enough that a loaded machine's slower renders still make
the bar line (half a phrase, or 1.5 x the slowest recent render), late enough that a slider move is
heard after about one phrase."""
import types

import numpy as np

from bridge.jam.player import FILL_PERIODS, JamPlayer
from bridge.jam.sequencer import InternalGrid, JamSequencer, Slot

SR, PERIOD = 48000, 256
BAR = 2 * SR   # one bar at 120 bpm


def player_playing_a_bar():
    player = JamPlayer(types.SimpleNamespace(family=None), state_fn=None, out_dir=None,
                       announce=None, error=None)
    player.output = types.SimpleNamespace(sample_rate=SR, period=PERIOD, played=0)
    player.seq = JamSequencer(InternalGrid(SR, 120.0))
    player.seq.current = Slot(np.zeros((BAR, 2), np.float32), None, start=0, stop=BAR)
    player._active = True
    return player


def first_due(player) -> float:
    """Seconds before the bar line at which the next render becomes due."""
    for played in range(0, BAR, PERIOD):
        player.output.played = played
        if player._render_due():
            return (BAR - played) / SR
    return 0.0


def test_a_quick_render_starts_half_a_phrase_before_the_bar_line():
    player = player_playing_a_bar()
    for _ in range(8):
        player._note_render(0.3)      # the machine's usual render: 0.3 s for a 2 s phrase
    ring = FILL_PERIODS * PERIOD / SR
    # Old rule (1.5 x 0.3 s) left a 0.45 s render 0.45 s: a render slowed by load to 0.6 s repeated.
    assert abs(first_due(player) - (1.0 + ring)) <= PERIOD / SR


def test_a_recent_slow_render_moves_the_start_earlier_still():
    player = player_playing_a_bar()
    for s in [0.3] * 6 + [1.2, 0.3]:
        player._note_render(s)        # one spike among the last renders: the slowest counts
    ring = FILL_PERIODS * PERIOD / SR
    assert abs(first_due(player) - (1.8 + ring)) <= PERIOD / SR
    for _ in range(8):
        player._note_render(0.3)      # the spike has aged out of the recent renders
    assert abs(first_due(player) - (1.0 + ring)) <= PERIOD / SR


def test_nothing_renders_while_a_phrase_waits_and_a_repeat_renders_at_once():
    player = player_playing_a_bar()
    player.output.played = BAR - PERIOD
    player.seq.pending = Slot(np.zeros((BAR, 2), np.float32), None)
    assert not player._render_due()
    player.seq.pending = None
    player.output.played = 0
    player.seq.current.repeat = True
    assert player._render_due()
