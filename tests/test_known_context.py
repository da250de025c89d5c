"""The known-context sampler (synth/denoise.py Guide): RePaint-style held frames (jam continuation)
and SDEdit starts (variations), on the tiny Stable Audio pipelines and the score model."""
import math
import functools

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from synth.backends import load_backend
from synth.conditioning import EncodingCache, build_conditioning
from synth.denoise import Guide, denoise, fit_frames, start_index
from synth.init_source import InitError, init_latent
from synth.score.midi import score_to_midi
from synth.score.midi_read import MidiReadError, guess_key, midi_to_score
from synth.score.score import Note, Score, Voice
from synth.state import PromptSlot, SynthState

STEPS = 6
SECONDS = 1.0


@functools.lru_cache(maxsize=None)
def family(backend):
    fam = load_backend(backend, device="cpu")
    return fam, EncodingCache(fam.encoder.encode)


def render(backend, seed=1, guide=None, seconds=SECONDS):
    fam, cache = family(backend)
    cond = build_conditioning(SynthState(prompts=[PromptSlot("warm pad", 1.0)], steps=STEPS), cache.encode)
    return None, None, denoise(fam, [cond], [seed], seconds, STEPS, 2.0, output="latent", guide=guide)


BACKENDS = ["tiny-sa3", "score"]


@pytest.mark.filterwarnings("ignore:Should have")
@pytest.mark.parametrize("backend", BACKENDS)
def test_known_frames_come_out_exactly_and_the_rest_is_new(backend):
    _, _, source = render(backend, seed=1)
    known = source.shape[-1] // 2
    _, _, out = render(backend, seed=2, guide=Guide(source[:, :, :known], known=known))
    _, _, fresh = render(backend, seed=2)
    assert torch.allclose(out[:, :, :known], source[:, :, :known], atol=1e-5)
    # The free frames are generated, not copied, and they differ from an unguided render of that seed.
    assert not torch.allclose(out[:, :, known:], fresh[:, :, known:], atol=1e-3)


@pytest.mark.filterwarnings("ignore:Should have")
@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_guide_changes_nothing(backend):
    _, _, a = render(backend, seed=3)
    _, _, b = render(backend, seed=3, guide=Guide(torch.zeros_like(a), known=0, strength=1.0))
    assert torch.equal(a, b)


@pytest.mark.filterwarnings("ignore:Should have")
@pytest.mark.parametrize("backend", BACKENDS)
def test_variation_distance_grows_with_strength(backend):
    _, _, source = render(backend, seed=1)
    dist = [float((render(backend, seed=5, guide=Guide(source, strength=s))[2] - source).abs().mean())
            for s in (0.4, 0.8, 1.0)]
    assert dist[0] < dist[1] < dist[2], dist


def test_guide_helpers():
    levels = [500.0, 50.0, 5.0, 0.5, 0.05, 0.0]
    assert start_index(levels, float("inf")) == 0 and start_index(levels, 0.5) == 3 and start_index(levels, 0.0) == 4
    x = torch.ones(1, 2, 3)
    assert fit_frames(x, 2, 5).shape == (2, 2, 5) and fit_frames(x, 2, 5)[:, :, 3:].abs().sum() == 0
    with pytest.raises(ValueError, match="strength"):
        Guide(x, strength=0.0)
    with pytest.raises(ValueError, match="known"):
        Guide(x, known=4)


@pytest.mark.parametrize("backend", ["tiny", "tiny-sa3"])
def test_audio_init_encodes_to_the_latent_grid(backend, tmp_path):
    fam, _ = family(backend)
    path = tmp_path / "clip.wav"
    sf.write(path, np.random.default_rng(0).uniform(-0.3, 0.3, 22050).astype(np.float32), 22050)  # mono, 22 kHz
    lat = init_latent(fam, path, SECONDS)
    frames = fam.frames(SECONDS, "clip")
    assert lat.shape[0] == 1 and lat.shape[-1] == frames and torch.isfinite(lat).all()
    mid = tmp_path / "x.mid"
    mid.write_bytes(score_to_midi(_score()))
    with pytest.raises(InitError, match="WAV"):
        init_latent(fam, mid, SECONDS)


def _score():
    melody = [Note(i * 0.5, 0.5, p, 90) for i, p in enumerate([62, 64, 65, 67, 69, 67, 65, 64])]
    bass = [Note(0.0, 2.0, 38, 80), Note(2.0, 2.0, 43, 80)]
    return Score(bpm=96.0, tonic=2, mode="minor", voices=[Voice("melody", 73, melody), Voice("bass", 33, bass)])


def test_midi_round_trip_keeps_roles_programs_notes_and_tempo():
    src = _score()
    back = midi_to_score(score_to_midi(src))
    assert back.bpm == pytest.approx(96.0)
    assert [(v.role, v.program) for v in back.voices] == [("melody", 73), ("bass", 33)]
    assert [(n.start, n.pitch) for n in back.voice("melody").notes] == [(n.start, n.pitch) for n in src.voice("melody").notes]
    assert (back.tonic, back.mode) == (2, "minor")
    assert guess_key([Note(0, 1, p, 90) for p in (60, 64, 67, 65, 62)]) == (0, "major")


def test_foreign_midi_channels_become_voices_and_bad_files_are_refused(tmp_path):
    mid = mido.MidiFile(type=0, ticks_per_beat=96)
    track = mido.MidiTrack()
    for ch, note in ((5, 72), (7, 40)):
        track += [mido.Message("program_change", channel=ch, program=ch, time=0),
                  mido.Message("note_on", channel=ch, note=note, velocity=100, time=0),
                  mido.Message("note_off", channel=ch, note=note, velocity=0, time=96)]
    mid.tracks.append(track)
    path = tmp_path / "daw.mid"
    mid.save(path)
    score = midi_to_score(path.read_bytes())
    assert [(v.role, v.program) for v in score.voices] == [("melody", 5), ("harmony", 7)]
    assert score.bpm == 120.0
    with pytest.raises(MidiReadError, match="not a readable"):
        midi_to_score(b"not midi")


def test_score_init_is_the_exact_score_latent(tmp_path):
    fam, _ = family("score")
    path = tmp_path / "in.mid"
    path.write_bytes(score_to_midi(_score()))
    lat = init_latent(fam, path, 3.0)
    assert lat.shape[-1] == math.ceil(3.0 * 96 / 60 * 4)  # the 16ths that start in 3 s at the file's own 96 bpm
    decoded = fam.scores(lat, 3.0, tempi=[96.0])[0]
    assert [n.pitch for n in decoded.voice("melody").notes][:6] == [62, 64, 65, 67, 69, 67]
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros((100, 2), np.float32), 44100)
    with pytest.raises(InitError, match=r"\.mid"):
        init_latent(fam, wav, 3.0)
    with pytest.raises(InitError, match="does not exist"):
        init_latent(fam, tmp_path / "nope.mid", 3.0)


@pytest.mark.parametrize("backend", ["tiny", "tiny-sa3", "score"])
def test_the_spec_knows_which_families_write_a_score(backend):
    from synth.backends import spec_for

    assert family(backend)[0].writes_score == spec_for(backend).writes_score == (backend == "score")


@functools.lru_cache(maxsize=None)
def jam_engine(backend):
    from synth.engine import Engine

    return Engine(family(backend)[0])


@pytest.mark.filterwarnings("ignore:Should have")
@pytest.mark.parametrize("backend", ["tiny", "tiny-sa3"])
def test_jam_continuity_holds_the_autoencoded_tail_of_the_previous_phrase(backend, monkeypatch):
    from synth.jam import PhraseRenderer

    engine = jam_engine(backend)
    fam = engine.family
    seen = []                                   # (the full latents of each render, the model inputs it got)
    real_render, real_predict = engine.render, fam.predict
    monkeypatch.setattr(fam, "predict", lambda sch, x, t, inputs: seen[-1][1].append(inputs) or real_predict(sch, x, t, inputs))

    def render(state, **kwargs):
        seen.append([None, []])
        out = real_render(state, **kwargs)
        seen[-1][0] = out.latents[0]
        return out

    monkeypatch.setattr(engine, "render", render)
    renderer = PhraseRenderer(engine)
    state = SynthState(prompts=[PromptSlot("warm pad", 1.0)], steps=STEPS)
    first = renderer.render(state, 120.0, 1)
    second = renderer.render(state, 120.0, 1, continuity=1.0, previous=first, index=1)
    ctx = second.context_frames
    assert ctx >= 2
    # The context is the previous phrase's last ctx * hop samples, encoded by the family's autoencoder:
    # it ends on the bar line, where the phrase's own frames (2 s is no whole number of hops) do not.
    tail = torch.from_numpy(first.tail[:, -ctx * fam.hop:])[None]
    encoded = fam.encode_audio(tail)[0, :, -ctx:]
    inside = int(first.seconds / fam.frame_seconds() + 1e-6)
    assert not torch.allclose(encoded, first.latent[:, inside - ctx:inside], atol=1e-3)
    latents, inputs = seen[-1]
    assert torch.allclose(latents[:, :ctx], encoded, atol=1e-5)
    if fam.pipe.transformer.config.get("local_add_cond_dim"):   # Stable Audio 3's DiT: its inpainting input too
        cond = inputs[0]["local_add_cond"]
        assert cond.shape[1] == encoded.shape[0] + 1 and (cond[:, 0, :ctx] == 1).all() and (cond[:, 0, ctx:] == 0).all()
        assert torch.allclose(cond[0, 1:, :ctx], encoded, atol=1e-5) and (cond[:, 1:, ctx:] == 0).all()
    fresh = renderer.render(state, 120.0, 1, continuity=0.0, previous=first, index=1)
    latents, inputs = seen[-1]
    assert fresh.context_frames == 0 and "local_add_cond" not in inputs[0]
    assert not torch.allclose(latents[:, :ctx], encoded, atol=1e-3)
    assert fresh.audio.shape == second.audio.shape == (2, round(2.0 * fam.sample_rate))
