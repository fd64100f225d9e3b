"""Experiment tangent-fourier (Theorem 5.1) through the runner."""

import json

import pytest

from fpjax._src.runner import run_experiment


@pytest.mark.slow
def test_quick_setting_claims_hold(tmp_path):
    metrics = run_experiment("tangent-fourier", "quick", out_root=tmp_path)
    out = tmp_path / "tangent-fourier"
    for name in (
        "config.json",
        "metrics.json",
        "dfhat_predicted_vs_measured.png",
        "kernel_hat_decay.png",
        "decay_rates.csv",
    ):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text())["claims"] == json.loads(json.dumps(metrics["claims"]))
    for c in metrics["claims"]:
        assert c["held"], c
    # 4 activations × 2 losses × (init: 2 methods + trained: finite difference).
    assert len(metrics["cases"]) == 24
    assert set(metrics["decay_rates"]) == {"relu", "tanh", "gaussian", "sine"}
    assert metrics["claims"][0]["evidence"]["max_rel_l2_error"] <= 0.01


def test_small_override_runs_and_reports(tmp_path):
    """Contract check on a tiny configuration (one activation, one loss, no training)."""
    metrics = run_experiment(
        "tangent-fourier",
        "quick",
        out_root=tmp_path,
        overrides=dict(
            activations=["tanh"], losses=["mse"], methods=["finite_difference"], train_steps=0, width=16, grid_size=256
        ),
    )
    assert [c["held"] for c in metrics["claims"]] == [True, True, True]
    assert len(metrics["cases"]) == 1 and metrics["cases"][0]["rel_l2_error"] < 1e-4
    rows = (tmp_path / "tangent-fourier" / "decay_rates.csv").read_text().splitlines()
    assert rows[0].startswith("activation,window,choice") and len(rows) == 3
