"""The beat splice end to end on the score backend: the jam plays into an in-memory output in real time,
the state changes mid-phrase, the change is heard from a beat before the phrase ends, and the phrase's
loop file is exactly what the output played."""
import time

import numpy as np
import pytest
import soundfile as sf

from bridge.events import RENDERED, STATE_CHANGED, Events
from bridge.jam.player import LEAD_FACTOR, JamPlayer, splice_lead
from bridge.testing.memory_output import MemoryOutput
from synth.backends import load_backend
from synth.engine import Engine
from synth.jam import FADE
from synth.state import PromptSlot, SynthState

@pytest.fixture(scope="module")
def engine():
    return Engine(load_backend("score", device="cpu"))


def wait(cond, timeout=30.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("quantize", ["beat", "bar"])
def test_a_change_mid_phrase_is_heard_from_a_beat_and_the_loop_is_what_played(engine, tmp_path, quantize):
    sr = engine.family.sample_rate
    out = MemoryOutput(sr)
    events, loops = Events(), []
    events.subscribe(lambda address, args: loops.append(args[0]) if address == RENDERED else None)
    state = SynthState(prompts=[PromptSlot("calm piano ballad", 1.0)], bpm=120.0)
    player = JamPlayer(engine, state, events, tmp_path, open_output_fn=lambda name: out)
    try:
        player.set_bars(2)
        player.set_quantize(quantize)
        player.start()
        wait(lambda: player.seq.current is not None and out.played > player.seq.current.start + sr // 4)
        slot = player.seq.current
        before, changed_at, lead = slot.meta, out.played, splice_lead(list(player._recent_splices or player._recent_renders))
        events.publish(STATE_CHANGED, (state.replace(prompts=[PromptSlot("fast techno drums", 1.0)], cfg=9.0),))
        wait(lambda: loops)                     # phrase 1's loop: written once it has played
        wait(lambda: out.played >= slot.start + 8 * sr // 2)
        assert player.splices >= 1 and player.status()["jam"]["quantize"] == quantize
    finally:
        player.close()
    n = 8 * sr // 2                             # 2 bars at 120 bpm
    loop, rate = sf.read(loops[0], dtype="float32", always_2d=True)
    assert rate == sr and loop.shape[0] == n
    heard = out.recording()[:, slot.start:slot.start + n].T
    # the output fades the phrase's edges once more: everything between them is the loop, sample for sample
    np.testing.assert_allclose(loop[FADE:-FADE], heard[FADE:-FADE], atol=1e-6)
    # held up to the beat, new from it (the notes held across it ring on, so what differs comes at or after it)
    start, at, _ = player.spliced[0]
    beat = sr // 2 * (4 if quantize == "bar" else 1)
    differs = np.flatnonzero(np.abs(loop - before.audio.T).max(axis=1) > 1e-4)
    assert start == slot.start and at % beat == 0 and 0 < at < n and differs[0] >= at
    # the first beat (bar line) that the render lead (slow first renders count) and the ring leave
    assert at - (changed_at - slot.start) <= (lead + 0.2) * sr + beat
    assert np.abs(loop[at + FADE:] - before.audio.T[at + FADE:]).max() > 1e-2   # the new state is heard
    assert np.abs(heard[at:at + sr]).max() > 1e-3                                 # and not silence


def test_a_newer_state_during_a_splice_render_takes_over_the_same_beat(engine, tmp_path, monkeypatch):
    sr = engine.family.sample_rate
    out, events = MemoryOutput(sr), Events()
    state = SynthState(prompts=[PromptSlot("calm piano ballad", 1.0)], bpm=120.0)
    player = JamPlayer(engine, state, events, tmp_path, open_output_fn=lambda name: out)
    calls, real = [], player.renderer.rerender

    def rerender(phrase, new_state, at, cancel=None):
        calls.append((at, new_state.cfg))
        if len(calls) == 1:     # the knob moves on while this splice renders
            events.publish(STATE_CHANGED, (new_state.replace(cfg=7.0),))
        return real(phrase, new_state, at, cancel=cancel)

    monkeypatch.setattr(player.renderer, "rerender", rerender)
    try:
        player.set_bars(2)
        player.start()
        beat = sr // 2

        def mid_beat():   # the beat a splice takes is well beyond its lead: a restart makes it too
            cur, lead = player.seq.current, splice_lead(list(player._recent_splices or player._recent_renders)) * sr
            return (cur is not None and out.played > cur.start + sr // 4 and cur.stop - out.played > 3 * beat
                    and 0.1 * beat < (out.played + lead - cur.start) % beat < 0.5 * beat)

        wait(mid_beat)
        events.publish(STATE_CHANGED, (state.replace(cfg=5.0),))
        wait(lambda: player.splices >= 1)
    finally:
        player.close()
    assert player.splices_cancelled == 1 and player.status()["jam"]["splices_cancelled"] == 1
    assert [cfg for _, cfg in calls[:2]] == [5.0, 7.0] and calls[0][0] == calls[1][0]   # the newest, same beat
    start, at, spliced = player.spliced[0]
    assert spliced.state.cfg == 7.0 and (start + at - FADE, player.state_version) in player.heard


def test_a_change_in_a_phrases_last_beat_is_heard_from_the_next_phrases_start(engine, tmp_path):
    sr = engine.family.sample_rate
    out, events = MemoryOutput(sr), Events()
    state = SynthState(prompts=[PromptSlot("calm piano ballad", 1.0)], bpm=120.0)
    player = JamPlayer(engine, state, events, tmp_path, open_output_fn=lambda name: out)
    try:
        player.set_bars(1)
        player.start()
        wait(lambda: player.seq.phrases >= 2)                 # past the first renders
        # the next phrase is rendered, no beat of this one is left to reach, and no time to render it again,
        # but its start can still be made
        def last_beat():
            lead = splice_lead(list(player._recent_splices or player._recent_renders))
            redo = LEAD_FACTOR * max(player._recent_renders) + lead     # the time a render again needs
            left = (player.seq.current.stop - out.played) / sr
            return player.seq.pending is not None and lead + 0.05 < left < min(0.5 + lead, redo) - 0.03

        wait(last_beat)
        stop = player.seq.current.stop
        events.publish(STATE_CHANGED, (state.replace(cfg=6.0),))
        wait(lambda: player.splices >= 1 and out.played > stop + sr // 2)
    finally:
        player.close()
    start, at, spliced = player.spliced[0]
    assert (start, at) == (stop, 0) and spliced.state.cfg == 6.0     # the whole next phrase, from the new state
    assert (stop, player.state_version) in player.heard
