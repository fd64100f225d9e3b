"""ntk-drift's width-exponent fit (the O(1/width) vs O(1/√width) claims rest on it)."""

import math

import numpy as np
import pytest

from experiments.ntk_drift import _power_law_fit


def test_exact_power_law_is_recovered():
    w = [64, 128, 256, 512]
    fit = _power_law_fit(w, [3.0 / m for m in w])
    assert fit["exponent"] == pytest.approx(-1.0, abs=1e-12)
    assert fit["ci95"] == pytest.approx([-1.0, -1.0], abs=1e-9)  # no scatter: a zero-width interval
    assert fit["dof"] == 2


def test_interval_is_the_student_t_interval():
    """Half-width = t_{0.975, n−2} · standard error of the slope, computed here from its formula."""
    x = np.array([64.0, 128.0, 256.0, 512.0, 1024.0])
    y = x**-0.5 * np.exp([0.05, -0.03, 0.02, -0.04, 0.01])
    fit = _power_law_fit(x, y)
    lx, ly = np.log(x), np.log(y)
    slope, icept = np.polyfit(lx, ly, 1)
    resid = ly - (slope * lx + icept)
    se = math.sqrt(resid @ resid / (len(x) - 2) / np.sum((lx - lx.mean()) ** 2))
    assert fit["exponent"] == pytest.approx(slope, rel=1e-10)
    assert fit["standard_error"] == pytest.approx(se, rel=1e-8)
    half = 3.182446305284263 * se  # t_{0.975, 3}
    assert fit["ci95"] == pytest.approx([slope - half, slope + half], rel=1e-8)


def test_too_few_widths_give_no_interval():
    fit = _power_law_fit([64, 128], [1.0, 0.5])
    assert math.isnan(fit["exponent"]) and fit["dof"] == 0
