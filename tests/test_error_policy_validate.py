"""One error policy for the spectrum, kernel, norm, landscape and model checks (eager / jit / vmap).

The same table pattern as ``tests/test_error_policy.py``: each case is a function of one scalar, a
bad value, a good value and the message's key phrase. A bad value raises ``ValueError`` eagerly and
fails the compiled program with the same message under ``jit`` and ``vmap``; a good value gives one
result all three ways.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_error_policy import _modes

from fpjax import landscape as fland
from fpjax import ntk as fntk
from fpjax import spectrum as fspec
from fpjax.theory import fpnorm, init_bias

K3 = jnp.array([[2.0, 0.5, 0.1], [0.5, 2.0, 0.5], [0.1, 0.5, 2.0]])
Y3 = jnp.array([[1.0], [-1.0], [0.5]])
XG = jnp.arange(8) / 8.0
VG = jnp.sin(2 * jnp.pi * XG)
XP = jnp.array([[0.0, 0.1], [0.3, 0.5], [0.6, 0.2], [0.9, 0.8]])
YP = jnp.array([1.0, -1.0, 0.5, 0.0])
# a trajectory in a plane: scale 0 makes it constant (no principal directions)
TRAJ = jnp.array([[2.0, 0.0, 0.0], [1.0, 0.3, 0.0], [0.5, 0.1, 0.2], [0.0, 0.0, 0.0]])


def _bound(**kw):
    args = {"f_sup": 1.0, "f_gamma_norm": 1.0, "gamma_l2": 0.5, "n": 100.0, "delta": 0.1}
    return lambda v: fpnorm.apriori_bound(**{**args, **{k: v for k in kw}}).bound


CASES = {
    "grid_fft-nonuniform": (
        lambda s: fspec.grid_fft(VG, XG.at[3].add(s)).coeffs,
        0.05,
        0.0,
        "x_grid must be a uniform grid",
    ),
    "grid_fft-decreasing": (
        lambda s: fspec.grid_fft(VG, s * XG).coeffs,
        -1.0,
        1.0,
        "x_grid must be",
    ),
    "kernel_flow-nonsymmetric": (
        lambda a: fntk.kernel_flow(K3.at[0, 1].add(a), Y3, 1.0).train,
        1.0,
        0.0,
        "k_train_train must be symmetric",
    ),
    "kernel_interpolate-nonsymmetric": (
        lambda a: init_bias.kernel_interpolate(K3.at[2, 0].add(a), K3[:2], Y3),
        0.5,
        0.0,
        "k_train_train must be symmetric",
    ),
    "kernel_interpolate-cholesky-indefinite": (
        lambda a: init_bias.kernel_interpolate(K3 - a * jnp.eye(3), K3[:2], Y3, solver="cholesky"),
        3.0,
        0.0,
        "not positive definite",
    ),
    "apriori_bound-delta": (_bound(delta=True), 1.5, 0.1, "delta must be in"),
    "apriori_bound-n": (_bound(n=True), 0.0, 10.0, "n must be >= 1"),
    "apriori_bound-norm": (_bound(f_sup=True), -1.0, 1.0, "f_sup must be >= 0"),
    "nudft-direction-zero": (
        lambda s: fspec.nudft(XP, YP, jnp.array([0.5, 1.0]), direction=s * jnp.ones(2)),
        0.0,
        1.0,
        "direction must be a non-zero vector",
    ),
    "trajectory_pca-constant": (
        lambda s: fland.trajectory_pca(s * TRAJ + 1.0).d1,
        0.0,
        1.0,
        "trajectory spans fewer than 2 directions",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_outcome_eager_jit_vmap(case):
    fn, bad, good, phrase = CASES[case]
    modes = _modes(fn)
    for mode, call in modes.items():
        # traced, the compiled program fails: RuntimeError (or ValueError on some dispatch paths)
        with pytest.raises(ValueError if mode == "eager" else (RuntimeError, ValueError), match=phrase):
            jax.block_until_ready(call(bad))
    ref = np.asarray(modes["eager"](good))
    for mode in ("jit", "vmap"):
        np.testing.assert_allclose(np.asarray(modes[mode](good)), ref, rtol=1e-5, atol=1e-6, err_msg=mode)
