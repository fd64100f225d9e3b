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
    # (counted at the last step 500: a lower bound); a NaN (diverged) curve has an unknown step: NaN,
    # and so are the seed statistics of its frequency.
    steps = 100 * np.arange(6)
    err = np.ones((3, 6, 2))
    for s, j in enumerate([1, 2, 3]):
        err[s, j:, 0] = 0.01
    err[0, 2:, 1] = 0.01
    err[1, 4:, 1] = 0.01
    err[2, :, 1] = 0.5
    ct = S.convergence_times(err, 0.1, steps=np.stack([steps] * 3))  # per-seed record_steps stack
    np.testing.assert_array_equal(ct.first_step[:, 0], [100, 200, 300])
    assert ct.first_step[2, 1] == np.inf and ct.first_censored[2, 1] and ct.stays_censored[2, 1]
    np.testing.assert_array_equal(ct.first_lower_bound, [False, True])
    err[2, :3, 1] = np.nan  # diverged, or a NaN before a later crossing: the step is unknown
    err[2, 3:, 1] = 0.01
    ct_nan = S.convergence_times(err, 0.1, steps=steps)
    assert np.isnan(ct_nan.first_step[2, 1]) and np.isnan(ct_nan.stays_step[2, 1])
    assert np.isnan(ct_nan.first.mean[1]) and ct_nan.first.mean[0] == pytest.approx(200.0)
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


def test_crossing_steps_axis_strict_comparison_and_nan():
    curves = np.array(
        [[0.5, 0.1, 0.05, 0.01], [0.5, 0.2, 0.2, 0.2], [0.5, np.nan, 0.05, 0.01], [0.05, 0.01, np.nan, 0.0]]
    )
    steps = [0, 10, 20, 30]
    # strict: the record equal to the threshold (0.1 at step 10) has not crossed it
    first = S.crossing_steps(curves, 0.1, steps=steps, axis=-1)
    np.testing.assert_array_equal(first[:2], [20.0, np.inf])
    # a NaN record anywhere: the step is unknown (NaN), never a finite step or "never"
    assert np.isnan(first[2:]).all()
    assert np.isnan(S.crossing_steps(curves, 0.1, steps=steps, rule="stays", axis=-1)[2:]).all()
    # axis: the (S, T, K) layout with time on axis 1 gives the same as axis=None
    err = np.random.default_rng(0).uniform(size=(3, 5, 2))
    np.testing.assert_array_equal(S.crossing_steps(err, 0.5, axis=1), S.crossing_steps(err, 0.5))
    np.testing.assert_array_equal(
        S.crossing_steps(err, 0.5, axis=1), S.crossing_steps(np.moveaxis(err, 1, -1), 0.5, axis=-1)
    )
    with pytest.raises(ValueError, match="axis"):
        S.crossing_steps(err, 0.5, axis=3)


def test_spearman_is_exported_with_the_convergence_tools():
    from fpjax._src.stats import spearman

    assert S.spearman is spearman and S.spearman([1, 2, 3, 4, 5], [1, 2, 3, 5, 4]) == 0.9
