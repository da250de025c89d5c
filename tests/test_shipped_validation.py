"""Every shipped preset whose sliders are named by an effect carries the validate-preset result that
backs each name (n >= 100, on the backend it names), checked without rendering anything."""
import pytest

from analysis.sae.effects import effect_of_name
from synth.backends import NAMES as BACKENDS
from synth.presets import SHIPPED_PRESETS, PresetStore

STORE = PresetStore(SHIPPED_PRESETS)
NAMED = [n for n in STORE.names() if any(effect_of_name(s.name) for s in STORE.load(n).sliders)]


def test_the_score_sliders_preset_is_named_by_effect():
    assert "score-sliders" in NAMED


@pytest.mark.parametrize("name", NAMED)
def test_validation_block_backs_every_slider_name(name):
    preset = STORE.load(name)
    v = preset.validation
    assert v, f"{name}: no validation block (run `latent-synth analysis validate-preset {name} --n 100`)"
    assert v["n"] >= 100 and v["backend"] in BACKENDS and v["alpha"] == 0.05
    assert set(v["sliders"]) == {s.name for s in preset.sliders}, "validation measured other sliders"
    for s in preset.sliders:
        got = v["sliders"][s.name]
        assert (got["address"], got["min"], got["max"]) == (s.address, s.min, s.max), f"{s.name} changed since"
        claim = effect_of_name(s.name)
        assert claim is not None, f"{name}: slider {s.name!r} is not named by an effect"
        feature, sign = claim
        assert feature in got["features"], f"{s.name}: {feature} not significant at n={v['n']}"
        assert got["features"][feature] * sign > 0 and got["holm_p"][feature] < v["alpha"], s.name


def test_validate_preset_records_the_effect_a_name_claims_only_when_measured():
    from analysis.steering.validate_preset import named_effect_entry

    results = {"features": {"spectral_centroid_mean": {"cohens_d": 2.0}, "rms_mean": {"cohens_d": 0.5},
                            "onset_density": {"cohens_d": -0.5}, "tempo": {"cohens_d": None}}}
    effect = named_effect_entry("brighter (piano)", {"spectral_centroid_mean": 2.0}, results)["effect"]
    assert effect == {"feature": "spectral_centroid_mean", "d": 2.0, "selectivity": 4.0}
    assert named_effect_entry("brighter (piano)", {"spectral_centroid_mean": -2.0}, results) == {}   # contradicted
    assert named_effect_entry("brighter (piano)", {"rms_mean": 0.5}, results) == {}                   # not significant
    assert named_effect_entry("organ-pipe 372", {"spectral_centroid_mean": 2.0}, results) == {}       # no claim
