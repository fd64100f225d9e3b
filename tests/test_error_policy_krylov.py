"""The error policy for the Krylov core and its users (``fpjax.hessian``, ``fpjax.ntk``): a bad value
gives the same outcome eagerly, under ``jit`` and under ``vmap`` (the pattern of
``tests/test_error_policy.py``), and sizes that would not fit in memory are refused before anything
is allocated, naming the argument and the bytes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_error_policy import _modes

import fpjax.hessian as fh
from fpjax import ntk as fntk
from fpjax._src import ntk_eig
from fpjax.models import mlp

A4 = jnp.diag(jnp.array([4.0, 3.0, 2.0, 1.0]))
SKEW = jnp.zeros((4, 4)).at[0, 1].set(1.0)  # A4 + s·SKEW is symmetric only for s = 0
KEY = jax.random.key(0)


def _quad(p):
    return 0.5 * jnp.sum(jnp.arange(1.0, 4.0) * p**2)


def _lanczos_eigh(s):
    return fntk.lanczos_eigh(lambda v: (A4 + s * SKEW) @ v, 4, 2, key=KEY, num_iters=4).values


def _lanczos_tridiag(s):
    return fh.lanczos_tridiag(lambda v: (A4 + s * SKEW) @ v, jnp.ones(4), 4).alphas


def _bce_targets(s):
    x = jnp.linspace(-1.0, 1.0, 4)[:, None]
    return fh.model_loss(lambda p, x: p * x, x, s * jnp.ones((4, 1)), loss="bce").y


# name -> (function of one scalar argument, a bad value, a good value, the message's key phrase)
CASES = {
    "lanczos_eigh-nonsymmetric": (_lanczos_eigh, 1.0, 0.0, "symmetric"),
    "lanczos_tridiag-nonsymmetric": (_lanczos_tridiag, 1.0, 0.0, "symmetric"),
    "hutchinson_trace-nan-params": (
        lambda s: fh.hutchinson_trace(_quad, jnp.ones(3) * s, key=KEY, num_probes=2).estimate,
        jnp.nan,
        1.0,
        "params contain NaN",
    ),
    "top_eigenvalues-nan-params": (
        lambda s: fh.top_eigenvalues(_quad, jnp.ones(3) * s, key=KEY, k=1, num_iters=3),
        jnp.nan,
        1.0,
        "params contain NaN",
    ),
    "hessian_summary-inf-params": (
        lambda s: fh.hessian_summary(_quad, jnp.ones(3) * s, key=KEY, num_probes=2, num_iters=3).trace,
        jnp.inf,
        1.0,
        "params contain NaN",
    ),
    "model_loss-bce-targets": (_bce_targets, 2.0, 0.5, r"y_train must hold targets in \[0, 1\]"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_case_is_refused_alike_eager_jit_vmap_and_valid_values_agree(case):
    fn, bad, good, phrase = CASES[case]
    modes = _modes(fn)  # the three ways of tests/test_error_policy.py
    for mode, call in modes.items():
        # traced, the compiled program fails with the message (RuntimeError, or ValueError on some
        # jaxlib dispatch paths); eagerly the ValueError is raised at once
        with pytest.raises(ValueError if mode == "eager" else (RuntimeError, ValueError), match=phrase):
            jax.block_until_ready(call(bad))
    ref = np.asarray(fn(good))
    for mode in ("jit", "vmap"):
        np.testing.assert_allclose(np.asarray(modes[mode](good)), ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: fntk.lanczos_eigh(lambda v: v, 10**10, 3, key=KEY), r"\bn too large"),
        (lambda: fntk.lanczos_eigh(lambda v: v, 10**10, 3, key=KEY, num_iters=5), r"\bn too large"),
        (lambda: fntk.lanczos_eigh(lambda v: v, 10**6, 3, key=KEY, num_iters=10**6), r"\bnum_iters too large"),
        (lambda: fh.hutchinson_trace(_quad, jnp.ones(3), key=KEY, num_probes=10**12), r"\bnum_probes too large"),
        (lambda: fh.slq_quadrature(_quad, jnp.ones(3), key=KEY, num_probes=10**12), r"\bnum_probes too large"),
        (lambda: fh.eigen_density(_quad, jnp.ones(3), key=KEY, num_probes=2, grid=10**10), r"\bgrid too large"),
        (
            lambda: fh.lanczos_tridiag(lambda v: v, jnp.ones(10**5, jnp.float32), 10**5),
            r"\bnum_iters too large",
        ),
    ],
)
def test_sizes_beyond_memory_are_refused_before_allocating(call, name):
    with pytest.raises(ValueError, match=name) as err:
        call()
    assert "bytes" in str(err.value) and "GiB" in str(err.value)


def test_ce_labels_at_or_above_the_class_count_are_refused():
    x = jnp.linspace(-1.0, 1.0, 4)[:, None]
    apply = lambda p, x: x * p  # noqa: E731  (n, 2) logits: 2 classes
    params = jnp.ones(2)
    bad = fh.model_loss(apply, x, jnp.array([0, 1, 2, 0]), loss="ce")
    with pytest.raises(ValueError, match=r"y_train must hold class labels in 0\.\.1"):
        fh.top_eigenvalues(bad, params, key=KEY, k=1, num_iters=2)
    with pytest.raises(ValueError, match="integer class labels >= 0"):
        fh.model_loss(apply, x, jnp.array([0, -1, 1, 0]), loss="ce")
    good = fh.model_loss(apply, x, jnp.array([0, 1, 1, 0]), loss="ce")
    assert np.isfinite(float(fh.top_eigenvalues(good, params, key=KEY, k=1, num_iters=2)[0]))


def test_ntk_eigh_new_params_of_the_same_shapes_compile_nothing():
    model = mlp((16, 1), "tanh", init="standard")
    x = jax.random.normal(jax.random.key(0), (12, 2))
    p1 = model.init(jax.random.key(1), x)
    p2 = model.init(jax.random.key(2), x)
    r1 = fntk.ntk_eigh(model, p1, x, 2, key=KEY, num_iters=8)
    size = ntk_eig._ntk_eigh_jit._cache_size()
    r2 = fntk.ntk_eigh(model, p2, x + 0.5, 2, key=jax.random.key(3), num_iters=8)
    assert ntk_eig._ntk_eigh_jit._cache_size() == size
    # a different program only for different static settings or shapes
    assert not np.allclose(np.asarray(r1.values), np.asarray(r2.values))
    fntk.ntk_eigh(model, p2, x, 3, key=KEY, num_iters=8)
    assert ntk_eig._ntk_eigh_jit._cache_size() == size + 1
