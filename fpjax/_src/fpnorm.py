"""FP-norm, minimum-FP-norm interpolation and the a-priori generalization bound.

On ``Ω = [0, 1]^d`` (period 1, integer frequencies ``k``) with Fourier-series coefficients
``ĥ(k) = ∫_Ω h(x) e^{−2πi k·x} dx``:

* FP-norm ``‖h‖_γ = (Σ_{k ∈ ℤ^d∖0} γ(k)^{−2} |ĥ(k)|²)^{1/2}``; FP-space ``F_γ = {h : ‖h‖_γ < ∞}``.
  The sum leaves out ``k = 0``, so ``‖·‖_γ`` does not see constants.
* ``h_n = argmin ‖h‖_γ s.t. h(X) = Y`` over the frequencies ``0 < |k|_∞ ≤ k_max``, **constant mode
  free** (default; it is not in the norm) -- the kernel interpolant of :func:`fpjax.theory.lfp.steady_state`
  with ``f0 = 0`` and period 1. ``constant=g0`` penalises it by ``|ĥ(0)|²/g0`` instead.
* Theorem (Luo, Ma, Xu, Zhang 2022): for ``f ∈ F_γ`` and ``n`` i.i.d. uniform samples, with
  probability at least ``1 − δ``,
  ``L(h_n) ≤ (‖f‖_∞ + 2‖f‖_γ‖γ‖_{ℓ²}) (2/√n + 4√(2 log(4/δ)/n))``, ``L(h) = E_x |h(x) − f(x)|``,
  ``‖γ‖_{ℓ²} = (Σ_{k≠0} γ(k)²)^{1/2}``.
  Why a free constant fits it: ``‖h_n‖_γ ≤ ‖f‖_γ`` (``f`` is feasible) and Cauchy-Schwarz give
  ``|h_n(x) − h_n(x')| ≤ 2‖h_n‖_γ‖γ‖_{ℓ²}``; with ``h_n(x_1) = f(x_1)`` this is
  ``sup|h_n| ≤ ‖f‖_∞ + 2‖f‖_γ‖γ‖_{ℓ²}`` -- the prefactor of the bound. Truncating the frequencies
  keeps both steps (when ``f``'s frequencies are within ``k_max``), so the bound holds for the
  truncated interpolant as well.

Evaluate coefficients at points with :func:`evaluate_series` (the same function as
:func:`fpjax.theory.lfp.evaluate_series`, period 1 here) or on a grid with :func:`evaluate_on_grid`.

References:
  Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle in
  two-layer neural networks", arXiv:1905.10264.
  T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
  dynamics and its generalization", SIAM J. Math. Data Sci. (2022), arXiv:2010.08153.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src import lfp as _lfp
from fpjax._src.array_types import ArrayLike
from fpjax._src.checks import (
    as_array,
    check_finite,
    check_key,
    check_memory,
    check_no_complex,
    check_positive_int,
    error_if,
    is_concrete,
)

__all__ = [
    "fp_norm",
    "min_fp_interpolant",
    "apriori_bound",
    "AprioriBound",
    "l1_error",
    "gamma_l2_norm",
    "evaluate_series",
    "evaluate_on_grid",
    "L1_METHODS",
]

L1_METHODS = ("grid", "monte_carlo")

evaluate_series = _lfp.evaluate_series


def fp_norm(coeffs: ArrayLike, gamma2: ArrayLike | Callable, *, d: int | None = None) -> jax.Array:
    """``‖h‖_γ = (Σ_{k≠0, |k|_∞≤k_max} |ĥ(k)|² / γ²(k))^{1/2}`` on ``[0,1]^d``.

    Args:
      coeffs: ``(..., *(2k_max+1,)*d)`` Fourier coefficients.
      gamma2: ``γ²`` on the same grid (array ``(2k_max+1,)*d``, then ``d = gamma2.ndim``) or a
        callable ``k (M, d) -> (M,)`` (then ``d`` is the ``d`` argument, default 1).
        A frequency with ``γ² = 0`` and nonzero ``ĥ`` has infinite norm (``inf`` is returned).
      d: input dimension for a callable ``gamma2``.

    Returns ``(...)``.

    Examples:
      ``cos(2πx)`` has ``ĥ(±1) = 1/2`` and ``cos(4πx)`` has ``ĥ(±2) = 1/2``; with ``γ²(k) = k^{−2}``
      their norms are ``(2 · 1/4)^{1/2} = 0.7071`` and ``(2 · 4 · 1/4)^{1/2} = √2``:

      >>> import jax.numpy as jnp
      >>> coeffs = jnp.array([[0, 0.5, 0, 0.5, 0], [0.5, 0, 0, 0, 0.5]])  # k = -2..2
      >>> [round(v, 4) for v in fp_norm(coeffs, lambda k: 1.0 / k[:, 0] ** 2).tolist()]
      [0.7071, 1.4142]
      >>> [round(v, 4) for v in fp_norm(coeffs, jnp.array([0.25, 1.0, 0.0, 1.0, 0.25])).tolist()]
      [0.7071, 1.4142]

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle
      in two-layer neural networks", arXiv:1905.10264.
    """
    coeffs = as_array(coeffs, "coeffs")
    check_finite(coeffs, "coeffs")
    if callable(gamma2):
        d = 1 if d is None else check_positive_int(d, "d")
        km = _lfp._grid_kmax(coeffs.shape, d, "coeffs")
        g = _lfp.gamma2_on_grid(gamma2, d, k_max=km)
    else:
        g = as_array(gamma2, "gamma2")
        check_no_complex(g, "gamma2")
        if d is not None and check_positive_int(d, "d") != g.ndim:
            raise ValueError(f"gamma2 array has {g.ndim} axes but d={d}")
        d = g.ndim
        if d == 0:
            raise ValueError("gamma2 must be an array of shape (2*k_max+1,)*d or a callable")
        km = _lfp._grid_kmax(coeffs.shape, d, "coeffs")
        g = _lfp.gamma2_on_grid(g, d, k_max=km)
    dt = jnp.result_type(jnp.real(coeffs).dtype, g.dtype)
    g = g.astype(dt)
    p = jnp.abs(coeffs).astype(dt) ** 2
    nonzero = jnp.ones(g.shape, bool).at[(km,) * d].set(False)
    safe = jnp.where(g > 0, g, 1.0)
    terms = jnp.where(nonzero, jnp.where(g > 0, p / safe, jnp.where(p > 0, jnp.inf, 0.0)), 0.0)
    axes = tuple(range(coeffs.ndim - d, coeffs.ndim))
    return jnp.sqrt(jnp.sum(terms, axis=axes))


def min_fp_interpolant(
    x_train: ArrayLike,
    y_train: ArrayLike,
    gamma2: ArrayLike | Callable,
    k_max: int | None = None,
    *,
    constant: str | float = "free",
) -> jax.Array:
    """``argmin ‖h‖_γ s.t. h(X) = Y`` over ``0 < |k|_∞ ≤ k_max`` (+ the constant), on ``[0,1]^d``.

    Closed form ``h = K(·,X)α + β``, ``[K 1; 1ᵀ 0][α; β] = [Y; 0]`` with
    ``K(x,x') = Σ_{k≠0} γ²(k) cos(2πk·(x−x'))`` (least-norm least squares when the data conflict:
    :func:`fpjax.theory.lfp.steady_state` with period 1). jit/vmap friendly.

    Args:
      x_train: ``(n, d)`` or ``(n,)`` in ``[0,1)^d`` (read mod 1). y_train: ``(n,)``.
      gamma2: a callable ``k (M, d) -> (M,)`` or a grid array ``(2k_max+1,)*d``.
      k_max: frequencies per sign (needed with a callable).
      constant: ``"free"`` (default; the norm leaves ``k = 0`` out) or a finite rate ``g0``.

    Returns:
      coefficients ``(2k_max+1,)*d`` (complex).

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([0.1, 0.5, 0.8])
      >>> c = min_fp_interpolant(x, jnp.array([1.0, -1.0, 0.0]), lambda k: 1.0 / jnp.abs(k[:, 0]) ** 4, 8)
      >>> (evaluate_series(c, x).round(5) + 0.0).tolist()
      [1.0, -1.0, 0.0]

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle
      in two-layer neural networks", arXiv:1905.10264.
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. (2022), arXiv:2010.08153.
    """
    return _lfp.steady_state(x_train, y_train, gamma2, period=1.0, k_max=k_max, constant=constant)


def gamma_l2_norm(gamma2: ArrayLike | Callable, d: int, k_max: int | None = None) -> jax.Array:
    """``(Σ_{0<|k|_∞≤k_max} γ²(k))^{1/2}``: the truncated ``‖γ‖_{ℓ²}`` (a lower bound of the full one).

    Closed forms of the full norm for common choices: ``γ² = |k|^{−4}`` in 1-D gives
    ``‖γ‖²_{ℓ²} = 2ζ(4) = π⁴/45``; ``|k|^{−2}`` gives ``2ζ(2) = π²/3``.

    Args:
      gamma2: a callable ``k (M, d) -> (M,)`` or a grid array ``(2k_max+1,)*d``.
      d: input dimension. k_max: frequencies per sign (needed with a callable).

    Returns:
      0-d array.

    Examples:
      >>> import math
      >>> import jax.numpy as jnp
      >>> round(float(gamma_l2_norm(lambda k: 1.0 / jnp.abs(k[:, 0]) ** 4, 1, k_max=1000)), 4)
      1.4713
      >>> round(math.pi**2 / math.sqrt(45), 4)  # (π⁴/45)^{1/2}
      1.4713
      >>> round(float(gamma_l2_norm(jnp.ones((3, 3)), 2)), 4)  # 8 frequencies k ≠ 0 with γ² = 1: √8
      2.8284

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle
      in two-layer neural networks", arXiv:1905.10264.
    """
    d = check_positive_int(d, "d")
    g = _lfp.gamma2_on_grid(gamma2, d, k_max=k_max)
    return jnp.sqrt(jnp.sum(g))


class AprioriBound(NamedTuple):
    """The terms of :func:`apriori_bound` (arrays, broadcast over the inputs).

    Attributes:
      bound: ``prefactor · rate``.
      prefactor: ``‖f‖_∞ + 2‖f‖_γ‖γ‖_{ℓ²}``.
      complexity_term: ``2/√n``.
      confidence_term: ``4√(2 log(4/δ)/n)``.
      rate: ``complexity_term + confidence_term``.
      f_sup, f_gamma_norm, gamma_l2, n, delta: the inputs.

    Examples:
      Four times the samples halve the rate (both terms are ``∝ n^{−1/2}``):

      >>> import jax.numpy as jnp
      >>> b = apriori_bound(1.0, 1.0, 0.5, jnp.array([100, 400]), 0.1)
      >>> float(b.prefactor), float(b.rate[0] / b.rate[1])
      (2.0, 2.0)
      >>> [round(v, 3) for v in b.bound.tolist()]
      [2.573, 1.286]

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle
      in two-layer neural networks", arXiv:1905.10264.
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. (2022), arXiv:2010.08153.
    """

    bound: jax.Array
    prefactor: jax.Array
    complexity_term: jax.Array
    confidence_term: jax.Array
    rate: jax.Array
    f_sup: jax.Array
    f_gamma_norm: jax.Array
    gamma_l2: jax.Array
    n: jax.Array
    delta: jax.Array


def apriori_bound(
    f_sup: ArrayLike, f_gamma_norm: ArrayLike, gamma_l2: ArrayLike, n: ArrayLike, delta: ArrayLike
) -> AprioriBound:
    """A-priori bound ``(‖f‖_∞ + 2‖f‖_γ‖γ‖_{ℓ²}) (2/√n + 4√(2 log(4/δ)/n))`` with every term.

    Args:
      f_sup: ``‖f‖_∞``. f_gamma_norm: ``‖f‖_γ``. gamma_l2: ``‖γ‖_{ℓ²}``. n: number of samples.
      delta: failure probability in ``(0, 1)``. All broadcast (e.g. an array of ``n``).

    Returns:
      :class:`AprioriBound`.

    Examples:
      >>> b = apriori_bound(1.0, 1.0, 0.5, 100, 0.1)
      >>> round(float(b.prefactor), 3), round(float(b.complexity_term), 3)
      (2.0, 0.2)

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle
      in two-layer neural networks", arXiv:1905.10264.
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. (2022), arXiv:2010.08153.
    """
    vals = {}
    for name, v in (
        ("f_sup", f_sup),
        ("f_gamma_norm", f_gamma_norm),
        ("gamma_l2", gamma_l2),
        ("n", n),
        ("delta", delta),
    ):
        a = as_array(v, name)
        check_no_complex(a, name)
        check_finite(a, name)
        a = a.astype(jnp.result_type(a.dtype, float))
        got = f"; got {v!r}" if is_concrete(a) else ""
        if name == "n":
            a = error_if(a, ~(a >= 1), f"n must be >= 1 (number of samples){got}")
        elif name == "delta":
            a = error_if(a, ~((a > 0) & (a < 1)), f"delta must be in (0, 1){got}")
        else:
            a = error_if(a, ~(a >= 0), f"{name} must be >= 0 (a norm){got}")
        vals[name] = a
    nn, dl = vals["n"], vals["delta"]
    prefactor = vals["f_sup"] + 2.0 * vals["f_gamma_norm"] * vals["gamma_l2"]
    complexity = 2.0 / jnp.sqrt(nn)
    confidence = 4.0 * jnp.sqrt(2.0 * jnp.log(4.0 / dl) / nn)
    rate = complexity + confidence
    return AprioriBound(
        bound=prefactor * rate,
        prefactor=prefactor,
        complexity_term=complexity,
        confidence_term=confidence,
        rate=rate,
        **vals,
    )


def evaluate_on_grid(coeffs: ArrayLike, n_grid: int, d: int = 1) -> jax.Array:
    """``h`` on the uniform grid ``x_j = j/n_grid`` of ``[0,1)^d`` by inverse FFT: ``(..., *(n_grid,)*d)``.

    ``h(x_j) = Σ_{|k|_∞≤k_max} ĥ(k) e^{2πi k·x_j}`` (the real part).
    Needs ``n_grid ≥ 2k_max + 1`` (no aliasing of the trigonometric polynomial).

    Args:
      coeffs: ``(..., *(2k_max+1,)*d)`` Fourier coefficients (``k = −k_max..k_max`` per axis).
      n_grid: grid points per axis. d: input dimension.

    Examples:
      >>> import jax.numpy as jnp
      >>> c = jnp.array([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])  # cos(2πx) and the constant 1
      >>> (evaluate_on_grid(c, 4).round(6) + 0.0).tolist()  # x = 0, 1/4, 1/2, 3/4
      [[1.0, 0.0, -1.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    """
    coeffs = as_array(coeffs, "coeffs")
    d = check_positive_int(d, "d")
    N = check_positive_int(n_grid, "n_grid")
    km = _lfp._grid_kmax(coeffs.shape, d, "coeffs")
    if N < 2 * km + 1:
        raise ValueError(f"n_grid must be >= 2*k_max+1 = {2 * km + 1}; got {N}")
    cdt = jnp.result_type(coeffs.dtype, jnp.complex64)
    batch = coeffs.shape[: coeffs.ndim - d]
    # the zero-padded complex grid, its inverse FFT and the real part
    check_memory(3.0 * np.dtype(cdt).itemsize * math.prod(batch) * float(N) ** d, "n_grid", f"a grid of {N}^{d} points")
    full = jnp.zeros(batch + (N,) * d, cdt)
    idx = jnp.arange(-km, km + 1) % N
    full = full.at[(Ellipsis,) + jnp.ix_(*([idx] * d))].set(coeffs.astype(cdt))
    axes = tuple(range(len(batch), len(batch) + d))
    return jnp.real(jnp.fft.ifftn(full, axes=axes)) * N**d


def _values(h: Any, name: str, d: int, n_grid: int, pts: jax.Array | None) -> jax.Array:
    if callable(h):
        v = as_array(h(pts), f"{name}(x)")
        return v.reshape(-1)
    h = as_array(h, name)
    if pts is None:
        return evaluate_on_grid(h, n_grid, d).reshape(-1)
    return evaluate_series(h, pts).reshape(-1)


def l1_error(
    h: ArrayLike | Callable,
    f: ArrayLike | Callable,
    *,
    d: int = 1,
    method: str = "grid",
    n_grid: int = 4096,
    key: jax.Array | None = None,
    n_samples: int = 100_000,
) -> jax.Array:
    """``L(h) = E_{x~U[0,1]^d} |h(x) − f(x)|``.

    ``method="grid"`` (default): the periodic rectangle rule on ``x_j = j/n_grid`` per axis
    (``n_grid^d`` points; for periodic ``|h − f|``, smooth except for kinks where ``h = f``, its error
    is ``≈ (Δ²/12) Σ_j |J_j|`` in 1-D, ``Δ = 1/n_grid``, ``J_j`` the derivative jumps at the kinks --
    Euler-Maclaurin per smooth piece). ``method="monte_carlo"``: the mean over ``n_samples`` uniform
    points drawn with ``key`` (required then; standard error ``≈ std|h − f| / √n_samples``).

    Args:
      h, f: callables ``x (M, d) -> (M,)`` or coefficient grids ``(2k_max+1,)*d``.
      d: input dimension. method: ``"grid"`` or ``"monte_carlo"``.
      n_grid: grid points per axis (``"grid"``). key: PRNG key (``"monte_carlo"`` only).
      n_samples: Monte Carlo points.

    Returns:
      0-d array.

    Examples:
      >>> import jax.numpy as jnp
      >>> zero = lambda x: jnp.zeros(x.shape[0])
      >>> round(float(l1_error(zero, lambda x: jnp.cos(2 * jnp.pi * x[:, 0]), n_grid=1024)), 4)  # 2/π
      0.6366
    """
    d = check_positive_int(d, "d")
    if method not in L1_METHODS:
        raise ValueError(f"method must be one of {L1_METHODS}; got {method!r}")
    if method == "grid" and key is not None:
        raise ValueError("key is only used by method='monte_carlo'; the grid rule is deterministic")
    if method == "monte_carlo" and key is None:
        raise ValueError("method='monte_carlo' needs key (a PRNG key for the sample points)")
    if method == "grid":
        N = check_positive_int(n_grid, "n_grid")
        # points (d floats each), both functions' values and their difference, in float64 at most
        check_memory(8.0 * (d + 4) * float(N) ** d, "n_grid", f"the rectangle rule on {N}^{d} points")
        if callable(h) or callable(f):
            ax = jnp.arange(N) / N
            pts = jnp.stack(jnp.meshgrid(*([ax] * d), indexing="ij"), axis=-1).reshape(-1, d)
        else:
            pts = None
        hv = _values(h, "h", d, N, pts)
        fv = _values(f, "f", d, N, pts)
    else:
        check_key(key)
        M = check_positive_int(n_samples, "n_samples")
        check_memory(8.0 * (d + 4) * M, "n_samples", f"{M} Monte Carlo points in d = {d}")
        pts = jax.random.uniform(key, (M, d))
        hv = _values(h, "h", d, 0, pts)
        fv = _values(f, "f", d, 0, pts)
    if hv.shape != fv.shape:
        raise ValueError(f"h and f gave different numbers of values: {hv.shape} vs {fv.shape}")
    return jnp.mean(jnp.abs(hv - fv))
