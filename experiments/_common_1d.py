"""Shared helpers of the 1-D experiments of "How you start matters" (hys1, hys2, hys3, hysA2, hysA3).

Small, pure helpers only; every experiment keeps its own settings. Conventions:

* inputs are ``(n, 1)`` float32 columns; grids are uniform and exclude the right end point,
  ``x_j = lo + j (hi − lo)/n``, so :func:`fpjax.spectrum.grid_fft` reads them directly;
* "depth" of an MLP is its number of hidden (activation) layers: ``depth=2`` is
  ``1 → width → width → 1``;
* spectra are of the mean-removed function on a dense grid, tapered by a Hann window so that the
  jump between the two ends of a non-periodic function (a random ReLU net is close to a ramp) does
  not leak ``1/ξ²`` power into every frequency; "high-frequency fraction" is the share of the power
  above a cutoff, which does not depend on the output's scale.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from fpjax import spectrum
from fpjax.models import mlp
from fpjax.train import sweep

__all__ = ["uniform_grid", "column", "deep_mlp", "power_spectrum", "high_freq_fraction", "rel_rmse",
           "crossing_index", "pick_rate", "spearman", "order_counts", "decay_rate", "claim", "seed_sweep",
           "WINDOW"]

WINDOW = "hann"


def uniform_grid(n: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """``(n,)`` float32 grid ``lo + j (hi − lo)/n``, ``j < n`` (right end excluded)."""
    return (lo + (hi - lo) * np.arange(n) / n).astype(np.float32)


def column(x: Any) -> jax.Array:
    """``(n,)`` → ``(n, 1)`` float32 model input."""
    return jnp.asarray(np.asarray(x, np.float32).reshape(-1, 1))


def deep_mlp(activation: str, depth: int, width: int, out_dim: int = 1, **kwargs):
    """:func:`fpjax.models.mlp` with ``depth`` hidden layers of ``width`` units and ``out_dim`` outputs."""
    return mlp((int(width),) * int(depth) + (int(out_dim),), activation, **kwargs)


def power_spectrum(values: Any, x_grid: np.ndarray, window: Any = WINDOW):
    """One-sided power ``|ĥ(ξ)|²`` of the mean-removed ``values`` ``(..., N)`` on ``x_grid``.

    Returns ``(freqs (M,), power (..., M))`` for ``ξ ≥ 0`` (``M = ⌈N/2⌉``). Works inside ``jit`` (the
    grid is a concrete numpy array). For a real function ``|ĥ(−ξ)| = |ĥ(ξ)|``, so ``ξ ≥ 0`` suffices.
    """
    v = values - jnp.mean(values, axis=-1, keepdims=True)
    freqs, coeffs = spectrum.grid_fft(v, x_grid, window=window)
    n = x_grid.shape[0]
    return freqs[n // 2:], jnp.abs(coeffs[..., n // 2:]) ** 2


def high_freq_fraction(values: Any, x_grid: np.ndarray, cutoff: float, window: Any = WINDOW) -> jax.Array:
    """``Σ_{ξ>cutoff} |ĥ(ξ)|² / Σ_{ξ≥0} |ĥ(ξ)|²`` of the mean-removed ``values`` ``(..., N)`` → ``(...)``.

    A constant function (zero power) gives 0.
    """
    freqs, power = power_spectrum(values, x_grid, window)
    total = jnp.sum(power, axis=-1)
    hi = jnp.sum(jnp.where(freqs > cutoff, power, 0.0), axis=-1)
    return jnp.where(total > 0, hi / jnp.where(total > 0, total, 1.0), 0.0)


def rel_rmse(h: Any, f: Any, axis: int = -1) -> np.ndarray:
    """``‖h − f‖ / ‖f‖`` along ``axis`` (root-mean-square ratio)."""
    h, f = np.asarray(h, np.float64), np.asarray(f, np.float64)
    return np.sqrt(np.mean((h - f) ** 2, axis=axis) / np.mean(f ** 2, axis=axis))


def crossing_index(values: Any, threshold: float, *, stay: bool = False) -> np.ndarray:
    """Index of the first record ``t`` with ``values[..., t] < threshold``.

    With ``stay=True``, the first record from which the values stay below the threshold to the end.
    ``values``: ``(..., T)``. Returns an int array ``(...)``, equal to ``T`` (one past the end) where
    the threshold is never crossed (or, with ``stay``, the last value is not below it).
    """
    v = np.asarray(values)
    below = v < threshold
    t = v.shape[-1]
    if not stay:
        return np.where(below.any(-1), np.argmax(below, axis=-1), t)
    # One past the last record that is not below (0 if every record is below).
    not_below = ~below
    return np.where(not_below.any(-1), t - np.argmax(not_below[..., ::-1], axis=-1), 0)


def pick_rate(rates: Sequence[float], train_rel_rmse: Any, final_loss: Any, tol: float) -> int:
    """Index of the learning rate to keep from a grid run on the same inits (axes ``(rate, seed)``).

    The smallest rate whose median relative train RMSE is below ``tol`` (closest to the gradient flow
    of the theory); if none fits, the rate with the lowest median final loss (NaN/Inf counted as
    ``+inf``). Only training data enter the choice.
    """
    rmse = np.asarray(train_rel_rmse, float)
    loss = np.asarray(final_loss, float)
    loss = np.median(np.where(np.isfinite(loss), loss, np.inf), axis=1)
    ok = np.flatnonzero((np.median(np.where(np.isfinite(rmse), rmse, np.inf), axis=1) < tol) & np.isfinite(loss))
    if ok.size:
        return int(ok[np.argmin(np.asarray(rates, float)[ok])])
    return int(np.argmin(loss))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (ties get average ranks); NaN when either side is constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    # Rounded so that exact rank sums (e.g. ρ = 0.9 for one swap of 5) compare exactly with thresholds.
    return round(float(scipy.stats.spearmanr(a, b).statistic), 12)


def order_counts(times: Sequence[float], never: Sequence[bool]) -> tuple[int, int, int]:
    """Pairwise order of events listed in the expected order (e.g. convergence steps by frequency).

    For each pair ``i < j``: *concordant* if event ``i`` happened strictly first (including ``j`` never
    happening), *discordant* if ``j`` happened strictly first (including ``i`` never happening), a
    *tie* if both happened at the same time. Pairs where neither happened carry no information and
    are skipped, so events censored by the end of training do not count as ties the way they would
    in a rank correlation. Returns ``(concordant, discordant, ties)``.
    """
    t = np.asarray(times, float)
    nv = np.asarray(never, bool)
    c = d = ties = 0
    for i in range(t.size):
        for j in range(i + 1, t.size):
            if nv[i] and nv[j]:
                continue
            if nv[j] or (not nv[i] and t[i] < t[j]):
                c += 1
            elif nv[i] or t[j] < t[i]:
                d += 1
            else:
                ties += 1
    return c, d, ties


def decay_rate(t: Any, amps: Any, floor_ratio: float = 1e-2, min_points: int = 3) -> float:
    """Exponential rate ``λ`` of ``amps(t) ≈ A e^{−λ t}`` by least squares on ``log amps``.

    Uses the records from the start up to (excluding) the first one below ``floor_ratio·amps[0]``,
    so the fit sees the decay and not the rounding floor it ends on. If fewer than ``min_points``
    records remain (a very fast decay) the first ``min_points`` are used. Returns NaN if
    ``amps[0] == 0``.
    """
    t, a = np.asarray(t, float), np.asarray(amps, float)
    if not a[0] > 0:
        return float("nan")
    low = np.flatnonzero(a < floor_ratio * a[0])
    stop = int(low[0]) if low.size else a.size
    stop = max(stop, min(min_points, a.size))
    tt, la = t[:stop], np.log(np.maximum(a[:stop], np.finfo(float).tiny))
    slope = np.polyfit(tt, la, 1)[0]
    return float(-slope)


def claim(text: str, held: Any, evidence: dict) -> dict:
    """A claims-list entry; ``held`` is converted to a plain bool (numpy bools are not JSON)."""
    return {"claim": text, "held": bool(held), "evidence": evidence}


def seed_sweep(fn: Callable, seed: int, n_seeds: int, xs: Any = None, *, stream: int = 0, tile: int = 1,
               expect_divergence: bool = False):
    """One vmapped ``fpjax.train.sweep`` over ``n_seeds`` keys split from ``fold_in(key(seed), stream)``.

    ``stream`` separates independent random streams of one experiment (e.g. the draw of targets vs
    the network inits). ``tile > 1`` repeats the key list ``tile`` times (entry ``i`` uses seed
    ``i % n_seeds``), e.g. to run the same inits at several learning rates given in ``xs``. With
    ``xs`` (leading axis ``n_seeds·tile``), ``fn(key, x_i)`` is called. ``expect_divergence``
    silences the sweep's diverged-seeds warning, for learning-rate grids whose largest rates may
    diverge by design (the caller records the divergence in its metrics).
    """
    keys = jax.random.split(jax.random.fold_in(jax.random.key(int(seed)), int(stream)), int(n_seeds))
    if tile > 1:
        keys = keys[np.tile(np.arange(int(n_seeds)), int(tile))]
    if not expect_divergence:
        return sweep(fn, keys, xs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="sweep: .* diverged", category=RuntimeWarning)
        return sweep(fn, keys, xs)
