"""Exact LFP dynamics on the torus: the closed-form residual flow of kernel gradient flow,
:func:`evolve` (the trajectory of the Fourier coefficients) and :func:`steady_state` (its
``t = ∞`` limit, a least-norm least-squares fit). Conventions in :mod:`fpjax._src.lfp`.

References:
  Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the absence
  of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
  T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
  dynamics and its generalization", SIAM J. Math. Data Sci. (2022), arXiv:2010.08153.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src import kernel_linalg
from fpjax._src.array_types import ArrayLike
from fpjax._src.checks import (
    as_array,
    check_finite,
    check_positive,
    error_if,
)
from fpjax._src.lfp_torus import (
    _as_points,
    _as_values,
    _check_features_memory,
    _features,
    _grid_kmax,
    _kernel_from_features,
    _parse_constant,
    coefficients_from_function,
    evaluate_series,
    gamma2_on_grid,
)

__all__ = [
    "residual_flow",
    "ResidualFlow",
    "evolve",
    "steady_state",
    "LFPTrajectory",
]


def _prepare_f0(f0: Any, k_max: int, d: int, period: float, dtype) -> jax.Array:
    cdt = jnp.result_type(dtype, jnp.complex64)
    shape = (2 * k_max + 1,) * d
    if f0 is None:
        return jnp.zeros(shape, cdt)
    if callable(f0):
        return coefficients_from_function(f0, k_max, d, period=period).astype(cdt)
    f0 = as_array(f0, "f0")
    check_finite(f0, "f0")
    if tuple(f0.shape) != shape:
        raise ValueError(
            f"f0 coefficients must have the grid shape {shape} (k_max={k_max}, d={d}); "
            f"got {tuple(f0.shape)}. Pass a callable to project a function."
        )
    return f0.astype(cdt)


def _complement_basis(n: int, dtype) -> jax.Array:
    """Orthonormal basis ``(n, n−1)`` of the mean-zero vectors ``1^⊥`` (a Helmert basis)."""
    H = np.zeros((n, n - 1))
    for j in range(1, n):
        H[:j, j - 1] = 1.0 / math.sqrt(j * (j + 1))
        H[j, j - 1] = -j / math.sqrt(j * (j + 1))
    return jnp.asarray(H, dtype)


def _flow_core(K, r0, t, free, rcond):
    """Traceable body of :func:`residual_flow` (see there): ``(a (T, n), r (T, n), Δc (T,))``."""
    n = K.shape[0]
    dt = K.dtype
    basis = _complement_basis(n, dt) if free else None
    # ṙ = −(1/n) K r: the kernel core at K/n (its a = ∫ r; ours is (1/n) ∫ r).
    eig = kernel_linalg.eigh_psd(K / n, rcond=rcond, basis=basis)
    a, r = kernel_linalg.residual_flow(eig, r0[:, None], t)
    a, r = a[..., 0] / n, r[..., 0]
    if free:
        pos = t > 0
        # The mean residual (outside span Q, left unchanged by the core) jumps to 0 at t = 0+.
        r = jnp.where(pos[:, None], r - jnp.mean(r0), r0[None, :])
        dc = jnp.where(pos, jnp.mean(a @ (0.5 * (K + K.T)), axis=1) - jnp.mean(r0), 0.0)
    else:
        dc = jnp.zeros(t.shape, dt)
    return a, r, dc


_flow_jit = jax.jit(_flow_core, static_argnums=(3, 4))


def _check_times(t: Any) -> jax.Array:
    t = as_array(t, "t")
    if t.ndim > 1:
        raise ValueError(f"t must be a scalar or a 1-D array of times; got shape {tuple(t.shape)}")
    message = "t must hold at least one time, all >= 0 (inf allowed)"
    if t.size == 0:
        raise ValueError(message)
    t = error_if(t, jnp.isnan(t) | (t < 0), message)
    return jnp.atleast_1d(t)


class ResidualFlow(NamedTuple):
    """Result of :func:`residual_flow` (``T`` times, ``n`` training points).

    Attributes:
      weights: ``(T, n)`` ``a(t) = (1/n) ∫_0^t r``; ``f(x, t) = f0(x) − Σ_i K(x, x_i) a_i(t) + Δc(t)``.
      residual: ``(T, n)`` ``r(t) = f(X, t) − Y``.
      constant_shift: ``(T,)`` ``Δc(t)`` (0 without a free constant).

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> res = residual_flow(2.0 * jnp.eye(2), jnp.array([1.0, 3.0]), 1.0)  # K/n = I: r(1) = r(0)/e
      >>> [np.asarray(v, float).round(4).tolist() for v in res]
      [[[-0.3161, -0.9482]], [[-0.3679, -1.1036]], [0.0]]
    """

    weights: jax.Array
    residual: jax.Array
    constant_shift: jax.Array


def residual_flow(
    k_train_train: ArrayLike,
    y_train: ArrayLike,
    t: ArrayLike,
    *,
    f0_train: ArrayLike | None = None,
    free_constant: bool = False,
    rcond: float | None = None,
) -> ResidualFlow:
    """Closed-form kernel gradient flow of the residual at the data (MSE ``(1/2n)Σ(f − y)²``).

    Solves ``ṙ = −(1/n) K r`` (``K = k_train_train``, ``r = f(X) − Y``, ``r(0) = f0(X) − Y``) with
    :mod:`fpjax._src.kernel_linalg`: ``r(t) = e^{−tK/n} r(0)`` and
    ``a(t) = (1/n)∫_0^t r = K⁺ (I − e^{−tK/n}) r(0)``, so that ``f(x, t) = f0(x) − Σ_i K(x, x_i) a_i(t)``.
    Time is gradient-flow time ``t = η · steps``. Eigenvalues ``≤ rcond·λ_max`` (default
    ``rcond = n·eps``) are zero: nothing moves there, and ``t = inf`` is the least-norm
    least-squares steady state.

    ``free_constant=True`` adds an unpenalised constant with infinite rate: the flow runs on
    ``1^⊥`` (``K`` → ``QᵀKQ``), the mean residual jumps to zero at ``t = 0+``; then
    ``f(x, t) = f0(x) − Σ_i K(x, x_i) a_i(t) + Δc(t)`` with ``Δc(t) = mean(K a(t)) − mean(r(0))``
    for ``t > 0`` (``Δc(0) = 0``).

    Args:
      k_train_train: ``(n, n)`` PSD kernel matrix.
      y_train: ``(n,)`` targets.
      t: gradient-flow times, scalar or ``(T,)``, ``inf`` allowed.
      f0_train: ``(n,)`` initial function at the data (default 0).
      free_constant: see above.
      rcond: relative eigenvalue cut-off.

    Returns:
      :class:`ResidualFlow` ``(weights (T, n), residual (T, n), constant_shift (T,))``.

    Examples:
      >>> import jax.numpy as jnp
      >>> res = residual_flow(jnp.eye(2), jnp.array([1.0, 3.0]), jnp.array([0.0, jnp.inf]))
      >>> res.residual.tolist(), res.weights[-1].tolist()
      ([[-1.0, -3.0], [0.0, 0.0]], [-1.0, -3.0])

    References:
      A. Jacot, F. Gabriel, C. Hongler, "Neural tangent kernel: convergence and generalization in neural
      networks", NeurIPS 2018, arXiv:1806.07572.
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. 4, 1272–1292 (2022), arXiv:2010.08153.
    """
    K = as_array(k_train_train, "k_train_train")
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"k_train_train must be a square (n, n) matrix; got shape {tuple(K.shape)}")
    check_finite(K, "k_train_train")
    n = K.shape[0]
    y = _as_values(y_train, "y_train", n)
    f0 = jnp.zeros_like(y) if f0_train is None else _as_values(f0_train, "f0_train", n)
    t = _check_times(t)
    if rcond is not None:
        rcond = check_positive(rcond, "rcond")
    dt = jnp.result_type(K.dtype, y.dtype, f0.dtype, float)
    a, r, dc = _flow_jit(K.astype(dt), (f0 - y).astype(dt), t.astype(dt), bool(free_constant), rcond)
    return ResidualFlow(a, r, dc)


class LFPTrajectory(NamedTuple):
    """Result of :func:`evolve`.

    Attributes:
      coeffs: ``(T, *(2k_max+1,)*d)`` complex Fourier coefficients ``ĥ(k, t)`` (FT-normalised).
      t: ``(T,)`` gradient-flow times.
      residual: ``(T, n)`` ``h(x_i, t) − y_i`` from the closed form.
      period: the torus period ``L``.

    Calling the trajectory, ``traj(x)``, evaluates ``h(x, t)`` at every recorded ``t`` (``(T, n)``;
    the same as ``evaluate_series(traj.coeffs, x, period=traj.period)``).

    Examples:
      >>> import jax.numpy as jnp
      >>> x, y = jnp.array([0.25, 0.75]), jnp.array([1.0, -1.0])
      >>> traj = evolve(x, y, lambda xi: 1.0 / xi[:, 0] ** 2, jnp.array([0.0, jnp.inf]), k_max=4)
      >>> traj.coeffs.shape, traj.t.tolist(), traj(x).shape
      ((2, 9), [0.0, inf], (2, 2))
      >>> bool(jnp.allclose(traj(x)[-1], y, atol=1e-5))  # t = inf interpolates the data
      True

    References:
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. 4, 1272–1292 (2022), arXiv:2010.08153.
    """

    coeffs: jax.Array
    t: jax.Array
    residual: jax.Array
    period: float

    def __call__(self, x: ArrayLike) -> jax.Array:
        """``h(x, t)`` for every recorded ``t``: ``(T, n)``."""
        return evaluate_series(self.coeffs, x, period=self.period)


def _setup(X, Y, gamma2_, f0, period, k_max, constant):
    """Validate and convert; returns everything the jitted cores need."""
    X = _as_points(X, "x_train")
    n, d = X.shape
    Y = _as_values(Y, "y_train", n)
    period = check_positive(period, "period")
    g0 = _parse_constant(constant)
    g = gamma2_on_grid(gamma2_, d, k_max=k_max, period=period)
    k_max = _grid_kmax(g.shape, d, "gamma2")
    _check_features_memory(n, k_max, d, "k_max")
    dt = jnp.result_type(X.dtype, Y.dtype, g.dtype)
    f0c = _prepare_f0(f0, k_max, d, period, dt)
    return X.astype(dt), Y.astype(dt), n, d, k_max, period, g0, g.reshape(-1).astype(dt), f0c.reshape(-1)


def _data_terms(X, g_flat, g0, f0c, k_max, d, period):
    """Features at the data, the data kernel (incl. the finite constant rate g0; 0 when free) and f0(X)."""
    c, s = _features(X, k_max, d, period)
    centre = (g_flat.shape[0] - 1) // 2
    g_full = g_flat.at[centre].set(g0)
    K = _kernel_from_features(c, s, c, s, g_full, period ** (-d))
    f0X = (jnp.real(f0c) @ c.T - jnp.imag(f0c) @ s.T) * period ** (-d)
    return c, s, g_full, K, f0X, centre


@functools.partial(jax.jit, static_argnames=("k_max", "d", "period", "free", "rcond"))
def _evolve_core(X, Y, g_flat, f0c, t, g0, *, k_max, d, period, free, rcond):
    c, s, g_full, K, f0X, centre = _data_terms(X, g_flat, g0, f0c, k_max, d, period)
    a, r, dc = _flow_core(K, f0X - Y, t, free, rcond)
    # Σ_i e^{−2πik·x_i/L} a_i = (C − iS)ᵀ a.
    coeffs = f0c[None, :] - (a @ c - 1j * (a @ s)) * g_full
    if free:
        coeffs = coeffs.at[:, centre].add(period**d * dc)
    return coeffs, r


def evolve(
    x_train: ArrayLike,
    y_train: ArrayLike,
    gamma2: ArrayLike | Callable,
    t: ArrayLike,
    *,
    f0: ArrayLike | Callable | None = None,
    period: float = 1.0,
    k_max: int | None = None,
    constant: str | float = "free",
    rcond: float | None = None,
) -> LFPTrajectory:
    """Exact LFP evolution on the torus: ``∂_t ĥ(k) = −γ²(k/L)(ĥ_ρ(k/L) − f̂_ρ(k/L))``.

    Kernel gradient flow with the kernel of :func:`kernel_matrix` (closed form of
    :func:`residual_flow`): with ``a(t) = (1/n)∫_0^t r`` and ``r = h(X) − Y``,
    ``ĥ(k, t) = ĥ(k, 0) − γ²(k/L) Σ_i e^{−2πi k·x_i/L} a_i(t)`` for ``k ≠ 0``; the constant
    mode follows ``constant`` (module docstring). ``t = inf`` equals :func:`steady_state` (both
    least-norm least-squares with the same ``rcond`` policy).

    Args:
      x_train: data points ``(n, d)`` (or ``(n,)`` in 1-D), read modulo ``period``.
      y_train: targets ``(n,)``.
      gamma2: ``γ²`` as a callable of ``ξ (M, d)`` or an array on the grid (see
        :func:`gamma2_on_grid`).
      t: gradient-flow times ``t = η · steps``, ``(T,)`` or a scalar (``inf`` allowed: the steady state).
      f0: initial function: ``None`` (zero), a coefficient array ``(2k_max+1,)*d``, or a callable
        ``(M, d) -> (M,)`` projected on the grid by :func:`coefficients_from_function`. The LFP
        state space is the degree-``k_max`` trigonometric polynomials: ``f0`` is represented by
        its projection there.
      period, k_max, constant: see the module docstring.
      rcond: eigenvalue cut-off of :func:`residual_flow` (default ``n·eps``).

    Returns:
      :class:`LFPTrajectory`. The numerical work is one jitted function, so ``evolve`` also works
      inside ``jax.jit``/``jax.vmap`` over ``x_train``, ``y_train``, ``f0`` coefficients and ``t``.

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([0.1, 0.4, 0.7])
      >>> traj = evolve(x, jnp.array([1.0, -1.0, 0.5]), lambda xi: 1.0 / (xi[:, 0] ** 4 + 1e-9),
      ...               jnp.array([0.0, jnp.inf]), k_max=8)
      >>> traj(x).round(5).tolist()
      [[0.0, 0.0, 0.0], [1.0, -1.0, 0.5]]

    References:
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. 4, 1272–1292 (2022), arXiv:2010.08153.
    """
    X, Y, n, d, k_max, period, g0, g_flat, f0c = _setup(x_train, y_train, gamma2, f0, period, k_max, constant)
    t = _check_times(t).astype(X.dtype)
    if rcond is not None:
        rcond = check_positive(rcond, "rcond")
    coeffs, r = _evolve_core(
        X,
        Y,
        g_flat,
        f0c,
        t,
        jnp.asarray(0.0 if g0 is None else g0, X.dtype),
        k_max=k_max,
        d=d,
        period=period,
        free=g0 is None,
        rcond=rcond,
    )
    T = t.shape[0]
    return LFPTrajectory(coeffs.reshape((T,) + (2 * k_max + 1,) * d), t, r, period)


@functools.partial(jax.jit, static_argnames=("k_max", "d", "period", "free", "rcond"))
def _steady_core(X, Y, g_flat, hc, g0, *, k_max, d, period, free, rcond):
    # Least-norm form: with u = G^{-1/2}(ĥ − ĥ_0) the problem is min ‖u‖ over the least-squares
    # solutions of B u = Y − f0(X), B = L^{-d} Φ G^{1/2} (Φ_ik = e^{2πik·x_i/L}), K = L^d B Bᴴ.
    # kernel_linalg.feature_lstsq solves it from the SVD of B (condition cond(K)^{1/2}) with the
    # same rcond policy as the eigendecomposition of K in evolve.
    c, s = _features(X, k_max, d, period)
    centre = (g_flat.shape[0] - 1) // 2
    g_full = g_flat.at[centre].set(g0)
    n = X.shape[0]
    hX = (jnp.real(hc) @ c.T - jnp.imag(hc) @ s.T) * period ** (-d)
    rhs = Y - hX
    sq = jnp.sqrt(g_full)
    # Real form: ĥ = a + ib, h(X) = L^{-d}(C a − S b), so B = L^{-d} [C G^{1/2}, −S G^{1/2}] (n, 2F).
    F = g_full.shape[0]
    B = jnp.concatenate([c * sq, -s * sq], axis=1) * period ** (-d)
    if free:
        # Free constant: β absorbs the mean, the rest solves the mean-free (Helmert) projection.
        Q = _complement_basis(n, X.dtype)
        Bp, rp = Q.T @ B, Q.T @ rhs
    else:
        Bp, rp = B, rhs
    u = kernel_linalg.feature_lstsq(Bp, rp, rcond=kernel_linalg.default_rcond(n, X.dtype) if rcond is None else rcond)
    coeffs = hc + sq * (u[:F] + 1j * u[F:])
    if free:
        beta = jnp.mean(rhs - B @ u)
        coeffs = coeffs.at[centre].add(period**d * beta)
    return coeffs


def steady_state(
    x_train: ArrayLike,
    y_train: ArrayLike,
    gamma2: ArrayLike | Callable,
    *,
    f0: ArrayLike | Callable | None = None,
    period: float = 1.0,
    k_max: int | None = None,
    constant: str | float = "free",
    rcond: float | None = None,
) -> jax.Array:
    """``argmin_h Σ_{0<|k|_∞≤k_max} γ²(k/L)^{−1} |ĥ(k) − ĥ_0(k)|²`` over the least-squares fits of ``h(X) = Y``.

    For data that can be interpolated (distinct points, at least ``n`` modes) this is the
    minimum-norm interpolant ``h = f0 + K(·, X) α (+ β)`` with, for ``constant="free"``, the bordered
    system ``[K 1; 1ᵀ 0][α; β] = [Y − f0(X); 0]`` (the constant is unpenalised), and for a finite
    rate ``g0`` simply ``K α = Y − f0(X)`` with ``K`` including ``L^{−d} g0`` (penalty
    ``|ĥ(0) − ĥ_0(0)|²/g0``). In general it is the least-norm **least-squares** solution: a
    point repeated with different targets gets the average of its targets, exactly as
    ``evolve(..., t=inf)``. Computed from the SVD of the feature matrix ``L^{−d} Φ G^{1/2}``
    (:func:`fpjax._src.kernel_linalg.feature_lstsq`), stable for nearly coincident points; singular
    values with ``s² ≤ rcond · s_max²`` (the eigenvalue rule of :func:`evolve`) are dropped.
    The minimised quantity is ``L^d`` times the RKHS norm of ``h − f0`` for :func:`kernel_matrix`.

    Args:
      x_train: ``(n, d)`` or ``(n,)`` points. y_train: ``(n,)``.
      gamma2: ``γ²`` callable or grid array (:func:`gamma2_on_grid`).
      f0: the initial function (as in :func:`evolve`; default 0).
      period, k_max, constant: as in :func:`evolve`. rcond: default ``n·eps``.

    Returns:
      coefficients ``(2k_max+1,)*d`` (complex).

    Raises:
      ValueError: fewer modes with ``γ² > 0`` than points (increase ``k_max``).

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([0.2, 0.2, 0.6])  # a repeated point with conflicting targets
      >>> c = steady_state(x, jnp.array([1.0, 0.0, 2.0]), lambda xi: 1.0 / (xi[:, 0] ** 4 + 1e-9), k_max=8)
      >>> evaluate_series(c, x).round(5).tolist()
      [0.5, 0.5, 2.0]

    References:
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. 4, 1272–1292 (2022), arXiv:2010.08153.
    """
    X, Y, n, d, k_max, period, g0, g_flat, hc = _setup(x_train, y_train, gamma2, f0, period, k_max, constant)
    n_modes = (2 * k_max + 1) ** d - 1 + (1 if g0 is None or g0 > 0 else 0)
    if n_modes < n:
        raise ValueError(
            f"k_max={k_max} gives {n_modes} modes in d={d}, fewer than the n={n} points to interpolate; increase k_max"
        )
    if rcond is not None:
        rcond = check_positive(rcond, "rcond")
    coeffs = _steady_core(
        X,
        Y,
        g_flat,
        hc,
        jnp.asarray(0.0 if g0 is None else g0, X.dtype),
        k_max=k_max,
        d=d,
        period=period,
        free=g0 is None,
        rcond=rcond,
    )
    return coeffs.reshape((2 * k_max + 1,) * d)
