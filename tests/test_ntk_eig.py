"""Matrix-free NTK eigenpairs (fpjax.ntk: ntk_matvec, lanczos_eigh, ntk_eigh, frobenius_norm,
ntk_record) against the dense empirical NTK and numpy's eigh."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg

from fpjax.models import mlp
from fpjax.ntk import (
    empirical_ntk,
    frobenius_norm,
    lanczos_eigh,
    ntk_eigh,
    ntk_matvec,
    ntk_record,
)
from fpjax.train import fit


@pytest.fixture(scope="module")
def setup():
    model = mlp((48, 48, 1), "tanh", init="standard", sigma_b=0.2)
    x = jax.random.normal(jax.random.key(0), (90, 3))
    params = model.init(jax.random.key(1), x)
    kd = np.asarray(empirical_ntk(model, params, x), np.float64)
    w, v = np.linalg.eigh(kd)
    return model, x, params, kd, w[::-1], v[:, ::-1]


@pytest.mark.parametrize("batch_size", [None, 32])
def test_matvec_equals_dense_kernel(setup, batch_size):
    model, x, params, kd, _, _ = setup
    v = jax.random.normal(jax.random.key(2), (x.shape[0],))
    kv = ntk_matvec(model, params, x, batch_size=batch_size)(v)
    ref = kd @ np.asarray(v, np.float64)
    np.testing.assert_allclose(kv, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


@pytest.mark.slow
def test_matvec_multi_output():
    model = mlp((16, 2), "tanh", init="standard")
    x = jax.random.normal(jax.random.key(0), (7, 2))
    p = model.init(jax.random.key(1), x)
    full = np.asarray(empirical_ntk(model, p, x, trace_axes=()), np.float64)  # (n, n, c, c)
    kd = full.transpose(0, 2, 1, 3).reshape(14, 14)  # index i·c + a
    v = jax.random.normal(jax.random.key(2), (14,))
    np.testing.assert_allclose(
        ntk_matvec(model, p, x, batch_size=3)(v), kd @ np.asarray(v, np.float64), atol=1e-5 * np.abs(kd).max()
    )


def test_eigenpairs_equal_dense_eigh(setup):
    model, x, params, _, w, v = setup
    k = 6
    r = ntk_eigh(model, params, x, k, key=jax.random.key(3), num_iters=40, batch_size=45)
    # float32 products: relative accuracy ~1e-6 of λ_max for every Ritz value
    np.testing.assert_allclose(r.values, w[:k], rtol=1e-5)
    assert np.all(np.asarray(r.residuals) < 1e-4 * w[0])
    vec = np.asarray(r.vectors, np.float64).T
    np.testing.assert_allclose(vec.T @ vec, np.eye(k), atol=1e-5)
    # subspace angles of each well-separated leading block: sin∠ ≲ ‖residual‖ / gap (Davis–Kahan)
    for j in range(1, k + 1):
        gap = w[j - 1] - w[j]
        if gap < 1e-3 * w[0]:
            continue
        ang = scipy.linalg.subspace_angles(vec[:, :j], v[:, :j]).max()
        assert np.sin(ang) < 1e-3 * w[0] / gap + 1e-4, (j, ang)


def test_lanczos_restarts_on_rank_deficient_operator():
    n = 40
    a = np.zeros((n, n))
    a[:5, :5] = np.diag([5.0, 4.0, 3.0, 2.0, 1.0])
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(n, n)))
    a = q @ a @ q.T
    aj = jnp.asarray(a, jnp.float32)
    r = lanczos_eigh(lambda v: aj @ v, n, 8, key=jax.random.key(0), num_iters=20)
    np.testing.assert_allclose(r.values, [5, 4, 3, 2, 1, 0, 0, 0], atol=1e-5)
    vec = np.asarray(r.vectors, np.float64).T
    np.testing.assert_allclose(vec.T @ vec, np.eye(8), atol=1e-5)


@pytest.mark.slow
def test_frobenius_norm_estimate(setup):
    model, x, params, kd, w, v = setup
    mv = jax.jit(ntk_matvec(model, params, x))
    exact = np.linalg.norm(kd)
    q = jnp.asarray(v[:, :6], jnp.float32)
    ests = np.array([frobenius_norm(mv, q, key=jax.random.key(s), num_probes=4) for s in range(6)])
    # deflated Hutchinson: the top-6 part is exact; the complement carries ‖K(I−QQᵀ)‖_F² whose estimate
    # has relative sd ≤ √(2/s); its share of ‖K‖_F² bounds the error.
    tail = np.sum(w[6:] ** 2) / np.sum(w**2)
    assert np.all(np.abs(ests**2 / exact**2 - 1) < 4 * np.sqrt(2 / 4) * tail + 1e-5)
    full = jnp.asarray(v[:, :89], jnp.float32)  # rank(K) ≤ n: the whole range, exact
    np.testing.assert_allclose(frobenius_norm(mv, full, key=jax.random.key(0)), exact, rtol=1e-4)


@pytest.mark.slow
def test_record_inside_fit(setup):
    model, x, params, kd, w, v = setup
    y = jnp.sin(2 * x[:, :1])
    k = 8
    rec = ntk_record(
        model,
        x,
        y,
        k=k,
        key=jax.random.key(4),
        num_iters=40,
        num_probes=8,
        params0=params,
        eigenvectors=True,
        batch_size=30,
    )
    r = fit(model.apply, params, x, y, optimizer=optax.sgd(0.5), steps=60, record=rec, record_every=30)
    recs = r.records
    assert recs.eigenvalues.shape == (3, k) and recs.eigenvectors.shape == (3, 90, k)
    # at step 0: the dense quantities
    np.testing.assert_allclose(recs.eigenvalues[0], w[:k], rtol=1e-5)
    yv = np.asarray(y, np.float64)[:, 0]
    vk = v[:, :k]
    np.testing.assert_allclose(recs.target_fraction[0], np.sum((vk.T @ yv) ** 2) / (yv @ yv), rtol=1e-4)
    f0 = np.asarray(model.apply(params, x), np.float64)[:, 0]
    res = f0 - yv
    np.testing.assert_allclose(recs.residual_fraction[0], np.sum((vk.T @ res) ** 2) / (res @ res), rtol=1e-3)
    fro = np.linalg.norm(kd)
    tail = np.sum(w[k:] ** 2) / np.sum(w**2)
    assert abs(float(recs.frobenius[0]) ** 2 / fro**2 - 1) < 4 * np.sqrt(2 / 8) * tail + 1e-5
    align = yv @ kd @ yv / (fro * (yv @ yv))
    np.testing.assert_allclose(recs.alignment[0], align, rtol=2 * tail + 1e-4)
    assert float(recs.kernel_change[0]) < 1e-5  # same parameters: zero up to float32 round-off
    assert np.all(np.asarray(recs.kernel_change[1:]) > 0)
    assert np.all((np.asarray(recs.target_fraction) >= 0) & (np.asarray(recs.target_fraction) <= 1 + 1e-5))
    # kernel change matches the dense one at the end
    kt = np.asarray(empirical_ntk(model, r.params, x), np.float64)
    dense_change = np.linalg.norm(kt - kd) / fro
    np.testing.assert_allclose(recs.kernel_change[-1], dense_change, rtol=0.3)


def test_bad_inputs(setup):
    model, x, params, _, _, _ = setup
    with pytest.raises(ValueError, match="num_iters"):
        ntk_eigh(model, params, x, 10, key=jax.random.key(0), num_iters=5)
    with pytest.raises(ValueError, match="x must have shape"):
        ntk_matvec(model, params, jnp.ones(5))
    with pytest.raises(TypeError, match="apply must be"):
        ntk_matvec(3, params, x)
    with pytest.raises(ValueError, match="x_train"):
        ntk_record(model, x, jnp.ones((4, 1)), k=2, key=jax.random.key(0))
