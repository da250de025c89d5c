import math

import pytest

from synth.addresses import apply_numeric, is_numeric_address
from synth.state import StateError, SynthState


def test_seed_accepts_whole_floats_and_refuses_fractions():
    s = SynthState()
    assert apply_numeric(s, "/synth/seed", 7.0).seed == 7
    assert isinstance(apply_numeric(s, "/synth/seed", 7.0).seed, int)
    with pytest.raises(StateError, match="seed"):
        apply_numeric(s, "/synth/seed", 7.5)
    with pytest.raises(StateError):
        apply_numeric(s, "/synth/seed", -1)


def test_input_state_is_never_mutated():
    s = SynthState()
    before = s.to_dict()
    apply_numeric(s, "/synth/mix/0", 0.25)
    apply_numeric(s, "/synth/feature/3", 2.0)
    apply_numeric(s, "/synth/cfg", 3.0)
    assert s.to_dict() == before


@pytest.mark.parametrize("address,value,field,expected", [
    ("/synth/duration", 12.5, "duration", 12.5),
    ("/synth/steps", 20.0, "steps", 20),
    ("/synth/cfg", 3, "cfg", 3.0),
    ("/synth/steering/gain", -2.0, "steering_gain", -2.0),
    ("/synth/bpm", 120, "bpm", 120.0),
    ("/synth/bars", 4, "bars", 4.0),
])
def test_scalar_addresses(address, value, field, expected):
    out = apply_numeric(SynthState(), address, value)
    assert getattr(out, field) == expected
    out.replace()  # still a valid state under full validation


def test_mix_feature_and_contrast():
    s = apply_numeric(SynthState(), "/synth/mix/3", 0.5)
    assert s.prompts[3].weight == 0.5
    s = apply_numeric(s, "/synth/feature/12", -4.0, d_sae=16)
    assert s.features == {12: -4.0}
    assert apply_numeric(s, "/synth/feature/12", 0.0).features == {}  # 0 removes it
    s = apply_numeric(s, "/synth/contrast/bright", 2.0, {"bright": ("bright", "dark")})
    assert s.contrasts["bright"].positive == "bright" and s.contrasts["bright"].strength == 2.0
    # a contrast already in the state (from a preset) works without a config definition
    assert apply_numeric(s, "/synth/contrast/bright", 1.0).contrasts["bright"].strength == 1.0


@pytest.mark.parametrize("address,value", [
    ("/synth/mix/8", 0.5),          # slot out of range
    ("/synth/mix/x", 0.5),
    ("/synth/mix/0", 1.5),          # weight over 1
    ("/synth/feature/99", 1.0),     # unknown feature for d_sae=16
    ("/synth/feature/1", 11.0),
    ("/synth/contrast/nope", 1.0),
    ("/synth/cfg", math.nan),
    ("/synth/cfg", math.inf),
    ("/synth/duration", 0.0),
    ("/synth/steps", 0),
    ("/synth/nothing", 1.0),
    ("/synth/duration", 400.0),     # beyond every backend's limit (380 s, Stable Audio 3 medium)
])
def test_refusals(address, value):
    s = apply_numeric(SynthState(), "/synth/bpm", 120.0)
    with pytest.raises(StateError):
        apply_numeric(s, address, value, {"bright": ("a", "b")}, d_sae=16)


def test_bpm_zero_clears():
    s = apply_numeric(apply_numeric(SynthState(), "/synth/bpm", 120.0), "/synth/bars", 2.0)
    assert s.seconds() == pytest.approx(4.0)
    s = apply_numeric(s, "/synth/bpm", 0.0)
    assert s.bpm is None and s.seconds() == s.duration


def test_is_numeric_address():
    assert is_numeric_address("/synth/feature/3")
    assert is_numeric_address("/synth/seed")
    assert not is_numeric_address("/synth/prompt")
    assert not is_numeric_address("/synth/render")
