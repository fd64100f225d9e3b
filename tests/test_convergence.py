"""Tests of convergence times per frequency (fpjax.spectrum.convergence_times and its figure)."""

import numpy as np
import pytest

from fpjax import spectrum as S
from fpjax.testing import assert_seed_mean


def test_first_and_stays_by_hand():
    # One seed, 6 records at steps 0, 10, ..., 50, three frequencies, threshold 0.1:
    #   freq 0: 0.5 0.05 0.2 0.05 0.05 0.05 -> first 10, stays 30 (crosses, goes back up, stays)
    #   freq 1: 0.05 0.05 ...               -> below at step 0: first 0, stays 0, flagged at_step0
    #   freq 2: 0.5 ... 0.5 0.05            -> first 50, stays 50
    err = np.array(
        [
            [0.5, 0.05, 0.5],
            [0.05, 0.05, 0.5],
            [0.2, 0.05, 0.5],
            [0.05, 0.05, 0.5],
            [0.05, 0.05, 0.5],
            [0.05, 0.05, 0.05],
        ]
    )
    ct = S.convergence_times(err, 0.1, steps=10 * np.arange(6), freqs=[1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ct.first_step, [[10, 0, 50]])
    np.testing.assert_array_equal(ct.stays_step, [[30, 0, 50]])
    np.testing.assert_array_equal(ct.at_step0, [[False, True, False]])
    assert not ct.first_censored.any() and not ct.stays_censored.any()
    assert ct.first.n == 1 and np.isnan(ct.first.std).all()  # one seed: no spread


def test_censoring_nan_and_seed_statistics():
    # Seeds with first-crossing steps 100, 200, 300 at freq 0; freq 1 censored in one seed
    # (counted at the last step 500: a lower bound), NaN (diverged) counts as not below.
    steps = 100 * np.arange(6)
    err = np.ones((3, 6, 2))
    for s, j in enumerate([1, 2, 3]):
        err[s, j:, 0] = 0.01
    err[0, 2:, 1] = 0.01
    err[1, 4:, 1] = 0.01
    err[2, :, 1] = np.nan
    ct = S.convergence_times(err, 0.1, steps=np.stack([steps] * 3))  # per-seed record_steps stack
    np.testing.assert_array_equal(ct.first_step[:, 0], [100, 200, 300])
    assert ct.first_step[2, 1] == np.inf and ct.first_censored[2, 1] and ct.stays_censored[2, 1]
    np.testing.assert_array_equal(ct.first_lower_bound, [False, True])
    # Mean 200, std 100, stderr 100/√3, t_{0.975, 2} = 4.303: CI 200 ± 248.4.
    assert ct.first.mean[0] == pytest.approx(200.0)
    assert ct.first.std[0] == pytest.approx(100.0)
    assert ct.first.ci_high[0] - ct.first.mean[0] == pytest.approx(4.302652729911275 * 100 / np.sqrt(3), rel=1e-9)
    assert ct.first.mean[1] == pytest.approx((200 + 400 + 500) / 3)
    # Seed-aware assertion on the times: mean 200 is within 3 standard errors of 250, not of 600.
    assert_seed_mean(ct.first_step[:, 0], 250.0)
    with pytest.raises(AssertionError, match=r"more than 3 standard errors"):
        assert_seed_mean(ct.first_step[:, 0], 600.0)


def test_first_vs_stays_differ_on_oscillating_errors():
    # Error that dips below at step 1 then oscillates until step 7: first = 1, stays = 7 for all
    # seeds; the two summaries must report these different numbers.
    e = np.array([1.0, 0.05, 0.5, 0.05, 0.5, 0.05, 0.5, 0.05, 0.05, 0.05])
    err = np.tile(e[None, :, None], (4, 1, 1))
    ct = S.convergence_times(err, 0.1)
    assert ct.first.mean.tolist() == [1.0] and ct.stays.mean.tolist() == [7.0]
    np.testing.assert_array_equal(S.crossing_steps(err, 0.1, rule="stays"), np.full((4, 1), 7.0))


def test_input_errors():
    with pytest.raises(ValueError, match=r"errors must have shape \(steps, K\) or \(seeds, steps, K\)"):
        S.convergence_times(np.ones(5), 0.1)
    with pytest.raises(ValueError, match=r"threshold must be > 0"):
        S.convergence_times(np.ones((5, 2)), 0.0)
    with pytest.raises(ValueError, match=r"steps must have shape \(T,\) = \(5,\)"):
        S.convergence_times(np.ones((5, 2)), 0.1, steps=np.arange(4))
    with pytest.raises(ValueError, match=r"steps must be finite and strictly increasing"):
        S.convergence_times(np.ones((3, 2)), 0.1, steps=[0, 2, 1])
    with pytest.raises(ValueError, match=r"freqs must have shape \(K,\) = \(2,\)"):
        S.convergence_times(np.ones((5, 2)), 0.1, freqs=[1.0])
    with pytest.raises(ValueError, match=r"unknown rule"):
        S.crossing_steps(np.ones((5, 2)), 0.1, rule="median")


def test_plot_convergence_times():
    rng = np.random.default_rng(0)
    t = np.arange(20.0)[None, :, None]
    rates = np.array([1.0, 0.5, 0.1]) * rng.uniform(0.8, 1.2, size=(5, 1, 3))
    err = np.exp(-t * rates)
    err[0, :, 2] = 1.0  # one censored seed
    err[1, :, 0] = 0.01  # one converged at step 0
    ct = S.convergence_times(err, 0.1, freqs=[1.0, 2.0, 3.0])
    fig = S.plot_convergence_times(ct, title="t")
    ax = fig.axes[0]
    text = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "censored" in text and "below at step 0" in text and "lower bound" in text
    assert len(S.plot_convergence_times(ct, rule="first").axes) == 1
    with pytest.raises(TypeError, match=r"times must be a ConvergenceTimes"):
        S.plot_convergence_times(err)
