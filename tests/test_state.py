import json
import math

import pytest
import yaml

from synth.state import NUM_SLOTS, Contrast, PromptSlot, StateError, SynthState


def test_defaults_and_slots():
    s = SynthState()
    assert len(s.prompts) == NUM_SLOTS >= 4
    assert (s.prompts[0].text, s.prompts[0].weight) == ("music", 1.0)
    assert all(p.weight == 0.0 and p.text == "" for p in s.prompts[1:])
    assert s.seconds() == 5.0
    assert SynthState(prompts=[PromptSlot("a", 1.0)]).prompts[1:] == [PromptSlot()] * (NUM_SLOTS - 1)


def test_roundtrip_json_and_yaml():
    s = SynthState(
        prompts=[PromptSlot("warm pad", 0.7), PromptSlot("bells", 0.3)],
        features={12: 1.5, 3: -2.0},
        contrasts={"rhythmic-sustained": Contrast("sound rhythmic", "sound sustained", 0.8)},
        seed=42, duration=3.5, bpm=120.0, bars=2.0, steps=50, cfg=5.0,
        steering_mode="guidance", steering_gain=2.5, mix_mode="guidance", name="my-pad",
    )
    d = s.to_dict()
    assert SynthState.from_dict(d) == s
    assert SynthState.from_dict(json.loads(json.dumps(d))) == s  # JSON turns feature ids into strings
    assert SynthState.from_dict(yaml.safe_load(yaml.safe_dump(d))) == s


def test_seconds_from_bars_and_bpm():
    assert SynthState(bpm=120.0, bars=2.0).seconds() == pytest.approx(4.0)
    assert SynthState(bpm=120.0).seconds() == 5.0  # bars missing: duration wins
    with pytest.raises(StateError) as e:
        SynthState(bpm=20.0, bars=64.0)  # 768 s
    assert e.value.field == "bars"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"duration": math.nan}, "duration"),
        ({"duration": 0.0}, "duration"),
        ({"duration": "5"}, "duration"),
        ({"cfg": math.inf}, "cfg"),
        ({"steps": 0}, "steps"),
        ({"steering_mode": "magic"}, "steering_mode"),
        ({"mix_mode": None}, "mix_mode"),
        ({"steering_gain": math.nan}, "steering_gain"),
        ({"features": {"abc": 1.0}}, "features"),
        ({"features": {3: 11.0}}, "features[3]"),
        ({"features": {3: math.nan}}, "features[3]"),
        ({"prompts": [{"text": "a", "weight": -1}]}, "prompts[0].weight"),
        ({"prompts": [{"text": 5, "weight": 1}]}, "prompts[0].text"),
        ({"prompts": [{"text": "a"}] * (NUM_SLOTS + 1)}, "prompts"),
        ({"contrasts": {"x": {"positive": "a", "negative": "", "strength": 1}}}, "contrasts.x"),
        ({"contrasts": {"bad name": {"positive": "a", "negative": "b"}}}, "contrasts"),
        ({"contrasts": {"x": {"positive": "a", "negative": "b", "strength": math.nan}}}, "contrasts.x.strength"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
def test_validation_names_the_field(changes, field):
    with pytest.raises(StateError) as e:
        SynthState.from_dict(changes)
    assert e.value.field == field
    assert "\n" not in str(e.value) and str(e.value).startswith(field)


def test_feature_ids_checked_against_sae_size():
    s = SynthState(features={5: 1.0, "7": 2.0})
    assert s.features == {5: 1.0, 7: 2.0}
    s.validate(d_sae=8)
    with pytest.raises(StateError) as e:
        s.validate(d_sae=6)
    assert e.value.field == "features[7]" and "7" in str(e.value)


def test_replace_copies_and_validates():
    s = SynthState(features={1: 1.0})
    t = s.replace(seed=9)
    t.features[2] = 3.0
    t.prompts[0].weight = 0.5
    assert s.features == {1: 1.0} and s.prompts[0].weight == 1.0 and s.seed == 0
    assert t.seed == 9
    with pytest.raises(StateError):
        s.replace(cfg=-1.0)


def test_active_prompts():
    s = SynthState(prompts=[PromptSlot("a", 1.0), PromptSlot("", 2.0), PromptSlot("b", 0.0), PromptSlot("c", 0.5)])
    assert [p.text for p in s.active_prompts()] == ["a", "c"]
