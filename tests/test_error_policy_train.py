"""One error policy for the losses and the CNN zoo: the same outcome eagerly, under ``jit`` and under ``vmap``.

Eagerly a bad value raises ``ValueError`` naming the argument; traced, the compiled program fails with
the same message (``checks.error_if``). NaN in gives NaN out wherever a value is computed, never a
finite number; non-finite images in train mode (batch statistics mix the rows) are refused.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_error_policy import _modes, table_tests

from fpjax.cnn import evaluate_cnn, get_model
from fpjax.train import bce, ce, mse

LOGITS = jnp.zeros((2, 3))

# name -> (function of one argument, a bad value, a good value, the message's key phrase)
CASES = {
    "ce-label-too-large": (lambda y: ce(LOGITS, y), jnp.array([0, 3]), jnp.array([0, 2]), r"labels in 0\.\.2"),
    "ce-label-negative": (lambda y: ce(LOGITS, y), jnp.array([-1, 0]), jnp.array([1, 0]), r"labels in 0\.\.2"),
    "ce-label-fraction": (lambda y: ce(LOGITS, y), jnp.array([0.0, 1.5]), jnp.array([0.0, 1.0]), r"labels in 0\.\.2"),
    "ce-int8-label-too-large": (
        lambda y: ce(LOGITS, y),
        jnp.array([0, 3], jnp.int8),
        jnp.array([0, 2], jnp.int8),
        r"labels in 0\.\.2",
    ),
    "ce-soft-not-summing-to-1": (
        lambda y: ce(LOGITS, y),
        jnp.array([[0.5, 0.6, 0.0], [1.0, 0.0, 0.0]]),
        jnp.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]),
        "probability rows",
    ),
    "ce-soft-negative": (
        lambda y: ce(LOGITS, y),
        jnp.array([[-0.5, 1.5, 0.0], [1.0, 0.0, 0.0]]),
        jnp.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]),
        "probability rows",
    ),
    "ce-soft-nan": (
        lambda y: ce(LOGITS, y),
        jnp.array([[jnp.nan, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
        "probability rows",
    ),
    "bce-target-above-1": (lambda y: bce(jnp.zeros(2), y), jnp.array([0.0, 1.5]), jnp.array([0.0, 1.0]), r"\[0, 1\]"),
    "bce-target-nan": (lambda y: bce(jnp.zeros(2), y), jnp.array([0.0, jnp.nan]), jnp.array([0.0, 0.5]), r"\[0, 1\]"),
}


test_bad_value_fails_the_same_way_eager_jit_vmap, test_good_value_gives_one_result_eager_jit_vmap = table_tests(CASES)


def test_integer_labels_are_class_indices():
    # integer labels in the logits' own shape are not soft targets: refused, not read as weights
    with pytest.raises(ValueError, match="class indices"):
        ce(jnp.zeros(3), jnp.array([0, 2, 1]))
    # uniform logits over C classes: loss log C for any valid label, whatever the label dtype
    # (int8/uint8 hold the labels; the class count 200/300 exceeds what the dtype holds)
    for dtype, c, labels in ((jnp.int8, 200, [5, 120]), (jnp.uint8, 300, [5, 250]), (jnp.int16, 300, [0, 299])):
        y = jnp.array(labels, dtype)
        for f in _modes(lambda y, c=c: ce(jnp.zeros((2, c)), y)).values():
            np.testing.assert_allclose(float(f(y)), np.log(c), rtol=1e-6)
    # an int64 label 2**33 is out of range, not wrapped to 0
    with pytest.raises(ValueError, match=r"labels in 0\.\.1"):
        ce(jnp.zeros((1, 2)), np.array([2**33], np.int64))


def test_mse_dtypes_and_shapes():
    with pytest.raises(TypeError, match="mse: pred must be real"):
        mse(jnp.zeros((2, 1)) + 0j, jnp.zeros((2, 1)))
    with pytest.raises(TypeError, match="mse: y must be real"):
        mse(jnp.zeros((2, 1)), jnp.zeros((2, 1)) + 1j)
    with pytest.raises(ValueError, match="leading sample axis"):
        mse(1.0, 2.0)
    # int32 inputs are promoted to float: (2^31 − 1 + 5)² / 2 without integer overflow
    got = float(mse(jnp.array([2**31 - 1], jnp.int32), jnp.array([-5], jnp.int32)))
    assert got == pytest.approx(0.5 * (2.0**31 + 4) ** 2, rel=1e-6)


def _set_first_nan(tree, pred):
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    out, done = [], False
    for path, a in leaves:
        if not done and pred(jax.tree_util.keystr(path), a):
            a, done = a.at[(0,) * a.ndim].set(jnp.nan), True
        out.append(a)
    assert done
    return jax.tree_util.tree_unflatten(treedef, [a for a in out])


@pytest.fixture(scope="module")
def small():
    m = get_model("cnn_small", 3, widths=(4, 8))
    x = jax.random.uniform(jax.random.key(0), (3, 8, 8, 1))
    return m, m.init(jax.random.key(1), x), x


def test_nan_weights_and_statistics_give_nan_logits_under_jit(small):
    m, v, x = small
    bad = {
        "kernel": {"params": _set_first_nan(v["params"], lambda s, a: a.ndim == 4), "batch_stats": v["batch_stats"]},
        "bn-var": {"params": v["params"], "batch_stats": _set_first_nan(v["batch_stats"], lambda s, a: "var" in s)},
    }
    for name, vv in bad.items():
        for f in (m.apply, jax.jit(m.apply, static_argnames="train")):
            assert np.isnan(np.asarray(f(vv, x, train=False)[0])).all(), name
    # train mode normalises with the batch's statistics: a NaN kernel gives NaN, the running
    # statistics do not enter (mathematically) and come back NaN in the new state
    vk = bad["kernel"]
    assert np.isnan(np.asarray(jax.jit(lambda v, x: m.apply(v, x, train=True)[0])(vk, x))).all()
    # a NaN model has NaN accuracy and loss, not a finite score
    acc, loss = evaluate_cnn(m, vk, x, jnp.array([0, 1, 2]))
    assert np.isnan(acc) and np.isnan(loss)


def test_max_pool_models_keep_nan_under_jit():
    # VGG (conv-BN-ReLU-max-pool): XLA:CPU's fused reduction dropped the NaN of one weight under jit
    m = get_model("vgg11", 2)
    x = jax.random.uniform(jax.random.key(0), (1, 32, 32, 3))
    v = m.init(jax.random.key(1), x)
    vk = {"params": _set_first_nan(v["params"], lambda s, a: a.ndim == 4), "batch_stats": v["batch_stats"]}
    assert np.isnan(np.asarray(jax.jit(lambda v, x: m.apply(v, x)[0])(vk, x))).all()


def test_one_nan_image_eval_rows_independent_train_refused(small):
    m, v, x = small
    xn = x.at[0, 0, 0, 0].set(jnp.nan)
    ref = np.asarray(m.apply(v, x)[0])
    for f in (m.apply, jax.jit(m.apply, static_argnames="train")):
        out = np.asarray(f(v, xn, train=False)[0])
        assert np.isnan(out[0]).all()
        np.testing.assert_array_equal(out[1:], ref[1:])  # the other rows are untouched
    for mode, f in _modes(lambda x: m.apply(v, x, train=True)[0]).items():
        expected = ValueError if mode == "eager" else (RuntimeError, ValueError)
        with pytest.raises(expected, match="x must be finite in train mode"):
            jax.block_until_ready(f(xn))


def test_complex_and_nchw_images_refused(small):
    m, v, x = small
    with pytest.raises(TypeError, match="real images"):
        m.apply(v, x + 0j)
    with pytest.raises(TypeError, match="real images"):
        evaluate_cnn(m, v, x + 0j, jnp.array([0, 1, 2]))
    m3 = get_model("cnn_small", 3, widths=(4, 8))
    x3 = jax.random.uniform(jax.random.key(0), (2, 8, 8, 3))
    v3 = m3.init(jax.random.key(1), x3)
    with pytest.raises(ValueError, match="NHWC"):
        m3.apply(v3, jnp.transpose(x3, (0, 3, 1, 2)))
