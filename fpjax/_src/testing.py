"""Assertions for spectra, frequency order, kernels and decay rates (public in :mod:`fpjax.testing`)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from fpjax._src import checks
from fpjax._src.array_types import ArrayLike
from fpjax._src.checks import real_float_array
from fpjax._src.convergence import crossing_steps
from fpjax._src.spectrum import _grid_cycles, _grid_values, _period_grid, _series_coeffs
from fpjax._src.stats import seed_summary

__all__ = [
    "PowerLawFit",
    "assert_decay_rate",
    "assert_frequency_order",
    "assert_kernel_close",
    "assert_seed_fraction",
    "assert_seed_mean",
    "assert_spectra_close",
]

_MAX_ROWS = 12


# ----------------------------------------------------------------------------------------------
# formatting
# ----------------------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (complex, np.complexfloating)):
        v = complex(v)
        if v.imag == 0:
            return f"{v.real:.6g}"
        return f"{v.real:.6g}{v.imag:+.6g}j"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f"{f:.6g}"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join("    " + ln for ln in lines)


def _check_fraction(fraction: Any) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating)):
        raise TypeError(f"fraction must be a number in (0, 1]; got {type(fraction).__name__}")
    f = float(fraction)
    if not 0 < f <= 1:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction!r}")
    return f


def _check_nonneg(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number; got {type(v).__name__}")
    f = float(v)
    if not np.isfinite(f) or f < 0:
        raise ValueError(f"{name} must be >= 0 and finite; got {v!r}")
    return f


def _refuse_nan(x: Any, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` if ``x`` holds a NaN (a NaN never passes an assertion)."""
    arr = np.asarray(x)
    if np.issubdtype(arr.dtype, np.number) and np.isnan(arr).any():
        where = f" (first at index {np.argwhere(np.isnan(arr))[:3].tolist()})" if arr.ndim else ""
        raise ValueError(f"{name} contains {int(np.isnan(arr).sum())} NaN value(s){where}; a NaN never passes")


def _freq_labels(freqs: Any, k: int) -> np.ndarray:
    if freqs is None:
        return np.arange(k)
    fr = np.asarray(freqs, dtype=np.float64).reshape(-1)
    if fr.shape[0] != k:
        raise ValueError(f"freqs must have shape (K,) = ({k},); got shape {np.shape(freqs)}")
    return fr


# ----------------------------------------------------------------------------------------------
# spectra
# ----------------------------------------------------------------------------------------------


def assert_spectra_close(
    values: ArrayLike,
    expected_values: ArrayLike,
    x: ArrayLike,
    freqs: ArrayLike | None = None,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    floor: float = 1e-3,
    cycles: ArrayLike | None = None,
    period: float | None = None,
    fraction: float = 1.0,
) -> None:
    """Assert that two functions sampled on a grid have close Fourier coefficients at given frequencies.

    Compares the Fourier-series coefficients ``c(ξ) = (1/N) Σ_j f(x_j) e^{-2πiξx_j}``
    (:func:`fpjax.spectrum.fourier_coeffs`, complex: phases count) of ``values`` and ``expected_values``
    at each frequency ``ξ_k`` and requires

        ``|c_f(ξ_k) − c_e(ξ_k)| <= atol + rtol · max(|c_e(ξ_k)|, floor · max_k' |c_e(ξ_k')|)``

    for every ``k`` (and every batch entry). A coefficient below ``floor`` of the largest compared one
    is thus compared absolutely (against ``rtol · floor · max|c_e|``), so a frequency that the
    expected function barely contains cannot blow up a relative error.

    Default tolerances (rounding only, for two computations of the same function): with ``ε`` the
    machine epsilon of the inputs' dtype, ``rtol = 16 ε (1 + log2 N)`` and ``atol = rtol · s`` with
    ``s = max(mean_j |f_j|, mean_j |e_j|)``, which bounds every ``|c(ξ)|`` (the coefficient is a mean
    of ``N`` terms; an FFT adds ``O(ε log N)`` relative rounding to it). Comparing a network with
    theory needs a tolerance from the theory: pass ``rtol``.

    Args:
      values: ``(..., N)`` or ``(..., N, 1)`` measured samples; leading axes are batch axes.
      expected_values: samples of the expected function, broadcasting against ``values``.
      x: ``(N,)`` or ``(N, 1)`` uniform grid of whole periods, endpoint excluded (see
        :func:`fpjax.spectrum.fourier_coeffs`; a grid with the endpoint included is refused).
      freqs: ``(K,)`` frequencies in cycles per unit of ``x`` (multiples of ``1/(NΔ)``).
      rtol, atol, floor: see above.
      cycles: instead of ``freqs``, whole cycles per grid length.
      period: the period, if known.
      fraction: with a leading seed axis, pass when at least this fraction of seeds passes (default 1:
        every batch entry).

    Raises:
      AssertionError: with a table of frequency, measured and expected coefficient, error and
        tolerance (the worst batch entry per frequency).

    Examples:
      >>> import numpy as np
      >>> x = np.linspace(-np.pi, np.pi, 64, endpoint=False)
      >>> y = np.sin(x) + 0.5 * np.sin(3 * x)
      >>> assert_spectra_close(y + 1e-3 * np.sin(5 * x), y, x, [1 / (2 * np.pi), 3 / (2 * np.pi)])
      >>> assert_spectra_close(0.9 * y, y, x, [1 / (2 * np.pi)], rtol=0.05)
      Traceback (most recent call last):
      ...
      AssertionError: spectra differ at 1 of 1 frequencies ...
    """
    grid = _period_grid(x, period)
    m = _grid_cycles(grid, freqs, cycles)
    fv = _grid_values(values, grid.n, "values")
    fe = _grid_values(expected_values, grid.n, "expected_values")
    try:
        batch = np.broadcast_shapes(fv.shape[:-1], fe.shape[:-1])
    except ValueError:
        raise ValueError(
            f"values and expected_values must broadcast together; got shapes {tuple(fv.shape)} and {tuple(fe.shape)}"
        ) from None
    frac = _check_fraction(fraction)
    floor = _check_nonneg(floor, "floor")
    dtype = np.result_type(np.dtype(fv.dtype), np.dtype(fe.dtype))
    eps = float(np.finfo(dtype).eps)
    default_rtol = 16 * eps * (1 + math.log2(grid.n))
    rtol_v = default_rtol if rtol is None else _check_nonneg(rtol, "rtol")
    cv = np.broadcast_to(np.asarray(_series_coeffs(fv, grid, m), np.complex128), batch + (m.size,))
    ce = np.broadcast_to(np.asarray(_series_coeffs(fe, grid, m), np.complex128), batch + (m.size,))
    if atol is None:
        scale = np.maximum(
            np.mean(np.abs(np.asarray(fv, np.float64)), axis=-1), np.mean(np.abs(np.asarray(fe, np.float64)), axis=-1)
        )
        atol_v = default_rtol * np.broadcast_to(scale, batch)[..., None]
    else:
        atol_v = _check_nonneg(atol, "atol")
    ref = np.max(np.abs(ce), axis=-1, keepdims=True)
    tol = atol_v + rtol_v * np.maximum(np.abs(ce), floor * ref)
    err = np.abs(cv - ce)
    bad = ~(err <= tol)
    if frac < 1.0:
        if len(batch) == 0:
            raise ValueError("fraction < 1 needs a leading seed axis on values (shape (seeds, ..., N))")
        seed_ok = ~bad.reshape(batch[0], -1).any(axis=1)
        if seed_ok.mean() >= frac - 1e-12:
            return
        head = (
            f"spectra differ in {int((~seed_ok).sum())} of {batch[0]} seeds, more than the allowed "
            f"{1 - frac:.3g} fraction"
        )
    else:
        if not bad.any():
            return
        head = f"spectra differ at {int(bad.reshape(-1, m.size).any(axis=0).sum())} of {m.size} frequencies"
    headers, rows, order = _spectra_table(cv, ce, err, tol, bad, m, m / grid.length, batch)
    msg = (
        f"{head} (rtol={rtol_v:.3g}, atol={'default' if atol is None else atol_v}, floor={floor:g}; "
        f"tolerance = atol + rtol·max(|expected|, floor·max|expected|); coefficients "
        f"c(ξ) = (1/N) Σ f(x_j) exp(-2πiξx_j), period L = {grid.length:.6g}):\n"
        + _table(headers, [rows[i] for i in sorted(order)])
    )
    raise AssertionError(msg)


def _spectra_table(cv, ce, err, tol, bad, m, fr, batch) -> tuple[list, list, np.ndarray]:
    """Headers, rows (the worst batch entry per frequency) and the rows to show, worst first, of
    :func:`assert_spectra_close`'s failure report."""
    ratio = np.where(tol > 0, err / np.where(tol > 0, tol, 1), np.where(err > 0, np.inf, 0))
    flat_ratio = ratio.reshape(-1, m.size)
    worst = np.argmax(flat_ratio, axis=0)
    rows = []
    for i in range(m.size):
        j = int(worst[i])
        idx = np.unravel_index(j, batch) if batch else ()
        row = [
            fr[i],
            int(m[i]),
            cv.reshape(-1, m.size)[j, i],
            ce.reshape(-1, m.size)[j, i],
            err.reshape(-1, m.size)[j, i],
            tol.reshape(-1, m.size)[j, i] if np.ndim(tol) else tol,
            "FAIL" if bad.reshape(-1, m.size)[j, i] else "ok",
        ]
        if batch:
            row.insert(2, str(tuple(int(v) for v in idx)))
        rows.append(row)
    headers = ["freq", "cycles/L", "measured", "expected", "|error|", "tolerance", ""]
    if batch:
        headers.insert(2, "batch index")
    order = np.argsort(-flat_ratio.max(axis=0), kind="stable")[:_MAX_ROWS]
    return headers, rows, order


# ----------------------------------------------------------------------------------------------
# frequency order
# ----------------------------------------------------------------------------------------------


def assert_frequency_order(
    errors: ArrayLike,
    freqs: ArrayLike,
    *,
    threshold: float,
    rule: str = "first",
    steps: ArrayLike | None = None,
    fraction: float = 1.0,
) -> None:
    """Assert the frequency principle: lower frequencies fall below ``threshold`` no later than higher ones.

    For each seed, the convergence step ``t(ξ)`` of each frequency is read with ``rule``
    (``"first"``: first record with ``error < threshold``; ``"stays"``: first record from which the
    error stays below; see :func:`fpjax.spectrum.convergence_times`). The order holds for a seed when
    ``t(ξ_i) <= t(ξ_j)`` for every pair ``ξ_i < ξ_j`` (ties allowed: records are coarse). Then:

    * a frequency that never converges (censored, ``t = inf``) violates the order against every higher
      frequency that does converge; two censored frequencies are tied;
    * a frequency already converged at the first record (step 0) carries no information on learning
      speed and is left out of that seed's comparisons; a seed with fewer than two informative
      frequencies, or in which none of them ever converges, is left out of the count. Both are
      listed in the failure report; with no informative seed at all the assertion fails.

    Passes when the order holds for at least ``fraction`` of the informative seeds (default all).
    A NaN anywhere in ``errors`` never passes (``ValueError``: a NaN would read as "never
    converged" and could hide a violated order); ``inf`` is a diverged run's error (never below).

    Args:
      errors: ``(T, K)`` or ``(S, T, K)`` per-frequency errors at ``T`` recorded steps.
      freqs: ``(K,)`` the frequencies (any order; sorted here).
      threshold: convergence threshold (``error < threshold``).
      rule: ``"first"`` or ``"stays"``.
      steps: ``(T,)`` recorded steps for the report (default record indices).
      fraction: fraction of informative seeds in which the order must hold.

    Raises:
      AssertionError: naming, for each failing seed (first three), each violating frequency, its
        convergence step and the earlier step of a higher frequency, in a table of frequency,
        measured step, expected (latest allowed) step and the excess.

    Examples:
      >>> import numpy as np
      >>> t = np.arange(5.0)[:, None]
      >>> err = np.exp(-t * np.array([2.0, 1.0, 0.5]))          # (T=5, K=3): low freq learned first
      >>> assert_frequency_order(err, [1.0, 2.0, 3.0], threshold=0.3)
      >>> assert_frequency_order(err[:, ::-1], [1.0, 2.0, 3.0], threshold=0.3)
      Traceback (most recent call last):
      ...
      AssertionError: frequency order violated in 1 of 1 informative seeds ...

    References:
      Z.-Q. J. Xu, Y. Zhang, Y. Xiao, "Training behavior of deep neural network in frequency
      domain", ICONIP 2019, arXiv:1807.01251.
      N. Rahaman, A. Baratin, D. Arpit, F. Draxler, M. Lin, F. A. Hamprecht, Y. Bengio, A. Courville,
      "On the spectral bias of neural networks", ICML 2019, arXiv:1806.08734.
    """
    if rule not in ("first", "stays"):
        raise ValueError(f"unknown rule {rule!r}; expected 'first' or 'stays'")
    frac = _check_fraction(fraction)
    _refuse_nan(errors, "errors")
    times = crossing_steps(errors, threshold, steps=steps, rule=rule)  # (S, K), validates errors
    n_seeds, k = times.shape
    fr = real_float_array(freqs, "freqs").reshape(-1)
    if fr.shape[0] != k:
        raise ValueError(f"freqs must have shape (K,) = ({k},) to match errors; got shape {np.shape(freqs)}")
    if not np.all(np.isfinite(fr)):
        raise ValueError(f"freqs must be finite; got {fr.tolist()}")
    if k < 2:
        raise ValueError(f"need at least 2 frequencies to check an order; got {k}")
    if np.unique(fr).size != k:
        raise ValueError(f"freqs must be distinct; got {fr.tolist()}")
    st = (
        np.arange(np.asarray(errors).shape[-2], dtype=np.float64)
        if steps is None
        else np.asarray(steps, dtype=np.float64).reshape(-1, np.asarray(errors).shape[-2])[0]
    )
    order = np.argsort(fr)
    fr, times = fr[order], times[:, order]
    at0 = times == st[0]
    failing, informative, uninformative = _seed_orders(times, at0)
    if informative == 0:
        raise AssertionError(
            f"no seed gives information on the frequency order: every seed has fewer than two "
            f"frequencies not yet converged at step {_fmt(st[0])}, or none of them ever falls below "
            f"the threshold {threshold:g}"
        )
    if informative - len(failing) >= frac * informative - 1e-12:
        return
    lines = [
        (
            f"frequency order violated in {len(failing)} of {informative} informative seeds (rule {rule!r}, "
            f"threshold {threshold:g}; required to hold in >= {frac:.3g} of them). Low frequencies must "
            "converge no later than higher ones:"
        )
    ]
    lines += _order_report(failing, fr, times, at0, st, uninformative)
    raise AssertionError("\n".join(lines))


def _seed_orders(times: np.ndarray, at0: np.ndarray) -> tuple[list, int, list[int]]:
    """Per seed of :func:`assert_frequency_order`: ``(failing, informative, uninformative)`` with
    ``failing`` the ``(seed, t, allowed, violations, informative mask)`` of seeds that break the order."""
    n_seeds, k = times.shape
    failing, informative, uninformative = [], 0, []
    for s in range(n_seeds):
        info = ~at0[s]
        # No order can be read from fewer than two informative frequencies, nor from a seed in which
        # none of them ever converges (all censored: every pair tied).
        if info.sum() < 2 or np.all(np.isinf(times[s][info])):
            uninformative.append(s)
            continue
        informative += 1
        t = times[s]
        # Latest allowed step for frequency i: the earliest step of any informative higher frequency.
        allowed = np.full(k, np.inf)
        for i in range(k):
            higher = t[i + 1 :][info[i + 1 :]]
            if higher.size:
                allowed[i] = higher.min()
        viol = info & (t > allowed)
        if viol.any():
            failing.append((s, t, allowed, viol, info))
    return failing, informative, uninformative


def _order_report(failing, fr, times, at0, st, uninformative) -> list[str]:
    """The lines of :func:`assert_frequency_order`'s failure report after its first line."""
    n_seeds, k = times.shape
    lines = []
    for s, t, allowed, viol, info in failing[:3]:
        lines.append(f"  seed {s}:")
        for i in np.flatnonzero(viol):
            j = i + 1 + int(np.argmin(np.where(info[i + 1 :], t[i + 1 :], np.inf)))
            lines.append(
                f"    freq {_fmt(fr[i])} converged at step {_fmt(t[i])} but the higher freq "
                f"{_fmt(fr[j])} already at step {_fmt(t[j])}"
            )
        rows = [
            [
                fr[i],
                "at step 0" if not info[i] else ("never" if np.isinf(t[i]) else t[i]),
                allowed[i] if info[i] else "-",
                (t[i] - allowed[i]) if viol[i] else 0,
                "FAIL" if viol[i] else "ok",
            ]
            for i in range(k)
        ]
        lines.append(_table(["freq", "measured step", "expected: <= step", "excess", ""], rows))
    if len(failing) > 3:
        lines.append(f"  ... and {len(failing) - 3} more failing seeds: {[f[0] for f in failing[3:]]}")
    cens = [(s, fr[i]) for s in range(n_seeds) for i in range(k) if np.isinf(times[s, i])]
    if cens:
        lines.append(
            f"  censored (never below the threshold): {len(cens)} (seed, freq) pairs, e.g. "
            f"{[(s, _fmt(f)) for s, f in cens[:5]]}"
        )
    z = [(s, fr[i]) for s in range(n_seeds) for i in range(k) if at0[s, i]]
    if z:
        lines.append(
            f"  already below the threshold at step {_fmt(st[0])} (left out): {len(z)} (seed, freq) "
            f"pairs, e.g. {[(s, _fmt(f)) for s, f in z[:5]]}"
        )
    if uninformative:
        lines.append(f"  seeds with < 2 informative frequencies (left out): {uninformative}")
    return lines


# ----------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------


def assert_kernel_close(
    empirical: ArrayLike, expected: ArrayLike, *, width: int, rtol: float = 8.0, freqs: ArrayLike | None = None
) -> None:
    """Assert that an empirical (finite-width) kernel is within ``rtol / √width`` of its limit.

    Checks the relative Frobenius error ``‖K_emp − K‖_F / ‖K‖_F <= rtol · width^{-1/2}``. An empirical
    tangent or NNGP kernel is an average over the ``width`` hidden units of a layer, so its deviation
    from the infinite-width kernel has standard deviation ``∝ width^{-1/2}`` (Jacot, Gabriel & Hongler,
    arXiv:1806.07572; Lee et al., arXiv:1902.06720); ``rtol`` is the constant.

    Default ``rtol = 8``: for two-layer ReLU (tanh) networks in the NTK parametrization on 16 points
    of the unit circle, ``√width · ‖K_emp − K‖_F/‖K‖_F`` had mean 1.8 (1.2) and at most 4.6 (2.7) over
    50 draws each at widths 64, 256, 1024 and 4096 (measured in float64 against a width-600000
    average); 8 leaves room for deeper networks, whose fluctuations grow with depth (Hanin & Nica,
    arXiv:1909.05989). A wrong kernel (e.g. another activation or a missing bias term) differs by
    ``O(1)`` and fails at any width where ``rtol/√width`` is well below that.

    Args:
      empirical: the measured kernel, any shape (``(n, n)``, ``(n, m)``, or a ``(K,)`` kernel spectrum).
      expected: the limit kernel, same shape.
      width: the hidden width (smallest width for a network with several hidden layers).
      rtol: the constant (relative tolerance at width 1).
      freqs: ``(K,)`` row labels for 1-D inputs (a kernel spectrum), for the report.

    Raises:
      AssertionError: with the relative error, the tolerance, and a table of the largest entrywise
        errors (index or frequency, measured, expected, error).

    Examples:
      >>> import numpy as np
      >>> k = np.array([[2.0, 1.0], [1.0, 2.0]])
      >>> assert_kernel_close(k + 0.01, k, width=1024)            # 0.6 % <= 8/32 = 25 %
      >>> assert_kernel_close(2 * k, k, width=1024)
      Traceback (most recent call last):
      ...
      AssertionError: kernels differ: relative Frobenius error 1 > rtol/sqrt(width) = 8/sqrt(1024) = 0.25 ...
    """
    emp = np.asarray(empirical)
    exp = np.asarray(expected)
    if emp.shape != exp.shape:
        raise ValueError(f"empirical and expected must have the same shape; got {emp.shape} and {exp.shape}")
    if emp.size == 0:
        raise ValueError("empirical must not be empty")
    for arr, nm in ((emp, "empirical"), (exp, "expected")):
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{nm} must hold numbers; got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{nm} contains NaN/Inf")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be a positive integer; got {width!r}")
    rtol = _check_nonneg(rtol, "rtol")
    emp = emp.astype(np.complex128 if np.iscomplexobj(emp) else np.float64)
    exp = exp.astype(emp.dtype)
    tol = rtol / math.sqrt(int(width))
    den = np.linalg.norm(exp.ravel())
    num = np.linalg.norm((emp - exp).ravel())
    rel = num / den if den > 0 else (0.0 if num == 0 else math.inf)
    if rel <= tol:
        return
    diff = np.abs(emp - exp).ravel()
    top = np.argsort(-diff, kind="stable")[:5]
    labels = None
    if emp.ndim == 1 and freqs is not None:
        labels = _freq_labels(freqs, emp.shape[0])
    rows = []
    for j in top:
        idx = np.unravel_index(int(j), emp.shape)
        lab = labels[idx[0]] if labels is not None else str(tuple(int(v) for v in idx))
        rows.append([lab, emp[idx], exp[idx], diff[j], diff[j] / max(abs(exp[idx]), 1e-300)])
    raise AssertionError(
        f"kernels differ: relative Frobenius error {rel:.3g} > rtol/sqrt(width) = {rtol:g}/sqrt({int(width)}) = "
        f"{tol:.3g} (‖K_emp − K‖_F = {num:.3g}, ‖K‖_F = {den:.3g}). Largest entrywise errors:\n"
        + _table(["freq" if labels is not None else "index", "measured", "expected", "|error|", "relative"], rows)
    )


# ----------------------------------------------------------------------------------------------
# decay rates
# ----------------------------------------------------------------------------------------------


class PowerLawFit(NamedTuple):
    """Least-squares power-law fit ``|m(ξ)| ≈ C ξ^{-p}`` on log-log axes (per seed for 2-D input).

    Attributes:
      exponent: fitted ``p``.
      standard_error: standard error of ``p`` from the fit residuals (NaN with two points;
        ``stderr`` is its deprecated spelling).
      prefactor: fitted ``C``.
      r2: coefficient of determination of the log-log fit.

    Examples:
      :func:`assert_decay_rate` returns one; with 2-D input, one fit per seed (row):

      >>> import numpy as np
      >>> from fpjax.testing import assert_decay_rate
      >>> xi = np.arange(1.0, 9.0)
      >>> fit = assert_decay_rate(xi, np.stack([3 * xi**-2.0, xi**-2.0]), 2.0)
      >>> fit.exponent.round(6).tolist(), fit.prefactor.round(6).tolist(), fit.r2.round(6).tolist()
      ([2.0, 2.0], [3.0, 1.0], [1.0, 1.0])
      >>> bool(np.all(fit.standard_error < 1e-12))  # an exact power law: no residual
      True
    """

    exponent: np.ndarray
    standard_error: np.ndarray
    prefactor: np.ndarray
    r2: np.ndarray

    @property
    def stderr(self) -> np.ndarray:
        """Deprecated spelling of ``standard_error``."""
        return checks.deprecated_field(self, "stderr", "standard_error")


def _fit_power_law(lx: np.ndarray, ly: np.ndarray) -> PowerLawFit:
    """Fit ``ly = c − p lx`` for each row of ``ly`` ``(S, K)``."""
    k = lx.size
    xm = lx.mean()
    sxx = np.sum((lx - xm) ** 2)
    ym = ly.mean(axis=1)
    slope = ((ly - ym[:, None]) @ (lx - xm)) / sxx
    intercept = ym - slope * xm
    resid = ly - (intercept[:, None] + slope[:, None] * lx[None])
    ss_res = np.sum(resid**2, axis=1)
    ss_tot = np.sum((ly - ym[:, None]) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(ss_res / (k - 2) / sxx) if k > 2 else np.full_like(slope, np.nan)
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 1.0)
    return PowerLawFit(-slope, se, np.exp(intercept), r2)


def assert_decay_rate(
    freqs: ArrayLike, magnitudes: ArrayLike, exponent: float, *, tol: float | None = None, fraction: float = 1.0
) -> PowerLawFit:
    """Assert that ``magnitudes`` decay like ``ξ^{-exponent}``; return the power-law fit.

    Fits ``log|m(ξ)| = log C − p log ξ`` by least squares (one fit per seed for 2-D input) and requires
    ``|p − exponent| <= tol``. Default ``tol = 0.1 · max(1, |exponent|)`` (10 % of the exponent); the
    fit's standard error and ``R²`` are reported so a noisy fit can be told from a wrong exponent.

    Args:
      freqs: ``(K,)`` positive frequencies, ``K >= 2`` (leave ``ξ = 0`` out).
      magnitudes: ``(K,)`` or ``(S, K)`` positive magnitudes (e.g. ``|f̂(ξ)|`` or kernel eigenvalues).
      exponent: the expected decay exponent ``p`` (``m ∝ ξ^{-p}``).
      tol: absolute tolerance on the exponent.
      fraction: for ``(S, K)`` input, the fraction of seeds whose fit must pass.

    Returns:
      :class:`PowerLawFit` (fields ``(S,)`` for 2-D input, scalars for 1-D).

    Raises:
      AssertionError: with the fit report and a table of frequency, measured magnitude, expected
        ``C_p ξ^{-exponent}`` (``C_p`` the best prefactor for the expected exponent) and their ratio.

    Examples:
      >>> import numpy as np
      >>> xi = np.arange(1.0, 9.0)
      >>> fit = assert_decay_rate(xi, 3 * xi ** -2.0, 2.0)
      >>> round(float(fit.exponent), 6), round(float(fit.prefactor), 6)
      (2.0, 3.0)
      >>> assert_decay_rate(xi, xi ** -1.0, 2.0)
      Traceback (most recent call last):
      ...
      AssertionError: decay exponent 1 differs from the expected 2 by 1 > tol 0.2...
    """
    fr = np.asarray(freqs, dtype=np.float64)
    if fr.ndim != 1 or fr.size < 2:
        raise ValueError(f"freqs must be a 1-D array of at least 2 frequencies; got shape {fr.shape}")
    if not np.all(np.isfinite(fr)) or np.any(fr <= 0):
        raise ValueError(f"freqs must be finite and > 0 (leave ξ = 0 out of a power-law fit); got {fr.tolist()}")
    if np.unique(fr).size < 2:
        raise ValueError("freqs must hold at least two distinct frequencies")
    mag = np.abs(checks.host_real_array(magnitudes, "magnitudes"))
    single = mag.ndim == 1
    mag = np.atleast_2d(mag).astype(np.float64)
    if mag.ndim != 2 or mag.shape[1] != fr.size:
        raise ValueError(f"magnitudes must have shape (K,) or (S, K) with K = {fr.size}; got {np.shape(magnitudes)}")
    if not np.all(np.isfinite(mag)):
        raise ValueError("magnitudes contains NaN/Inf")
    if np.any(mag == 0):
        s, i = np.argwhere(mag == 0)[0]
        raise ValueError(f"magnitudes must be > 0 for a log-log fit; magnitude at freq {fr[i]:g} (seed {s}) is 0")
    if (
        isinstance(exponent, bool)
        or not isinstance(exponent, (int, float, np.integer, np.floating))
        or not np.isfinite(exponent)
    ):
        raise TypeError(f"exponent must be a finite real number; got {exponent!r}")
    tol_v = 0.1 * max(1.0, abs(float(exponent))) if tol is None else _check_nonneg(tol, "tol")
    frac = _check_fraction(fraction)
    lx, ly = np.log(fr), np.log(mag)
    fit = _fit_power_law(lx, ly)
    dev = np.abs(fit.exponent - float(exponent))
    ok = dev <= tol_v
    out = fit if not single else PowerLawFit(*(np.asarray(v)[0] for v in fit))
    if ok.mean() >= frac - 1e-12:
        return out
    s = int(np.argmax(np.where(ok, -np.inf, dev)))
    # Best prefactor for the expected exponent: mean of log(m ξ^p).
    c_p = np.exp(np.mean(ly[s] + float(exponent) * lx))
    expect = c_p * fr ** (-float(exponent))
    rows = [[fr[i], mag[s, i], expect[i], mag[s, i] / expect[i]] for i in range(fr.size)]
    if fr.size > _MAX_ROWS:
        keep = np.unique(np.linspace(0, fr.size - 1, _MAX_ROWS).round().astype(int))
        rows = [rows[i] for i in keep]
    seeds = (
        ""
        if single
        else (f" in {int((~ok).sum())} of {ok.size} seeds (allowed fraction failing {1 - frac:.3g}); worst seed {s}")
    )
    raise AssertionError(
        f"decay exponent {fit.exponent[s]:.4g} differs from the expected {float(exponent):g} by {dev[s]:.3g} > "
        f"tol {tol_v:.3g}{seeds}. Fit |m(ξ)| ≈ C ξ^(-p) over {fr.size} frequencies in [{fr.min():.4g}, "
        f"{fr.max():.4g}]: p = {fit.exponent[s]:.4g} ± {fit.standard_error[s]:.2g} (standard error), "
        f"C = {fit.prefactor[s]:.4g}, R² = {fit.r2[s]:.4f}. Measured against C_p ξ^(-{float(exponent):g}) with the "
        f"best C_p = {c_p:.4g}:\n" + _table(["freq", "measured", "expected", "ratio"], rows)
    )


# ----------------------------------------------------------------------------------------------
# seed-aware forms
# ----------------------------------------------------------------------------------------------


def assert_seed_fraction(
    holds: ArrayLike, *, fraction: float, freqs: ArrayLike | None = None, claim: str = "claim"
) -> None:
    """Assert that a per-seed claim holds in at least ``fraction`` of the seeds (per frequency).

    Args:
      holds: bool ``(S,)`` or ``(S, K)``: whether the claim held for each seed (and frequency).
      fraction: required fraction in ``(0, 1]``.
      freqs: ``(K,)`` labels for the report.
      claim: a short description of the claim for the message.

    Raises:
      AssertionError: with a table of frequency, measured fraction, required fraction and the
        failing seeds.

    Examples:
      >>> assert_seed_fraction([True, True, False, True], fraction=0.75)
      >>> assert_seed_fraction([True, False, False, True], fraction=0.75, claim="low first")
      Traceback (most recent call last):
      ...
      AssertionError: 'low first' holds in too few seeds ...
    """
    h = np.asarray(holds)
    if h.dtype != np.bool_:
        raise TypeError(f"holds must be a boolean array (seeds,) or (seeds, K); got dtype {h.dtype}")
    if h.ndim not in (1, 2) or h.shape[0] == 0 or h.size == 0:
        raise ValueError(
            f"holds must have shape (S,) or (S, K) with S, K >= 1 (nothing compared never passes); got {h.shape}"
        )
    frac = _check_fraction(fraction)
    h2 = h[:, None] if h.ndim == 1 else h
    got = h2.mean(axis=0)
    bad = got < frac - 1e-12
    if not bad.any():
        return
    labels = _freq_labels(freqs, h2.shape[1]) if h.ndim == 2 else ["-"]
    rows = [
        [labels[i], got[i], f">= {frac:.3g}", str(np.flatnonzero(~h2[:, i]).tolist()[:10]), "FAIL" if bad[i] else "ok"]
        for i in range(h2.shape[1])
    ]
    raise AssertionError(
        f"{claim!r} holds in too few seeds ({h2.shape[0]} seeds):\n"
        + _table(["freq", "measured fraction", "expected", "failing seeds", ""], rows)
    )


@checks.renamed_keyword(k="num_standard_errors")
def assert_seed_mean(
    values: ArrayLike,
    expected: ArrayLike,
    *,
    num_standard_errors: float = 3.0,
    atol: float = 0.0,
    freqs: ArrayLike | None = None,
) -> None:
    """Assert that the mean over seeds is within ``num_standard_errors`` standard errors of ``expected``.

    Per frequency, ``|mean − expected| <= num_standard_errors · stderr + atol`` with ``stderr = std/√S``
    (``ddof = 1``, from :func:`fpjax._src.stats.seed_summary`). ``num_standard_errors = 3`` (default)
    fails a correct expectation with probability about 0.3 % per frequency for Gaussian seed noise with many seeds (heavier for few
    seeds: Student t with ``S − 1`` degrees of freedom, e.g. 1.5 % for ``S = 8``).

    Args:
      values: ``(S,)`` or ``(S, K)`` with ``S >= 2`` seeds.
      expected: scalar or ``(K,)``.
      num_standard_errors: number of standard errors allowed.
      atol: additional absolute slack (e.g. a known bias of the estimator).
      freqs: ``(K,)`` labels for the report.

    Raises:
      AssertionError: with a table of frequency, mean (measured), expected, error and ``k·stderr``.

    Examples:
      >>> assert_seed_mean([0.9, 1.1, 1.0, 1.05], 1.0)
      >>> assert_seed_mean([1.9, 2.1, 2.0, 2.05], 1.0)
      Traceback (most recent call last):
      ...
      AssertionError: seed mean differs from the expected value by more than 3 standard errors ...
    """
    v = real_float_array(values, "values")
    if v.ndim not in (1, 2):
        raise ValueError(f"values must have shape (S,) or (S, K); got {v.shape}")
    if v.shape[0] < 2:
        raise ValueError(f"values needs at least 2 seeds for a standard error; got {v.shape[0]}")
    if v.size == 0:
        raise ValueError(f"values must have K >= 1 columns (nothing compared never passes); got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("values contains NaN/Inf")
    v2 = v[:, None] if v.ndim == 1 else v
    e = real_float_array(expected, "expected")
    _refuse_nan(e, "expected")
    try:
        e = np.broadcast_to(e, (v2.shape[1],))
    except ValueError:
        raise ValueError(f"expected must be a scalar or have shape (K,) = ({v2.shape[1]},); got {e.shape}") from None
    k = _check_nonneg(num_standard_errors, "num_standard_errors")
    atol = _check_nonneg(atol, "atol")
    s = seed_summary(v2, axis=0)
    err = np.abs(s.mean - e)
    allowed = k * s.stderr + atol
    bad = ~(err <= allowed)
    if not bad.any():
        return
    labels = _freq_labels(freqs, v2.shape[1]) if v.ndim == 2 else ["-"]
    rows = [
        [labels[i], s.mean[i], e[i], err[i], allowed[i], s.stderr[i], "FAIL" if bad[i] else "ok"]
        for i in range(v2.shape[1])
    ]
    raise AssertionError(
        f"seed mean differs from the expected value by more than {k:g} standard errors "
        f"(+ atol {atol:g}) over {s.n} seeds:\n"
        + _table(["freq", "measured mean", "expected", "|error|", "k·stderr + atol", "stderr", ""], rows)
    )
