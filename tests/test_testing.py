"""Tests of fpjax.testing: each assertion passes on the correct case and fails on a perturbed one
(one frequency off, order swapped, wrong decay, wrong kernel) with a message naming the frequency
and both values; the pytest plugin's fixtures and marker; the how-to's example."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax.testing import (
    assert_decay_rate,
    assert_frequency_order,
    assert_kernel_close,
    assert_seed_fraction,
    assert_seed_mean,
    assert_spectra_close,
)

pytest_plugins = ("pytester",)

X = np.linspace(-np.pi, np.pi, 64, endpoint=False)  # one period L = 2π
F = np.array([1, 3, 5]) / (2 * np.pi)  # sin x, sin 3x, sin 5x
Y = np.sin(X) + 0.5 * np.sin(3 * X) + 0.25 * np.sin(5 * X)


def _num(s):
    return float(s)


# ----------------------------------------------------------------------------------------------
# assert_spectra_close
# ----------------------------------------------------------------------------------------------


def test_spectra_close_passes_exact_and_within_rtol():
    # Identical functions computed two ways (float64 host vs float32 device) pass the default
    # rounding tolerances: 16 ε32 (1 + log2 64) ≈ 1.3e-5 relative.
    assert_spectra_close(jnp.asarray(Y, jnp.float32), Y.astype(np.float32), X, F)
    # A 1 % change of one peak passes rtol = 0.02 and an absent frequency (sin 7x, coefficient 0)
    # compared absolutely against rtol·floor·max|c|.
    assert_spectra_close(Y + 0.005 * np.sin(3 * X), Y, X, list(F) + [7 / (2 * np.pi)], rtol=0.02, floor=0.1)
    # Batched (seeds, N) against (N,), and a network-style (N, 1) column.
    assert_spectra_close(np.stack([Y, Y]), Y, X, F)
    assert_spectra_close(Y[:, None], Y, X[:, None], cycles=[1, 3, 5])


def test_spectra_close_fails_on_one_frequency_naming_it_and_both_values():
    # sin 3x amplitude 0.5 -> 0.4: c(3/2π) goes from -0.25i to -0.2i, a 20 % error > rtol 5 %.
    bad = Y - 0.1 * np.sin(3 * X)
    with pytest.raises(AssertionError) as exc:
        assert_spectra_close(bad, Y, X, F, rtol=0.05)
    msg = str(exc.value)
    assert "differ at 1 of 3 frequencies" in msg
    row = [ln for ln in msg.splitlines() if ln.rstrip().endswith("FAIL")]
    assert len(row) == 1
    cells = row[0].split()
    assert _num(cells[0]) == pytest.approx(3 / (2 * np.pi), rel=1e-5)  # the frequency
    assert cells[2] == "-0.2j" or complex(cells[2].replace("j", "j")) == pytest.approx(-0.2j, abs=1e-6)
    assert complex(cells[3]) == pytest.approx(-0.25j, abs=1e-6)  # expected
    assert _num(cells[4]) == pytest.approx(0.05, rel=1e-6)  # |error|
    # The other two frequencies are listed as ok.
    assert sum(ln.rstrip().endswith(" ok") for ln in msg.splitlines()) == 2


def test_spectra_close_floor_and_fraction():
    # Expected coefficient at 7/(2π) is 0: any relative error would be infinite. With floor = 0.1 the
    # tolerance there is rtol·0.1·max|c| = 0.05·0.1·0.5 = 2.5e-3: a 2e-3 leak passes, 4e-3 fails.
    f7 = list(F) + [7 / (2 * np.pi)]
    assert_spectra_close(Y + 4e-3 * np.sin(7 * X), Y, X, f7, rtol=0.05, floor=0.1)  # |c| = 2e-3
    with pytest.raises(AssertionError, match=r"differ at 1 of 4"):
        assert_spectra_close(Y + 8e-3 * np.sin(7 * X), Y, X, f7, rtol=0.05, floor=0.1)  # |c| = 4e-3
    # Seed-aware: one bad seed of four passes fraction 0.75, not fraction 1.
    seeds = np.stack([Y, Y, Y, Y - 0.2 * np.sin(X)])
    assert_spectra_close(seeds, Y, X, F, rtol=0.05, fraction=0.75)
    with pytest.raises(AssertionError, match=r"differ at 1 of 3 .*\n(.*\n)*.*\(3,\)"):
        assert_spectra_close(seeds, Y, X, F, rtol=0.05)


def test_spectra_close_refuses_endpoint_grid_and_off_grid_freqs():
    xe = np.linspace(-np.pi, np.pi, 64)  # endpoint included
    with pytest.raises(ValueError, match=r"x looks like linspace\(a, b, N\) with the endpoint b included"):
        assert_spectra_close(np.sin(xe), np.sin(xe), xe, F)
    with pytest.raises(ValueError, match=r"freqs\[0\] = 0.3 is not a frequency of the grid"):
        assert_spectra_close(Y, Y, X, [0.3])
    with pytest.raises(ValueError, match=r"rtol must be >= 0"):
        assert_spectra_close(Y, Y, X, F, rtol=-1.0)


# ----------------------------------------------------------------------------------------------
# assert_frequency_order
# ----------------------------------------------------------------------------------------------


def _order_errors(rates, n_steps=20):
    t = np.arange(n_steps, dtype=float)[:, None]
    return np.exp(-t * np.asarray(rates)[None, :])  # (T, K); decays faster for larger rate


def test_frequency_order_passes_and_fails_on_swap():
    freqs = [1.0, 2.0, 3.0]
    err = _order_errors([1.0, 0.5, 0.25])  # thresholds 0.1 crossed at 3, 5, 10
    assert_frequency_order(err, freqs, threshold=0.1)
    assert_frequency_order(err, freqs, threshold=0.1, rule="stays", steps=100 * np.arange(20))
    swapped = err[:, [1, 0, 2]]  # freq 1 now crosses at 5, freq 2 at 3
    with pytest.raises(AssertionError) as exc:
        assert_frequency_order(swapped, freqs, threshold=0.1, steps=100 * np.arange(20))
    msg = str(exc.value)
    assert "violated in 1 of 1 informative seeds" in msg
    assert "freq 1 converged at step 500 but the higher freq 2 already at step 300" in msg


def test_frequency_order_seeds_censoring_and_step0():
    freqs = [1.0, 2.0, 3.0]
    good = _order_errors([1.0, 0.5, 0.25])
    bad = good[:, [1, 0, 2]]
    at0 = good.copy()
    at0[:, 2] = 0.01  # highest freq below the threshold from step 0
    cens = good.copy()
    cens[:, 0] = 0.5  # lowest freq never converges
    errs = np.stack([good, good, at0, bad])
    # 3 of 4 seeds hold (the step-0 one holds on its remaining pair).
    assert_frequency_order(errs, freqs, threshold=0.1, fraction=0.75)
    with pytest.raises(AssertionError) as exc:
        assert_frequency_order(errs, freqs, threshold=0.1)
    msg = str(exc.value)
    assert "1 of 4 informative seeds" in msg and "seed 3:" in msg
    assert "already below the threshold at step 0 (left out): 1 (seed, freq) pairs, e.g. [(2, '3')]" in msg
    # A censored low frequency violates the order against converging higher ones, and is reported.
    with pytest.raises(AssertionError) as exc:
        assert_frequency_order(np.stack([good, cens]), freqs, threshold=0.1)
    msg = str(exc.value)
    assert "seed 1:" in msg and "freq 1 converged at step inf but the higher freq 2 already at step 5" in msg
    assert "censored (never below the threshold): 1" in msg
    # All frequencies at step 0: no information -> failure saying so.
    with pytest.raises(AssertionError, match=r"no seed gives information"):
        assert_frequency_order(np.full((5, 3), 0.01), freqs, threshold=0.1)
    with pytest.raises(ValueError, match=r"unknown rule"):
        assert_frequency_order(good, freqs, threshold=0.1, rule="last")
    with pytest.raises(ValueError, match=r"freqs must have shape \(K,\) = \(3,\)"):
        assert_frequency_order(good, [1.0, 2.0], threshold=0.1)


# ----------------------------------------------------------------------------------------------
# assert_kernel_close
# ----------------------------------------------------------------------------------------------


def _relu_ntk(x, w, b, a):
    """Two-layer ReLU NTK (NTK parametrization) averaged over the hidden units given (numpy)."""
    z = x @ w.T + b
    h, dh = np.maximum(z, 0), (z > 0) * 1.0
    m = w.shape[0]
    return (h @ h.T) / m + ((dh * a**2) @ dh.T) / m * (x @ x.T + 1)


def test_kernel_close_width_scaling():
    rng = np.random.default_rng(0)
    th = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    x = np.stack([np.cos(th), np.sin(th)], 1)
    big = 200_000
    k_inf = _relu_ntk(x, rng.normal(size=(big, 2)), rng.normal(size=big), rng.normal(size=big))
    for width in (64, 1024):
        k = _relu_ntk(x, rng.normal(size=(width, 2)), rng.normal(size=width), rng.normal(size=width))
        assert_kernel_close(k, k_inf, width=width)
    # A wrong kernel (bias term of the tangent features dropped) is off by O(1): fails at width 1024.
    z = x @ rng.normal(size=(1024, 2)).T
    wrong = (np.maximum(z, 0) @ np.maximum(z, 0).T) / 1024
    with pytest.raises(AssertionError) as exc:
        assert_kernel_close(wrong, k_inf, width=1024)
    msg = str(exc.value)
    assert "> rtol/sqrt(width) = 8/sqrt(1024) = 0.25" in msg
    # The table names an entry and both values.
    i, j = np.unravel_index(np.argmax(np.abs(wrong - k_inf)), wrong.shape)
    assert f"({i}, {j})" in msg and f"{wrong[i, j]:.6g}" in msg and f"{k_inf[i, j]:.6g}" in msg


def test_kernel_close_spectrum_rows_are_frequencies():
    lam = np.array([1.0, 0.5, 0.25, 0.125])
    with pytest.raises(AssertionError) as exc:
        assert_kernel_close(lam * np.array([1, 1, 3, 1]), lam, width=10_000, freqs=[0.5, 1.0, 1.5, 2.0])
    row = [ln for ln in str(exc.value).splitlines() if ln.strip().startswith("1.5")]
    assert row and row[0].split()[1:3] == ["0.75", "0.25"]
    with pytest.raises(ValueError, match=r"width must be a positive integer"):
        assert_kernel_close(lam, lam, width=0)
    with pytest.raises(ValueError, match=r"same shape"):
        assert_kernel_close(lam, lam[:3], width=4)


# ----------------------------------------------------------------------------------------------
# assert_decay_rate
# ----------------------------------------------------------------------------------------------


def test_decay_rate_fit_pass_and_fail():
    xi = np.arange(1.0, 17.0)
    rng = np.random.default_rng(1)
    mags = 2.0 * xi**-2.0 * np.exp(0.05 * rng.normal(size=xi.size))  # 5 % log-normal noise
    fit = assert_decay_rate(xi, mags, 2.0)
    # Slope standard error for 5 % noise over log ξ in [0, 2.77]: ≈ 0.05/√Σ(lx − mean)² ≈ 0.016.
    assert abs(float(fit.exponent) - 2.0) < 0.1 and float(fit.standard_error) < 0.05 and float(fit.r2) > 0.99
    with pytest.raises(AssertionError) as exc:
        assert_decay_rate(xi, mags, 3.0)  # wrong decay
    msg = str(exc.value)
    assert "differs from the expected 3" in msg and "tol 0.3" in msg and "R² = " in msg
    # Table rows: frequency, measured magnitude, expected C_p ξ^-3, ratio.
    first = next(ln for ln in msg.splitlines() if ln.split()[:1] == ["1"]).split()
    assert _num(first[1]) == pytest.approx(mags[0], rel=1e-5)
    c3 = np.exp(np.mean(np.log(mags) + 3 * np.log(xi)))
    assert _num(first[2]) == pytest.approx(c3, rel=1e-5)
    # Seeds: 3 of 4 with the right exponent pass fraction 0.75.
    rows = np.stack([xi**-2.0, xi**-2.05, xi**-1.95, xi**-1.0])
    fits = assert_decay_rate(xi, rows, 2.0, fraction=0.75)
    np.testing.assert_allclose(fits.exponent, [2.0, 2.05, 1.95, 1.0], atol=1e-12)
    with pytest.raises(AssertionError, match=r"in 1 of 4 seeds .* worst seed 3"):
        assert_decay_rate(xi, rows, 2.0)
    with pytest.raises(ValueError, match=r"freqs must be finite and > 0"):
        assert_decay_rate(np.arange(0.0, 4.0), np.ones(4), 1.0)
    with pytest.raises(ValueError, match=r"magnitude at freq 2 \(seed 0\) is 0"):
        assert_decay_rate([1.0, 2.0], [1.0, 0.0], 1.0)


# ----------------------------------------------------------------------------------------------
# seed-aware forms
# ----------------------------------------------------------------------------------------------


def test_seed_fraction_and_mean():
    holds = np.array([[True, True], [True, False], [True, True], [False, True]])
    assert_seed_fraction(holds, fraction=0.75, freqs=[1.0, 2.0])
    with pytest.raises(AssertionError) as exc:
        assert_seed_fraction(holds, fraction=0.8, freqs=[1.0, 2.0], claim="low first")
    assert "'low first' holds in too few seeds" in str(exc.value) and "[1]" in str(exc.value)
    rng = np.random.default_rng(2)
    vals = 1.0 + 0.1 * rng.normal(size=(16, 3))
    assert_seed_mean(vals, [1.0, 1.0, 1.0], freqs=[1.0, 2.0, 3.0])
    shifted = vals + np.array([0.0, 0.0, 0.2])  # 0.2 = 8 standard errors (0.1/√16 = 0.025)
    with pytest.raises(AssertionError) as exc:
        assert_seed_mean(shifted, 1.0, freqs=[1.0, 2.0, 3.0])
    row = [ln for ln in str(exc.value).splitlines() if ln.rstrip().endswith("FAIL")]
    assert len(row) == 1 and row[0].split()[0] == "3"
    assert _num(row[0].split()[1]) == pytest.approx(shifted[:, 2].mean(), rel=1e-5)
    with pytest.raises(ValueError, match=r"at least 2 seeds"):
        assert_seed_mean([1.0], 1.0)
    with pytest.raises(TypeError, match=r"holds must be a boolean array"):
        assert_seed_fraction([1, 0], fraction=0.5)


# ----------------------------------------------------------------------------------------------
# the pytest plugin
# ----------------------------------------------------------------------------------------------


def test_plugin_registered_and_key_fixtures(request, key, keys):
    assert request.config.pluginmanager.has_plugin("fpjax")
    assert jnp.array_equal(jax.random.key_data(key), jax.random.key_data(jax.random.key(0)))
    ks = keys(3)
    assert ks.shape == (3,)
    assert jnp.array_equal(jax.random.key_data(ks), jax.random.key_data(jax.random.split(key, 3)))


@pytest.mark.x64
def test_plugin_x64_marker():
    assert jnp.zeros(1).dtype == jnp.float64


def test_plugin_x64_hooks_restore_flag():
    from fpjax.testing import plugin

    class Item:
        def __init__(self):
            self.stash = pytest.Stash()

        def get_closest_marker(self, name):
            return object() if name == "x64" else None

    before = bool(jax.config.jax_enable_x64)
    item = Item()
    plugin.pytest_runtest_setup(item)
    assert jax.config.jax_enable_x64
    plugin.pytest_runtest_teardown(item, None)
    assert bool(jax.config.jax_enable_x64) == before


@pytest.mark.slow
def test_plugin_fixtures_in_a_fresh_session(pytester):
    # A project without fixtures of its own gets x64 (restored afterwards), key and --fpjax-seed.
    pytester.makepyfile("""
        import jax, jax.numpy as jnp

        def test_a(x64):
            assert jnp.zeros(1).dtype == jnp.float64

        def test_b(key):
            assert not jax.config.jax_enable_x64
            assert jnp.array_equal(jax.random.key_data(key), jax.random.key_data(jax.random.key(7)))
    """)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", "--fpjax-seed=7")
    result.assert_outcomes(passed=2)


# ----------------------------------------------------------------------------------------------
# the how-to's example runs
# ----------------------------------------------------------------------------------------------


def test_howto_example_runs():
    doc = Path(__file__).resolve().parents[1] / "docs" / "howto" / "spectral-tests.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, "docs/howto/spectral-tests.md must hold a python example"
    ns = {}
    exec(compile(blocks[0], str(doc), "exec"), ns)  # noqa: S102 - our own documentation
    tests = [v for k, v in ns.items() if k.startswith("test_") and callable(v)]
    assert tests
    for t in tests:
        t()
