"""Property-based tests (hypothesis) for the sphere, landscape directions and the testing helpers.

* sphere: the Funk–Hecke eigenvalues of a dot-product kernel reproduce its Gram matrix on a
  quadrature rule, ``K(x_i, x_j) = Σ_ℓ N(d, ℓ) μ_ℓ P_ℓ(x_i·x_j)`` (the Mercer expansion, exact for
  a polynomial kernel); the addition theorem ``Σ_m Y_ℓm(x) Y_ℓm(y) = (2ℓ+1) P_ℓ(x·y)`` at random
  points; cosines beyond ``[−1, 1]`` are refused whatever their size;
* landscape: filter-normalised directions have, filter by filter, the norm of the parameters;
* testing helpers: a NaN anywhere in the errors never passes.

Tolerances: every quantity here is a float64 sum of at most a few hundred terms of size ≤ the
largest term, so rounding is below ``100·ε·Σ|terms|`` ≈ 1e-13 relative; 1e-10 leaves a wide margin.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fpjax.landscape as fland
import fpjax.sphere as S
import fpjax.testing as ftesting

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True, database=None)


def _unit(rng, n, d):
    g = rng.normal(size=(n, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


@SETTINGS
@given(
    st.integers(2, 5),
    st.lists(st.floats(0.0, 2.0, allow_nan=False), min_size=4, max_size=4),
    st.integers(0, 2**31 - 1),
)
def test_funk_hecke_reproduces_the_gram_matrix(d, coef, seed):
    # a polynomial dot-product kernel k(u) = Σ_j c_j u^j of degree 3: its Mercer series ends at ℓ = 3
    k = lambda u: sum(c * np.asarray(u) ** j for j, c in enumerate(coef))  # noqa: E731
    mu = S.funk_hecke(k, d, 3, quadrature="jacobi").eigenvalues  # exact for degree < 2·n_quad − 3
    x = _unit(np.random.default_rng(seed), 7, d)
    cos = np.clip(x @ x.T, -1.0, 1.0)
    gram = k(cos)
    series = np.tensordot(S.multiplicity(d, np.arange(4)) * mu, S.legendre(d, 3, cos), axes=1)
    np.testing.assert_allclose(series, gram, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(gram).max()))


@SETTINGS
@given(st.integers(0, 12), st.integers(0, 2**31 - 1))
def test_addition_theorem_at_random_points(ell, seed):
    x = _unit(np.random.default_rng(seed), 5, 3)
    y = S.real_sph_harm(ell, x)
    ref = (2 * ell + 1) * S.legendre(3, ell, np.clip(x @ x.T, -1, 1))[ell]
    np.testing.assert_allclose(y @ y.T, ref, atol=1e-10 * (2 * ell + 1))


@SETTINGS
@given(st.floats(1.0 + 1e-4, 1e6, allow_nan=False), st.sampled_from([1.0, -1.0]))
def test_cosines_outside_the_interval_are_refused(mag, sign):
    for fn in (lambda c: S.arccos_kernel(c, 0), lambda c: S.arccos_kernel(c, 1), S.relu_ntk):
        with pytest.raises(ValueError, match=r"\bcos\b"):
            fn(np.array([0.0, sign * mag]))
    with pytest.raises(ValueError, match=r"\bcos\b"):
        S.legendre(3, 2, sign * mag)


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.floats(0.1, 10.0))
def test_filter_normalised_directions_match_the_filter_norms(seed, scale):
    key_p, key_d = jax.random.split(jax.random.key(seed))
    params = {
        "w": scale * jax.random.normal(key_p, (3, 4)),
        "conv": jax.random.normal(key_p, (2, 2, 3, 5)),
        "b": jnp.ones(4),
    }
    d = fland.random_direction(params, key=key_d, normalization="filter")
    for name in ("w", "conv"):  # filters: the last axis
        np.testing.assert_allclose(
            jnp.linalg.norm(d[name].reshape(-1, d[name].shape[-1]), axis=0),
            jnp.linalg.norm(params[name].reshape(-1, params[name].shape[-1]), axis=0),
            rtol=1e-5,  # float32 norms of ≤ 12 terms
        )
    np.testing.assert_array_equal(d["b"], jnp.zeros(4))  # biases: no direction (Li et al. 2018)
    layer = fland.random_direction(params, key=key_d, normalization="layer")
    np.testing.assert_allclose(jnp.linalg.norm(layer["w"]), jnp.linalg.norm(params["w"]), rtol=1e-5)


@SETTINGS
@given(st.integers(0, 4), st.integers(0, 2), st.sampled_from([True, False]))
def test_a_nan_anywhere_never_passes_frequency_order(t, k, reversed_order):
    err = np.exp(-np.arange(5.0)[:, None] * np.array([2.0, 1.0, 0.5]))
    if reversed_order:
        err = err[:, ::-1].copy()
    err[t, k] = np.nan
    with pytest.raises((AssertionError, ValueError)):
        ftesting.assert_frequency_order(err, [1.0, 2.0, 3.0], threshold=0.3)


@SETTINGS
@given(st.integers(0, 3), st.integers(0, 1))
def test_a_nan_anywhere_never_passes_seed_mean(s, k):
    v = np.ones((4, 2)) + 0.01 * np.arange(4)[:, None]
    v[s, k] = np.nan
    with pytest.raises((AssertionError, ValueError)):
        ftesting.assert_seed_mean(v, 1.0, atol=1.0)
