"""edge-of-stability quick run: contract of the metrics and the sharpness ratio computed from the data."""

import json

import numpy as np
import pytest


@pytest.mark.slow
def test_edge_of_stability_quick(tmp_path):
    from experiments import edge_of_stability as exp
    from fpjax.experiment import to_jsonable

    cfg = exp.EXPERIMENT.config("quick")
    m = exp.run(cfg, tmp_path)
    json.dumps(to_jsonable(m))
    etas = np.asarray(cfg.learning_rates)
    assert len(m["claims"]) == 3 and all(isinstance(c["held"], bool) for c in m["claims"])
    per = m["claims"][0]["evidence"]["per_learning_rate"]
    assert [r["learning_rate"] for r in per] == etas.tolist()
    for r in per:
        if not r["diverged"]:
            assert np.isfinite(r["ratio_mean"]) and r["ratio_std"] >= 0
            assert r["ratio_min"] <= r["ratio_mean"] <= r["ratio_max"]
            # the verdict follows from the reported numbers
    ok = all(
        abs(r["ratio_mean"] - 1) <= cfg.ratio_tolerance and r["ratio_std"] <= cfg.spread_tolerance
        for r in per
        if not r["diverged"]
    )
    assert m["claims"][0]["held"] == (ok and m["claims"][0]["evidence"]["sharpness_rose_for_some_rate"])
    fs = np.asarray(m["final_sharpness"], float)
    assert fs.shape == etas.shape and np.all(np.isfinite(fs))
    for f in exp.EXPERIMENT.figures:
        assert (tmp_path / f).stat().st_size > 0
