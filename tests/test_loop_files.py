"""Jam loop files: bar-exact names, written by the one clip writer, never overwriting anything."""
import json

import numpy as np
import soundfile as sf

from synth.jam import Phrase
from synth.loop_files import write_loop
from synth.state import PromptSlot, SynthState

SR = 44100


def phrase(bpm=96.0, bars=1):
    n = round(bars * 240 / bpm * SR)
    audio = np.stack([np.linspace(-0.5, 0.5, n), np.linspace(0.5, -0.5, n)]).astype(np.float32)
    state = SynthState(prompts=[PromptSlot("warm pad", 1.0)], bpm=bpm, bars=float(bars), seed=3)
    return Phrase(audio, None, SR, bpm, bars, state, context_frames=2, render_seconds=0.25)


def test_a_loop_is_its_wav_sidecar_and_midi_under_one_stem(tmp_path):
    wav = write_loop(tmp_path, phrase(), 1, midi=b"MThd-stand-in", meta={"phrase": 1})
    assert wav.name == "warm-pad_96bpm_1bars_1.wav"
    data, rate = sf.read(wav, always_2d=True)
    assert rate == SR and data.shape == (round(240 / 96 * SR), 2)
    side = json.loads(wav.with_suffix(".json").read_text())
    assert side["file"] == wav.name and side["kind"] == "jam" and side["bars"] == 1 and side["phrase"] == 1
    assert wav.with_suffix(".mid").read_bytes() == b"MThd-stand-in"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temp file left


def test_an_existing_name_is_never_overwritten_the_number_moves_on(tmp_path):
    first = write_loop(tmp_path, phrase(), 1)
    before = first.read_bytes()
    (tmp_path / "warm-pad_96bpm_1bars_2.mid").write_bytes(b"someone else's")   # only a .mid took number 2
    later = write_loop(tmp_path, phrase(), 1, midi=b"ours")
    assert later.name == "warm-pad_96bpm_1bars_3.wav"
    assert first.read_bytes() == before and (tmp_path / "warm-pad_96bpm_1bars_2.mid").read_bytes() == b"someone else's"
    assert later.with_suffix(".mid").read_bytes() == b"ours"
