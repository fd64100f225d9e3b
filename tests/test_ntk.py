"""fpjax.ntk: fast exact MLP path vs neural-tangents, width convergence, closed-form kernel flow."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax import ntk
from fpjax.models import ACTIVATIONS, asi, mlp, two_layer_relu

# Both sides are float64 sums of the same O(10³) products in different orders: rounding is
# ~ 1e3 · eps ≈ 1e-13 relative, so 1e-10 leaves three orders of margin and still catches any
# missing scale factor, bias term or layer (each changes the kernel at the 1e-2..1 level).
REL = 1e-10


def rel_err(a, b):
    return float(jnp.linalg.norm(jnp.ravel(a - b)) / jnp.linalg.norm(jnp.ravel(b)))


def data(n, d, seed):
    return jax.random.normal(jax.random.key(seed), (n, d))


def check_fast_vs_nt(activation, depth, bias, init, c=1, symmetric=True):
    x1, x2 = data(6, 3, 0), data(4, 3, 1)
    model = mlp((8,) * depth + (c,), activation, init=init, sigma_w=1.3, sigma_b=0.4, bias=bias)
    params = model.init(jax.random.key(depth), x1)
    assert ntk.fast_path_supported(model)
    fast = ntk.empirical_ntk(model, params, x1, x2)
    ref = ntk.empirical_ntk(model, params, x1, x2, implementation="nt")
    assert fast.shape == ref.shape == (6, 4)
    assert rel_err(fast, ref) < REL, (activation, depth, bias, init)
    if not symmetric:
        return
    # x2=None is the symmetric train kernel.
    kxx = ntk.empirical_ntk(model, params, x1)
    assert rel_err(kxx, ntk.empirical_ntk(model, params, x1, implementation=1)) < REL
    np.testing.assert_allclose(kxx, kxx.T, rtol=1e-13)


# One case per activation, covering every depth, both bias settings and both inits; the full
# product is the slow test below.
QUICK_CASES = [
    ("relu", 1, True, "ntk"),
    ("tanh", 2, False, "standard"),
    ("erf", 3, True, "standard"),
    ("gaussian", 4, False, "ntk"),
    ("sine", 2, True, "ntk"),
]


@pytest.mark.parametrize("activation,depth,bias,init", QUICK_CASES)
def test_fast_path_matches_neural_tangents(x64, activation, depth, bias, init):
    check_fast_vs_nt(activation, depth, bias, init)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fast_path_matches_neural_tangents_all_depths(x64, activation):
    """Every activation × depth 1–4 × bias on/off × ntk/standard init."""
    for depth in (1, 2, 3, 4):
        for bias in (True, False):
            for init in ("ntk", "standard"):
                check_fast_vs_nt(activation, depth, bias, init, symmetric=False)


def test_output_axes_follow_neural_tangents(x64):
    x1, x2 = data(6, 2, 2), data(4, 2, 3)
    model = mlp((8, 8, 3), "erf", init="ntk", sigma_b=0.2)
    params = model.init(jax.random.key(0), x1)
    full = ntk.empirical_ntk(model, params, x1, x2, trace_axes=())
    ref = ntk.empirical_ntk(model, params, x1, x2, implementation=2, trace_axes=())
    assert full.shape == ref.shape == (6, 4, 3, 3)
    assert rel_err(full, ref) < REL
    # The default trace_axes=(-1,) is neural-tangents' mean of the diagonal over outputs ...
    np.testing.assert_allclose(
        ntk.empirical_ntk(model, params, x1, x2), jnp.trace(full, axis1=2, axis2=3) / 3, rtol=1e-12
    )
    # ... and diagonal_axes=(-1,) keeps the diagonal.
    diag = ntk.empirical_ntk(model, params, x1, x2, trace_axes=(), diagonal_axes=(-1,))
    np.testing.assert_allclose(diag, jnp.diagonal(full, axis1=2, axis2=3), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init="raw", layer_sigmas=(2.0, 0.5, 1.0)),
        dict(init="siren", activation="sine", sine_omega0=30.0),
        dict(init="ntk", bias=False, fourier_features=5, fourier_scale=2.0),
    ],
)
def test_fast_path_other_inits_and_fourier_features(x64, kwargs):
    kwargs = dict(kwargs)
    act = kwargs.pop("activation", "gaussian")
    x1, x2 = data(5, 2, 4), data(7, 2, 5)
    model = mlp((8, 8, 2), act, **kwargs)
    params = model.init(jax.random.key(1), x1)
    fast = ntk.empirical_ntk(model, params, x1, x2, trace_axes=())
    ref = ntk.empirical_ntk(model, params, x1, x2, implementation=1, trace_axes=())
    # The Fourier-feature matrix B is stop_gradient-ed in apply: neural-tangents differentiates
    # params["ff"]["B"] too but gets zero, so agreement also shows B is excluded.
    assert rel_err(fast, ref) < REL


def test_two_layer_relu_and_asi_fast_paths(x64):
    x1, x2 = data(6, 2, 6), data(5, 2, 7)
    base = two_layer_relu(64, r_std=1.5, w_std=0.7)
    for model in (base, asi(base), asi(mlp((8, 8, 1), "tanh", init="ntk", sigma_b=0.3))):
        params = model.init(jax.random.key(2), x1)
        assert ntk.fast_path_supported(model)
        fast = ntk.empirical_ntk(model, params, x1, x2)
        ref = ntk.empirical_ntk(model, params, x1, x2, implementation=1)
        assert rel_err(fast, ref) < REL, model.name
    # ASI at init: θ' = θ so its kernel ½(K_θ + K_θ') equals the base network's.
    p = asi(base).init(jax.random.key(3), x1)
    np.testing.assert_allclose(ntk.empirical_ntk(asi(base), p, x1), ntk.empirical_ntk(base, p["a"], x1), rtol=1e-13)


def test_blocked_equals_unblocked(x64):
    x1, x2 = data(11, 3, 8), data(7, 3, 9)
    model = mlp((16, 1), "tanh")
    params = model.init(jax.random.key(0), x1)
    full = ntk.empirical_ntk(model, params, x1, x2)
    np.testing.assert_allclose(ntk.empirical_ntk(model, params, x1, x2, batch_size=4), full, rtol=1e-12)
    np.testing.assert_allclose(
        ntk.empirical_ntk(model, params, x1, batch_size=3), ntk.empirical_ntk(model, params, x1), rtol=1e-12
    )
    # neural-tangents path: 8 = 2 blocks of 4, one block shape, one compilation.
    full = ntk.empirical_ntk(model, params, x1[:8], implementation="nt")
    np.testing.assert_allclose(
        ntk.empirical_ntk(model, params, x1[:8], implementation="nt", batch_size=4), full, rtol=1e-12
    )


def test_plain_apply_and_vector_output():
    """A plain function with (n,) outputs goes through neural-tangents (float32 default)."""
    w = jax.random.normal(jax.random.key(0), (3, 5))
    apply = lambda p, x: jnp.tanh(x @ p["w"]).sum(axis=1)
    x = data(4, 3, 1)
    k = ntk.empirical_ntk(apply, {"w": w}, x)
    j = jax.jacrev(apply)({"w": w}, x)["w"].reshape(4, -1)
    np.testing.assert_allclose(k, j @ j.T, rtol=1e-5, atol=1e-6)
    fn = jax.jit(ntk.empirical_ntk_fn(mlp((8, 1), "relu")))  # jittable for fit(record=...)
    m = mlp((8, 1), "relu")
    p = m.init(jax.random.key(0), x)
    np.testing.assert_allclose(fn(x, None, p), ntk.empirical_ntk(m, p, x), rtol=1e-6)


def test_width_convergence_rate(x64):
    """‖K_emp − K_∞‖_F/‖K_∞‖_F shrinks like width^(−1/2).

    One hidden layer, NTK parameterization: K_emp is a mean over the w hidden neurons of i.i.d.
    terms with mean K_∞ (plus the exact last-layer bias term), so E‖K_emp − K_∞‖² = V/w exactly
    and the RMS error over seeds at widths 256 and 4096 has expected ratio √16 = 4.
    Tolerance: the per-seed squared error is a quadratic form in ~w i.i.d. terms dominated by a few
    directions; its coefficient of variation is ≤ 0.8 (chi-square with ≥ 3 effective degrees of
    freedom: cv = √(2/3)), so the mean over S = 16 seeds has cv ≤ 0.2 and the RMS (its square
    root) ≤ 0.1 relative spread; the log of the ratio of two independent RMS values then has a
    standard deviation ≤ 0.14, and 3σ gives a factor 1.53: ratio ∈ [4/1.53, 4·1.53] = [2.6, 6.1].
    A 1/w rate (ratio 16) or no convergence (ratio 1) fails.
    """
    x = data(16, 4, 0)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    rms = {}
    for w in (256, 4096):
        model = mlp((w, 1), "relu", init="ntk", sigma_w=math.sqrt(2.0), sigma_b=0.1)
        kinf = ntk.infinite_ntk(model, x)
        keys = jax.random.split(jax.random.key(0), 16)
        # One compilation for all seeds: vmap the init and the kernel over the keys.
        ks = jax.jit(jax.vmap(lambda k: ntk.empirical_ntk(model, model.init(k, x), x)))(keys)
        errs = jnp.linalg.norm((ks - kinf).reshape(16, -1), axis=1) / jnp.linalg.norm(kinf)
        rms[w] = math.sqrt(float(jnp.mean(errs**2)))
    ratio = rms[256] / rms[4096]
    assert 2.6 <= ratio <= 6.1, (rms, ratio)
    # "Close" at width 4096: the rate puts it 4x below the width-256 error.
    assert rms[4096] < 0.05, rms


@pytest.mark.slow
@pytest.mark.xla_optimized  # runs many steps: optimizing the program pays
def test_width_convergence_two_hidden_layers(x64):
    """Same check for a two-hidden-layer ReLU net at widths 256 and 4096 (8 seeds each).

    Deeper nets add an O(1/w) bias of the mean kernel, negligible next to the O(1/√w) fluctuation
    at these widths (1/256 ≪ 1/16). With S = 8 the RMS spread is ≤ 0.14, σ(log ratio) ≤ 0.2,
    3σ: factor 1.8, ratio ∈ [2.2, 7.2].
    """
    x = data(16, 4, 0)
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    rms = {}
    for w in (256, 4096):
        model = mlp((w, w, 1), "relu", init="ntk", sigma_w=math.sqrt(2.0), sigma_b=0.1)
        kinf = ntk.infinite_ntk(model, x)
        errs = [rel_err(ntk.empirical_ntk(model, model.init(jax.random.key(s), x), x), kinf) for s in range(8)]
        rms[w] = math.sqrt(np.mean(np.square(errs)))
    assert 2.2 <= rms[256] / rms[4096] <= 7.2, rms
    assert rms[4096] < 0.08, rms


# ----------------------------------------------------------------------------------------------
# closed-form kernel flow
# ----------------------------------------------------------------------------------------------


def linearized_gd(apply, params, x, y, x_test):
    """Gradient descent on L = (1/2n)‖f_lin(X) − Y‖² of the model linearized at params.

    Returns a jitted ``run(lr, steps)``; ``steps`` is traced (fori_loop), so one compilation serves
    every step count.
    """
    f0, jvp = jax.linearize(lambda p: apply(p, x), params)
    f0t, jvp_t = jax.linearize(lambda p: apply(p, x_test), params)
    n = x.shape[0]
    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    loss = lambda d: 0.5 * jnp.sum((f0 + jvp(d) - y) ** 2) / n

    @jax.jit
    def run(lr, steps):
        step = lambda _, d: jax.tree_util.tree_map(lambda a, b: a - lr * b, d, jax.grad(loss)(d))
        d = jax.lax.fori_loop(0, steps, step, zero)
        return f0 + jvp(d), f0t + jvp_t(d)

    return run


@pytest.mark.parametrize("c", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_kernel_flow_equals_linearized_gradient_descent(x64, c):
    """GD with step η on the linearized model vs the closed form at t = η·steps.

    In the eigenbasis of K(X,X) with x = ηλ/n ∈ [0, 1): GD multiplies the residual by (1 − x)^s,
    the flow by e^{−sx}; 0 ≤ e^{−x} − (1 − x) ≤ x²/2 gives |e^{−sx} − (1 − x)^s| ≤ s x²/2, so
    ‖Δf(X)‖ ≤ (s x_max²/2)‖r_0‖ (a rigorous O(η) bound at fixed t = ηs). On test points the same
    per-direction difference is divided by λ: ‖Δf(x*)‖ ≤ ‖K(x*,X)‖₂ · s η² λ_max/(2n²) · ‖r_0‖.
    Halving η (doubling s) must halve the error: err = A η + O(η²) with a relative O(x_max) = 1%
    correction, so the ratio lies in 2·(1 ± 0.05).
    """
    x, xs = data(12, 2, 0), data(5, 2, 1)
    y = jnp.sin(2.0 * x[:, :1] * jnp.arange(1, c + 1))
    model = mlp((32, 32, c), "tanh", init="ntk", sigma_b=0.2)
    params = model.init(jax.random.key(0), x)
    n = x.shape[0]
    full = dict(trace_axes=()) if c > 1 else {}
    k = ntk.empirical_ntk(model, params, x, **full)
    ks = ntk.empirical_ntk(model, params, xs, x, **full)
    kmat = jnp.transpose(k, (0, 2, 1, 3)).reshape(n * c, n * c) if c > 1 else k
    ksm = jnp.transpose(ks, (0, 2, 1, 3)).reshape(5 * c, n * c) if c > 1 else ks
    lam_max = float(jnp.linalg.eigvalsh(kmat)[-1])
    f0, f0s = model.apply(params, x), model.apply(params, xs)
    r0 = float(jnp.linalg.norm(y - f0))
    t_total = 3.0 * n / lam_max  # the top mode decays by e^{-3}
    errs = []
    gd = linearized_gd(model.apply, params, x, y, xs)
    for steps in (300, 600):
        lr = t_total / steps
        x_max = lr * lam_max / n
        gd_train, gd_test = gd(lr, steps)
        flow = ntk.kernel_flow(k, y, lr * steps, f0_train=f0, k_test_train=ks, f0_test=f0s)  # t = η·steps
        e_train = float(jnp.linalg.norm(flow.train - gd_train))
        e_test = float(jnp.linalg.norm(flow.test - gd_test))
        assert e_train <= steps * x_max**2 / 2 * r0 + 1e-12
        bound_test = float(jnp.linalg.norm(ksm, 2)) * steps * lr**2 * lam_max / (2 * n**2) * r0
        assert e_test <= bound_test + 1e-12
        errs.append((e_train, e_test))
        if c > 1 or steps > 300:
            continue
        # The same through predict_linearized (empirical NTK + f0 computed inside).
        lf = ntk.predict_linearized(model, params, x, y, lr * steps, xs)
        np.testing.assert_allclose(lf.train, flow.train, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(lf.test, flow.test, rtol=1e-10, atol=1e-12)
    for a, b in zip(errs[0], errs[1]):
        assert 1.9 <= a / b <= 2.1, errs


def test_kernel_flow_limits_and_singular_kernels(x64):
    x = data(8, 2, 3)
    # With biases K is non-singular for distinct points (a bias-free ReLU layer on 2-D inputs
    # is positively homogeneous and can leave K with an exact null direction).
    model = mlp((16, 1), "relu", init="ntk", sigma_b=0.5)
    params = model.init(jax.random.key(0), x)
    y = jnp.cos(x[:, :1])
    k = ntk.empirical_ntk(model, params, x)
    f0 = model.apply(params, x)
    # t = 0 is f0; t = ∞ interpolates. cond(K) ≈ 1e3 here, so the solve loses ~3 digits: 1e-10.
    np.testing.assert_allclose(ntk.kernel_flow(k, y, 0.0, f0_train=f0).train, f0, rtol=1e-13)
    np.testing.assert_allclose(ntk.kernel_flow(k, y, jnp.inf, f0_train=f0).train, y, rtol=1e-10)
    times = jnp.array([0.0, 1.0, 10.0, jnp.inf])
    r = ntk.kernel_flow(k, y[:, 0], times)
    assert r.train.shape == (4, 8) and r.test is None
    # Duplicated points make K exactly singular: the flow stays finite, a duplicated pair gets the
    # same prediction, and t = ∞ on consistent targets is the pseudo-inverse (min-norm) solution.
    xd = jnp.concatenate([x, x[:3]])
    yd = jnp.concatenate([y, y[:3]])
    kd = ntk.empirical_ntk(model, params, xd)
    xs = data(4, 2, 9)
    ks = ntk.empirical_ntk(model, params, xs, xd)
    out = ntk.kernel_flow(kd, yd, jnp.array([5.0, jnp.inf]), k_test_train=ks)
    assert bool(jnp.all(jnp.isfinite(out.train))) and bool(jnp.all(jnp.isfinite(out.test)))
    np.testing.assert_allclose(out.train[:, :3], out.train[:, 8:], rtol=1e-8)
    pinv = ks @ jnp.linalg.pinv(kd, rtol=1e-10) @ yd
    np.testing.assert_allclose(out.test[1], pinv, rtol=1e-6)
    # ... and equals the flow on the de-duplicated data.
    ref = ntk.kernel_flow(k, y, jnp.inf, k_test_train=ntk.empirical_ntk(model, params, xs, x)).test
    np.testing.assert_allclose(out.test[1], ref, rtol=1e-6)


def test_input_validation():
    model = mlp((4, 1), "relu")
    x = data(3, 2, 0)
    p = model.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="implementation"):
        ntk.empirical_ntk(model, p, x, implementation="bogus")
    with pytest.raises(ValueError, match="implementation=3"):
        ntk.empirical_ntk(model, p, x, implementation=3)
    with pytest.raises(ValueError, match="x2"):
        ntk.empirical_ntk(model, p, x, data(3, 5, 0))
    with pytest.raises(ValueError, match="NaN"):
        ntk.empirical_ntk(model, p, x.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="x1"):
        ntk.empirical_ntk(model, p, jnp.ones((3,)))
    with pytest.raises(TypeError, match="apply must be"):
        ntk.empirical_ntk("mlp", p, x)
    with pytest.raises(ValueError, match="fast"):
        ntk.empirical_ntk(lambda q, xx: model.apply(q, xx), p, x, implementation="fast")
    with pytest.raises(ValueError, match="batch_size"):
        ntk.empirical_ntk(model, p, x, batch_size=0)
    with pytest.raises(ValueError, match="layers"):
        ntk.empirical_ntk(model, {"layers": p["layers"][:0]}, x)
    with pytest.raises(ValueError, match="no infinite-width kernel"):
        ntk.infinite_ntk(model, x)  # xavier init
    with pytest.raises(ValueError, match="get"):
        ntk.infinite_ntk(mlp((4, 1), "relu", init="ntk"), x, get="foo")
    k = jnp.eye(3)
    with pytest.raises(ValueError, match="t must be"):
        ntk.kernel_flow(k, jnp.ones(3), -1.0)
    with pytest.raises(ValueError, match="k_train_train"):
        ntk.kernel_flow(jnp.eye(4), jnp.ones(3), 1.0)
    with pytest.raises(ValueError, match="rcond"):
        ntk.kernel_flow(k, jnp.ones(3), 1.0, rcond=-1.0)
    with pytest.raises(ValueError, match="f0_train"):
        ntk.kernel_flow(k, jnp.ones(3), 1.0, f0_train=jnp.ones(4))
