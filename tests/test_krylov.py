"""Property tests (hypothesis) of the Krylov core, ``fpjax._src.krylov``, used by ``fpjax.hessian`` and
``fpjax.ntk``: Lanczos, Ritz pairs and residuals, Hutchinson, SLQ.

Float64 (``@pytest.mark.x64``, ε = 2.2e-16). Operators are random symmetric ``n × n`` matrices
``A = Q diag(λ) Qᵀ`` with known spectrum. Tolerances from the rounding analysis of Lanczos with full
reorthogonalisation (Parlett 1998, §13): the computed ``V`` is orthonormal and ``A Vᵀ = Vᵀ T + β_m
v_{m+1} e_mᵀ`` holds to ``O(m ε ‖A‖)``, so

* Ritz values are eigenvalues of a compression ``V A Vᵀ`` perturbed by ``O(m ε ‖A‖)``: Cauchy's
  interlacing ``λ_i ≤ θ_i ≤ λ_{n−m+i}`` (ascending) holds up to ``TOL = 100 n ε ‖A‖``;
* the recurrence residual ``β_m |s_{m,i}|`` equals ``‖A yᵢ − θᵢ yᵢ‖`` up to the same ``TOL``;
* with ``m = n`` every Ritz value is an eigenvalue, again to ``TOL`` (the existing NTK/Hessian tests
  compare against dense ``eigh`` to 1e-6 absolute in float64 and 1e-5 relative in float32).

Shapes are fixed per test and the operator is an argument of a module-level jitted function, so a
test compiles once per number of steps, not once per example; hypothesis draws spectra and seeds
(and the number of steps from a few values that include the edge cases). Few examples,
derandomized, no deadline.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpjax._src import krylov
from fpjax.hessian import lanczos_tridiag
from fpjax.ntk import lanczos_eigh

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True, database=None)
pytestmark = pytest.mark.x64
EPS = np.finfo(np.float64).eps
N = 24

seeds = st.integers(min_value=0, max_value=2**31 - 1)
spectra = st.lists(st.floats(-10.0, 10.0, allow_nan=False), min_size=N, max_size=N)


def _operator(eigs, seed, rank=None):
    """``A = Q diag(λ) Qᵀ`` with a Haar-random ``Q``; ``rank`` zeroes all but the first eigenvalues."""
    lam = np.asarray(eigs, np.float64)
    if rank is not None:
        lam[rank:] = 0.0
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(N, N)))
    a = (q * lam) @ q.T
    return 0.5 * (a + a.T), np.sort(lam)


def _tol(a):
    return 100 * N * EPS * max(np.abs(np.linalg.eigvalsh(a)).max(), 1.0)


# The matrix is traced, the closure over it is rebuilt inside each trace: one program per static m.
@partial(jax.jit, static_argnums=2)
def _lanczos_tridiag(a, v0, m):
    return lanczos_tridiag(lambda v: a @ v, v0, m)


@partial(jax.jit, static_argnums=(2, 3))
def _lanczos_eigh(a, key, k, m):
    return lanczos_eigh(lambda v: a @ v, N, k, key=key, num_iters=m, dtype=jnp.float64)


@partial(jax.jit, static_argnums=(2, 3, 4))
def _slq(a, key, num_probes, m, batch_size):
    return krylov.slq_tree(lambda v: a @ v, jnp.zeros(N), key, num_probes, m, batch_size)


@jax.jit
def _hutchinson_diagonal(d, key):
    return krylov.hutchinson(lambda z: z @ (d * z), N, jnp.float64, key, 6, 3)


STEPS = st.sampled_from([1, 2, 5, 13, N - 1, N])  # the number of Lanczos steps m (static: one compile each)


@SETTINGS
@given(spectra, seeds, STEPS)
def test_ritz_values_interlace_the_spectrum(eigs, seed, m):
    a, lam = _operator(eigs, seed)
    r = _lanczos_tridiag(jnp.asarray(a), jnp.asarray(np.random.default_rng(seed + 1).normal(size=N)), m)
    theta = np.linalg.eigvalsh(np.asarray(krylov.tridiag(r.alphas, r.betas)))
    tol = _tol(a)
    # Cauchy interlacing for the compression V A Vᵀ (m × m): λ_i ≤ θ_i ≤ λ_{n−m+i}
    assert np.all(theta >= lam[:m] - tol), (theta, lam)
    assert np.all(theta <= lam[N - m :] + tol), (theta, lam)


@SETTINGS
@given(spectra, seeds, STEPS.filter(lambda m: m >= 2))
def test_ritz_values_of_consecutive_steps_interlace(eigs, seed, m):
    a, _ = _operator(eigs, seed)
    r = _lanczos_tridiag(jnp.asarray(a), jnp.ones(N), m)
    # T_{m−1} is the leading principal submatrix of T_m
    big = np.linalg.eigvalsh(np.asarray(krylov.tridiag(r.alphas, r.betas)))
    small = np.linalg.eigvalsh(np.asarray(krylov.tridiag(r.alphas[:-1], r.betas[:-1])))
    tol = _tol(a)
    assert np.all(small >= big[:-1] - tol) and np.all(small <= big[1:] + tol)


@SETTINGS
@given(spectra, seeds, STEPS.filter(lambda m: m >= 3), st.sampled_from([None, 3, 7]))
def test_residuals_are_the_norms_of_a_y_minus_theta_y(eigs, seed, m, rank):
    a, lam = _operator(eigs, seed, rank)
    k = 3
    r = _lanczos_eigh(jnp.asarray(a), jax.random.key(seed % 1000), k, m)
    y = np.asarray(r.vectors)  # (k, N)
    theta = np.asarray(r.values)
    explicit = np.linalg.norm(y @ a - theta[:, None] * y, axis=1)
    tol = _tol(a)
    np.testing.assert_allclose(np.asarray(r.residuals), explicit, rtol=0, atol=tol)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-12)
    # the residual bounds the distance to the spectrum (Parlett 1998, Thm 4.5.1)
    dist = np.min(np.abs(theta[:, None] - lam[None]), axis=1)
    assert np.all(dist <= explicit + tol)


@SETTINGS
@given(spectra, seeds, st.sampled_from([None, 2, 5]))
def test_full_lanczos_top_k_equals_dense_eigh(eigs, seed, rank):
    a, lam = _operator(eigs, seed, rank)
    k = 6
    r = _lanczos_eigh(jnp.asarray(a), jax.random.key(seed % 1000), k, N)
    # the precision of the existing dense-eigh comparisons in float64 (1e-6 absolute) and better
    np.testing.assert_allclose(np.asarray(r.values), lam[::-1][:k], rtol=0, atol=min(1e-6, _tol(a)))
    y = np.asarray(r.vectors)
    np.testing.assert_allclose(y @ y.T, np.eye(k), atol=1e-10)


@SETTINGS
@given(st.lists(st.floats(-5.0, 5.0, allow_nan=False), min_size=N, max_size=N), seeds)
def test_hutchinson_is_exact_on_diagonal_operators(diag, seed):
    # zᵀ D z = Σ d_i z_i² = tr D for every Rademacher z: every sample is the trace, the error is 0
    est, se = _hutchinson_diagonal(jnp.asarray(diag), jax.random.key(seed % 1000))
    scale = float(np.abs(diag).sum()) + 1.0
    assert abs(float(est) - float(np.sum(diag))) <= 10 * N * EPS * scale
    assert float(se) <= 10 * N * EPS * scale


@SETTINGS
@given(spectra, seeds)
def test_slq_weights_sum_to_one_and_nodes_lie_in_the_spectrum(eigs, seed):
    a, lam = _operator(eigs, seed)
    q = _slq(jnp.asarray(a), jax.random.key(seed % 1000), 4, 10, 2)
    w = np.asarray(q.weights)
    tol = _tol(a)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(w >= -1e-15)
    nodes = np.asarray(q.nodes)
    assert np.all(nodes >= lam[0] - tol) and np.all(nodes <= lam[-1] + tol)
    # with m = n the quadrature is exact for polynomials: Σ τ_j θ_j = vᵀAv/‖v‖² for the probe v
    full = _slq(jnp.asarray(a), jax.random.key(seed % 1000), 1, N, 1)
    v = np.asarray(krylov.rademacher(jax.random.fold_in(jax.random.key(seed % 1000), 0), N, jnp.float64))
    np.testing.assert_allclose(
        float(np.sum(np.asarray(full.weights) * np.asarray(full.nodes))), v @ a @ v / N, atol=tol
    )


def test_rademacher_signs_are_fair_and_independent_of_the_batch():
    z = np.asarray(krylov.rademacher(jax.random.key(0), 100_000, jnp.float32))
    assert set(np.unique(z)) == {-1.0, 1.0}
    # mean of 1e5 fair signs: sd 1/√1e5 ≈ 0.0032; 5 sd
    assert abs(z.mean()) < 5 / np.sqrt(z.size)
    qf = lambda v: jnp.sum(v[:3])  # noqa: E731
    a = krylov.hutchinson(qf, 40, jnp.float32, jax.random.key(1), 7, 7).estimate
    b = krylov.hutchinson(qf, 40, jnp.float32, jax.random.key(1), 7, 2).estimate
    assert float(a) == float(b)


def test_deprecated_spellings_warn_and_give_the_same_result():
    a = jnp.diag(jnp.arange(1.0, 11.0))
    new = lanczos_eigh(lambda v: a @ v, 10, 2, key=jax.random.key(0), num_iters=10)
    with pytest.warns(DeprecationWarning, match="n_iter"):
        old = lanczos_eigh(lambda v: a @ v, 10, 2, key=jax.random.key(0), n_iter=10)
    np.testing.assert_array_equal(np.asarray(old.values), np.asarray(new.values))
    with pytest.warns(DeprecationWarning, match="eigenvectors"):
        cols = old.eigenvectors
    np.testing.assert_array_equal(np.asarray(cols), np.asarray(new.vectors).T)
    with pytest.warns(DeprecationWarning, match="eigenvalues"):
        np.testing.assert_array_equal(np.asarray(old.eigenvalues), np.asarray(new.values))
    with pytest.raises(TypeError, match="both .num_iters. and its deprecated spelling"):
        lanczos_eigh(lambda v: a @ v, 10, 2, key=jax.random.key(0), num_iters=10, n_iter=10)
    with pytest.raises(TypeError, match="unexpected keyword"):
        lanczos_eigh(lambda v: a @ v, 10, 2, key=jax.random.key(0), n_iters=10)
