"""The torus for data: the period and shift (:func:`choose_period`) and the number of Fourier modes
the LFP prediction of a network needs for a given period.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from fpjax._src.array_types import ArrayLike
from fpjax._src.checks import as_points, check_positive
from fpjax._src.lfp_rates import _FOUR_PI2, InitMoments

__all__ = [
    "choose_period",
    "PeriodChoice",
]


class PeriodChoice(NamedTuple):
    """The torus chosen for data by :func:`choose_period`.

    Attributes:
      period: ``L``.
      shift: the data are mapped to the torus by ``x ↦ x + shift`` (then lie in ``[0, L)``).
      extent: the data's extent ``D = max x − min x``.

    Examples:
      >>> choice = choose_period([0.0, 1.0, 3.0], pad=4.0)
      >>> choice.period, choice.shift, choice.extent
      (12.0, 4.5, 3.0)
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
    x = np.asarray(as_points(x, "x", 1))[:, 0]
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
