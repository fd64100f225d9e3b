"""``from fpjax import nt``: the parts of neural-tangents researchers use, on the installed JAX.

Each part either matches an independent computation (closed-form kernels, ``jax.jacrev`` Jacobians,
the dense matrix exponential, an eigenvalue from numpy) or is refused with a message that names
the replacement. Run on both lock stacks (jax 0.10 / Python 3.11 and jax 0.12 / Python 3.12).
"""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from fpjax import nt

# float64 throughout: the kernels, Jacobians and flows below differ from their references only by
# rounding (~1e-15 relative, amplified by at most a few hundred through arccos, eigh and expm on
# these well-conditioned small matrices), so 1e-10 fails any wrong scale, axis or formula.
REL = 1e-10


def relu_expectations(k11, k22, k12):
    """Arc-cosine kernel (Cho & Saul 2009): E[relu(u)relu(v)] and E[relu'(u)relu'(v)] for
    (u, v) ~ N(0, [[k11, k12], [k12, k22]])."""
    norm = jnp.sqrt(k11 * k22)
    theta = jnp.arccos(jnp.clip(k12 / norm, -1.0, 1.0))
    return norm / (2 * jnp.pi) * (jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta)), (jnp.pi - theta) / (2 * jnp.pi)


def conv_relu_position_kernels(x1, x2, ks, sw, sb):
    """Position-by-position kernels of Conv(ks×ks, VALID, σ_w, σ_b) → ReLU, NTK parameterization.

    The conv output at position p is a Dense layer on the patch P_p(x) with fan-in ks²·C, its
    weights shared across positions, so K1[p, p'] = σ_w² P_p(x)·P_p'(x')/(ks²C) + σ_b² (its NTK
    too). Returns E[φφ], E[φ'φ'] and K1, each (n1, n2, P, P), and the output grid (h, w).
    """

    def patches(x):
        h, w = x.shape[1] - ks + 1, x.shape[2] - ks + 1
        rows = [x[:, i : i + ks, j : j + ks, :].reshape(x.shape[0], -1) for i in range(h) for j in range(w)]
        return jnp.stack(rows, axis=1), (h, w)

    (p1, grid), (p2, _) = patches(x1), patches(x2)
    fan = p1.shape[-1]
    k12 = sw**2 * jnp.einsum("npf,mqf->nmpq", p1, p2) / fan + sb**2
    k11 = (sw**2 * jnp.sum(p1**2, -1) / fan + sb**2)[:, None, :, None]
    k22 = (sw**2 * jnp.sum(p2**2, -1) / fan + sb**2)[None, :, None, :]
    e, ed = relu_expectations(k11, k22, k12)
    return e, ed, k12, grid


@pytest.mark.parametrize("pool", ["global", "window"])
def test_stax_conv_relu_pooling_matches_closed_form(x64, pool):
    """Conv → ReLU → GlobalAvgPool (or AvgPool 2×2 → Flatten) → Dense(σ_w2, σ_b2).

    Averaging over a set of positions S makes the readout kernel the mean of the position kernels
    over S × S': NNGP = σ_w2² mean E + σ_b2², NTK = NNGP + σ_w2² mean(Ė ⊙ K1). AvgPool 2×2 then
    Flatten averages that over the windows (each window paired with the same window).
    """
    stax = nt.stax
    sw1, sb1, sw2, sb2, ks = 1.3, 0.2, 0.9, 0.1, 2
    pooling = [stax.GlobalAvgPool()] if pool == "global" else [stax.AvgPool((2, 2), (2, 2)), stax.Flatten()]
    _, _, kernel_fn = stax.serial(
        stax.Conv(8, (ks, ks), padding="VALID", W_std=sw1, b_std=sb1),
        stax.Relu(),
        *pooling,
        stax.Dense(1, W_std=sw2, b_std=sb2),
    )
    x1 = jax.random.normal(jax.random.key(0), (3, 5, 5, 2))
    x2 = jax.random.normal(jax.random.key(1), (2, 5, 5, 2))
    k = jax.jit(kernel_fn, static_argnames="get")(x1, x2, get=("nngp", "ntk"))
    e, ed, k1, (h, w) = conv_relu_position_kernels(x1, x2, ks, sw1, sb1)
    if pool == "global":
        windows = [np.arange(h * w)]
    else:  # 4×4 positions → 2×2 windows of 2×2 positions
        windows = [
            np.array([(2 * a + i) * w + 2 * b + j for i in range(2) for j in range(2)])
            for a in range(h // 2)
            for b in range(w // 2)
        ]

    def pooled(m):
        return jnp.mean(jnp.stack([m[:, :, s][:, :, :, s].mean((-1, -2)) for s in windows]), axis=0)

    nngp = sw2**2 * pooled(e) + sb2**2
    np.testing.assert_allclose(k.nngp, nngp, rtol=REL)
    np.testing.assert_allclose(k.ntk, nngp + sw2**2 * pooled(ed * k1), rtol=REL)


@pytest.fixture
def cnn(x64):
    """A small Flax CNN (conv → relu → dense, 3 outputs) in float64, its apply, parameters and inputs."""
    import flax.linen as nn

    class Small(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(3, (3, 3), padding="SAME")(x))
            return nn.Dense(3)(x.reshape(x.shape[0], -1))

    module = Small()
    x1 = jax.random.normal(jax.random.key(3), (3, 5, 5, 2), dtype=jnp.float64)
    x2 = jax.random.normal(jax.random.key(4), (2, 5, 5, 2), dtype=jnp.float64)
    # Flax stores float32 parameters even under x64; cast so that the whole computation is float64.
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), module.init(jax.random.key(5), x1)["params"])
    return (lambda p, x: module.apply({"params": p}, x)), params, x1, x2


def reference_ntk(apply, params, x1, x2):
    """Σ_p ∂f(x1)/∂θ_p ∂f(x2)/∂θ_p with jax.jacrev, averaged over the output axis (trace_axes=(-1,))."""
    jac = jax.jit(jax.jacrev(apply))
    leaves1, leaves2 = jax.tree_util.tree_leaves(jac(params, x1)), jax.tree_util.tree_leaves(jac(params, x2))
    k = 0.0
    for a, b in zip(leaves1, leaves2):
        k = k + jnp.einsum("nap,map->nm", a.reshape(*a.shape[:2], -1), b.reshape(*b.shape[:2], -1))
    return k / leaves1[0].shape[1]


@pytest.mark.parametrize("implementation", [1, 2, "AUTO"])
def test_empirical_ntk_fn_matches_jacobian_contraction(cnn, implementation):
    apply, params, x1, x2 = cnn
    if implementation == "AUTO":
        implementation = nt.NtkImplementation.AUTO
    ntk_fn = nt.empirical_ntk_fn(apply, implementation=implementation)
    ref = reference_ntk(apply, params, x1, x2)
    np.testing.assert_allclose(ntk_fn(x1, x2, params), ref, rtol=REL)
    np.testing.assert_allclose(jax.jit(ntk_fn)(x1, x2, params), ref, rtol=REL)
    np.testing.assert_allclose(ntk_fn(x1, None, params), reference_ntk(apply, params, x1, x1), rtol=REL)


@pytest.mark.parametrize("implementation", [3, "STRUCTURED_DERIVATIVES"])
def test_structured_derivatives_refused_naming_the_replacements(implementation):
    if implementation == "STRUCTURED_DERIVATIVES":
        implementation = nt.NtkImplementation.STRUCTURED_DERIVATIVES
    apply = lambda p, x: x @ p
    with pytest.raises(ValueError, match=r"implementation=3.*implementation=1.*fpjax\.ntk\.empirical_ntk"):
        nt.empirical_ntk_fn(apply, implementation=implementation)
    with pytest.raises(ValueError, match=r"fpjax\.ntk\.empirical_ntk"):  # internal callers see the same refusal
        nt.empirical_kernel_fn(apply, implementation=implementation)


def test_experimental_refused_naming_the_replacement():
    with pytest.raises(ImportError, match="TensorFlow.*empirical_ntk_fn"):
        nt.experimental.empirical_ntk_fn_tf  # noqa: B018


def flow_problem(n=8, n_test=5, outputs=1):
    """A symmetric positive definite kernel on n training points, its test block, targets and initial outputs."""
    keys = jax.random.split(jax.random.key(7), 5)
    a = jax.random.normal(keys[0], (n + n_test, n + 2), dtype=jnp.float64)
    kfull = a @ a.T / (n + 2) + 0.1 * jnp.eye(n + n_test)
    k, k_test = kfull[:n, :n], kfull[n:, :n]
    y = jax.random.normal(keys[1], (n, outputs), dtype=jnp.float64)
    f0 = 0.3 * jax.random.normal(keys[2], (n, outputs), dtype=jnp.float64)
    f0_test = 0.3 * jax.random.normal(keys[3], (n_test, outputs), dtype=jnp.float64)
    return k, k_test, y, f0, f0_test


def dense_flow(k, k_test, y, f0, f0_test, t, learning_rate):
    """Gradient flow on (1/2)‖f − y‖²/y.size, linearized (neural-tangents' normalization):
    f(t) = y + e^{−ηKt/N}(f0 − y), f_test(t) = f0_test + K_*X K⁻¹ (I − e^{−ηKt/N})(y − f0), N = y.size."""
    e = scipy.linalg.expm(-learning_rate * np.asarray(k) * t / y.size)
    train = y + e @ (f0 - y)
    test = f0_test + k_test @ np.linalg.solve(k, (np.eye(len(k)) - e) @ (y - f0))
    return train, test


@pytest.mark.parametrize("mode", ["eager", "jit", "jit-closed-over"])
def test_gradient_descent_mse_matches_dense_matrix_exponential(x64, mode):
    k, k_test, y, f0, f0_test = flow_problem()
    ts = jnp.array([0.0, 0.7, 5.0, 60.0])
    lr = 0.8

    def predict(k, y, ts, f0, f0_test, k_test):
        return nt.predict.gradient_descent_mse(k, y, learning_rate=lr)(ts, f0, f0_test, k_test)

    if mode == "eager":
        train, test = predict(k, y, ts, f0, f0_test, k_test)
    elif mode == "jit":  # the kernel itself traced
        train, test = jax.jit(predict)(k, y, ts, f0, f0_test, k_test)
    else:  # predict function built outside, called under jit
        fn = nt.predict.gradient_descent_mse(k, y, learning_rate=lr)
        train, test = jax.jit(fn)(ts, f0, f0_test, k_test)
        train2, _ = jax.jit(fn)(ts[:2], f0, f0_test, k_test)  # retraced: nothing leaked from the first trace
        np.testing.assert_allclose(train2, train[:2], rtol=REL)
    for i, t in enumerate(np.asarray(ts)):
        ref_train, ref_test = dense_flow(k, k_test, y, f0, f0_test, t, lr)
        np.testing.assert_allclose(train[i], ref_train, rtol=REL, atol=1e-12)
        np.testing.assert_allclose(test[i], ref_test, rtol=REL, atol=1e-12)


def test_gradient_descent_mse_under_vmap_over_kernels(x64):
    k, k_test, y, f0, f0_test = flow_problem()
    ks = jnp.stack([k, 2.0 * k])
    out = jax.vmap(lambda kk: nt.predict.gradient_descent_mse(kk, y)(1.5, f0))(ks)
    for i, kk in enumerate(ks):
        np.testing.assert_allclose(out[i], dense_flow(kk, k_test, y, f0, f0_test, 1.5, 1.0)[0], rtol=REL)


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_max_learning_rate_is_two_n_over_largest_eigenvalue(x64, mode):
    """Gradient descent on (1/2N)‖f − y‖² with step η is stable iff η λ_max(K)/N < 2 (with
    momentum μ: < 2(1 + μ)), so the largest stable step is 2(1 + μ) N / λ_max."""
    k = flow_problem()[0]
    lam = np.linalg.eigvalsh(np.asarray(k))[-1]
    fn = nt.predict.max_learning_rate if mode == "eager" else jax.jit(nt.predict.max_learning_rate)
    np.testing.assert_allclose(fn(k), 2 * len(k) / lam, rtol=REL)
    np.testing.assert_allclose(fn(k, 3 * len(k), 0.5), 2 * 1.5 * 3 * len(k) / lam, rtol=REL)
    # and it is the boundary: 0.99 of it contracts every eigen-direction, 1.01 of it grows the top one
    eta = float(fn(k))
    assert np.max(np.abs(1 - 0.99 * eta * np.linalg.eigvalsh(np.asarray(k)) / len(k))) < 1
    assert np.max(np.abs(1 - 1.01 * eta * np.linalg.eigvalsh(np.asarray(k)) / len(k))) > 1


def test_from_fpjax_import_nt_in_a_fresh_process():
    """One line gives neural-tangents; after it, a plain ``import neural_tangents`` is the same module."""
    code = textwrap.dedent("""
        from fpjax import nt
        import neural_tangents
        from fpjax.nt import stax
        assert stax is neural_tangents.stax and nt.predict is neural_tangents.predict
        assert nt.empirical_ntk_fn is neural_tangents.empirical_ntk_fn
        assert "stax" in dir(nt)
        print("ok", neural_tangents.__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "ok neural_tangents"
