"""Matplotlib figures for spectra and convergence per frequency. Every function returns a ``matplotlib.figure.Figure``
built without pyplot (no display, no global figure state, safe under the Agg backend and in
threads); save it with ``fig.savefig`` or ``fpjax._src.io.save_figure``. Nothing calls ``plt.show``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fpjax._src.array_types import ArrayLike

__all__ = [
    "plot_convergence_times",
    "plot_filter_errors",
    "plot_gradient_histograms",
    "plot_radial_profiles",
    "plot_relative_error_heatmap",
    "plot_spectrum",
]


def _figure(figsize):
    from matplotlib.figure import Figure  # lazy: importing fpjax.spectrum stays light

    return Figure(figsize=figsize, layout="constrained")


def _np(x, name):
    try:
        arr = np.asarray(x)
    except Exception as err:  # noqa: BLE001 - report any conversion failure with the name
        raise TypeError(f"{name} must be array-like; got {type(x).__name__} ({err})") from None
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    return arr


def _labels(labels, m, name="labels"):
    if labels is None:
        return [None] * m
    labels = list(labels)
    if len(labels) != m:
        raise ValueError(f"{name} must have one entry per curve ({m}); got {len(labels)}")
    return labels


def plot_spectrum(
    freqs: ArrayLike,
    spectra: ArrayLike,
    *,
    labels: Sequence[str] | None = None,
    logy: bool = True,
    title: str | None = None,
    xlabel: str = "frequency ξ",
    ylabel: str = "|f̂(ξ)|",
    marks: Sequence[float] | None = None,
    figsize=(6, 4),
):
    """Spectrum magnitude against frequency (log y by default).

    Args:
      freqs: ``(K,)``.
      spectra: ``(K,)`` or ``(m, K)`` (complex allowed: ``|·|`` is plotted), one curve per row.
      labels: ``m`` legend entries. marks: frequencies to mark with vertical lines (e.g. target ``k``).

    Returns:
      ``matplotlib.figure.Figure`` with one ``Axes``.

    Examples:
      >>> import numpy as np
      >>> freqs = np.arange(1, 9.0)
      >>> fig = plot_spectrum(freqs, np.stack([1 / freqs, 1 / freqs**2]), labels=["f", "h"], marks=[4.0])
      >>> ax = fig.axes[0]
      >>> len(ax.lines), ax.get_yscale()                    # two curves and the mark
      (3, 'log')
    """
    f = _np(freqs, "freqs").ravel()
    s = np.abs(_np(spectra, "spectra"))
    s = s[None] if s.ndim == 1 else s.reshape(-1, s.shape[-1])
    if s.shape[-1] != f.shape[0]:
        raise ValueError(f"spectra must have shape (..., K) with K = len(freqs) = {f.shape[0]}; got {s.shape}")
    fig = _figure(figsize)
    ax = fig.add_subplot()
    for row, lab in zip(s, _labels(labels, s.shape[0])):
        ax.plot(f, np.maximum(row, np.finfo(float).tiny) if logy else row, label=lab)
    if logy:
        ax.set_yscale("log")
    for m in marks or ():
        ax.axvline(m, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if labels is not None:
        ax.legend()
    return fig


def plot_relative_error_heatmap(
    delta_f: ArrayLike,
    steps: ArrayLike,
    freqs: ArrayLike,
    *,
    title: str | None = None,
    vmax: float | None = 1.0,
    cmap: str = "viridis",
    figsize=(6, 4),
):
    """Heat map of ``Δ_F(k)`` over training: frequency (y) × step (x).

    Args:
      delta_f: ``(n_steps, K)`` relative errors (``inf`` is clipped to ``vmax``).
      steps: ``(n_steps,)``; freqs: ``(K,)``.
      vmax: colour-scale maximum (default 1: an error of 100% or more saturates).

    Returns:
      ``matplotlib.figure.Figure``: the heat map and its colour bar (two ``Axes``).

    Examples:
      >>> import numpy as np
      >>> steps, freqs = np.array([0, 10, 20]), np.array([1.0, 2.0, 3.0, 4.0])
      >>> delta_f = np.exp(-np.outer(steps, 1 / freqs) / 10)          # (T=3, K=4)
      >>> fig = plot_relative_error_heatmap(delta_f, steps, freqs)
      >>> len(fig.axes), fig.axes[0].get_ylabel()
      (2, 'frequency k')
    """
    d = np.asarray(_np(delta_f, "delta_f"), dtype=float)
    st = _np(steps, "steps").ravel()
    fr = _np(freqs, "freqs").ravel()
    if d.shape != (st.shape[0], fr.shape[0]):
        raise ValueError(
            f"delta_f must have shape (len(steps), len(freqs)) = ({st.shape[0]}, {fr.shape[0]}); got {d.shape}"
        )
    top = vmax if vmax is not None else float(np.nanmax(np.where(np.isfinite(d), d, np.nan)))
    d = np.where(np.isinf(d), top, d)
    fig = _figure(figsize)
    ax = fig.add_subplot()
    # Cell edges from midpoints so non-uniform step or frequency lists are drawn correctly.
    im = ax.pcolormesh(_edges(st), _edges(fr), d.T, cmap=cmap, vmin=0.0, vmax=top, shading="flat")
    fig.colorbar(im, ax=ax, label="Δ_F(k)")
    ax.set_xlabel("step")
    ax.set_ylabel("frequency k")
    if title:
        ax.set_title(title)
    return fig


def _edges(c):
    c = np.asarray(c, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def plot_filter_errors(
    steps: ArrayLike,
    e_low: ArrayLike,
    e_high: ArrayLike,
    *,
    labels: Sequence[str] | None = None,
    logy: bool = True,
    title: str | None = None,
    figsize=(6, 4),
):
    """``e_low`` (solid) and ``e_high`` (dashed) against training step.

    Args:
      steps: ``(T,)``. e_low, e_high: ``(T,)`` or ``(m, T)`` (e.g. one row per δ, with ``labels``).

    Returns:
      ``matplotlib.figure.Figure`` with one ``Axes``.

    Examples:
      >>> import numpy as np
      >>> steps = np.arange(0, 50, 10)
      >>> fig = plot_filter_errors(steps, np.exp(-steps / 10), np.exp(-steps / 40))
      >>> [line.get_label() for line in fig.axes[0].lines]
      ['e_low', 'e_high']
    """
    st = _np(steps, "steps").ravel()
    lo = np.atleast_2d(_np(e_low, "e_low"))
    hi = np.atleast_2d(_np(e_high, "e_high"))
    if lo.shape != hi.shape or lo.shape[-1] != st.shape[0]:
        raise ValueError(
            f"e_low and e_high must have the same shape (..., len(steps)={st.shape[0]}); got {lo.shape} and {hi.shape}"
        )
    fig = _figure(figsize)
    ax = fig.add_subplot()
    for i, lab in enumerate(_labels(labels, lo.shape[0])):
        suffix = f" ({lab})" if lab is not None else ""
        (line,) = ax.plot(st, lo[i], label="e_low" + suffix)
        ax.plot(st, hi[i], ls="--", color=line.get_color(), label="e_high" + suffix)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("relative error")
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def plot_radial_profiles(
    profiles: ArrayLike,
    radii: ArrayLike,
    *,
    epochs: ArrayLike | None = None,
    layer_names: Sequence[str] | None = None,
    log: bool = True,
    ncols: int = 4,
    title: str | None = None,
    panel_size=(3.0, 2.4),
):
    """Radial weight-spectrum heat maps: one panel per layer, epoch (y) × radius (x).

    Args:
      profiles: ``(L, E, R)`` array, or a dict layer name → ``(E, R)`` (as from
        ``conv_layer_profiles`` on params recorded over epochs).
      radii: ``(R,)``. epochs: ``(E,)`` labels (default ``0..E-1``).
      log: colour by ``log10`` power (per-panel scale).

    Returns:
      ``matplotlib.figure.Figure``: one panel per layer (``ncols`` per row) with its colour bar.

    Examples:
      >>> import numpy as np
      >>> radii = np.arange(5)
      >>> profiles = {"conv0": np.ones((3, 5)), "conv1": np.exp(-np.outer(np.arange(3), radii))}  # (E, R)
      >>> fig = plot_radial_profiles(profiles, radii)
      >>> [ax.get_title() for ax in fig.axes if ax.get_title()]
      ['conv0', 'conv1']
    """
    if isinstance(profiles, Mapping):
        names = list(profiles) if layer_names is None else list(layer_names)
        arr = np.stack([np.asarray(profiles[k], dtype=float) for k in profiles])
    else:
        arr = np.asarray(_np(profiles, "profiles"), dtype=float)
        names = list(layer_names) if layer_names is not None else [f"layer {i}" for i in range(arr.shape[0])]
    if arr.ndim == 2:
        arr = arr[:, None, :]
    r = _np(radii, "radii").ravel()
    if arr.ndim != 3 or arr.shape[-1] != r.shape[0]:
        raise ValueError(f"profiles must be (layers, epochs, R) with R = len(radii) = {r.shape[0]}; got {arr.shape}")
    if len(names) != arr.shape[0]:
        raise ValueError(f"layer_names must have one entry per layer ({arr.shape[0]}); got {len(names)}")
    ep = np.arange(arr.shape[1]) if epochs is None else _np(epochs, "epochs").ravel()
    if ep.shape[0] != arr.shape[1]:
        raise ValueError(f"epochs must have length {arr.shape[1]}; got {ep.shape[0]}")
    n_layers = arr.shape[0]
    ncols = max(1, min(int(ncols), n_layers))
    nrows = -(-n_layers // ncols)
    fig = _figure((panel_size[0] * ncols, panel_size[1] * nrows))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        if i >= n_layers:
            ax.set_axis_off()
            continue
        z = np.log10(np.maximum(arr[i], np.finfo(float).tiny)) if log else arr[i]
        im = ax.pcolormesh(_edges(r), _edges(ep), z, shading="flat", cmap="magma")
        fig.colorbar(im, ax=ax, label="log10 power" if log else "power")
        ax.set_title(str(names[i]), fontsize=8)
        ax.set_xlabel("radius r")
        ax.set_ylabel("epoch")
    if title:
        fig.suptitle(title)
    return fig


def plot_gradient_histograms(
    histograms: Sequence[Any],
    *,
    labels: Sequence[str] | None = None,
    logy: bool = True,
    title: str | None = None,
    figsize=(6, 4),
):
    """Overlay input-gradient histograms (``GradientHistogram`` or ``(counts, edges)`` pairs).

    Counts are normalised to densities so batches of different sizes compare.

    Args:
      histograms: a sequence of :class:`~fpjax._src.spectrum_kernels.GradientHistogram` (from
        ``input_gradient_histogram``) or ``(counts (B,), edges (B + 1,))`` pairs, or one histogram.
      labels: one legend entry per histogram (the histogram's ``std`` is appended when it has one).

    Returns:
      ``matplotlib.figure.Figure`` with one ``Axes``.

    Examples:
      >>> import numpy as np
      >>> edges = np.linspace(-1, 1, 5)
      >>> fig = plot_gradient_histograms([(np.array([1, 4, 4, 1]), edges), (np.array([0, 5, 5, 0]), edges)],
      ...                                labels=["a", "b"])
      >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
      ['a', 'b']
    """
    if isinstance(histograms, tuple) and hasattr(histograms, "counts"):
        histograms = [histograms]
    hs = list(histograms)
    if not hs:
        raise ValueError("histograms must not be empty")
    fig = _figure(figsize)
    ax = fig.add_subplot()
    for h, lab in zip(hs, _labels(labels, len(hs))):
        try:
            counts, edges = (h.counts, h.edges) if hasattr(h, "counts") else (h[0], h[1])
            counts = np.asarray(counts, dtype=float)
            edges = np.asarray(edges, dtype=float)
        except (TypeError, ValueError, IndexError, KeyError):
            raise TypeError(
                f"histograms must hold GradientHistogram results (or (counts, edges) pairs); got {type(h).__name__}"
            ) from None
        if edges.shape[0] != counts.shape[0] + 1:
            raise ValueError(
                f"each histogram needs len(edges) = len(counts) + 1; got {edges.shape[0]} and {counts.shape[0]}"
            )
        dens = counts / max(counts.sum(), 1.0) / np.diff(edges)
        if lab is not None and hasattr(h, "std"):
            lab = f"{lab} (std {float(h.std):.3g})"
        ax.stairs(dens, edges, label=lab)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("∂(mean output)/∂(input pixel)")
    ax.set_ylabel("density")
    if labels is not None:
        ax.legend()
    if title:
        ax.set_title(title)
    return fig


def plot_convergence_times(
    times: Any, *, rule: str = "both", title: str | None = None, xlabel: str = "frequency ξ", figsize=(6, 4)
):
    """Convergence step per frequency: each seed as a dot, the seed mean with its confidence interval.

    Censored seeds (never below the threshold within the run) are drawn as open triangles at the
    last recorded step, seeds already below at step 0 as crosses; a mean that counts censored seeds
    (a lower bound) is drawn with an open marker.

    Args:
      times: a :class:`~fpjax._src.convergence.ConvergenceTimes` (from ``convergence_times``).
      rule: ``"first"``, ``"stays"`` or ``"both"`` (side by side, slightly offset).

    Returns:
      ``matplotlib.figure.Figure``.

    Examples:
      >>> import numpy as np
      >>> from fpjax._src.convergence import convergence_times
      >>> err = np.linspace(1, 0, 5)[None, :, None] * np.array([1.0, 2.0, 4.0])   # (1, T, K)
      >>> fig = plot_convergence_times(convergence_times(np.repeat(err, 3, 0), 0.5))
      >>> len(fig.axes)
      1
    """
    if not hasattr(times, "first_step") or not hasattr(times, "stays_step"):
        raise TypeError(f"times must be a ConvergenceTimes (from convergence_times); got {type(times).__name__}")
    if rule not in ("first", "stays", "both"):
        raise ValueError(f"unknown rule {rule!r}; expected 'first', 'stays' or 'both'")
    rules = ("first", "stays") if rule == "both" else (rule,)
    fr = np.asarray(times.freqs, dtype=float)
    steps = np.asarray(times.steps, dtype=float)
    spacing = np.min(np.diff(np.unique(fr))) if np.unique(fr).size > 1 else 1.0
    fig = _figure(figsize)
    ax = fig.add_subplot()
    for i, r in enumerate(rules):
        t = np.asarray(getattr(times, f"{r}_step"), dtype=float)
        cens = np.asarray(getattr(times, f"{r}_censored"))
        summ = getattr(times, r)
        lower = np.asarray(getattr(times, f"{r}_lower_bound"))
        off = (i - (len(rules) - 1) / 2) * 0.15 * spacing
        color = f"C{i}"
        n_seeds = t.shape[0]
        jit = (np.arange(n_seeds) - (n_seeds - 1) / 2) * 0.02 * spacing
        xs = fr[None, :] + off + jit[:, None]
        ok = ~cens
        ax.scatter(xs[ok], t[ok], s=10, color=color, alpha=0.4)
        if cens.any():
            ax.scatter(
                xs[cens],
                np.full(int(cens.sum()), steps[-1]),
                s=24,
                marker="^",
                facecolors="none",
                edgecolors=color,
                label=f"{r}: censored (never below)",
            )
        at0 = np.asarray(times.at_step0) & ok
        if at0.any():
            ax.scatter(xs[at0], t[at0], s=28, marker="x", color=color, label=f"{r}: below at step 0")
        mean = np.asarray(summ.mean, dtype=float)
        lo, hi = np.asarray(summ.ci_low, dtype=float), np.asarray(summ.ci_high, dtype=float)
        yerr = np.vstack([np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)])
        ax.errorbar(fr + off, mean, yerr=yerr, fmt="none", ecolor=color, capsize=3)
        ax.scatter(
            fr[~lower] + off, mean[~lower], s=40, color=color, marker="o", label=f"{r}: mean ± CI (n = {summ.n})"
        )
        if lower.any():
            ax.scatter(
                fr[lower] + off,
                mean[lower],
                s=40,
                marker="o",
                facecolors="none",
                edgecolors=color,
                label=f"{r}: mean, lower bound",
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"step with error < {times.threshold:g}")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    return fig
