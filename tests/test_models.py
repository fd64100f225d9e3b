import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax.models import ACTIVATIONS, asi, mlp, two_layer_relu

X = jnp.linspace(-1.0, 1.0, 9)[:, None]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("init", ["xavier", "standard", "ntk", "siren"])
def test_mlp_shapes_and_vmap(activation, init):
    m = mlp((16, 8, 3), activation, init=init)
    keys = jax.random.split(jax.random.key(0), 4)
    params = jax.vmap(m.init, (0, None))(keys, X)
    assert params["layers"][0]["w"].shape == (4, 1, 16)
    y = jax.vmap(m.apply, (0, None))(params, X)
    assert y.shape == (4, 9, 3)
    assert np.all(np.isfinite(y))
    # Different keys give different networks; the same key the same network.
    assert not np.allclose(y[0], y[1])
    # vmapped = unbatched up to float32 rounding: XLA may fuse/batch the matmuls differently (it does on
    # jax 0.12), so each of the 3 layers' dots (fan-in <= 16) may differ by ~fan_in*eps relative.
    np.testing.assert_allclose(m.apply(m.init(keys[0], X), X), y[0], rtol=3 * 16 * 1.2e-7, atol=1e-6)


def test_activations_match_their_formulas():
    z = jnp.linspace(-2, 2, 11)[:, None]
    eye = {"layers": [{"w": jnp.ones((1, 1)), "b": jnp.zeros(1)}, {"w": jnp.ones((1, 1)), "b": jnp.zeros(1)}]}
    expect = {
        "relu": np.maximum(z, 0),
        "tanh": np.tanh(z),
        "erf": jax.scipy.special.erf(z),
        "gaussian": np.exp(-(z**2) / (2 * 0.3**2)),
        "sine": np.sin(2.5 * z),
    }
    for act, want in expect.items():
        m = mlp((1, 1), act, gaussian_s=0.3, sine_omega0=2.5)
        np.testing.assert_allclose(m.apply(eye, z), want, rtol=1e-6, atol=1e-7)


def test_init_variances():
    # With 512x512 weights (262144 samples) the sample variance has relative std sqrt(2/262144) ~ 0.3%;
    # 3% tolerance is 10 standard deviations.
    x = jnp.zeros((2, 512))

    def var(model, layer=1):
        return float(jnp.var(model.init(jax.random.key(1), x)["layers"][layer]["w"]))

    assert var(mlp((512, 512, 1), "relu", init="xavier")) == pytest.approx(2 / 1024, rel=0.03)
    assert var(mlp((512, 512, 1), "relu", init="standard", sigma_w=2.0)) == pytest.approx(4 / 512, rel=0.03)
    assert var(mlp((512, 512, 1), "relu", init="ntk")) == pytest.approx(1.0, rel=0.03)
    assert var(mlp((512, 512, 1), "relu", init="raw", layer_sigmas=(10.0, 0.1, 1.0))) == pytest.approx(0.01, rel=0.03)


def test_ntk_and_standard_parameterizations_agree_at_init_in_distribution():
    # Same function distribution at init: output variance over seeds matches (1000 seeds, ~4.5% std error).
    x = jnp.array([[0.3, -0.7]])
    keys = jax.random.split(jax.random.key(2), 1000)
    outs = {}
    for init in ("standard", "ntk"):
        m = mlp((64, 1), "relu", init=init, sigma_w=1.5, sigma_b=0.2)
        outs[init] = jax.vmap(lambda k: m.apply(m.init(k, x), x)[0, 0])(keys)
    assert float(jnp.var(outs["ntk"])) == pytest.approx(float(jnp.var(outs["standard"])), rel=0.2)


def test_fourier_features_are_not_trained():
    m = mlp((8, 1), "relu", fourier_features=4, fourier_scale=3.0)
    p = m.init(jax.random.key(0), X)
    assert p["ff"]["B"].shape == (1, 4)
    g = jax.grad(lambda p: jnp.sum(m.apply(p, X)))(p)
    assert float(jnp.abs(g["ff"]["B"]).max()) == 0.0
    assert float(jnp.abs(g["layers"][0]["w"]).max()) > 0.0
    assert m.kernel_fn is None


def test_two_layer_relu_formula():
    m = two_layer_relu(50, r_std=0.5, w_std=2.0, l_range=(-3.0, 3.0))
    x = jax.random.normal(jax.random.key(1), (7, 2))
    p = m.init(jax.random.key(0), x)
    assert p["w"].shape == (50,) and p["r"].shape == (50, 2) and p["l"].shape == (50, 2)
    assert float(p["l"].min()) >= -3.0 and float(p["l"].max()) <= 3.0
    want = np.zeros(7)
    for i in range(50):
        want += p["w"][i] * np.maximum(0, (x + p["l"][i]) @ p["r"][i])
    np.testing.assert_allclose(m.apply(p, x)[:, 0], want / math.sqrt(50), rtol=1e-5, atol=1e-5)


def test_asi_zero_at_init_and_same_tangent_kernel(x64):
    base = mlp((32, 32, 1), "tanh", init="ntk")
    m = asi(base)
    x = jnp.linspace(-1, 1, 6, dtype=jnp.float64)[:, None]
    p = m.init(jax.random.key(3), x)
    assert float(jnp.abs(m.apply(p, x)).max()) == 0.0

    def ntk(apply, params):
        jac = jax.jacrev(lambda q: apply(q, x)[:, 0])(params)
        flat = jnp.concatenate([j.reshape(x.shape[0], -1) for j in jax.tree_util.tree_leaves(jac)], axis=1)
        return flat @ flat.T

    np.testing.assert_allclose(ntk(m.apply, p), ntk(base.apply, p["a"]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.kernel_fn(x, None, "ntk"), base.kernel_fn(x, None, "ntk"), rtol=1e-12)
    assert float(jnp.abs(m.kernel_fn(x, None, "nngp")).max()) == 0.0


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (dict(widths=(8, 0, 1)), ValueError, r"widths\[1\]"),
        (dict(widths=(8, -3)), ValueError, r"widths\[1\]"),
        (dict(widths=8), TypeError, "widths"),
        (dict(widths=(8, 1), activation="swish"), ValueError, "activation"),
        (dict(widths=(8, 1), init="he"), ValueError, "init"),
        (dict(widths=(8, 1), init="raw"), ValueError, "layer_sigmas"),
        (dict(widths=(8, 1), init="raw", layer_sigmas=(1.0,)), ValueError, "layer_sigmas"),
        (dict(widths=(8, 1), sigma_w=0.0), ValueError, "sigma_w"),
    ],
)
def test_mlp_bad_arguments(bad, err, match):
    with pytest.raises(err, match=match):
        mlp(**bad)


def test_bad_inputs_to_init_and_apply():
    m = mlp((4, 1))
    p = m.init(jax.random.key(0), X)
    with pytest.raises(ValueError, match="x must have 1 feature"):
        m.apply(p, jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        m.apply(p, X.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="dimension"):
        m.init(jax.random.key(0), jnp.zeros(5))
    with pytest.raises(TypeError, match="key"):
        m.init(0, X)
    with pytest.raises(ValueError, match="m must be"):
        two_layer_relu(0)
    with pytest.raises(TypeError, match="model"):
        asi(lambda p, x: x)


def test_overflowing_init_scales_are_refused():
    x = jnp.zeros((3, 1))
    with pytest.raises(ValueError, match="sigma_w must be at most"):
        mlp((4, 1), "tanh", init="standard", sigma_w=1e300)
    with pytest.raises(ValueError, match="layer_sigmas\\[1\\] must be at most"):
        mlp((4, 1), "tanh", init="raw", layer_sigmas=(1.0, 1e39))
    # representable scale, but the product overflows float32 on a wide layer: caught on the weights
    m = mlp((4, 1), "tanh", init="raw", layer_sigmas=3e38)
    with pytest.raises(ValueError, match="non-finite initial parameters"):
        for seed in range(20):  # |N(0,1)| > 1.14 (needed to pass float32 max) is near-certain in 5 weights x 20
            m.init(jax.random.key(seed), x)
    with pytest.raises(ValueError, match="l_range must be finite"):
        two_layer_relu(4, l_range=(-np.inf, 1.0))


def test_num_params_is_one_function():
    import fpjax.cnn
    import fpjax.models

    assert fpjax.cnn.num_params is fpjax.models.num_params
    p = mlp((5, 2), "relu").init(jax.random.key(0), jnp.zeros((1, 3)))
    assert fpjax.models.num_params(p) == 3 * 5 + 5 + 5 * 2 + 2


def test_tanh_kernel_is_finite_where_a_variance_is_zero():
    """sigma_b = 0 at x = 0: the pre-activation variance is 0, so tanh(u) ≡ 0 and the kernels' row and
    column of that point are exactly 0 (neural-tangents' quadrature divides 0 by 0 there: NaN).
    Elsewhere the quadrature is neural-tangents' rule: equal to its ElementwiseNumerical to float32
    rounding of a 1024-term sum."""
    from fpjax._src import nt_compat

    nt = nt_compat.load()
    if nt is None:
        pytest.skip("neural-tangents unavailable")
    stax = nt.stax
    x = jnp.array([[0.0], [1.0], [-0.5], [2.0]])
    for sigma_b in (0.0, 0.1):
        model = mlp((16, 16, 1), "tanh", init="ntk", sigma_w=1.5, sigma_b=sigma_b)
        nngp, ntk = (np.asarray(a) for a in model.kernel_fn(x, x, ("nngp", "ntk")))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            act = lambda: stax.ElementwiseNumerical(jnp.tanh, deg=32)  # noqa: E731
            dense = lambda: stax.Dense(16, W_std=1.5, b_std=sigma_b, parameterization="ntk")  # noqa: E731
            ref_fn = stax.serial(dense(), act(), dense(), act(), stax.Dense(1, W_std=1.5, b_std=sigma_b))[2]
            refs = [np.asarray(a) for a in ref_fn(x, x, ("nngp", "ntk"))]
        for ours, ref in zip((nngp, ntk), refs):
            assert np.isfinite(ours).all()
            if sigma_b == 0.0:
                np.testing.assert_array_equal(ours[0], 0.0)
                np.testing.assert_array_equal(ours[:, 0], 0.0)
                assert np.isnan(ref[0]).any()  # the case neural-tangents gets wrong
            ok = np.isfinite(ref)
            np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-5, atol=1e-6)
