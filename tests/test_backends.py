"""The real loaders, exercised on pipelines built from configs (no download)."""
import numpy as np
import pytest
import torch

from synth.backends import load_backend
from synth.config import SynthConfig
from synth.encoders import TINY_T5_DIM, tiny_t5, tiny_t5gemma
from synth.engine import Engine
from synth.families import stable_audio, stable_audio_3
from synth.families.loading import BF16_ENV, BackendError, bf16_units, cpu_flags, cpu_has_fast_bf16, resolve_dtype
from synth.state import PromptSlot, SynthState


def test_tiny_backend_shape():
    from diffusers import StableAudioPipeline

    b = load_backend("tiny", device="cpu")
    pipe = b.pipe
    assert isinstance(pipe, StableAudioPipeline) and b.family == "stable-audio" and b.encoder_id == "tiny-t5"
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
    a = Engine(tiny).render(state).audio
    b = Engine(loaded).render(state).audio
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_stable_audio_3_loader_reads_a_saved_pipeline(tmp_path, cpu_bf16):
    """`StableAudio3Pipeline.from_pretrained` on a folder, as users with the real weights do. Like with
    like: an explicit float32 load equals tiny-sa3 (float32) whatever the CPU's bfloat16 units."""
    tiny = load_backend("tiny-sa3", device="cpu")
    tiny.pipe.save_pretrained(tmp_path)
    loaded = load_backend("stable-audio-3", model_id=str(tmp_path), device="cpu", dtype="float32")
    assert loaded.family == "stable-audio-3" and loaded.defaults.steps == 8 and loaded.defaults.cfg == 1.0
    assert loaded.dtype == torch.float32
    state = SynthState(prompts=[PromptSlot("pad", 1.0)], duration=1.0)
    np.testing.assert_allclose(Engine(tiny).render(state).audio, Engine(loaded).render(state).audio, rtol=0, atol=1e-6)


@pytest.mark.parametrize("backend,help_text", [("stable-audio", stable_audio.GATED_HELP),
                                               ("stable-audio-3", stable_audio_3.GATED_HELP)])
def test_missing_weights_explain_how_to_get_them(tmp_path, backend, help_text):
    with pytest.raises(BackendError) as e:
        load_backend(backend, model_id=str(tmp_path / "nowhere"), device="cpu")
    assert "nowhere" in str(e.value) and help_text in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(BackendError, match="model_index.json"):
        load_backend(backend, model_id=str(tmp_path), device="cpu")


def test_tiny_sa3_backend_shape_and_determinism():
    from diffusers import StableAudio3Pipeline

    b = load_backend("tiny-sa3", device="cpu")
    assert isinstance(b.pipe, StableAudio3Pipeline) and b.encoder_id == "tiny-t5gemma"
    assert b.hop == 4096 and b.sample_rate == 44100 and b.max_seconds == 120.0
    ref, _ = tiny_t5gemma()
    for (n, p), (_, q) in zip(b.pipe.text_encoder.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(p, q), n
    again = load_backend("tiny-sa3", device="cpu").pipe
    for (n, p), (_, q) in zip(b.pipe.transformer.state_dict().items(), again.transformer.state_dict().items()):
        assert torch.equal(p, q), n


def test_random_full_sa3_sizes():
    """medium: the DiT's class defaults + SAME-L; small: the documented estimate + SAME-S."""
    def millions(module):
        return sum(p.numel() for p in module.parameters()) / 1e6

    medium = stable_audio_3.full_components("medium", "meta")
    small = stable_audio_3.full_components("small", "meta")
    assert medium["transformer"].config.embed_dim == 1536 and medium["vae"].downsampling_ratio == 4096
    assert 1300 < millions(medium["transformer"]) < 1500 and 800 < millions(medium["vae"]) < 900
    assert 400 < millions(small["transformer"]) < 470 and 100 < millions(small["vae"]) < 115
    assert "estimate" in stable_audio_3.SMALL_ESTIMATE


def test_random_full_matches_stable_audio_open_sizes():
    c = stable_audio.full_components("meta")  # sized without allocating 5 GB
    count = {k: sum(p.numel() for p in c[k].parameters()) for k in ("transformer", "vae", "text_encoder")}
    assert round(count["transformer"] / 1e6) == 1057
    assert round(count["vae"] / 1e6) == 156
    assert round(count["text_encoder"] / 1e6) == 110
    assert c["transformer"].config.cross_attention_dim == 768 and c["vae"].hop_length == 2048


def test_stable_audio_3_auto_dtype_follows_the_cpu_rule(tmp_path, cpu_bf16):
    """`--dtype auto` on a CPU: bfloat16 exactly where the CPU has bfloat16 units, float32 elsewhere."""
    load_backend("tiny-sa3", device="cpu").pipe.save_pretrained(tmp_path)
    loaded = load_backend("stable-audio-3", model_id=str(tmp_path), device="cpu")
    assert loaded.dtype == (torch.bfloat16 if cpu_bf16 else torch.float32)
    state = SynthState(prompts=[PromptSlot("pad", 1.0)], duration=1.0)
    assert np.isfinite(Engine(loaded).render(state).audio).all()


def test_bf16_rule_by_kind_of_cpu():
    assert bf16_units({"avx2", "amx_bf16", "amx_tile", "avx512_bf16"})  # Sapphire Rapids and later
    assert bf16_units({"avx2", "avx512f", "avx512_bf16"})  # e.g. AMD Zen 4 EPYC: no AMX
    assert not bf16_units({"avx2", "avx512f"})  # emulated bfloat16: float32 is faster
    assert not bf16_units(set())


@pytest.mark.parametrize("value,expected", [("1", True), ("0", False), (" 1 ", True)])
def test_bf16_switch_overrules_the_detection(monkeypatch, value, expected):
    monkeypatch.setenv(BF16_ENV, value)
    assert cpu_has_fast_bf16() is expected


def test_bf16_switch_refuses_a_bad_value(monkeypatch):
    monkeypatch.setenv(BF16_ENV, "yes")
    with pytest.raises(ValueError, match="LATENT_SYNTH_CPU_BF16 must be 0 or 1"):
        cpu_has_fast_bf16()


def test_bf16_detection_reads_this_cpu(monkeypatch):
    monkeypatch.delenv(BF16_ENV, raising=False)
    assert cpu_has_fast_bf16() == bf16_units(cpu_flags())


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
    assert default.backend == "score" and default.window == "clip" and default.wav_subtype == "FLOAT"
    assert default.contrast_defs()["rhythmic-sustained"] == ("sound rhythmic", "sound sustained")
    user = tmp_path / "synth.yaml"
    user.write_text("backend: stable-audio\nwindow: full\ndefault_state: {seed: 5, steps: 50}\n")
    cfg = load_config(user)
    assert (cfg.backend, cfg.window, cfg.state().seed, cfg.state().steps) == ("stable-audio", "full", 5, 50)
    assert cfg.state().cfg is None  # unset: the backend's default
    assert cfg.override(backend="tiny", window=None).backend == "tiny"
    for text, needle in [("backend: huge\n", "huge"), ("windw: clip\n", "windw"),
                         ("default_state: {seed: -3}\n", "seed"), ("normalize: maybe\n", "normalize"), (": :\n", "YAML"),
                         ("size: large\n", "size"), ("preview_steps: -1\n", "preview_steps")]:
        user.write_text(text)
        with pytest.raises(ConfigError, match=needle):
            load_config(user)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    assert isinstance(SynthConfig(), SynthConfig)
