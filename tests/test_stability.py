"""Hungarian matching of decoder rows across seeds."""
import numpy as np
import pytest

from analysis.sae.stability import match_features, summarize


def test_match_recovers_a_permutation_with_noise():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 12))
    perm = rng.permutation(40)
    b = a[perm] * rng.uniform(0.5, 2, (40, 1)) + 0.05 * rng.standard_normal((40, 12))
    cols, cos = match_features(a, b)
    assert np.array_equal(perm[cols], np.arange(40))
    assert cos.min() > 0.95
    s = summarize(cos, 0.9)
    assert s["fraction_matched"] == 1.0 and s["median_cosine"] > 0.95


def test_random_decoders_match_poorly():
    rng = np.random.default_rng(1)
    _, cos = match_features(rng.standard_normal((64, 32)), rng.standard_normal((64, 32)))
    assert summarize(cos, 0.7)["fraction_matched"] < 0.1
    with pytest.raises(ValueError):
        match_features(np.ones((3, 4)), np.ones((3, 5)))
