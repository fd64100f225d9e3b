"""Convergence times per frequency: when does the error at each frequency fall below a threshold?

For per-frequency errors recorded over training (e.g. :func:`fpjax.spectrum.peak_relative_error`
every few steps), two readings of "frequency ξ has converged":

* **first**: the first recorded step at which ``error < threshold``;
* **stays**: the first recorded step from which ``error < threshold`` at every later record.

Both are read per seed and per frequency, and summarised over seeds with
:func:`fpjax._src.stats.seed_summary` (mean, standard deviation, standard error and a Student-t
confidence interval). Two cases are flagged rather than hidden:

* **censored**: the error never falls (or does not stay) below the threshold within the run. The
  time is recorded as ``inf``; the summaries count it at the last recorded step instead, so a mean
  with censored seeds is a **lower bound** (``*_lower_bound`` is True for that frequency).
* **at step 0**: the error is already below the threshold at the first record, so the time (the
  first recorded step) says nothing about how fast that frequency was learned.

"first" can be much earlier than "stays" when the error oscillates around the threshold: report
the rule with the result. NaN errors (a diverged run) count as not below the threshold.

References:
  Z.-Q. J. Xu, Y. Zhang, T. Luo, Y. Xiao, Z. Ma, "Frequency principle: Fourier analysis sheds light
  on deep neural networks", arXiv:1901.06523; N. Rahaman et al., "On the spectral bias of neural
  networks", arXiv:1806.08734.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from fpjax._src.array_types import ArrayLike
from fpjax._src.stats import SeedSummary, seed_summary

__all__ = ["ConvergenceTimes", "convergence_times", "crossing_steps"]


class ConvergenceTimes(NamedTuple):
    """Result of :func:`convergence_times` (``S`` seeds, ``K`` frequencies).

    Attributes:
      first_step: ``(S, K)`` float, first recorded step with ``error < threshold``; ``inf`` if censored.
      stays_step: ``(S, K)`` float, first recorded step from which the error stays below; ``inf`` if
        censored.
      first: :class:`SeedSummary` of ``first_step`` over seeds, censored entries counted at the last
        recorded step (fields ``(K,)``).
      stays: the same for ``stays_step``.
      first_censored: ``(S, K)`` bool, never below the threshold within the run.
      stays_censored: ``(S, K)`` bool, not below the threshold at the last record.
      at_step0: ``(S, K)`` bool, already below the threshold at the first record.
      first_lower_bound: ``(K,)`` bool, some seed is censored: ``first.mean`` is a lower bound.
      stays_lower_bound: ``(K,)`` bool, the same for ``stays``.
      freqs: ``(K,)`` the frequencies (``arange(K)`` when not given).
      steps: ``(T,)`` the recorded steps.
      threshold: the threshold.

    Examples:
      >>> import numpy as np
      >>> err = np.array([[[0.9, 0.9], [0.05, 0.5], [0.2, 0.05]],
      ...                 [[0.9, 0.9], [0.05, 0.5], [0.05, 0.5]]])          # (S=2, T=3, K=2)
      >>> ct = convergence_times(err, 0.1, steps=[0, 100, 200], freqs=[1.0, 3.0])
      >>> ct.first_step.tolist(), ct.stays_step.tolist()
      ([[100.0, 200.0], [100.0, inf]], [[inf, 200.0], [100.0, inf]])
      >>> ct.first_censored.tolist(), ct.first_lower_bound.tolist()
      ([[False, False], [False, True]], [False, True])
      >>> ct.first.mean.tolist(), ct.freqs.tolist(), ct.steps.tolist(), ct.threshold
      ([100.0, 200.0], [1.0, 3.0], [0.0, 100.0, 200.0], 0.1)

    References:
      Z.-Q. J. Xu, Y. Zhang, T. Luo, Y. Xiao, Z. Ma, "Frequency principle: Fourier analysis sheds light
      on deep neural networks", arXiv:1901.06523; N. Rahaman et al., "On the spectral bias of neural
      networks", arXiv:1806.08734.
    """

    first_step: np.ndarray
    stays_step: np.ndarray
    first: SeedSummary
    stays: SeedSummary
    first_censored: np.ndarray
    stays_censored: np.ndarray
    at_step0: np.ndarray
    first_lower_bound: np.ndarray
    stays_lower_bound: np.ndarray
    freqs: np.ndarray
    steps: np.ndarray
    threshold: float


def _as_errors(errors: Any) -> np.ndarray:
    try:
        err = np.asarray(errors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"errors must be a real array (steps, K) or (seeds, steps, K); got {type(errors).__name__} ({exc})"
        ) from None
    if err.ndim == 2:
        err = err[None]
    if err.ndim != 3:
        raise ValueError(f"errors must have shape (steps, K) or (seeds, steps, K); got shape {err.shape}")
    if err.size == 0:
        raise ValueError(f"errors must not be empty; got shape {err.shape}")
    return err


def _as_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise TypeError(f"threshold must be a real number; got {type(threshold).__name__}")
    t = float(threshold)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"threshold must be > 0 and finite; got {threshold!r}")
    return t


def _as_steps(steps: Any, n: int) -> np.ndarray:
    if steps is None:
        return np.arange(n, dtype=np.float64)
    st = np.asarray(steps, dtype=np.float64)
    if st.ndim == 2:  # record_steps stacked per seed: all rows must agree
        if not np.all(st == st[:1]):
            raise ValueError("steps has one row per seed and the rows differ; pass one (T,) array")
        st = st[0]
    if st.ndim != 1 or st.shape[0] != n:
        raise ValueError(f"steps must have shape (T,) = ({n},) to match errors; got shape {st.shape}")
    if not np.all(np.isfinite(st)) or np.any(np.diff(st) <= 0):
        raise ValueError("steps must be finite and strictly increasing")
    return st


def _first_index(below: np.ndarray, rule: str) -> np.ndarray:
    """Record index of the crossing along the last axis; ``T`` (one past the end) if none."""
    t = below.shape[-1]
    if rule == "first":
        return np.where(below.any(axis=-1), np.argmax(below, axis=-1), t)
    # Last record not below, +1; all below -> 0; last record not below -> censored (t).
    above = ~below
    last_above = t - 1 - np.argmax(above[..., ::-1], axis=-1)
    return np.where(above.any(axis=-1), last_above + 1, 0)


def _as_curves(errors: Any, axis: int) -> np.ndarray:
    """``errors`` as float64 with the time axis ``axis`` moved last."""
    try:
        err = np.asarray(errors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"errors must be a real array; got {type(errors).__name__} ({exc})") from None
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -err.ndim <= axis < err.ndim:
        raise ValueError(f"axis must be an axis of errors (ndim {err.ndim}); got {axis!r}")
    if err.size == 0:
        raise ValueError(f"errors must not be empty; got shape {err.shape}")
    return np.moveaxis(err, axis, -1)


def crossing_steps(
    errors: ArrayLike,
    threshold: float,
    *,
    steps: ArrayLike | None = None,
    rule: str = "first",
    axis: int | None = None,
) -> np.ndarray:
    """Step at which each error curve falls below ``threshold``; ``inf`` if never.

    The one convergence-crossing rule of fpjax (experiments and :func:`convergence_times` use it).
    The comparison is strict: a record counts as converged when ``error < threshold``; a record
    equal to the threshold has not crossed it. A curve with a NaN record gets NaN (unknown: neither
    a step nor "never"), so a diverged or corrupted run cannot pass for a converged one.

    Args:
      errors: ``(T, K)`` or ``(S, T, K)`` errors at ``T`` recorded steps (``axis=None``), or any
        shape with the ``T`` records along ``axis``.
      threshold: ``error < threshold`` counts as converged (``> 0``).
      steps: ``(T,)`` recorded steps (default ``0, 1, …, T-1``: record indices).
      rule: ``"first"`` (first record below) or ``"stays"`` (first record from which all later ones
        are below).
      axis: the time axis; None for the ``(T, K)`` / ``(S, T, K)`` layout.

    Returns:
      float ``(S, K)`` (``S = 1`` for 2-D input) when ``axis`` is None, else ``errors.shape``
      without ``axis``; ``inf`` where the threshold is never crossed, NaN for curves holding NaN.

    Examples:
      >>> err = [[1.0, 0.5], [0.05, 0.5], [0.2, 0.05], [0.05, 0.05]]     # (T=4, K=2)
      >>> crossing_steps(err, 0.1).tolist(), crossing_steps(err, 0.1, rule="stays").tolist()
      ([[1.0, 2.0]], [[3.0, 2.0]])
      >>> crossing_steps([[0.5, 0.1, 0.05], [0.5, float("nan"), 0.05]], 0.1, steps=[0, 10, 20], axis=-1).tolist()
      [20.0, nan]

    References:
      Z.-Q. J. Xu, Y. Zhang, T. Luo, Y. Xiao, Z. Ma, "Frequency principle: Fourier analysis sheds light
      on deep neural networks", arXiv:1901.06523.
    """
    if rule not in ("first", "stays"):
        raise ValueError(f"unknown rule {rule!r}; expected 'first' or 'stays'")
    curves = np.moveaxis(_as_errors(errors), 1, -1) if axis is None else _as_curves(errors, axis)  # (..., T)
    thr = _as_threshold(threshold)
    t = curves.shape[-1]
    st = _as_steps(steps, t)
    idx = _first_index(curves < thr, rule)
    out = np.where(idx < t, st[np.minimum(idx, t - 1)], np.inf)
    return np.where(np.isnan(curves).any(axis=-1), np.nan, out)


def convergence_times(
    errors: ArrayLike,
    threshold: float,
    *,
    steps: ArrayLike | None = None,
    freqs: ArrayLike | None = None,
    confidence: float = 0.95,
) -> ConvergenceTimes:
    """First-crossing and stays-below steps per seed and frequency, with seed statistics and flags.

    Args:
      errors: ``(T, K)`` or ``(S, T, K)``: per-frequency errors (e.g. relative errors ``Δ_F``) at ``T``
        recorded steps for ``S`` seeds.
      threshold: ``error < threshold`` counts as converged.
      steps: ``(T,)`` recorded steps (e.g. ``FitResult.record_steps``; a ``(S, T)`` stack of identical
        rows is accepted); default record indices ``0..T-1``.
      freqs: ``(K,)`` frequencies, carried into the result for tables and plots.
      confidence: level of the confidence interval of the mean (Student t over seeds).

    Returns:
      :class:`ConvergenceTimes`.

    Examples:
      >>> import numpy as np
      >>> err = np.array([[[0.9, 0.9], [0.05, 0.5], [0.05, 0.05]],
      ...                 [[0.05, 0.9], [0.05, 0.5], [0.05, 0.5]]])          # (S=2, T=3, K=2)
      >>> ct = convergence_times(err, 0.1, steps=[0, 100, 200], freqs=[1.0, 3.0])
      >>> ct.first_step.tolist()
      [[100.0, 200.0], [0.0, inf]]
      >>> ct.at_step0.tolist(), ct.first_lower_bound.tolist()
      ([[False, False], [True, False]], [False, True])
      >>> ct.first.mean.tolist()                  # the censored seed counted at step 200
      [50.0, 200.0]

    References:
      Z.-Q. J. Xu, Y. Zhang, T. Luo, Y. Xiao, Z. Ma, "Frequency principle: Fourier analysis sheds light
      on deep neural networks", arXiv:1901.06523.
      N. Rahaman et al., "On the spectral bias of neural networks", ICML 2019, arXiv:1806.08734.
    """
    err = _as_errors(errors)
    thr = _as_threshold(threshold)
    st = _as_steps(steps, err.shape[1])
    k = err.shape[2]
    if freqs is None:
        fr = np.arange(k, dtype=np.float64)
    else:
        fr = np.asarray(freqs, dtype=np.float64).reshape(-1)
        if fr.shape[0] != k:
            raise ValueError(f"freqs must have shape (K,) = ({k},) to match errors; got {np.shape(freqs)}")
    first = crossing_steps(err, thr, steps=st, rule="first")
    stays = crossing_steps(err, thr, steps=st, rule="stays")
    first_c, stays_c = np.isinf(first), np.isinf(stays)
    at0 = err[:, 0, :] < thr
    last = st[-1]
    first_s = seed_summary(np.where(first_c, last, first), axis=0, confidence=confidence)
    stays_s = seed_summary(np.where(stays_c, last, stays), axis=0, confidence=confidence)
    return ConvergenceTimes(
        first, stays, first_s, stays_s, first_c, stays_c, at0, first_c.any(axis=0), stays_c.any(axis=0), fr, st, thr
    )
