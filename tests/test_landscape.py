"""fpjax.landscape: slices equal the loss computed directly, filter normalisation, Hessian directions, PCA."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from fpjax import hessian as fh
from fpjax import landscape as ls
from fpjax import models, train


@pytest.fixture(scope="module")
def problem():
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(0)
        x = jax.random.normal(key, (16, 2), jnp.float64)
        y = jnp.sin(2 * x[:, :1])
        model = models.mlp((6, 1), "tanh")
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), model.init(key, x))
        yield model, params, x, y


def test_slices_equal_direct_loss(problem):
    model, params, x, y = problem
    with jax.enable_x64(True):
        loss = fh.model_loss(model.apply, x, y, num_batches=2)
        d1 = ls.random_direction(params, key=jax.random.PRNGKey(1))
        d2 = ls.random_direction(params, key=jax.random.PRNGKey(2))
        alphas = jnp.array([-1.0, -0.3, 0.0, 0.5, 2.0])
        s1 = ls.slice_1d(loss, params, d1, alphas=alphas, batch_size=2)  # 3 chunks, one padded

        def direct(a, b=0.0):
            p = jax.tree_util.tree_map(lambda t, u, v: t + a * u + b * v, params, d1, d2)
            return float(train.mse(model.apply(p, x), y))

        # float64: the same sums, the batched loss averages two half-batch means (rounding ~1e-16)
        np.testing.assert_allclose(np.asarray(s1.losses), [direct(float(a)) for a in alphas], rtol=1e-13)
        betas = jnp.array([-0.5, 0.25])
        s2 = ls.slice_2d(
            lambda p: train.mse(model.apply(p, x), y), params, d1, d2, alphas=alphas, betas=betas, batch_size=4
        )
        assert s2.losses.shape == (5, 2)
        ref = [[direct(float(a), float(b)) for b in betas] for a in alphas]
        np.testing.assert_allclose(np.asarray(s2.losses), ref, rtol=1e-13)


def test_filter_normalisation_and_determinism(problem):
    _, params, _, _ = problem
    d = ls.random_direction(params, key=jax.random.PRNGKey(3))
    for dl, pl in zip(d["layers"], params["layers"]):
        # each filter (output unit: a column of w) has the norm of the parameters' filter
        np.testing.assert_allclose(
            np.linalg.norm(np.asarray(dl["w"]), axis=0), np.linalg.norm(np.asarray(pl["w"]), axis=0), rtol=1e-12
        )
        assert np.all(np.asarray(dl["b"]) == 0)  # biases ignored, as in Li et al.
    d_again = ls.random_direction(params, key=jax.random.PRNGKey(3))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(d), jax.tree_util.tree_leaves(d_again)))
    d_layer = ls.random_direction(params, key=jax.random.PRNGKey(3), normalization="layer", ignore_bias=False)
    for dl, pl in zip(d_layer["layers"], params["layers"]):
        for k in ("w", "b"):
            np.testing.assert_allclose(np.linalg.norm(dl[k]), np.linalg.norm(pl[k]), rtol=1e-12)


def test_eigen_direction_curvature(problem):
    model, params, x, y = problem
    with jax.enable_x64(True):

        def loss(p):
            return train.mse(model.apply(p, x), y)

        p_ = fh.num_params(params)
        e = ls.eigen_directions(loss, params, key=jax.random.PRNGKey(0), num_iters=p_)
        ev = np.linalg.eigvalsh(np.asarray(fh.dense_hessian(loss, params)))
        np.testing.assert_allclose(np.asarray(e.values), ev[::-1][:2], rtol=1e-9)
        assert abs(float(jnp.linalg.norm(ravel_pytree(e.d1)[0])) - 1) < 1e-12
        # second difference of the slice along d1: d²/dα² L(θ + α d1) = d1ᵀ H d1 = λ₁ (+ O(h²))
        h = 1e-3
        s = ls.slice_1d(loss, params, e.d1, alphas=jnp.array([-h, 0.0, h]))
        curv = (float(s.losses[0]) - 2 * float(s.losses[1]) + float(s.losses[2])) / h**2
        np.testing.assert_allclose(curv, ev[-1], rtol=1e-4)


def test_trajectory_pca_recovers_a_plane():
    rng = np.random.default_rng(0)
    u, v = np.linalg.qr(rng.normal(size=(7, 2)))[0].T
    t = np.linspace(0, 1, 9)
    traj = {
        "a": jnp.asarray(np.outer(3 * (1 - t), u[:4]) + np.outer(np.sin(4 * t), v[:4])),
        "b": jnp.asarray(np.outer(3 * (1 - t), u[4:]) + np.outer(np.sin(4 * t), v[4:])),
    }
    r = ls.trajectory_pca(traj)
    d = np.stack(
        [
            np.concatenate([np.asarray(r.d1["a"]), np.asarray(r.d1["b"])]),
            np.concatenate([np.asarray(r.d2["a"]), np.asarray(r.d2["b"])]),
        ]
    )
    # the trajectory lies in span(u, v): the two principal directions span the same plane
    proj = d @ np.stack([u, v]).T
    np.testing.assert_allclose(np.abs(np.linalg.det(proj)), 1.0, atol=1e-10)
    np.testing.assert_allclose(float(np.sum(r.explained_variance_ratio)), 1.0, atol=1e-10)
    assert r.coords.shape == (9, 2) and np.allclose(np.asarray(r.coords[-1]), 0)


def test_plots_and_errors(problem):
    import matplotlib

    matplotlib.use("Agg")
    _, params, _, _ = problem
    loss = lambda p: jnp.sum(ravel_pytree(p)[0] ** 2)
    d1 = ls.random_direction(params, key=jax.random.PRNGKey(1))
    d2 = ls.random_direction(params, key=jax.random.PRNGKey(2))
    s2 = ls.slice_2d(loss, params, d1, d2, alphas=jnp.linspace(-1, 1, 5), betas=jnp.linspace(-1, 1, 4))
    assert len(ls.plot_landscape_contour(s2, trajectory=np.zeros((3, 2))).axes) == 2
    ls.plot_landscape_surface(s2)
    ls.plot_landscape_1d(ls.slice_1d(loss, params, d1, alphas=jnp.linspace(-1, 1, 5)))
    with pytest.raises(ValueError, match="direction"):
        ls.slice_1d(loss, params, params["layers"])
    with pytest.raises(TypeError, match="key"):
        ls.random_direction(params, key=3)
    with pytest.raises(ValueError, match="normalization"):
        ls.random_direction(params, key=jax.random.PRNGKey(0), normalization="unit")
