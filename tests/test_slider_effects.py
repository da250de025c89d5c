"""The effect screen's pure parts: effect sizes, names, selectivity, label verdicts, choice, levers."""
import math

import pytest
import torch

from analysis.steering.acoustic_features import FEATURE_NAMES
from analysis.sae.effect_screen import choose, keep_reason, screen_row, slider_label
from analysis.sae.effects import (
    EFFECT_WORDS, effect_of_name, effect_sizes, label_verdict, label_words, named_effect, score_measures, selectivity,
)
from analysis.sae.levers import pooled_preserving_scale, shared_direction, without_shared, word_positions


def clips(**shift):
    """4 clips whose features are 1.0 (+ a small spread), moved by `shift` per feature."""
    return [{f: 1.0 + 0.1 * i + shift.get(f, 0.0) for f in FEATURE_NAMES} for i in range(4)]


def test_every_acoustic_feature_has_two_distinct_words_that_parse_back():
    words = [w for pair in EFFECT_WORDS.values() for w in pair]
    assert set(EFFECT_WORDS) == set(FEATURE_NAMES) and len(set(words)) == len(words)
    for feature, (up, down) in EFFECT_WORDS.items():
        assert effect_of_name(f"{up} (piano)") == (feature, 1)
        assert effect_of_name(down) == (feature, -1)
    assert effect_of_name("piano") is None and effect_of_name("fast-slow") is None


def test_screen_row_names_the_largest_effect_and_measures_selectivity():
    row = screen_row(7, "bright-bell", ["bright bell"], clips(spectral_centroid_mean=1.0, rms_mean=0.05), clips(),
                     None, None, 5.0)
    assert row["target"] == "spectral_centroid_mean" and row["word"] == "brighter" and row["d_target"] > 5
    assert row["selectivity"] > 10 and row["verdict"] == "agrees" and keep_reason(row) is None
    assert slider_label(row) == "brighter (bright-bell)"
    # the same effect under a label that predicts the opposite is dropped, saying why
    dark = screen_row(8, "dark-drone", ["dark drone"], clips(spectral_centroid_mean=1.0), clips(), None, None, 5.0)
    assert dark["verdict"] == "contradicts" and "contradicts its atlas label" in keep_reason(dark)
    # small or unselective effects make no slider
    weak = screen_row(9, "x", [], clips(rms_mean=0.01), clips(), None, None, 5.0)
    assert "largest |d|" in keep_reason(weak)
    spread = screen_row(10, "x", [], clips(**{f: 1.0 for f in FEATURE_NAMES}), clips(), None, None, 5.0)
    assert spread["selectivity"] == pytest.approx(1.0) and "not selective" in keep_reason(spread)


def test_score_measures_and_instrument_verdicts():
    piano = {"bpm": 120, "drums": False, "voices": [{"role": "melody", "program": 0, "notes": 10, "mean_pitch": 72,
                                                       "mean_velocity": 80}]}
    organ = {"bpm": 120, "drums": True, "voices": [{"role": "melody", "program": 19, "notes": 5, "mean_pitch": 60,
                                                      "mean_velocity": 60},
                                                     {"role": "bass", "program": 33, "notes": 5, "mean_pitch": 40,
                                                      "mean_velocity": 60}]}
    m = score_measures(organ, 5.0)
    assert m == {"bpm": 120.0, "melody_pitch": 60.0, "melody_velocity": 60.0, "notes_per_second": 2.0, "drums": 1.0}
    row = screen_row(1, "piano-solo", [], clips(), clips(), [piano] * 4, [organ] * 4, 5.0)
    assert row["score"]["melody_family"] == "piano" and row["score"]["share_pos"] == 1.0
    assert row["verdict"] == "agrees" and "piano" in row["why"]
    # unscored clips (another backend) make no instrument claim
    assert label_verdict("piano", {}, None, 0, 0, scored=False)[0] == "no claim"
    assert label_verdict("loud-wind", {"rms_mean": 0.1}, None, 0, 0)[0] == "not shown"
    assert label_verdict("car-engine", {}, None, 0, 0)[0] == "no claim"
    assert label_words("high-pitched") == ["high-pitched"] and label_words("high-speed-car") == ["high-speed", "car"]
    assert label_words("loud-wind") == ["loud", "wind"]
    # 'high-speed' claims speed, not pitch: a lower melody does not contradict it
    assert label_verdict("high-speed", {"melody_pitch": -1.2}, None, 0, 0)[0] == "not shown"


def test_a_slider_is_named_by_what_its_label_predicted_when_that_shows():
    d = {f: 0.0 for f in FEATURE_NAMES} | {"spectral_flux_std": 5.0, "rms_mean": -1.5, "onset_density": 1.0}
    assert named_effect(d, "rms_mean") == ("rms_mean", -1.5)          # 'gentle' -> softer, though flux moves more
    assert named_effect(d, None) == ("rms_mean", -1.5)                # else the largest headline effect
    assert named_effect(d | {"rms_mean": 0.1, "onset_density": 0.2}, None) == ("spectral_flux_std", 5.0)
    row = screen_row(3, "gentle-song", [], clips(rms_mean=-0.3, spectral_flux_std=3.0), clips(), None, None, 5.0)
    assert row["verdict"] == "agrees" and row["word"] == "softer" and slider_label(row) == "softer (gentle-song)"


def test_effect_sizes_skip_missing_values_and_choose_prefers_distinct_words():
    d = effect_sizes([{"a": 1.0}, {"a": 2.0}, {"a": math.nan}], [{"a": 0.0}, {"a": 1.0}], ["a"])
    assert d["a"] == pytest.approx(1.414, abs=1e-3)
    assert selectivity({"rms_mean": 2.0, "tempo": 1.0, "zero_crossing_rate": 0.0}, "rms_mean") == pytest.approx(4.0)
    rows = [{"id": i, "word": w, "d_target": d, "selectivity": 2.0, "drop": None}
            for i, (w, d) in enumerate([("brighter", 3.0), ("brighter", 2.5), ("louder", 1.0), ("denser", 0.9)])]
    rows.append({"id": 9, "word": "faster", "d_target": 5.0, "selectivity": 2.0, "drop": "contradicts"})
    assert [r["id"] for r in choose(rows, 3)] == [0, 2, 3]
    assert [r["id"] for r in choose(rows, 4)] == [0, 2, 3, 1]


def test_levers_math():
    W = torch.tensor([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [2.0, 0.0, 0.0]])
    u = shared_direction(W)
    assert torch.allclose(u, torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)
    v = without_shared(torch.tensor([3.0, 2.0, 1.0]), u)
    assert torch.allclose(v, torch.tensor([0.0, 2.0, 1.0])) and abs(float(v @ u)) < 1e-6
    mask = torch.tensor([1, 1, 1, 1, 0, 0])
    words = word_positions(mask)
    assert words.tolist() == [0, 1, 1, 0, 0, 0] and pooled_preserving_scale(mask, words) == 2.0
    assert word_positions(torch.tensor([1, 1, 0])).tolist() == [1, 1, 0]
