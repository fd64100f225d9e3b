"""Tests of the CNN zoo (fpjax.cnn models)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fpjax.cnn import MODEL_NAMES, get_model, num_params, spatial_kernels

ALL = [n for n in MODEL_NAMES]


@functools.cache
def _cached_variables(name, num_classes, size, batch=2, channels=3):
    # tracing the big models takes seconds: the parameter counts need only the init trace, which
    # the shape tests reuse (under xdist a parameter-count test often lands on the other worker)
    x = jax.ShapeDtypeStruct((batch, size, size, channels), jnp.float32)
    return jax.eval_shape(get_model(name, num_classes).init, jax.random.key(0), x)


@functools.cache
def _cached_shapes(name, num_classes, size):
    return _shapes(get_model(name, num_classes), size, v=_cached_variables(name, num_classes, size))


def _shapes(model, size, batch=2, channels=3, v=None):
    x = jax.ShapeDtypeStruct((batch, size, size, channels), jnp.float32)
    if v is None:
        v = jax.eval_shape(model.init, jax.random.key(0), x)
    out_train = jax.eval_shape(lambda v, x: model.apply(v, x, train=True, key=jax.random.key(1)), v, x)
    out_eval = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), v, x)
    return v, out_train, out_eval


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("size", [32, 64])
def test_output_shape_every_model(name, size):
    # Shapes only (jax.eval_shape traces without compiling): every model takes CIFAR (32) and
    # Tiny-ImageNet (64) inputs and returns (n, C) logits, in train and eval mode.
    v, (lt, bst), (le, bse) = _cached_shapes(name, 10, size)
    assert lt.shape == (2, 10) and le.shape == (2, 10)
    assert lt.dtype == jnp.float32
    # batch stats keep their structure through a train step
    assert jax.tree_util.tree_structure(bst) == jax.tree_util.tree_structure(v["batch_stats"])


# Known parameter counts at 10 classes (trainable parameters incl. BN scale/offset, without the
# BN running statistics), each the count of the standard CIFAR version:
#  * ResNet-18 (CIFAR, 3×3 stem, BasicBlocks [2,2,2,2], 512→10): 11,173,962 — the number printed
#    for the widely used pytorch-cifar ResNet18 and quoted throughout the literature.
#  * VGG-16 (CIFAR, conv+BN, single 512→10 classifier): 14,728,266 (same source).
#  * ResNet-50 (CIFAR): torchvision resnet50 has 25,557,032 at 1000 classes; replacing the
#    7×7×3×64 stem (9,408) by 3×3×3×64 (1,728) and the 2048→1000 head (2,049,000) by 2048→10
#    (20,490) gives 25,557,032 − 7,680 − 2,028,510 = 23,520,842.
#  * DenseNet-121 (CIFAR): torchvision densenet121 has 7,978,856; its stem 7×7 conv (9,408) +
#    BN (128) becomes a 3×3 conv (1,728) and the 1024→1000 head (1,025,000) becomes 1024→10
#    (10,250): 7,978,856 − 9,536 + 1,728 − 1,014,750 = 6,956,298.
#  * EfficientNet-B0: torchvision efficientnet_b0 has 5,288,548 at 1000 classes; the 1280→10
#    head instead of 1280→1000 removes 1,268,190: 4,020,358 (the stem stride does not change it).
KNOWN_COUNTS = {
    "resnet18": 11_173_962,
    "vgg16": 14_728_266,
    "resnet50": 23_520_842,
    "densenet121": 6_956_298,
    "efficientnet_b0": 4_020_358,
}


@pytest.mark.parametrize("name", sorted(KNOWN_COUNTS))
def test_parameter_counts(name):
    v = _cached_variables(name, 10, 32)
    assert num_params(v["params"]) == KNOWN_COUNTS[name]


def test_parameter_count_scales_with_classes():
    # Only the last dense layer depends on C: (512 + 1) parameters per class for ResNet-18.
    a = num_params(_cached_variables("resnet18", 10, 32)["params"])
    b = num_params(_cached_variables("resnet18", 100, 32)["params"])
    assert b - a == 90 * 513


def test_unknown_name_lists_names():
    with pytest.raises(ValueError) as e:
        get_model("resnet19")
    for n in MODEL_NAMES:
        assert n in str(e.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        get_model("cnn_small", 0)
    with pytest.raises(ValueError, match="dropout"):
        get_model("cnn_small", 10, dropout=1.0)
    with pytest.raises(ValueError, match="dropout"):
        get_model("cnn_small", 10, dropout=-0.1)
    with pytest.raises(TypeError, match="option"):
        get_model("cnn_small", 10, depth=3)
    m = get_model("cnn_small", 10, widths=(4,))
    with pytest.raises(ValueError, match="x must have 4"):
        m.init(jax.random.key(0), jnp.ones((2, 32, 32)))
    with pytest.raises(TypeError, match="key"):
        m.init(0, jnp.ones((2, 32, 32, 3)))


def test_dropout_defaults_follow_architecture():
    assert get_model("alexnet").config["dropout"] == 0.5
    assert get_model("efficientnet_b0").config["dropout"] == 0.2
    assert get_model("resnet18").config["dropout"] == 0.0
    assert get_model("resnet18", dropout=0.3).config["dropout"] == 0.3
    assert get_model("alexnet").stochastic and not get_model("resnet18").stochastic


def test_cnn_small_real_run():
    m = get_model("cnn_small", 10, widths=(4, 8), dropout=0.5)
    x = jax.random.uniform(jax.random.key(0), (3, 32, 32, 3))
    v = m.init(jax.random.key(1), x)
    assert set(v) == {"params", "batch_stats"}
    le, bs_e = m.apply(v, x, train=False)
    assert le.shape == (3, 10) and bool(jnp.all(jnp.isfinite(le)))
    # eval mode: running statistics come back unchanged; eval_fn is the same function
    assert all(
        bool(jnp.all(a == b))
        for a, b in zip(jax.tree_util.tree_leaves(bs_e), jax.tree_util.tree_leaves(v["batch_stats"]))
    )
    # (separately compiled, so only equal up to float32 reassociation: a few ulps of the
    # O(100)-term conv sums, far below 1e-5 relative)
    np.testing.assert_allclose(jax.jit(m.eval_fn(v))(v["params"], x), le, rtol=1e-5, atol=1e-6)
    # train mode: needs a key (dropout), updates running statistics, key changes the output
    with pytest.raises(ValueError, match="key"):
        m.apply(v, x, train=True)
    l1, bs1 = m.apply(v, x, train=True, key=jax.random.key(2))
    l1b, _ = m.apply(v, x, train=True, key=jax.random.key(2))
    l2, _ = m.apply(v, x, train=True, key=jax.random.key(3))
    assert bool(jnp.all(l1 == l1b)) and not bool(jnp.all(l1 == l2))
    # running mean ← 0.9·old + 0.1·batch mean (old = 0), so it equals 0.1 × the batch mean of
    # the first conv's output (nonzero for these positive inputs)
    conv0 = jax.lax.conv_general_dilated(
        x, v["params"]["Conv_0"]["kernel"], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(bs1["BatchNorm_0"]["mean"], 0.1 * conv0.mean((0, 1, 2)), rtol=1e-4, atol=1e-6)
    assert bool(jnp.all(v["batch_stats"]["BatchNorm_0"]["mean"] == 0))


def test_spatial_kernels_in_layer_order():
    m = get_model("cnn_small", 10, widths=(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # > 10 layers
    v = jax.eval_shape(m.init, jax.random.key(0), jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32))
    ks = spatial_kernels(v["params"])
    assert [k.shape[-1] for k in ks.values()] == list(range(2, 13))
    # ResNet-18: 17 3×3 convs (stem + 16 in blocks); 1×1 projection shortcuts are excluded
    v = jax.eval_shape(get_model("resnet18").init, jax.random.key(0), jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32))
    ks = spatial_kernels(v["params"])
    assert len(ks) == 17 and all(k.shape[:2] == (3, 3) for k in ks.values())
    assert len(spatial_kernels(v["params"], min_size=1)) == 20


def test_vmap_over_init_keys():
    m = get_model("cnn_small", 10, widths=(4,))
    x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
    keys = jax.random.split(jax.random.key(0), 3)
    vs = jax.eval_shape(jax.vmap(m.init, (0, None)), keys, x)
    assert vs["params"]["Conv_0"]["kernel"].shape == (3, 3, 3, 3, 4)


def _sgd_step_lowers_loss(name, **kw):
    m = get_model(name, 10, **kw)
    kx, ky, ki = jax.random.split(jax.random.key(0), 3)
    x = jax.random.uniform(kx, (8, 32, 32, 3))
    y = jax.random.randint(ky, (8,), 0, 10)
    v = m.init(ki, x)

    def loss(p, bs):
        logits, nbs = m.apply({"params": p, "batch_stats": bs}, x, train=True)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y)), nbs

    vg = jax.jit(jax.value_and_grad(loss, has_aux=True))
    (l0, bs), g = vg(v["params"], v["batch_stats"])
    p1 = jax.tree_util.tree_map(lambda p, d: p - 0.01 * d, v["params"], g)
    (l1, _), _ = vg(p1, v["batch_stats"])
    # A small gradient step decreases a smooth loss: L(θ − ηg) = L − η‖g‖² + O(η²).
    assert float(l1) < float(l0)


def test_sgd_step_lowers_loss_cnn_small():
    _sgd_step_lowers_loss("cnn_small", widths=(8, 16))


@pytest.mark.slow
def test_sgd_step_lowers_loss_resnet18():
    _sgd_step_lowers_loss("resnet18", conv_impl="lax")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ALL if n != "cnn_small"])
def test_real_forward_every_model(name):
    # A real init + train-mode and eval-mode forward pass at batch 2, 32×32, compiled as one
    # program (one XLA compilation per model instead of three), with lax convolutions (smaller
    # programs than im2col, quicker to compile; the two are compared in the tests above).
    m = get_model(name, 10, conv_impl="lax")
    x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3))

    @jax.jit
    def run(x):
        v = m.module.init({"params": jax.random.key(1)}, x, train=False)
        lt, _ = m.module.apply(v, x, train=True, rngs={"dropout": jax.random.key(2)}, mutable=["batch_stats"])
        return lt, m.module.apply(v, x, train=False)

    lt, le = run(x)
    assert lt.shape == le.shape == (2, 10)
    assert bool(jnp.all(jnp.isfinite(lt))) and bool(jnp.all(jnp.isfinite(le)))


@pytest.mark.parametrize("k,stride,pad", [(3, 1, 1), (3, 2, 1), (1, 2, 0), (5, 1, 2), (2, 2, 0)])
def test_patches_conv_equals_lax_conv(k, stride, pad):
    from fpjax._src.cnn_models import _conv_patches

    x = jax.random.normal(jax.random.key(0), (2, 9, 9, 3))
    w = jax.random.normal(jax.random.key(1), (k, k, 3, 4))
    ref = jax.lax.conv_general_dilated(
        x,
        w,
        (stride, stride),
        ((pad, pad), (pad, pad)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST,
    )
    got = _conv_patches(x, w, stride, pad)
    # identical sums of k²·3 products in another order: float32 rounding only (≤ 1e-5 of the scale)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(jnp.abs(ref).max()))


def test_conv_impls_share_parameters_and_outputs():
    x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
    a = get_model("cnn_small", 10, widths=(4,), conv_impl="lax")
    b = a.with_conv_impl("patches")
    assert b.config["conv_impl"] == "patches" and a.config["conv_impl"] == "lax"
    va = a.init(jax.random.key(1), x)
    assert jax.tree_util.tree_structure(va) == jax.tree_util.tree_structure(
        jax.eval_shape(b.init, jax.random.key(1), x)
    )
    la, _ = a.apply(va, x, train=True)
    lb, _ = b.apply(va, x, train=True)
    np.testing.assert_allclose(la, lb, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="conv_impl"):
        get_model("cnn_small", conv_impl="fft")


@pytest.mark.parametrize(
    "name, opts", [("cnn_small", dict(widths=(4, 8))), pytest.param("alexnet", dict(hidden=8), marks=pytest.mark.slow)]
)
def test_nonfinite_images_give_nan_logits(name, opts):
    # relu(-inf) = 0 and pooling can turn a bad image into finite logits; the zoo must answer NaN
    m = get_model(name, 3, **opts)
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    x = x.at[0].set(jnp.nan).at[1].set(jnp.inf).at[2].set(-jnp.inf)
    v = m.init(jax.random.key(1), x[3:])
    logits, _ = m.apply(v, x)
    assert np.all(np.isnan(logits[:3])) and np.all(np.isfinite(logits[3]))
    assert np.all(np.isnan(m.eval_fn(v)(v["params"], x)[:3]))
