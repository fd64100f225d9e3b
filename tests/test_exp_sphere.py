"""Experiments sphere-spectral-bias and ntk-drift through the runner (contract and claims)."""

import json
import math

import numpy as np
import pytest

from fpjax._src.runner import run_experiment


def _finite_numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _finite_numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _finite_numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


def _check_contract(out, metrics, pngs):
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["claims"] == json.loads(json.dumps(metrics["claims"]))
    for c in saved["claims"]:
        assert isinstance(c["held"], bool) and c["evidence"]
    for p in pngs:
        assert (out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p


def test_sphere_crossing_interpolation():
    from experiments.sphere_spectral_bias import _crossing

    t = np.array([0.0, 1.0, 2.0, 3.0])
    ratio = np.exp(-t)  # log-linear: the crossing of e^{-1.5} is exactly 1.5
    assert math.isclose(_crossing(t, ratio, math.exp(-1.5)), 1.5, rel_tol=1e-12)
    assert math.isnan(_crossing(t, ratio, 1e-3))


@pytest.mark.slow
@pytest.mark.xla_optimized  # runs many steps: optimizing the program pays
def test_sphere_spectral_bias_quick(tmp_path):
    metrics = run_experiment("sphere-spectral-bias", "quick", out_root=tmp_path)
    _check_contract(
        tmp_path / "sphere-spectral-bias", metrics, ["sphere_residual_energy.png", "sphere_learning_times.png"]
    )
    c_order, c_rate = metrics["claims"]
    assert c_order["held"], c_order
    assert c_rate["held"], c_rate
    ev = c_rate["evidence"]
    # linear theory: t_ℓ = ln(10)/(2 μ_ℓ); wide but finite-width/finite-n tolerance
    assert all(0.5 < r < 2.0 for r in ev["ratio_measured_over_predicted"])
    assert all(math.isfinite(v) for v in _finite_numbers(metrics["claims"]))


@pytest.mark.slow
def test_ntk_drift_quick(tmp_path):
    metrics = run_experiment("ntk-drift", "quick", out_root=tmp_path)
    _check_contract(tmp_path / "ntk-drift", metrics, ["ntk_drift.png", "ntk_drift_eigenvalues.png"])
    assert len(metrics["claims"]) == 5  # + the width exponent against O(1/m) and O(1/√m)
    for run in metrics["runs"]:
        assert not run["diverged"]
        assert run["kernel_change_final"] > 0
        assert all(0 <= v <= 1 + 1e-5 for v in run["target_fraction"] + run["low_degree_share"])
    # kernel change ∝ 1/α (lazy training) and ∝ 1/√m (NTK parameterisation): robust, must hold
    assert metrics["claims"][0]["held"], metrics["claims"][0]
    assert metrics["claims"][1]["held"], metrics["claims"][1]
    assert all(math.isfinite(v) for v in _finite_numbers(metrics["claims"]))
