"""fpjax.theory.lfp under the one error policy: bad values fail the same way eagerly, under ``jit``
and under ``vmap`` (the table below, run like tests/test_error_policy.py), and sizes whose arrays
would not fit in memory are refused before anything is allocated, with a ValueError naming the size
argument and the memory needed."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from test_error_policy import table_tests

from fpjax._src import checks
from fpjax.theory import lfp

MIB = 2**20
K2 = jnp.array([[2.0, 0.5], [0.5, 2.0]])
Y2 = jnp.array([1.0, -1.0])
X2 = jnp.array([0.2, 0.6])
G4 = lfp.gamma2_on_grid(lambda xi: 1.0 / xi[:, 0] ** 4, 1, k_max=4)
MOM = lfp.InitMoments(r2=1.0, w2=1.0, r2w2=0.5)

# name -> (function of one scalar argument, a bad value, a good value, the message's key phrase)
CASES = {
    "residual_flow-t-negative": (lambda t: lfp.residual_flow(K2, Y2, t).residual, -1.0, 0.5, "t must hold"),
    "residual_flow-t-nan": (lambda t: lfp.residual_flow(K2, Y2, t).residual, jnp.nan, 0.5, "all >= 0"),
    "evolve-t-negative": (lambda t: lfp.evolve(X2, Y2, G4, t).residual, -1.0, 2.0, "t must hold"),
    "gamma2-moment-negative": (
        lambda w2: lfp.gamma2(0.5, {"r2": 1.0, "w2": w2, "r2w2": 0.5}, 1),
        -1.0,
        1.0,
        r"moments\['w2'\] must be >= 0",
    ),
    "gamma2-moments-zero": (
        lambda r2: lfp.gamma2(0.5, {"r2": r2, "w2": 0.0, "r2w2": 0.0}, 1),
        0.0,
        1.0,
        r"moments\['r2'\] \+ moments\['w2'\] must be > 0",
    ),
    "gamma2_on_grid-negative": (lambda a: lfp.gamma2_on_grid(jnp.array([a, 0.0, a]), 1), -1.0, 2.0, "must be >= 0"),
    "gamma2_on_grid-odd": (lambda a: lfp.gamma2_on_grid(jnp.array([a, 0.0, 1.0]), 1), 2.0, 1.0, "must be even"),
    "gamma2_on_grid-inf": (lambda a: lfp.gamma2_on_grid(jnp.array([a, 0.0, a]), 1), jnp.inf, 1.0, "must be finite"),
    "relu_ntk_1d-x-outside": (
        lambda x: lfp.relu_ntk_1d(jnp.stack([x, jnp.zeros_like(x)]), jnp.array([0.0]), MOM, 1.0),
        2.0,
        0.5,
        r"\|x\| <= l_half_width",
    ),
}


test_bad_value_fails_the_same_way_eager_jit_vmap, test_good_value_gives_one_result_eager_jit_vmap = table_tests(CASES)


@pytest.fixture
def one_mib(monkeypatch):
    """A host with 1 MiB available: check_memory allows half of it."""
    monkeypatch.setattr(checks, "available_memory", lambda: MIB)


def _never_called(x):
    raise AssertionError("fn was sampled although the grid was too large")


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: lfp.frequency_grid(10**6, 3), "k_max"),
        (lambda: lfp.gamma2_on_grid(_never_called, 3, k_max=10**6), "k_max"),
        (lambda: lfp.coefficients_from_function(_never_called, 10**6, 2), "k_max"),
        (lambda: lfp.coefficients_from_function(_never_called, 1, 3, n_grid=10**7), "n_grid"),
        (lambda: lfp.kernel_matrix(jnp.zeros(3), jnp.zeros(2), _never_called, k_max=10**12), "k_max"),
        (lambda: lfp.evolve(jnp.array([0.1, 0.5]), jnp.ones(2), _never_called, 1.0, k_max=10**12), "k_max"),
    ],
)
def test_huge_sizes_are_refused_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name} too large: .* needs [0-9.e+]+ GiB"):
        call()


def test_the_limit_follows_the_available_memory(one_mib):
    # (2*300+1)^2 = 361201 frequency vectors of 2 int64 entries: about 17 MiB with the copies
    with pytest.raises(ValueError, match=r"^k_max too large: the 601\^2 frequency cube"):
        lfp.frequency_grid(300, 2)
    # 1000 samples in 1-D fit easily in 0.5 MiB: the check does not refuse small grids
    assert lfp.frequency_grid(10, 1).shape == (21, 1)
    with pytest.raises(ValueError, match=r"^n_grid too large: sampling fn on 1000\^2 grid points"):
        lfp.coefficients_from_function(_never_called, 2, 2, n_grid=1000)
    c = lfp.coefficients_from_function(lambda x: jnp.cos(2 * jnp.pi * x[:, 0]), 2, 1, n_grid=1000)
    np.testing.assert_allclose(np.abs(np.asarray(c)), [0, 0.5, 0, 0.5, 0], atol=1e-6)


def test_evaluate_series_refuses_features_beyond_memory(one_mib):
    coeffs = jnp.zeros((2 * 2000 + 1,), jnp.complex64)  # 4001 frequencies x 100 points x 3 arrays
    with pytest.raises(ValueError, match=r"^coeffs too large: the features of 100 points"):
        lfp.evaluate_series(coeffs, jnp.linspace(0.0, 1.0, 100))


@pytest.mark.parametrize("period", [0.0, -1.0, float("nan"), "1"])
def test_gamma2_on_grid_checks_period_for_array_gamma2(period):
    from fpjax.theory import lfp

    with pytest.raises((ValueError, TypeError), match="period"):
        lfp.gamma2_on_grid(jnp.ones(5), 1, period=period)
