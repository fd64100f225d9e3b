"""Sizes whose arrays would not fit in memory are refused before anything is allocated, with a
ValueError naming the size argument and the memory needed (fpjax.theory.lfp)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from fpjax._src import checks
from fpjax.theory import lfp

MIB = 2**20


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
