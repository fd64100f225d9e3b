"""Tests of the filtering method: fpjax.spectrum.filter_decompose / filter_errors."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax import spectrum as S


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _dense_reference(x, y, delta):
    """Direct float64 numpy evaluation of (G_δ y)_i = Σ_j y_j g(x_i - x_j) / Σ_j g(x_i - x_j)."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    d2 = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    w = np.exp(-d2 / (2 * delta))  # δ is a variance
    y2 = np.asarray(y, np.float64).reshape(len(y), -1)
    return ((w @ y2) / w.sum(1, keepdims=True)).reshape(np.shape(y))


def test_matches_dense_formula_and_blocking(x64):
    # Against the direct O(n²d) formula. The blocked code uses |a|²+|b|²-2a·b on centred points
    # (cancellation error ~ ε·|x|² ≈ 1e-15 in d², relative weight error ~1e-15/δ), so agreement is
    # to ~1e-13 for δ >= 0.05. Block sizes 7 (padding: 53 = 7·7 + 4), 53 (one block) and default agree.
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(53, 2))
    y = rng.normal(size=(53, 3))
    for delta in (0.05, 0.3):
        ref = _dense_reference(x, y, delta)
        outs = [S.filter_decompose(x, y, delta, batch_size=b)[0] for b in (7, 53, None)]
        for out in outs:
            np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-14)
    low, high = S.filter_decompose(x, y, 0.3)
    np.testing.assert_allclose(np.asarray(low) + np.asarray(high), y, atol=1e-15)
    # 1-D x and 1-D y shapes.
    low1, _high1 = S.filter_decompose(x[:, 0], y[:, 0], 0.1, batch_size=5)
    assert low1.shape == (53,)
    np.testing.assert_allclose(low1, _dense_reference(x[:, 0], y[:, 0], 0.1), atol=1e-12)


def test_delta_limits(x64):
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(40, 3))
    y = rng.normal(size=(40, 2))
    d2 = np.sum((x[:, None] - x[None]) ** 2, -1)
    s2 = np.min(d2[~np.eye(40, dtype=bool)])
    # δ → 0: off-diagonal weights are <= exp(-s²/(2δ)); with δ = s²/1600 that is exp(-800), which
    # underflows to 0 in float64 (< 5e-324), so y_low = y exactly (weight 1 on the self term).
    low, high = S.filter_decompose(x, y, s2 / 1600)
    np.testing.assert_array_equal(np.asarray(low), y)
    np.testing.assert_array_equal(np.asarray(high), 0.0)
    # δ → ∞: weights w_j = exp(-D_ij/(2δ)) ∈ [1 - ε, 1], ε = max D/(2δ); then
    # |y_low_i - ȳ| = |Σ_j (w_j - w̄) y_j| / Σ_j w_j <= ε max|y| / (1 - ε). δ = 1e8, max D <= 3: ε <= 1.5e-8.
    delta = 1e8
    eps = d2.max() / (2 * delta)
    low, _ = S.filter_decompose(x, y, delta)
    bound = eps * np.abs(y).max() / (1 - eps) + 1e-14
    assert np.all(np.abs(np.asarray(low) - y.mean(0)) <= bound)


def test_small_delta_float32_is_stable():
    # float32, |x| ~ 3: the computed self distance |x|²+|x|²-2x·x is off by ~ε32·|x|² ≈ 1e-6, so
    # without subtracting the row max every weight exp(-1e-6/(2·1e-12)) would underflow and give 0/0.
    # With it the self weight is exactly 1 and the others (nearest neighbour >> 1e-6 away) are 0.
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(500, 4)) * 3).astype(np.float32)
    y = rng.normal(size=(500, 2)).astype(np.float32)
    low, _high = S.filter_decompose(x, y, 1e-12)
    assert np.all(np.isfinite(np.asarray(low)))
    np.testing.assert_array_equal(np.asarray(low), y)


def test_sequence_of_deltas_equals_separate_calls(x64):
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(30, 2))
    y = rng.normal(size=(30,))
    deltas = [0.01, 0.1, 1.0]
    low, high = S.filter_decompose(x, y, deltas, batch_size=8)
    assert low.shape == (3, 30) and high.shape == (3, 30)
    for i, d in enumerate(deltas):
        np.testing.assert_allclose(low[i], S.filter_decompose(x, y, d)[0], rtol=0, atol=1e-14)


def _errors_reference(x, y, h, delta):
    yl = _dense_reference(x, y, delta)
    hl = _dense_reference(x, h, delta)
    yh, hh = y - yl, h - hl
    return np.linalg.norm(yl - hl) / np.linalg.norm(yl), np.linalg.norm(yh - hh) / np.linalg.norm(yh)


def test_filter_errors(x64):
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(45, 2))
    y = np.stack([np.sin(2 * np.pi * x[:, 0]), np.cos(6 * np.pi * x[:, 1])], axis=1)
    # h = y: both errors are exactly 0 (the filter of y - h = 0 is 0).
    e = S.filter_errors(x, y, y, 0.02)
    assert float(e.e_low) == 0.0 and float(e.e_high) == 0.0
    # Against the direct formula, batched over two leading axes of h (e.g. seeds × steps).
    hs = y + 0.1 * rng.normal(size=(2, 3, 45, 2))
    e = S.filter_errors(x, y, hs, 0.02, batch_size=10)
    assert e.e_low.shape == (2, 3) and e.e_high.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            lo, hi = _errors_reference(x, y, hs[i, j], 0.02)
            np.testing.assert_allclose([e.e_low[i, j], e.e_high[i, j]], [lo, hi], rtol=1e-11)
    # A sequence of deltas puts the delta axis first.
    e2 = S.filter_errors(x, y, hs, [0.02, 0.2])
    assert e2.e_low.shape == (2, 2, 3)
    np.testing.assert_allclose(e2.e_low[0], e.e_low, rtol=1e-12)
    # The low-pass keeps a smooth h closer in low frequencies: h = smoothed y has e_low < e_high.
    smooth = np.asarray(S.filter_decompose(x, y, 0.02)[0])
    e3 = S.filter_errors(x, y, smooth, 0.02)
    assert float(e3.e_low) < float(e3.e_high)
    # 1-D y with h of shape (steps, n).
    e4 = S.filter_errors(x, y[:, 0], hs[0, :, :, 0], 0.02)
    assert e4.e_low.shape == (3,)


@pytest.mark.slow
def test_ten_thousand_points_ten_outputs():
    # 10⁴ points × 10 outputs in float32 on CPU (about a second). A constant column must be
    # preserved exactly up to float32 rounding (the filter is normalised: Σ_j w_ij / Σ_j w_ij = 1,
    # relative error <= ε32·log2(n)-ish ≈ 2e-6; atol 1e-5).
    key1, key2 = jax.random.split(jax.random.key(0))
    n = 10_000
    x = jax.random.normal(key1, (n, 8))
    y = jax.random.normal(key2, (n, 10)).at[:, 0].set(1.0)
    # CPU time of this process, not wall time: other processes on a loaded machine do not count.
    t0 = time.process_time()
    low, _high = S.filter_decompose(x, y, 1.0)
    low.block_until_ready()
    errs = S.filter_errors(x, y, 0.5 * y, [0.5, 2.0])
    jax.block_until_ready(errs)
    elapsed = time.process_time() - t0
    assert low.shape == (n, 10) and bool(jnp.all(jnp.isfinite(low)))
    np.testing.assert_allclose(low[:, 0], 1.0, atol=1e-5)
    # h = y/2: both parts are off by exactly half: e_low = e_high = 1/2 (float32 rounding ~1e-6).
    np.testing.assert_allclose(errs.e_low, [0.5, 0.5], rtol=1e-4)
    np.testing.assert_allclose(errs.e_high, [0.5, 0.5], rtol=1e-4)
    # Measured 4.7 s of CPU (compilation included; 29 s wall on a loaded 2-core machine); 60 s
    # allows a much slower machine and still fails on an O(n²)-memory or unblocked regression.
    assert elapsed < 60, f"filtering 10^4 x 10 took {elapsed:.1f} s of CPU time"


def test_filter_input_errors():
    x = np.random.default_rng(5).uniform(size=(10, 2))
    y = np.ones(10)
    for bad in (0.0, -1.0, np.nan, [0.1, 0.0]):
        with pytest.raises(ValueError, match=r"delta must be > 0"):
            S.filter_decompose(x, y, bad)
    with pytest.raises(ValueError, match=r"delta must be a positive number or a non-empty"):
        S.filter_decompose(x, y, [])
    with pytest.raises(TypeError, match=r"delta must be a positive number"):
        S.filter_decompose(x, y, "1")
    with pytest.raises(ValueError, match=r"x and y must have the same number of points"):
        S.filter_decompose(x, np.ones(9), 1.0)
    with pytest.raises(ValueError, match=r"h must have shape \(\.\.\., 10\)"):
        S.filter_errors(x, y, np.ones(9), 1.0)
    with pytest.raises(ValueError, match=r"h must have shape \(\.\.\., 10, 2\)"):
        S.filter_errors(x, np.ones((10, 2)), np.ones((10, 3)), 1.0)
    bad_y = y.copy()
    bad_y[2] = np.nan
    with pytest.raises(ValueError, match=r"y contains 1 NaN"):
        S.filter_decompose(x, bad_y, 1.0)
    bad_x = x.copy()
    bad_x[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"x contains 1 NaN/Inf"):
        S.filter_errors(bad_x, y, y, 1.0)
    with pytest.raises(ValueError, match=r"h contains 1 NaN"):
        S.filter_errors(x, y, bad_y, 1.0)
    with pytest.raises(ValueError, match=r"x must not be empty"):
        S.filter_decompose(np.ones((0, 2)), np.ones(0), 1.0)
    with pytest.raises(ValueError, match=r"batch_size must be >= 1"):
        S.filter_decompose(x, y, 1.0, batch_size=0)
