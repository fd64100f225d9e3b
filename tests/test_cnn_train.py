"""Tests of CNN training (fpjax.cnn.train_cnn and friends) on real digits."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fpjax.cnn import (
    CNNMetrics,
    cnn_variables,
    evaluate_cnn,
    get_model,
    make_sgd,
    pretrain_shuffled_labels,
    shuffle_labels,
    spatial_kernels,
    train_cnn,
)
from fpjax.data import load_dataset
from fpjax.train import FitResult, fit


@pytest.fixture(scope="module")
def digits():
    x, y = load_dataset("digits", "train")  # (1438, 8, 8, 1) real images
    xt, yt = load_dataset("digits", "test")
    return x[:256], y[:256], xt[:100], yt[:100]


@pytest.fixture(scope="module")
def model_and_vars(digits):
    m = get_model("cnn_small", 10, widths=(8, 16))
    return m, m.init(jax.random.key(0), digits[0][:2])


def _sq_norms(params):
    return {k: jnp.sum(w**2) for k, w in spatial_kernels(params).items()}


@pytest.fixture(scope="module")
def trained(digits, model_and_vars):
    m, v = model_and_vars
    x, y, xt, yt = digits
    return train_cnn(
        m,
        v,
        x,
        y,
        key=jax.random.key(1),
        epochs=6,
        batch_size=32,
        optimizer=make_sgd(0.1),
        x_test=xt,
        y_test=yt,
        record=_sq_norms,
    )


def test_training_learns_and_records(digits, model_and_vars, trained):
    m, v = model_and_vars
    r = trained
    steps = 256 // 32  # optimizer steps per epoch
    assert isinstance(r, FitResult) and isinstance(r.metrics, CNNMetrics)
    assert not r.diverged and r.diverged_step == -1
    # one loss per optimizer step; the per-epoch train loss is the mean of that epoch's losses
    assert r.losses.shape == (6 * steps,) and np.all(np.isfinite(r.losses))
    h = r.metrics
    assert h.train_loss.shape == (6,) and h.test_acc.shape == (6,) and h.epoch_seconds.shape == (6,)
    # float32 means of 8 values: a few ulp apart
    np.testing.assert_allclose(h.train_loss, r.losses.reshape(6, steps).mean(1), rtol=1e-6)
    # cross-entropy must fall; 6 epochs of SGD on 256 digits must
    # lift held-out accuracy far above the 10% chance level (5× chance asserted)
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    assert h.final_test_acc > 0.5 and h.final_train_acc > 0.5
    # records: init + one per epoch, taken after 0, P, 2P, ... optimizer steps
    assert set(r.records) == {"Conv_0", "Conv_1"}
    assert r.records["Conv_0"].shape == (7,) and r.record_steps.tolist() == [steps * e for e in range(7)]
    np.testing.assert_allclose(r.records["Conv_0"][0], float(_sq_norms(v["params"])["Conv_0"]), rtol=1e-6)
    np.testing.assert_allclose(r.records["Conv_1"][-1], float(_sq_norms(r.params)["Conv_1"]), rtol=1e-6)
    # the model state is the batch-norm statistics; cnn_variables rebuilds the flax variables
    assert set(r.state) == {"batch_stats"} and set(cnn_variables(r)) == {"params", "batch_stats"}
    assert jax.tree_util.tree_structure(cnn_variables(r)) == jax.tree_util.tree_structure(v)
    # the reported final test accuracy is evaluate() on the final variables (a FitResult is accepted)
    acc, loss = evaluate_cnn(m, r, digits[2], digits[3])
    assert acc == h.final_test_acc and loss == pytest.approx(h.final_test_loss)
    assert evaluate_cnn(m, cnn_variables(r), digits[2], digits[3]) == (acc, loss)
    # the caller's variables are untouched
    assert bool(
        jnp.all(
            v["params"]["Conv_0"]["kernel"] == m.init(jax.random.key(0), digits[0][:2])["params"]["Conv_0"]["kernel"]
        )
    )


def test_same_key_same_result(digits, model_and_vars):
    m, v = model_and_vars
    x, y = digits[0][:128], digits[1][:128]
    a = train_cnn(m, v, x, y, key=jax.random.key(5), epochs=1, batch_size=32, optimizer=make_sgd(0.1))
    b = train_cnn(m, v, x, y, key=jax.random.key(5), epochs=1, batch_size=32, optimizer=make_sgd(0.1))
    c = train_cnn(m, v, x, y, key=jax.random.key(6), epochs=1, batch_size=32, optimizer=make_sgd(0.1))
    la, lb, lc = (jax.tree_util.tree_leaves(cnn_variables(r)) for r in (a, b, c))
    assert all(bool(jnp.all(p == q)) for p, q in zip(la, lb))
    assert not all(bool(jnp.all(p == q)) for p, q in zip(la, lc))  # other shuffle


def test_scan_and_step_loops_agree(digits, model_and_vars):
    m, v = model_and_vars
    x, y = digits[0][:128], digits[1][:128]
    a = train_cnn(m, v, x, y, key=jax.random.key(5), epochs=1, batch_size=32, optimizer=make_sgd(0.1), loop="scan")
    b = train_cnn(m, v, x, y, key=jax.random.key(5), epochs=1, batch_size=32, optimizer=make_sgd(0.1), loop="step")
    # Same float32 operations with the same keys; only XLA's fusion/reassociation differs
    # (ulp-level, ~1e-7 relative per reduction), grown over 4 SGD steps: 1e-4 is a loose bound.
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-4)
    for p, q in zip(jax.tree_util.tree_leaves(cnn_variables(a)), jax.tree_util.tree_leaves(cnn_variables(b))):
        np.testing.assert_allclose(p, q, rtol=1e-3, atol=1e-5)


def test_sgd_weight_decay_is_coupled_l2():
    # PyTorch SGD(lr, momentum μ, weight_decay λ): g ← ∇L + λθ; m ← μm + g; θ ← θ − ηm.
    lr, mu, wd = 0.1, 0.9, 0.01
    tx = make_sgd(lr, momentum=mu, weight_decay=wd)
    theta = {"w": jnp.array([1.0, -2.0, 3.0])}
    grads = [{"w": jnp.array([0.5, 0.5, -1.0])}, {"w": jnp.array([-0.2, 0.1, 0.3])}]
    state = tx.init(theta)
    t_ref, m_ref = np.array(theta["w"]), np.zeros(3)
    for g in grads:
        upd, state = tx.update(g, state, theta)
        theta = optax.apply_updates(theta, upd)
        m_ref = mu * m_ref + (np.array(g["w"]) + wd * t_ref)
        t_ref = t_ref - lr * m_ref
    np.testing.assert_allclose(theta["w"], t_ref, rtol=1e-6)
    with pytest.raises(ValueError, match="total_steps"):
        make_sgd(0.1, schedule="cosine")


def test_weight_decay_shrinks_conv_weights(digits, model_and_vars):
    # Conv kernels followed by batch norm are scale invariant, so the data gradient is orthogonal
    # to them and plain SGD only grows ‖W‖; the λθ term must make them smaller than without it.
    m, v = model_and_vars
    x, y = digits[0][:128], digits[1][:128]
    kw = dict(key=jax.random.key(2), epochs=2, batch_size=32)
    r0 = train_cnn(m, v, x, y, optimizer=make_sgd(0.1), **kw)
    r1 = train_cnn(m, v, x, y, optimizer=make_sgd(0.1, weight_decay=0.05), **kw)
    n0 = _sq_norms(r0.params)
    n1 = _sq_norms(r1.params)
    assert all(float(n1[k]) < float(n0[k]) for k in n0)


def test_divergence_is_reported(digits, model_and_vars):
    m, v = model_and_vars
    x, y = digits[0][:128], digits[1][:128]
    steps = 128 // 32
    r = train_cnn(m, v, x, y, key=jax.random.key(0), epochs=3, batch_size=32, optimizer=make_sgd(1e30))
    d = r.diverged_step
    assert r.diverged and isinstance(d, int) and 0 <= d < 3 * steps
    # losses cover the epochs started, finite before the failing step and NaN after it
    assert r.losses.shape == ((d // steps + 1) * steps,)
    assert np.all(np.isfinite(r.losses[:d])) and np.all(np.isnan(r.losses[d + 1 :]))
    assert r.metrics.train_loss.shape == (d // steps,)  # the completed epochs
    # the kept parameters and batch statistics are finite: those after d updates (the guarded
    # step of fit keeps the last finite ones; not the initial ones when d > 0)
    assert all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree_util.tree_leaves(cnn_variables(r)))
    changed = any(
        bool(jnp.any(p != q))
        for p, q in zip(jax.tree_util.tree_leaves(r.params), jax.tree_util.tree_leaves(v["params"]))
    )
    assert changed == (d > 0)


def test_evaluate_matches_full_batch(digits, model_and_vars, trained):
    m, _ = model_and_vars
    x, y = digits[2][:37], digits[3][:37]
    acc, loss = evaluate_cnn(m, trained, x, y, batch_size=10)  # 4 batches, last padded
    logits, _ = m.apply(cnn_variables(trained), x, train=False)
    ref_correct = int(jnp.sum(jnp.argmax(logits, -1) == y))
    ref_loss = float(jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y)))
    assert acc == ref_correct / 37
    assert loss == pytest.approx(ref_loss, rel=1e-5)


def test_pretrain_shuffled_labels(digits, model_and_vars):
    m, v = model_and_vars
    x, y = digits[0][:128], digits[1][:128]
    key = jax.random.key(3)
    y_rand = shuffle_labels(y, key=jax.random.split(key)[0])
    assert sorted(np.asarray(y_rand).tolist()) == sorted(np.asarray(y).tolist())
    assert float(jnp.mean(y_rand == y)) < 0.5
    r = pretrain_shuffled_labels(
        m, v, x, y, key=key, epochs=2, batch_size=32, optimizer=make_sgd(0.1), stop_at_train_acc=0.0
    )
    # stop_at_train_acc=0 stops after the first epoch (4 steps)
    assert r.metrics.train_loss.shape == (1,) and r.losses.shape == (4,) and r.record_steps.shape == (0,)
    assert r.metrics.test_acc is None and r.metrics.final_test_acc is None  # no test data given
    # its reported accuracy is on the shuffled labels
    acc, _ = evaluate_cnn(m, r, x, y_rand)
    assert r.metrics.final_train_acc == acc


def test_dropout_training(digits):
    # a dropout model needs the per-step keys train_cnn derives; training must run and stay finite
    m = get_model("cnn_small", 10, widths=(4, 8), dropout=0.5)
    x, y = digits[0][:64], digits[1][:64]
    v = m.init(jax.random.key(0), x[:2])
    r = train_cnn(m, v, x, y, key=jax.random.key(1), epochs=2, batch_size=32, optimizer=make_sgd(0.1))
    assert not r.diverged and r.losses.shape == (4,) and np.all(np.isfinite(r.losses))


def test_input_validation(digits, model_and_vars):
    m, v = model_and_vars
    x, y = digits[0][:64], digits[1][:64]
    k = jax.random.key(0)
    sgd = make_sgd(0.1)
    with pytest.raises(ValueError, match="batch_size"):
        train_cnn(m, v, x, y, key=k, optimizer=sgd, epochs=1, batch_size=65)
    with pytest.raises(ValueError, match="labels in 0..9"):
        train_cnn(m, v, x, y + 5, key=k, optimizer=sgd, epochs=1, batch_size=32)
    with pytest.raises(ValueError, match="same number of rows"):
        train_cnn(m, v, x, y[:10], key=k, optimizer=sgd, epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="x_train must have 4"):
        train_cnn(m, v, x[..., 0], y, key=k, optimizer=sgd, epochs=1, batch_size=8)
    with pytest.raises(TypeError, match="integer"):
        train_cnn(m, v, x, y.astype(np.float32), key=k, optimizer=sgd, epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="NaN"):
        train_cnn(m, v, np.where(x > 0.5, np.nan, x), y, key=k, optimizer=sgd, epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="loop"):
        train_cnn(m, v, x, y, key=k, optimizer=sgd, epochs=1, batch_size=8, loop="fast")


def test_continue_from_result(digits, model_and_vars):
    # a FitResult is a valid starting point: training continues from its params and batch stats
    m, v = model_and_vars
    x, y = digits[0][:128], digits[1][:128]  # the shapes of the tests above: nothing recompiles
    kw = dict(epochs=1, batch_size=32, optimizer=make_sgd(0.1))
    a = train_cnn(m, v, x, y, key=jax.random.key(1), **kw)
    b = train_cnn(m, a, x, y, key=jax.random.key(2), **kw)
    c = train_cnn(m, cnn_variables(a), x, y, key=jax.random.key(2), **kw)
    np.testing.assert_array_equal(b.losses, c.losses)
    for p, q in zip(jax.tree_util.tree_leaves(cnn_variables(b)), jax.tree_util.tree_leaves(cnn_variables(c))):
        np.testing.assert_array_equal(p, q)
    fresh = train_cnn(m, v, x, y, key=jax.random.key(2), **kw)
    assert not np.array_equal(b.losses, fresh.losses)  # it did not start from the initial variables
    with pytest.raises(TypeError, match="variables"):
        train_cnn(m, {"w": 1.0}, x, y, key=jax.random.key(2), **kw)
    with pytest.raises(TypeError, match="FitResult"):
        cnn_variables(v)


def test_fit_result_is_shared_and_a_pytree():
    # fit returns the same type with state/metrics None; it still vmaps (None fields are empty subtrees)
    x = jnp.linspace(-1, 1, 8)[:, None]
    y = jnp.sin(3 * x)

    def run(w0):
        return fit(lambda p, x: x * p["w"], {"w": w0}, x, y, optimizer=optax.sgd(0.1), steps=5, record=lambda p: p["w"])

    r = jax.vmap(run)(jnp.array([0.0, 1.0]))
    assert isinstance(r, FitResult) and r.state is None and r.metrics is None
    assert r.losses.shape == (2, 5) and r.record_steps.shape == (2, 6) and r.diverged_step.tolist() == [-1, -1]
    assert len(jax.tree_util.tree_leaves(r)) == 6  # params, losses, records, record_steps, diverged, diverged_step


def test_any_optax_optimizer_and_deprecated_sgd_keywords(digits, model_and_vars):
    m, v = model_and_vars
    x, y = digits[0][:128], digits[1][:128]
    kw = dict(key=jax.random.key(5), epochs=1, batch_size=32)
    new = train_cnn(m, v, x, y, optimizer=make_sgd(0.1, momentum=0.9), **kw)
    # the old SGD keywords still build the same optimizer, with a DeprecationWarning
    with pytest.warns(DeprecationWarning, match="optimizer="):
        old = train_cnn(m, v, x, y, lr=0.1, momentum=0.9, **kw)
    np.testing.assert_array_equal(new.losses, old.losses)
    with pytest.warns(DeprecationWarning, match="x_train"):
        old_xy = train_cnn(m, v, x=x, y=y, optimizer=make_sgd(0.1, momentum=0.9), **kw)
    np.testing.assert_array_equal(new.losses, old_xy.losses)
    with pytest.warns(DeprecationWarning, match="learning_rate"):
        assert make_sgd(lr=0.1) is make_sgd(0.1)  # equal settings: one optimizer object
    with pytest.raises(TypeError, match="not both"):
        train_cnn(m, v, x, y, optimizer=make_sgd(0.1), lr=0.1, **kw)
    with pytest.raises(TypeError, match="optax"):
        train_cnn(m, v, x, y, optimizer="sgd", **kw)
    # any optax optimizer: Adam lowers the training loss within 3 epochs
    r = train_cnn(m, v, x, y, optimizer=optax.adam(1e-2), **dict(kw, epochs=3))
    assert not r.diverged and r.metrics.train_loss[-1] < r.metrics.train_loss[0]
