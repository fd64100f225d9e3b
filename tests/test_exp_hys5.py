"""hys5-flat-minima quick run: the metrics the claims need exist, are finite and are consistent."""

import json

import numpy as np
import pytest

from fpjax._src.io import to_jsonable

# Quick experiments run thousands of steps: compiled with XLA's optimizations (tests/conftest.py).
pytestmark = pytest.mark.xla_optimized


@pytest.mark.slow
def test_hys5_quick(tmp_path):
    from experiments import hys5_flat_minima as exp

    cfg = exp.EXPERIMENT.config("quick")
    m = exp.run(cfg, tmp_path)
    json.dumps(to_jsonable(m))  # JSON-serializable, as the runner writes it
    n = cfg.n_seeds
    assert set(m["per_activation"]) == set(cfg.activations)
    for act, d in m["per_activation"].items():
        runs = d["runs"]
        for k in ("test_error", "hessian_trace", "spectral_norm", "top_eigenvalue", "train_loss"):
            v = np.asarray(runs[k], float)
            assert v.shape == (2 * n,), (act, k)
            assert np.all(np.isfinite(v)), (act, k)
        tr, sn, top = (np.asarray(runs[k], float) for k in ("hessian_trace", "spectral_norm", "top_eigenvalue"))
        # at a minimum of an MSE loss H ≈ JᵀJ/n ⪰ 0: the trace is at least the top eigenvalue, and the
        # spectral norm (largest |Ritz value|) is at least the top eigenvalue
        conv = np.asarray(runs["converged"], bool)
        assert conv.sum() >= n  # at least half of the runs reached the loss tolerance
        assert np.all(tr[conv] >= 0.9 * top[conv])
        assert np.all(sn >= top - 1e-3 * np.abs(top))
        assert np.isfinite(d["spearman_trace_vs_test_error"])
        assert d["init"]["low"]["n_converged"] + d["init"]["high"]["n_converged"] == conv.sum()
        # the high-bandwidth init has more initial power above Nyquist than the low one (the premise)
        assert (
            d["init"]["high"]["initial_high_freq_fraction_mean"] > d["init"]["low"]["initial_high_freq_fraction_mean"]
        )
    assert len(m["claims"]) == 3
    for c in m["claims"]:
        assert isinstance(c["held"], bool) and c["evidence"]
    for fig in ("trace_vs_test_error.png", "hessian_density.png", "fits.png"):
        assert (tmp_path / fig).stat().st_size > 1000
