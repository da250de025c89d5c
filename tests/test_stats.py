"""Two-group statistics agree with direct scipy/statsmodels computations."""
import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from analysis.stats import bootstrap_d_ci, cohens_d, compare_groups, holm, json_safe


def test_cohens_d_matches_the_pooled_formula():
    a = np.array([1.0, 2.0, 4.0, 7.0])
    b = np.array([0.5, 0.0, 1.5])
    pooled = math.sqrt((3 * np.var(a, ddof=1) + 2 * np.var(b, ddof=1)) / 5)
    assert cohens_d(a, b) == pytest.approx((a.mean() - b.mean()) / pooled, abs=1e-12)
    assert cohens_d(b, a) == pytest.approx(-cohens_d(a, b), abs=1e-12)
    assert cohens_d([1, 1], [1, 1]) == 0.0
    assert cohens_d([2, 2], [1, 1]) == math.inf
    assert math.isnan(cohens_d([1], [1, 2]))


def test_compare_groups_matches_scipy_and_statsmodels():
    rng = np.random.default_rng(7)
    names = [f"f{i}" for i in range(5)]
    a = {n: rng.normal(i * 0.4, 1 + i * 0.1, 23) for i, n in enumerate(names)}
    b = {n: rng.normal(0, 1, 17) for n in names}
    res = compare_groups(a, b, names, n_resamples=500)
    assert (res["n_a"], res["n_b"]) == (23, 17)
    welch_p = []
    for n in names:
        s = res["features"][n]
        t = sps.ttest_ind(a[n], b[n], equal_var=False)
        u = sps.mannwhitneyu(a[n], b[n], alternative="two-sided")
        assert s["welch_t"] == pytest.approx(t.statistic, abs=1e-9)
        assert s["welch_p"] == pytest.approx(t.pvalue, abs=1e-9)
        assert s["mwu_u"] == pytest.approx(u.statistic, abs=1e-9)
        assert s["mwu_p"] == pytest.approx(u.pvalue, abs=1e-9)
        assert s["mean_a"] == pytest.approx(a[n].mean(), abs=1e-9)
        assert s["mean_b"] == pytest.approx(b[n].mean(), abs=1e-9)
        welch_p.append(t.pvalue)
    expected = multipletests(welch_p, method="holm")[1]
    for n, e in zip(names, expected):
        assert res["features"][n]["holm_p"] == pytest.approx(e, abs=1e-9)


def test_holm_skips_nan_and_is_monotone():
    out = holm([0.01, float("nan"), 0.04, 0.03])
    assert math.isnan(out[1])
    assert out[0] == pytest.approx(0.03) and out[2] == pytest.approx(0.06) and out[3] == pytest.approx(0.06)


def test_bootstrap_ci_brackets_d_and_is_reproducible():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.5, 1, 30), rng.normal(0, 1, 30)
    lo, hi = bootstrap_d_ci(a, b, n_resamples=1000)
    d = cohens_d(a, b)
    assert lo < d < hi and lo > 0.5
    assert (lo, hi) == bootstrap_d_ci(a, b, n_resamples=1000)
    null_lo, null_hi = bootstrap_d_ci(rng.normal(0, 1, 30), rng.normal(0, 1, 30), n_resamples=1000)
    assert null_lo < 0.9 and null_hi > -0.9 and null_hi - null_lo < 1.5
    assert bootstrap_d_ci([1, 1, 1], [1, 1, 1]) == (0.0, 0.0)
    assert all(math.isnan(x) for x in bootstrap_d_ci([1], [1, 2, 3]))
    lo, hi = bootstrap_d_ci([0, 0, 0], [3, 4, 3])       # resamples with both groups constant: d = -inf
    assert lo == -math.inf and hi < 0


def test_json_safe_turns_nonfinite_into_null():
    assert json_safe({"a": [float("nan"), 1.0, float("inf")], "b": np.float64(2.5)}) == {"a": [None, 1.0, None], "b": 2.5}
