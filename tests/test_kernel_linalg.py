"""One kernel linear-algebra core: fpjax.ntk.kernel_flow, fpjax.theory.lfp.residual_flow and
fpjax.theory.init_bias.kernel_interpolate agree with each other and with independent SciPy references
(``scipy.linalg.expm``, ``scipy.integrate.solve_ivp``, ``numpy.linalg.lstsq``) on the same kernel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

from fpjax import ntk
from fpjax._src import kernel_linalg
from fpjax.theory import init_bias, lfp


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _problem(n=7, m=4, seed=0):
    """A PSD kernel (Gaussian RBF + linear) on random 1-D points, targets, f0 and a test kernel."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-1, 1, n + m)
    k_all = np.exp(-((pts[:, None] - pts[None, :]) ** 2) / 0.5) + 0.3 * pts[:, None] * pts[None, :]
    k, kt = k_all[:n, :n], k_all[n:, :n]
    y = np.sin(3 * pts[:n])
    f0, f0t = 0.2 * rng.normal(size=n), 0.2 * rng.normal(size=m)
    return k, kt, y, f0, f0t


def _reference(k, kt, y, f0, f0t, ts):
    """f(X, t) = y + expm(−tK/n)(f0 − y); f(T, t) from solve_ivp of ḟ_T = −(1/n) K_TX (f_X − y)."""
    n = k.shape[0]
    train = np.stack([y + scipy.linalg.expm(-t * k / n) @ (f0 - y) for t in ts])

    def rhs(_, z):
        r = z[:n] - y
        return np.concatenate([-(k @ r) / n, -(kt @ r) / n])

    sol = scipy.integrate.solve_ivp(
        rhs, (0.0, ts[-1]), np.concatenate([f0, f0t]), t_eval=ts, method="DOP853", rtol=1e-12, atol=1e-14
    )
    assert sol.success
    return train, sol.y.T[:, :n], sol.y.T[:, n:]


def test_three_users_agree_with_scipy_references():
    k, kt, y, f0, f0t = _problem()
    n = k.shape[0]
    ts = np.array([0.0, 0.5, 3.0, 20.0, 150.0])
    ref_train, ode_train, ode_test = _reference(k, kt, y, f0, f0t, ts)
    # The ODE solver (rtol 1e-12, a linear dissipative system) and expm agree to ~1e-10.
    np.testing.assert_allclose(ode_train, ref_train, atol=1e-9)

    res = ntk.kernel_flow(k, y, ts, f0_train=f0, k_test_train=kt, f0_test=f0t)
    np.testing.assert_allclose(res.train, ref_train, atol=1e-10)
    np.testing.assert_allclose(res.test, ode_test, atol=1e-9)

    rf = lfp.residual_flow(k, y, ts, f0_train=f0)
    np.testing.assert_allclose(y + rf.residual, ref_train, atol=1e-10)
    lfp_test = f0t - np.asarray(rf.weights) @ kt.T
    np.testing.assert_allclose(lfp_test, ode_test, atol=1e-9)
    np.testing.assert_allclose(lfp_test, res.test, atol=1e-12)

    # t = ∞: interpolation K⁺. cond(K) here ~1e6, so ~1e-10 relative is what float64 allows.
    ref_inf = f0t + kt @ np.linalg.lstsq(k, y - f0, rcond=None)[0]
    inf_ntk = ntk.kernel_flow(k, y, jnp.inf, f0_train=f0, k_test_train=kt, f0_test=f0t).test
    inf_lfp = f0t - np.asarray(lfp.residual_flow(k, y, jnp.inf, f0_train=f0).weights[0]) @ kt.T
    inf_ib = init_bias.kernel_interpolate(k, kt, y, f0, f0t)
    scale = np.max(np.abs(ref_inf))
    for got in (inf_ntk, inf_lfp, inf_ib):
        np.testing.assert_allclose(got, ref_inf, atol=1e-8 * scale)
    np.testing.assert_allclose(inf_ntk, inf_ib, atol=1e-11 * scale)
    # ... and the long-time flow approaches it (the slowest mode λ_min/n decides the rate).
    lam_min = np.linalg.eigvalsh(k)[0]
    late = ntk.kernel_flow(k, y, 60 * n / lam_min, f0_train=f0, k_test_train=kt, f0_test=f0t).test
    np.testing.assert_allclose(late, ref_inf, atol=1e-6 * scale)
    assert n == 7


def test_conflicting_targets_give_least_squares_everywhere():
    """A repeated point with targets 1 and 0: every user gives the average 0.5 there at t = ∞."""
    k, kt, y, f0, f0t = _problem(n=5, m=3, seed=1)
    kd = np.block([[k, k[:, :1]], [k[:1, :], k[:1, :1]]])  # point 0 repeated as point 5
    ktd = np.concatenate([kt, kt[:, :1]], axis=1)
    yd = np.concatenate([y, [y[0] + 1.0]])
    f0d = np.concatenate([f0, f0[:1]])
    out = ntk.kernel_flow(kd, yd, jnp.inf, f0_train=f0d, k_test_train=ktd, f0_test=f0t)
    np.testing.assert_allclose(np.asarray(out.train)[[0, 5]], y[0] + 0.5, atol=1e-9)
    # The other points are still interpolated.
    np.testing.assert_allclose(out.train[1:5], y[1:5], atol=1e-9)
    # Least squares = interpolation of the averaged data on the de-duplicated points.
    y_avg = y.copy()
    y_avg[0] += 0.5
    ref = ntk.kernel_flow(k, y_avg, jnp.inf, f0_train=f0, k_test_train=kt, f0_test=f0t).test
    np.testing.assert_allclose(out.test, ref, atol=1e-8)
    ib = init_bias.kernel_interpolate(kd, ktd, yd, f0d, f0t)
    np.testing.assert_allclose(ib, ref, atol=1e-8)
    rf = lfp.residual_flow(kd, yd, jnp.inf, f0_train=f0d)
    np.testing.assert_allclose(yd + rf.residual[0], out.train, atol=1e-9)
    # Finite times stay finite and the pair moves together.
    mid = ntk.kernel_flow(kd, yd, jnp.array([1.0, 10.0]), f0_train=f0d).train
    np.testing.assert_allclose(mid[:, 0], mid[:, 5], atol=1e-12)


def test_rcond_policy():
    """Eigenvalues ≤ rcond·λ_max are exactly zero: nothing moves there, K⁺ drops them."""
    v = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0]
    lam = np.array([1.0, 1e-3, 1e-9, 0.0])
    k = (v * lam) @ v.T
    eig = kernel_linalg.eigh_psd(jnp.asarray(k), rcond=1e-6)
    assert eig.keep.tolist() == [False, False, True, True]
    np.testing.assert_array_equal(np.asarray(eig.eigenvalues)[:2], 0.0)
    r0 = jnp.asarray(v[:, 2:3])  # the direction of λ = 1e-9, below the cut-off
    a, r = kernel_linalg.residual_flow(eig, r0, jnp.array([1.0, jnp.inf]))
    np.testing.assert_allclose(r, jnp.broadcast_to(r0, r.shape), atol=1e-12)  # unchanged
    # a = K⁺ r0 sees r0's rounding-level (1e-16) overlap with kept modes, divided by λ ≥ 1e-3.
    np.testing.assert_allclose(a, 0.0, atol=1e-11)
    # Default rcond = n·eps keeps 1e-9.
    assert kernel_linalg.eigh_psd(jnp.asarray(k)).keep.tolist() == [False, True, True, True]
    # feature form: the same rule on s² for K = B Bᵀ.
    b = v * np.sqrt(lam)
    u = kernel_linalg.feature_lstsq(jnp.asarray(b), jnp.asarray(v[:, 0] + v[:, 2]), rcond=1e-6)
    np.testing.assert_allclose(b @ np.asarray(u), v[:, 0], atol=1e-10)


def test_core_is_jittable_and_vmappable():
    k, _, y, f0, _ = _problem()
    f = jax.jit(
        jax.vmap(
            lambda yy: kernel_linalg.flow(jnp.asarray(k), yy, jnp.array([0.0, jnp.inf]), f0_train=jnp.asarray(f0))[0]
        )
    )
    out = f(jnp.stack([jnp.asarray(y), 2 * jnp.asarray(y)]))
    assert out.shape == (2, 2, 7)
    np.testing.assert_allclose(out[:, 0], np.stack([f0, f0]), atol=1e-12)
    np.testing.assert_allclose(out[1, 1], 2 * y, atol=1e-8)
