"""Linear Frequency Principle (LFP) dynamics of wide two-layer ReLU networks.

The LFP (Zhang, Luo, Ma, Xu 2021; Luo, Ma, Xu, Zhang 2022) says that a two-layer ReLU network
``h(x) = (1/√m) Σ_i w_i ReLU(r_i·(x + l_i))`` in the NTK regime, with the offsets ``l_i`` spread
widely, evolves under gradient flow on the MSE ``(1/2n) Σ_i (h(x_i) − y_i)²`` as

    ∂_t ĥ(ξ, t) = −γ²(ξ) (ĥ_ρ(ξ, t) − f̂_ρ(ξ)),
    γ²(ξ) = c [ (⟨|r|²⟩ + ⟨w²⟩) / |ξ|^{d+3} + 4π² ⟨|r|² w²⟩ / |ξ|^{d+1} ],

with ``⟨·⟩`` the mean over neurons at initialization and ``ĝ_ρ(ξ) = (1/n) Σ_i g(x_i) e^{−2πiξ·x_i}``
the transform of ``g`` times the empirical measure ``ρ = (1/n) Σ_i δ_{x_i}``. This is kernel
gradient flow ``∂_t h(x) = −(1/n) Σ_i K(x, x_i)(h(x_i) − y_i)`` with the translation-invariant kernel
whose Fourier transform is ``γ²``.

Conventions of this module
--------------------------
* **Torus.** Functions live on ``[0, L)^d`` (``L = period``). The LFP state space is the
  trigonometric polynomials with integer frequency vectors ``k``, ``|k|_∞ ≤ k_max`` (a cube of
  ``(2 k_max + 1)^d`` frequencies; the sup-norm cube keeps n-D grids FFT-shaped), physical
  frequency ``ξ = k / L``.
* **Coefficients** are Fourier-transform normalised:
  ``ĥ(k) = ∫_{[0,L)^d} h(x) e^{−2πi k·x/L} dx`` and ``h(x) = L^{−d} Σ_k ĥ(k) e^{2πi k·x/L}``
  (for ``L = 1`` these are the Fourier-series coefficients). A coefficient array has shape
  ``(..., 2k_max+1, ..., 2k_max+1)`` (``d`` trailing grid axes, index ``k + k_max``), complex.
* **Kernel.** ``K(x, x') = L^{−d} Σ_k γ²(k/L) e^{2πi k·(x−x')/L}`` -- the periodisation of the
  kernel on ℝ^d whose transform is ``γ²``. With it the flow of the coefficients is exactly
  ``∂_t ĥ(k) = −γ²(k/L) (ĥ_ρ(k/L) − f̂_ρ(k/L))``, the LFP equation sampled at ``ξ = k/L``.
* **Constant mode** ``k = 0`` (``γ²`` is infinite there). ``constant="free"`` (default): the
  constant is unpenalised -- in :func:`steady_state` it is free in the minimisation; in
  :func:`evolve` it is the infinite-rate limit: at ``t = 0+`` the constant jumps so that the mean
  residual over the data is zero and it keeps it zero for all ``t > 0`` (a singular-perturbation
  limit: the other modes then follow the flow projected onto mean-zero residuals). A number
  ``constant = g0 >= 0`` instead gives the constant mode the finite rate ``γ²(0) = g0`` (penalty
  ``|ĥ(0) − ĥ_0(0)|² / g0`` in the steady state; ``g0 = 0`` freezes it).
* **Time** is gradient-flow time ``t = η · steps`` for gradient descent with step size ``η`` on
  ``(1/2n) Σ_i (h(x_i) − y_i)²``; all kernel linear algebra goes through
  :mod:`fpjax._src.kernel_linalg` (eigenvalues ``≤ rcond · λ_max`` are zero; steady states are
  least-norm least-squares solutions).
* **From a network in one call**: :func:`predict` takes a ``two_layer_relu`` model and its
  parameters and does the moments, ``c``, the period, the shift and ``k_max`` for you.

Everything is jit/vmap friendly (shapes static) and runs in float32 or float64.

References:
  Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle in
  two-layer neural networks", arXiv:1905.10264.
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
from fpjax._src.array_types import ArrayLike, PyTree
from fpjax._src.checks import (
    as_array,
    as_points,
    check_finite,
    check_positive,
    check_positive_int,
    is_concrete,
)
from fpjax._src.models import Model

__all__ = [
    "gamma2",
    "init_moments",
    "InitMoments",
    "crossover_frequency",
    "predict_regime",
    "Regime",
    "frequency_grid",
    "gamma2_on_grid",
    "kernel_matrix",
    "evaluate_series",
    "coefficients_from_function",
    "coefficients_from_values",
    "evolve",
    "steady_state",
    "LFPTrajectory",
    "relu_ntk_1d",
    "lfp_constant_1d",
    "residual_flow",
    "ResidualFlow",
    "predict",
    "LFPPrediction",
    "choose_period",
    "PeriodChoice",
]

_FOUR_PI2 = 4.0 * math.pi**2
_MOMENT_KEYS = ("r2", "w2", "r2w2")


class InitMoments(NamedTuple):
    """Init moments of a two-layer ReLU network (means over the ``m`` neurons).

    Attributes:
      r2: ``⟨|r|²⟩``. w2: ``⟨w²⟩``. r2w2: ``⟨|r|² w²⟩`` (0-d arrays).
    """

    r2: jax.Array
    w2: jax.Array
    r2w2: jax.Array


class Regime(NamedTuple):
    """Result of :func:`predict_regime`.

    Attributes:
      regime: ``"cubic"``, ``"linear"`` or ``"mixed"``.
      xi_c: crossover frequency ``ξ_c``. xi_nyquist: ``ξ_Nyq``. xi_low: ``ξ_low = 1/L``.
      ratio_at_nyquist: ``(ξ_c/ξ_Nyq)²``. ratio_at_low: ``(ξ_c/ξ_low)²``.
      factor: the decision factor. rule: the rule in words.
    """

    regime: str
    xi_c: float
    xi_nyquist: float
    xi_low: float
    ratio_at_nyquist: float
    ratio_at_low: float
    factor: float
    rule: str


# ----------------------------------------------------------------------------------------------
# γ² and the init moments
# ----------------------------------------------------------------------------------------------


def _float_dtype():
    return jnp.result_type(float)


def _check_moments(moments: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    if isinstance(moments, InitMoments):
        moments = moments._asdict()
    if not isinstance(moments, dict):
        raise TypeError(
            f"moments must be InitMoments (see init_moments) or a dict with keys {_MOMENT_KEYS}; "
            f"got {type(moments).__name__}"
        )
    missing = [k for k in _MOMENT_KEYS if k not in moments]
    if missing:
        raise ValueError(f"moments is missing key(s) {missing}; expected {_MOMENT_KEYS} (see init_moments)")
    vals = []
    for k in _MOMENT_KEYS:
        v = as_array(moments[k], f"moments[{k!r}]")
        if v.ndim != 0:
            raise ValueError(f"moments[{k!r}] must be a scalar; got shape {tuple(v.shape)}")
        check_finite(v, f"moments[{k!r}]")
        if is_concrete(v) and float(v) < 0:
            raise ValueError(f"moments[{k!r}] must be >= 0 (a mean of squares); got {float(v)}")
        vals.append(v.astype(_float_dtype()) if not jnp.issubdtype(v.dtype, jnp.floating) else v)
    r2, w2, r2w2 = vals
    if is_concrete(r2) and is_concrete(w2) and float(r2) + float(w2) <= 0:
        raise ValueError("moments['r2'] + moments['w2'] must be > 0")
    return r2, w2, r2w2


def gamma2(xi: ArrayLike, moments: dict, d: int, c: float = 1.0, *, radial: bool | None = None) -> jax.Array:
    """LFP rate ``γ²(ξ) = c [(⟨|r|²⟩ + ⟨w²⟩)/|ξ|^{d+3} + 4π²⟨|r|²w²⟩/|ξ|^{d+1}]``.

    Args:
      xi: frequencies. ``radial=None`` (default) reads a 0-d ``xi``, or any ``xi`` when ``d == 1``,
        elementwise as ξ (output has ``xi``'s shape); otherwise ``xi`` has shape ``(..., d)`` and the
        output ``(...)``. ``radial=True`` forces elementwise ``|ξ|`` for any ``d``.
      moments: :class:`InitMoments` ``(⟨|r|²⟩, ⟨w²⟩, ⟨|r|²w²⟩)`` (see :func:`init_moments`), or a dict
        with keys ``"r2"``, ``"w2"``, ``"r2w2"``.
      d: input dimension (sets the exponents ``d+3`` and ``d+1``).
      c: positive time-scale constant (for :func:`relu_ntk_1d`'s network in 1-D,
        ``c = 1/(32 π⁴ L_l)``, see :func:`lfp_constant_1d`).

    Returns:
      ``γ²`` (``+inf`` at ``ξ = 0``).

    Examples:
      >>> mom = InitMoments(r2=1.0, w2=1.0, r2w2=0.0)
      >>> float(gamma2(1.0, mom, 1, c=0.5))
      1.0

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle
      in two-layer neural networks", arXiv:1905.10264;
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. (2022), arXiv:2010.08153.
    """
    d = check_positive_int(d, "d")
    c = check_positive(c, "c")
    r2, w2, r2w2 = _check_moments(moments)
    xi = as_array(xi, "xi")
    check_finite(xi, "xi")
    if radial is None:
        radial = xi.ndim == 0 or d == 1
    if radial:
        s = jnp.abs(xi)
    else:
        if xi.ndim == 0 or xi.shape[-1] != d:
            raise ValueError(
                f"xi must have shape (..., {d}) (frequency vectors in d={d}) or be radial; got shape {tuple(xi.shape)}"
            )
        s = jnp.linalg.norm(xi, axis=-1)
    dt = jnp.result_type(s.dtype, r2.dtype, float)
    s = s.astype(dt)
    safe = jnp.where(s == 0, 1.0, s)
    out = c * ((r2 + w2) / safe ** (d + 3) + _FOUR_PI2 * r2w2 / safe ** (d + 1))
    return jnp.where(s == 0, jnp.inf, out)


def init_moments(params: dict) -> InitMoments:
    """Init moments ``⟨|r|²⟩, ⟨w²⟩, ⟨|r|²w²⟩`` (means over neurons) of ``two_layer_relu`` params.

    ``params = {"w": (m,) or (m, 1), "r": (m, d) or (m,), "l": ...}``. For ``asi`` params
    ``{"a": p, "b": p'}`` the NTK is ``(K_a + K_b)/2``, so the moments are the averages of both
    halves' moments.

    Returns:
      :class:`InitMoments` ``(r2, w2, r2w2)`` of 0-d arrays.

    Examples:
      >>> import jax.numpy as jnp
      >>> mom = init_moments({"w": jnp.array([1.0, 2.0]), "r": jnp.array([[1.0], [3.0]]), "l": jnp.zeros((2, 1))})
      >>> float(mom.r2), float(mom.w2), float(mom.r2w2)
      (5.0, 2.5, 18.5)
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a two_layer_relu params dict {{'w','r','l'}}; got {type(params).__name__}")
    if "a" in params and "b" in params and "w" not in params:
        ma, mb = init_moments(params["a"]), init_moments(params["b"])
        return InitMoments(*(0.5 * (a + b) for a, b in zip(ma, mb)))
    for k in ("w", "r"):
        if k not in params:
            raise ValueError(
                f"params must have key {k!r} (two_layer_relu params {{'w','r','l'}}); got keys {sorted(params)}"
            )
    w = as_array(params["w"], "params['w']")
    r = as_array(params["r"], "params['r']")
    check_finite(w, "params['w']")
    check_finite(r, "params['r']")
    m = w.shape[0] if w.ndim else 0
    if w.ndim not in (1, 2) or w.size != m or m == 0:
        raise ValueError(f"params['w'] must have shape (m,) or (m, 1) with m >= 1; got {tuple(w.shape)}")
    if r.ndim not in (1, 2) or r.shape[0] != m:
        raise ValueError(f"params['r'] must have shape (m, d) or (m,) with m = {m}; got {tuple(r.shape)}")
    w = w.reshape(m)
    r2_i = jnp.sum(r.reshape(m, -1) ** 2, axis=-1)
    w2_i = w**2
    return InitMoments(r2=jnp.mean(r2_i), w2=jnp.mean(w2_i), r2w2=jnp.mean(r2_i * w2_i))


def crossover_frequency(moments: dict) -> jax.Array:
    """``ξ_c = √((⟨|r|²⟩ + ⟨w²⟩) / (4π² ⟨|r|²w²⟩))``: where the two terms of ``γ²`` are equal.

    Below ``ξ_c`` the ``|ξ|^{−(d+3)}`` (cubic-spline) term dominates, above it the ``|ξ|^{−(d+1)}``
    (linear-interpolant) term. ``+inf`` when ``⟨|r|²w²⟩ = 0``.
    """
    r2, w2, r2w2 = _check_moments(moments)
    return jnp.where(r2w2 > 0, jnp.sqrt((r2 + w2) / (_FOUR_PI2 * jnp.where(r2w2 > 0, r2w2, 1.0))), jnp.inf)


def predict_regime(moments: InitMoments, x: ArrayLike, *, period: float | None = None, factor: float = 3.0) -> Regime:
    """Which interpolant the LFP steady state approaches for data ``x``: cubic, linear or mixed.

    ``γ²``'s two terms have the ratio ``(cubic term)/(linear term) = (ξ_c/|ξ|)²``. The interpolant
    is set by ``γ²`` over the data's frequency band, from the lowest frequency ``ξ_low = 1/L``
    (``L`` = the period, default the data's extent ``max_a (max x_a − min x_a)``) up to and past the
    Nyquist frequency ``ξ_Nyq = 1/(2Δ)`` (``Δ = L / n^{1/d}`` with a period, ``L / (n^{1/d} − 1)``
    without: the mean spacing of ``n^{1/d}`` points per axis). The aliases of a data frequency ``j``
    above ``ξ_Nyq`` are what shape the interpolant between the samples, so

    * ``"cubic"`` when ``ξ_c ≥ factor · ξ_Nyq``: the cubic term wins by ``factor²`` up to Nyquist;
    * ``"linear"`` when ``ξ_c ≤ ξ_low / factor``: the linear term wins by ``factor²`` on the whole
      band (far below Nyquist is not enough: with ``ξ_low < ξ_c < ξ_Nyq`` the smooth part of the
      data is still fitted cubic-like);
    * ``"mixed"`` otherwise.

    The default ``factor = 3`` (terms differ ≥ 9×) is calibrated in ``tests/test_lfp.py``: on
    uniform 1-D data the steady state is then within ~10% (relative to the distance between the
    two interpolants) of the predicted one.

    Returns:
      :class:`Regime` (``regime``, ``xi_c``, ``xi_nyquist``, ``xi_low``, ``ratio_at_nyquist``
      ``= (ξ_c/ξ_Nyq)²``, ``ratio_at_low = (ξ_c/ξ_low)²``, ``factor``, ``rule``).

    Examples:
      >>> import jax.numpy as jnp
      >>> predict_regime(InitMoments(1.0, 1.0, 1e-6), jnp.linspace(0, 1, 10), period=1.0).regime
      'cubic'
    """
    factor = check_positive(factor, "factor")
    if factor < 1:
        raise ValueError(f"factor must be >= 1; got {factor}")
    x = _as_points(x, "x")
    n, d = x.shape
    xc = float(crossover_frequency(moments))
    xn = np.asarray(x, dtype=float)
    if period is None:
        extent = float(np.max(xn.max(0) - xn.min(0)))
        if extent <= 0 or n < 2:
            raise ValueError("x must hold at least two distinct points to define the data's band (or pass period)")
        per_axis = n ** (1.0 / d)
        spacing = extent / max(per_axis - 1.0, 1.0)
        L = extent
    else:
        L = check_positive(period, "period")
        spacing = L / n ** (1.0 / d)
    xi_nyq = 1.0 / (2.0 * spacing)
    xi_low = 1.0 / L
    if xc >= factor * xi_nyq:
        regime = "cubic"
    elif xc <= xi_low / factor:
        regime = "linear"
    else:
        regime = "mixed"
    return Regime(
        regime=regime,
        xi_c=xc,
        xi_nyquist=xi_nyq,
        xi_low=xi_low,
        ratio_at_nyquist=(xc / xi_nyq) ** 2,
        ratio_at_low=(xc / xi_low) ** 2,
        factor=factor,
        rule=(
            f"cubic if xi_c >= {factor:g}*xi_nyquist; linear if xi_c <= xi_low/{factor:g}; "
            "else mixed (xi_low = 1/L, xi_nyquist = 1/(2*spacing))"
        ),
    )


# ----------------------------------------------------------------------------------------------
# Torus machinery
# ----------------------------------------------------------------------------------------------

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


def frequency_grid(k_max: int, d: int) -> jax.Array:
    """Integer frequency vectors of the cube ``|k|_∞ ≤ k_max``: shape ``(2k_max+1,)*d + (d,)``.

    Entry ``[i_1, ..., i_d]`` is ``k = (i_1 − k_max, ..., i_d − k_max)``; the physical frequency is
    ``ξ = k / period``.
    """
    k_max = check_positive_int(k_max, "k_max", minimum=0)
    d = check_positive_int(d, "d")
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
    """
    d = check_positive_int(d, "d")
    if callable(gamma2):
        if k_max is None:
            raise ValueError("k_max is required when gamma2 is a callable")
        k_max = check_positive_int(k_max, "k_max", minimum=1)
        period = check_positive(period, "period")
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
    if is_concrete(g):
        gn = np.array(g)
        gn[(k_max,) * d] = 0.0
        if not np.all(np.isfinite(gn)):
            raise ValueError("gamma2 must be finite at every nonzero frequency of the grid")
        if np.any(gn < 0):
            raise ValueError("gamma2 must be >= 0 (a kernel spectrum)")
        if not np.allclose(gn, gn[(slice(None, None, -1),) * d], rtol=1e-5, atol=0):
            raise ValueError("gamma2 must be even, gamma2(k) == gamma2(-k), for a real kernel")
        return jnp.asarray(gn, g.dtype)
    return _zero_centre(g, k_max, d)


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
    """
    x1 = _as_points(x1, "x1")
    d = x1.shape[1]
    x2 = _as_points(x2, "x2", d)
    period = check_positive(period, "period")
    g0 = _parse_constant(constant)
    g = gamma2_on_grid(gamma2, d, k_max=k_max, period=period)
    k_max = _grid_kmax(g.shape, d, "gamma2")
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
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}")
    k_max = check_positive_int(k_max, "k_max", minimum=0)
    d = check_positive_int(d, "d")
    period = check_positive(period, "period")
    N = 4 * k_max + 4 if n_grid is None else check_positive_int(n_grid, "n_grid")
    ax = np.arange(N) * (period / N)
    pts = np.stack(np.meshgrid(*([ax] * d), indexing="ij"), axis=-1).reshape(-1, d)
    vals = as_array(fn(jnp.asarray(pts, _float_dtype())), "fn(x)").reshape((N,) * d)
    return coefficients_from_values(vals, k_max, period=period, d=d)


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
    if is_concrete(t):
        tn = np.asarray(t, dtype=float)
        if tn.size == 0 or np.any(np.isnan(tn)) or np.any(tn < 0):
            raise ValueError("t must hold at least one time, all >= 0 (inf allowed)")
    return jnp.atleast_1d(t)


class ResidualFlow(NamedTuple):
    """Result of :func:`residual_flow` (``T`` times, ``n`` training points).

    Attributes:
      weights: ``(T, n)`` ``a(t) = (1/n) ∫_0^t r``; ``f(x, t) = f0(x) − Σ_i K(x, x_i) a_i(t) + Δc(t)``.
      residual: ``(T, n)`` ``r(t) = f(X, t) − Y``.
      constant_shift: ``(T,)`` ``Δc(t)`` (0 without a free constant).
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


# ----------------------------------------------------------------------------------------------
# The network's own kernel on the line (1-D): where the LFP constant c comes from
# ----------------------------------------------------------------------------------------------


def lfp_constant_1d(l_half_width: float) -> float:
    """LFP time constant ``c = 1/(32 π⁴ L_l)`` of ``two_layer_relu`` in 1-D with ``l ~ U(−L_l, L_l)``.

    Derivation (see :func:`relu_ntk_1d`): the infinite-width NTK's translation-invariant part is
    ``(⟨r²⟩+⟨w²⟩)|δ|³/(24 L_l) − ⟨r²w²⟩|δ|/(4 L_l)``; with ``FT[|x|³] = 3/(4π⁴ξ⁴)`` and
    ``FT[|x|] = −1/(2π²ξ²)`` its transform is ``(⟨r²⟩+⟨w²⟩)/(32π⁴L_l ξ⁴) + ⟨r²w²⟩/(8π²L_l ξ²)``
    ``= c [(⟨r²⟩+⟨w²⟩)/ξ⁴ + 4π²⟨r²w²⟩/ξ²]``. Time is gradient-flow time ``t = η · steps``.
    """
    L = check_positive(l_half_width, "l_half_width")
    return 1.0 / (32.0 * math.pi**4 * L)


def relu_ntk_1d(x1: ArrayLike, x2: ArrayLike, moments: dict, l_half_width: float) -> jax.Array:
    """Infinite-width NTK of ``h(x) = (1/√m) Σ w_i ReLU(r_i (x + l_i))`` in 1-D, ``l_i ~ U(−L_l, L_l)``.

    For ``|x|, |x'| ≤ L_l``, ``r`` with a sign symmetric law independent of ``|r|, w`` and ``l``
    independent of ``(r, w)``, the mean over neurons of ``∇_θ h(x)·∇_θ h(x')`` (w-, r- and
    l-gradients) is, with ``A = ⟨r²⟩ + ⟨w²⟩``, ``B = ⟨r²w²⟩``, ``δ = |x − x'|``,

        K(x, x') = A L_l²/6 + A x x'/2 + B/2 + (A δ³/24 − B δ/4) / L_l.

    The polynomial part ``A L_l²/6 + B/2 + A x x'/2`` is the ``ξ = 0`` (constant and linear)
    part of the spectrum; the rest has the LFP transform ``γ²`` with ``c = lfp_constant_1d(L_l)``.
    ``x1 (n1,)`` or ``(n1, 1)``, ``x2`` likewise → ``(n1, n2)``.
    """
    x1 = _as_points(x1, "x1", 1)[:, 0]
    x2 = _as_points(x2, "x2", 1)[:, 0]
    L = check_positive(l_half_width, "l_half_width")
    r2, w2, r2w2 = _check_moments(moments)
    if is_concrete(x1) and is_concrete(x2):
        if max(float(jnp.max(jnp.abs(x1))), float(jnp.max(jnp.abs(x2)))) > L * (1 + 1e-6):
            raise ValueError(
                f"relu_ntk_1d needs |x| <= l_half_width = {L} (the closed form assumes "
                "every kink position range covers the data)"
            )
    A = r2 + w2
    delta = jnp.abs(x1[:, None] - x2[None, :])
    return A * L**2 / 6 + r2w2 / 2 + A * x1[:, None] * x2[None, :] / 2 + (A * delta**3 / 24 - r2w2 * delta / 4) / L


# ----------------------------------------------------------------------------------------------
# From a network to the LFP in one call
# ----------------------------------------------------------------------------------------------


class PeriodChoice(NamedTuple):
    """The torus chosen for data by :func:`choose_period`.

    Attributes:
      period: ``L``.
      shift: the data are mapped to the torus by ``x ↦ x + shift`` (then lie in ``[0, L)``).
      extent: the data's extent ``D = max x − min x``.
    """

    period: float
    shift: float
    extent: float


def choose_period(x: ArrayLike, *, pad: float = 8.0) -> PeriodChoice:
    """The torus for 1-D data: period ``L = pad · D`` and the data centred in ``[0, L)``.

    Rule: with extent ``D = max x − min x`` the period is ``L = pad · D`` (default ``pad = 8``) and the
    shift centres the data, ``x + shift ∈ [(L − D)/2, (L + D)/2]``. The LFP kernel lives on the
    torus ``[0, L)``: it is the periodisation of the network's translation-invariant kernel, so two
    points interact directly and through the wrap-around. ``pad → 1`` makes the fit periodic across
    the data's ends (a different function); the wrap-around coupling shrinks as ``L/D`` grows, but a
    long torus also speeds up the linear mode (see :func:`predict`'s matched period ``12 L_l``, its
    default, which is closer to the network's NTK flow than any ``pad``). Measured against the infinite-width NTK
    flow of ``two_layer_relu`` (6 points on ``[−1/2, 1/2]``, ``sin 2πx``, sup over the trajectory
    relative to ``max|y|``): 12% / 3.7% / 0.7% at ``pad = 2 / 4 / 8`` for a small init
    (``std = 0.01``, cubic regime; about ``(D/L)²``) and 24% / 15% / 6% for ``std = 1``. The cost is
    ``k_max ∝ L`` modes (see :func:`predict`), hence not larger by default.
    ``tests/test_lfp.py`` checks that the default is closer to the NTK flow than ``pad = 2``.

    Args:
      x: ``(n,)`` or ``(n, 1)`` points with at least two distinct values.
      pad: ``L / D``, at least 1.

    Returns:
      :class:`PeriodChoice`.

    Examples:
      >>> choose_period([-0.5, 0.0, 0.5], pad=2.0)
      PeriodChoice(period=2.0, shift=1.0, extent=1.0)
    """
    x = np.asarray(_as_points(x, "x", 1))[:, 0]
    pad = check_positive(pad, "pad")
    if pad < 1:
        raise ValueError(f"pad must be >= 1 (the period must contain the data); got {pad}")
    lo, hi = float(x.min()), float(x.max())
    extent = hi - lo
    if not extent > 0:
        raise ValueError("x must hold at least two distinct points to choose a period")
    period = pad * extent
    return PeriodChoice(period=period, shift=(period - extent) / 2.0 - lo, extent=extent)


_K_MAX_CAP = 2**16


def _default_k_max(mom: InitMoments, period: float, n: int, extent: float, tol: float = 1e-3) -> int:
    """Smallest power of two ``K ≥ max(64, 16 L/Δ)`` whose truncated tail is ``≤ tol`` of the kernel's
    variation over one data spacing.

    ``Δ = D/(n − 1)`` is the mean data spacing (``D`` the data's extent), so ``K ≥ 16 L/Δ`` resolves
    the data's Nyquist frequency ``1/(2Δ)`` 32 times over, for any period ``L``. In 1-D
    ``γ²(k/L) = c[A L⁴/k⁴ + 4π² B L²/k²]`` (``A = ⟨r²⟩+⟨w²⟩``, ``B = ⟨r²w²⟩``); dropping the modes
    ``k > K`` lowers every diagonal entry of the data kernel by
    ``ε = (2/L) Σ_{k>K} γ² ≤ 2c[A L³/(3K³) + 4π² B L/K]`` (a negative ridge; off-diagonal entries
    change far less because ``cos(2πkδ/L)`` oscillates). What the data see of the kernel is its
    variation over one spacing, of size ``s = (AΔ³/24 + BΔ/4)/L_l = 32π⁴c (AΔ³/24 + BΔ/4)`` (the two
    terms of :func:`relu_ntk_1d`'s translation-invariant part at ``δ = Δ``), which sets the scale of
    the data kernel's small eigenvalues; the rule
    asks ``ε ≤ tol · s``. Both ``ε`` and ``s`` are independent of ``L`` at fixed ``K Δ/L``, so the
    rule gives the same accuracy for every period and padding: with ``B`` dominant (``std ≈ 1``) it
    is ``K ≥ L/(π² tol Δ)``, about ``101 L/Δ`` at ``tol = 1e-3``. Capped at ``2¹⁶`` (a warning says
    when the cap binds).
    """
    A = float(mom.r2) + float(mom.w2)
    B = float(mom.r2w2)
    spacing = extent / max(n - 1, 1)
    K = 64
    while K < _K_MAX_CAP and K < 16 * period / spacing:
        K *= 2
    variation = 16 * math.pi**4 * (A * spacing**3 / 24 + B * spacing / 4)  # s / (2c)

    def tail(K):  # ε / (2c)
        return A * period**3 / (3 * K**3) + _FOUR_PI2 * B * period / K

    while K < _K_MAX_CAP and tail(K) > tol * variation:
        K *= 2
    if tail(K) > tol * variation:
        import warnings

        warnings.warn(
            f"k_max is capped at {K}: the truncated kernel tail is {tail(K) / variation:.1e} of the kernel's "
            f"variation over one data spacing (> {tol:g}); pass a smaller pad or period, or k_max",
            UserWarning,
            stacklevel=3,
        )
    return K


class LFPPrediction(NamedTuple):
    """Result of :func:`predict` (``T`` times, ``n`` training and ``m`` test points).

    Attributes:
      f_train: ``(T, n)`` LFP prediction of the network at ``x_train``.
      f_test: ``(T, m)`` at ``x_test``, or None.
      t: ``(T,)`` gradient-flow times ``η · steps``.
      period: the torus period ``L``. shift: ``x ↦ x + shift`` maps the data into ``[0, L)``.
      k_max: number of Fourier modes per sign. moments: the network's :class:`InitMoments`.
      lfp_constant: the time constant ``c`` of ``γ²`` (:func:`lfp_constant_1d`).
    """

    f_train: jax.Array
    f_test: jax.Array | None
    t: jax.Array
    period: float
    shift: float
    k_max: int
    moments: InitMoments
    lfp_constant: float


def predict(
    model: Model,
    params: PyTree,
    x_train: ArrayLike,
    y_train: ArrayLike,
    t: ArrayLike,
    x_test: ArrayLike | None = None,
    *,
    period: float | None = None,
    pad: float | None = None,
    k_max: int | None = None,
    rcond: float | None = None,
) -> LFPPrediction:
    """LFP prediction of a two-layer ReLU network trained by gradient descent on the MSE, in one call.

    For ``model = two_layer_relu(m, l_range=(−L_l, L_l))`` (or :func:`fpjax.models.asi` of it) in
    1-D, at ``params`` (usually the initialization):

    1. init moments ``⟨r²⟩, ⟨w²⟩, ⟨r²w²⟩`` of ``params`` (:func:`init_moments`) and the time constant
       ``c = 1/(32 π⁴ L_l)`` (:func:`lfp_constant_1d`, ``L_l`` half the width of ``l_range``) give
       ``γ²(ξ) = c[(⟨r²⟩+⟨w²⟩)/ξ⁴ + 4π²⟨r²w²⟩/ξ²]`` (:func:`gamma2`, ``d = 1``);
    2. the torus: ``period`` (default ``L = 12 L_l``, the matched period below; with ``pad`` given,
       :func:`choose_period`'s ``L = pad · D``) and the shift that centres the data in ``[0, L)``;
       a ``UserWarning`` when ``x_train``/``x_test`` would wrap
       (extent ``≥ period``, or test points outside the window ``[−shift, L − shift)``), or lie
       outside the kinks' range ``(−max l, −min l)`` where the LFP does not apply;
    3. ``k_max`` (default: the smallest power of two ``≥ max(64, 16 L/Δ)``, ``Δ`` the mean data
       spacing, whose truncated tail is ``≤ 1e-3`` of the kernel's variation over one spacing, for
       any period and padding; at most ``2¹⁶``). Measured against the infinite-width NTK flow
       (8 points on ``[−1/2, 1/2]``, ``sin 2πx``, default init, ``l_range = (−1, 1)``): the late-time
       error is ``≤ 0.05 %`` of ``max|y|`` at ``pad = 2, 8, 32`` (``tests/test_lfp_bridge.py``);
    4. the initial function ``f0 = model.apply(params, ·)`` enters exactly (not through a
       truncated Fourier series): the flow is linear, so
       ``f(x, t) = f0(x) − Σ_i K_L(x, x_i) a_i(t) + Δc(t)`` with ``a``, ``Δc`` from
       :func:`residual_flow` (``free_constant=True``) on the torus kernel ``K_L``
       (:func:`kernel_matrix`) and the residual ``f0(X) − Y``.

    Time is gradient-flow time ``t = η · steps``; the loss is ``(1/2n) Σ_i (f(x_i) − y_i)²``.

    **The matched period.** On a torus of period ``L`` the ``|δ|³`` part of the kernel
    (:func:`relu_ntk_1d`) becomes ``(A/24L_l)(|δ|³ − L δ²/2 − δ⁴/(2L) + L³/60)`` (the Bernoulli
    polynomial ``B₄``); its ``−(AL/48L_l)(x − x')²`` holds the linear kernel ``(AL/24L_l) x x'``, which
    equals the network's own linear part ``A x x'/2`` exactly when ``L = 12 L_l``. The periodised
    kernel then differs from the network's infinite-width NTK only by terms in ``x² + x'²``,
    ``δ⁴/L`` and ``B δ²/L``. Measured against the infinite-width NTK flow (:func:`relu_ntk_1d`,
    :func:`residual_flow`; 8 points on ``[−1/2, 1/2]``, ``sin 2πx``, width 20000, sup over the
    trajectory and a 61-point grid, relative to ``max|y|``): ``≤ 0.6 %`` at ``L = 12 L_l`` for
    ``std = 0.01, 0.1, 0.3, 1`` and ``L_l = 1, 2, 4``, against ``0.6–30 %`` with ``pad = 8``
    (the wrap-around and linear-mode error of ``pad = 8`` grows with ``L_l/D``: 6 %, 18 %, 30 %
    at ``L_l = 1, 2, 4`` for ``std = 1``; 0.7 % at ``std = 0.01``, ``L_l = 1``).

    Args:
      model: an :class:`fpjax.models.Model` from ``two_layer_relu`` (or ``asi`` of one).
      params: its parameters.
      x_train: ``(n,)`` or ``(n, 1)``. y_train: ``(n,)`` or ``(n, 1)``.
      t: times, scalar or ``(T,)``, ``inf`` allowed (the LFP steady state).
      x_test: ``(m,)`` or ``(m, 1)``, or None.
      period: torus period (default ``12 L_l``, or ``pad · D`` when ``pad`` is given).
      pad: ``L / D`` as in :func:`choose_period` (default None: the matched period).
      k_max: modes per sign (default above). rcond: of :func:`residual_flow`.

    Returns:
      :class:`LFPPrediction`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import two_layer_relu
      >>> model = two_layer_relu(256, l_range=(-2.0, 2.0))
      >>> x = jnp.linspace(-0.5, 0.5, 8)[:, None]
      >>> params = model.init(jax.random.key(0), x)
      >>> res = predict(model, params, x, jnp.sin(2 * jnp.pi * x), jnp.array([0.0, 1e3, jnp.inf]))
      >>> res.f_train.shape, res.f_test, res.period
      ((3, 8), None, 24.0)

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, arXiv:1905.10264; T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang,
      arXiv:2010.08153.
    """
    import warnings

    from fpjax._src.models import Model

    if not isinstance(model, Model) or (model.config or {}).get("kind") != "two_layer_relu":
        raise TypeError(
            "model must be fpjax.models.two_layer_relu(...) or asi of it (the LFP network); "
            f"got {getattr(model, 'name', type(model).__name__)}"
        )
    X = _as_points(x_train, "x_train")
    if X.shape[1] != 1:
        raise ValueError(
            f"x_train must be 1-D points, (n,) or (n, 1) (the LFP constant is derived in 1-D); "
            f"got shape {tuple(X.shape)}"
        )
    n = X.shape[0]
    Y = _as_values(y_train, "y_train", n)
    Xt = None if x_test is None else _as_points(x_test, "x_test", 1)
    lo_l, hi_l = (float(v) for v in model.config["l_range"])
    L_l = 0.5 * (hi_l - lo_l)
    mom = init_moments(params)
    c = lfp_constant_1d(L_l)
    xs = np.asarray(X)[:, 0]
    if period is None and pad is not None:
        choice = choose_period(xs, pad=pad)
        period, shift = choice.period, choice.shift
    else:
        if period is None:
            period = 12.0 * L_l  # the matched period (see above)
        period = check_positive(period, "period")
        extent = float(xs.max() - xs.min())
        if extent >= period:
            warnings.warn(
                f"x_train spans {extent:g} >= period {period:g}: the data wrap around the torus "
                "(points a period apart coincide); use a larger period",
                UserWarning,
                stacklevel=2,
            )
        shift = (period - extent) / 2.0 - float(xs.min())
    pts = [("x_train", xs)] + ([] if Xt is None else [("x_test", np.asarray(Xt)[:, 0])])
    for name, v in pts:
        if v.min() + shift < 0 or v.max() + shift >= period:
            warnings.warn(
                f"{name} leaves the torus window [{-shift:g}, {period - shift:g}) and wraps around "
                f"(period {period:g}); its prediction is that of the periodic image",
                UserWarning,
                stacklevel=2,
            )
        if v.min() <= -hi_l or v.max() >= -lo_l:
            warnings.warn(
                f"{name} leaves the kinks' range ({-hi_l:g}, {-lo_l:g}) of l_range {(lo_l, hi_l)}: "
                "the LFP (a translation-invariant kernel) does not describe the network there",
                UserWarning,
                stacklevel=2,
            )
    if k_max is None:
        k_max = _default_k_max(mom, period, n, float(xs.max() - xs.min()))
    k_max = check_positive_int(k_max, "k_max")
    g = gamma2_on_grid(lambda xi: gamma2(xi, mom, 1, c), 1, k_max=k_max, period=period)
    f0X = jnp.asarray(model.apply(params, X)).reshape(n)
    Xs = X + shift
    K = kernel_matrix(Xs, Xs, g, period=period)
    flow = residual_flow(K, Y, t, f0_train=f0X, free_constant=True, rcond=rcond)
    f_train = Y[None, :] + flow.residual
    f_test = None
    if Xt is not None:
        f0T = jnp.asarray(model.apply(params, Xt)).reshape(Xt.shape[0])
        KT = kernel_matrix(Xt + shift, Xs, g, period=period)
        f_test = f0T[None, :] - flow.weights @ KT.T + flow.constant_shift[:, None]
    return LFPPrediction(
        f_train=f_train,
        f_test=f_test,
        t=_check_times(t),
        period=float(period),
        shift=float(shift),
        k_max=int(k_max),
        moments=mom,
        lfp_constant=float(c),
    )
