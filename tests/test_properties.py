"""Property-based tests (hypothesis) of the invariants the mathematics guarantees.

* transforms: Parseval, linearity and the shift theorem of ``grid_fft`` and of the NUDFT;
* kernels: symmetry and positive semi-definiteness of every kernel fpjax computes (empirical NTK,
  infinite NTK/NNGP, the LFP kernel, sphere dot-product kernels, init-bias kernel matrices);
* curvature: symmetry of Hessian- and Gauss-Newton-vector products, ``vᵀHw = wᵀHv``;
* sweeps: ``sweep`` = separate fits, for random chunkings (``slow``: one compile per chunk size).

Everything runs in float64 (``@pytest.mark.x64``, ε = 2.2e-16) so the tolerances are set by float64
rounding: an FFT/NUDFT of N points carries a relative error ~ ε·log₂N·‖f‖, a sum of N products
~ ε·N·Σ|terms|; we use 1e-9 relative to the norms involved (a margin of > 10³ over those bounds at
the sizes used here).

PSD tolerances (Weyl: |Δλ| ≤ ‖ΔK‖₂ ≤ n·max_ij |ΔK_ij| for an n×n rounding error ΔK):

* a kernel whose entries are sums of m rounded non-negative-weight terms (a Gram matrix J Jᵀ over
  P parameters, m = P; the LFP cosine sum over m frequencies) has |ΔK_ij| ≤ c·m·ε·√(K_ii K_jj) ≤
  c·m·ε·λ_max, so λ_min ≥ −c·n·m·ε·λ_max (c = 10 covers the rounding of each term);
* arc-cosine/arc-sine kernels (infinite ReLU/erf NTK and NNGP, the sphere kernels) evaluate
  θ = arccos t, whose derivative is unbounded at t = ±1: a rounding of t by ε moves θ by ~√(2ε), so
  |ΔK_ij| ≲ √ε·max|K| and λ_min ≥ −n·√ε·λ_max (observed: λ_min ≈ −7.5e−11 at λ_max ≈ 0.57 for
  the infinite ReLU NTK, where n·m·ε would fail).

Shapes are fixed so that every test compiles once; hypothesis draws only values and seeds.
Examples are few (settings below), derandomized, no deadline: reproducible and cheap.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fpjax.hessian as fhess
import fpjax.models as fmodels
import fpjax.ntk as fntk
import fpjax.spectrum as fspec
import fpjax.sphere as fsphere
import fpjax.train as ftrain
from fpjax.theory import init_bias, lfp

SETTINGS = settings(max_examples=6, deadline=None, derandomize=True, database=None)
RTOL = 1e-9
pytestmark = pytest.mark.x64

seeds = st.integers(min_value=0, max_value=2**31 - 1)


def _rng(seed):
    return np.random.default_rng(seed)


def _close(a, b, scale):
    """|a − b| ≤ RTOL · scale elementwise (scale: the size of the quantities being compared)."""
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=RTOL * max(float(scale), 1e-300))


# --------------------------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------------------------

N_GRID = 33  # odd: the centred frequencies are not symmetric about 0
grid = st.tuples(st.just(N_GRID), st.floats(-3.0, 3.0), st.floats(0.01, 2.0), seeds)


@SETTINGS
@given(grid)
def test_grid_fft_parseval(g):
    n, a, delta, seed = g
    x = a + delta * np.arange(n)
    f = _rng(seed).normal(size=n) + 1j * _rng(seed + 1).normal(size=n)
    spec = fspec.grid_fft(f, x)
    # ∫|f̂|² dξ = ∫|f|² dx on the grid: (1/(NΔ)) Σ_k |f̂_k|² = Δ Σ_j |f_j|²
    lhs = np.sum(np.abs(np.asarray(spec.coeffs)) ** 2) / (n * delta)
    rhs = delta * np.sum(np.abs(f) ** 2)
    _close(lhs, rhs, rhs)


@SETTINGS
@given(grid, st.floats(-5, 5), st.floats(-5, 5))
def test_grid_fft_linearity(g, alpha, beta):
    n, a, delta, seed = g
    x = a + delta * np.arange(n)
    f, h = _rng(seed).normal(size=(2, n))
    lhs = fspec.grid_fft(alpha * f + beta * h, x).coeffs
    rhs = alpha * fspec.grid_fft(f, x).coeffs + beta * fspec.grid_fft(h, x).coeffs
    _close(lhs, rhs, (abs(alpha) + abs(beta)) * delta * n * np.max(np.abs([f, h])))


@SETTINGS
@given(grid, st.integers(-10, 10))
def test_grid_fft_shift_theorem(g, m):
    n, a, delta, seed = g
    x = a + delta * np.arange(n)
    f = _rng(seed).normal(size=n)
    spec = fspec.grid_fft(f, x)
    shifted = fspec.grid_fft(np.roll(f, m), x)  # f(x − mΔ) on the periodic grid
    expected = np.asarray(spec.coeffs) * np.exp(-2j * np.pi * np.asarray(spec.freqs) * m * delta)
    _close(shifted.coeffs, expected, delta * np.sum(np.abs(f)))


points = st.tuples(st.just(20), st.just(5), seeds)  # 20 points, 5 frequencies


@SETTINGS
@given(points, st.floats(-4.0, 4.0))
def test_nudft_shift_theorem(p, s):
    n, k, seed = p
    r = _rng(seed)
    x, y = r.uniform(-2, 2, size=(n, 1)), r.normal(size=n)
    freqs = r.uniform(-5, 5, size=k)
    c = fspec.nudft(x, y, freqs, direction=[1.0])
    c_s = fspec.nudft(x + s, y, freqs, direction=[1.0])
    _close(c_s, np.asarray(c) * np.exp(-2j * np.pi * freqs * s), np.mean(np.abs(y)))


@SETTINGS
@given(points, st.floats(-5, 5), st.floats(-5, 5))
def test_nudft_linearity(p, alpha, beta):
    n, k, seed = p
    r = _rng(seed)
    x, y1, y2 = r.uniform(-2, 2, size=(n, 2)), r.normal(size=n), r.normal(size=n)
    freqs = r.uniform(-5, 5, size=k)
    d = [0.6, 0.8]
    lhs = fspec.nudft(x, alpha * y1 + beta * y2, freqs, direction=d)
    rhs = alpha * np.asarray(fspec.nudft(x, y1, freqs, direction=d)) + beta * np.asarray(
        fspec.nudft(x, y2, freqs, direction=d)
    )
    _close(lhs, rhs, (abs(alpha) + abs(beta)) * np.max(np.abs([y1, y2])))


@SETTINGS
@given(grid)
def test_nudft_parseval_on_a_uniform_grid_and_agrees_with_grid_fft(g):
    n, a, delta, seed = g
    x = a + delta * np.arange(n)
    y = _rng(seed).normal(size=n)
    k = np.fft.fftshift(np.fft.fftfreq(n, 1.0 / n))
    c = np.asarray(fspec.nudft(x[:, None], y, k / (n * delta), direction=[1.0]))
    # (1/n)-normalised DFT over all N frequencies: Σ_k |ŷ_k|² = (1/n) Σ_j |y_j|²
    _close(np.sum(np.abs(c) ** 2), np.sum(y**2) / n, np.sum(y**2) / n)
    # ... and it is grid_fft's coefficient divided by L = NΔ
    _close(c, np.asarray(fspec.grid_fft(y, x).coeffs) / (n * delta), np.max(np.abs(y)))


# --------------------------------------------------------------------------------------------
# kernels: symmetric and positive semi-definite
# --------------------------------------------------------------------------------------------

EPS = float(np.finfo(np.float64).eps)
N_K, D_K = 6, 2  # every kernel test: 6 points in 2 dimensions (one compile each)
MLP_K = fmodels.mlp((16, 1), "relu", init="ntk")
ERF_K = fmodels.mlp((16, 1), "erf", init="ntk")


def _num_params(params):
    return sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(params))


def _assert_psd(k, name, *, tol):
    """Symmetric to rounding, and λ_min ≥ −tol·λ_max (tol from the module docstring)."""
    k = np.asarray(k)
    assert k.ndim == 2 and k.shape[0] == k.shape[1], (name, k.shape)
    scale = np.max(np.abs(k))
    np.testing.assert_allclose(k, k.T, rtol=0, atol=RTOL * scale, err_msg=f"{name} not symmetric")
    lam = np.linalg.eigvalsh(0.5 * (k + k.T))
    assert lam[-1] > 0, f"{name}: λ_max = {lam[-1]}"
    assert lam[0] >= -tol * lam[-1], f"{name}: λ_min = {lam[0]}, λ_max = {lam[-1]}, tol = {tol}"


def _gram_tol(n, m, c=10):
    """Sums of m rounded terms: λ_min ≥ −c·n·m·ε·λ_max."""
    return c * n * m * EPS


def _arccos_tol(n):
    """Arc-cosine/arc-sine kernels: λ_min ≥ −n·√ε·λ_max."""
    return n * np.sqrt(EPS)


def _points(seed):
    return jnp.asarray(_rng(seed).normal(size=(N_K, D_K)))


@SETTINGS
@given(seeds)
def test_empirical_ntk_is_psd(seed):
    x = _points(seed)
    params = MLP_K.init(jax.random.key(seed), x)
    tol = _gram_tol(N_K, _num_params(params))
    _assert_psd(fntk.empirical_ntk(MLP_K, params, x), "empirical NTK", tol=tol)
    _assert_psd(fntk.empirical_ntk(MLP_K, params, x, implementation="nt"), "empirical NTK (nt)", tol=tol)


@SETTINGS
@given(seeds)
def test_infinite_ntk_and_nngp_are_psd(seed):
    x = _points(seed)
    for model, act in ((MLP_K, "relu"), (ERF_K, "erf")):
        ntk, nngp = fntk.infinite_ntk(model.kernel_fn, x, get=("ntk", "nngp"))
        _assert_psd(ntk, f"infinite NTK ({act})", tol=_arccos_tol(N_K))
        _assert_psd(nngp, f"infinite NNGP ({act})", tol=_arccos_tol(N_K))


LFP_KMAX = 3


@SETTINGS
@given(seeds)
def test_lfp_kernel_is_psd(seed):
    r = _rng(seed)
    x = r.uniform(0, 1, size=(N_K, D_K))
    gamma2 = r.uniform(0.01, 2.0, size=(2 * LFP_KMAX + 1,) * D_K)  # γ² > 0 on the frequency grid
    gamma2 = 0.5 * (gamma2 + gamma2[::-1, ::-1])  # even, γ²(k) = γ²(−k): a real kernel
    m = (2 * LFP_KMAX + 1) ** D_K
    _assert_psd(lfp.kernel_matrix(x, x, gamma2, k_max=LFP_KMAX), "LFP kernel", tol=_gram_tol(N_K, m))


SPHERE_D = 3


@SETTINGS
@given(seeds)
def test_sphere_dot_product_kernels_are_psd(seed):
    x = np.asarray(fsphere.sample_sphere(N_K, SPHERE_D, key=jax.random.key(seed)))
    t = np.clip(x @ x.T, -1.0, 1.0)
    _assert_psd(fsphere.relu_ntk(t), "sphere relu_ntk", tol=_arccos_tol(N_K))
    for order in (0, 1):
        _assert_psd(fsphere.arccos_kernel(t, order), f"arccos kernel order {order}", tol=_arccos_tol(N_K))


@SETTINGS
@given(seeds, st.sampled_from(["empirical", "infinite"]))
def test_init_bias_kernel_matrices_are_psd(seed, kernel):
    x = _points(seed)
    params = MLP_K.init(jax.random.key(seed), x)
    km = init_bias.network_kernels(MLP_K, params, x, x[:2], kernel=kernel)
    tol = _gram_tol(N_K, _num_params(params)) if kernel == "empirical" else _arccos_tol(N_K)
    _assert_psd(km.k_train_train, f"init_bias {kernel} k_train_train", tol=tol)
    # K(T, X) with T ⊂ X is the corresponding rows of K(X, X)
    np.testing.assert_allclose(
        km.k_test_train, np.asarray(km.k_train_train)[:2], rtol=0, atol=RTOL * np.max(np.abs(km.k_train_train))
    )


# --------------------------------------------------------------------------------------------
# curvature products: vᵀHw = wᵀHv
# --------------------------------------------------------------------------------------------

N_H = 6
MLP_H = fmodels.mlp((6, 1), "tanh")


def _tree_dot(a, b):
    return sum(float(jnp.vdot(u, z)) for u, z in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@SETTINGS
@given(seeds, st.sampled_from(["hessian", "ggn", "fisher"]))
def test_curvature_vector_products_are_symmetric(seed, curvature):
    r = _rng(seed)
    x = jnp.asarray(r.normal(size=(N_H, 2)))
    y = jnp.asarray(r.normal(size=(N_H, 1)))
    params = MLP_H.init(jax.random.key(seed), x)
    loss = fhess.model_loss(MLP_H.apply, x, y)
    leaves, tdef = jax.tree_util.tree_flatten(params)
    v = tdef.unflatten([jnp.asarray(r.normal(size=leaf.shape)) for leaf in leaves])
    w = tdef.unflatten([jnp.asarray(r.normal(size=leaf.shape)) for leaf in leaves])
    hv, hw = (fhess.hvp(loss, params, u, curvature=curvature) for u in (v, w))
    # |fl(wᵀHv) − wᵀHv| ≲ P·ε·‖H v‖‖w‖ (P parameters); RTOL = 1e-9 is a margin > 10³ over it
    scale = np.sqrt(_tree_dot(hv, hv) * _tree_dot(w, w)) + np.sqrt(_tree_dot(hw, hw) * _tree_dot(v, v))
    assert abs(_tree_dot(w, hv) - _tree_dot(v, hw)) <= RTOL * scale
    if curvature == "ggn":  # the dedicated GGN product is the same symmetric operator
        gv, gw = fhess.ggn_vp(loss, params, v), fhess.ggn_vp(loss, params, w)
        assert abs(_tree_dot(w, gv) - _tree_dot(v, gw)) <= RTOL * scale
        assert abs(_tree_dot(w, gv) - _tree_dot(w, hv)) <= RTOL * scale


# --------------------------------------------------------------------------------------------
# sweep = separate fits, whatever the chunking
# --------------------------------------------------------------------------------------------

X_SW = jnp.linspace(-1.0, 1.0, 8)[:, None]
Y_SW = jnp.sin(3.0 * X_SW)
MODEL_SW = fmodels.mlp((8, 1), "tanh")
N_SEEDS_SW = 4


def _fit_one(key):
    r = ftrain.fit(MODEL_SW.apply, MODEL_SW.init(key, X_SW), X_SW, Y_SW, optimizer=optax.sgd(0.05), steps=5)
    return {"loss": r.losses, "pred": MODEL_SW.apply(r.params, X_SW)[:, 0]}


_fit_one_jit = jax.jit(_fit_one)


@pytest.mark.slow  # ~17 s: one sweep compile per chunk size drawn
@settings(max_examples=4, deadline=None, derandomize=True, database=None)
@given(st.integers(1, N_SEEDS_SW), seeds)
def test_sweep_equals_separate_fits_for_any_chunking(chunk_size, seed):
    keys = jax.random.split(jax.random.key(seed), N_SEEDS_SW)
    res = ftrain.sweep(_fit_one, keys, chunk_size=chunk_size)
    whole = ftrain.sweep(_fit_one, keys)
    for k in ("loss", "pred"):
        # the chunking changes only which seeds share a vmapped call: the same arithmetic up to how
        # XLA vectorizes a batch of another size (jax 0.12 on CPU: 1 ulp of float32 in one of 20
        # values), so the bound is that of reassociation, as for a single run below
        np.testing.assert_allclose(res.outputs[k], whole.outputs[k], rtol=1e-5, atol=1e-7)
    for i in range(N_SEEDS_SW):
        single = _fit_one_jit(keys[i])
        for k in ("loss", "pred"):
            # the model is float32 (ε = 1.2e-7): a vmapped and a single run may differ by reassociation
            # only, a few ε per step over 5 steps (the bound tests/test_sweep.py uses)
            np.testing.assert_allclose(res.outputs[k][i], single[k], rtol=1e-5, atol=1e-7)
