"""The low-dimensional "How you start matters" experiments (hys1-depth, hys2-spectral-bias,
hys3-init-spectrum, hysA2-bandwidth-init, hysA3-decay-rate) and their shared helpers.

Slow tests run each QUICK setting (seed 0) through the runner and check the contract: metrics.json
with a claims list whose verdicts are booleans computed from finite evidence, the numbers each claim
needs, PNG figures, and bitwise determinism for a fixed seed. Fast tests check the helpers of
``experiments/_common.py`` against exact answers.
"""

import json
import math

import numpy as np
import pytest
from PIL import Image

from experiments import _common as c1
from fpjax._src import runner

# Quick experiments run thousands of steps: compiled with XLA's optimizations (tests/conftest.py).
pytestmark = pytest.mark.xla_optimized

# ------------------------------------------------------------------------------------------------
# helpers (fast)
# ------------------------------------------------------------------------------------------------


def test_high_freq_fraction_of_two_sines():
    # a sin(2π·2x) + b sin(2π·20x) on [−1, 1): by Parseval the Hann-windowed power splits as
    # a² : b² up to the window's cross terms between the two lines, which vanish for lines more than
    # 2 bins apart except for the symmetric (not periodic) Hann's O(1/N) mismatch: tolerance 4/N.
    n = 1024
    x = c1.uniform_grid(n, -1.0, 1.0)
    a, b = 1.0, 0.3
    v = a * np.sin(2 * np.pi * 2 * x) + b * np.sin(2 * np.pi * 20 * x)
    frac = float(c1.high_freq_fraction(v, x, cutoff=10.0))
    assert abs(frac - b**2 / (a**2 + b**2)) < 4 / n
    # Scale-free, and a constant has no power at all.
    assert float(c1.high_freq_fraction(7 * v, x, 10.0)) == pytest.approx(frac, rel=1e-5)
    assert float(c1.high_freq_fraction(np.full(n, 3.0), x, 10.0)) == 0.0


def test_crossing_steps_first_and_stay():
    from fpjax.spectrum import crossing_steps

    v = np.array([[1.0, 0.05, 0.5, 0.05, 0.01], [1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(crossing_steps(v, 0.1, axis=-1), [1, np.inf, 0])
    np.testing.assert_array_equal(crossing_steps(v, 0.1, rule="stays", axis=-1), [3, np.inf, 0])


def test_decay_rate_of_exact_exponential():
    t = np.linspace(0.0, 10.0, 101)
    amps = 3.0 * np.exp(-0.7 * t)
    # Fit window: until amps < 1e-2·amps[0], i.e. t < ln(100)/0.7 ≈ 6.6; a pure exponential is a line
    # in log space, so least squares recovers λ to rounding.
    assert c1.decay_rate(t, amps) == pytest.approx(0.7, rel=1e-9)
    # A floor reached later does not bias the rate: only the first two decades enter the fit.
    floored = np.maximum(amps, 1e-6)
    assert c1.decay_rate(t, floored) == pytest.approx(0.7, rel=1e-9)
    assert math.isnan(c1.decay_rate(t, np.zeros_like(t)))


def test_pick_rate_rule():
    rates = [1e-3, 1e-2, 1e-1]
    rmse = np.array([[0.5, 0.6], [0.01, 0.02], [0.001, 0.0]])  # (rate, seed)
    loss = np.array([[1.0, 1.0], [1e-4, 1e-4], [1e-8, 1e-9]])
    assert c1.pick_rate(rates, rmse, loss, tol=0.05) == 1  # smallest rate that fits
    assert c1.pick_rate(rates, rmse, loss, tol=1e-4) == 2  # none fits: lowest loss
    loss_div = loss.copy()
    loss_div[2] = np.inf  # diverged rate never wins
    assert c1.pick_rate(rates, rmse, loss_div, tol=1e-4) == 1


def test_order_counts_skip_censored_pairs():
    # Steps of k = 1, 3, 5, 7, 9; the last three never converged (censored at the end).
    c, d, t = c1.order_counts([100, 800, 6000, 6000, 6000], [False, False, True, True, True])
    assert (c, d, t) == (7, 0, 0)  # 1 pair among converged + 2·3 converged-before-never; 3 skipped
    c, d, t = c1.order_counts([100, 50, 50], [False, False, False])
    assert (c, d, t) == (0, 2, 1)
    assert c1.order_counts([5, 5], [True, False]) == (0, 1, 0)


def test_spearman_exact_values():
    assert c1.spearman([1, 3, 5, 7, 9], [10, 20, 30, 40, 50]) == 1.0
    # One adjacent swap of five: ρ = 1 − 6·2/(5·24) = 0.9 exactly (rounded, so thresholds compare).
    assert c1.spearman([1, 3, 5, 7, 9], [10, 30, 20, 40, 50]) == 0.9
    assert math.isnan(c1.spearman([1, 2, 3], [5, 5, 5]))


# ------------------------------------------------------------------------------------------------
# experiments (slow): QUICK through the runner
# ------------------------------------------------------------------------------------------------

# name: (result keys every entry of metrics["results"] must hold as finite numbers, expected PNGs)
HYS = {
    "hys1-depth": (
        ("init_hf_fraction", "final_hf_fraction", "interp_error", "train_rel_rmse", "learning_rate"),
        {"functions_and_spectra.png", "depth_summary.png"},
    ),
    "hys2-spectral-bias": (("spearman_k_vs_step", "final_loss"), {"delta_f_heatmaps.png", "delta_f_curves.png"}),
    "hys3-init-spectrum": (
        ("init_hf_fraction", "final_hf_fraction", "error_vs_bandlimited", "train_rel_rmse"),
        {"interpolants_and_spectra.png"},
    ),
    "hysA2-bandwidth-init": (
        ("init_hf_fraction", "trained_hf_fraction", "final_train_metric"),
        {"bandwidth_spectra.png"},
    ),
    "hysA3-decay-rate": (
        ("init_hf_power_over_target_power", "interp_error", "decay_profile_slope", "train_rel_rmse"),
        {"decay_rates.png"},
    ),
}


def _numbers(obj):
    """Every number of a JSON tree; strings are fine unless they are what non-finite floats become."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, bool) or obj is None:
        return
    elif isinstance(obj, (int, float)):
        yield obj
    elif isinstance(obj, str):
        assert obj.lower() not in ("nan", "inf", "-inf", "infinity", "-infinity"), f"non-finite value {obj!r}"


def _leaves(results):
    """The per-setting dicts of ``results`` (one level for most, two for hys1's activation × depth)."""
    for v in results.values():
        if all(isinstance(w, dict) for w in v.values()):
            yield from v.values()
        else:
            yield v


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HYS))
def test_quick_run_contract(name, tmp_path):
    keys, pngs = HYS[name]
    metrics = runner.run_experiment(name, "quick", seed=0, out_root=tmp_path)
    out = tmp_path / name
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["claims"] == json.loads(json.dumps(metrics["claims"]))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["seed"] == 0 and cfg["setting"] == "quick"

    claims = saved["claims"]
    assert claims, "no claims"
    for c in claims:
        assert isinstance(c["claim"], str) and c["claim"]
        assert isinstance(c["held"], bool)
        nums = list(_numbers(c["evidence"]))
        assert nums, f"claim {c['claim']!r} has no numbers in its evidence"
        assert all(math.isfinite(v) for v in nums)

    leaves = list(_leaves(saved["results"]))
    assert leaves
    for leaf in leaves:
        for k in keys:
            assert isinstance(leaf[k], (int, float)) and math.isfinite(leaf[k]), (k, leaf.get(k))

    found = {p.name for p in out.glob("*.png")}
    assert pngs <= found, f"missing figures {pngs - found}"
    for p in pngs:
        with Image.open(out / p) as im:
            assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100


@pytest.mark.slow
def test_same_seed_same_metrics(tmp_path):
    # Determinism needs no full QUICK run: a cut-down hys2 (one network type, few steps; both runs
    # with the same overrides), so this costs two compilations, not a whole experiment twice.
    small = {"activations": ["relu"], "steps": 400, "record_every": 50, "n_seeds": 2}
    name = "hys2-spectral-bias"
    a = runner.run_experiment(name, "quick", seed=0, out_root=tmp_path / "a", overrides=small)
    b = runner.run_experiment(name, "quick", seed=0, out_root=tmp_path / "b", overrides=small)
    a.pop("runtime_s")
    b.pop("runtime_s")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = runner.run_experiment(name, "quick", seed=1, out_root=tmp_path / "c", overrides=small)
    assert c["results"]["relu"]["final_loss"] != a["results"]["relu"]["final_loss"]
