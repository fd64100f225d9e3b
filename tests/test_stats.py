"""fpjax._src.stats: rank correlation (average ranks for ties) and seed summaries against scipy."""

import numpy as np
import pytest
import scipy.stats

from fpjax._src.stats import rankdata, seed_summary, spearman


def test_rankdata_matches_scipy_with_ties_and_infs():
    a = np.array([3.0, -np.inf, 1.0, 3.0, np.inf, 2.0, 3.0])
    np.testing.assert_array_equal(rankdata(a), scipy.stats.rankdata(a, method="average"))


@pytest.mark.parametrize("seed", range(5))
def test_spearman_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, 12).astype(float)  # many ties
    b = rng.normal(size=12)
    assert spearman(a, b) == pytest.approx(scipy.stats.spearmanr(a, b).statistic, abs=1e-12)


def test_spearman_exact_values_and_undefined_cases():
    assert spearman([1, 2, 3, 4, 5], [1, 2, 3, 5, 4]) == 0.9
    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert np.isnan(spearman([1, 2, 3], [2, 2, 2]))
    assert np.isnan(spearman([1.0], [2.0]))
    with pytest.raises(ValueError, match="a and b"):
        spearman([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="b: contains NaN"):
        spearman([1, 2], [1, np.nan])


def test_seed_summary_against_scipy():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(7, 3))
    s = seed_summary(v, axis=0, confidence=0.9)
    assert s.n == 7
    np.testing.assert_allclose(s.mean, v.mean(0))
    np.testing.assert_allclose(s.std, v.std(0, ddof=1))
    np.testing.assert_allclose(s.stderr, scipy.stats.sem(v, axis=0))
    lo, hi = scipy.stats.t.interval(0.9, 6, loc=v.mean(0), scale=scipy.stats.sem(v, axis=0))
    np.testing.assert_allclose(s.ci_low, lo)
    np.testing.assert_allclose(s.ci_high, hi)
    s1 = seed_summary(v, axis=1)
    assert s1.mean.shape == (7,) and s1.n == 3


def test_seed_summary_bad_input():
    with pytest.raises(ValueError, match="confidence"):
        seed_summary([1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError, match="values"):
        seed_summary(np.zeros((0, 2)))
    one = seed_summary([2.0])
    assert one.mean == 2.0 and np.isnan(one.std) and np.isnan(one.ci_low)
