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


def test_the_splice_holds_the_old_up_to_the_beat_and_crossfades_into_the_new():
    old, new = np.ones((2, 1000), np.float32), -np.ones((2, 1000), np.float32)
    out = splice(old, new, 500)
    assert out.shape == old.shape and np.all(old == 1)              # a new array
    assert np.all(out[:, :500] == 1) and np.all(out[:, 500 + FADE:] == -1)
    assert np.all(np.diff(out[0, 499:500 + FADE + 1]) < 0)          # no step: a monotone crossfade
    assert np.all(np.abs(np.diff(out[0])) < 2.5 / FADE * np.pi / 2)
    music = np.sin(np.arange(1000) / 7.0)[None].repeat(2, 0).astype(np.float32)
    assert np.allclose(splice(music, music, 500), music, atol=1e-6)   # renders that agree join without a trace
    with pytest.raises(ValueError):
        splice(old, new, 0)


def test_a_note_held_across_the_splice_rings_on_at_its_pitch_until_its_voice_moves():
    from synth.jam import splice_scores
    from synth.score.score import DrumHit, Note, Score, Voice

    old = Score(120.0, voices=[Voice("melody", 0, [Note(0, 1, 60, 90), Note(1, 2, 62, 90)]),
                               Voice("harmony", 48, [Note(1.5, 4, 67, 70)])],
                drums=[DrumHit(0, 0, 100), DrumHit(3, 0, 100)])
    new = Score(120.0, voices=[Voice("melody", 40, [Note(0, 1, 60, 90), Note(1, 2, 63, 90), Note(3, 1, 65, 90)]),
                               Voice("bass", 33, [Note(2, 2, 36, 80)])], drums=[DrumHit(2.5, 1, 90)])
    out = splice_scores(old, new, at_s=1.0)   # beat 2 at 120 bpm
    voices = {v.role: v for v in out.voices}
    assert [(n.start, n.duration, n.pitch) for n in voices["melody"].notes] == [(0, 1, 60), (1, 2, 62), (3, 1, 65)]
    assert voices["melody"].program == 40                            # the new state's instrument from the beat
    assert [(n.start, n.duration, n.pitch) for n in voices["harmony"].notes] == [(1.5, 4, 67)]   # nothing ends it
    assert voices["harmony"].program == 48 and [(n.start, n.pitch) for n in voices["bass"].notes] == [(2, 36)]
    cut = splice_scores(old, replace_notes(new, "harmony", [Note(3.5, 1, 69, 70)]), at_s=1.0)
    assert [(n.start, n.duration) for n in next(v for v in cut.voices if v.role == "harmony").notes] == [(1.5, 2.0), (3.5, 1)]
    assert [(h.start, h.lane) for h in out.drums] == [(0, 0), (2.5, 1)]


def replace_notes(score, role, notes):
    from dataclasses import replace

    from synth.score.score import Voice

    return replace(score, voices=[v for v in score.voices if v.role != role] + [Voice(role, 48, notes)])


@pytest.mark.filterwarnings("ignore:Should have")
def test_a_score_splice_plays_the_notes_it_joined_and_keeps_what_was_heard():
    from synth.config import SynthConfig
    from synth.engine import build_engine
    from synth.jam import PhraseRenderer, edge_fades
    from synth.score.midi_read import midi_to_score
    from synth.state import PromptSlot, SynthState

    engine = build_engine(SynthConfig(backend="score", device="cpu"))
    renderer, sr = PhraseRenderer(engine), engine.family.sample_rate
    state = SynthState(prompts=[PromptSlot("warm electric piano groove", 1.0)], seed=3)
    phrase = renderer.render(state, 120.0, 2)
    at = 3 * sr // 2                                                  # beat 3
    spliced = renderer.rerender(phrase, state.replace(cfg=3.0), at)
    assert np.array_equal(spliced.audio[:, :at], phrase.audio[:, :at])    # what was heard stays
    heard = edge_fades(engine.play(spliced.score, spliced.seconds))
    assert np.allclose(spliced.audio[:, at + FADE:], heard[:, at + FADE:], atol=1e-6)   # the audio is its score
    beats = at / sr / phrase.score.seconds_per_beat
    held = {(v.role, n.start, n.pitch) for v in phrase.score.voices for n in v.notes if n.start < beats < n.start + n.duration}
    kept = {(v.role, n.start, n.pitch) for v in spliced.score.voices for n in v.notes if n.start < beats}
    assert held and held <= kept                                     # held notes keep the pitch that was heard
    assert len(midi_to_score(spliced.midi()).voices) == len(spliced.score.voices)


def test_the_splice_lead_is_a_tenth_more_than_a_typical_render():
    assert splice_lead([0.01]) == MIN_SPLICE_LEAD
    assert splice_lead([0.2, 0.2, 0.9]) == pytest.approx(0.22)   # a spike costs a late splice a beat, not a repeat


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
