"""Gauss-Newton, Fisher and per-layer curvature against dense matrices built independently (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from fpjax import hessian as fh
from fpjax import models, train


@pytest.fixture(scope="module", autouse=True)
def x64():
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


N = 6


def _setup(loss):
    c = 3 if loss == "ce" else 2
    key = jax.random.PRNGKey(0)
    kx, ky, kp = jax.random.split(key, 3)
    x = jax.random.normal(kx, (N, 2), jnp.float64)
    if loss == "mse":
        y = jax.random.normal(ky, (N, c), jnp.float64)
    elif loss == "bce":
        y = jax.random.bernoulli(ky, 0.5, (N, c)).astype(jnp.float64)
    else:
        y = jax.random.randint(ky, (N,), 0, c)
    model = models.mlp((4, c), "tanh", init="standard", sigma_w=1.5, sigma_b=0.5)
    params = model.init(kp, x)
    return model, params, x, y


def _jac(model, params, x):
    """J: (N, c, P) and the flat outputs' unravel."""
    theta, unravel = ravel_pytree(params)
    return np.asarray(jax.jacobian(lambda t: model.apply(unravel(t), x))(theta))


def _reference(loss, model, params, x, y):
    """Dense GGN, true Fisher and empirical Fisher from their definitions."""
    J = _jac(model, params, x)  # (N, c, P)
    out = model.apply(params, x)
    c = out.shape[1]
    lfn = train.LOSSES[loss]
    h_out = np.asarray(jax.hessian(lambda o: lfn(o, y))(out)).reshape(N * c, N * c)
    Jf = J.reshape(N * c, -1)
    ggn = Jf.T @ h_out @ Jf
    o = np.asarray(out)
    # true Fisher: per-sample covariance of the output score under the model, by enumerating labels
    lam = np.zeros((N, c, c))
    for i in range(N):
        if loss == "mse":  # y ~ N(f, I): E[(f − y)(f − y)ᵀ] = I; ℓ = ½‖f − y‖²
            lam[i] = np.eye(c) / N
        elif loss == "bce":  # independent Bernoulli per output, loss mean over N·c
            s = 1 / (1 + np.exp(-o[i]))
            for j in range(c):
                lam[i, j, j] = sum(pr * ((s[j] - yy) / c) ** 2 for yy, pr in ((1, s[j]), (0, 1 - s[j]))) * c / N
        else:  # categorical: Σ_k p_k (p − e_k)(p − e_k)ᵀ
            p = np.exp(o[i] - o[i].max())
            p /= p.sum()
            lam[i] = sum(p[k] * np.outer(p - np.eye(c)[k], p - np.eye(c)[k]) for k in range(c)) / N
    fisher = sum(J[i].T @ lam[i] @ J[i] for i in range(N))
    # empirical Fisher: per-sample gradients of ℓᵢ with L = (1/N) Σ ℓᵢ
    theta, unravel = ravel_pytree(params)

    def per_sample(t, i):
        return N * lfn(model.apply(unravel(t), x[i : i + 1]), y[i : i + 1]) / N

    G = np.stack([np.asarray(jax.grad(per_sample)(theta, i)) for i in range(N)])
    emp = G.T @ G / N
    return ggn, fisher, emp


@pytest.mark.parametrize(
    "loss", ["mse", pytest.param("bce", marks=pytest.mark.slow), pytest.param("ce", marks=pytest.mark.slow)]
)
def test_dense_ggn_fisher_empirical_fisher(loss):
    model, params, x, y = _setup(loss)
    ggn, fisher, emp = _reference(loss, model, params, x, y)
    L = fh.model_loss(model.apply, x, y, loss=loss)
    L2 = fh.model_loss(model.apply, x, y, loss=loss, num_batches=2)
    scale = np.abs(ggn).max()
    # float64 sums in a different order: rounding ~1e-15 relative
    for curv, ref in (("ggn", ggn), ("fisher", fisher), ("empirical_fisher", emp)):
        for lf in (L, L2):
            d = np.asarray(fh.dense_hessian(lf, params, curvature=curv))
            np.testing.assert_allclose(d, ref, rtol=0, atol=1e-12 * max(scale, np.abs(ref).max()), err_msg=curv)
    # the true Fisher of these canonical-link losses is the Gauss-Newton matrix (Martens 2020, §9.2)
    np.testing.assert_allclose(fisher, ggn, rtol=0, atol=1e-12 * scale)
    assert np.linalg.eigvalsh(ggn).min() > -1e-12 * scale  # G ⪰ 0
    # products and quadratic-form estimators agree with the dense matrix
    theta, unravel = ravel_pytree(params)
    v = jax.random.normal(jax.random.PRNGKey(5), theta.shape, theta.dtype)
    for fn, ref in ((fh.ggn_vp, ggn), (lambda *a: fh.fisher_vp(*a, empirical=True), emp)):
        out = ravel_pytree(fn(L2, params, unravel(v)))[0]
        np.testing.assert_allclose(np.asarray(out), ref @ np.asarray(v), rtol=0, atol=1e-11 * np.abs(ref).max())
    p_ = theta.size
    ev = np.linalg.eigvalsh(ggn)
    top = fh.top_eigenvalues(L, params, key=jax.random.PRNGKey(1), k=2, num_iters=p_, curvature="ggn")
    np.testing.assert_allclose(np.asarray(top), ev[::-1][:2], atol=1e-8 * ev.max())
    tr = fh.hutchinson_trace(
        L, params, key=jax.random.PRNGKey(2), num_probes=50, curvature="empirical_fisher", deflate=p_
    )
    # deflating the whole space leaves tr = Σ α exactly
    np.testing.assert_allclose(float(tr.estimate), np.trace(emp), rtol=1e-9)


def test_ggn_equals_hessian_at_zero_residual():
    # with mse and targets equal to the network's outputs, ∂L/∂f = 0, so H = Jᵀ H_out J exactly
    model, params, x, _ = _setup("mse")
    y = model.apply(params, x)
    L = fh.model_loss(model.apply, x, y)
    h = np.asarray(fh.dense_hessian(L, params))
    g = np.asarray(fh.dense_hessian(L, params, curvature="ggn"))
    np.testing.assert_allclose(h, g, rtol=0, atol=1e-12 * np.abs(h).max())


@pytest.mark.slow
def test_layer_curvature_blocks_match_dense():
    model, params, x, y = _setup("ce")
    L = fh.model_loss(model.apply, x, y, loss="ce")
    groups = fh.layer_groups(params)
    assert [g[0] for g in groups] == ["['layers'][0]", "['layers'][1]"]
    sizes = [4 * 2 + 4, 4 * 3 + 3]
    offs = np.cumsum([0] + sizes)
    for curv in ("hessian", "ggn"):
        full = np.asarray(fh.dense_hessian(L, params, curvature=curv))
        r = fh.layer_curvature(
            L, params, key=jax.random.PRNGKey(3), curvature=curv, num_probes=4, num_iters=max(sizes), density_probes=1
        )
        assert list(r.num_params) == sizes and r.nodes.shape == (2, 2, max(sizes))
        for i in range(2):
            blk = full[offs[i] : offs[i + 1], offs[i] : offs[i + 1]]
            ev = np.linalg.eigvalsh(blk)
            # num_iters >= P_ℓ: Lanczos spans the block, the deflated trace is Σα exactly
            np.testing.assert_allclose(float(r.trace[i]), np.trace(blk), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(float(r.top_eigenvalue[i]), ev[-1], rtol=1e-8, atol=1e-10)
            # the quadrature sample reproduces the block's spectrum: Σ τ θ = vᵀ C v, Σ τ = 1
            w = np.asarray(r.weights[i])
            np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-10)
        # the blocks' traces add up to the whole matrix's trace
        np.testing.assert_allclose(float(np.sum(r.trace)), np.trace(full), rtol=1e-9)
    assert "layer" in r.table()
    import matplotlib

    matplotlib.use("Agg")
    assert len(r.plot().axes) == 2


def test_curvature_recorder_exact_and_inside_fit():
    import optax

    model, params, x, y = _setup("mse")
    L = fh.model_loss(model.apply, x, y)
    p_ = fh.num_params(params)
    rec = fh.curvature_recorder(L, key=jax.random.PRNGKey(0), num_iters=p_, num_probes=3)
    r = jax.jit(rec)(params)
    ev = np.linalg.eigvalsh(np.asarray(fh.dense_hessian(L, params)))
    np.testing.assert_allclose(float(r.top_eigenvalue), ev[-1], rtol=1e-8)
    np.testing.assert_allclose(float(r.trace), ev.sum(), rtol=1e-8)
    rec5 = fh.curvature_recorder(
        lambda q: train.mse(model.apply(q, x), y), key=jax.random.PRNGKey(0), num_iters=5, num_probes=4
    )
    res = train.fit(model.apply, params, x, y, optimizer=optax.sgd(0.1), steps=6, record=rec5, record_every=3)
    assert res.records.top_eigenvalue.shape == (3,) and res.records.trace.shape == (3,)
    # record 0 is taken at the initial parameters; 5 Lanczos steps bound λ_max from below
    assert float(res.records.top_eigenvalue[0]) <= ev[-1] * (1 + 1e-10)
    with pytest.raises(ValueError, match="num_iters"):
        jax.jit(fh.curvature_recorder(L, key=jax.random.PRNGKey(0), num_iters=p_ + 1))(params)


def test_curvature_argument_errors():
    model, params, x, y = _setup("mse")
    key = jax.random.PRNGKey(0)
    with pytest.raises(TypeError, match="model_loss"):
        fh.hutchinson_trace(lambda q: train.mse(model.apply(q, x), y), params, key=key, curvature="ggn")
    with pytest.raises(ValueError, match="curvature"):
        fh.top_eigenvalues(fh.model_loss(model.apply, x, y), params, key=key, curvature="gnn")
    custom = fh.model_loss(model.apply, x, y, loss=lambda o, t: jnp.mean((o - t) ** 4))
    with pytest.raises(ValueError, match="fisher"):
        fh.hvp(custom, params, params, curvature="fisher")
    with pytest.raises(ValueError, match="num_batches"):
        fh.model_loss(model.apply, x, y, num_batches=4)
    with pytest.raises(ValueError, match="x_train"):
        fh.model_loss(model.apply, x.at[0, 0].set(jnp.nan), y)


@pytest.mark.slow
def test_cnn_small_eval_mode_last_layer_hessian_equals_ggn():
    # CNN zoo, batch norm in evaluation mode. The logits are linear in the last Dense layer's
    # parameters, so that layer's Hessian block equals its Gauss-Newton block exactly; the same
    # probes then give the same Lanczos and Hutchinson numbers up to float32 rounding.
    from fpjax import cnn

    with jax.enable_x64(False):
        model = cnn.get_model("cnn_small", 10)
        key = jax.random.PRNGKey(0)
        x = jax.random.normal(key, (8, 32, 32, 3))
        y = jax.random.randint(key, (8,), 0, 10)
        variables = model.init(key, x)
        loss = fh.model_loss(model.eval_fn(variables), x, y, loss="ce", num_batches=2)

        def group(path):
            return "dense" if "Dense" in jax.tree_util.keystr(path) else "rest"

        r = {
            c: fh.layer_curvature(
                loss, variables["params"], key=key, curvature=c, num_probes=4, num_iters=8, group_by=group
            )
            for c in ("hessian", "ggn")
        }
        assert set(r["ggn"].names) == {"dense", "rest"}
        i = r["ggn"].names.index("dense")
        assert int(r["ggn"].num_params[i]) == 64 * 10 + 10
        # float32 products summed in a different order, 8-step recurrence: ~1e-5 relative
        np.testing.assert_allclose(float(r["hessian"].top_eigenvalue[i]), float(r["ggn"].top_eigenvalue[i]), rtol=1e-3)
        np.testing.assert_allclose(float(r["hessian"].trace[i]), float(r["ggn"].trace[i]), rtol=1e-3)
        assert np.all(np.isfinite(np.asarray(r["hessian"].trace)))
