"""Experiments init-bias and asi through the runner, at their quick settings."""

import json

import pytest

from fpjax._src.runner import run_experiment

# Quick experiments run thousands of steps: compiled with XLA's optimizations (tests/conftest.py).
pytestmark = pytest.mark.xla_optimized


def _files_and_contract(tmp_path, name, metrics, figures):
    out = tmp_path / name
    for f in ("config.json", "metrics.json") + figures:
        assert (out / f).is_file(), f
    assert json.loads((out / "metrics.json").read_text())["claims"] == json.loads(json.dumps(metrics["claims"]))


@pytest.mark.slow
def test_init_bias_quick_claims_hold(tmp_path):
    metrics = run_experiment("init-bias", "quick", out_root=tmp_path)
    _files_and_contract(
        tmp_path,
        "init-bias",
        metrics,
        ("error_vs_init_scale.png", "theorem2_decomposition.png", "theorem3_lhs_vs_rhs.png"),
    )
    for c in metrics["claims"]:
        assert c["held"], c
    # Theorem 2, GP closed form and ASI are all among the claims (one hidden layer in quick).
    assert len(metrics["claims"]) == 6
    # relu: per-init, reference and infinite NTK; tanh: no closed-form infinite kernel.
    assert metrics["kernels_used"] == {
        "relu": ["empirical", "infinite", "reference"],
        "tanh": ["empirical", "reference"],
    }
    assert len(metrics["theorem3"]) == 5 * (3 + 2)
    assert all(r["n"] == 256 for r in metrics["theorem3"].values())
    # The scale sweep's σ=1 network at s·θ equals the σ=s network at θ (float64 rounding).
    assert all(v < 1e-12 for v in metrics["scaling_identity_rel_err"].values())
    # Well-conditioned kernels meet the 1e-10 bound itself (not only the cond-scaled one).
    assert all(r["rel_residual"] <= 1e-10 for r in metrics["theorem2"] if r["cond"] <= 1e4)


@pytest.mark.slow
def test_asi_quick(tmp_path):
    metrics = run_experiment("asi", "quick", out_root=tmp_path)
    _files_and_contract(tmp_path, "asi", metrics, ("test_error_vs_init_scale.png",))

    def by(ds, words):
        return next(c for c in metrics["claims"] if c["claim"].startswith(ds + ":") and words in c["claim"])

    for ds in ("diabetes", "digits"):
        assert by(ds, "without ASI the test error grows")["held"]
        assert by(ds, "ASI has the lower test error for every seed")["held"]
        flat = by(ds, "with ASI the test error grows by less than")
        ev = flat["evidence"]
        # With ASI the growth over the scale range is far below the growth without it.
        assert ev["test_growth_with_asi"] < ev["test_growth_without_asi"] / 10
        r = metrics["results"][ds]
        assert r["diverged_runs"] == 0
        assert r["asi_output_at_init_max_abs"] == 0.0
    # diabetes: flat within 1.5x. (digits: the quick setting's ASI error grows ~2.4x over 0.5..8, a
    # scale dependence of the kernel/training regime that ASI does not remove; the claim reports it.)
    assert by("diabetes", "with ASI the test error grows by less than")["held"]
    assert metrics["claims"][-1]["held"]  # ASI output exactly 0 at init
    assert 0.9 < metrics["results"]["digits"]["asi_acc_mean"][0] <= 1.0
