"""The LFP torus: frequency grids, ``γ²`` on a grid, the torus kernel, and the transforms between
functions, samples and Fourier coefficients.

Functions live on ``[0, L)^d`` with integer frequency vectors ``|k|_∞ ≤ k_max``; coefficients are
Fourier-transform normalised, ``ĥ(k) = ∫_{[0,L)^d} h(x) e^{−2πi k·x/L} dx`` (all conventions in
:mod:`fpjax._src.lfp`).

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
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src.array_types import ArrayLike
from fpjax._src.checks import (
    as_array,
    as_points,
    check_finite,
    check_memory,
    check_positive,
    check_positive_int,
    error_if,
)
from fpjax._src.lfp_rates import _float_dtype

__all__ = [
    "frequency_grid",
    "gamma2_on_grid",
    "kernel_matrix",
    "evaluate_series",
    "coefficients_from_values",
    "coefficients_from_function",
]

_as_points = as_points  # the one definition, in fpjax._src.checks


def _as_values(y: Any, name: str, n: int) -> jax.Array:
    y = as_array(y, name)
    check_finite(y, name)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, 1) (one value per point); got {tuple(y.shape)}")
    if not jnp.issubdtype(y.dtype, jnp.floating):
        y = y.astype(_float_dtype())
    return y


@functools.lru_cache(maxsize=64)
def _kgrid_np(k_max: int, d: int) -> np.ndarray:
    ax = np.arange(-k_max, k_max + 1)
    return np.stack(np.meshgrid(*([ax] * d), indexing="ij"), axis=-1)


def _grid_bytes(side: int, d: int, bytes_per_point: float) -> float:
    """Bytes of ``side**d`` points at ``bytes_per_point`` each (capped at 2**1000 so that huge grids
    still give a number to report rather than an overflow)."""
    return float(min(side**d * math.ceil(bytes_per_point), 2**1000))


def _check_grid_memory(k_max: int, d: int, bytes_per_point: float, name: str = "k_max") -> None:
    """Refuse a frequency cube of ``(2k_max+1)^d`` points whose arrays would not fit in memory."""
    side = 2 * k_max + 1
    check_memory(
        _grid_bytes(side, d, bytes_per_point), name, f"the {side}^{d} frequency cube (k_max = {k_max}, d = {d})"
    )


def frequency_grid(k_max: int, d: int) -> jax.Array:
    """Integer frequency vectors of the cube ``|k|_∞ ≤ k_max``: shape ``(2k_max+1,)*d + (d,)``.

    Entry ``[i_1, ..., i_d]`` is ``k = (i_1 − k_max, ..., i_d − k_max)``; the physical frequency is
    ``ξ = k / period``.

    Raises:
      ValueError: naming ``k_max`` when the grid would not fit in the available memory.

    Examples:
      >>> frequency_grid(1, 2).shape
      (3, 3, 2)
      >>> frequency_grid(2, 1)[:, 0].tolist()
      [-2, -1, 0, 1, 2]
    """
    k_max = check_positive_int(k_max, "k_max", minimum=0)
    d = check_positive_int(d, "d")
    # the meshgrid and the stacked grid (int64 on the host) and the device copy
    _check_grid_memory(k_max, d, 3 * 8 * d)
    return jnp.asarray(_kgrid_np(k_max, d))


def _grid_kmax(shape: tuple, d: int, name: str) -> int:
    if len(shape) < d or any(s != shape[-1] for s in shape[-d:]) or shape[-1] % 2 == 0:
        raise ValueError(f"{name} must end with {d} equal odd axes (2*k_max+1,)*{d}; got shape {tuple(shape)}")
    return (shape[-1] - 1) // 2


def gamma2_on_grid(gamma2: ArrayLike | Callable, d: int, *, k_max: int | None = None, period: float = 1.0) -> jax.Array:
    """``γ²(k/period)`` on the frequency cube, shape ``(2k_max+1,)*d``, with ``0`` at ``k = 0``.

    ``gamma2`` is a callable ``ξ (M, d) -> (M,)`` (e.g. ``lambda xi: gamma2(xi, moments, d)``,
    whose value at ``ξ = 0`` is ignored) or an array of that shape (then ``k_max`` may be omitted).
    Must be even (``γ²(k) = γ²(−k)``) and ``>= 0`` so the kernel is real and positive semi-definite.
    The constant mode is handled separately (``constant=`` of :func:`evolve`), hence the zero.

    Examples:
      >>> gamma2_on_grid(lambda xi: 1.0 / xi[:, 0] ** 2, 1, k_max=2, period=2.0).tolist()
      [1.0, 4.0, 0.0, 4.0, 1.0]

    References:
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. 4, 1272–1292 (2022), arXiv:2010.08153.
    """
    d = check_positive_int(d, "d")
    period = check_positive(period, "period")  # whatever gamma2 is: a bad period is never accepted
    if callable(gamma2):
        if k_max is None:
            raise ValueError("k_max is required when gamma2 is a callable")
        k_max = check_positive_int(k_max, "k_max", minimum=1)
        # the integer grid, ξ (M, d) as floats, γ²(ξ) and its checked copy
        _check_grid_memory(k_max, d, 8 * (3 * d + 3))
        xi = jnp.asarray((_kgrid_np(k_max, d) / period).reshape(-1, d), _float_dtype())
        g = as_array(gamma2(xi), "gamma2(xi)")
        if g.size != xi.shape[0]:
            raise ValueError(
                f"gamma2 callable must return one value per frequency ({xi.shape[0]}); got shape {tuple(g.shape)}"
            )
        g = g.reshape((2 * k_max + 1,) * d)
    else:
        g = as_array(gamma2, "gamma2")
        if g.ndim != d:
            raise ValueError(f"gamma2 array must have shape (2*k_max+1,)*{d}; got {tuple(g.shape)}")
        km = _grid_kmax(g.shape, d, "gamma2")
        if k_max is not None and check_positive_int(k_max, "k_max", minimum=1) != km:
            raise ValueError(f"gamma2 array has k_max={km} but k_max={k_max} was given")
        k_max = km
        if k_max < 1:
            raise ValueError("gamma2 array must cover at least k_max = 1")
    if not jnp.issubdtype(g.dtype, jnp.floating):
        g = g.astype(_float_dtype())
    g = _zero_centre(g, k_max, d)
    g = error_if(g, ~jnp.all(jnp.isfinite(g)), "gamma2 must be finite at every nonzero frequency of the grid")
    g = error_if(g, jnp.any(g < 0), "gamma2 must be >= 0 (a kernel spectrum)")
    flipped = g[(slice(None, None, -1),) * d]
    return error_if(
        g,
        ~jnp.allclose(g, flipped, rtol=1e-5, atol=0),
        "gamma2 must be even, gamma2(k) == gamma2(-k), for a real kernel",
    )


@functools.partial(jax.jit, static_argnums=(1, 2))
def _zero_centre(g, k_max, d):
    return g.at[(k_max,) * d].set(0.0)


def _parse_constant(constant: Any) -> float | None:
    """``None`` for a free constant mode, else the finite rate ``g0 >= 0``."""
    if isinstance(constant, str):
        if constant != "free":
            raise ValueError(f"constant must be 'free' or a number >= 0; got {constant!r}")
        return None
    return check_positive(constant, "constant", allow_zero=True)


def _features(x: jax.Array, k_max: int, d: int, period: float) -> tuple[jax.Array, jax.Array]:
    """``cos`` and ``sin`` of ``2π k·x / L`` over the flattened frequency cube: shapes ``(n, F)``."""
    k_flat = jnp.asarray(_kgrid_np(k_max, d).reshape(-1, d), x.dtype)
    # Reduce x mod L first so the phase stays accurate in float32 for large k.
    xr = jnp.mod(x, period) / period
    ph = 2.0 * jnp.pi * (xr @ k_flat.T)
    return jnp.cos(ph), jnp.sin(ph)


def _check_features_memory(n: int, k_max: int, d: int, name: str) -> None:
    """Refuse ``cos``/``sin`` features ``(n, (2k_max+1)^d)`` (and their phases) that would not fit in memory."""
    side = 2 * k_max + 1
    check_memory(_grid_bytes(side, d, 8 * 3 * max(n, 1)), name, f"the features of {n} points at {side}^{d} frequencies")


def _kernel_from_features(c1, s1, c2, s2, g_flat, scale):
    return scale * ((c1 * g_flat) @ c2.T + (s1 * g_flat) @ s2.T)


@functools.partial(jax.jit, static_argnames=("k_max", "d", "period"))
def _kernel_core(x1, x2, g_flat, g0, *, k_max, d, period):
    c1, s1 = _features(x1, k_max, d, period)
    c2, s2 = _features(x2, k_max, d, period)
    return _kernel_from_features(c1, s1, c2, s2, g_flat, period ** (-d)) + g0 * period ** (-d)


def kernel_matrix(
    x1: ArrayLike,
    x2: ArrayLike,
    gamma2: ArrayLike | Callable,
    *,
    period: float = 1.0,
    k_max: int | None = None,
    constant: str | float = "free",
) -> jax.Array:
    """Torus kernel ``K(x, x') = L^{−d} Σ_{0<|k|_∞≤k_max} γ²(k/L) cos(2π k·(x − x')/L) + L^{−d} g0``.

    ``x1 (n1, d)``, ``x2 (n2, d)`` → ``(n1, n2)``. With ``constant="free"`` the constant mode has no
    finite kernel weight and is left out (``g0 = 0``); pass a number for a finite rate.

    Examples:
      >>> import jax.numpy as jnp
      >>> g = jnp.array([1.0, 0.0, 1.0])  # γ² = 1 at k = ±1 (k_max = 1): K(x, 0) = 2 cos(2πx)
      >>> kernel_matrix(jnp.array([0.0, 1 / 3, 0.5]), jnp.array([0.0]), g).round(5).tolist()
      [[2.0], [-1.0], [-2.0]]

    References:
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. 4, 1272–1292 (2022), arXiv:2010.08153.
    """
    x1 = _as_points(x1, "x1")
    d = x1.shape[1]
    x2 = _as_points(x2, "x2", d)
    period = check_positive(period, "period")
    g0 = _parse_constant(constant)
    g = gamma2_on_grid(gamma2, d, k_max=k_max, period=period)
    k_max = _grid_kmax(g.shape, d, "gamma2")
    _check_features_memory(x1.shape[0] + x2.shape[0], k_max, d, "k_max")
    dt = jnp.result_type(x1.dtype, x2.dtype, g.dtype)
    return _kernel_core(
        x1.astype(dt),
        x2.astype(dt),
        g.reshape(-1).astype(dt),
        jnp.asarray(g0 or 0.0, dt),
        k_max=k_max,
        d=d,
        period=period,
    )


@functools.partial(jax.jit, static_argnames=("k_max", "d", "period"))
def _evaluate_core(cf, x, *, k_max, d, period):
    c, s = _features(x, k_max, d, period)
    return (jnp.real(cf).astype(c.dtype) @ c.T - jnp.imag(cf).astype(c.dtype) @ s.T) * period ** (-d)


def evaluate_series(coeffs: ArrayLike, x: ArrayLike, *, period: float = 1.0) -> jax.Array:
    """Evaluate a trigonometric series ``h(x) = Re L^{−d} Σ_k ĥ(k) e^{2πi k·x/L}`` at points ``x (n, d)``.

    Args:
      coeffs: ``(..., *(2k_max+1,)*d)`` complex coefficients (FT-normalised, see the module doc).
      x: ``(n, d)`` or ``(n,)`` in 1-D.
      period: the torus period ``L``.

    Returns:
      ``(..., n)`` real values.

    Examples:
      >>> import jax.numpy as jnp
      >>> c = jnp.zeros(3, complex).at[1].set(1.0)  # k_max = 1, only the constant ĥ(0) = 1
      >>> evaluate_series(c, jnp.array([0.1, 0.7])).tolist()
      [1.0, 1.0]
    """
    x = _as_points(x, "x")
    d = x.shape[1]
    period = check_positive(period, "period")
    coeffs = as_array(coeffs, "coeffs")
    k_max = _grid_kmax(coeffs.shape, d, "coeffs")
    _check_features_memory(x.shape[0], k_max, d, "coeffs")
    batch = coeffs.shape[: coeffs.ndim - d]
    x = x.astype(jnp.result_type(x.dtype, jnp.real(coeffs).dtype))
    return _evaluate_core(coeffs.reshape(batch + (-1,)), x, k_max=k_max, d=d, period=period)


@functools.partial(jax.jit, static_argnames=("k_max", "d", "period"))
def _coeffs_from_values_core(values, *, k_max, d, period):
    N = values.shape[-1]
    axes = tuple(range(values.ndim - d, values.ndim))
    F = jnp.fft.fftn(values, axes=axes) * (period / N) ** d
    idx = jnp.asarray(np.arange(-k_max, k_max + 1) % N)
    for ax in axes:
        F = jnp.take(F, idx, axis=ax)
    return F


def coefficients_from_values(values: ArrayLike, k_max: int, *, period: float = 1.0, d: int | None = None) -> jax.Array:
    """Coefficients ``ĥ(k) ≈ (L/N)^d Σ_j h(x_j) e^{−2πi k·x_j/L}`` from samples on the grid ``x_j = jL/N``.

    ``values`` has shape ``(..., N, ..., N)`` with ``d`` trailing grid axes (default: all trailing
    axes of length ``N``). Exact for trigonometric polynomials of degree ``< N − k_max``;
    needs ``N ≥ 2k_max + 1``. Returns ``(..., *(2k_max+1,)*d)``.

    Examples:
      >>> import numpy as np
      >>> x = np.arange(8) / 8
      >>> c = coefficients_from_values(np.cos(2 * np.pi * x), 2)  # ĥ(±1) = 1/2 on the unit period
      >>> (np.round(np.abs(np.asarray(c)), 6) + 0.0).tolist()
      [0.0, 0.5, 0.0, 0.5, 0.0]
    """
    k_max = check_positive_int(k_max, "k_max", minimum=0)
    period = check_positive(period, "period")
    values = as_array(values, "values")
    check_finite(values, "values")
    if values.ndim == 0:
        raise ValueError("values must have at least one grid axis")
    N = values.shape[-1]
    if d is None:
        d = 0
        for s in reversed(values.shape):
            if s != N:
                break
            d += 1
    else:
        d = check_positive_int(d, "d")
        if values.ndim < d or any(s != N for s in values.shape[-d:]):
            raise ValueError(f"values must end with {d} axes of equal length N; got {tuple(values.shape)}")
    if N < 2 * k_max + 1:
        raise ValueError(f"values need N >= 2*k_max+1 = {2 * k_max + 1} samples per axis; got N = {N}")
    if not jnp.issubdtype(values.dtype, jnp.inexact):
        values = values.astype(_float_dtype())
    return _coeffs_from_values_core(values, k_max=k_max, d=d, period=period)


def coefficients_from_function(
    fn: Callable, k_max: int, d: int, *, period: float = 1.0, n_grid: int | None = None
) -> jax.Array:
    """Project ``fn`` (points ``(M, d) -> (M,)``) on the degree-``k_max`` trigonometric polynomials.

    Samples ``fn`` on the uniform grid of ``n_grid`` points per axis (default ``4 k_max + 4``) and
    applies :func:`coefficients_from_values`. Returns ``(2k_max+1,)*d`` complex coefficients.
    A grid whose samples would not fit in the available memory is refused (``ValueError`` naming
    ``n_grid``, or ``k_max`` when ``n_grid`` is the default) before anything is allocated.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> c = np.asarray(coefficients_from_function(lambda x: 3.0 + jnp.sin(2 * jnp.pi * x[:, 0]), 1, 1))
      >>> (np.round(c.real, 6) + 0.0).tolist(), (np.round(c.imag, 6) + 0.0).tolist()
      ([0.0, 3.0, 0.0], [0.5, 0.0, -0.5])
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}")
    k_max = check_positive_int(k_max, "k_max", minimum=0)
    d = check_positive_int(d, "d")
    period = check_positive(period, "period")
    N = 4 * k_max + 4 if n_grid is None else check_positive_int(n_grid, "n_grid")
    # the sample points (N^d, d) twice (host and device), the values and their complex FFT
    check_memory(
        _grid_bytes(N, d, 8 * (2 * d + 1) + 2 * 16),
        "k_max" if n_grid is None else "n_grid",
        f"sampling fn on {N}^{d} grid points (d = {d})",
    )
    ax = np.arange(N) * (period / N)
    pts = np.stack(np.meshgrid(*([ax] * d), indexing="ij"), axis=-1).reshape(-1, d)
    vals = as_array(fn(jnp.asarray(pts, _float_dtype())), "fn(x)").reshape((N,) * d)
    return coefficients_from_values(vals, k_max, period=period, d=d)
