"""Property-based tests (hypothesis) of the invariants the mathematics guarantees.

* transforms: Parseval, linearity and the shift theorem of ``grid_fft`` and of the NUDFT.

Everything runs in float64 (``@pytest.mark.x64``) so the tolerances are set by float64 rounding:
an FFT/NUDFT of N points carries a relative error ~ ε·log₂N·‖f‖ (ε = 2.2e-16), a sum of N products
~ ε·N·Σ|terms|; we use 1e-9 relative to the norms involved (a margin of > 10³ over those bounds at
the sizes drawn here). A PSD kernel's smallest eigenvalue may be negative only by rounding,
|λ_min| ≤ c·n·ε·λ_max; we allow 1e-10·λ_max. Examples are few (settings below), derandomized, no
deadline: the suite is reproducible and cheap on a loaded CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fpjax.spectrum as fspec

SETTINGS = settings(max_examples=6, deadline=None, derandomize=True, database=None)
RTOL = 1e-9
pytestmark = pytest.mark.x64

seeds = st.integers(min_value=0, max_value=2 ** 31 - 1)


def _rng(seed):
    return np.random.default_rng(seed)


def _close(a, b, scale):
    """|a − b| ≤ RTOL · scale elementwise (scale: the size of the quantities being compared)."""
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=RTOL * max(float(scale), 1e-300))


# --------------------------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------------------------

grid = st.tuples(st.integers(4, 64), st.floats(-3.0, 3.0), st.floats(0.01, 2.0), seeds)


@SETTINGS
@given(grid)
def test_grid_fft_parseval(g):
    n, a, delta, seed = g
    x = a + delta * np.arange(n)
    f = _rng(seed).normal(size=n) + 1j * _rng(seed + 1).normal(size=n)
    spec = fspec.grid_fft(f, x)
    # ∫|f̂|² dξ = ∫|f|² dx on the grid: (1/(NΔ)) Σ_k |f̂_k|² = Δ Σ_j |f_j|²
    lhs = np.sum(np.abs(np.asarray(spec.coeffs)) ** 2) / (n * delta)
    rhs = delta * np.sum(np.abs(f) ** 2)
    _close(lhs, rhs, rhs)


@SETTINGS
@given(grid, st.floats(-5, 5), st.floats(-5, 5))
def test_grid_fft_linearity(g, alpha, beta):
    n, a, delta, seed = g
    x = a + delta * np.arange(n)
    f, h = _rng(seed).normal(size=(2, n))
    lhs = fspec.grid_fft(alpha * f + beta * h, x).coeffs
    rhs = alpha * fspec.grid_fft(f, x).coeffs + beta * fspec.grid_fft(h, x).coeffs
    _close(lhs, rhs, (abs(alpha) + abs(beta)) * delta * n * np.max(np.abs([f, h])))


@SETTINGS
@given(grid, st.integers(-10, 10))
def test_grid_fft_shift_theorem(g, m):
    n, a, delta, seed = g
    x = a + delta * np.arange(n)
    f = _rng(seed).normal(size=n)
    spec = fspec.grid_fft(f, x)
    shifted = fspec.grid_fft(np.roll(f, m), x)   # f(x − mΔ) on the periodic grid
    expected = np.asarray(spec.coeffs) * np.exp(-2j * np.pi * np.asarray(spec.freqs) * m * delta)
    _close(shifted.coeffs, expected, delta * np.sum(np.abs(f)))


points = st.tuples(st.integers(2, 40), st.integers(1, 8), seeds)


@SETTINGS
@given(points, st.floats(-4.0, 4.0))
def test_nudft_shift_theorem(p, s):
    n, k, seed = p
    r = _rng(seed)
    x, y = r.uniform(-2, 2, size=(n, 1)), r.normal(size=n)
    freqs = r.uniform(-5, 5, size=k)
    c = fspec.nudft(x, y, freqs, direction=[1.0])
    c_s = fspec.nudft(x + s, y, freqs, direction=[1.0])
    _close(c_s, np.asarray(c) * np.exp(-2j * np.pi * freqs * s), np.mean(np.abs(y)))


@SETTINGS
@given(points, st.floats(-5, 5), st.floats(-5, 5))
def test_nudft_linearity(p, alpha, beta):
    n, k, seed = p
    r = _rng(seed)
    x, y1, y2 = r.uniform(-2, 2, size=(n, 2)), r.normal(size=n), r.normal(size=n)
    freqs = r.uniform(-5, 5, size=k)
    d = [0.6, 0.8]
    lhs = fspec.nudft(x, alpha * y1 + beta * y2, freqs, direction=d)
    rhs = alpha * np.asarray(fspec.nudft(x, y1, freqs, direction=d)) + beta * np.asarray(
        fspec.nudft(x, y2, freqs, direction=d))
    _close(lhs, rhs, (abs(alpha) + abs(beta)) * np.max(np.abs([y1, y2])))


@SETTINGS
@given(grid)
def test_nudft_parseval_on_a_uniform_grid_and_agrees_with_grid_fft(g):
    n, a, delta, seed = g
    x = a + delta * np.arange(n)
    y = _rng(seed).normal(size=n)
    k = np.fft.fftshift(np.fft.fftfreq(n, 1.0 / n))
    c = np.asarray(fspec.nudft(x[:, None], y, k / (n * delta), direction=[1.0]))
    # (1/n)-normalised DFT over all N frequencies: Σ_k |ŷ_k|² = (1/n) Σ_j |y_j|²
    _close(np.sum(np.abs(c) ** 2), np.sum(y ** 2) / n, np.sum(y ** 2) / n)
    # ... and it is grid_fft's coefficient divided by L = NΔ
    _close(c, np.asarray(fspec.grid_fft(y, x).coeffs) / (n * delta), np.max(np.abs(y)))
