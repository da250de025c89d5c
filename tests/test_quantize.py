"""`quantize: int8`: dynamic int8 Linear layers on the CPU, close to float32, and refused elsewhere."""
import numpy as np
import pytest
import torch

from synth.config import ConfigError, SynthConfig
from synth.engine import build_engine
from synth.state import PromptSlot, SynthState


def test_int8_renders_close_to_float32(cpu_bf16):
    state = SynthState(prompts=[PromptSlot("warm analog pad", 1.0)], duration=1.0)
    plain = build_engine(SynthConfig(backend="tiny-sa3", device="cpu")).render(state).audio
    engine = build_engine(SynthConfig(backend="tiny-sa3", device="cpu", quantize="int8"))
    assert engine.family.describe()["quantized"] == "int8"
    quantized = engine.render(state).audio
    assert np.isfinite(quantized).all() and not np.array_equal(plain, quantized)
    assert np.corrcoef(plain.ravel(), quantized.ravel())[0, 1] > 0.9


def test_int8_is_refused_where_it_cannot_run(cpu_bf16):
    with pytest.raises(ConfigError, match="quantize"):
        SynthConfig(quantize="int4").validate()
    family = build_engine(SynthConfig(backend="tiny-sa3", device="cpu")).family
    family.dtype = torch.bfloat16  # as a bfloat16 model would be
    with pytest.raises(ValueError, match="float32"):
        family.quantize("int8")


def test_int8_makes_auto_mean_float32_on_any_cpu(tmp_path, cpu_bf16):
    """`--quantize int8` with `--dtype auto` loads float32 even where bfloat16 would be the automatic choice
    (the two do not combine); an explicit bfloat16 with int8 is refused in one line."""
    from synth.backends import load_backend

    load_backend("tiny-sa3", device="cpu").pipe.save_pretrained(tmp_path)
    engine = build_engine(SynthConfig(backend="stable-audio-3", model_id=str(tmp_path), device="cpu", quantize="int8"))
    assert engine.family.dtype == torch.float32 and engine.family.describe()["quantized"] == "int8"
    with pytest.raises(ValueError, match="float32"):
        build_engine(SynthConfig(backend="stable-audio-3", model_id=str(tmp_path), device="cpu", dtype="bfloat16",
                                 quantize="int8"))
