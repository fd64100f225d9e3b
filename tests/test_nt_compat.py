"""fpjax/_src/nt_compat.py: neural-tangents 0.6.5 under current JAX, checked against independent maths."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax import ntk
from fpjax._src import nt_compat
from fpjax.models import mlp

# float64 analytic kernels vs float64 closed forms: only rounding (~1e-15) and arccos near ±1
# (loses ~half the digits only for nearly parallel inputs, which random inputs avoid) separate
# them, so 1e-10 is a strict test that any wrong scaling, layer or formula fails.
REL = 1e-10


@pytest.fixture(scope="module")
def nt():
    return nt_compat.require()


def relu_expectations(k11, k22, k12):
    """Arc-cosine kernel (Cho & Saul 2009) for u, v ~ N(0, [[k11, k12], [k12, k22]]):
    E[relu(u)relu(v)] = √(k11 k22)/(2π) (sin θ + (π − θ) cos θ), E[relu'(u)relu'(v)] = (π − θ)/(2π),
    θ = arccos(k12/√(k11 k22))."""
    norm = jnp.sqrt(k11 * k22)
    theta = jnp.arccos(jnp.clip(k12 / norm, -1.0, 1.0))
    e = norm / (2 * jnp.pi) * (jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta))
    ed = (jnp.pi - theta) / (2 * jnp.pi)
    return e, ed


def erf_expectations(k11, k22, k12):
    """Williams (1997): E[erf(u)erf(v)] = (2/π) arcsin(2k12/√((1+2k11)(1+2k22))) and
    E[erf'(u)erf'(v)] = (4/π) / √((1+2k11)(1+2k22) − 4k12²)."""
    den = (1 + 2 * k11) * (1 + 2 * k22)
    return 2 / jnp.pi * jnp.arcsin(2 * k12 / jnp.sqrt(den)), 4 / jnp.pi / jnp.sqrt(den - 4 * k12**2)


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_stax_one_hidden_layer_matches_closed_form(x64, nt, act):
    """Dense(σ_w1, σ_b1) → act → Dense(σ_w2, σ_b2), NTK parameterization.

    K1 = σ_w1² x·x'/d + σ_b1² (= Θ1), NNGP = σ_w2² E[φφ] + σ_b2²,
    NTK = NNGP + σ_w2² E[φ'φ'] Θ1.
    """
    stax = nt.stax
    sw1, sb1, sw2, sb2 = 1.5, 0.3, 0.8, 0.2
    layer = {"relu": stax.Relu, "erf": stax.Erf}[act]
    _, _, kernel_fn = stax.serial(stax.Dense(64, W_std=sw1, b_std=sb1), layer(), stax.Dense(1, W_std=sw2, b_std=sb2))
    x1 = jax.random.normal(jax.random.key(0), (5, 3))
    x2 = jax.random.normal(jax.random.key(1), (4, 3))
    k = kernel_fn(x1, x2, ("nngp", "ntk"))
    d = x1.shape[1]
    k12 = sw1**2 * x1 @ x2.T / d + sb1**2
    k11 = (sw1**2 * jnp.sum(x1**2, 1) / d + sb1**2)[:, None]
    k22 = (sw1**2 * jnp.sum(x2**2, 1) / d + sb1**2)[None, :]
    e, ed = (relu_expectations if act == "relu" else erf_expectations)(k11, k22, k12)
    nngp = sw2**2 * e + sb2**2
    theta = nngp + sw2**2 * ed * k12
    np.testing.assert_allclose(k.nngp, nngp, rtol=REL)
    np.testing.assert_allclose(k.ntk, theta, rtol=REL)
    # fpjax's model kernel_fn is the same stax network, and infinite_ntk returns it.
    model = mlp((64, 1), act, init="ntk", sigma_w=1.0, sigma_b=0.0)
    k_model = ntk.infinite_ntk(model, x1, x2)
    e1, ed1 = (relu_expectations if act == "relu" else erf_expectations)(
        (jnp.sum(x1**2, 1) / d)[:, None], (jnp.sum(x2**2, 1) / d)[None, :], x1 @ x2.T / d
    )
    np.testing.assert_allclose(k_model, e1 + ed1 * (x1 @ x2.T) / d, rtol=REL)


def test_stax_conv_matches_patchwise_closed_form(x64, nt):
    """Conv(k×k, VALID) → ReLU → Flatten → Dense, NTK parameterization.

    Per output position p the first layer is a Dense on the patch P_p(x) (fan-in k·k·C):
    K1_p = σ_w1² P_p(x)·P_p(x')/(k²C) + σ_b1²; ReLU acts per position; Flatten + Dense averages
    over positions: NNGP = σ_w2² mean_p E_p + σ_b2², NTK = NNGP + σ_w2² mean_p Ė_p K1_p.
    """
    stax = nt.stax
    sw1, sb1, sw2, sb2, ks = 1.2, 0.2, 0.9, 0.1, 2
    _, _, kernel_fn = stax.serial(
        stax.Conv(16, (ks, ks), padding="VALID", W_std=sw1, b_std=sb1),
        stax.Relu(),
        stax.Flatten(),
        stax.Dense(1, W_std=sw2, b_std=sb2),
    )
    x1 = jax.random.normal(jax.random.key(2), (3, 4, 5, 2))
    x2 = jax.random.normal(jax.random.key(3), (2, 4, 5, 2))
    k = jax.jit(kernel_fn, static_argnames="get")(x1, x2, get=("nngp", "ntk"))

    def patches(x):  # (n, positions, k*k*C)
        h, w = x.shape[1] - ks + 1, x.shape[2] - ks + 1
        return jnp.stack(
            [x[:, i : i + ks, j : j + ks, :].reshape(x.shape[0], -1) for i in range(h) for j in range(w)], axis=1
        )

    p1, p2 = patches(x1), patches(x2)
    fan = p1.shape[-1]
    k12 = sw1**2 * jnp.einsum("npf,mpf->nmp", p1, p2) / fan + sb1**2
    k11 = (sw1**2 * jnp.sum(p1**2, -1) / fan + sb1**2)[:, None, :]
    k22 = (sw1**2 * jnp.sum(p2**2, -1) / fan + sb1**2)[None, :, :]
    e, ed = relu_expectations(k11, k22, k12)
    nngp = sw2**2 * e.mean(-1) + sb2**2
    np.testing.assert_allclose(k.nngp, nngp, rtol=REL)
    np.testing.assert_allclose(k.ntk, nngp + sw2**2 * (ed * k12).mean(-1), rtol=REL)


def jacobian_ntk(apply, params, x1, x2):
    """Σ_p ∂f(x1)/∂θ_p ∂f(x2)/∂θ_p with jax.jacrev directly, mean over the output axis."""
    jac = jax.jit(jax.jacrev(apply))  # one compilation instead of many eager op dispatches
    j1 = jax.tree_util.tree_leaves(jac(params, x1))
    j2 = jax.tree_util.tree_leaves(jac(params, x2))
    k = 0.0
    for a, b in zip(j1, j2):
        a = a.reshape(a.shape[0], a.shape[1], -1)
        b = b.reshape(b.shape[0], b.shape[1], -1)
        k = k + jnp.einsum("nap,map->nm", a, b)
    return k / j1[0].shape[1]


def flax_model():
    import flax.linen as nn

    class Small(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(4, (3, 3), padding="SAME")(x))
            return nn.Dense(3)(x.reshape(x.shape[0], -1))

    return Small()


def test_empirical_ntk_fn_matches_jacobian_contraction(x64, nt):
    # An MLP through neural-tangents directly, in float64.
    model = mlp((8, 8, 2), "tanh", init="ntk", sigma_b=0.5)
    x1, x2 = jax.random.normal(jax.random.key(0), (5, 3)), jax.random.normal(jax.random.key(1), (4, 3))
    params = model.init(jax.random.key(2), x1)
    ref = jacobian_ntk(model.apply, params, x1, x2)
    for implementation in (1, 2):
        kfn = nt.empirical_ntk_fn(model.apply, implementation=implementation)
        np.testing.assert_allclose(kfn(x1, x2, params), ref, rtol=1e-12)


# A Flax CNN through neural-tangents directly, in float32, is tests/test_nt_surface.py's fast test.
@pytest.mark.slow
@pytest.mark.parametrize("implementation", [1, 2])
def test_flax_cnn_through_fpjax_ntk_in_float64(x64, nt, implementation):
    """A small Flax CNN through fpjax.ntk (variables {"params": p} closed over), both implementations."""
    module = flax_model()
    xi1 = jax.random.normal(jax.random.key(3), (3, 6, 6, 2))
    xi2 = jax.random.normal(jax.random.key(4), (2, 6, 6, 2))
    # Flax stores float32 parameters even under x64; cast so the whole computation is float64.
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), module.init(jax.random.key(5), xi1)["params"])
    apply = lambda p, x: module.apply({"params": p}, x)
    k = ntk.empirical_ntk(apply, params, xi1, xi2, implementation=implementation)
    assert k.shape == (3, 2)
    np.testing.assert_allclose(k, jacobian_ntk(apply, params, xi1, xi2), rtol=1e-12)


def test_predict_gradient_descent_mse_matches_kernel_flow(x64, nt):
    """neural-tangents' closed form normalises time by y.size; with one output that is n, as ours."""
    model = mlp((32, 1), "relu", init="ntk", sigma_w=1.4, sigma_b=0.3)
    x = jax.random.normal(jax.random.key(0), (10, 2))
    xs = jax.random.normal(jax.random.key(1), (6, 2))
    y = jnp.sin(x[:, :1])
    params = model.init(jax.random.key(2), x)
    k, ks = ntk.empirical_ntk(model, params, x), ntk.empirical_ntk(model, params, xs, x)
    f0, f0s = model.apply(params, x), model.apply(params, xs)
    ts = jnp.array([0.0, 0.5, 3.0, 40.0])
    predict = nt.predict.gradient_descent_mse(k, y, learning_rate=0.7)
    nt_train, nt_test = predict(ts, f0, f0s, ks)
    ours = ntk.kernel_flow(k, y, 0.7 * ts, f0_train=f0, k_test_train=ks, f0_test=f0s)  # t = η·steps
    np.testing.assert_allclose(ours.train, nt_train, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.test, nt_test, rtol=1e-9, atol=1e-12)
    # Infinite-width ensemble mean (f0 has mean 0): K_*X K⁻¹ (I − e^{−ηKt/n}) Y with the analytic NTK.
    ens = nt.predict.gradient_descent_mse_ensemble(model.kernel_fn, x, y, learning_rate=0.7)
    mean = ens(ts, xs, get="ntk")
    kinf, kinf_s = ntk.infinite_ntk(model, x), ntk.infinite_ntk(model, xs, x)
    ours = ntk.kernel_flow(kinf, y, 0.7 * ts, k_test_train=kinf_s)
    np.testing.assert_allclose(ours.test, mean, rtol=1e-9, atol=1e-12)


def test_status_reports_patches():
    st = nt_compat.status()
    assert st.available and st.reason is None
    assert isinstance(st.patched, list)


def test_broken_shim_keeps_fpjax_importable_in_process(monkeypatch):
    """Simulate a future JAX that breaks the patching: require() raises with the reason."""

    def broken():
        raise AttributeError("Jaxpr not found in any of ('jax.extend.core', 'jax._src.core')")

    nt_compat._reset_for_tests()
    monkeypatch.setattr(nt_compat, "_patch_jax", broken)
    try:
        assert nt_compat.load() is None
        with pytest.raises(nt_compat.NeuralTangentsUnavailable, match="Jaxpr not found"):
            nt_compat.require()
        x = jnp.ones((3, 2))
        model = mlp((4, 1), "relu")
        params = model.init(jax.random.key(0), x)
        assert ntk.empirical_ntk(model, params, x).shape == (3, 3)  # the fast path needs no neural-tangents
        with pytest.raises(ntk.NeuralTangentsUnavailable, match="Jaxpr"):
            ntk.empirical_ntk(model, params, x, implementation="nt")
    finally:
        monkeypatch.undo()
        nt_compat._reset_for_tests()
    assert nt_compat.load() is not None


def test_broken_jax_names_in_a_fresh_process():
    """Delete the moved ``Jaxpr`` before anything imports neural-tangents, in a subprocess."""
    code = textwrap.dedent("""
        import equinox  # reads jax.extend.core.Jaxpr at import (jax 0.12): import it while JAX is whole
        import jax.extend.core as ec, jax._src.core as sc, jax.core as jc
        saved = sc.Jaxpr
        for mod in (ec, sc, jc):
            if "Jaxpr" in vars(mod):
                delattr(mod, "Jaxpr")
        import fpjax, fpjax.ntk, fpjax.models, fpjax.theory.tangent_fourier
        model = fpjax.models.mlp((4, 1), "relu", init="ntk")  # tries neural-tangents for kernel_fn
        sc.Jaxpr = ec.Jaxpr = saved  # let JAX itself work again; the failed load stays recorded
        from fpjax._src import nt_compat
        assert not nt_compat.status().available
        import jax, jax.numpy as jnp
        x = jnp.ones((3, 2))
        p = model.init(jax.random.key(0), x)
        print("fast", fpjax.ntk.empirical_ntk(model, p, x).shape)
        for call in (lambda: fpjax.ntk.infinite_ntk(model, x), lambda: model.kernel_fn(x, x, "ntk"),
                     lambda: fpjax.ntk.empirical_ntk(model, p, x, implementation=1)):
            try:
                call()
            except fpjax.ntk.NeuralTangentsUnavailable as err:
                print("raised:", err)
            else:
                print("no error")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "fast (3, 3)"
    assert len(lines) == 4 and all(line.startswith("raised:") for line in lines[1:]), out.stdout
    assert all("Jaxpr" in line and "neural-tangents" in line for line in lines[1:])


def test_public_neural_tangents_in_a_fresh_process():
    """``import fpjax; fpjax.ntk.neural_tangents()`` gives the patched module; then a plain
    ``import neural_tangents`` works and stax's analytic NTK of a ReLU net matches the closed form."""
    code = textwrap.dedent("""
        import fpjax
        nt = fpjax.ntk.neural_tangents()
        import neural_tangents
        from neural_tangents import stax
        assert neural_tangents is nt
        import jax.numpy as jnp
        _, _, kernel_fn = stax.serial(stax.Dense(1, W_std=1.0, b_std=0.0), stax.Relu(),
                                      stax.Dense(1, W_std=1.0, b_std=0.0))
        x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
        print(float(kernel_fn(x, None, "ntk")[0, 1]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    # Orthogonal unit inputs in d = 2 (θ = π/2), NTK parametrization, no bias: Σ0(x, x') = x·x'/d,
    # so q = Σ0(x, x) = 1/2 and Σ0(x, x') = 0; the arc-cosine kernel gives the NNGP
    # Σ1 = q (sin θ + (π − θ) cos θ)/(2π) = 1/(4π), Σ̇1 = (π − θ)/(2π) = 1/4, and
    # NTK = Σ1 + Σ0 · Σ̇1 = 1/(4π).
    assert abs(float(out.stdout.strip().splitlines()[-1]) - 1 / (4 * 3.141592653589793)) < 1e-6
