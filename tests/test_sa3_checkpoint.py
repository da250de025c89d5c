"""Stability's stable-audio-tools checkpoints (model.safetensors + model_config.json): our key mapping,
the cached one-time conversion, and renders that match tiny-sa3 sample for sample (distilled and base)."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synth.backends import load_backend
from synth.engine import Engine
from synth.families import sa3_convert, sa3_keys, stable_audio_3
from synth.families.loading import BackendError
from synth.state import PromptSlot, SynthState
from test_render_cli import run_cli

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_sa3_checkpoint", REPO / "bench" / "make_sa3_checkpoint.py")
make = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make)


@pytest.fixture(autouse=True)
def model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(sa3_convert.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def tiny():
    return load_backend("tiny-sa3", device="cpu")


def test_differential_qkv_rows_are_reordered_and_back():
    rows = torch.arange(10.0).repeat_interleave(3).reshape(10, 3)  # 5 chunks of 2 rows: q k v q2 k2
    ours = sa3_keys.reorder_qkv(rows, to_diffusers=True)
    assert ours[:, 0].tolist() == [0, 1, 6, 7, 2, 3, 8, 9, 4, 5]  # q q2 k k2 v
    assert torch.equal(sa3_keys.reorder_qkv(ours, to_diffusers=False), rows)


def test_the_mapping_round_trips_every_tiny_sa3_weight(tiny):
    parts = {k: getattr(tiny.pipe, k).state_dict() for k in ("vae", "transformer", "duration_embedder", "text_encoder")}
    published = sa3_keys.from_diffusers(parts)
    assert "model.model.transformer.layers.1.ff.ff.0.proj.weight" in published
    assert "pretransform.model.bottleneck.scaling_factor" in published
    assert "pretransform.model.decoder.layers.3.transformers.0.pre_norm.gamma" in published
    assert "conditioner.conditioners.prompt.padding_embedding" in published
    back = sa3_keys.to_diffusers(published)
    for name, sd in parts.items():
        expected = {k: v for k, v in sd.items() if k != "freqs"}  # the duration embedder computes its own
        assert set(back[name]) == set(expected), name
        for key, value in expected.items():
            assert torch.equal(back[name][key], value), key
    qkv = "transformer_blocks.0.self_attn.to_qkv.weight"  # differential: stored reordered
    assert not torch.equal(published["model.model.transformer.layers.0.self_attn.to_qkv.weight"], parts["transformer"][qkv])


def state(**kw):
    return SynthState(prompts=[PromptSlot("warm analog pad", 1.0)], seed=7, duration=2.0, **kw)


def test_a_distilled_checkpoint_renders_like_tiny_sa3_and_converts_once(tmp_path, tiny, model_cache, monkeypatch):
    folder = make.write_checkpoint(tmp_path / "ckpt")
    config = json.loads((folder / "model_config.json").read_text())
    assert config["model"]["diffusion_objective"] == "rf_denoiser"
    loaded = load_backend("stable-audio-3", model_id=str(folder), device="cpu", dtype="float32")
    assert loaded.defaults.steps == 8 and loaded.defaults.cfg == 1.0 and loaded.encoder_id == "tiny-t5gemma"
    assert loaded.max_seconds == 120.0
    np.testing.assert_allclose(Engine(loaded).render(state()).audio, Engine(tiny).render(state()).audio, rtol=0, atol=1e-5)
    [converted] = list(model_cache.iterdir())
    assert (converted / "model_index.json").is_file() and not list(model_cache.glob(".*"))  # no temp left
    monkeypatch.setattr(sa3_convert, "build_pipeline", lambda *a: pytest.fail("converted twice"))
    again = load_backend("stable-audio-3", model_id=str(folder), device="cpu", dtype="float32")
    assert again.encoder_id == "tiny-t5gemma"


def test_a_base_checkpoint_renders_like_tiny_sa3_with_euler(tmp_path, tiny):
    folder = make.write_checkpoint(tmp_path / "base", objective="rectified_flow")
    loaded = load_backend("stable-audio-3", model_id=str(folder), device="cpu", dtype="float32")
    assert loaded.defaults.steps == 100 and loaded.defaults.cfg == 7.0
    assert not loaded.pipe.scheduler.config.stochastic_sampling
    reference = load_backend("tiny-sa3", device="cpu")
    reference.pipe.scheduler = stable_audio_3.scheduler(stochastic=False)
    s = state(steps=6, cfg=3.0)
    ours = Engine(loaded).render(s).audio
    np.testing.assert_allclose(ours, Engine(reference).render(s).audio, rtol=0, atol=1e-5)
    assert np.abs(ours - Engine(tiny).render(s).audio).max() > 1e-3  # Euler differs from re-noising


def test_the_render_command_on_a_checkpoint_prints_the_wav_last(tmp_path, capsys):
    import soundfile as sf

    folder = make.write_checkpoint(tmp_path / "ckpt")
    common = ["--dtype", "float32", "--prompt", "warm analog pad", "--seed", "7", "--duration", "4"]
    code, out, err = run_cli(["render", "--backend", "stable-audio-3", "--model-id", str(folder), *common,
                              "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    ours = out.strip().splitlines()[-1]
    code, out, err = run_cli(["render", "--backend", "tiny-sa3", *common, "--out", str(tmp_path / "b")], capsys)
    theirs = out.strip().splitlines()[-1]
    assert ours.endswith(".wav") and theirs.endswith(".wav")
    np.testing.assert_allclose(sf.read(ours)[0], sf.read(theirs)[0], rtol=0, atol=1e-5)


def one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_bad_checkpoints_get_one_line_saying_what_to_do(tmp_path, monkeypatch):
    folder = make.write_checkpoint(tmp_path / "ckpt")
    half = tmp_path / "half"
    half.mkdir()
    (half / "model_config.json").write_text((folder / "model_config.json").read_text())
    with pytest.raises(BackendError) as e:
        load_backend("stable-audio-3", model_id=str(half), device="cpu")
    assert "model.safetensors missing" in one_line(e) and stable_audio_3.GATED_HELP in one_line(e)

    config = json.loads((folder / "model_config.json").read_text())
    cases = {"model_type": ({**config, "model_type": "autoencoder"}, "diffusion_cond"),
             "objective": ({**config, "model": {**config["model"], "diffusion_objective": "v"}}, "'v'"),
             "same": ({**config, "model": {**config["model"], "pretransform": {}}}, "SAME autoencoder"),
             "shape": (json.loads(json.dumps(config).replace('"channels": 16', '"channels": 24')), "size mismatch")}
    for name, (bad, needle) in cases.items():
        (folder / "model_config.json").write_text(json.dumps(bad))
        with pytest.raises(BackendError) as e:
            load_backend("stable-audio-3", model_id=str(folder), device="cpu")
        assert needle in one_line(e) and "not a Stable Audio 3 checkpoint" in one_line(e), name
    (folder / "model_config.json").write_text("{not json")
    with pytest.raises(BackendError, match="cannot read"):
        load_backend("stable-audio-3", model_id=str(folder), device="cpu")
    (folder / "model_config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(BackendError) as e:
        load_backend("stable-audio-3", model_id=str(folder), device="cpu")
    assert "safetensors" in one_line(e)


def test_a_checkpoint_without_its_text_encoder_needs_t5gemma_and_says_how(tmp_path, monkeypatch):
    from safetensors.torch import load_file, save_file

    folder = make.write_checkpoint(tmp_path / "ckpt")
    sd = {k: v for k, v in load_file(str(folder / "model.safetensors")).items() if not k.startswith(sa3_keys.TEXT)}
    save_file(sd, str(folder / "model.safetensors"))
    config = json.loads((folder / "model_config.json").read_text())
    config["model"]["conditioning"]["configs"][0]["config"].pop("model_name")  # the published default
    (folder / "model_config.json").write_text(json.dumps(config))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackendError) as e:
        load_backend("stable-audio-3", model_id=str(folder), device="cpu")
    assert "google/t5gemma-b-b-ul2" in one_line(e) and "licence" in one_line(e)


def test_an_unreachable_hub_id_gets_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(BackendError) as e:
        load_backend("stable-audio-3", model_id="stabilityai/stable-audio-3-medium-base", device="cpu")
    assert "stable-audio-3-medium-base" in one_line(e) and "huggingface-cli login" in one_line(e)


def test_components_configs_are_read_from_model_config_and_shapes(tiny):
    parts = sa3_keys.to_diffusers(sa3_keys.from_diffusers(
        {k: getattr(tiny.pipe, k).state_dict() for k in ("vae", "transformer", "duration_embedder")}))
    configs = {k: dict(getattr(tiny.pipe, k).config) for k in ("vae", "transformer", "duration_embedder")}
    model_config = sa3_keys.model_config_for(configs, "rf_denoiser", "tiny-t5gemma", 128)
    read = sa3_keys.component_configs(model_config, parts)
    for name, cfg in read.items():
        for key, value in cfg.items():
            want = configs[name][key]
            assert (list(value) if isinstance(value, (list, tuple)) else value) == \
                (list(want) if isinstance(want, (list, tuple)) else want), (name, key)


def test_the_t5gemma_encoder_loads_from_a_checkpoint_folder(tmp_path, tiny, monkeypatch):
    """`analysis encode --encoder t5gemma --model-id CHECKPOINT` encodes with the checkpoint's own T5Gemma."""
    from analysis.sae.encode import encoder_factory
    from synth.encoders import t5gemma_from
    from synth.families.sa3_convert import encoder_source

    monkeypatch.setenv("LATENT_SYNTH_MODEL_CACHE", str(tmp_path / "cache"))
    folder = make.write_checkpoint(tmp_path / "ckpt")
    model, tokenizer = t5gemma_from(encoder_source(str(folder)), torch.float32)
    encoder = encoder_factory("t5gemma", str(folder), "cpu")[1]()
    assert torch.equal(encoder.model.state_dict()[next(iter(model.state_dict()))], next(iter(model.state_dict().values())))
    for (name, p), (_, q) in zip(model.state_dict().items(), tiny.pipe.text_encoder.state_dict().items()):
        assert torch.equal(p, q), name
