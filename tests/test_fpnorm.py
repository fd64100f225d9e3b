"""Tests of fpjax.theory.fpnorm. Theory-vs-theory checks run in float64."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax.theory import fpnorm, lfp

# float64 (the x64 fixture of fpjax.testing.plugin) and one OpenBLAS thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("x64", "single_thread_blas")


def g4(k):
    """γ²(k) = |k|^{-4} in 1-D: ‖γ‖²_{ℓ²} = Σ_{k≠0} k^{-4} = 2ζ(4) = π⁴/45."""
    return 1.0 / jnp.abs(k[:, 0]) ** 4


GAMMA_L2 = math.sqrt(math.pi**4 / 45)

# Target f(x) = 0.5 + Σ_k a_k cos(2πkx + φ_k): ĥ(±k) = a_k e^{±iφ_k}/2, so
# ‖f‖²_γ = Σ_{k≠0} k⁴ |ĥ(k)|² = Σ_k k⁴ a_k² / 2.
A_K = {1: 1.0, 2: 0.5, 3: 0.25, 5: 0.1}
PHI_K = {1: 0.3, 2: -1.0, 3: 2.0, 5: 0.7}


def f_fn(x):
    x = x[:, 0]
    return 0.5 + sum(a * jnp.cos(2 * jnp.pi * k * x + PHI_K[k]) for k, a in A_K.items())


F_GAMMA = math.sqrt(sum(k**4 * a**2 / 2 for k, a in A_K.items()))


def f_coeffs(k_max):
    c = np.zeros(2 * k_max + 1, complex)
    c[k_max] = 0.5
    for k, a in A_K.items():
        c[k_max + k] = a * np.exp(1j * PHI_K[k]) / 2
        c[k_max - k] = a * np.exp(-1j * PHI_K[k]) / 2
    return jnp.asarray(c)


def test_fp_norm_of_known_series():
    c = f_coeffs(8)
    assert float(fpnorm.fp_norm(c, g4)) == pytest.approx(F_GAMMA, rel=1e-12)
    # Grid-array γ² and batching.
    g = lfp.gamma2_on_grid(g4, 1, k_max=8)
    np.testing.assert_allclose(fpnorm.fp_norm(jnp.stack([c, 2 * c]), g), [F_GAMMA, 2 * F_GAMMA], rtol=1e-12)
    # Constants are invisible; energy where γ² = 0 has infinite norm.
    assert float(fpnorm.fp_norm(jnp.zeros(17).at[8].set(3.0), g)) == 0.0
    assert np.isinf(float(fpnorm.fp_norm(c, g.at[8 + 5].set(0).at[8 - 5].set(0))))
    # 2-D: γ²(k) = |k|^{-2}, h = cos(2π(x + 2y)) → ĥ(±(1,2)) = 1/2, ‖h‖² = 2·5·(1/4).
    c2 = jnp.zeros((7, 7), complex).at[4, 5].set(0.5).at[2, 1].set(0.5)
    assert float(fpnorm.fp_norm(c2, lambda k: 1.0 / jnp.sum(k**2, -1), d=2)) == pytest.approx(math.sqrt(2.5))


def test_gamma_l2_norm_truncation():
    # Σ_{0<|k|≤K} k^{-4} = π⁴/45 − 2Σ_{k>K} k^{-4}, and 2/(3(K+1)³) ≤ 2Σ_{k>K}k^{-4} ≤ 2/(3K³).
    K = 50
    tr = float(fpnorm.gamma_l2_norm(g4, 1, k_max=K)) ** 2
    tail = math.pi**4 / 45 - tr
    assert 2 / (3 * (K + 1) ** 3) <= tail <= 2 / (3 * K**3)


def test_min_fp_interpolant_interpolates_and_is_minimal():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, 12)
    Y = np.asarray(f_fn(jnp.asarray(X)[:, None]))
    c = fpnorm.min_fp_interpolant(X, Y, g4, 64)
    np.testing.assert_allclose(fpnorm.evaluate_series(c, X[:, None]), Y, atol=1e-9)
    np.testing.assert_allclose(np.asarray(c), np.asarray(lfp.steady_state(X, Y, g4, k_max=64)), atol=1e-12)
    # f itself interpolates, so the minimiser's norm is at most ‖f‖_γ (and it is a different function).
    assert float(fpnorm.fp_norm(c, g4)) <= F_GAMMA
    assert float(jnp.max(jnp.abs(c - f_coeffs(64)))) > 1e-3


def test_apriori_bound_terms():
    out = fpnorm.apriori_bound(2.0, 3.0, 0.5, 16, 0.1)
    assert float(out.prefactor) == pytest.approx(2.0 + 2 * 3.0 * 0.5)
    assert float(out.complexity_term) == pytest.approx(0.5)
    assert float(out.confidence_term) == pytest.approx(4 * math.sqrt(2 * math.log(40) / 16))
    assert float(out.bound) == pytest.approx(5.0 * (0.5 + 4 * math.sqrt(2 * math.log(40) / 16)))
    vec = fpnorm.apriori_bound(2.0, 3.0, 0.5, jnp.array([16, 64]), 0.1).bound
    assert float(vec[0]) == pytest.approx(2 * float(vec[1]))  # ∝ 1/√n
    with pytest.raises(ValueError, match="delta must be in"):
        fpnorm.apriori_bound(1.0, 1.0, 1.0, 10, 1.5)
    with pytest.raises(ValueError, match="n must be >= 1"):
        fpnorm.apriori_bound(1.0, 1.0, 1.0, 0, 0.1)
    with pytest.raises(ValueError, match="f_sup must be >= 0"):
        fpnorm.apriori_bound(-1.0, 1.0, 1.0, 10, 0.1)


def test_l1_error_quadrature_and_monte_carlo():
    # E|cos 2πx| = 2/π. Rectangle rule on a periodic integrand whose derivative jumps by J_j at
    # kinks: error ≈ (h²/12) Σ_j |J_j| (Euler-Maclaurin per smooth piece), h = 1/N. Here two kinks
    # with |J| = 4π: 2.1 h² = 1.2e-7 at N = 4096.
    cos = lambda x: jnp.cos(2 * jnp.pi * x[:, 0])
    zero = lambda x: jnp.zeros(x.shape[0])
    assert float(fpnorm.l1_error(zero, cos)) == pytest.approx(2 / math.pi, abs=1e-6)
    # Coefficient inputs give the same (FFT evaluation).
    c = jnp.zeros(5, complex).at[3].set(0.5).at[1].set(0.5)
    assert float(fpnorm.l1_error(jnp.zeros(5, complex), c)) == pytest.approx(2 / math.pi, abs=1e-6)
    # Monte Carlo: std|cos| = sqrt(1/2 − 4/π²) ≈ 0.308, so 5 standard errors at 10⁵ samples ≈ 0.0049.
    mc = float(fpnorm.l1_error(zero, cos, method="monte_carlo", key=jax.random.key(0), n_samples=100_000))
    assert abs(mc - 2 / math.pi) < 5 * 0.308 / math.sqrt(100_000)
    # 2-D grid: E|cos 2πx · cos 2πy| = (2/π)²; error ≈ 2 · (2/π) · 2.1 h² = 2.5e-6 at N = 1024.
    cc = lambda x: jnp.cos(2 * jnp.pi * x[:, 0]) * jnp.cos(2 * jnp.pi * x[:, 1])
    assert float(fpnorm.l1_error(zero, cc, d=2, n_grid=1024)) == pytest.approx((2 / math.pi) ** 2, abs=5e-6)


N_SETS = 200
DELTA = 0.1


# n = 256 (10 s: 200 dense solves with 513 frequencies) runs with the slow tests.
@pytest.mark.parametrize("n", [8, 16, 32, 64, 128, pytest.param(256, marks=pytest.mark.slow)])
def test_apriori_bound_holds_over_sample_sets(n):
    """The a-priori bound theorem (arXiv:1905.10264), checked over 200 vmapped sample sets per n.

    Each set: n uniform points, h_n = min_fp_interpolant (k_max = max(n, 32): F = 2k_max+1 > 2n
    frequencies, f's frequencies ≤ 5 included), L(h_n) by the rectangle rule on 4096 points
    (error ~1e-7, negligible). Asserted, with everything recorded:
    * the bound holds in at least a fraction 1 − δ of the sets (the theorem: failure = bug);
    * the two steps of its proof hold in every set: ‖h_n‖_γ ≤ ‖f‖_γ (f is feasible; 1e-6 relative
      slack for the solve) and sup|h_n| ≤ ‖f‖_∞ + 2‖f‖_γ‖γ‖_{ℓ²} (Cauchy-Schwarz);
    * numerical health: |h_n(x_i) − f(x_i)| ≤ 1e-5 (not a theorem: the closest of 256 uniform
      points are ~1/n² apart, cond(B) reaches ~1e8, so residuals of ε·cond ~ 1e-8..1e-6 are
      expected; 1e-5 is 1e-5·max|f| and moves L(h_n) by far less than the margin to the bound).
    """
    k_max = max(n, 32)
    N = 4096
    fc = f_coeffs(k_max)
    f_sup = float(jnp.max(jnp.abs(fpnorm.evaluate_on_grid(fc, 1 << 16))))
    bound = fpnorm.apriori_bound(f_sup, F_GAMMA, GAMMA_L2, n, DELTA)
    g = lfp.gamma2_on_grid(g4, 1, k_max=k_max)

    def one(key):
        X = jax.random.uniform(key, (n, 1))
        Y = f_fn(X)
        c = fpnorm.min_fp_interpolant(X, Y, g)
        hv = fpnorm.evaluate_on_grid(c, N)
        fv = fpnorm.evaluate_on_grid(fc, N)
        return {
            "L": jnp.mean(jnp.abs(hv - fv)),
            "norm": fpnorm.fp_norm(c, g),
            "sup": jnp.max(jnp.abs(hv)),
            "interp": jnp.max(jnp.abs(fpnorm.evaluate_series(c, X) - Y)),
        }

    keys = jax.random.split(jax.random.key(n), N_SETS)
    out = jax.jit(jax.vmap(one))(keys)
    L = np.asarray(out["L"])
    held = L <= float(bound.bound)
    record = {
        "n": n,
        "bound": float(bound.bound),
        "L_mean": L.mean(),
        "L_max": L.max(),
        "fraction_held": held.mean(),
        "max_norm_ratio": float(jnp.max(out["norm"])) / F_GAMMA,
        "max_interp_residual": float(jnp.max(out["interp"])),
    }
    print(record)
    assert held.mean() >= 1 - DELTA, record
    assert float(jnp.max(out["norm"])) <= F_GAMMA * (1 + 1e-6), record
    assert float(jnp.max(out["sup"])) <= float(bound.prefactor), record
    assert float(jnp.max(out["interp"])) <= 1e-5, record


def test_input_validation():
    with pytest.raises(ValueError, match="coeffs must end with"):
        fpnorm.fp_norm(jnp.zeros(4), g4)
    with pytest.raises(ValueError, match="y_train must have shape"):
        fpnorm.min_fp_interpolant(jnp.zeros(4), jnp.zeros(3), g4, 8)
    with pytest.raises(ValueError, match="n_grid must be >="):
        fpnorm.evaluate_on_grid(jnp.zeros(17), 8)
    with pytest.raises(TypeError, match="key must be a jax.random key"):
        fpnorm.l1_error(g4, g4, method="monte_carlo", key=3)
    with pytest.raises(ValueError, match="needs key"):
        fpnorm.l1_error(g4, g4, method="monte_carlo")
    with pytest.raises(ValueError, match="key is only used"):
        fpnorm.l1_error(g4, g4, key=jax.random.key(0))
    with pytest.raises(ValueError, match="method must be one of"):
        fpnorm.l1_error(g4, g4, method="mc")
    with pytest.raises(ValueError, match="k_max is required"):
        fpnorm.min_fp_interpolant(jnp.zeros(4), jnp.zeros(4), g4)
