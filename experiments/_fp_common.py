"""Helpers shared by the F-Principle lecture experiments (``fp-*``): seed keys, convergence steps,
rank statistics and claim records. Private (the runner skips modules starting with ``_``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fpjax._src.io import to_jsonable


def seed_keys(seed: int, n_seeds: int):
    """``n_seeds`` independent PRNG keys derived from the run's ``seed`` (one per sweep member)."""
    import jax

    return jax.random.split(jax.random.key(int(seed)), int(n_seeds))


def first_below(curves: Any, steps: Any, threshold: float) -> np.ndarray:
    """Step at which each curve first gets ``<= threshold``; ``inf`` where it never does.

    ``curves``: ``(..., T)`` values recorded at ``steps`` ``(T,)``. Returns float ``(...)``.
    """
    c = np.asarray(curves, dtype=float)
    st = np.asarray(steps, dtype=float)
    hit = c <= threshold
    idx = np.argmax(hit, axis=-1)
    return np.where(hit.any(axis=-1), st[idx], np.inf)


def finite_or_none(a: Any):
    """Nested lists with ``inf``/``nan`` replaced by ``None`` (JSON ``null``: "never reached")."""
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 0:
        return float(arr) if np.isfinite(arr) else None
    return [finite_or_none(v) for v in arr]


def strictly_increasing(v: Any) -> bool:
    """True if every entry is larger than the one before (``inf`` after ``inf`` is not)."""
    v = np.asarray(v, dtype=float)
    return bool(np.all(v[1:] > v[:-1]))


def non_decreasing(v: Any) -> bool:
    """True if no entry is smaller than the one before (ties allowed, ``inf`` only at the end)."""
    v = np.asarray(v, dtype=float)
    return bool(np.all(v[1:] >= v[:-1]))


def spearman(a: Any, b: Any) -> float:
    """Spearman rank correlation (average ranks for ties, ``inf`` ranks last); NaN if either is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(np.asarray(a, float)), rankdata(np.asarray(b, float))
    if np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def claim(text: str, held: bool, evidence: dict) -> dict:
    """One entry of the metrics' ``claims`` list (evidence converted to plain JSON types)."""
    return {"claim": text, "held": bool(held), "evidence": to_jsonable(evidence)}


def figure(figsize=(6, 4)):
    """A pyplot-free ``Figure`` (no display, no global state), saved with ``io.save_figure``."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def log_steps(steps: Any) -> np.ndarray:
    """Steps for a log axis: step 0 (initialization) drawn at half the first positive step."""
    st = np.asarray(steps, dtype=float)
    pos = st[st > 0]
    return np.where(st > 0, st, 0.5 * (pos[0] if pos.size else 1.0))


def error_heatmap(fig, ax, steps, values, row_labels, *, threshold=None, crossings=None, vmax=1.0,
                  label="relative error"):
    """Heat map of ``values (R, T)`` (rows × recorded steps) on a log step axis, with optional markers
    at the steps where each row first got below ``threshold`` (``crossings (R,)``, ``inf`` = never)."""
    st = log_steps(steps)
    v = np.where(np.isfinite(values), values, vmax)
    im = ax.pcolormesh(st, np.arange(v.shape[0]), v, cmap="viridis", vmin=0.0, vmax=vmax, shading="nearest")
    fig.colorbar(im, ax=ax, label=label)
    if crossings is not None:
        c = np.asarray(crossings, dtype=float)
        fin = np.isfinite(c)
        ax.plot(np.maximum(c[fin], st[0]), np.arange(c.size)[fin], "w^", ms=7,
                label=f"first ≤ {threshold:g}" if threshold is not None else None)
        if threshold is not None and fin.any():
            ax.legend(fontsize=7, loc="upper right")
    ax.set_xscale("log")
    ax.set_yticks(np.arange(v.shape[0]), row_labels, fontsize=8)
    ax.set_xlabel("step (step 0 drawn at the left edge)")
