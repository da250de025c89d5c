"""The beat splice, pure: which beat a re-render can still make, and the join of the two renders."""
import numpy as np
import pytest

from bridge.jam.player import MIN_SPLICE_LEAD, splice_lead
from bridge.jam.sequencer import InternalGrid, JamSequencer
from synth.jam import FADE
from synth.jam_splice import check_quantize, splice, splice_at

SR = 48000
BEAT = SR // 2   # 120 bpm


def test_the_next_beat_at_or_after_the_earliest_frame():
    assert splice_at(0, 120, 2, SR, "beat") == BEAT                # never the phrase's own start
    assert splice_at(BEAT, 120, 2, SR, "beat") == BEAT             # a beat exactly reachable is taken
    assert splice_at(BEAT + 1, 120, 2, SR, "beat") == 2 * BEAT
    assert splice_at(7 * BEAT - 5, 120, 2, SR, "beat") == 7 * BEAT
    assert splice_at(7 * BEAT + 1, 120, 2, SR, "beat") is None     # the phrase's end: the next phrase takes it


def test_bar_takes_bar_lines_inside_the_phrase_and_phrase_never_splices():
    assert splice_at(1, 120, 2, SR, "bar") == 4 * BEAT
    assert splice_at(4 * BEAT + 1, 120, 2, SR, "bar") is None
    assert splice_at(1, 120, 4, SR, "bar") == 4 * BEAT
    assert splice_at(9 * BEAT, 120, 4, SR, "bar") == 12 * BEAT
    assert splice_at(1, 120, 2, SR, "phrase") is None


def test_beats_are_rounded_once_not_accumulated():
    beat = 60 / 97 * 44100
    assert splice_at(int(6 * beat) - 3, 97, 2, 44100, "beat") == round(6 * beat)


def test_a_bad_quantize_is_refused_with_its_choices():
    with pytest.raises(ValueError, match="beat, bar, phrase"):
        check_quantize("16th")


def test_the_splice_holds_the_old_up_to_the_beat_and_fades_both_sides():
    old, new = np.ones((2, 1000), np.float32), -np.ones((2, 1000), np.float32)
    out = splice(old, new, 500)
    assert out.shape == old.shape and np.all(old == 1)              # a new array
    assert np.all(out[:, :500 - FADE] == 1) and np.all(out[:, 500 + FADE:] == -1)
    assert abs(out[:, 499]).max() < 0.01 and abs(out[:, 500]).max() < 0.01   # no step at the beat
    assert np.all(np.diff(out[0, 500 - FADE:500]) <= 0) and np.all(np.diff(out[0, 500:500 + FADE]) <= 0)
    with pytest.raises(ValueError):
        splice(old, new, 0)


def test_the_splice_lead_is_a_quarter_more_than_a_typical_render():
    assert splice_lead([0.01]) == MIN_SPLICE_LEAD
    assert splice_lead([0.2, 0.2, 0.9]) == pytest.approx(0.25)   # a spike costs a late splice a beat, not a repeat


def test_the_sequencer_swaps_the_rest_of_a_phrase_only_where_the_stream_has_not_been():
    seq = JamSequencer(InternalGrid(SR, 120.0))
    seq.offer(np.ones((8 * BEAT, 2), np.float32), "a")
    seq.start()
    head = seq.fill(BEAT)
    slot = seq.current
    assert not seq.replace_from(slot, BEAT // 2, np.zeros((8 * BEAT, 2)), "late")   # already in the ring
    assert seq.replace_from(slot, 2 * BEAT, np.full((8 * BEAT, 2), 2.0), "b")
    rest = seq.fill(3 * BEAT)
    assert np.all(head == 1) and np.all(rest[:BEAT] == 1) and np.all(rest[BEAT:] == 2) and slot.meta == "b"


def test_quantize_over_the_command_bus_bad_values_are_one_line_and_status_reports_it(tmp_path):
    import types

    from bridge.controller import Controller
    from bridge.events import ERROR, Events
    from bridge.jam.player import JamPlayer
    from synth.presets import PresetStore
    from synth.state import SynthState

    events = Events()
    jam = JamPlayer(types.SimpleNamespace(family=None), SynthState(), events, tmp_path)
    controller = Controller(SynthState(), render=lambda job: None, presets=PresetStore(tmp_path), events=events, jam=jam)
    assert jam.status()["jam"]["quantize"] == "beat"                 # the default
    assert controller.handle("/synth/jam/quantize", ["bar"]) == () and jam.status()["jam"]["quantize"] == "bar"
    for bad in (["16th"], [1.0], []):
        (reply,) = controller.handle("/synth/jam/quantize", bad)
        assert reply[0] == ERROR and reply[1][0] == "/synth/jam/quantize" and "\n" not in reply[1][1]
    assert jam.quantize == "bar"                                      # a refusal loses nothing
