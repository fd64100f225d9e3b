"""Tests of fpjax.theory.init_bias: Theorems 2 and 3, the GP bias error and ASI.

Theory-vs-theory checks run in float64.

Tolerances for Theorem 2. Theorem 2 is an algebraic identity (linearity of ``v ↦ S v``), so what a
test can measure is floating-point rounding. The references are computed by *other* code paths
(:func:`fpjax.ntk.predict_linearized` / :func:`fpjax.ntk.kernel_flow` at ``t = ∞``: their own kernel
call, eigendecomposition and ``g(λ)`` formula). Two backward-stable solves with a matrix of
condition number ``κ`` agree to a relative error ``≲ n·κ·eps``; each test asserts ``κ ≤ 1e4`` for
its kernel, so with ``n ≤ 16`` and ``eps = 2.2e-16`` the bound is ``≤ 3.5e-11 < 1e-10``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax import ntk
from fpjax.models import asi, mlp
from fpjax.theory import init_bias as ib

EPS64 = float(np.finfo(np.float64).eps)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def target(x):
    return jnp.sin(jnp.pi * x[:, 0]) + 0.3 * jnp.sin(3 * jnp.pi * x[:, 0])


def data_1d(n=12, m=101):
    x = jnp.linspace(-1.0, 1.0, n)[:, None]
    t = jnp.linspace(-1.0, 1.0, m)[:, None]
    return x, t


def relu_net(width=64, depth=1, scale=1.0, out=1):
    return mlp((width,) * depth + (out,), "relu", init="ntk", sigma_w=scale, sigma_b=scale)


def rel_max(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def cond(k):
    return float(np.linalg.cond(np.asarray(k)))


# ----------------------------------------------------------------------------------------------
# Theorem 2
# ----------------------------------------------------------------------------------------------


def test_theorem2_empirical_ntk_matches_predict_linearized():
    """h_k(·; f0) from predict_linearized(t=∞) = unbiased + bias from decompose, to 1e-10."""
    x, t = data_1d()
    model = mlp((64, 64, 1), "relu", init="ntk", sigma_w=2.0, sigma_b=1.0)
    params = model.init(jax.random.key(0), x)
    y = target(x)
    kxx, ktx = ib.network_kernels(model, params, x, t, kernel="empirical")
    assert cond(kxx) <= 1e4
    dec = ib.network_decomposition(model, params, x, y, t, kernel="empirical")
    flow = ntk.predict_linearized(model, params, x, y[:, None], jnp.inf, t).test[:, 0]
    assert rel_max(dec.unbiased + dec.bias, flow) <= 1e-10
    assert rel_max(dec.total, flow) <= 1e-10
    # The bias term is a real contribution here (not a vacuous 0 + 0 check): f0 ≠ 0.
    assert float(ib.grid_sq_norm(dec.bias)) > 1e-3 * float(ib.grid_sq_norm(dec.total))
    # Interpolation: h_k(X; f0, X, Y) = Y.
    h0x = model.apply(params, x)[:, 0]
    fit_x = ib.kernel_interpolate(kxx, None, y, h0x, h0x)
    assert rel_max(fit_x, y) <= 1e-10


def test_theorem2_infinite_ntk_matches_kernel_flow():
    x, t = data_1d()
    model = relu_net(width=128, depth=2, scale=1.5)
    params = model.init(jax.random.key(3), x)
    y = target(x)
    kxx, ktx = ib.network_kernels(model, None, x, t, kernel="infinite")
    assert cond(kxx) <= 1e4
    h0x, h0t = model.apply(params, x)[:, 0], model.apply(params, t)[:, 0]
    dec = ib.decompose(kxx, ktx, y, h0x, h0t)
    flow = ntk.kernel_flow(kxx, y, jnp.inf, f0_train=h0x, k_test_train=ktx, f0_test=h0t).test
    assert rel_max(dec.unbiased + dec.bias, flow) <= 1e-10
    # The same through the kernel-function and model entry points.
    dec2 = ib.network_decomposition(model, params, x, y, t, kernel=lambda a, b: ntk.infinite_ntk(model, a, b))
    assert rel_max(dec2.unbiased + dec2.bias, flow) <= 1e-10
    # Unbiased fit = kernel_flow from f0 = 0; bias = f0 − kernel_flow of f0(X) from 0.
    flow0 = ntk.kernel_flow(kxx, y, jnp.inf, k_test_train=ktx).test
    assert rel_max(dec.unbiased, flow0) <= 1e-10
    flow_h = ntk.kernel_flow(kxx, h0x, jnp.inf, k_test_train=ktx).test
    assert float(jnp.max(jnp.abs(dec.bias - (h0t - flow_h)))) <= 1e-10 * float(jnp.max(jnp.abs(h0t)))


def test_solvers_agree_and_jitter_keeps_theorem2():
    x, t = data_1d()
    model = relu_net(scale=2.0)
    kxx, ktx = ib.network_kernels(model, None, x, t, kernel="infinite")
    assert cond(kxx) <= 1e4
    h = model.apply(model.init(jax.random.key(1), x), jnp.concatenate([t, x]))[:, 0]
    ht, hx = h[:101], h[101:]
    y = target(x)
    d_e = ib.decompose(kxx, ktx, y, hx, ht, solver="eigh")
    d_c = ib.decompose(kxx, ktx, y, hx, ht, solver="cholesky")
    for a, b in zip(d_e, d_c):
        assert rel_max(a, b) <= 1e-10
    # Kernel ridge regression (jitter > 0) is still a linear map: Theorem 2 holds to rounding
    # (the three terms are products with the same S: relative error ~ n·eps·‖S‖‖v‖/‖total‖, ≪ 1e-10)...
    d_r = ib.decompose(kxx, ktx, y, hx, ht, solver="cholesky", jitter=1e-2)
    assert rel_max(d_r.unbiased + d_r.bias, d_r.total) <= 1e-10
    # ...but no longer interpolates: a ridge of 1% of the mean eigenvalue moves the fit at X.
    fit_x = ib.kernel_interpolate(kxx, None, y, solver="cholesky", jitter=1e-2)
    assert rel_max(fit_x, y) > 1e-4


def test_full_output_kernel_matches_predict_linearized():
    """(n, n, c, c) kernels couple the outputs; decompose agrees with predict_linearized(full_outputs)."""
    x, t = data_1d(n=8, m=33)
    model = mlp((32, 2), "relu", init="ntk", sigma_w=1.5, sigma_b=1.0)
    params = model.init(jax.random.key(2), x)
    y = jnp.stack([target(x), jnp.cos(2 * x[:, 0])], axis=1)
    kxx = ntk.empirical_ntk(model, params, x, trace_axes=())
    ktx = ntk.empirical_ntk(model, params, t, x, trace_axes=())
    assert kxx.shape == (8, 8, 2, 2)
    assert cond(kxx.transpose(0, 2, 1, 3).reshape(16, 16)) <= 1e4
    dec = ib.decompose(kxx, ktx, y, model.apply(params, x), model.apply(params, t))
    assert dec.total.shape == (33, 2)
    flow = ntk.predict_linearized(model, params, x, y, jnp.inf, t, full_outputs=True).test
    assert rel_max(dec.unbiased + dec.bias, flow) <= 1e-10


def test_batched_f0_equals_one_by_one():
    x, t = data_1d()
    model = relu_net()
    kxx, ktx = ib.network_kernels(model, None, x, t, kernel="infinite")
    keys = jax.random.split(jax.random.key(5), 3)
    hx = jnp.stack([model.apply(model.init(k, x), x)[:, 0] for k in keys])
    ht = jnp.stack([model.apply(model.init(k, x), t)[:, 0] for k in keys])
    y = target(x)
    batched = ib.decompose(kxx, ktx, y, hx, ht)
    assert batched.total.shape == (3, 101) and batched.unbiased.shape == (101,)
    for i in range(3):
        one = ib.decompose(kxx, ktx, y, hx[i], ht[i])
        np.testing.assert_allclose(batched.total[i], one.total, rtol=0, atol=1e-12)
        np.testing.assert_allclose(batched.bias[i], one.bias, rtol=0, atol=1e-12)


def test_float32_default():
    with jax.enable_x64(False):
        x, t = data_1d()
        model = relu_net()
        params = model.init(jax.random.key(0), x)
        dec = ib.network_decomposition(model, params, x, target(x), t, kernel="empirical")
        assert dec.total.dtype == jnp.float32
        # float32: κ ≤ 1e4 and eps32 = 1.2e-7 bound the mismatch by n·κ·eps32 ≈ 1.4e-2.
        assert rel_max(dec.unbiased + dec.bias, dec.total) <= 1.4e-2


# ----------------------------------------------------------------------------------------------
# Theorem 3 and the GP bias error
# ----------------------------------------------------------------------------------------------

N_INITS = 256


@pytest.fixture(scope="module")
def mc_setup():
    with jax.enable_x64(True):
        x, t = data_1d(n=12, m=101)
        model = relu_net(width=128, depth=1, scale=2.0)
        res = ib.theorem3_monte_carlo(
            model,
            x,
            target(x),
            t,
            target(t),
            key=jax.random.key(11),
            n_inits=N_INITS,
            kernel="infinite",
            return_samples=True,
        )
        return x, t, model, res, res.samples


def test_theorem3_fixed_infinite_kernel(mc_setup):
    """E‖h_k(f0) − f‖² = ‖h_k(0) − f‖² + E‖B(f0)‖² within 3 standard errors (256 inits).

    The paired difference D_i = 2⟨A, B_i⟩ has mean 0 exactly (mean-zero f0, fixed kernel);
    |mean D| ≤ 3 SE fails with probability ≈ 0.3% for a correct implementation.
    """
    _, _, _, res, smp = mc_setup
    assert res.n == N_INITS and res.n_diverged == 0
    assert res.unbiased_se == 0.0  # fixed kernel: one unbiased fit
    assert abs(res.z) <= 3.0, res
    assert abs(res.lhs - res.rhs) <= 3.0 * res.diff_se
    # Non-vacuous: both RHS terms matter at this scale.
    assert res.bias > 0.05 * res.unbiased and res.unbiased > 0.05 * res.bias, res
    # D_i really is 2⟨A, B_i⟩ per init (same numbers, three formulas): float64 rounding.
    d = smp.lhs - smp.unbiased - smp.bias
    assert np.all(np.abs(d) <= 1e-8 * smp.lhs + 2 * np.sqrt(smp.unbiased * smp.bias) + 1e-15)


def test_theorem3_detects_a_biased_init(mc_setup):
    """Power check: a mean shift μ = c·A (A = h_k(0) − f, which vanishes on X) adds 2c‖A‖² to E D.

    By Cauchy–Schwarz SE(D) ≤ 2‖A‖√(E‖B‖²)/√N, so c = 10√(E‖B‖²)/(‖A‖√N) shifts z by ≥ 10:
    from |z| ≤ 3 to ≥ 7, and the check must then fail (z > 3).
    """
    x, t, model, res, _ = mc_setup
    kxx, ktx = ib.network_kernels(model, None, x, t, kernel="infinite")
    s = ib.interpolation_operator(kxx, ktx)
    a = s @ target(x) - target(t)
    a_norm = math.sqrt(float(ib.grid_sq_norm(a)))
    c = 10 * math.sqrt(res.bias) / (a_norm * math.sqrt(N_INITS))

    def one(k):
        p = model.init(k, x)
        return ib.theorem3_terms(s, target(x), target(t), model.apply(p, x)[:, 0], model.apply(p, t)[:, 0] + c * a)

    out = jax.vmap(one)(jax.random.split(jax.random.key(11), N_INITS))
    shifted = ib.theorem3_stats(out.lhs, out.unbiased, out.bias)
    assert shifted.z > 3.0, shifted
    # The unshifted samples reproduce the sweep's statistics (same keys, same formulas).
    out0 = jax.vmap(
        lambda k: ib.theorem3_terms(
            s, target(x), target(t), model.apply(model.init(k, x), x)[:, 0], model.apply(model.init(k, x), t)[:, 0]
        )
    )(jax.random.split(jax.random.key(11), N_INITS))
    assert ib.theorem3_stats(out0.lhs, out0.unbiased, out0.bias).lhs == pytest.approx(res.lhs, rel=1e-12)


def test_gp_bias_error_is_exact_for_one_hidden_layer(mc_setup):
    """One hidden layer: Cov(f0) is the NNGP kernel at any width, so E‖B‖² = gp_bias_error exactly.

    The Monte Carlo mean of ‖B_i‖² must be within 3 SE of it. (A 10% error in the covariance -- e.g.
    a wrong NNGP normalisation -- moves the prediction by ~30 SE here: SE/mean ≈ 1/√256·cv ≈ 4%.)
    """
    x, t, model, res, _ = mc_setup
    kxx, ktx = ib.network_kernels(model, None, x, t, kernel="infinite")
    s = ib.interpolation_operator(kxx, ktx)
    xa = jnp.concatenate([t, x])
    nngp = ntk.infinite_ntk(model, xa, get="nngp")
    m = t.shape[0]
    pred = float(ib.gp_bias_error(s, jnp.diagonal(nngp[:m, :m]), nngp[:m, m:], nngp[m:, m:]))
    assert abs(res.bias - pred) <= 3 * res.bias_se, (res.bias, pred, res.bias_se)


@pytest.mark.parametrize("kernel", ["empirical", "reference"])
def test_theorem3_empirical_kernels(kernel):
    """Per-init NTK (exact in expectation by the last-layer sign symmetry) and a reference-init NTK."""
    x, t = data_1d(n=12, m=101)
    model = relu_net(width=64, depth=1, scale=2.0)
    res = ib.theorem3_monte_carlo(
        model, x, target(x), t, target(t), key=jax.random.key(7), n_inits=N_INITS, kernel=kernel
    )
    assert abs(res.z) <= 3.0, res
    assert (res.unbiased_se > 0) == (kernel == "empirical")
    assert res.bias > 0.05 * res.unbiased, res


def test_symmetry_behind_per_init_theorem3():
    """Flipping the last layer's sign maps h → −h and leaves the empirical NTK unchanged (exactly)."""
    x, _ = data_1d(n=7)
    for init in ("ntk", "standard"):
        model = mlp((16, 16, 1), "tanh", init=init, sigma_w=1.3, sigma_b=0.4)
        p = model.init(jax.random.key(0), x)
        q = {"layers": p["layers"][:-1] + [jax.tree_util.tree_map(jnp.negative, p["layers"][-1])]}
        assert jnp.array_equal(model.apply(q, x), -model.apply(p, x))
        np.testing.assert_allclose(ntk.empirical_ntk(model, q, x), ntk.empirical_ntk(model, p, x), rtol=1e-13)


# ----------------------------------------------------------------------------------------------
# ASI
# ----------------------------------------------------------------------------------------------


def test_asi_zero_output_same_ntk_zero_bias():
    x, t = data_1d()
    base = mlp((64, 64, 1), "relu", init="ntk", sigma_w=2.0, sigma_b=1.0)
    model = asi(base)
    key = jax.random.key(4)
    p = model.init(key, x)
    pb = base.init(key, x)
    xa = jnp.concatenate([t, x])
    # Exactly 0 at init (h(θ) − h(θ') with θ' a copy of θ: identical computations).
    assert float(jnp.max(jnp.abs(model.apply(p, xa)))) == 0.0
    # NTK of the ASI network = the base network's: ½(K_θ + K_θ') = K_θ. Fast path and an
    # independent neural-tangents Jacobian contraction of the ASI apply (float64 rounding only).
    k_base = ntk.empirical_ntk(base, pb, xa, x)
    np.testing.assert_allclose(ntk.empirical_ntk(model, p, xa, x), k_base, rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        ntk.empirical_ntk(model.apply, p, xa, x, implementation="nt"),
        k_base,
        rtol=1e-10,
        atol=1e-10 * float(jnp.max(jnp.abs(k_base))),
    )
    # The bias term vanishes: h_k(·; h_ASI, X, Y) = h_k(·; 0, X, Y) with the base kernel.
    y = target(x)
    dec = ib.network_decomposition(model, p, x, y, t, kernel="empirical")
    assert float(jnp.max(jnp.abs(dec.bias))) == 0.0
    assert jnp.array_equal(dec.total, dec.unbiased)
    dec_base = ib.network_decomposition(base, pb, x, y, t, kernel="empirical")
    assert rel_max(dec.unbiased, dec_base.unbiased) <= 1e-10
    assert float(ib.grid_sq_norm(dec_base.bias)) > 0  # the base network has a bias term
    # Theorem 3 for ASI: every init has bias 0 exactly and lhs = unbiased up to rounding (the compiled
    # S(y − 0) + 0 and S y may round differently in the last bit).
    r = ib.theorem3_monte_carlo(
        asi(relu_net(width=32)), x, y, t, target(t), key=jax.random.key(0), n_inits=8, kernel="infinite"
    )
    assert r.bias == 0.0 and r.lhs == pytest.approx(r.unbiased, rel=1e-13) and abs(r.diff) <= 1e-13 * r.lhs


# ----------------------------------------------------------------------------------------------
# bad inputs
# ----------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    x, t = data_1d(n=6, m=9)
    model = relu_net(width=8)
    kxx, ktx = ib.network_kernels(model, None, x, t, kernel="infinite")
    y = target(x)
    h = jnp.zeros(6)
    ht = jnp.zeros(9)
    with pytest.raises(ValueError, match="k_train_train must be square"):
        ib.decompose(ktx, ktx, y, h, ht)
    with pytest.raises(ValueError, match="k_test_train must have shape"):
        ib.decompose(kxx, ktx[:, :5], y, h, ht)
    with pytest.raises(ValueError, match="y_train must have 6 rows"):
        ib.decompose(kxx, ktx, y[:5], h, ht)
    with pytest.raises(ValueError, match="f0_train must have shape"):
        ib.decompose(kxx, ktx, y, jnp.zeros(5), ht)
    with pytest.raises(ValueError, match="f0_test must have shape"):
        ib.decompose(kxx, ktx, y, h, jnp.zeros(8))
    with pytest.raises(ValueError, match="leading \\(batch\\) shape"):
        ib.decompose(kxx, ktx, y, jnp.zeros((2, 6)), jnp.zeros((3, 9)))
    with pytest.raises(ValueError, match="NaN"):
        ib.decompose(kxx.at[0, 0].set(jnp.nan), ktx, y, h, ht)
    with pytest.raises(ValueError, match="NaN"):
        ib.kernel_interpolate(kxx, ktx, y.at[1].set(jnp.inf))
    with pytest.raises(ValueError, match="unknown solver"):
        ib.interpolation_operator(kxx, ktx, solver="lu")
    with pytest.raises(ValueError, match="jitter is a parameter of solver='cholesky'"):
        ib.interpolation_operator(kxx, ktx, jitter=1e-3)
    with pytest.raises(ValueError, match="jitter must be >= 0"):
        ib.interpolation_operator(kxx, ktx, solver="cholesky", jitter=-1.0)
    with pytest.raises(ValueError, match="not positive definite"):
        ib.interpolation_operator(-kxx, ktx, solver="cholesky")
    with pytest.raises(ValueError, match="both f0_train and f0_test"):
        ib.kernel_interpolate(kxx, ktx, y, h)
    with pytest.raises(TypeError, match="kernel must be a callable"):
        ib.kernel_matrices("rbf", x, t)
    with pytest.raises(ValueError, match="kernel\\(x1, x2\\) must return shape"):
        ib.kernel_matrices(lambda a, b: jnp.ones((a.shape[0],)), x, t)
    with pytest.raises(ValueError, match="x_test must have 1 features"):
        ib.kernel_matrices(lambda a, b: a @ b.T, x, jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="unknown kernel"):
        ib.network_kernels(model, None, x, t, kernel="nngp")
    with pytest.raises(ValueError, match="needs params"):
        ib.network_kernels(model, None, x, t, kernel="empirical")
    with pytest.raises(TypeError, match="fpjax.models.Model"):
        ib.theorem3_monte_carlo(lambda p, z: z, x, y, t, target(t), key=jax.random.key(0))
    with pytest.raises(ValueError, match="n_inits must be >= 2"):
        ib.theorem3_monte_carlo(model, x, y, t, target(t), key=jax.random.key(0), n_inits=1)
    with pytest.raises(ValueError, match="y_test must have shape"):
        ib.theorem3_monte_carlo(model, x, y, t, target(t)[:4], key=jax.random.key(0))
    with pytest.raises(ValueError, match="no|infinite-width kernel_fn"):
        ib.theorem3_monte_carlo(mlp((8, 1), "relu"), x, y, t, target(t), key=jax.random.key(0))  # xavier init
    with pytest.raises(ValueError, match="unknown kernel"):
        ib.theorem3_monte_carlo(model, x, y, t, target(t), key=jax.random.key(0), kernel="ntk")
    with pytest.raises(ValueError, match="y_train \\(n,\\) needs a model with one output"):
        ib.theorem3_monte_carlo(relu_net(width=8, out=2), x, y, t, target(t), key=jax.random.key(0))
    with pytest.raises(TypeError, match="key"):
        ib.theorem3_monte_carlo(model, x, y, t, target(t), key=0)
    with pytest.raises(ValueError, match="lhs_samples must be 1-D"):
        ib.theorem3_stats([1.0], [0.5], [0.5])
    with pytest.raises(ValueError, match="unbiased_samples must be a scalar"):
        ib.theorem3_stats([1.0, 2.0], [0.5, 0.5, 0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="cov_test_train must have shape"):
        ib.gp_bias_error(jnp.ones((9, 6)), jnp.ones(9), jnp.ones((6, 9)), jnp.eye(6))
    with pytest.raises(ValueError, match="out_ndim"):
        ib.grid_sq_norm(jnp.ones(3), out_ndim=-1)


def test_theorem3_stats_drops_non_finite_samples():
    r = ib.theorem3_stats([1.0, np.nan, 3.0, 5.0], 0.5, [0.5, 0.5, 2.5, 4.5])
    assert r.n == 3 and r.n_diverged == 1
    assert r.lhs == pytest.approx(3.0) and r.diff == pytest.approx(0.0)
