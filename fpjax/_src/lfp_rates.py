"""LFP rates: the init moments of a two-layer ReLU network, ``γ²(ξ)``, the crossover frequency and
the regime (cubic / linear / mixed) they predict for data.

``γ²(ξ) = c [(⟨|r|²⟩ + ⟨w²⟩)/|ξ|^{d+3} + 4π²⟨|r|²w²⟩/|ξ|^{d+1}]`` is the rate of the Linear
Frequency Principle ``∂_t ĥ(ξ, t) = −γ²(ξ)(ĥ_ρ(ξ, t) − f̂_ρ(ξ))`` (conventions in :mod:`fpjax._src.lfp`).

References:
  Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the absence
  of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
  T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
  dynamics and its generalization", SIAM J. Math. Data Sci. (2022), arXiv:2010.08153.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src.array_types import ArrayLike
from fpjax._src.checks import (
    as_array,
    as_points,
    check_finite,
    check_positive,
    check_positive_int,
    error_if,
    is_concrete,
)

__all__ = [
    "gamma2",
    "init_moments",
    "InitMoments",
    "crossover_frequency",
    "predict_regime",
    "Regime",
]

_FOUR_PI2 = 4.0 * math.pi**2
_MOMENT_KEYS = ("r2", "w2", "r2w2")


class InitMoments(NamedTuple):
    """Init moments of a two-layer ReLU network (means over the ``m`` neurons).

    Attributes:
      r2: ``⟨|r|²⟩``. w2: ``⟨w²⟩``. r2w2: ``⟨|r|² w²⟩`` (0-d arrays).

    Examples:
      >>> mom = InitMoments(r2=1.0, w2=0.5, r2w2=0.25)
      >>> mom.r2 + mom.w2, mom._asdict()["r2w2"]
      (1.5, 0.25)

    References:
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
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

    Examples:
      >>> import jax.numpy as jnp
      >>> reg = predict_regime(InitMoments(1.0, 1.0, 1.0), jnp.linspace(0, 1, 10), period=1.0)
      >>> reg.regime, round(reg.xi_c, 4), reg.xi_nyquist, reg.xi_low
      ('linear', 0.2251, 5.0, 1.0)

    References:
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
    """

    regime: str
    xi_c: float
    xi_nyquist: float
    xi_low: float
    ratio_at_nyquist: float
    ratio_at_low: float
    factor: float
    rule: str


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
        got = f"; got {float(v)}" if is_concrete(v) else ""
        v = error_if(v, v < 0, f"moments[{k!r}] must be >= 0 (a mean of squares){got}")
        vals.append(v.astype(_float_dtype()) if not jnp.issubdtype(v.dtype, jnp.floating) else v)
    r2, w2, r2w2 = vals
    r2 = error_if(r2, r2 + w2 <= 0, "moments['r2'] + moments['w2'] must be > 0")
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
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200;
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

    References:
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
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

    Examples:
      >>> import math
      >>> mom = InitMoments(r2=1.0, w2=1.0, r2w2=2.0 / (4 * math.pi**2))
      >>> round(float(crossover_frequency(mom)), 6)
      1.0
      >>> float(crossover_frequency(InitMoments(1.0, 1.0, 0.0)))
      inf

    References:
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
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

    References:
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
    """
    factor = check_positive(factor, "factor")
    if factor < 1:
        raise ValueError(f"factor must be >= 1; got {factor}")
    x = as_points(x, "x")
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
