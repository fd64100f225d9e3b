"""Tests of fpjax.hessian against the exact dense Hessian of small MLPs (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.stats import norm

from fpjax import hessian as fh
from fpjax import models


@pytest.fixture(scope="module", autouse=True)
def x64():
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


def _problem(activation="tanh", widths=(8, 8, 1), n=32, seed=0, bias_shift=0.5):
    """Tiny MLP on 2-D inputs with a non-trivial target, so H has both signs of eigenvalues."""
    key = jax.random.PRNGKey(seed)
    kx, kp = jax.random.split(key)
    x = jax.random.normal(kx, (n, 2), jnp.float64)
    y = jnp.sin(3.0 * x[:, :1]) * jnp.cos(x[:, 1:])
    model = models.mlp(widths, activation, init="standard", sigma_w=1.5, sigma_b=bias_shift)
    params = model.init(kp, x)

    def loss_on_batch(p, batch):
        xb, yb = batch
        return 0.5 * jnp.mean((model.apply(p, xb) - yb) ** 2)

    def loss(p):
        return loss_on_batch(p, (x, y))

    return model, params, x, y, loss, loss_on_batch


@pytest.fixture(scope="module")
def tanh_problem():
    _, params, x, y, loss, lob = _problem()
    hd = np.asarray(fh.dense_hessian(loss, params))
    return {"params": params, "x": x, "y": y, "loss": loss, "lob": lob, "H": hd, "ev": np.linalg.eigvalsh(hd)}


def test_dense_hessian_is_symmetric_and_matches_jax_hessian(tanh_problem):
    p = tanh_problem
    theta, unravel = ravel_pytree(p["params"])
    ref = np.asarray(jax.hessian(lambda t: p["loss"](unravel(t)))(theta))
    np.testing.assert_allclose(p["H"], ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p["H"], p["H"].T, rtol=0, atol=1e-12)
    # the column-by-HVP path gives the same matrix
    hc = np.asarray(fh.dense_hessian(p["loss"], p["params"], batch_size=7))
    np.testing.assert_allclose(hc, p["H"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(fh.dense_eigenvalues(p["loss"], p["params"])), p["ev"], atol=1e-12)


def test_hvp_equals_dense_hessian_times_v(tanh_problem):
    p = tanh_problem
    theta, unravel = ravel_pytree(p["params"])
    v = jax.random.normal(jax.random.PRNGKey(3), theta.shape, theta.dtype)
    hv = fh.hvp(p["loss"], p["params"], unravel(v))
    assert jax.tree_util.tree_structure(hv) == jax.tree_util.tree_structure(p["params"])
    # float64: both sides are the same sums in different order, error ~ eps·‖H‖·‖v‖·√P
    np.testing.assert_allclose(np.asarray(ravel_pytree(hv)[0]), p["H"] @ np.asarray(v), rtol=0, atol=1e-11)


def test_hutchinson_within_three_standard_errors(tanh_problem):
    p = tanh_problem
    exact = float(np.trace(p["H"]))
    m = 400
    est, se = fh.hutchinson_trace(p["loss"], p["params"], key=jax.random.PRNGKey(1), num_probes=m, batch_size=64)
    est, se = float(est), float(se)
    assert np.isfinite(se) and se > 0
    assert abs(est - exact) <= 3 * se, (est, exact, se)
    # The reported SE estimates sd(zᵀHz)/√m, with Var(zᵀHz) = 2(‖H‖_F² − Σ H_ii²) for Rademacher z.
    # The sample sd of m=400 draws is within a factor 2 of the true sd unless the 4th moment is
    # extreme; a missing √m or a wrong variance would be off by ≥ 20×.
    sd_true = np.sqrt(2 * (np.sum(p["H"] ** 2) - np.sum(np.diag(p["H"]) ** 2)) / m)
    assert 0.5 < se / sd_true < 2.0, (se, sd_true)
    # batching does not change the probes: same key, same estimate
    est2, se2 = fh.hutchinson_trace(p["loss"], p["params"], key=jax.random.PRNGKey(1), num_probes=m, batch_size=400)
    np.testing.assert_allclose([float(est2), float(se2)], [est, se], rtol=1e-12)


def test_deflated_hutchinson_and_summary(tanh_problem):
    p = tanh_problem
    exact = float(np.trace(p["H"]))
    n_par = p["ev"].size
    key = jax.random.PRNGKey(11)
    est, se = fh.hutchinson_trace(p["loss"], p["params"], key=key, num_probes=100, deflate=30)
    # unbiased given V (tr H = Σα + tr(PHP)); 3 SE of the remainder's estimate
    assert abs(float(est) - exact) <= 3 * float(se), (float(est), exact, float(se))
    # deflation removes the outliers: the remainder's sd is below that of plain Hutchinson
    _, se_plain = fh.hutchinson_trace(p["loss"], p["params"], key=key, num_probes=100)
    assert float(se) < float(se_plain)
    s = fh.hessian_summary(p["loss"], p["params"], key=key, num_probes=100, num_iters=n_par, k=3)
    np.testing.assert_allclose(np.asarray(s.top_eigenvalues), p["ev"][::-1][:3], atol=1e-6)
    assert abs(float(s.spectral_norm) - np.max(np.abs(p["ev"]))) < 1e-6
    # deflating the whole space leaves nothing to estimate: tr H = Σ α exactly
    assert abs(float(s.trace) - exact) < 1e-9
    # the Lanczos run is one SLQ sample: all eigenvalues, Gauss weights summing to 1
    np.testing.assert_allclose(np.asarray(s.ritz_values), p["ev"], atol=1e-6)
    assert abs(float(np.sum(s.ritz_weights)) - 1.0) < 1e-12 and np.all(np.asarray(s.ritz_weights) >= 0)
    s20 = fh.hessian_summary(p["loss"], p["params"], key=key, num_probes=100, num_iters=20)
    assert abs(float(s20.trace) - exact) <= 3 * float(s20.standard_error)
    assert s20.top_eigenvalues.shape == (1,)


def test_top5_match_eigvalsh(tanh_problem):
    p = tanh_problem
    n_par = fh.num_params(p["params"])
    top = np.asarray(fh.top_eigenvalues(p["loss"], p["params"], key=jax.random.PRNGKey(2), k=5, num_iters=n_par))
    np.testing.assert_allclose(top, p["ev"][::-1][:5], rtol=0, atol=1e-6)
    # the whole tridiagonal spectrum equals the Hessian's: full reorthogonalization leaves no ghosts
    a, b, _ = fh.lanczos(p["loss"], p["params"], key=jax.random.PRNGKey(2), num_iters=n_par)
    ritz = np.linalg.eigvalsh(np.diag(a) + np.diag(b, 1) + np.diag(b, -1))
    np.testing.assert_allclose(ritz, p["ev"], rtol=0, atol=1e-6)
    # largest magnitude (spectral norm)
    lm = fh.top_eigenvalues(p["loss"], p["params"], key=jax.random.PRNGKey(2), k=1, num_iters=n_par, which="LM")
    assert abs(abs(float(lm[0])) - np.max(np.abs(p["ev"]))) < 1e-6


def test_lanczos_few_iterations_gets_the_top_eigenvalue(tanh_problem):
    p = tanh_problem
    # 40 steps of P≈100: the extreme Ritz value has converged far below 1e-6 here, and it can never
    # exceed λ_max (Cauchy interlacing), so this checks both convergence and the sign of the error.
    top = float(fh.top_eigenvalues(p["loss"], p["params"], key=jax.random.PRNGKey(5), k=1, num_iters=40)[0])
    assert top <= p["ev"][-1] + 1e-10
    assert p["ev"][-1] - top < 1e-6


def test_lanczos_basis_is_orthonormal_and_tridiagonalizes(tanh_problem):
    p = tanh_problem
    a, b, V = fh.lanczos(p["loss"], p["params"], key=jax.random.PRNGKey(4), num_iters=30, return_vectors=True)
    V = np.asarray(V)
    np.testing.assert_allclose(V @ V.T, np.eye(30), atol=1e-12)
    T = np.diag(a) + np.diag(b, 1) + np.diag(b, -1)
    np.testing.assert_allclose(V @ p["H"] @ V.T, T, atol=1e-10)


def test_relu_breakdown_is_exact():
    # ReLU net with shifted biases: dead units give exactly zero Hessian rows, the Krylov space of one
    # start vector is smaller than P and the iteration must restart (β = 0) to stay exact.
    _, params, _, _, loss, _ = _problem("relu", bias_shift=1.0, seed=1)
    ev = np.linalg.eigvalsh(np.asarray(fh.dense_hessian(loss, params)))
    n_par = fh.num_params(params)
    assert np.sum(np.abs(ev) < 1e-12) > 5  # the premise: many exact zero eigenvalues
    a, b, _ = fh.lanczos(loss, params, key=jax.random.PRNGKey(0), num_iters=n_par)
    assert np.sum(np.asarray(b) == 0) > 0
    ritz = np.linalg.eigvalsh(np.diag(a) + np.diag(b, 1) + np.diag(b, -1))
    np.testing.assert_allclose(ritz, ev, atol=1e-6)
    top = fh.top_eigenvalues(loss, params, key=jax.random.PRNGKey(0), k=5, num_iters=n_par)
    np.testing.assert_allclose(np.asarray(top), ev[::-1][:5], atol=1e-6)


def test_density_integrates_to_one_and_matches_exact_spectrum(tanh_problem):
    p = tanh_problem
    ev = p["ev"]
    n_par = ev.size
    n_v, sigma = 50, 0.02
    grid, dens = fh.eigen_density(
        p["loss"], p["params"], key=jax.random.PRNGKey(6), num_probes=n_v, num_iters=n_par, grid=4000, sigma=sigma
    )
    grid, dens = np.asarray(grid), np.asarray(dens)
    assert np.all(dens >= 0)
    # auto grid spans all nodes ± 6σ: missing tail mass < 2e-9; trapezoid error with ~200 points per σ
    # is < 1e-6 for a sum of Gaussians.
    assert abs(np.trapezoid(dens, grid) - 1.0) < 1e-6
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    # Reference: the exactly broadened CDF F_σ(t) = (1/P) Σ_i Φ((t − λ_i)/σ). With num_iters = P the
    # quadrature is exact for each probe v = z/√P, so F̂(t) is the mean of n_v values zᵀA z/P with
    # A = Φ((t − H)/σ): Var = 2(‖A‖_F² − Σ A_ii²)/P² (Rademacher z), computed from the exact
    # eigendecomposition. Tolerance: 5 sd of the mean, plus 1e-5 for the trapezoid CDF.
    lam, U = np.linalg.eigh(p["H"])
    ts = np.quantile(ev, [0.1, 0.3, 0.5, 0.7, 0.9]) + 0.5 * sigma
    for t in ts:
        phi = norm.cdf((t - lam) / sigma)
        var = 2 * (np.sum(phi**2) - np.sum(((U**2) @ phi) ** 2)) / n_par**2
        tol_probe = 5 * np.sqrt(var / n_v)
        f_hat = np.interp(t, grid, cdf)
        f_sigma = np.mean(phi)
        assert abs(f_hat - f_sigma) <= tol_probe + 1e-5, (t, f_hat, f_sigma, tol_probe)
        # against the histogram (empirical CDF of the exact eigenvalues): broadening moves at most
        # the mass (1/P) Σ_i Φ(−|t − λ_i|/σ) across t
        f_emp = np.mean(ev <= t)
        broad = np.mean(norm.cdf(-np.abs(t - ev) / sigma))
        assert abs(f_hat - f_emp) <= tol_probe + broad + 1e-5, (t, f_hat, f_emp, broad)


def test_density_from_quadrature_on_exact_eigenvalues(tanh_problem):
    ev = tanh_problem["ev"]
    grid = np.linspace(ev.min() - 1, ev.max() + 1, 3001)
    d = np.asarray(fh.density_from_quadrature(ev[None], np.full((1, ev.size), 1 / ev.size), grid, 0.05))
    ref = np.mean(norm.pdf((grid[:, None] - ev[None]) / 0.05) / 0.05, axis=1)
    np.testing.assert_allclose(d, ref, rtol=1e-10, atol=1e-12)


def test_minibatch_average_equals_full_batch(tanh_problem):
    p = tanh_problem
    x, y = p["x"], p["y"]
    bl = fh.batched_loss(p["lob"], (x.reshape(4, 8, 2), y.reshape(4, 8, 1)))
    np.testing.assert_allclose(float(bl(p["params"])), float(p["loss"](p["params"])), rtol=1e-13)
    theta, unravel = ravel_pytree(p["params"])
    v = unravel(jax.random.normal(jax.random.PRNGKey(8), theta.shape, theta.dtype))
    h_full = ravel_pytree(fh.hvp(p["loss"], p["params"], v))[0]
    h_batch = ravel_pytree(fh.hvp(bl, p["params"], v))[0]
    # the mean of 4 equal batch means is the full mean, so the Hessians agree to rounding
    np.testing.assert_allclose(np.asarray(h_batch), np.asarray(h_full), rtol=0, atol=1e-12)
    key = jax.random.PRNGKey(9)
    np.testing.assert_allclose(
        np.asarray(fh.hutchinson_trace(bl, p["params"], key=key, num_probes=100)),
        np.asarray(fh.hutchinson_trace(p["loss"], p["params"], key=key, num_probes=100)),
        rtol=1e-10,
    )
    n_par = theta.size
    np.testing.assert_allclose(
        np.asarray(fh.top_eigenvalues(bl, p["params"], key=key, k=3, num_iters=n_par)), p["ev"][::-1][:3], atol=1e-6
    )
    # explicit equal weights give the same loss; weights are normalized
    bl2 = fh.batched_loss(p["lob"], (x.reshape(4, 8, 2), y.reshape(4, 8, 1)), weights=[3.0, 3.0, 3.0, 3.0])
    np.testing.assert_allclose(float(bl2(p["params"])), float(bl(p["params"])), rtol=1e-13)


def test_flax_batchnorm_eval_mode_minibatch_hvp():
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool):
            x = nn.Dense(6)(x)
            x = nn.BatchNorm(use_running_average=not train)(x)
            return nn.Dense(1)(nn.relu(x))

    net = Net()
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (24, 3), jnp.float64)
    y = jnp.sum(x, axis=1, keepdims=True)
    variables = net.init(key, x, train=False)
    # some non-trivial running statistics, as after training
    _, upd = net.apply(variables, 3 * x + 1, train=True, mutable=["batch_stats"])
    stats = upd["batch_stats"]

    def loss_on_batch(params, batch):
        out = net.apply({"params": params, "batch_stats": stats}, batch[0], train=False)
        return 0.5 * jnp.mean((out - batch[1]) ** 2)

    # Flax creates float32 params by default; cast for a float64 comparison
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), variables["params"])
    full = fh.batched_loss(loss_on_batch, (x[None], y[None]))
    mini = fh.batched_loss(loss_on_batch, (x.reshape(3, 8, 3), y.reshape(3, 8, 1)))
    v = jax.tree_util.tree_map(jnp.ones_like, params)
    np.testing.assert_allclose(
        np.asarray(ravel_pytree(fh.hvp(mini, params, v))[0]),
        np.asarray(ravel_pytree(fh.hvp(full, params, v))[0]),
        atol=1e-12,
    )


@pytest.mark.slow
def test_cnn_small_minibatch_hessian_equals_full_batch():
    # fpjax.cnn model with batch norm, eval mode (running statistics frozen): the minibatch-averaged
    # loss is the full-batch loss, so the same probes give the same trace and Ritz values.
    from fpjax import cnn, train

    with jax.enable_x64(False):
        model = cnn.get_model("cnn_small", 10)
        key = jax.random.PRNGKey(0)
        x = jax.random.normal(key, (16, 32, 32, 3))
        y = jax.random.randint(key, (16,), 0, 10)
        variables = model.init(key, x)
        f = model.eval_fn(variables)

        def lob(p, b):
            return train.ce(f(p, b[0]), b[1])

        mini = fh.batched_loss(lob, (x.reshape(4, 4, 32, 32, 3), y.reshape(4, 4)))
        s_mini = fh.hessian_summary(mini, variables["params"], key=key, num_probes=8, num_iters=8)
        s_full = fh.hessian_summary(lambda p: lob(p, (x, y)), variables["params"], key=key, num_probes=8, num_iters=8)
        # float32 sums in a different order: relative rounding ~1e-6 per product, amplified by the
        # 8-step recurrence; 1e-3 relative is far below any real difference between the losses
        np.testing.assert_allclose(float(s_mini.trace), float(s_full.trace), rtol=1e-3)
        np.testing.assert_allclose(
            np.asarray(s_mini.ritz_values),
            np.asarray(s_full.ritz_values),
            rtol=1e-3,
            atol=1e-3 * float(s_full.spectral_norm),
        )


def test_vmap_over_params_and_float32():
    with jax.enable_x64(False):
        model = models.mlp((8, 1), "tanh")
        x = jnp.linspace(0, 1, 16, dtype=jnp.float32)[:, None]
        y = jnp.sin(6 * x)
        keys = jax.random.split(jax.random.PRNGKey(0), 3)
        ens = jax.vmap(model.init, (0, None))(keys, x)

        def loss(p):
            return 0.5 * jnp.mean((model.apply(p, x) - y) ** 2)

        k = jax.random.PRNGKey(1)
        tr_v = jax.vmap(lambda p: fh.hutchinson_trace(loss, p, key=k, num_probes=20).estimate)(ens)
        top_v = jax.vmap(lambda p: fh.top_eigenvalues(loss, p, key=k, k=2, num_iters=20))(ens)
        assert tr_v.dtype == jnp.float32 and top_v.shape == (3, 2)
        for i in range(3):
            p_i = jax.tree_util.tree_map(lambda a, i=i: a[i], ens)
            np.testing.assert_allclose(
                float(tr_v[i]), float(fh.hutchinson_trace(loss, p_i, key=k, num_probes=20).estimate), rtol=1e-5
            )
            ev = np.linalg.eigvalsh(np.asarray(fh.dense_hessian(loss, p_i), dtype=np.float64))
            # float32 Lanczos with 20 of P=25 steps: rounding ~1e-6·‖H‖
            np.testing.assert_allclose(np.asarray(top_v[i]), ev[::-1][:2], rtol=1e-3, atol=1e-4 * abs(ev).max())


def test_plot_returns_figure(tanh_problem):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    g = np.linspace(-1, 1, 50)
    fig = fh.plot_eigen_density(g, np.exp(-(g**2)), label="x")
    assert isinstance(fig, Figure)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_bad_inputs(tanh_problem):
    p = tanh_problem
    params, key = p["params"], jax.random.PRNGKey(0)
    n_par = fh.num_params(params)
    vec_loss = lambda q: jnp.zeros(3) + p["loss"](q)
    with pytest.raises(ValueError, match="scalar"):
        fh.hutchinson_trace(vec_loss, params, key=key)
    with pytest.raises(ValueError, match="scalar"):
        fh.hvp(vec_loss, params, params)
    with pytest.raises(ValueError, match="scalar"):
        fh.top_eigenvalues(vec_loss, params, key=key)
    with pytest.raises(TypeError, match="floating"):
        fh.hvp(lambda q: jnp.sum(jnp.zeros(2, jnp.int32)), params, params)
    with pytest.raises(ValueError, match="k must be <= the number of parameters"):
        fh.top_eigenvalues(p["loss"], params, key=key, k=n_par + 1)
    with pytest.raises(ValueError, match="num_iters must be <="):
        fh.lanczos(p["loss"], params, key=key, num_iters=n_par + 1)
    with pytest.raises(ValueError, match="num_iters must be >= k"):
        fh.top_eigenvalues(p["loss"], params, key=key, k=5, num_iters=3)
    with pytest.raises(ValueError, match="k must be <= the number of parameters"):
        fh.hessian_summary(p["loss"], params, key=key, k=n_par + 1, num_iters=n_par)
    with pytest.raises(ValueError, match="deflate"):
        fh.hutchinson_trace(p["loss"], params, key=key, num_probes=10, deflate=n_par + 1)
    with pytest.raises(ValueError, match="num_probes"):
        fh.hessian_summary(p["loss"], params, key=key, num_probes=0)
    for bad in (0, -3):
        with pytest.raises(ValueError, match="num_probes"):
            fh.hutchinson_trace(p["loss"], params, key=key, num_probes=bad)
        with pytest.raises(ValueError, match="num_probes"):
            fh.eigen_density(p["loss"], params, key=key, num_probes=bad)
    with pytest.raises(TypeError, match="num_probes"):
        fh.hutchinson_trace(p["loss"], params, key=key, num_probes=2.5)
    with pytest.raises(TypeError, match="key"):
        fh.hutchinson_trace(p["loss"], params, key=0)
    with pytest.raises(ValueError, match="sigma"):
        fh.eigen_density(p["loss"], params, key=key, sigma=0.0)
    with pytest.raises(ValueError, match="same pytree structure"):
        fh.hvp(p["loss"], params, params["layers"])
    with pytest.raises(TypeError, match="floating-point"):
        fh.hvp(lambda q: jnp.sum(q).astype(float), jnp.arange(3), jnp.arange(3))
    nan_params = jax.tree_util.tree_map(lambda a: a.at[0].set(jnp.nan), params)
    with pytest.raises(ValueError, match="NaN"):
        fh.hutchinson_trace(p["loss"], nan_params, key=key)
    with pytest.raises(ValueError, match="max_params"):
        fh.dense_hessian(p["loss"], params, max_params=10)
    with pytest.raises(TypeError, match="callable"):
        fh.hutchinson_trace("loss", params, key=key)
    with pytest.raises(ValueError, match="leading"):
        fh.batched_loss(p["lob"], (jnp.zeros((4, 2)), jnp.zeros((3, 2))))
    with pytest.raises(ValueError, match="weights"):
        fh.batched_loss(p["lob"], (jnp.zeros((4, 2)), jnp.zeros((4, 2))), weights=[1.0, -1.0, 1.0, 1.0])
