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

Layout: the rates ``γ²``, init moments and regimes live in :mod:`fpjax._src.lfp_rates`; frequency
grids, the torus kernel and the coefficient transforms in :mod:`fpjax._src.lfp_torus`; the exact
dynamics (residual flow, :func:`evolve`, :func:`steady_state`) in :mod:`fpjax._src.lfp_flow`; the
1-D ReLU NTK and the constant ``c`` in :mod:`fpjax._src.lfp_relu`; the period and mode count in
:mod:`fpjax._src.lfp_period`. This module holds the network bridge :func:`predict` and gathers the
names that :mod:`fpjax.theory.lfp` exports.

References:
  Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle in
  two-layer neural networks", arXiv:1905.10264.
  Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the absence
  of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
  T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
  dynamics and its generalization", SIAM J. Math. Data Sci. (2022), arXiv:2010.08153.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src.array_types import ArrayLike, PyTree
from fpjax._src.checks import check_positive, check_positive_int
from fpjax._src.lfp_flow import (
    LFPTrajectory,
    ResidualFlow,
    _check_times,
    evolve,
    residual_flow,
    steady_state,
)
from fpjax._src.lfp_period import PeriodChoice, _default_k_max, choose_period
from fpjax._src.lfp_rates import (
    InitMoments,
    Regime,
    crossover_frequency,
    gamma2,
    init_moments,
    predict_regime,
)
from fpjax._src.lfp_relu import lfp_constant_1d, relu_ntk_1d
from fpjax._src.lfp_torus import (
    _as_points,
    _as_values,
    _grid_kmax,  # noqa: F401 (read by fpjax._src.fpnorm)
    coefficients_from_function,
    coefficients_from_values,
    evaluate_series,
    frequency_grid,
    gamma2_on_grid,
    kernel_matrix,
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


class LFPPrediction(NamedTuple):
    """Result of :func:`predict` (``T`` times, ``n`` training and ``m`` test points).

    Attributes:
      f_train: ``(T, n)`` LFP prediction of the network at ``x_train``.
      f_test: ``(T, m)`` at ``x_test``, or None.
      t: ``(T,)`` gradient-flow times ``η · steps``.
      period: the torus period ``L``. shift: ``x ↦ x + shift`` maps the data into ``[0, L)``.
      k_max: number of Fourier modes per sign. moments: the network's :class:`InitMoments`.
      lfp_constant: the time constant ``c`` of ``γ²`` (:func:`lfp_constant_1d`).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import two_layer_relu
      >>> model = two_layer_relu(16, l_range=(-1.0, 1.0))
      >>> x, y = jnp.array([-0.3, 0.0, 0.3]), jnp.array([1.0, -1.0, 1.0])
      >>> params = model.init(jax.random.key(0), x[:, None])
      >>> res = predict(model, params, x, y, jnp.inf, x_test=jnp.array([0.1]), k_max=64)
      >>> res.f_train.round(4).tolist(), res.f_test.shape, res.period, res.k_max
      ([[1.0, -1.0, 1.0]], (1, 1), 12.0, 64)

    References:
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. 4, 1272–1292 (2022), arXiv:2010.08153.
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
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, arXiv:1905.10264; Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu,
      Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200; T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang,
      arXiv:2010.08153.
    """
    _check_lfp_network(model)
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
    period, shift = _torus_for_data(xs, period, pad, L_l)
    pts = [("x_train", xs)] + ([] if Xt is None else [("x_test", np.asarray(Xt)[:, 0])])
    _warn_outside_the_window(pts, period, shift, (lo_l, hi_l))
    if k_max is None:
        k_max = _default_k_max(mom, period, n, float(xs.max() - xs.min()))
    k_max = check_positive_int(k_max, "k_max")
    g = gamma2_on_grid(lambda xi: gamma2(xi, mom, 1, c), 1, k_max=k_max, period=period)
    f_train, f_test = _predict_on_torus(model, params, X, Y, Xt, t, g, period=period, shift=shift, rcond=rcond)
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


def _check_lfp_network(model: Any) -> None:
    if not isinstance(model, Model) or (model.config or {}).get("kind") != "two_layer_relu":
        raise TypeError(
            "model must be fpjax.models.two_layer_relu(...) or asi of it (the LFP network); "
            f"got {getattr(model, 'name', type(model).__name__)}"
        )


def _torus_for_data(xs: np.ndarray, period: float | None, pad: float | None, L_l: float) -> tuple[float, float]:
    """``(period, shift)`` of :func:`predict`: :func:`choose_period` when only ``pad`` is given, else
    ``period`` (default the matched ``12 L_l``) with the data centred, warning when they wrap."""
    if period is None and pad is not None:
        choice = choose_period(xs, pad=pad)
        return choice.period, choice.shift
    if period is None:
        period = 12.0 * L_l  # the matched period (see predict)
    period = check_positive(period, "period")
    extent = float(xs.max() - xs.min())
    if extent >= period:
        warnings.warn(
            f"x_train spans {extent:g} >= period {period:g}: the data wrap around the torus "
            "(points a period apart coincide); use a larger period",
            UserWarning,
            stacklevel=3,
        )
    return period, (period - extent) / 2.0 - float(xs.min())


def _warn_outside_the_window(pts: list, period: float, shift: float, l_range: tuple[float, float]) -> None:
    """Warn (at :func:`predict`'s caller) for points that wrap around the torus or leave the kinks' range."""
    lo_l, hi_l = l_range
    for name, v in pts:
        if v.min() + shift < 0 or v.max() + shift >= period:
            warnings.warn(
                f"{name} leaves the torus window [{-shift:g}, {period - shift:g}) and wraps around "
                f"(period {period:g}); its prediction is that of the periodic image",
                UserWarning,
                stacklevel=3,
            )
        if v.min() <= -hi_l or v.max() >= -lo_l:
            warnings.warn(
                f"{name} leaves the kinks' range ({-hi_l:g}, {-lo_l:g}) of l_range {(lo_l, hi_l)}: "
                "the LFP (a translation-invariant kernel) does not describe the network there",
                UserWarning,
                stacklevel=3,
            )


def _predict_on_torus(model, params, X, Y, Xt, t, g, *, period, shift, rcond):
    """``f(x, t) = f0(x) − Σ_i K_L(x, x_i) a_i(t) + Δc(t)`` at ``X`` and ``Xt`` (step 4 of :func:`predict`)."""
    n = X.shape[0]
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
    return f_train, f_test
