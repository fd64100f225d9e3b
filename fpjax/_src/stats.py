"""Small statistics helpers shared by the library, its tests and the experiments.

One rank correlation with one tie rule, and one summary of a quantity measured over seeds.

* :func:`spearman` — Spearman's rank correlation ρ: the Pearson correlation of the ranks, ties given
  their **average rank** (``scipy.stats.rankdata(method="average")``), ``+inf`` ranked last and ``-inf``
  first. ``NaN`` when either input is constant or has fewer than two entries (ρ undefined).
* :func:`seed_summary` — mean, sample standard deviation (``ddof=1``), standard error ``std/√n`` and a
  two-sided Student-t confidence interval ``mean ± t_{(1+c)/2, n-1} · stderr`` along one axis.

These are host-side (NumPy) helpers for results, not for use inside ``jit``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["SeedSummary", "seed_summary", "spearman", "rankdata"]


def rankdata(a) -> np.ndarray:
    """Ranks ``1..n`` of a 1-D array, ties given their average rank (``+inf`` last, ``-inf`` first).

    Args:
      a: array-like of shape ``(n,)``, no NaN.

    Returns:
      float64 array ``(n,)`` of ranks.

    Examples:
      >>> rankdata([10.0, 30.0, 20.0, 20.0]).tolist()
      [1.0, 4.0, 2.5, 2.5]
    """
    a = np.asarray(a, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"a: expected a 1-D array, got shape {a.shape}")
    if np.isnan(a).any():
        raise ValueError("a: contains NaN (ranks undefined)")
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    # Start of each run of equal values; the average rank of a run [i, j) is (i + j + 1) / 2.
    new = np.r_[True, s[1:] != s[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], s.size]
    avg = (starts + ends + 1) / 2.0
    ranks = np.empty(s.size)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(a, b) -> float:
    """Spearman rank correlation ρ of two equally long 1-D samples (average ranks for ties).

    ``ρ = corr(rank(a), rank(b))`` with :func:`rankdata`'s average-rank tie rule; equal to
    ``scipy.stats.spearmanr(a, b).statistic`` when neither input is constant.

    Args:
      a: array-like ``(n,)``; ``±inf`` allowed (ranked first/last), NaN refused.
      b: array-like ``(n,)``, same rules.

    Returns:
      ρ in ``[-1, 1]`` as a Python float; ``nan`` when ``n < 2`` or either input is constant.
      Rounded to 12 decimals so that exact rank results (e.g. ρ = 0.9 for one swap of 5) compare
      exactly with thresholds.

    Raises:
      ValueError: shapes differ, an input is not 1-D, or contains NaN.

    Examples:
      >>> spearman([1, 2, 3, 4, 5], [1, 2, 3, 5, 4])
      0.9
      >>> spearman([1, 2, 3], [3, 3, 3])
      nan

    References:
      C. Spearman, "The proof and measurement of association between two things", Am. J. Psychol.
      15 (1904), doi:10.2307/1412159.
    """
    from fpjax._src.checks import real_float_array  # stats stays importable without jax at module load

    a = real_float_array(a, "a")
    b = real_float_array(b, "b")
    if a.ndim != 1:
        raise ValueError(f"a: expected a 1-D array, got shape {a.shape}")
    if b.ndim != 1:
        raise ValueError(f"b: expected a 1-D array, got shape {b.shape}")
    if a.shape != b.shape:
        raise ValueError(f"a and b: lengths differ ({a.size} vs {b.size})")
    if np.isnan(a).any():
        raise ValueError("a: contains NaN")
    if np.isnan(b).any():
        raise ValueError("b: contains NaN")
    if a.size < 2:
        return float("nan")
    ra, rb = rankdata(a), rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt(np.dot(ra, ra) * np.dot(rb, rb))
    if den == 0:
        return float("nan")
    return round(float(np.clip(np.dot(ra, rb) / den, -1.0, 1.0)), 12)


class SeedSummary(NamedTuple):
    """Summary of a quantity measured over ``n`` seeds (arrays reduced along one axis).

    Attributes:
      mean: sample mean.
      std: sample standard deviation (``ddof=1``; NaN when ``n < 2``).
      stderr: standard error of the mean, ``std / √n``.
      ci_low: lower end of the two-sided Student-t confidence interval of the mean.
      ci_high: upper end.
      n: number of seeds (finite values are not filtered: NaN propagates).
    """

    mean: np.ndarray
    std: np.ndarray
    stderr: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n: int


def seed_summary(values, axis: int = 0, confidence: float = 0.95) -> SeedSummary:
    """Mean, standard deviation, standard error and Student-t confidence interval over seeds.

    ``mean = Σ v_i / n``, ``std = √(Σ (v_i − mean)² / (n − 1))``, ``stderr = std / √n``,
    ``ci = mean ± t_{(1+confidence)/2, n−1} · stderr``.

    Args:
      values: array-like with the seeds along ``axis`` (e.g. ``(seeds,)`` or ``(seeds, n_freqs)``).
      axis: the seed axis.
      confidence: confidence level in ``(0, 1)``.

    Returns:
      :class:`SeedSummary`; each array field has ``values``' shape without ``axis``. With ``n = 1``
      ``std``, ``stderr`` and the interval are NaN. Infinite values (e.g. censored times) propagate.

    Raises:
      ValueError: ``values`` is empty along ``axis`` or ``confidence`` is not in ``(0, 1)``.

    Examples:
      >>> s = seed_summary([1.0, 2.0, 3.0, 4.0])
      >>> float(s.mean), round(float(s.std), 4), s.n
      (2.5, 1.291, 4)
      >>> round(float(s.ci_low), 3), round(float(s.ci_high), 3)
      (0.446, 4.554)
    """
    from scipy.stats import t as student_t

    v = np.asarray(values, dtype=float)
    if v.ndim == 0:
        raise ValueError("values: expected at least one axis of seeds, got a scalar")
    if not -v.ndim <= axis < v.ndim:
        raise ValueError(f"axis: {axis} out of range for values of shape {v.shape}")
    n = v.shape[axis]
    if n == 0:
        raise ValueError("values: no seeds (empty along axis)")
    if not (isinstance(confidence, (int, float)) and 0.0 < float(confidence) < 1.0):
        raise ValueError(f"confidence: must be in (0, 1), got {confidence!r}")
    mean = np.mean(v, axis=axis)
    if n > 1:
        std = np.std(v, axis=axis, ddof=1)
        stderr = std / np.sqrt(n)
        half = float(student_t.ppf(0.5 + 0.5 * float(confidence), n - 1)) * stderr
    else:
        std = np.full_like(mean, np.nan)
        stderr = np.full_like(mean, np.nan)
        half = stderr
    return SeedSummary(mean=mean, std=std, stderr=stderr, ci_low=mean - half, ci_high=mean + half, n=int(n))
