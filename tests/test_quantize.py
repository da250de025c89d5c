"""`quantize: int8`: dynamic int8 Linear layers on the CPU, close to float32, and refused elsewhere."""
import numpy as np
import pytest
import torch

from synth.config import ConfigError, SynthConfig
from synth.engine import build_engine
from synth.state import PromptSlot, SynthState


def test_int8_renders_close_to_float32(cpu_bf16):
    state = SynthState(prompts=[PromptSlot("warm analog pad", 1.0)], duration=1.0)
    plain = build_engine(SynthConfig(backend="tiny-sa3", device="cpu")).render(state)
    engine = build_engine(SynthConfig(backend="tiny-sa3", device="cpu", quantize="int8"))
    assert engine.family.describe()["quantized"] == "int8"
    quantized = engine.render(state)
    assert np.isfinite(quantized).all() and not np.array_equal(plain, quantized)
    assert np.corrcoef(plain.ravel(), quantized.ravel())[0, 1] > 0.9


def test_int8_is_refused_where_it_cannot_run(cpu_bf16):
    with pytest.raises(ConfigError, match="quantize"):
        SynthConfig(quantize="int4").validate()
    family = build_engine(SynthConfig(backend="tiny-sa3", device="cpu")).family
    family.dtype = torch.bfloat16  # as a bfloat16 model would be
    with pytest.raises(ValueError, match="float32"):
        family.quantize("int8")
