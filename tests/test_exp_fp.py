"""The F-Principle lecture experiments (fp-1d, fp-2d-image, fp-highdim, fp-parity, fp-init-scale).

Slow tests run each QUICK setting through the runner and check the contract (metrics.json with a
claims list of computed verdicts, finite evidence, PNG figures, determinism for a fixed seed). Fast
tests check the experiment-specific mathematics (Walsh spectrum, band errors, convergence steps).
"""

import json
import math

import numpy as np
import pytest

from experiments import _common as C
from experiments import fp_2d_image, fp_highdim, fp_parity
from fpjax._src import runner

# Quick experiments run thousands of steps: compiled with XLA's optimizations (tests/conftest.py).
pytestmark = pytest.mark.xla_optimized

FP_EXPERIMENTS = {
    # name: PNG files the experiment must write
    "fp-1d": {"fp1d_function_and_spectrum.png", "fp1d_delta_heatmap.png", "fp1d_delta_curves.png"},
    "fp-2d-image": {"fp2d_outputs.png", "fp2d_band_errors.png", "fp2d_band_heatmap.png"},
    "fp-highdim": {"highdim_projected_spectrum.png", "highdim_projection_heatmap.png", "highdim_filtering.png"},
    "fp-parity": {"parity_accuracy.png", "parity_walsh_spectrum.png", "parity_projected_spectrum.png"},
    "fp-init-scale": {"init_scale_functions.png", "init_scale_spectra.png"},
}


def _numbers(obj):
    """Every number in a JSON tree (None = "never reached" is allowed and skipped)."""
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
        # to_jsonable writes non-finite floats as strings: they must not appear.
        assert obj.lower() not in ("nan", "inf", "-inf"), f"non-finite number {obj!r} in metrics"


def _check_contract(name, out_root, metrics):
    saved = json.loads((out_root / name / "metrics.json").read_text())
    cfg = json.loads((out_root / name / "config.json").read_text())
    assert cfg["experiment"] == name and cfg["config"]["seed"] == 0
    assert isinstance(saved["claims"], list) and saved["claims"]
    for c in saved["claims"]:
        assert set(c) >= {"claim", "held", "evidence"}
        assert isinstance(c["claim"], str) and c["claim"]
        assert isinstance(c["held"], bool)
        assert isinstance(c["evidence"], dict) and c["evidence"]
    nums = list(_numbers(saved))
    assert nums and all(math.isfinite(v) for v in nums)
    pngs = {p.name for p in (out_root / name).glob("*.png")}
    assert FP_EXPERIMENTS[name] <= pngs
    for p in FP_EXPERIMENTS[name]:
        assert (out_root / name / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [c["held"] for c in saved["claims"]] == [c["held"] for c in metrics["claims"]]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FP_EXPERIMENTS))
def test_quick_experiment_contract(name, tmp_path):
    metrics = runner.run_experiment(name, "quick", seed=0, out_root=tmp_path)
    _check_contract(name, tmp_path, metrics)


@pytest.mark.slow
def test_fp1d_same_seed_same_metrics(tmp_path):
    # A shortened fp-1d (same code path) run twice with seed 0 and once with seed 1.
    ov = {"steps": 300, "n_seeds": 2, "record_every": 10}
    a = runner.run_experiment("fp-1d", "quick", seed=0, out_root=tmp_path / "a", overrides=ov)
    b = runner.run_experiment("fp-1d", "quick", seed=0, out_root=tmp_path / "b", overrides=ov)
    c = runner.run_experiment("fp-1d", "quick", seed=1, out_root=tmp_path / "c", overrides=ov)
    strip = lambda m: json.dumps({k: v for k, v in m.items() if k != "runtime_s"}, default=str, sort_keys=True)
    assert strip(a) == strip(b)
    assert strip(a) != strip(c)


@pytest.mark.slow
def test_fp_highdim_reads_cifar10_when_data_dir_given(tmp_path, monkeypatch):
    # Tiny files in the exact CIFAR-10 binary format (1 label byte + 3072 pixel bytes per record),
    # registered in a SHA256SUMS manifest. A manifest only adds checks (the official record count
    # still applies), so the test stands in a 12-record "official" size for its stand-in files.
    from fpjax._src import data as data_src
    from fpjax.data import write_sha256sums

    monkeypatch.setitem(data_src._CIFAR["cifar10"], "records", {"train": 12, "test": 12})

    rng = np.random.default_rng(0)
    d = tmp_path / "data" / "cifar-10-batches-bin"
    d.mkdir(parents=True)
    for f in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        rec = np.concatenate([rng.integers(0, 10, (12, 1)), rng.integers(0, 256, (12, 3072))], axis=1)
        (d / f).write_bytes(rec.astype(np.uint8).tobytes())
    write_sha256sums(d)
    ov = {
        "data_dir": str(tmp_path / "data"),
        "n_train": 50,
        "widths": [16],
        "steps": 40,
        "record_every": 10,
        "n_seeds": 1,
        "n_freq_grid": 40,
    }
    m = runner.run_experiment("fp-highdim", "quick", seed=0, out_root=tmp_path / "out", overrides=ov)
    assert m["data"] == "CIFAR-10" and m["input_dim"] == 3072 and m["n_train"] == 50
    assert all(c["evidence"]["data"] == "CIFAR-10" for c in m["claims"])


# ------------------------------------------------------------------------------------------------
# fast checks of the experiment mathematics
# ------------------------------------------------------------------------------------------------


def test_walsh_transform_matches_definition():
    d = 5
    x, _ = fp_parity.hypercube(d)
    f = np.random.default_rng(0).normal(size=(3, 2**d))
    coef = fp_parity.walsh_coefficients(f)
    # Definition: f̂_S = 2^-d Σ_x f(x) Π_{j∈S} x_j, with S read from the index bits as the points are.
    for s in range(2**d):
        in_s = ((s >> np.arange(d - 1, -1, -1)) & 1) == 1
        chi = np.prod(np.where(in_s, x, 1.0), axis=1)
        np.testing.assert_allclose(coef[:, s], f @ chi / 2**d, rtol=1e-12, atol=1e-12)
    # Parseval on the cube: Σ_S f̂_S² = 2^-d Σ_x f(x)².
    np.testing.assert_allclose((coef**2).sum(-1), (f**2).mean(-1), rtol=1e-12)


def test_parity_energy_is_all_at_top_degree():
    for d in (3, 6, 10):
        x, y = fp_parity.hypercube(d)
        assert x.shape == (2**d, d) and set(np.unique(x)) == {-1.0, 1.0}
        e = fp_parity.energy_by_degree(y, d)
        np.testing.assert_allclose(e, np.eye(d + 1)[d], atol=1e-12)
        # A single coordinate x_1 is degree 1.
        np.testing.assert_allclose(fp_parity.energy_by_degree(x[:, 0], d), np.eye(d + 1)[1], atol=1e-12)


def test_band_errors_and_crossing_steps():
    rng = np.random.default_rng(0)
    y_hat = rng.normal(size=(6, 8)) + 1j * rng.normal(size=(6, 8))
    radius = np.hypot(*np.meshgrid(np.arange(6) - 3, np.arange(8) - 4, indexing="ij"))
    edges = np.array([0.0, 2.0, np.inf])
    # h = y except in the outer band, where it is 0: band 0 error 0, band 1 error exactly 1.
    h = np.where(radius < 2, y_hat, 0)
    np.testing.assert_allclose(fp_2d_image.band_errors(h[None], y_hat, radius, edges), [[0.0, 1.0]], atol=1e-12)
    steps = np.array([0, 10, 20, 30])
    curves = np.array([[1.0, 0.5, 0.05, 0.01], [1.0, 0.9, 0.8, 0.7]])
    from fpjax.spectrum import crossing_steps

    np.testing.assert_array_equal(crossing_steps(curves, 0.1, steps=steps, axis=-1), [20.0, np.inf])
    assert C.strictly_increasing([1, 2, np.inf]) and not C.strictly_increasing([1, np.inf, np.inf])
    assert C.non_decreasing([1, np.inf, np.inf]) and not C.non_decreasing([2, 1])
    assert C.finite_or_none([1.0, np.inf]) == [1.0, None]


def test_pixel_grid_and_nn_distance():
    ay, ax, pts = fp_2d_image.pixel_grid(3, 4)
    np.testing.assert_allclose(ay, [0, 1 / 3, 2 / 3], rtol=1e-6)
    assert pts.shape == (12, 2) and np.allclose(pts[5], [1 / 3, 1 / 4])
    x = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 2.0]], np.float32)
    # Nearest-neighbour squared distances 1, 1, 4, 4 -> median 2.5.
    assert fp_highdim._median_nn_sq_distance(x, block=3) == pytest.approx(2.5)


def test_first_principal_direction_both_branches():
    from fpjax.spectrum import principal_direction

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(40, 6)) * np.array([5.0, 1, 1, 1, 1, 1])) @ np.linalg.qr(rng.normal(size=(6, 6)))[0]
    x = x.astype(np.float32)
    p_eig = fp_highdim.first_principal_direction(x)
    np.testing.assert_allclose(p_eig, np.asarray(principal_direction(x)), atol=1e-6)
    # n < d: the SVD branch finds the same direction (with the same sign) on the transposed problem size.
    wide = np.concatenate([x[:5], np.zeros((5, 40), np.float32)], axis=1)
    p_svd = fp_highdim.first_principal_direction(wide)
    np.testing.assert_allclose(np.abs(p_svd @ np.asarray(principal_direction(wide))), 1.0, atol=1e-4)
    assert p_svd[np.argmax(np.abs(p_svd))] > 0


def test_every_fp_experiment_honours_the_contract(tmp_path):
    mods = runner._modules()
    for name in FP_EXPERIMENTS:
        exp = mods[name]
        assert set(exp.quick) == set(exp.full), name
        json.dumps(dict(exp.quick)), json.dumps(dict(exp.full))
        assert "seed" not in exp.quick and exp.figures.keys() >= FP_EXPERIMENTS[name]
    with pytest.raises(ValueError, match="unknown setting"):
        runner.run_experiment("fp-1d", out_root=tmp_path, overrides={"nope": 1})


def test_fp_parity_rejects_bad_fraction(tmp_path):
    with pytest.raises(ValueError, match="train_fractions"):
        runner.run_experiment("fp-parity", "quick", seed=0, out_root=tmp_path, overrides={"train_fractions": [1.0]})
