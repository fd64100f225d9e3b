"""Measuring frequencies: grid FFTs in continuous-transform units, Fourier-series coefficients at
physical frequencies, the projected NUDFT, the per-frequency relative error and the Gaussian
filtering method of the frequency principle (Xu et al., arXiv:1901.06523; Xu, Zhang & Luo,
arXiv:1807.01251).

Conventions
-----------
* Fourier transform ``f̂(ξ) = ∫ f(x) exp(-2πi ξ·x) dx``; frequencies in cycles per unit of ``x``.
* A function sampled on the uniform grid ``x_j = a + jΔ`` (``j < N``) over the box ``[a, a + NΔ)`` has
  ``f̂(ξ_k) ≈ Δ Σ_j f(x_j) exp(-2πi ξ_k x_j)`` with ``ξ_k = k/(NΔ)``: an FFT times ``Δ`` times the
  origin phase ``exp(-2πi ξ_k a)``. Values outside the box count as zero. Same per axis in n-D.
* Scattered data use the NUDFT ``ŷ(k) = (1/n) Σ_i y_i exp(-2πi k·x_i)`` (note ``1/n``, not ``Δ``).
* A grid holding one period ``[a, a + L)`` of a periodic function (``x_j = a + jL/N``, endpoint
  excluded, e.g. ``linspace(a, a + L, N, endpoint=False)``) has Fourier-series coefficients
  ``c(ξ) = (1/N) Σ_j f(x_j) exp(-2πi ξ x_j)`` at the frequencies ``ξ = m/L`` (``m`` whole cycles per
  period): :func:`fourier_coeffs`, :func:`peak_relative_error`, :func:`periodic_amplitudes`. These
  refuse a grid that includes the period's endpoint and frequencies that are not multiples of ``1/L``.

Kernel-spectrum and input-gradient tools live in :mod:`fpjax._src.spectrum_kernels`, plots in
:mod:`fpjax._src.spectrum_plots`.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src.array_types import ArrayLike, DTypeLike
from fpjax._src.checks import (
    as_array,
    as_points,
    check_finite,
    check_memory,
    check_ndim,
    check_no_complex,
    check_positive,
    check_positive_int,
    error_if,
    host_real_array,
    is_concrete,
    renamed_keyword,
    safe_ratio,
)

__all__ = [
    "Amplitudes",
    "FilterDecomposition",
    "FilterErrors",
    "GridSpectrum",
    "coeffs_at",
    "filter_decompose",
    "filter_errors",
    "fourier_coeffs",
    "grid_fft",
    "nudft",
    "peak_relative_error",
    "periodic_amplitudes",
    "principal_direction",
    "relative_error",
    "window_weights",
]


class GridSpectrum(NamedTuple):
    """Result of :func:`grid_fft`.

    Attributes:
      freqs: ``(N,)`` frequencies in cycles per unit of ``x`` (a tuple of d such arrays for a d-D grid).
      coeffs: complex transform values with the shape of ``values``.

    Examples:
      >>> import numpy as np
      >>> x = np.arange(8) / 8                              # one period, Δ = 1/8
      >>> spec = grid_fft(np.cos(2 * np.pi * 2 * x), x)
      >>> spec.freqs.tolist()
      [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
      >>> np.round(np.abs(np.asarray(spec.coeffs)), 4).tolist()   # ½ at ξ = ±2
      [0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.5, 0.0]
    """

    freqs: Any
    coeffs: jax.Array


class Amplitudes(NamedTuple):
    """Result of :func:`periodic_amplitudes`.

    Attributes:
      k: int ``(K,)`` cycles per period of each amplitude (frequency ``k / L``).
      amps: real ``(..., K)`` one-sided amplitudes ``|c_k|``.

    Examples:
      >>> import numpy as np
      >>> x = np.arange(8) / 8
      >>> amp = periodic_amplitudes(0.5 + np.cos(2 * np.pi * 2 * x), x)
      >>> amp.k.tolist(), np.round(np.asarray(amp.amps), 4).tolist()
      ([0, 1, 2, 3, 4], [0.5, 0.0, 0.5, 0.0, 0.0])
    """

    k: jax.Array
    amps: jax.Array


class FilterDecomposition(NamedTuple):
    """Result of :func:`filter_decompose`: ``y = y_low + y_high``.

    Attributes:
      y_low: ``G_δ * y``, the Gaussian-smoothed values, with the shape of ``y`` (``(m, *y.shape)``
        for ``m`` deltas).
      y_high: ``y − y_low``, the same shape.

    Examples:
      >>> import numpy as np
      >>> x = np.linspace(0, 1, 40)[:, None]
      >>> y = np.sin(2 * np.pi * x[:, 0]) + 0.2 * np.sin(2 * np.pi * 8 * x[:, 0])
      >>> dec = filter_decompose(x, y, 0.01)
      >>> dec.y_low.shape, dec.y_high.shape, bool(np.allclose(dec.y_low + dec.y_high, y, atol=1e-6))
      ((40,), (40,), True)
      >>> filter_decompose(x, y, [0.001, 0.01]).y_low.shape     # one row per δ
      (2, 40)
    """

    y_low: jax.Array
    y_high: jax.Array


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


def _float_dtype(arr: jax.Array):
    """The real floating dtype matching ``arr`` (ints and bools go to the default float)."""
    if jnp.issubdtype(arr.dtype, jnp.complexfloating):
        return jnp.finfo(arr.dtype).dtype
    if jnp.issubdtype(arr.dtype, jnp.floating):
        return arr.dtype
    return jnp.asarray(0.0).dtype


def _to_inexact(arr: jax.Array) -> jax.Array:
    if jnp.issubdtype(arr.dtype, jnp.inexact):
        return arr
    return arr.astype(_float_dtype(arr))


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
    """Matrix product at full precision: on GPUs XLA would otherwise use TF32 (10-bit mantissa)
    for float32, which ruins |a|² + |b|² − 2a·b distances and spectra compared with theory."""
    return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


def _check_axis(axis: Any, name: str) -> tuple[Any, Any, int]:
    """Validate one uniform grid axis; return ``(a, Δ, N)`` (Python floats when concrete)."""
    # A NumPy grid stays on the host (concrete even inside jit, where jnp.asarray may trace it).
    arr = axis if isinstance(axis, np.ndarray) and axis.dtype.kind in "fiu" else as_array(axis, name)
    check_no_complex(arr, name)
    check_ndim(arr, name, 1, shape_hint="(a 1-D array of grid points)")
    n = arr.shape[0]
    if n < 2:
        raise ValueError(f"{name} must have at least 2 points to define a spacing; got {n}")
    if not is_concrete(arr):
        return _check_traced_axis(arr, name, n)
    check_finite(arr, name)
    # Read a host (NumPy/list) grid at its own precision: a float64 NumPy grid stays float64 even when
    # JAX runs in float32 (the phases are built in float64 from a and Δ).
    host = np.asarray(arr) if isinstance(axis, jax.Array) else np.asarray(axis)
    if host.dtype.kind not in "fiu":
        host = np.asarray(arr)
    grid_dtype = host.dtype if host.dtype.kind == "f" else np.dtype(_float_dtype(arr))
    pts = host.astype(np.float64)
    diffs = np.diff(pts)
    delta = (pts[-1] - pts[0]) / (n - 1)
    if not delta > 0:
        raise ValueError(
            f"{name} must be strictly increasing (uniform spacing Δ > 0); "
            f"got first point {pts[0]!r} and last point {pts[-1]!r}"
        )
    # Each stored point is off by at most half an ulp of max|x| in its own dtype, so a truly
    # uniform grid has |diff - Δ| <= 2 ulp(max|x|) = 2 eps max|x|; allow 8 eps max|x| plus a tiny
    # relative slack. Anything beyond is a non-uniform grid, which the FFT would silently misread.
    eps = float(np.finfo(grid_dtype).eps)
    tol = 8 * eps * float(np.max(np.abs(pts))) + 1e-9 * delta
    worst = float(np.max(np.abs(diffs - delta)))
    if worst > tol:
        j = int(np.argmax(np.abs(diffs - delta)))
        raise ValueError(
            f"{name} must be a uniform grid: spacing x[{j + 1}] - x[{j}] = {diffs[j]!r} "
            f"differs from the mean spacing {delta!r} by {worst:.3g} (> tolerance {tol:.3g}); "
            f"use nudft for scattered points"
        )
    # The transform places point j at a + jΔ; a point stored ``dev`` away shifts the phase at the
    # Nyquist frequency 1/(2Δ) by π·dev/Δ. Where the dtype cannot resolve the spacing (e.g. float32
    # points near 1e6 spaced 0.01 apart: ulp 0.0625) the diffs pass the rounding test above but the
    # grid is not uniform at all; refuse any point more than Δ/100 (a Nyquist phase error of 0.03 rad).
    dev = float(np.max(np.abs(pts - (pts[0] + delta * np.arange(n)))))
    if dev > 1e-2 * delta:
        raise ValueError(
            f"{name} is not a uniform grid in {grid_dtype.name}: its points deviate "
            f"from a + jΔ (Δ = {delta:.6g}) by up to {dev:.3g} > Δ/100, since the dtype resolves only "
            f"about {eps * float(np.max(np.abs(pts))):.3g} at |x| = {float(np.max(np.abs(pts))):.6g}; "
            f"use float64 points or a grid centred nearer 0"
        )
    return float(pts[0]), float(delta), n


def _check_traced_axis(arr: jax.Array, name: str, n: int) -> tuple[jax.Array, jax.Array, int]:
    """The checks of :func:`_check_axis` on a traced grid, failing the compiled program (``error_if``)
    where the eager call raises: finite, increasing, uniform within the same rounding tolerance."""
    arr = _to_inexact(arr)
    if jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    a, delta = arr[0], (arr[-1] - arr[0]) / (n - 1)
    scale = jnp.max(jnp.abs(arr))
    eps = jnp.finfo(arr.dtype).eps
    worst = jnp.max(jnp.abs(jnp.diff(arr) - delta))
    dev = jnp.max(jnp.abs(arr - (a + delta * jnp.arange(n, dtype=arr.dtype))))
    bad = ~jnp.all(jnp.isfinite(arr)) | ~(delta > 0) | (worst > 8 * eps * scale + 1e-9 * delta) | (dev > 1e-2 * delta)
    msg = f"{name} must be a uniform grid: finite, strictly increasing, equally spaced (checked inside jit); use nudft for scattered points"
    return error_if(a, bad, msg), error_if(delta, bad, msg), n


def _normalize_grid(x_grid: Any) -> tuple[list, bool]:
    """Return the list of axes and whether the caller passed a single 1-D array (not a tuple)."""
    if isinstance(x_grid, (tuple, list)):
        if len(x_grid) == 0:
            raise ValueError(
                f"x_grid must be a 1-D array or a non-empty tuple of 1-D axes; got an empty {type(x_grid).__name__}"
            )
        # A list of plain numbers is a single 1-D axis, a sequence of arrays is one axis per dimension.
        if all(np.ndim(ax) == 0 for ax in x_grid):
            return [x_grid], True
        return list(x_grid), False
    return [x_grid], True


def window_weights(n: int, window: str | tuple[str, float] | None = None, dtype: DTypeLike | None = None) -> jax.Array:
    """The 1-D taper of length ``n`` applied per axis by :func:`grid_fft` (all ones for ``None``).

    ``window`` is ``None``, ``"tukey"`` (α = 0.25), ``("tukey", α)`` with 0 ≤ α ≤ 1, or ``"hann"``
    (= Tukey with α = 1). The symmetric Tukey window on ``t = j/(n-1)`` is 1 for
    ``α/2 ≤ t ≤ 1 - α/2`` and ``(1 - cos(2πt/α))/2`` on the two tapers of width ``α/2``.

    Examples:
      >>> window_weights(5, "hann").tolist()
      [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    n = check_positive_int(n, "n")
    check_memory(8.0 * 4 * n, "n", f"a taper of {n} points")
    if window is None:
        return jnp.ones((n,), dtype=dtype)
    name, param = (window, None) if isinstance(window, str) else (None, None)
    if isinstance(window, (tuple, list)) and len(window) == 2 and isinstance(window[0], str):
        name, param = window
    if name not in ("tukey", "hann"):
        raise ValueError(f"unknown window {window!r}; expected None, 'tukey', ('tukey', alpha) or 'hann'")
    alpha = (
        1.0 if name == "hann" else (0.25 if param is None else check_positive(param, "window alpha", allow_zero=True))
    )
    if alpha > 1:
        raise ValueError(f"window alpha must be in [0, 1]; got {alpha!r}")
    if alpha == 0 or n == 1:
        return jnp.ones((n,), dtype=dtype)
    t = np.arange(n) / (n - 1)
    w = np.ones(n)
    lo, hi = t < alpha / 2, t > 1 - alpha / 2
    w[lo] = 0.5 * (1 - np.cos(2 * np.pi * t[lo] / alpha))
    w[hi] = 0.5 * (1 - np.cos(2 * np.pi * (1 - t[hi]) / alpha))
    return jnp.asarray(w, dtype=dtype)


# ----------------------------------------------------------------------------------------------
# grid transforms
# ----------------------------------------------------------------------------------------------


def grid_fft(values: ArrayLike, x_grid: ArrayLike, *, window: str | tuple[str, float] | None = None) -> GridSpectrum:
    """Continuous Fourier transform of samples on a uniform grid, centred frequencies.

    Implements, per axis, ``f̂(ξ_k) ≈ Δ Σ_j w_j f(x_j) exp(-2πi ξ_k x_j)`` with ``x_j = a + jΔ``,
    ``ξ_k = k/(NΔ)`` for ``k = -⌊N/2⌋, …, ⌈N/2⌉ - 1`` (fftshift order, ascending), i.e.
    ``Δ · exp(-2πi ξ_k a) · FFT(f)[k]``. ``w`` is the optional window (1 by default), so with a window
    the result is the transform of ``w·f``. Amplitudes are in units of the continuous transform:
    a sampled ``exp(-πx²)`` gives ``exp(-πξ²)``; ``A sin(2πk₀x)`` on ``[0, L)`` gives ``L·A/2`` at ``±k₀``.

    Args:
      values: ``(..., N)`` for a 1-D grid or ``(..., N_1, …, N_d)`` for a d-D grid; any leading axes
        (seeds, outputs, recorded steps) are batch axes. Real or complex.
      x_grid: the 1-D array of grid points (1-D) or a tuple of d 1-D axes (n-D). Each axis must be
        uniform and increasing (checked eagerly; inside jit a bad grid fails the compiled program).
      window: ``None`` (default), ``"tukey"``, ``("tukey", α)`` or ``"hann"``; see :func:`window_weights`.

    Returns:
      :class:`GridSpectrum` ``(freqs, coeffs)``: ``freqs`` is an ``(N,)`` array when ``x_grid`` was a
      single array, else a tuple of d arrays ``(N_i,)``; ``coeffs`` is complex with the shape of
      ``values``.

    Examples:
      >>> import numpy as np
      >>> x = -8 + 0.05 * np.arange(320)                  # box [-8, 8), Δ = 0.05
      >>> freqs, coeffs = grid_fft(np.exp(-np.pi * x ** 2), x)
      >>> float(freqs[160]), round(float(abs(coeffs[160])), 5)     # f̂(0) = ∫ exp(-πx²) dx = 1
      (0.0, 1.0)

    References:
      J. W. Cooley and J. W. Tukey, "An algorithm for the machine calculation of complex Fourier
      series", Math. Comp. 19 (1965), doi:10.1090/S0025-5718-1965-0178586-1.
    """
    axes, single = _normalize_grid(x_grid)
    d = len(axes)
    names = ["x_grid"] if single else [f"x_grid[{i}]" for i in range(d)]
    info = [_check_axis(ax, nm) for ax, nm in zip(axes, names)]
    vals = as_array(values, "values")
    if vals.ndim < d:
        raise ValueError(
            f"values must have at least {d} trailing grid axes of sizes "
            f"{tuple(n for _, _, n in info)}; got shape {tuple(vals.shape)}"
        )
    grid_shape = tuple(n for _, _, n in info)
    if tuple(vals.shape[vals.ndim - d :]) != grid_shape:
        raise ValueError(
            f"values' trailing axes {tuple(vals.shape[vals.ndim - d :])} must match the grid "
            f"sizes {grid_shape} of x_grid; got values shape {tuple(vals.shape)}"
        )
    if vals.size == 0:
        raise ValueError(f"values must not be empty; got shape {tuple(vals.shape)}")
    check_finite(vals, "values")
    vals = _to_inexact(vals)
    rdtype = _float_dtype(vals)
    fft_axes = tuple(range(vals.ndim - d, vals.ndim))
    if window is not None:
        for i, (_, _, n) in enumerate(info):
            shape = [1] * vals.ndim
            shape[fft_axes[i]] = n
            vals = vals * window_weights(n, window, dtype=rdtype).reshape(shape)
    coeffs = jnp.fft.fftshift(jnp.fft.fftn(vals, axes=fft_axes), axes=fft_axes)
    freqs = []
    for i, (a, delta, n) in enumerate(info):
        # Integer k in centred order, ξ_k = k/(NΔ); the phase uses k·a/(NΔ) to keep k exact.
        k_np = np.fft.fftshift(np.fft.fftfreq(n, 1.0 / n))
        if isinstance(a, float) and isinstance(delta, float):
            # Concrete grid: build ξ and the phase in float64 and reduce k·a/(NΔ) mod 1 first, so a
            # float32 result carries no phase error growing with |ξ a|.
            xi = jnp.asarray(k_np / (n * delta), dtype=rdtype)
            phase = jnp.asarray(delta * np.exp(-2j * np.pi * np.mod(k_np * (a / (n * delta)), 1.0)))
        else:
            k = jnp.asarray(k_np, dtype=rdtype)
            xi = k / (n * delta)
            phase = delta * jnp.exp(-2j * jnp.pi * (xi * a))
        shape = [1] * vals.ndim
        shape[fft_axes[i]] = n
        coeffs = coeffs * phase.astype(coeffs.dtype).reshape(shape)
        freqs.append(xi)
    return GridSpectrum(freqs[0] if single else tuple(freqs), coeffs)


def coeffs_at(coeffs: ArrayLike, k: ArrayLike, *, ndim: int = 1) -> jax.Array:
    """Coefficients of a centred spectrum (as returned by :func:`grid_fft`) at integer indices ``k``.

    Index ``k`` means frequency ``ξ = k/(NΔ)`` (k cycles per box length); it sits at position
    ``k + ⌊N/2⌋`` of the centred axis and must satisfy ``-⌊N/2⌋ ≤ k ≤ ⌈N/2⌉ - 1``.

    Args:
      coeffs: ``(..., N)`` (``ndim=1``) or ``(..., N_1, …, N_ndim)``.
      k: integers. For ``ndim=1`` any shape ``S``; for ``ndim>1`` shape ``(*S, ndim)``.
      ndim: number of trailing frequency axes of ``coeffs``.

    Returns:
      ``(..., *S)``: the batch axes of ``coeffs`` followed by the shape of ``k`` (less its last axis
      when ``ndim > 1``).

    Examples:
      >>> import numpy as np
      >>> x = np.arange(8) / 8                             # one period L = 1
      >>> freqs, coeffs = grid_fft(np.cos(2 * np.pi * 3 * x), x)
      >>> float(coeffs_at(freqs, 3)), round(float(coeffs_at(coeffs, 3).real), 6)
      (3.0, 0.5)
    """
    ndim = check_positive_int(ndim, "ndim")
    c = as_array(coeffs, "coeffs")
    if c.ndim < ndim:
        raise ValueError(f"coeffs must have at least ndim={ndim} axes; got shape {tuple(c.shape)}")
    kk = np.asarray(k)
    if kk.size == 0:
        raise ValueError("k must not be empty")
    if not np.issubdtype(kk.dtype, np.integer):
        if not (np.issubdtype(kk.dtype, np.floating) and np.all(kk == np.round(kk))):
            raise TypeError(f"k must hold integer frequency indices; got dtype {kk.dtype}")
        kk = kk.astype(np.int64)
    if ndim == 1:
        kk = kk[..., None]
    elif kk.shape[-1:] != (ndim,):
        raise ValueError(f"k must have shape (..., {ndim}) for ndim={ndim}; got shape {kk.shape}")
    sizes = c.shape[c.ndim - ndim :]
    idx = []
    for i, n in enumerate(sizes):
        lo, hi = -(n // 2), (n - 1) - n // 2
        ki = kk[..., i]
        if np.any(ki < lo) or np.any(ki > hi):
            raise ValueError(
                f"k beyond the grid: frequency indices along axis {i} must lie in "
                f"[{lo}, {hi}] for N={n}; got min {ki.min()} and max {ki.max()}"
            )
        idx.append(jnp.asarray(ki + n // 2))
    return c[(Ellipsis, *idx)]


_ROUND_DENOMINATORS = (1, 2, 3, 4, 5, 6, 8, 10, 12)


def _is_round(v: float, tol: float) -> bool:
    """Whether ``v > 0`` is ``p/q`` or ``p/q·π`` for integers ``p >= 1`` and ``q`` in
    ``_ROUND_DENOMINATORS`` (lengths people type: 1, 2, 0.5, 2π, π/2, ...), within ``tol``."""
    for c in (1.0, np.pi):
        for q in _ROUND_DENOMINATORS:
            r = v * q / c
            if round(r) >= 1 and abs(r - round(r)) <= tol * q / c:
                return True
    return False


class _PeriodGrid(NamedTuple):
    a: float
    delta: float
    n: int
    length: float  # L = NΔ
    resolution: float  # absolute rounding resolution of the stored points, eps·max|x|


def _period_grid(x: Any, period: Any, name: str = "x") -> _PeriodGrid:
    """Validate a 1-D grid meant to hold whole periods, endpoint excluded (see the module doc).

    ``x`` is ``(N,)`` or ``(N, 1)``. With ``period`` given, ``N·Δ`` must be a whole multiple of it
    (a grid ``linspace(a, a + period, N)`` that includes the endpoint is named as such). Without it,
    a grid whose span ``(N-1)Δ`` is a round number (``1``, ``2π``, ``π/2``, ...) while its length
    ``N·Δ`` is not is refused as ``linspace(a, b, N)`` with the endpoint ``b`` included: pass
    ``period=N·Δ`` to confirm such a grid.
    """
    if isinstance(x, jax.core.Tracer):
        raise TypeError(
            f"{name} must be concrete (not traced inside jit): the grid is checked on the host; "
            f"close over a NumPy grid instead of passing it as a jit argument"
        )
    host = host_real_array(x, name)
    if host.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers; got dtype {host.dtype}")
    if host.ndim == 2 and host.shape[1] == 1:
        host = host[:, 0]
    if host.ndim != 1:
        raise ValueError(f"{name} must be a 1-D grid of shape (N,) or (N, 1); got shape {tuple(host.shape)}")
    a, delta, n = _check_axis(host, name)
    pts_max = float(np.max(np.abs(host.astype(np.float64))))
    eps = float(np.finfo(host.dtype if host.dtype.kind == "f" else np.float64).eps)
    res = eps * pts_max
    length, span = n * delta, (n - 1) * delta
    # The grid determines N·Δ to about 2 eps·max|x| (its two end points); allow 8.
    tol = 8 * res + 1e-12 * length
    hint = f"one period with the endpoint excluded: {name} = linspace(a, a + L, N, endpoint=False)"
    if period is None:
        if _is_round(span, tol) and not _is_round(length, tol):
            raise ValueError(
                f"{name} looks like linspace(a, b, N) with the endpoint b included: its span (N-1)·Δ = "
                f"{span:.10g} is a round number but its length N·Δ = {length:.10g} is not. Fourier-series "
                f"helpers need {hint}. If N·Δ = {length:.10g} really is the period, pass period={length:.10g}"
            )
        return _PeriodGrid(a, delta, n, length, res)
    period = check_positive(period, "period")
    m = length / period
    if abs(m - round(m)) * period > tol or round(m) < 1:
        m_end = span / period
        if round(m_end) >= 1 and abs(m_end - round(m_end)) * period <= tol:
            raise ValueError(
                f"{name} includes the period's endpoint: its span (N-1)·Δ = {span:.10g} is "
                f"{round(m_end)} period(s) of {period:.10g}, so the first and last points are the same "
                f"point of the periodic function; use {hint}"
            )
        raise ValueError(
            f"{name} does not hold a whole number of periods: its length N·Δ = {length:.10g} is "
            f"{m:.6g} periods of {period:.10g}; use {hint}"
        )
    return _PeriodGrid(a, delta, n, length, res)


def _grid_cycles(grid: _PeriodGrid, freqs: Any, cycles: Any, name: str = "x") -> np.ndarray:
    """Integer cycles per grid length ``m = ξ·L`` for each requested frequency; ``(K,)`` int64."""
    if (freqs is None) == (cycles is None):
        raise TypeError(
            "pass exactly one of freqs (cycles per unit length) and cycles (whole cycles per "
            f"period L = N·Δ); got {'both' if freqs is not None else 'neither'}"
        )
    if cycles is not None:
        cc = np.atleast_1d(np.asarray(cycles))
        if cc.ndim != 1 or cc.size == 0:
            raise ValueError(f"cycles must be a non-empty 1-D sequence of integers; got shape {cc.shape}")
        if not np.issubdtype(cc.dtype, np.integer) and not (
            np.issubdtype(cc.dtype, np.floating) and np.all(cc == np.round(cc))
        ):
            raise TypeError(f"cycles must hold whole numbers of cycles per period; got {cc.tolist()}")
        m = cc.astype(np.int64)
    else:
        as_array(freqs, "freqs")  # type check only: keep float64 precision below
        ff = np.atleast_1d(np.asarray(freqs, dtype=np.float64))
        if ff.ndim != 1 or ff.size == 0:
            raise ValueError(f"freqs must be a non-empty 1-D sequence of frequencies; got shape {ff.shape}")
        if not np.all(np.isfinite(ff)):
            raise ValueError("freqs contains NaN/Inf")
        mf = ff * grid.length
        # ξ·L is known to |ξ|·δL with δL ≈ 2·resolution·N/(N-1) from the grid's end points.
        tol = 1e-6 * np.maximum(1.0, np.abs(mf)) + np.abs(ff) * 8 * grid.resolution
        off = np.abs(mf - np.round(mf)) > tol
        if np.any(off):
            i = int(np.flatnonzero(off)[0])
            raise ValueError(
                f"freqs[{i}] = {ff[i]:.10g} is not a frequency of the grid {name}: ξ·L = {mf[i]:.6g} cycles per "
                f"grid length L = N·Δ = {grid.length:.10g} is not a whole number (the grid resolves multiples of "
                f"1/L = {1 / grid.length:.6g}). Use a grid covering a whole number of periods of every frequency"
            )
        m = np.round(mf).astype(np.int64)
    n = grid.n
    if np.any(np.abs(m) > n // 2):
        j = int(np.argmax(np.abs(m)))
        raise ValueError(
            f"frequency {m[j] / grid.length:.6g} ({m[j]} cycles per period) is above the Nyquist "
            f"frequency N/(2L) = {n / (2 * grid.length):.6g} of {name} ({n} points): it would alias; "
            f"use at least {2 * int(np.max(np.abs(m))) + 1} points"
        )
    return m


def _grid_values(values: Any, n: int, name: str) -> jax.Array:
    vals = as_array(values, name)
    if vals.ndim >= 2 and vals.shape[-1] == 1 and vals.shape[-2] == n:
        vals = vals[..., 0]  # a network's output column (..., N, 1)
    if vals.ndim < 1 or vals.shape[-1] != n:
        raise ValueError(
            f"{name} must have shape (..., N) or (..., N, 1) with N = {n} grid points; got shape {tuple(vals.shape)}"
        )
    if vals.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {tuple(vals.shape)}")
    check_finite(vals, name)
    return _to_inexact(vals)


def _series_coeffs(vals: jax.Array, grid: _PeriodGrid, m: np.ndarray) -> jax.Array:
    """``(1/N) Σ_j f(x_j) exp(-2πi m x_j / L)`` for each integer ``m``: one FFT plus the origin phase."""
    n = grid.n
    fft = jnp.fft.fft(vals, axis=-1)[..., jnp.asarray(np.mod(m, n))]
    # exp(-2πi m a/L), built in float64 with m·a/L reduced mod 1 (no phase error growing with |m a|).
    phase = np.exp(-2j * np.pi * np.mod(m * (grid.a / grid.length), 1.0)) / n
    return fft * jnp.asarray(phase).astype(fft.dtype)


def fourier_coeffs(
    values: ArrayLike,
    x: ArrayLike,
    freqs: ArrayLike | None = None,
    *,
    cycles: ArrayLike | None = None,
    period: float | None = None,
) -> jax.Array:
    """Fourier-series coefficients ``c(ξ) = (1/N) Σ_j f(x_j) exp(-2πi ξ x_j)`` at physical frequencies.

    ``x`` holds whole periods of the function, endpoint excluded: ``x_j = a + jΔ``, ``L = NΔ``
    (``linspace(a, a + L, N, endpoint=False)``). Then ``c(ξ)`` at ``ξ = m/L`` is the exact
    Fourier-series coefficient of any trigonometric polynomial of degree ``< N/2`` with period ``L``:
    ``A sin(2πξ₀x)`` gives ``c(±ξ₀) = ∓iA/2``, independent of where the period starts. ``c = grid_fft / L``
    and equals :func:`nudft` of the grid.

    Args:
      values: ``(..., N)`` samples (or ``(..., N, 1)``, a network's output column); leading axes are
        batch axes (seeds, recorded steps).
      x: ``(N,)`` or ``(N, 1)`` uniform grid (see above).
      freqs: ``(K,)`` frequencies in cycles per unit of ``x``, each a multiple of ``1/L`` (else
        ``ValueError``): ``sin 3x`` on ``[-π, π)`` is ``freqs=[3/(2π)]``.
      cycles: instead of ``freqs``, ``(K,)`` whole numbers of cycles per grid length (``ξ = cycles/L``).
      period: the period, if known: ``N·Δ`` must be a whole multiple of it. Without it, a grid that
        looks like ``linspace(a, b, N)`` with the endpoint included (span ``(N-1)Δ`` round, ``NΔ`` not)
        is refused; passing ``period=N·Δ`` confirms such a grid.

    Returns:
      complex ``(..., K)``.

    Raises:
      ValueError: a grid that is not uniform or includes the endpoint, a frequency that is not a
        multiple of ``1/L`` or above the Nyquist frequency ``N/(2L)``.

    Examples:
      >>> import numpy as np
      >>> x = np.linspace(-np.pi, np.pi, 64, endpoint=False)
      >>> c = fourier_coeffs(np.sin(3 * x), x, freqs=[3 / (2 * np.pi)])
      >>> round(float(c[0].imag), 6)
      -0.5
      >>> fourier_coeffs(np.sin(3 * x), x, cycles=[3]).shape
      (1,)
    """
    grid = _period_grid(x, period)
    m = _grid_cycles(grid, freqs, cycles)
    vals = _grid_values(values, grid.n, "values")
    return _series_coeffs(vals, grid, m)


def peak_relative_error(
    values: ArrayLike,
    target: ArrayLike,
    x: ArrayLike,
    freqs: ArrayLike | None = None,
    *,
    cycles: ArrayLike | None = None,
    floor: float = 0.0,
    period: float | None = None,
) -> jax.Array:
    """Relative error ``Δ_F(ξ) = |c_f(ξ) − c_y(ξ)| / max(|c_y(ξ)|, floor)`` at the target's peaks, one call.

    ``c`` are the Fourier-series coefficients of :func:`fourier_coeffs` of ``values`` (the network)
    and ``target`` on the grid ``x``; the division rule is :func:`relative_error`'s.

    Args:
      values: ``(..., N)`` or ``(..., N, 1)``, e.g. ``(steps, N)`` or ``(seeds, steps, N)``.
      target: ``(N,)`` (or anything broadcasting against ``values``).
      x: ``(N,)`` or ``(N, 1)`` grid of whole periods, endpoint excluded.
      freqs / cycles / period: as in :func:`fourier_coeffs`.
      floor: absolute lower bound of the denominator (default 0).

    Returns:
      real ``(..., K)``.

    Examples:
      >>> import numpy as np
      >>> x = np.linspace(0, 1, 32, endpoint=False)
      >>> y = np.sin(2 * np.pi * x) + 0.5 * np.sin(6 * np.pi * x)
      >>> f = np.sin(2 * np.pi * x) + 0.25 * np.sin(6 * np.pi * x)
      >>> np.round(np.asarray(peak_relative_error(f, y, x, [1.0, 3.0])), 6).tolist()
      [0.0, 0.5]

    References:
      Z.-Q. J. Xu, Y. Zhang, T. Luo, Y. Xiao, Z. Ma, "Frequency principle: Fourier analysis sheds light
      on deep neural networks", arXiv:1901.06523.
    """
    grid = _period_grid(x, period)
    m = _grid_cycles(grid, freqs, cycles)
    cf = _series_coeffs(_grid_values(values, grid.n, "values"), grid, m)
    cy = _series_coeffs(_grid_values(target, grid.n, "target"), grid, m)
    return relative_error(cf, cy, floor=floor)


@renamed_keyword(k="wavenumbers")
def periodic_amplitudes(
    values: ArrayLike,
    x: ArrayLike,
    *,
    wavenumbers: ArrayLike | None = None,
    freqs: ArrayLike | None = None,
    period: float | None = None,
) -> Amplitudes:
    """One-sided Fourier-series amplitudes ``|c_k|``, ``k = 0, 1, …, ⌊N/2⌋``, of a periodic 1-D signal.

    ``c_k = (1/N) Σ_j f(x_j) exp(-2πi k x_j/L)`` are the Fourier-series coefficients on the period
    ``L = NΔ`` (= ``grid_fft`` coefficients divided by ``L``), so ``A sin(2πk₀x/L + φ)`` gives
    ``|c_{±k₀}| = A/2`` and 0 elsewhere. For real signals ``|c_{-k}| = |c_k|``, so ``k ≥ 0`` is the
    whole story; the amplitude ``A`` of a sinusoid is ``2|c_k|`` (``k > 0``). The grid must cover
    exactly one period, endpoint excluded (``x_j = a + jL/N``): a grid that looks like
    ``linspace(a, b, N)`` with the endpoint included is refused (see :func:`fourier_coeffs`).

    Args:
      values: ``(..., N)`` samples (or ``(..., N, 1)``), leading axes are batch axes.
      x: ``(N,)`` or ``(N, 1)`` uniform grid of one period.
      wavenumbers: optional integer cycles per period ``0 ≤ k ≤ ⌊N/2⌋`` to return (default all).
      freqs: instead of ``wavenumbers``, non-negative frequencies in cycles per unit of ``x`` (``k = ξL``).
      period: the period, if known (``N·Δ`` must equal it); confirms a grid that looks like one with
        the endpoint included.

    Returns:
      :class:`Amplitudes` ``(k, amps)``: ``k`` int ``(K,)``, ``amps`` real ``(..., K)``.

    Examples:
      >>> import numpy as np
      >>> x = np.arange(16) / 16
      >>> ks, amps = periodic_amplitudes(3 * np.sin(2 * np.pi * 5 * x), x)
      >>> int(ks[5]), round(float(amps[5]), 5)
      (5, 1.5)
    """
    grid = _period_grid(x, period)
    n = grid.n
    if wavenumbers is not None and freqs is not None:
        raise TypeError("pass at most one of wavenumbers and freqs")
    if freqs is not None:
        ks = _grid_cycles(grid, freqs, None)
    else:
        ks = np.arange(n // 2 + 1) if wavenumbers is None else np.atleast_1d(np.asarray(wavenumbers))
        if ks.size == 0:
            raise ValueError("wavenumbers must not be empty")
        if not np.issubdtype(ks.dtype, np.integer):
            raise TypeError(f"wavenumbers must hold integer cycles per period; got dtype {ks.dtype}")
    if np.any(ks < 0) or np.any(ks > n // 2):
        raise ValueError(f"wavenumbers must lie in [0, {n // 2}] for N={n} grid points; got {ks.tolist()}")
    vals = _grid_values(values, n, "values")
    amps = jnp.abs(_series_coeffs(vals, grid, ks))
    return Amplitudes(jnp.asarray(ks), amps)


# ----------------------------------------------------------------------------------------------
# projected NUDFT
# ----------------------------------------------------------------------------------------------


def principal_direction(x: ArrayLike) -> jax.Array:
    """First principal component of the points ``x`` ``(n, d)`` as a unit vector ``(d,)``.

    Computed as the top right-singular vector of the centred ``x``. The sign is fixed
    deterministically: the component of largest magnitude is made positive (the first such one on
    ties), so the same data always give the same ``p``. With ``n = 1`` (no spread) ``p = e_1``.

    Examples:
      >>> import numpy as np
      >>> t = np.linspace(-1, 1, 11)
      >>> [round(float(v), 6) for v in principal_direction(np.stack([-3 * t, 4 * t], 1))]
      [-0.6, 0.8]

    References:
      Z.-Q. J. Xu, Y. Zhang, T. Luo, Y. Xiao, Z. Ma, "Frequency principle: Fourier analysis sheds light
      on deep neural networks", arXiv:1901.06523.
    """
    pts = as_points(x)
    if pts.shape[0] < 2:
        return jnp.zeros((pts.shape[1],), pts.dtype).at[0].set(1.0)
    return _principal_direction(pts)


@jax.jit
def _principal_direction(pts: jax.Array) -> jax.Array:
    centred = pts - pts.mean(axis=0)
    # d×d covariance eigenproblem: cheap for any n, exact up to rounding.
    cov = _mm(centred.T, centred)
    _, vecs = jnp.linalg.eigh(cov)
    p = vecs[:, -1]
    j = jnp.argmax(jnp.abs(p))
    return p * jnp.where(p[j] < 0, -1.0, 1.0).astype(p.dtype)


@functools.partial(jax.jit, static_argnames=("freq_batch_size", "point_batch_size"))
def _nudft_projected(
    t: jax.Array, y: jax.Array, freqs: jax.Array, freq_batch_size: int, point_batch_size: int
) -> jax.Array:
    """``(1/n) Σ_i y_i exp(-2πi k t_i)`` for ``t (n,)``, ``y (n, c)`` real or complex, ``freqs (K,)``."""
    n, c = y.shape
    kn = freqs.shape[0]
    n_pad = -n % point_batch_size
    k_pad = -kn % freq_batch_size
    # Zero-weight padding: padded points have y = 0 and contribute nothing.
    t = jnp.pad(t, (0, n_pad)).reshape(-1, point_batch_size)
    y = jnp.pad(y, ((0, n_pad), (0, 0))).reshape(-1, point_batch_size, c)
    f = jnp.pad(freqs, (0, k_pad)).reshape(-1, freq_batch_size)
    is_complex = jnp.issubdtype(y.dtype, jnp.complexfloating)
    rdtype = t.dtype

    def one_freq_block(fb):
        def body(acc, tb_yb):
            tb, yb = tb_yb
            theta = (2 * jnp.pi) * (fb[:, None] * tb[None, :])  # (Bk, Bn)
            cs, sn = jnp.cos(theta), jnp.sin(theta)
            if is_complex:
                yr, yi = jnp.real(yb), jnp.imag(yb)
                re = _mm(cs, yr) + _mm(sn, yi)
                im = _mm(cs, yi) - _mm(sn, yr)
            else:
                re, im = _mm(cs, yb), -_mm(sn, yb)
            return (acc[0] + re, acc[1] + im), None

        zeros = jnp.zeros((freq_batch_size, c), rdtype)
        (re, im), _ = jax.lax.scan(body, (zeros, zeros), (t, y))
        return jax.lax.complex(re, im)

    out = jax.lax.map(one_freq_block, f).reshape(-1, c)[:kn]
    return out / n


@renamed_keyword(chunk_freqs="freq_batch_size", chunk_points="point_batch_size")
def nudft(
    x: ArrayLike,
    y: ArrayLike,
    freqs: ArrayLike,
    direction: ArrayLike | None = None,
    *,
    freq_batch_size: int = 256,
    point_batch_size: int = 4096,
) -> jax.Array:
    """Projected non-uniform DFT of scattered data (the projection method of arXiv:1901.06523).

    ``ŷ(k) = (1/n) Σ_i y_i exp(-2πi k (p·x_i))`` for each scalar frequency ``k`` in ``freqs``: the 1-D
    NUDFT of the data projected onto the unit vector ``p``. The normalisation is ``1/n`` (a mean over
    samples), so on a uniform grid of N points spanning ``L = NΔ`` it equals :func:`grid_fft`'s
    coefficient divided by ``L``.

    Memory is bounded: the phase matrix is built in ``freq_batch_size × point_batch_size`` blocks
    (``lax.map`` over frequency blocks, ``lax.scan`` over point blocks), all under one ``jit``.

    Args:
      x: ``(n, d)`` points (``(n,)`` is read as ``d = 1``).
      y: ``(n,)`` or ``(n, c)`` values (e.g. one-hot classes); real or complex.
      freqs: ``(K,)`` frequencies in cycles per unit of ``p·x``.
      direction: ``(d,)`` projection direction, normalised here; ``None`` (default) uses
        :func:`principal_direction` of ``x`` (first principal component, deterministic sign).
      freq_batch_size, point_batch_size: block sizes (results do not depend on them beyond rounding).

    Returns:
      complex ``(K,)`` if ``y`` is 1-D, else ``(K, c)``.

    Examples:
      >>> import numpy as np
      >>> x = np.arange(8.0)[:, None] / 8
      >>> c = nudft(x, np.cos(2 * np.pi * 2 * x[:, 0]), [0.0, 2.0])
      >>> np.round(np.abs(np.asarray(c)), 6).tolist()
      [0.0, 0.5]

    References:
      Z.-Q. J. Xu, Y. Zhang, T. Luo, Y. Xiao, Z. Ma, "Frequency principle: Fourier analysis sheds
      light on deep neural networks", arXiv:1901.06523.
    """
    pts = as_points(x)
    yy = as_array(y, "y")
    check_ndim(yy, "y", (1, 2), shape_hint="(n,) or (n, c)")
    if yy.shape[0] != pts.shape[0]:
        raise ValueError(
            f"x and y must have the same number of points; got x shape {tuple(pts.shape)} and y shape {tuple(yy.shape)}"
        )
    check_finite(yy, "y")
    ff = as_array(freqs, "freqs")
    check_ndim(ff, "freqs", 1, shape_hint="(K,)")
    check_finite(ff, "freqs")
    freq_batch_size = check_positive_int(freq_batch_size, "freq_batch_size")
    point_batch_size = check_positive_int(point_batch_size, "point_batch_size")
    if direction is None:
        p = principal_direction(pts)
    else:
        p = as_array(direction, "direction")
        check_ndim(p, "direction", 1, shape_hint=f"(d,) with d = {pts.shape[1]}")
        if p.shape[0] != pts.shape[1]:
            raise ValueError(
                f"direction must have shape (d,) = ({pts.shape[1]},) to match x; got shape {tuple(p.shape)}"
            )
        check_finite(p, "direction")
        norm = jnp.linalg.norm(p)
        norm = error_if(norm, norm == 0.0, "direction must be a non-zero vector; got all zeros")
        p = p / norm
    rdtype = jnp.result_type(_float_dtype(pts), _float_dtype(_to_inexact(yy)))
    t = _mm(pts.astype(rdtype), p.astype(rdtype))
    y2 = _to_inexact(yy)
    y2 = y2.astype(jnp.result_type(y2.dtype, rdtype))
    squeeze = y2.ndim == 1
    if squeeze:
        y2 = y2[:, None]
    out = _nudft_projected(
        t, y2, ff.astype(rdtype), min(freq_batch_size, ff.shape[0]), min(point_batch_size, pts.shape[0])
    )
    return out[:, 0] if squeeze else out


# ----------------------------------------------------------------------------------------------
# relative error
# ----------------------------------------------------------------------------------------------


def relative_error(h_hat: ArrayLike, y_hat: ArrayLike, *, floor: float = 0.0) -> jax.Array:
    """Per-frequency relative error ``Δ_F(k) = |ĥ(k) − ŷ(k)| / |ŷ(k)|`` (arXiv:1901.06523).

    Batched by broadcasting: e.g. ``h_hat`` ``(steps, K)`` or ``(seeds, steps, K, c)`` against
    ``y_hat`` ``(K,)`` or ``(K, c)``.

    Division by zero: the denominator is ``max(|ŷ(k)|, floor)``. Where it is 0 (``|ŷ(k)| = 0`` and
    ``floor = 0``) the result is 0 if ``ĥ(k) = ŷ(k)`` exactly and ``+inf`` otherwise (a zero target
    matched exactly is no error; any miss of it is unbounded relative error). Pass e.g.
    ``floor = 1e-3 * max|ŷ|`` to get finite values at frequencies absent from the target.

    Returns:
      real array of the broadcast shape.

    Examples:
      >>> relative_error([1.0, 0.5, 0.0], [2.0, 0.5, 0.0]).tolist()
      [0.5, 0.0, 0.0]

    References:
      Z.-Q. J. Xu, Y. Zhang, T. Luo, Y. Xiao, Z. Ma, "Frequency principle: Fourier analysis sheds light
      on deep neural networks", arXiv:1901.06523.
    """
    h = as_array(h_hat, "h_hat")
    yv = as_array(y_hat, "y_hat")
    for arr, nm in ((h, "h_hat"), (yv, "y_hat")):
        if arr.size == 0:
            raise ValueError(f"{nm} must not be empty; got shape {tuple(arr.shape)}")
        check_finite(arr, nm)
    try:
        np.broadcast_shapes(h.shape, yv.shape)
    except ValueError:
        raise ValueError(
            f"h_hat and y_hat must broadcast together (e.g. (steps, K) against (K,)); got "
            f"shapes {tuple(h.shape)} and {tuple(yv.shape)}"
        ) from None
    floor = check_positive(floor, "floor", allow_zero=True)
    num = jnp.abs(h - yv)
    den = jnp.maximum(jnp.abs(yv), floor).astype(num.dtype)
    return safe_ratio(num, jnp.broadcast_to(den, num.shape))


# ----------------------------------------------------------------------------------------------
# filtering method
# ----------------------------------------------------------------------------------------------


class FilterErrors(NamedTuple):
    """Result of :func:`filter_errors`: ``e_low = ‖y_low − h_low‖/‖y_low‖`` and
    ``e_high = ‖y_high − h_high‖/‖y_high‖``.

    Attributes:
      e_low: low-frequency relative error, shape ``h.shape[:-y.ndim]`` (``(m, ...)`` for ``m`` deltas).
      e_high: high-frequency relative error, the same shape.

    Examples:
      >>> import numpy as np
      >>> x = np.linspace(0, 1, 40)[:, None]
      >>> y = np.sin(2 * np.pi * x[:, 0]) + 0.2 * np.sin(2 * np.pi * 8 * x[:, 0])
      >>> h = np.stack([np.zeros_like(y), y])                  # two predictions: 0 and y itself
      >>> err = filter_errors(x, y, h, 0.01)
      >>> np.round(np.asarray(err.e_low), 4).tolist(), np.round(np.asarray(err.e_high), 4).tolist()
      ([1.0, 0.0], [1.0, 0.0])

    References:
      Z.-Q. J. Xu, Y. Zhang, Y. Xiao, "Training behavior of deep neural network in frequency domain",
      arXiv:1807.01251.
    """

    e_low: jax.Array
    e_high: jax.Array


def _as_deltas(delta: Any) -> tuple[jax.Array, bool]:
    """Return the deltas as a 1-D float64 numpy array and whether a scalar was given."""
    if isinstance(delta, (str, bytes)) or delta is None:
        raise TypeError(f"delta must be a positive number or a sequence of them; got {type(delta).__name__}")
    arr = np.asarray(delta, dtype=np.float64) if not isinstance(delta, jax.core.Tracer) else None
    if arr is None:
        raise TypeError("delta must be concrete (a number or a sequence of numbers), not a traced value")
    scalar = arr.ndim == 0
    arr = np.atleast_1d(arr)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"delta must be a positive number or a non-empty 1-D sequence; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(
            f"delta must be > 0 and finite (it is the variance of the Gaussian filter); "
            f"got {arr.tolist() if arr.size < 10 else arr}"
        )
    return arr, scalar


def _default_block(n: int) -> int:
    # Keep one block's (B, n) weight matrix near 2²² entries (16 MiB in float32).
    return int(max(1, min(n, (1 << 22) // max(n, 1))))


@functools.partial(jax.jit, static_argnames=("batch_size",))
def _gaussian_smooth(x: jax.Array, v: jax.Array, deltas: jax.Array, batch_size: int) -> jax.Array:
    """``(G_δ v)_i = Σ_j v_j g_δ(x_i − x_j) / Σ_j g_δ(x_i − x_j)`` for each δ: ``(m, n, c)``.

    Rows are processed in blocks of ``batch_size`` (``lax.map``), so memory is ``O(batch_size·n)``
    per δ (the deltas go through a second ``lax.map`` so they do not multiply it).
    """
    n = x.shape[0]
    # Centring reduces cancellation in |x_i|² + |x_j|² − 2 x_i·x_j.
    x = x - x.mean(axis=0)
    sq = jnp.sum(x * x, axis=1)
    pad = -n % batch_size
    xb = jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, batch_size, x.shape[1])
    sqb = jnp.pad(sq, (0, pad)).reshape(-1, batch_size)

    def block(args):
        xr, sqr = args
        d2 = jnp.maximum(sqr[:, None] + sq[None, :] - 2 * _mm(xr, x.T), 0.0)  # (B, n)

        def per_delta(delta):
            logw = -d2 / (2 * delta)
            # Subtract the row max (the self term, ≈ 0) so the largest weight is exactly 1: no 0/0
            # underflow for tiny δ, even when rounding makes the computed self distance positive.
            logw = logw - jnp.max(logw, axis=1, keepdims=True)
            w = jnp.exp(logw)
            return _mm(w, v) / jnp.sum(w, axis=1, keepdims=True)

        return jax.lax.map(per_delta, deltas)  # (m, B, c)

    out = jax.lax.map(block, (xb, sqb))  # (nb, m, B, c)
    out = jnp.moveaxis(out, 1, 0).reshape(deltas.shape[0], -1, v.shape[1])
    return out[:, :n]


def _prepare_filter_inputs(x, y, batch_size):
    pts = as_points(x)
    yy = as_array(y, "y")
    check_ndim(yy, "y", (1, 2), shape_hint="(n,) or (n, c)")
    if yy.shape[0] != pts.shape[0]:
        raise ValueError(
            f"x and y must have the same number of points; got x shape {tuple(pts.shape)} and y shape {tuple(yy.shape)}"
        )
    check_finite(yy, "y")
    if jnp.issubdtype(yy.dtype, jnp.complexfloating):
        raise TypeError("y must be real for the filtering method; got a complex array")
    n = pts.shape[0]
    bs = _default_block(n) if batch_size is None else min(check_positive_int(batch_size, "batch_size"), n)
    return pts, _to_inexact(yy), bs


@renamed_keyword(block_size="batch_size")
def filter_decompose(x: ArrayLike, y: ArrayLike, delta: ArrayLike, *, batch_size: int | None = None):
    """Split ``y`` into low and high frequencies with a normalised Gaussian filter (arXiv:1807.01251).

    ``y_low = G_δ * y`` with ``(G_δ * y)_i = Σ_j y_j g_δ(x_i − x_j) / Σ_j g_δ(x_i − x_j)``,
    ``g_δ(z) = exp(−|z|²/(2δ))`` (δ is a **variance**: the filter width is ``√δ``), and
    ``y_high = y − y_low``. As ``δ → 0`` ``y_low → y`` (distinct points); as ``δ → ∞`` ``y_low →``
    the mean of ``y``.

    Blocked over rows (see ``batch_size``) and jitted: ``O(batch_size·n)`` memory, ``O(n²·(d + c))``
    time per δ; 10⁴ points × 10 outputs take about a second on a CPU.

    Args:
      x: ``(n, d)`` points (``(n,)`` read as ``d = 1``).
      y: ``(n,)`` or ``(n, c)`` real values.
      delta: a positive number, or a sequence of them (the squared distances are then computed once
        per block and reused for every δ).
      batch_size: rows per block (default: about 2²²/n).

    Returns:
      :class:`FilterDecomposition` ``(y_low, y_high)`` with the shape of ``y``, or ``(m, *y.shape)``
      for ``m`` deltas.

    Examples:
      >>> import numpy as np
      >>> x = np.linspace(0, 1, 50)[:, None]
      >>> low, high = filter_decompose(x, np.ones(50), 0.01)
      >>> bool(np.allclose(low, 1.0)), bool(np.allclose(high, 0.0, atol=1e-6))
      (True, True)

    References:
      Z.-Q. J. Xu, Y. Zhang, Y. Xiao, "Training behavior of deep neural network in frequency domain",
      arXiv:1807.01251.
    """
    deltas, scalar = _as_deltas(delta)
    pts, yy, bs = _prepare_filter_inputs(x, y, batch_size)
    rdtype = jnp.result_type(pts.dtype, yy.dtype)
    v = yy[:, None] if yy.ndim == 1 else yy
    low = _gaussian_smooth(pts.astype(rdtype), v.astype(rdtype), jnp.asarray(deltas, rdtype), bs)
    low = low.reshape((deltas.shape[0],) + yy.shape)
    high = yy.astype(rdtype)[None] - low
    if scalar:
        return FilterDecomposition(low[0], high[0])
    return FilterDecomposition(low, high)


@renamed_keyword(block_size="batch_size")
def filter_errors(
    x: ArrayLike, y: ArrayLike, h: ArrayLike, delta: ArrayLike, *, batch_size: int | None = None
) -> FilterErrors:
    """Low- and high-frequency relative errors of a prediction ``h`` against ``y`` (arXiv:1807.01251).

    ``e_low = ‖y_low − h_low‖/‖y_low‖`` and ``e_high = ‖y_high − h_high‖/‖y_high‖`` with the
    decomposition of :func:`filter_decompose`; norms are Frobenius norms over all samples and
    outputs. Since the filter is linear, ``y_low − h_low = G_δ(y − h)``, which is what is computed.
    A zero denominator follows the rule of :func:`relative_error` (0/0 := 0, x/0 := inf).

    Batched: ``h`` may carry leading axes (recorded steps, seeds), ``h`` ``(..., *y.shape)``; all of
    them go through the filter in one blocked pass.

    Args:
      x: ``(n, d)``; y: ``(n,)`` or ``(n, c)``; h: ``(..., *y.shape)``.
      delta: a positive number or a sequence of ``m`` of them.

    Returns:
      :class:`FilterErrors` ``(e_low, e_high)``, each of shape ``h.shape[:-y.ndim]`` for a scalar
      δ, or ``(m, *h.shape[:-y.ndim])`` for a sequence.

    Examples:
      >>> import numpy as np
      >>> x = np.linspace(0, 1, 40)[:, None]
      >>> y = np.sin(2 * np.pi * x[:, 0])
      >>> e = filter_errors(x, y, 0.5 * y, 0.01)          # h = y/2: both errors are 1/2
      >>> round(float(e.e_low), 4), round(float(e.e_high), 4)
      (0.5, 0.5)
    """
    deltas, scalar = _as_deltas(delta)
    pts, yy, bs = _prepare_filter_inputs(x, y, batch_size)
    hh = as_array(h, "h")
    if hh.ndim < yy.ndim or tuple(hh.shape[hh.ndim - yy.ndim :]) != tuple(yy.shape):
        raise ValueError(
            f"h must have shape (..., {', '.join(map(str, yy.shape))}) ending with y's shape; "
            f"got h shape {tuple(hh.shape)} and y shape {tuple(yy.shape)}"
        )
    check_finite(hh, "h")
    if jnp.issubdtype(hh.dtype, jnp.complexfloating):
        raise TypeError("h must be real for the filtering method; got a complex array")
    batch = tuple(hh.shape[: hh.ndim - yy.ndim])
    rdtype = jnp.result_type(pts.dtype, yy.dtype, _to_inexact(hh).dtype)
    n = yy.shape[0]
    y2 = yy.reshape(n, -1).astype(rdtype)  # (n, c)
    c = y2.shape[1]
    diff = (yy.astype(rdtype) - hh.astype(rdtype)).reshape(batch + (n, c))  # y − h per batch entry
    diff = jnp.moveaxis(diff.reshape((-1, n, c)), 1, 0).reshape(n, -1)  # (n, B·c)
    v = jnp.concatenate([y2, diff], axis=1)
    low = _gaussian_smooth(pts.astype(rdtype), v, jnp.asarray(deltas, rdtype), bs)  # (m, n, c + B·c)
    y_low, d_low = low[..., :c], low[..., c:]
    y_high = y2[None] - y_low
    d_high = diff[None] - d_low
    m = deltas.shape[0]
    nb = int(np.prod(batch)) if batch else 1
    d_low = d_low.reshape(m, n, nb, c)
    d_high = d_high.reshape(m, n, nb, c)
    num_low = jnp.sqrt(jnp.sum(d_low**2, axis=(1, 3)))  # (m, B)
    num_high = jnp.sqrt(jnp.sum(d_high**2, axis=(1, 3)))
    den_low = jnp.sqrt(jnp.sum(y_low**2, axis=(1, 2)))[:, None]  # (m, 1)
    den_high = jnp.sqrt(jnp.sum(y_high**2, axis=(1, 2)))[:, None]
    e_low = safe_ratio(num_low, jnp.broadcast_to(den_low, num_low.shape)).reshape((m,) + batch)
    e_high = safe_ratio(num_high, jnp.broadcast_to(den_high, num_high.shape)).reshape((m,) + batch)
    if scalar:
        return FilterErrors(e_low[0], e_high[0])
    return FilterErrors(e_low, e_high)
