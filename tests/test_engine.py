import functools

import numpy as np
import pytest
import torch

from synth.config import SynthConfig
from synth.encoders import TINY_T5_DIM
from synth.engine import Engine, build_engine, tiny_random_sae
from synth.state import Contrast, PromptSlot, StateError, SynthState

STEPS = 8


@functools.lru_cache(maxsize=1)
def engine() -> Engine:
    sae, sae_id = tiny_random_sae(TINY_T5_DIM)
    return build_engine(SynthConfig(backend="tiny", device="cpu"), sae=sae, sae_id=sae_id)


def st(**kw):
    base = dict(prompts=[PromptSlot("warm analog pad", 1.0)], steps=STEPS, duration=1.0)
    base.update(kw)
    return SynthState(**base)


def test_engine_attributes():
    e = engine()
    assert e.sample_rate == 44100 and e.model_id == "tiny-random" and e.device == "cpu"
    assert e.sae.d_sae == 256 and e.sae_id.startswith("random-sae")
    assert e.defaults.steps < 100 and e.defaults.cfg == 7.0


def test_reproducible_and_seed_dependent():
    e = engine()
    a = e.render(st(seed=3)).audio
    b = e.render(st(seed=3)).audio
    c = e.render(st(seed=4)).audio
    assert a.shape == (1, 2, 44100) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_batched_seeds_equal_single_renders():
    e = engine()
    batch = e.render(st(), seeds=[10, 11, 12]).audio
    for i, s in enumerate([10, 11, 12]):
        np.testing.assert_allclose(batch[i], e.render(st(seed=s)).audio[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["embedding", "guidance"])
def test_feature_strength_changes_audio(mode):
    e = engine()
    outs = [e.render(st(features={12: s}, steering_mode=mode, seed=1)).audio[0] for s in (0.0, 2.0, 6.0)]
    assert not np.allclose(outs[0], outs[1]) and not np.allclose(outs[1], outs[2])
    # more strength, more change
    assert np.abs(outs[2] - outs[0]).mean() > np.abs(outs[1] - outs[0]).mean()


def test_contrast_alone_and_external_delta():
    e = engine()
    base = e.render(st(seed=2)).audio[0]
    con = e.render(st(seed=2, contrasts={"c": Contrast("loud drums", "soft strings", 4.0)})).audio[0]
    assert not np.allclose(base, con)
    # the external vector equal to the contrast direction renders the same audio
    pooled = e.cache.encode(["loud drums", "soft strings"]).pooled
    ext = e.render(st(seed=2), delta=4.0 * (pooled[0] - pooled[1])).audio[0]
    np.testing.assert_allclose(ext, con, rtol=0, atol=1e-6)


def test_render_states_keeps_order_and_groups():
    e = engine()
    states = [st(seed=1), st(seed=2, mix_mode="guidance", prompts=[PromptSlot("a", 1), PromptSlot("b", 1)]),
              st(seed=3, features={5: 3.0})]
    out = e.render_states(states)
    assert out.shape == (3, 2, 44100)
    for i, s in enumerate(states):
        np.testing.assert_allclose(out[i], e.render(s).audio[0], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="length"):
        e.render_states([st(duration=1.0), st(duration=2.0)])


def test_lengths_and_windows():
    e = engine()
    assert e.render(st(duration=3.0, steps=2)).audio.shape == (1, 2, 3 * 44100)
    assert e.render(st(bpm=120.0, bars=1.0, steps=2)).audio.shape == (1, 2, 2 * 44100)
    full = e.render(st(steps=2), window="full").audio
    assert full.shape == (1, 2, 44100) and np.isfinite(full).all()


def test_tiny_engine_has_a_random_sae_by_default():
    e = build_engine(SynthConfig(backend="tiny", device="cpu"))
    assert e.sae is not None and e.sae.d_in == TINY_T5_DIM and "untrained" in e.sae_id


def test_bad_states_rejected():
    e = engine()
    with pytest.raises(StateError, match="300"):
        e.render(st(features={300: 1.0}))


def test_threads_restored_and_cache_used():
    e = engine()
    before = torch.get_num_threads()
    misses = e.cache.misses
    e.render(st(seed=9, steps=2))
    e.render(st(seed=9, steps=2, features={1: 0.5}))  # a slider move: nothing new to encode
    assert torch.get_num_threads() == before
    assert e.cache.misses == misses


def test_write_clip_through_engine(tmp_path):
    e = engine()
    s = st(seed=5, steps=2)
    paths = e.render_to_files(s, tmp_path, seeds=[5, 6])
    assert [p.name.rsplit("_", 1)[1] for p in paths] == ["5.wav", "6.wav"]
    import json
    side = json.loads(paths[1].with_suffix(".json").read_text())
    assert side["state"]["seed"] == 6 and side["model_id"] == "tiny-random" and side["render_seconds"] > 0


@pytest.mark.parametrize("backend", ["tiny", "tiny-sa3"])
def test_bench_runs(capsys, backend):
    """bench/render.py end to end on the tiny backends (tiny settings: it checks it runs, not speed)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "render.py"
    spec = importlib.util.spec_from_file_location("bench_render", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--backend", backend, "--steps", "2", "--repeats", "1", "--seconds", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "ours, trigger -> WAV (window=clip)" in out and "plain __call__ (float32)" in out and "plain / ours" in out
    assert "peak RSS" in out and "waveform correlation 1.0000" in out  # float32 both: the same samples
    assert ("full / clip" in out) == (backend == "tiny")
