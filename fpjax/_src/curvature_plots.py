"""Figures of curvature and loss landscapes (matplotlib ``Figure`` objects, no pyplot state).

Every function returns the ``Figure``; pass ``ax=`` (where offered) to draw into existing axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fpjax._src.array_types import ArrayLike


def _figure(figsize, ncols=1, nrows=1, **kw):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _axes(ax, figsize):
    if ax is None:
        fig, axes = _figure(figsize)
        return fig, axes[0, 0]
    import matplotlib.axes

    if not isinstance(ax, matplotlib.axes.Axes):
        raise TypeError(f"ax must be a matplotlib Axes; got {type(ax).__name__}")
    return ax.figure, ax


def _check_result(result: Any, what: str, fields: tuple[str, ...], losses_ndim: int | None = None) -> None:
    """TypeError naming ``result`` unless it has ``fields`` (and ``losses`` of rank ``losses_ndim``)."""
    ok = all(hasattr(result, f) for f in fields)
    if ok and losses_ndim is not None:
        ok = np.ndim(result.losses) == losses_ndim
    if not ok:
        raise TypeError(f"result must be a {what}; got {type(result).__name__}")


def plot_eigen_density(
    grid: ArrayLike,
    density: ArrayLike,
    *,
    ax=None,
    log: bool = True,
    label: str | None = None,
    floor: float = 1e-8,
    **plot_kwargs,
):
    """Plot an eigenvalue density (e.g. from :func:`fpjax.hessian.eigen_density`); return the ``Figure``.

    Args:
      grid, density: ``(G,)`` arrays.
      ax: existing axes to draw into (default: a new figure).
      log: log-scale density axis (the usual view: a spike at 0 and a sparse outlier bulk); values are
        clipped below at ``floor``.
      label: legend label.

    Returns:
      The matplotlib ``Figure``.

    Examples:
      >>> import numpy as np
      >>> from fpjax.hessian import plot_eigen_density
      >>> fig = plot_eigen_density(np.linspace(-1, 1, 5), np.ones(5))
      >>> type(fig).__name__
      'Figure'
    """
    grid = np.asarray(grid)
    density = np.asarray(density)
    if grid.ndim != 1 or density.shape != grid.shape:
        raise ValueError(f"grid and density must be 1-D of equal length; got {grid.shape}, {density.shape}")
    if log and not (isinstance(floor, (int, float, np.integer, np.floating)) and 0 < floor < np.inf):
        raise ValueError(f"floor must be > 0 and finite on a log axis; got {floor!r}")
    fig, ax = _axes(ax, (5, 3.5))
    y = np.maximum(density, floor) if log else density
    ax.plot(grid, y, label=label, **plot_kwargs)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    if label is not None:
        ax.legend()
    return fig


def plot_layer_curvature(result: Any, *, n_grid: int = 400, sigma: float | None = None):
    """Per-layer figure of a :class:`~fpjax.hessian.LayerCurvature`: trace and top eigenvalue by
    layer (bars, log scale, ± standard error), and every layer's broadened spectral density.

    Args:
      result: output of :func:`fpjax.hessian.layer_curvature`.
      n_grid: points of the common density grid.
      sigma: Gaussian broadening (default 1% of the overall node span).

    Returns:
      The matplotlib ``Figure`` (two panels; :meth:`LayerCurvature.plot` draws the same).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import layer_curvature, plot_layer_curvature
      >>> p = {"a": jnp.zeros(2), "b": jnp.zeros(1)}
      >>> loss = lambda q: jnp.sum(q["a"] ** 2) + 3 * jnp.sum(q["b"] ** 2)
      >>> r = layer_curvature(loss, p, key=jax.random.key(0), num_probes=2, num_iters=2)
      >>> fig = plot_layer_curvature(r, n_grid=50)
      >>> type(fig).__name__, fig.axes[0].get_title()
      ('Figure', 'hessian: per-layer blocks')
    """
    _check_result(result, "LayerCurvature (from fpjax.hessian.layer_curvature)", ("names", "trace", "nodes", "weights"))
    from fpjax._src.checks import check_positive_int

    n_grid = check_positive_int(n_grid, "n_grid", minimum=2)
    names = list(result.names)
    tr, se = np.asarray(result.trace, float), np.asarray(result.standard_error, float)
    top = np.asarray(result.top_eigenvalue, float)
    nodes, weights = np.asarray(result.nodes, float), np.asarray(result.weights, float)
    fig, axes = _figure((11, 3.8), ncols=2)
    ax = axes[0, 0]
    pos = np.arange(len(names))
    ax.bar(pos - 0.2, np.abs(tr), 0.4, yerr=np.nan_to_num(se), label="|trace|")
    ax.bar(pos + 0.2, np.abs(top), 0.4, label="|top eigenvalue|")
    ax.set_yscale("log")
    ax.set_xticks(pos, [n.replace("'", "") for n in names], rotation=45, ha="right", fontsize=7)
    ax.set_title(f"{result.curvature}: per-layer blocks")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    lo, hi = float(nodes.min()), float(nodes.max())
    s = sigma if sigma is not None else (0.01 * (hi - lo) if hi > lo else 1e-3)
    grid = np.linspace(lo - 6 * s, hi + 6 * s, n_grid)
    for i, n in enumerate(names):
        z = (grid[:, None, None] - nodes[i][None]) / s
        d = np.sum(np.exp(-0.5 * z * z) * weights[i][None], axis=(1, 2)) / (s * np.sqrt(2 * np.pi) * nodes.shape[1])
        ax.plot(grid, np.maximum(d, 1e-8), label=n.replace("'", ""), lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    ax.legend(fontsize=6, ncol=2)
    return fig


def plot_curvature_training(
    steps: ArrayLike,
    top_eigenvalue: ArrayLike,
    freq_errors: ArrayLike,
    freqs: ArrayLike,
    *,
    trace: ArrayLike | None = None,
    learning_rate: float | None = None,
    loss=None,
    loss_steps: ArrayLike | None = None,
):
    """Curvature next to the per-frequency errors of one training run.

    Left: the top Hessian eigenvalue (sharpness) against the step, with ``2/η`` when
    ``learning_rate`` is given (the stability limit of gradient descent on a quadratic, Cohen et al.
    2021, arXiv:2103.00065), and the trace on a second axis. Right: the relative error
    ``Δ_F(k)`` of each frequency against the step (log scale), the loss in grey.

    Args:
      steps: ``(R,)`` record steps.
      top_eigenvalue: ``(R,)`` (e.g. ``records.top_eigenvalue`` of :func:`curvature_recorder`).
      freq_errors: ``(R, K)`` relative error per frequency.
      freqs: ``(K,)`` frequency labels.
      trace: optional ``(R,)`` trace estimates.
      learning_rate: optional ``η`` for the ``2/η`` line.
      loss, loss_steps: optional training loss and its steps.

    Returns:
      The matplotlib ``Figure``.

    Examples:
      >>> import numpy as np
      >>> from fpjax.hessian import plot_curvature_training
      >>> fig = plot_curvature_training(np.arange(3), np.ones(3), np.ones((3, 2)), [1, 3], learning_rate=1.0)
      >>> len(fig.axes) >= 2
      True
    """
    steps = np.asarray(steps)
    top = np.asarray(top_eigenvalue, float)
    err = np.asarray(freq_errors, float)
    if top.shape != steps.shape or err.ndim != 2 or err.shape[0] != steps.shape[0]:
        raise ValueError(
            f"top_eigenvalue must be (R,) and freq_errors (R, K) with R = len(steps) = "
            f"{steps.shape[0]}; got {top.shape} and {err.shape}"
        )
    fig, axes = _figure((11, 3.8), ncols=2)
    ax = axes[0, 0]
    ax.plot(steps, top, color="C0", label="top eigenvalue")
    if learning_rate is not None:
        ax.axhline(2.0 / learning_rate, color="k", ls="--", lw=1, label="2/η")
    ax.set_xlabel("step")
    ax.set_ylabel("top eigenvalue", color="C0")
    if trace is not None:
        ax2 = ax.twinx()
        ax2.plot(steps, np.asarray(trace, float), color="C1", lw=1, label="trace")
        ax2.set_ylabel("trace", color="C1")
    ax.legend(loc="lower right", fontsize=8)
    ax = axes[0, 1]
    for j, k in enumerate(np.asarray(freqs).tolist()):
        ax.plot(steps, np.maximum(err[:, j], 1e-12), label=f"k = {k}")
    if loss is not None:
        ls = np.arange(len(loss)) if loss_steps is None else np.asarray(loss_steps)
        ax.plot(ls, np.asarray(loss), color="0.6", lw=0.8, label="loss")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("relative error Δ_F(k)")
    ax.legend(fontsize=8)
    return fig


def plot_landscape_1d(result: Any, *, ax=None, label: str | None = None, log: bool = False):
    """Loss along a 1-D slice (:class:`~fpjax.landscape.Slice1D`); return the ``Figure``.

    Args:
      result: a :class:`~fpjax.landscape.Slice1D` (``alphas (A,)``, ``losses (A,)``).
      ax: draw into this matplotlib ``Axes`` (its figure is returned); default a new figure.
      label: legend entry of the curve. log: log-scaled loss axis.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.landscape import plot_landscape_1d, slice_1d
      >>> s = slice_1d(lambda p: jnp.sum(p ** 2), jnp.zeros(2), jnp.ones(2), alphas=jnp.linspace(-1, 1, 5))
      >>> fig = plot_landscape_1d(s, label="L(θ + αd)")
      >>> type(fig).__name__, len(fig.axes[0].lines), fig.axes[0].get_xlabel()
      ('Figure', 1, 'α')
    """
    _check_result(result, "Slice1D (from fpjax.landscape.slice_1d)", ("alphas", "losses"), 1)
    fig, ax = _axes(ax, (5, 3.5))
    ax.plot(np.asarray(result.alphas), np.asarray(result.losses), label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("α")
    ax.set_ylabel("loss")
    if label is not None:
        ax.legend()
    return fig


def plot_landscape_contour(result: Any, *, ax=None, levels: int = 30, log: bool = True, trajectory=None):
    """Contour plot of a 2-D slice (:class:`~fpjax.landscape.Slice2D`), optionally with a projected
    trajectory (``(T, 2)`` coordinates, e.g. :class:`~fpjax.landscape.TrajectoryPCA` ``.coords``).

    Args:
      result: a :class:`~fpjax.landscape.Slice2D` (``alphas (A,)``, ``betas (B,)``, ``losses (A, B)``).
      ax: draw into this ``Axes``; default a new figure. levels: contour levels.
      log: contour ``log10`` of the loss. trajectory: optional ``(T, 2)`` path drawn on top.

    Returns:
      The ``Figure`` (the contour axes and its colour bar).

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.landscape import plot_landscape_contour, slice_2d
      >>> s = slice_2d(lambda p: p[0] ** 2 + 2 * p[1] ** 2, jnp.zeros(2), jnp.array([1.0, 0.0]),
      ...              jnp.array([0.0, 1.0]), alphas=jnp.linspace(-1, 1, 5), betas=jnp.linspace(-1, 1, 5))
      >>> fig = plot_landscape_contour(s, levels=5, log=False, trajectory=jnp.array([[1.0, 1.0], [0.0, 0.0]]))
      >>> len(fig.axes), fig.axes[0].get_xlabel()
      (2, 'α (direction 1)')
    """
    _check_result(result, "Slice2D (from fpjax.landscape.slice_2d)", ("alphas", "betas", "losses"), 2)
    if isinstance(levels, (int, np.integer)) and not isinstance(levels, bool) and levels < 1:
        raise ValueError(f"levels must be >= 1 (a number of contour levels) or a sequence of levels; got {levels}")
    fig, ax = _axes(ax, (5, 4.2))
    a, b = np.asarray(result.alphas), np.asarray(result.betas)
    z = np.asarray(result.losses, float)
    zz = np.log10(np.maximum(z, 1e-30)) if log else z
    cs = ax.contour(a, b, zz.T, levels=levels, cmap="viridis", linewidths=0.8)
    fig.colorbar(cs, ax=ax, label="log10 loss" if log else "loss")
    if trajectory is not None:
        t = np.asarray(trajectory)
        ax.plot(t[:, 0], t[:, 1], "-o", color="C3", ms=2, lw=1)
        ax.plot(t[-1, 0], t[-1, 1], "*", color="k", ms=9)
    ax.set_xlabel("α (direction 1)")
    ax.set_ylabel("β (direction 2)")
    return fig


def plot_landscape_surface(result: Any, *, log: bool = False):
    """3-D surface plot of a 2-D slice (:class:`~fpjax.landscape.Slice2D`); return the ``Figure``.

    Args:
      result: a :class:`~fpjax.landscape.Slice2D`. log: plot ``log10`` of the loss.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.landscape import plot_landscape_surface, slice_2d
      >>> s = slice_2d(lambda p: p[0] ** 2 + 2 * p[1] ** 2, jnp.zeros(2), jnp.array([1.0, 0.0]),
      ...              jnp.array([0.0, 1.0]), alphas=jnp.linspace(-1, 1, 5), betas=jnp.linspace(-1, 1, 4))
      >>> fig = plot_landscape_surface(s)
      >>> fig.axes[0].name, fig.axes[0].get_zlabel()
      ('3d', 'loss')
    """
    _check_result(result, "Slice2D (from fpjax.landscape.slice_2d)", ("alphas", "betas", "losses"), 2)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    a, b = np.meshgrid(np.asarray(result.alphas), np.asarray(result.betas), indexing="ij")
    z = np.asarray(result.losses, float)
    ax.plot_surface(a, b, np.log10(np.maximum(z, 1e-30)) if log else z, cmap="viridis", linewidth=0)
    ax.set_xlabel("α")
    ax.set_ylabel("β")
    ax.set_zlabel("log10 loss" if log else "loss")
    return fig
