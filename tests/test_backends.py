"""The real loaders, exercised on pipelines built from configs (no download)."""
import numpy as np
import pytest
import torch

from synth.backends import GATED_HELP, BackendError, full_components, load_backend, resolve_dtype
from synth.config import SynthConfig
from synth.encoders import TINY_T5_DIM, tiny_t5
from synth.engine import Engine
from synth.state import PromptSlot, SynthState


def test_tiny_backend_shape():
    from diffusers import StableAudioPipeline

    b = load_backend("tiny", device="cpu")
    pipe = b.pipe
    assert isinstance(pipe, StableAudioPipeline)
    assert b.sample_rate == 44100 and pipe.vae.hop_length == 2048 and pipe.vae.config.audio_channels == 2
    assert pipe.transformer.config.sample_size == 1024
    assert pipe.tokenizer.model_max_length == 128 and pipe.text_encoder.config.d_model == TINY_T5_DIM
    # its text encoder is synth.encoders.tiny_t5(), weight for weight
    ref, _ = tiny_t5()
    for (n, p), (_, q) in zip(pipe.text_encoder.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(p, q), n
    # deterministic build
    again = load_backend("tiny", device="cpu").pipe
    for (n, p), (_, q) in zip(pipe.transformer.state_dict().items(), again.transformer.state_dict().items()):
        assert torch.equal(p, q), n


def test_stable_audio_loader_reads_a_saved_pipeline(tmp_path):
    """`from_pretrained` on a local folder: the same code path users take with the real weights."""
    tiny = load_backend("tiny", device="cpu")
    tiny.pipe.save_pretrained(tmp_path)
    loaded = load_backend("stable-audio", model_id=str(tmp_path), device="cpu")
    assert loaded.model_id == str(tmp_path) and loaded.dtype == torch.float32
    assert type(loaded.pipe.transformer) is type(tiny.pipe.transformer)
    state = SynthState(prompts=[PromptSlot("pad", 1.0)], steps=3, duration=1.0)
    a = Engine(tiny, kind="tiny").render(state)
    b = Engine(loaded, kind="stable-audio").render(state)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_missing_weights_explain_how_to_get_them(tmp_path):
    with pytest.raises(BackendError) as e:
        load_backend("stable-audio", model_id=str(tmp_path / "nowhere"), device="cpu")
    assert "nowhere" in str(e.value) and GATED_HELP in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(BackendError, match="model_index.json"):
        load_backend("stable-audio", model_id=str(tmp_path), device="cpu")


def test_random_full_matches_stable_audio_open_sizes():
    c = full_components("meta")  # sized without allocating 5 GB
    count = {k: sum(p.numel() for p in c[k].parameters()) for k in ("transformer", "vae", "text_encoder")}
    assert round(count["transformer"] / 1e6) == 1057
    assert round(count["vae"] / 1e6) == 156
    assert round(count["text_encoder"] / 1e6) == 110
    assert c["transformer"].config.cross_attention_dim == 768 and c["vae"].hop_length == 2048


def test_dtype_and_device_rules():
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    with pytest.raises(ValueError):
        resolve_dtype("float8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="cuda"):
            load_backend("tiny", device="cuda")
    with pytest.raises(ValueError, match="nope"):
        load_backend("nope")


def test_config_file_and_overrides(tmp_path):
    from synth.config import ConfigError, load_config

    default = load_config()
    assert default.backend == "tiny" and default.window == "clip" and default.wav_subtype == "FLOAT"
    assert default.contrast_defs()["rhythmic-sustained"] == ("sound rhythmic", "sound sustained")
    user = tmp_path / "synth.yaml"
    user.write_text("backend: stable-audio\nwindow: full\ndefault_state: {seed: 5, steps: 50}\n")
    cfg = load_config(user)
    assert (cfg.backend, cfg.window, cfg.state().seed, cfg.state().steps) == ("stable-audio", "full", 5, 50)
    assert cfg.resolved_model_id() == "stabilityai/stable-audio-open-1.0"
    assert cfg.override(backend="tiny", window=None).backend == "tiny"
    for text, needle in [("backend: huge\n", "huge"), ("windw: clip\n", "windw"),
                         ("default_state: {seed: -3}\n", "seed"), ("normalize: maybe\n", "normalize"), (": :\n", "YAML")]:
        user.write_text(text)
        with pytest.raises(ConfigError, match=needle):
            load_config(user)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    assert isinstance(SynthConfig(), SynthConfig)
