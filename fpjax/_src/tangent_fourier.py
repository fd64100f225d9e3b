"""Theorem 5.1: the Fourier picture of gradient flow through the tangent kernel.

For a model trained by gradient flow ``θ̇ = −∇_θ C`` on the **summed** cost
``C(θ) = Σ_i c(f(x_i), y_i)``, the chain rule gives, at every input ``x``,

    ``∂_t f(x) = ∇_θ f(x) · θ̇ = −Σ_i K_θ(x, x_i) ∂c/∂f(x_i)``

exactly (``K_θ`` the empirical NTK). Multiplying by the indicator of a compact box ``K`` holding
the data ("mollifying") and Fourier transforming:

    ``∂_t f̂(ξ) = −Σ_i K̂_θ(ξ, x_i) ∂c/∂f(x_i)``,  ``K̂_θ(ξ, x_i) = ∫_K K_θ(x, x_i) e^{−2πiξ·x} dx``,

and ``K̂_θ(ξ, x_i) → 0`` as ``|ξ| → ∞`` (Riemann–Lebesgue), so the high frequencies of ``f`` move
slowly: the frequency principle seen through the kernel.

This module evaluates both sides on a uniform grid over the box with the grid transform of
:func:`fpjax.spectrum.grid_fft` (``f̂(ξ_k) ≈ Δ Σ_j f(x_j) e^{−2πiξ_k x_j}``, ``ξ_k = k/(NΔ)``, the
Riemann sum of the Fourier integral over the box):

* **predicted**: ``−Σ_i K̂_θ(ξ, x_i) ∂c/∂f(x_i)`` from the empirical NTK between grid and data;
* **measured** from the model itself, never using the kernel:
  ``"finite_difference"``: ``(f(θ − εg) − f(θ + εg)) / (2ε)`` on the grid, ``g = ∇_θ C`` (a central
  difference along a small gradient step; error ``O(ε²)``);
  ``"ode"``: the diffrax gradient flow :func:`fpjax.train.gradient_flow` of ``C`` to ``t = τ`` and
  ``2τ``, Richardson-extrapolated ``2·(f(τ) − f(0))/τ − (f(2τ) − f(0))/(2τ)`` (error ``O(τ²)``),
  then transformed on the grid.

With the mean loss ``L = C/n`` of :mod:`fpjax.train` all time derivatives are ``n`` times smaller;
here both sides use the sum, so the identity holds with no factor.

It also fits the high-frequency decay of ``|K̂_θ|`` (power law ``|ξ|^{−α}`` or exponential
``e^{−β|ξ|}``, least squares on ``log|K̂|``; the smaller RMS residual wins).

**Step size of the measurement.** Both measured sides are difference quotients along a parameter
move of relative size ``rel_step`` (``‖Δθ‖ = rel_step·‖θ‖``). Their error is truncation
``∝ rel_step²`` plus rounding ``∝ eps/rel_step``, balanced at ``rel_step ∝ eps^{1/3}``. The default
is ``rel_step = 0.2·eps^{1/3}`` of the dtype: ``9.8e-4`` in float32, ``1.2e-6`` in float64. The
factor 0.2 leaves room for networks whose function bends fast along the gradient (a SIREN with
``ω0 = 30`` in float32 disagrees by ~1% at ``rel_step = 5e-3`` and by ~5e-4 at ``1e-3``: the
truncation error falls as ``rel_step²``). The value used is reported as
:attr:`TangentFourierResult.rel_step`, next to the absolute ``step`` (``ε`` or ``τ``) per method.

References:
  S. Ramasinghe, L. MacDonald, M. Farazi, H. Saratchandran, S. Lucey, "How you start matters for
  generalization", arXiv:2206.08558 (Theorem 5.1).
  A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel", NeurIPS 2018, arXiv:1806.07572.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fpjax._src import checks
from fpjax._src.array_types import ArrayLike, DTypeLike, PyTree
from fpjax._src.models import Model

__all__ = [
    "tangent_fourier",
    "TangentFourierResult",
    "PerMethod",
    "kernel_spectrum",
    "KernelSpectrum",
    "predicted_dfhat",
    "measured_dfhat",
    "MeasuredDfhat",
    "fit_decay",
    "DecayFit",
    "high_frequency_ratio",
    "spectral_agreement",
    "Agreement",
    "cost_grad",
    "default_rel_step",
    "planck_taper",
    "gaussian_taper",
    "COSTS",
    "METHODS",
]

COSTS = ("mse", "bce")
METHODS = ("finite_difference", "ode")


def planck_taper(n: int, fraction: float = 1 / 6) -> np.ndarray:
    """C^∞ Planck taper of length ``n``: 1 in the middle, rising smoothly from 0 over ``fraction``
    of the box at each end, ``w(t) = 1/(1 + exp(ε/t − ε/(ε − t)))`` for ``0 < t < ε`` (t the
    distance from the box edge in units of the box length).

    Unlike Tukey/Hann (whose second derivative jumps, capping any transform at ``|ξ|^{−3}``), every
    derivative of this window vanishes at the edges, so the transform of ``w·K`` decays as fast as
    ``K``'s own smoothness allows. With the default box (data span ± 25%) and ``fraction = 1/6``
    the taper lies entirely outside the data.

    Args:
      n: number of grid points. fraction: the rising part at each end, in ``(0, 0.5]``.

    Returns:
      ``(n,)`` float64 weights in ``[0, 1]`` at ``t = j/n`` (0 at ``j = 0``: the box edge).

    Examples:
      >>> planck_taper(12, fraction=1 / 3).round(3).tolist()  # w(ε/2) = 1/2
      [0.0, 0.065, 0.5, 0.935, 1.0, 1.0, 1.0, 1.0, 1.0, 0.935, 0.5, 0.065]

    References:
      D. J. A. McKechan, C. Robinson, B. S. Sathyaprakash, "A tapering window for time-domain
      templates and simulated signals in the detection of gravitational waves from coalescing
      compact binaries", Class. Quantum Grav. 27 (2010) 084020, arXiv:1003.2939.
    """
    n = checks.check_positive_int(n, "n")
    checks.check_memory(8.0 * 4 * n, "n", f"a taper of {n} points")
    eps = float(fraction)
    if not 0 < eps <= 0.5:
        raise ValueError(f"planck fraction must be in (0, 0.5]; got {fraction}")
    t = np.arange(n) / n
    t = np.minimum(t, 1.0 - t)  # distance from the nearer edge of [0, 1)
    w = np.ones(n)
    mid = (t > 0) & (t < eps)
    with np.errstate(over="ignore"):
        w[mid] = 1.0 / (1.0 + np.exp(eps / t[mid] - eps / (eps - t[mid])))
    w[t <= 0] = 0.0
    return w


def gaussian_taper(n: int, edge_log: float = 25.0) -> np.ndarray:
    """Gaussian window ``exp(−(x − c)²/(2σ²))`` centred on the box, ``σ = (L/2)/√(2·edge_log)``, so
    it equals ``e^{−edge_log}`` at the box edges (``1.4e-11`` by default).

    Its transform is a Gaussian, so ``(w·K)^ = ŵ * K̂`` keeps an exponential or power-law decay of
    ``K̂`` visible down to the truncation level ``e^{−edge_log}``: the window to see how smooth the
    kernel itself is, instead of the ``|ξ|^{−1}`` that the jump at the edges of a hard box gives.

    Args:
      n: number of grid points. edge_log: ``−log`` of the window at the box edges (> 0).

    Returns:
      ``(n,)`` float64 weights at ``t = j/n − 1/2`` box lengths from the centre.

    Examples:
      >>> import math
      >>> w = gaussian_taper(8)
      >>> float(w[4]), math.isclose(w[0], math.exp(-25.0))  # 1 at the centre, e^{−25} at the edge
      (1.0, True)
      >>> w.round(3).tolist()
      [0.0, 0.0, 0.002, 0.21, 1.0, 0.21, 0.002, 0.0]
    """
    n = checks.check_positive_int(n, "n")
    checks.check_memory(8.0 * 4 * n, "n", f"a taper of {n} points")
    edge_log = checks.check_positive(edge_log, "edge_log")
    t = np.arange(n) / n - 0.5  # box centre at 0, edges at ±1/2 (in box lengths)
    sigma = 0.5 / np.sqrt(2 * edge_log)
    return np.exp(-(t**2) / (2 * sigma**2))


_TAPERS = {"planck": (planck_taper, 1 / 6), "gaussian": (gaussian_taper, 25.0)}


def _parse_window(window):
    """``(grid_fft_window, (taper_fn, parameter) or None)``."""
    if isinstance(window, str) and window in _TAPERS:
        return None, _TAPERS[window]
    if isinstance(window, (tuple, list)) and len(window) == 2 and window[0] in _TAPERS:
        return None, (_TAPERS[window[0]][0], float(window[1]))
    return window, None


def _grid_fft(values, axes, window=None):
    # The grid transform of fpjax.spectrum (Δ·FFT with the origin phase, centred freqs).
    from fpjax.spectrum import grid_fft

    win, taper = _parse_window(window)
    if taper is not None:
        fn, param = taper
        d = len(axes)
        for k, ax in enumerate(axes):
            shape = [1] * values.ndim
            shape[values.ndim - d + k] = len(ax)
            values = values * jnp.asarray(fn(len(ax), param), values.dtype).reshape(shape)
    return grid_fft(values, tuple(axes) if len(axes) > 1 else axes[0], window=win)


# ----------------------------------------------------------------------------------------------
# costs
# ----------------------------------------------------------------------------------------------


def _mse_cost(f, y):
    return 0.5 * (f - y) ** 2


def _bce_cost(f, y):
    return optax.sigmoid_binary_cross_entropy(f, y)  # softplus(f) − y f


@functools.cache
def _summed(c: Callable) -> Callable:
    """``C(pred, y) = Σ c(pred, y)``, one function object per ``c`` so jit caches are reused."""
    return lambda pred, yv: jnp.sum(c(pred, yv))


def _per_sample_cost(loss) -> Callable:
    """Per-sample cost ``c(f, y)`` (elementwise) for a loss name or a callable."""
    if callable(loss):
        return loss
    checks.check_choice(loss, "loss", COSTS)
    return _mse_cost if loss == "mse" else _bce_cost


def cost_grad(f: ArrayLike, y: ArrayLike, loss: str | Callable = "mse") -> jax.Array:
    """``∂c/∂f(x_i)``: ``f − y`` for ``mse`` (``c = ½(f − y)²``), ``sigmoid(f) − y`` for ``bce``
    (``c = softplus(f) − y f``, ``f`` a logit); any elementwise callable ``c(f, y)`` via autodiff.

    Args:
      f: model outputs ``f(x_i)``. y: targets, the shape of ``f``.
      loss: ``"mse"``, ``"bce"`` or an elementwise ``c(f, y)``.

    Returns:
      ``∂c/∂f``, the shape of ``f``.

    Examples:
      >>> import jax.numpy as jnp
      >>> f, y = jnp.array([0.0, 2.0]), jnp.array([1.0, 1.0])
      >>> cost_grad(f, y).tolist(), [round(v, 4) for v in cost_grad(f, y, "bce").tolist()]
      ([-1.0, 1.0], [-0.5, -0.1192])
      >>> cost_grad(f, y, lambda f, y: jnp.abs(f - y)).tolist()  # sign(f - y)
      [-1.0, 1.0]
    """
    c = _per_sample_cost(loss)
    f, y = checks.as_array(f, "f"), checks.as_array(y, "y")
    checks.check_no_complex(f, "f")
    checks.check_no_complex(y, "y")
    if f.shape != y.shape:
        raise ValueError(f"f and y must have the same shape; got f {tuple(f.shape)} and y {tuple(y.shape)}")
    return jax.grad(lambda ff: jnp.sum(c(ff, y)))(f)


# ----------------------------------------------------------------------------------------------
# grid and kernel spectrum
# ----------------------------------------------------------------------------------------------


def _box_and_grid(x, box, grid_size):
    d = x.shape[1]
    xn = np.asarray(x, dtype=np.float64)
    if box is None:
        lo, hi = xn.min(axis=0), xn.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        lo, hi = lo - 0.25 * span, hi + 0.25 * span
    else:
        try:
            lo, hi = (np.broadcast_to(np.asarray(b, dtype=np.float64), (d,)) for b in box)
        except (TypeError, ValueError):
            raise ValueError(f"box must be (low, high) with scalars or length-{d} arrays; got {box!r}") from None
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)):
            raise ValueError(f"box must have finite low < high on every axis; got low={lo}, high={hi}")
    if isinstance(grid_size, (bool, str, float)) or not isinstance(grid_size, (int, np.integer, tuple, list)):
        raise TypeError(f"grid_size must be an int or a sequence of ints; got {type(grid_size).__name__}")
    sizes = (grid_size,) * d if isinstance(grid_size, (int, np.integer)) else tuple(grid_size)
    if len(sizes) != d:
        raise ValueError(f"grid_size must be an int or one size per input dimension ({d}); got {grid_size!r}")
    for k, s in enumerate(sizes):
        checks.check_positive_int(s, f"grid_size[{k}]", minimum=4)
    # the grid (N, d), the kernel against the data (N, n) and its complex transform (n, N)
    checks.check_memory(
        float(np.prod(sizes, dtype=np.float64)) * (d + 3 * x.shape[0]) * np.dtype(x.dtype).itemsize,
        "grid_size",
        f"the kernel on a grid of {sizes} points against {x.shape[0]} data points",
    )
    axes = [lo[k] + (hi[k] - lo[k]) / sizes[k] * np.arange(sizes[k]) for k in range(d)]
    # The box is [a, a + NΔ): the grid's own cell, so the data must lie inside it.
    if np.any(xn < lo) or np.any(xn >= hi):
        raise ValueError(f"the data x must lie inside the box [{lo.tolist()}, {hi.tolist()}); widen box")
    return lo, hi, tuple(sizes), axes


class KernelSpectrum(NamedTuple):
    """Grid transform of the tangent kernel.

    freqs: ``(N,)`` (1-D) or a tuple of d ``(N_k,)`` centred frequency axes (cycles per unit of x).
    axes: the grid axes (list of d ``(N_k,)`` numpy arrays); grid point ``(j_1..j_d)``.
    kernel: ``(n, N_1, …, N_d)`` real, ``K_θ(x_grid, x_i)``.
    kernel_hat: ``(n, N_1, …, N_d)`` complex, ``K̂_θ(ξ, x_i)``.

    Examples:
      At ``ξ = 0`` the transform is the Riemann sum ``Δ Σ_j K_θ(x_j, x_i)``:

      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> model = mlp((16, 1), "tanh")
      >>> x = jnp.linspace(-1, 1, 6)[:, None]
      >>> spec = kernel_spectrum(model, model.init(jax.random.key(0), x), x, grid_size=64)
      >>> spec.freqs.shape, spec.kernel.shape, spec.kernel_hat.shape, len(spec.axes)
      ((64,), (6, 64), (6, 64), 1)
      >>> dx = spec.axes[0][1] - spec.axes[0][0]
      >>> float(spec.freqs[32]), bool(jnp.allclose(spec.kernel_hat[:, 32], dx * spec.kernel.sum(1), rtol=1e-5))
      (0.0, True)
    """

    freqs: Any
    axes: list
    kernel: jax.Array
    kernel_hat: jax.Array


def _grid_points(axes, dtype):
    mesh = np.meshgrid(*axes, indexing="ij")
    return jnp.asarray(np.stack([m.reshape(-1) for m in mesh], axis=1), dtype=dtype)


@checks.renamed_keyword(model_or_apply="apply")
def kernel_spectrum(
    apply: Model | Callable,
    params: PyTree,
    x: ArrayLike,
    *,
    box: tuple[ArrayLike, ArrayLike] | None = None,
    grid_size: int | Sequence[int] = 256,
    window: str | tuple[str, float] | None = None,
    implementation: str | int = "auto",
    batch_size: int | None = None,
) -> KernelSpectrum:
    """``K̂_θ(ξ, x_i)``: the grid transform of ``x ↦ K_θ(x, x_i)`` over ``box`` (zero outside).

    Args:
      apply, params: as in :func:`fpjax.ntk.empirical_ntk` (scalar output).
      x: ``(n, d)`` data points ``x_i``.
      box: ``(low, high)`` (scalars or ``(d,)``); default: the data's bounding box widened by 25% of
        its span on each side. The grid is ``low + j (high − low)/N``, ``j < N``, per axis.
      grid_size: ``N`` (int or one per axis). window: ``None`` (default: the hard box of the
        theorem), a ``grid_fft`` window (``"tukey"``, ``("tukey", α)``, ``"hann"``), or
        ``"planck"``/``("planck", fraction)`` for the C^∞ :func:`planck_taper`, or
        ``"gaussian"``/``("gaussian", edge_log)`` for :func:`gaussian_taper`.
      implementation, batch_size: of :func:`fpjax.ntk.empirical_ntk`.

    Returns:
      :class:`KernelSpectrum` ``(freqs, axes, kernel (n, N…), kernel_hat (n, N…))``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> model = mlp((16, 1), "tanh")
      >>> x = jnp.linspace(-1, 1, 6)[:, None]  # box: [-1.5, 1.5)
      >>> spec = kernel_spectrum(model, model.init(jax.random.key(0), x), x, grid_size=64)
      >>> spec.kernel_hat.shape, float(spec.axes[0][0]), round(float(-spec.freqs[0]), 4)  # Nyquist 64/(2·3)
      ((6, 64), -1.5, 10.6667)

    References:
      S. Ramasinghe, L. MacDonald, M. Farazi, H. Saratchandran, S. Lucey, "How you start matters for
      generalization", arXiv:2206.08558 (Theorem 5.1).
    """
    from fpjax._src.ntk import empirical_ntk

    x = checks.as_array(x, "x")
    checks.check_no_complex(x, "x")
    checks.check_ndim(x, "x", 2, shape_hint="(n, d)")
    checks.check_finite(x, "x")
    _, _, sizes, axes = _box_and_grid(x, box, grid_size)
    pts = _grid_points(axes, x.dtype)
    k = empirical_ntk(apply, params, pts, x, implementation=implementation, batch_size=batch_size)
    k = jnp.moveaxis(k.reshape(sizes + (x.shape[0],)), -1, 0)
    freqs, khat = _grid_fft(k, [np.asarray(a, np.dtype(x.dtype)) for a in axes], window)
    return KernelSpectrum(freqs, axes, k, khat)


def predicted_dfhat(kernel_hat: ArrayLike, dc_df: ArrayLike) -> jax.Array:
    """``∂_t f̂(ξ) = −Σ_i K̂_θ(ξ, x_i) ∂c/∂f(x_i)``; ``kernel_hat (n, N…)``, ``dc_df (n,)`` → ``(N…)``.

    Args:
      kernel_hat: ``(n, N…)`` :attr:`KernelSpectrum.kernel_hat`. dc_df: ``(n,)`` :func:`cost_grad`.

    Returns:
      ``(N…)``, the predicted ``∂_t f̂`` (complex for complex ``kernel_hat``).

    Examples:
      >>> import jax.numpy as jnp
      >>> kernel_hat = jnp.array([[1.0, 2.0, 0.5], [0.0, 1.0, 1.0]])
      >>> (predicted_dfhat(kernel_hat, jnp.array([1.0, -2.0])) + 0.0).tolist()
      [-1.0, 0.0, 1.5]

    References:
      S. Ramasinghe, L. MacDonald, M. Farazi, H. Saratchandran, S. Lucey, "How you start matters for
      generalization", arXiv:2206.08558 (Theorem 5.1).
    """
    kh = checks.as_array(kernel_hat, "kernel_hat")
    r = checks.as_array(dc_df, "dc_df").reshape(-1)
    if kh.shape[0] != r.shape[0]:
        raise ValueError(f"kernel_hat has {kh.shape[0]} data rows but dc_df has {r.shape[0]} entries")
    return -jnp.tensordot(r.astype(kh.dtype), kh, axes=(0, 0))


# ----------------------------------------------------------------------------------------------
# measured side
# ----------------------------------------------------------------------------------------------


def _tree_norm(tree):
    return jnp.sqrt(sum(jnp.sum(jnp.abs(v) ** 2) for v in jax.tree_util.tree_leaves(tree)))


def default_rel_step(dtype: DTypeLike) -> float:
    """Default relative step ``0.2·eps(dtype)^{1/3}`` of the measured side (see the module docstring).

    Examples:
      >>> round(default_rel_step("float32"), 6), round(default_rel_step("float64"), 9)
      (0.000984, 1.211e-06)
    """
    try:
        eps = float(jnp.finfo(dtype).eps)
    except (TypeError, ValueError):
        raise TypeError(f"dtype must be a floating dtype (e.g. 'float32'); got {dtype!r}") from None
    return 0.2 * eps ** (1.0 / 3.0)


class MeasuredDfhat(NamedTuple):
    """Result of :func:`measured_dfhat`.

    Attributes:
      freqs: the grid frequencies (as :class:`KernelSpectrum`).
      dfhat: ``(N…)`` complex, measured ``∂_t f̂(ξ)``.
      step: the absolute step (``ε`` for finite differences, ``τ`` for the ODE).
      rel_step: the relative step used (the argument, or :func:`default_rel_step`).
      resolution: the relative rounding floor of the measurement.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> model = mlp((16, 1), "tanh")
      >>> x = jnp.linspace(-1, 1, 6)[:, None]
      >>> md = measured_dfhat(model, model.init(jax.random.key(0), x), x, jnp.sin(3 * x[:, 0]),
      ...                     [jnp.linspace(-1.5, 1.5, 64, endpoint=False)])
      >>> md.dfhat.shape, md.rel_step == default_rel_step("float32"), md.resolution < 1e-3
      ((64,), True, True)
    """

    freqs: Any
    dfhat: jax.Array
    step: float
    rel_step: float
    resolution: float


@checks.renamed_keyword(model_or_apply="apply")
def measured_dfhat(
    apply: Model | Callable,
    params: PyTree,
    x: ArrayLike,
    y: ArrayLike,
    axes: Sequence[ArrayLike],
    *,
    loss: str | Callable = "mse",
    method: str = "finite_difference",
    rel_step: float | None = None,
    window: str | tuple[str, float] | None = None,
    ode_rtol: float | None = None,
    ode_atol: float | None = None,
) -> MeasuredDfhat:
    """``∂_t f̂(ξ)`` measured from the model under the gradient flow of ``C = Σ_i c(f(x_i), y_i)``.

    ``method="finite_difference"``: ``(f(θ − εg) − f(θ + εg))/(2ε)`` with ``g = ∇_θC`` and
    ``ε = rel_step·‖θ‖/‖g‖`` (the step moves the parameters by ``rel_step`` of their norm).
    ``method="ode"``: diffrax flow (:func:`fpjax.train.gradient_flow` with the summed cost) to
    ``τ`` and ``2τ``, Richardson-extrapolated to ``O(τ²)``, with ``τ = rel_step / max(‖g‖/‖θ‖,
    ‖Hg‖/‖g‖)`` (small against both the parameter scale and the rate at which the gradient turns).
    ``rel_step`` defaults to :func:`default_rel_step` of the data's dtype.

    Returns:
      :class:`MeasuredDfhat` ``(freqs, dfhat (N…), step, rel_step, resolution)``;
      ``resolution = eps·max|f|/max|Δf|`` is the relative rounding floor of the measurement (the
      agreement cannot be better than that; it approaches 1 when the gradient vanishes, e.g. at a
      converged minimum, and the check is void).

    Args:
      apply, params: a model or ``apply(params, x)`` (scalar output) and its parameters.
      x: ``(n, d)``. y: ``(n,)`` targets. axes: the grid axes, d arrays ``(N_k,)`` (e.g.
        :attr:`KernelSpectrum.axes`). loss: as :func:`cost_grad`. method: ``"finite_difference"``
        or ``"ode"``. window: as :func:`kernel_spectrum`. ode_rtol, ode_atol: diffrax tolerances
        (defaults ``max(1e-12, 1e3·eps)`` and 1% of it).

    Examples:
      The measured side agrees with Theorem 5.1's prediction (no kernel used in the measurement):

      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> model = mlp((16, 1), "tanh")
      >>> x = jnp.linspace(-1, 1, 6)[:, None]; y = jnp.sin(3 * x[:, 0])
      >>> params = model.init(jax.random.key(0), x)
      >>> spec = kernel_spectrum(model, params, x, grid_size=64)
      >>> pred = predicted_dfhat(spec.kernel_hat, cost_grad(model.apply(params, x)[:, 0], y))
      >>> md = measured_dfhat(model, params, x, y, spec.axes)
      >>> spectral_agreement(pred, md.dfhat).rel_error < 1e-3
      True

    References:
      S. Ramasinghe, L. MacDonald, M. Farazi, H. Saratchandran, S. Lucey, "How you start matters for
      generalization", arXiv:2206.08558 (Theorem 5.1).
    """
    from fpjax._src.models import Model
    from fpjax._src.train import gradient_flow

    checks.check_choice(method, "method", METHODS)
    y = checks.as_array(y, "y")
    checks.check_finite(y, "y")  # a NaN target makes the cost gradient NaN, not "zero"
    apply_fn = apply.apply if isinstance(apply, Model) else apply
    c = _per_sample_cost(loss)
    dtype = x.dtype
    pts = _grid_points(axes, dtype)
    sizes = tuple(len(a) for a in axes)
    np_axes = [np.asarray(a, np.dtype(dtype)) for a in axes]
    f0_shape = jax.eval_shape(apply_fn, params, x).shape
    if y.size != math.prod(f0_shape):
        raise ValueError(f"y must hold one target per output, shape {f0_shape}; got shape {tuple(y.shape)}")
    yy = y.reshape(f0_shape)

    def cost(p):
        return jnp.sum(c(apply_fn(p, x), yy))

    g = jax.grad(cost)(params)
    gn, pn = _tree_norm(g), _tree_norm(params)
    if not float(gn) > 0:
        raise ValueError("the cost gradient is zero at params: ∂_t f = 0 and there is nothing to measure")
    h = default_rel_step(dtype) if rel_step is None else checks.check_positive(rel_step, "rel_step")
    if method == "finite_difference":
        # A fixed direction g: only the size of the parameter move matters.
        step = float(h * pn / gn)
    else:
        # Along the flow g itself turns at the relative rate ‖Hg‖/‖g‖ (dg/dt = −Hg): the time step
        # must be small against that too, not only against ‖θ‖/‖g‖ (trained nets have small g and
        # large curvature). One Hessian-vector product (forward over reverse) estimates it.
        hg = jax.jvp(jax.grad(cost), (params,), (g,))[1]
        rate = max(float(gn / pn), float(_tree_norm(hg) / gn))
        step = h / rate
    on_grid = jax.jit(lambda p: apply_fn(p, pts).reshape(sizes))
    if method == "finite_difference":
        shift = lambda s: jax.tree_util.tree_map(lambda a, b: a + s * b, params, g)
        f0, fm, fp = on_grid(params), on_grid(shift(-step)), on_grid(shift(step))
        dfdt = (fm - fp) / (2.0 * step)
        change = fm - fp
    else:
        eps = float(jnp.finfo(dtype).eps)
        rtol = ode_rtol if ode_rtol is not None else max(1e-12, 1e3 * eps)
        atol = ode_atol if ode_atol is not None else rtol * 1e-2
        ps = gradient_flow(
            apply_fn, params, x, yy, jnp.asarray([0.0, step, 2 * step], dtype), loss=_summed(c), rtol=rtol, atol=atol
        )
        p_at = lambda k: jax.tree_util.tree_map(lambda a: a[k], ps)
        f0, f1, f2 = on_grid(params), on_grid(p_at(1)), on_grid(p_at(2))
        # D(τ) = ḟ + τ f̈/2 + O(τ²); 2D(τ) − D(2τ) = ḟ + O(τ²).
        dfdt = 2.0 * (f1 - f0) / step - (f2 - f0) / (2.0 * step)
        change = f1 - f0
    freqs, dfhat = _grid_fft(dfdt, np_axes, window)
    # Rounding floor of the difference quotient: eps·|f| against the change of f it resolves. When
    # the gradient is ~0 (a converged net), ∂_t f is below what float arithmetic can measure.
    eps = float(jnp.finfo(dtype).eps)
    peak_change = float(jnp.max(jnp.abs(change)))
    resolution = eps * float(jnp.max(jnp.abs(f0))) / peak_change if peak_change > 0 else float("inf")
    return MeasuredDfhat(freqs, dfhat, step, float(h), resolution)


# ----------------------------------------------------------------------------------------------
# comparison and decay
# ----------------------------------------------------------------------------------------------


class Agreement(NamedTuple):
    """Result of :func:`spectral_agreement`: ``rel_error`` (float) and ``ratio`` (``(N…)`` complex).

    Examples:
      >>> import jax.numpy as jnp
      >>> rel_error, ratio = spectral_agreement(jnp.array([1.0, 2.0]), jnp.array([1.0, 2.2]))
      >>> round(rel_error, 4), [round(v, 4) for v in ratio.real.tolist()]
      (0.0894, [1.0, 1.1])
    """

    rel_error: float
    ratio: jax.Array


def spectral_agreement(predicted: ArrayLike, measured: ArrayLike, *, floor: float = 1e-6) -> Agreement:
    """``‖meas − pred‖₂/‖pred‖₂`` over all frequencies, and ``meas/pred`` per frequency.

    Returns:
      :class:`Agreement` ``(rel_error, ratio)``; ``ratio`` is complex, NaN where
      ``|pred| < floor·max|pred|`` (where the ratio is noise/noise).

    Args:
      predicted, measured: arrays of one shape (e.g. :func:`predicted_dfhat`,
        :attr:`MeasuredDfhat.dfhat`). floor: relative size below which ``ratio`` is NaN.

    Examples:
      >>> import jax.numpy as jnp
      >>> a = spectral_agreement(jnp.array([1.0, 2.0, 1e-9]), jnp.array([1.1, 2.0, 0.0]))
      >>> round(a.rel_error, 4), [round(v, 4) for v in a.ratio.real.tolist()]  # 0.1/√5; the tiny third: NaN
      (0.0447, [1.1, 1.0, nan])
    """
    p = checks.as_array(predicted, "predicted")
    m = checks.as_array(measured, "measured")
    floor = checks.check_positive(floor, "floor", allow_zero=True)
    if p.shape != m.shape:
        raise ValueError(f"predicted and measured must have the same shape; got {p.shape} and {m.shape}")
    den = jnp.linalg.norm(p.ravel())
    rel = jnp.linalg.norm((m - p).ravel()) / den
    big = jnp.abs(p) >= floor * jnp.max(jnp.abs(p))
    ratio = jnp.where(big, m / jnp.where(big, p, 1.0), jnp.nan + 0j)
    return Agreement(float(rel), ratio)


def _as_numpy(a, name):
    """Host array in its own precision (no silent float32 cast of float64 numpy input)."""
    if isinstance(a, (str, bytes, dict)) or a is None:
        raise TypeError(f"{name} must be an array of Fourier coefficients (n, N...); got {type(a).__name__}")
    arr = np.asarray(a)
    if arr.ndim < 2 or arr.size == 0:
        raise ValueError(f"{name} must have shape (n, N_1, ..., N_d) with n >= 1; got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN/Inf")
    return arr


def _radius(freqs):
    """``|ξ|`` on the centred grid and the largest radius per axis (for ∞-norm normalisation)."""
    fs = [np.asarray(freqs)] if not isinstance(freqs, tuple) else [np.asarray(f) for f in freqs]
    if not all(f.size and np.issubdtype(f.dtype, np.number) and np.all(np.isfinite(f)) for f in fs):
        raise ValueError("freqs must be non-empty and finite (the grid frequencies of a KernelSpectrum)")
    mesh = np.meshgrid(*fs, indexing="ij")
    rad = np.sqrt(sum(m**2 for m in mesh))
    rel = np.max(np.stack([np.abs(m) / np.max(np.abs(f)) for m, f in zip(mesh, fs)]), axis=0)
    nyq = min(float(np.max(np.abs(f))) for f in fs)
    return rad, rel, nyq


class DecayFit(NamedTuple):
    """Least-squares fits of ``log A(ξ)``, ``A`` = RMS over data points of ``|K̂_θ(ξ, x_i)|``.

    power: ``log A ≈ log c − α log|ξ|`` (``alpha``, ``power_rms`` residual);
    exponential: ``log A ≈ log c − β|ξ|`` (``beta``, ``exp_rms``); ``choice`` is the one with the
    smaller RMS residual of ``log A`` (natural log). ``band``: the ``(low, high)`` frequencies
    fitted; ``n_points`` the number of frequencies used.

    Examples:
      >>> import numpy as np
      >>> freqs = np.arange(-128, 128) / 8.0
      >>> fit = fit_decay(freqs, np.exp(-0.5 * np.abs(freqs))[None], band=(0.2, 0.6))
      >>> fit.choice, round(fit.beta, 6), fit.band, fit.n_points
      ('exponential', 0.5, (3.2, 9.6), 102)
    """

    alpha: float
    power_logc: float
    power_rms: float
    beta: float
    exp_logc: float
    exp_rms: float
    choice: str
    band: tuple
    n_points: int


def _default_floor(dtype) -> float:
    # Rounding of an FFT of N values leaves ~N·eps relative noise; stay well above it
    # (1e-10 in float64, 1.2e-3 in float32).
    return max(1e-10, 1e4 * float(np.finfo(dtype).eps))


def fit_decay(
    freqs: ArrayLike,
    kernel_hat: ArrayLike,
    *,
    band: tuple[float, float] | None = None,
    start: float = 1e-2,
    floor: float | None = None,
) -> DecayFit:
    """Fit the high-frequency decay of ``|K̂_θ(ξ, x_i)|`` (see :class:`DecayFit`).

    ``band``: ``(low, high)`` fractions of the Nyquist frequency ``ξ_Nyq = N/(2L)``. ``None``
    (default) picks it from the data: from the first frequency where ``A`` drops below
    ``start·peak`` (where the "high-frequency" tail begins) to the first where it reaches
    ``floor·peak`` (rounding, or a window's truncation), capped at ``0.6 ξ_Nyq`` (above, aliasing of
    the grid transform folds energy back). Frequencies with ``A ≤ floor·peak`` are never used.

    Args:
      freqs: centred frequency axis ``(N,)`` or a tuple of d axes (:attr:`KernelSpectrum.freqs`).
      kernel_hat: ``(n, N…)`` (:attr:`KernelSpectrum.kernel_hat`).
      band: see above. start: where the tail begins, relative to the peak. floor: the relative
        level below which ``A`` is rounding (default ``max(1e-10, 1e4·eps)`` of the dtype).

    Returns:
      :class:`DecayFit`.

    Examples:
      An exact power law ``|ξ|^{−3}`` is recognised, with its exponent:

      >>> import numpy as np
      >>> freqs = np.arange(-128, 128) / 8.0
      >>> kernel_hat = np.maximum(np.abs(freqs), 1 / 8) ** -3.0
      >>> fit = fit_decay(freqs, kernel_hat[None], band=(0.2, 0.5))
      >>> fit.choice, round(fit.alpha, 6), fit.power_rms < 1e-12
      ('power', 3.0, True)
    """
    kh = _as_numpy(kernel_hat, "kernel_hat")
    rad, _, nyq = _radius(freqs)
    if kh.shape[1:] != rad.shape:
        raise ValueError(
            f"kernel_hat must have shape (n, {', '.join(map(str, rad.shape))}) to match freqs; got {kh.shape}"
        )
    amp = np.sqrt(np.mean(np.abs(kh) ** 2, axis=0))
    peak = float(amp.max())
    if not peak > 0:
        raise ValueError("kernel_hat is identically zero: nothing to fit")
    floor = _default_floor(kh.real.dtype) if floor is None else checks.check_positive(floor, "floor")
    if not (isinstance(start, (int, float, np.integer, np.floating)) and 0 < start < 1):
        raise ValueError(f"start must be a fraction of the peak in (0, 1); got {start!r}")
    if band is None:
        # Radial profile: the largest A at each distinct |ξ| (in n-D many frequencies share a radius).
        r_u, inv = np.unique(np.round(rad / (nyq / 1e6)).astype(np.int64), return_inverse=True)
        prof = np.zeros(r_u.size)
        np.maximum.at(prof, inv.reshape(-1), amp.reshape(-1))
        radii = r_u * (nyq / 1e6)
        below = np.nonzero((radii > 0) & (prof < start * peak))[0]
        if below.size == 0:
            raise ValueError(
                f"|K̂| never drops below start={start} of its peak on this grid: use a finer grid or a larger start"
            )
        lo = radii[below[0]]
        gone = np.nonzero((radii > lo) & (prof <= floor * peak))[0]
        hi = min(0.6 * nyq, radii[gone[0]] if gone.size else np.inf)
    else:
        lo_f, hi_f = (float(b) for b in band)
        if not 0 < lo_f < hi_f <= 1:
            raise ValueError(f"band must be fractions 0 < low < high <= 1 of the Nyquist frequency; got {band}")
        lo, hi = lo_f * nyq, hi_f * nyq
    sel = (rad >= lo) & (rad <= hi) & (amp > floor * peak)
    if np.count_nonzero(sel) < 3:
        raise ValueError(
            f"fewer than 3 frequencies in the fit band [{lo:.4g}, {hi:.4g}] above the floor; "
            "use a finer grid (smaller Δ) or a longer box"
        )
    r, la = rad[sel], np.log(amp[sel])

    def lsq(feat):
        a = np.stack([np.ones_like(feat), feat], axis=1)
        coef, *_ = np.linalg.lstsq(a, la, rcond=None)
        res = la - a @ coef
        return float(coef[0]), float(-coef[1]), float(np.sqrt(np.mean(res**2)))

    pc, alpha, prms = lsq(np.log(r))
    ec, beta, erms = lsq(r)
    return DecayFit(
        alpha, pc, prms, beta, ec, erms, "power" if prms <= erms else "exponential", (float(lo), float(hi)), int(r.size)
    )


def high_frequency_ratio(freqs: ArrayLike, kernel_hat: ArrayLike, *, top_fraction: float = 0.1) -> float:
    """``max_i max_{ξ in top} |K̂_θ(ξ, x_i)| / max_ξ |K̂_θ(ξ, x_i)|``.

    "top" is the top ``top_fraction`` of the frequency range: ``max_k |ξ_k|/ξ_{k,max} ≥ 1 − top_fraction``
    (per-axis normalised ∞-norm; in 1-D simply ``|ξ| ≥ 0.9 max|ξ|`` for the default).

    Args:
      freqs: centred frequency axis ``(N,)`` or a tuple of d axes. kernel_hat: ``(n, N…)``.
      top_fraction: in ``(0, 1)``.

    Returns:
      A float in ``[0, 1]``.

    Examples:
      >>> import numpy as np
      >>> freqs = np.arange(-128, 128) / 8.0  # |ξ| ≤ 16
      >>> high_frequency_ratio(freqs, np.ones((1, 256)))  # flat: no decay
      1.0
      >>> high_frequency_ratio(freqs, np.exp(-np.abs(freqs))[None]) < 1e-6  # e^{-0.9·16} = 5.6e-7
      True
    """
    kh = np.abs(_as_numpy(kernel_hat, "kernel_hat"))
    if not 0 < top_fraction < 1:
        raise ValueError(f"top_fraction must be in (0, 1); got {top_fraction}")
    _, rel, _ = _radius(freqs)
    if kh.shape[1:] != rel.shape:
        raise ValueError(
            f"kernel_hat must have shape (n, {', '.join(map(str, rel.shape))}) to match freqs; got {kh.shape}"
        )
    top = rel >= 1 - top_fraction
    kh = kh.reshape(kh.shape[0], -1)
    peak = kh.max(axis=1)
    hi = kh[:, top.reshape(-1)].max(axis=1)
    return float(np.max(hi / np.where(peak > 0, peak, 1.0)))


# ----------------------------------------------------------------------------------------------
# everything together
# ----------------------------------------------------------------------------------------------


class PerMethod(NamedTuple):
    """One value per measurement method of :func:`tangent_fourier` (``None`` for a method not run).

    Attributes:
      finite_difference: the value for ``method="finite_difference"``, or ``None``.
      ode: the value for ``method="ode"``, or ``None``.

    Read one method as ``res.rel_error.ode``, or by name as ``getattr(res.rel_error, m)`` for ``m``
    in ``res.methods``.

    Examples:
      >>> rel_error = PerMethod(finite_difference=2e-6)
      >>> rel_error
      PerMethod(finite_difference=2e-06, ode=None)
      >>> getattr(rel_error, "finite_difference")
      2e-06
    """

    finite_difference: jax.Array | float | None = None
    ode: jax.Array | float | None = None


class TangentFourierResult(NamedTuple):
    """Output of :func:`tangent_fourier`.

    Attributes:
      freqs, axes, kernel, kernel_hat: see :class:`KernelSpectrum`.
      dc_df: ``(n,)`` ``∂c/∂f(x_i)``.
      predicted: ``(N…)`` complex, ``−Σ_i K̂_θ(ξ, x_i) ∂c/∂f(x_i)``.
      methods: the measurement methods run, in the order asked (a subset of :data:`METHODS`).
      measured: :class:`PerMethod` of ``(N…)`` complex measured ``∂_t f̂(ξ)``.
      rel_error: :class:`PerMethod` of floats, the relative L2 error over all frequencies.
      ratio: :class:`PerMethod` of ``(N…)`` complex measured/predicted.
      step: :class:`PerMethod` of the absolute steps (``ε`` or ``τ``).
      rel_step: the relative step used by every method (the argument as the user set it, or
        :func:`default_rel_step`).
      resolution: :class:`PerMethod` of floats, the measurement's rounding floor (see
        :func:`measured_dfhat`).
      decay: :class:`DecayFit`; hf_ratio: :func:`high_frequency_ratio` at ``top_fraction``.

    The :class:`PerMethod` fields of a method not in ``methods`` are ``None``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> model = mlp((16, 1), "tanh")
      >>> x = jnp.linspace(-1, 1, 6)[:, None]
      >>> res = tangent_fourier(model, model.init(jax.random.key(0), x), x, jnp.sin(3 * x), grid_size=64,
      ...                       methods="finite_difference", fit_band=(0.2, 0.5))
      >>> res.methods, res.predicted.shape, res.measured.ode is None
      (('finite_difference',), (64,), True)
    """

    freqs: Any
    axes: list
    kernel: jax.Array
    kernel_hat: jax.Array
    dc_df: jax.Array
    predicted: jax.Array
    methods: tuple[str, ...]
    measured: PerMethod
    rel_error: PerMethod
    ratio: PerMethod
    step: PerMethod
    rel_step: float
    resolution: PerMethod
    decay: DecayFit
    hf_ratio: float


@checks.renamed_keyword(model_or_apply="apply")
def tangent_fourier(
    apply: Model | Callable,
    params: PyTree,
    x: ArrayLike,
    y: ArrayLike,
    *,
    loss: str | Callable = "mse",
    box: tuple[ArrayLike, ArrayLike] | None = None,
    grid_size: int | Sequence[int] = 256,
    methods: str | Sequence[str] = METHODS,
    rel_step: float | None = None,
    window: str | tuple[str, float] | None = None,
    fit_band: tuple[float, float] | None = None,
    top_fraction: float = 0.1,
    implementation: str | int = "auto",
    batch_size: int | None = None,
) -> TangentFourierResult:
    """Check Theorem 5.1 for a model at ``params`` on data ``(x, y)``; see the module docstring.

    Args:
      apply: :class:`fpjax.models.Model` or ``apply(params, x) -> (n, 1)``/``(n,)``.
      x: ``(n, d)``; y: ``(n,)`` or ``(n, 1)`` targets (``{0, 1}`` labels for ``bce``, whose
        model output is a logit).
      loss: ``"mse"`` (``c = ½(f − y)²``), ``"bce"`` or an elementwise ``c(f, y)``.
      box, grid_size, window: see :func:`kernel_spectrum`. methods: subset of
        ``("finite_difference", "ode")``. rel_step: relative step of the measured side (default
        :func:`default_rel_step`: ``9.8e-4`` in float32, ``1.2e-6`` in float64; see the module
        docstring), reported back as ``rel_step``.
      fit_band: see :func:`fit_decay`. top_fraction: see :func:`high_frequency_ratio`.

    Returns:
      :class:`TangentFourierResult`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> model = mlp((16, 1), "tanh")
      >>> x = jnp.linspace(-1, 1, 6)[:, None]
      >>> params = model.init(jax.random.key(0), x)
      >>> res = tangent_fourier(model, params, x, jnp.sin(3 * x), grid_size=128, methods="finite_difference",
      ...                       fit_band=(0.2, 0.5))
      >>> res.rel_error.finite_difference < 1e-2, res.rel_step == default_rel_step("float32")
      (True, True)

    References:
      S. Ramasinghe, L. MacDonald, M. Farazi, H. Saratchandran, S. Lucey, "How you start matters for
      generalization", arXiv:2206.08558 (Theorem 5.1).
    """
    from fpjax._src.models import Model

    x = checks.as_array(x, "x")
    checks.check_ndim(x, "x", 2, shape_hint="(n, d)")
    checks.check_finite(x, "x")
    y = checks.as_array(y, "y")
    checks.check_finite(y, "y")
    if y.size != x.shape[0] or y.ndim > 2:
        raise ValueError(
            f"y must hold one scalar target per sample, shape ({x.shape[0]},) or ({x.shape[0]}, 1); "
            f"got {tuple(y.shape)}"
        )
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    for m in methods:
        checks.check_choice(m, "method", METHODS)
    apply_fn = apply.apply if isinstance(apply, Model) else apply
    out = jax.eval_shape(apply_fn, params, x)
    if math.prod(out.shape) != x.shape[0]:
        raise ValueError(f"Theorem 5.1 is checked for scalar outputs; the model returns shape {tuple(out.shape)}")
    spec = kernel_spectrum(
        apply,
        params,
        x,
        box=box,
        grid_size=grid_size,
        window=window,
        implementation=implementation,
        batch_size=batch_size,
    )
    f = apply_fn(params, x).reshape(-1)
    r = cost_grad(f, y.reshape(-1).astype(f.dtype), loss)
    pred = predicted_dfhat(spec.kernel_hat, r)
    measured, rel, ratio, step, resolution = {}, {}, {}, {}, {}
    for m in methods:
        md = measured_dfhat(
            apply, params, x, y.reshape(-1), spec.axes, loss=loss, method=m, rel_step=rel_step, window=window
        )
        measured[m], step[m], resolution[m] = md.dfhat, md.step, md.resolution
        rel[m], ratio[m] = spectral_agreement(pred, md.dfhat)
    methods = tuple(measured)  # each method once, in the order asked
    decay = fit_decay(spec.freqs, spec.kernel_hat, band=fit_band)
    hf = high_frequency_ratio(spec.freqs, spec.kernel_hat, top_fraction=top_fraction)
    used = default_rel_step(x.dtype) if rel_step is None else float(rel_step)
    return TangentFourierResult(
        spec.freqs,
        spec.axes,
        spec.kernel,
        spec.kernel_hat,
        r,
        pred,
        methods,
        PerMethod(**measured),
        PerMethod(**rel),
        PerMethod(**ratio),
        PerMethod(**step),
        used,
        PerMethod(**resolution),
        decay,
        hf,
    )
