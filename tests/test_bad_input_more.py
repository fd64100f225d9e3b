"""More bad-input cases: sphere, landscape, the testing helpers, kernels, sizes beyond memory.

Reuses the table machinery of ``tests/test_bad_input.py`` (``Entry``, the bad-variant generators):
each case asserts the exception type and that the message names the argument. Sizes beyond memory
are refused with a ``ValueError`` naming the size argument before anything is allocated (never a
``MemoryError``, an XLA abort or a run until killed). Value checks under ``jit``/``vmap`` are in
``tests/test_error_policy_validate.py``.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_bad_input import KEY, MLP, VARIANTS, Entry
from test_bad_input import test_bad_argument_is_refused_naming_it as _check_bad_argument
from test_bad_input import test_special_bad_input as _check_special

import fpjax.data as fdata
import fpjax.landscape as fland
import fpjax.ntk as fntk
import fpjax.spectrum as fspec
import fpjax.sphere as fsphere
import fpjax.testing as ftesting
from fpjax.theory import fpnorm, init_bias, tangent_fourier

X1 = jnp.linspace(-1.0, 1.0, 6)[:, None]
PARAMS = MLP.init(KEY, X1)
LOSS = lambda p: jnp.sum(jax.tree_util.tree_leaves(p)[0] ** 2)  # noqa: E731
PTS = np.asarray(fsphere.sample_sphere(8, 3, key=KEY), np.float64)
ERRS = np.exp(-np.arange(5.0)[:, None] * np.array([2.0, 1.0, 0.5]))  # low frequencies learned first
TRAJ = jnp.array([[2.0, 0.0, 0.0], [1.0, 0.3, 0.0], [0.5, 0.1, 0.2], [0.0, 0.0, 0.0]])
K3 = jnp.array([[2.0, 0.5, 0.1], [0.5, 2.0, 0.5], [0.1, 0.5, 2.0]])
Y3 = jnp.array([[1.0], [-1.0], [0.5]])

ENTRIES = [
    Entry(
        "sphere.arccos_kernel",
        fsphere.arccos_kernel,
        {"cos": jnp.array([0.0, 0.5]), "order": 1},
        {"cos": "finite"},
        positional=("cos", "order"),
        nan_out=True,  # a NaN cosine gives a NaN kernel value
    ),
    Entry(
        "sphere.legendre",
        fsphere.legendre,
        {"d": 3, "ell_max": 3, "cos": jnp.array([0.0, 0.5])},
        {"d": "size", "ell_max": "size", "cos": "finite"},
        positional=("d", "ell_max", "cos"),
        skip={"ell_max": ("zero",)},
        nan_out=True,
    ),
    Entry(
        "sphere.real_sph_harm",
        fsphere.real_sph_harm,
        {"ell": 2, "x": PTS},
        {"ell": "size", "x": "array"},
        positional=("ell", "x"),
        skip={"ell": ("zero",)},
    ),
    Entry(
        "sphere.funk_hecke",
        fsphere.funk_hecke,
        {"kernel": fsphere.relu_ntk, "d": 3, "ell_max": 4},
        {"d": "size", "ell_max": "size"},
        positional=("kernel", "d", "ell_max"),
        skip={"ell_max": ("zero",)},
    ),
    Entry(
        "sphere.sphere_quadrature",
        fsphere.sphere_quadrature,
        {"degree": 4},
        {"degree": "size"},
        positional=("degree",),
        skip={"degree": ("zero",)},
    ),
    Entry(
        "sphere.arccos_eigenvalues",
        fsphere.arccos_eigenvalues,
        {"d": 3, "ell_max": 4, "order": 1},
        {"d": "size", "ell_max": "size"},
        positional=("d", "ell_max", "order"),
        skip={"ell_max": ("zero",)},
    ),
    Entry(
        "landscape.slice_2d",
        fland.slice_2d,
        {
            "loss_fn": LOSS,
            "params": PARAMS,
            "d1": PARAMS,
            "d2": PARAMS,
            "alphas": jnp.linspace(-1, 1, 3),
            "betas": jnp.linspace(-1, 1, 2),
            "batch_size": 2,
        },
        {"alphas": "array", "betas": "array", "batch_size": "size"},
        positional=("loss_fn", "params", "d1", "d2"),
    ),
    Entry(
        "landscape.trajectory_pca",
        fland.trajectory_pca,
        {"trajectory": TRAJ},
        {"trajectory": "array"},
        positional=("trajectory",),
    ),
    Entry(
        "testing.assert_frequency_order",
        ftesting.assert_frequency_order,
        {"errors": ERRS, "freqs": [1.0, 2.0, 3.0], "threshold": 0.3},
        {"errors": "finite", "freqs": "array_len"},
        positional=("errors", "freqs"),
        skip={"errors": ("inf",)},  # inf is a diverged run's error: never below the threshold
    ),
    Entry(
        "testing.assert_seed_mean",
        ftesting.assert_seed_mean,
        {"values": jnp.ones((4, 2)) + 0.01 * jnp.arange(4.0)[:, None], "expected": 1.0, "atol": 1.0},
        {"values": "array"},
        positional=("values", "expected"),
    ),
    Entry(
        "fpnorm.l1_error-n_samples",
        fpnorm.l1_error,
        {"h": lambda x: x[:, 0], "f": lambda x: 0 * x[:, 0], "method": "monte_carlo", "key": KEY, "n_samples": 16},
        {"n_samples": "size"},
        positional=("h", "f"),
    ),
]


def _cases():
    out = []
    for e in ENTRIES:
        for arg, kind in e.kinds.items():
            for vname, gen in VARIANTS[kind].items():
                if vname not in e.skip.get(arg, ()):
                    out.append(pytest.param(e, arg, vname, gen, id=f"{e.name}-{arg}-{vname}"))
    return out


@pytest.mark.parametrize(("entry", "arg", "variant", "gen"), _cases())
def test_bad_argument_is_refused_naming_it_more(entry, arg, variant, gen):
    _check_bad_argument(entry, arg, variant, gen)


E3 = np.eye(3)
BIG = 10**11


def _special():
    nan_hides = ERRS[:, ::-1].copy()  # the order violated ...
    nan_hides[:, 0] = np.nan  # ... and a NaN column that would read as "never converged"
    return [
        # sphere: domains, one unit-point rule, complex values, degrees beyond the accurate range
        ("arccos_kernel-cos-5", lambda: fsphere.arccos_kernel(5.0, 1), ValueError, r"\bcos\b"),
        ("arccos_kernel-cos--1.1", lambda: fsphere.arccos_kernel(-1.1, 0), ValueError, r"\bcos\b"),
        ("relu_ntk-cos-2", lambda: fsphere.relu_ntk(np.array([0.5, 2.0])), ValueError, r"\bcos\b"),
        ("legendre-cos-3", lambda: fsphere.legendre(3, 2, 3.0), ValueError, r"\bcos\b"),
        ("arccos_kernel-complex", lambda: fsphere.arccos_kernel(np.array([0.5 + 0.1j]), 1), TypeError, r"\bcos\b"),
        ("relu_ntk-complex", lambda: fsphere.relu_ntk(0.5 + 0j), TypeError, r"\bcos\b"),
        ("real_sph_harm-x-not-unit", lambda: fsphere.real_sph_harm(2, 3 * E3), ValueError, r"\bx\b.*unit"),
        ("real_sph_harm-x-complex", lambda: fsphere.real_sph_harm(2, E3 + 0j), TypeError, r"\bx\b"),
        ("real_sph_harm-x-d4", lambda: fsphere.real_sph_harm(2, np.eye(4)), ValueError, r"\bx\b"),
        ("real_sph_harm-degree-700", lambda: fsphere.real_sph_harm(700, E3), ValueError, "degree"),
        ("real_sph_harm-degree-1e6", lambda: fsphere.real_sph_harm(10**6, E3), ValueError, "degree"),
        ("degree_energy-x-not-unit", lambda: fsphere.degree_energy(3 * PTS, PTS[:, 0], 2), ValueError, r"\bx\b.*unit"),
        ("degree_energy-f-complex", lambda: fsphere.degree_energy(PTS, PTS[:, 0] + 1j, 2), TypeError, r"\bf\b"),
        ("degree_energy-x-complex", lambda: fsphere.degree_energy(PTS + 0j, PTS[:, 0], 2), TypeError, r"\bx\b"),
        (
            "degree_energy-weights-complex",
            lambda: fsphere.degree_energy(PTS, PTS[:, 0], 2, weights=np.full(8, 1 / 8) + 0j),
            TypeError,
            r"\bweights\b",
        ),
        ("funk_hecke-complex-kernel", lambda: fsphere.funk_hecke(lambda c: c + 1j, 3, 2), TypeError, r"\bkernel\b"),
        (
            "dot_product_kernel-cos-2",
            lambda: fsphere.dot_product_kernel(fntk_model(), 3)(np.array([2.0])),
            ValueError,
            r"\bcos\b",
        ),
        # sizes beyond memory: refused before allocating, naming the argument
        ("sample_sphere-n-1e10", lambda: fsphere.sample_sphere(10**10, 3, key=KEY), ValueError, r"\bn\b"),
        ("sample_sphere-d-1e9", lambda: fsphere.sample_sphere(10, 10**9, key=KEY), ValueError, r"\bd\b"),
        (
            "upscale_images-size",
            lambda: fdata.upscale_images(np.zeros((2, 8, 8, 3), np.float32), size=10**5),
            ValueError,
            r"\bsize\b",
        ),
        ("legendre-ell_max", lambda: fsphere.legendre(3, BIG, 0.5), ValueError, r"\bell_max\b"),
        ("arccos_eigenvalues-ell_max", lambda: fsphere.arccos_eigenvalues(3, BIG, 1), ValueError, r"\bell_max\b"),
        ("relu_ntk_eigenvalues-ell_max", lambda: fsphere.relu_ntk_eigenvalues(3, BIG), ValueError, r"\bell_max\b"),
        ("sphere_quadrature-degree", lambda: fsphere.sphere_quadrature(10**7), ValueError, r"\bdegree\b"),
        ("funk_hecke-ell_max", lambda: fsphere.funk_hecke(fsphere.relu_ntk, 3, 10**7), ValueError, r"\bell_max\b"),
        (
            "funk_hecke-n_quad",
            lambda: fsphere.funk_hecke(fsphere.relu_ntk, 3, 4, n_quad=BIG),
            ValueError,
            r"\bn_quad\b",
        ),
        ("degree_energy-ell_max", lambda: fsphere.degree_energy(PTS, PTS[:, 0], 10**9), ValueError, r"\bell_max\b"),
        ("window_weights-n", lambda: fspec.window_weights(BIG, "hann"), ValueError, r"\bn\b"),
        ("planck_taper-n", lambda: tangent_fourier.planck_taper(BIG), ValueError, r"\bn\b"),
        ("gaussian_taper-n", lambda: tangent_fourier.gaussian_taper(BIG), ValueError, r"\bn\b"),
        ("evaluate_on_grid-n_grid", lambda: fpnorm.evaluate_on_grid(jnp.ones(5), BIG), ValueError, r"\bn_grid\b"),
        (
            "l1_error-n_grid",
            lambda: fpnorm.l1_error(lambda x: x[:, 0], lambda x: 0 * x[:, 0], n_grid=BIG),
            ValueError,
            r"\bn_grid\b",
        ),
        (
            "slice_2d-alphas",
            lambda: fland.slice_2d(LOSS, PARAMS, PARAMS, PARAMS, alphas=jnp.zeros(10**6), betas=jnp.zeros(10**6)),
            ValueError,
            r"\balphas\b",
        ),
        (
            "theorem3_monte_carlo-n_inits",
            lambda: init_bias.theorem3_monte_carlo(
                MLP, X1, jnp.sin(X1[:, 0]), X1[:2], jnp.sin(X1[:2, 0]), key=KEY, n_inits=10**12
            ),
            ValueError,
            r"\bn_inits\b",
        ),
        # landscape
        (
            "slice_1d-alphas-complex",
            lambda: fland.slice_1d(LOSS, PARAMS, PARAMS, alphas=jnp.array([0.5j])),
            TypeError,
            r"\balphas\b",
        ),
        ("trajectory_pca-constant", lambda: fland.trajectory_pca(jnp.ones((5, 3))), ValueError, r"\btrajectory\b"),
        (
            "trajectory_pca-line",
            lambda: fland.trajectory_pca(jnp.outer(jnp.arange(5.0), jnp.ones(3))),
            ValueError,
            r"\btrajectory\b",
        ),
        # kernels
        (
            "kernel_flow-nonsymmetric",
            lambda: fntk.kernel_flow(K3.at[0, 2].set(5.0), Y3, 1.0),
            ValueError,
            r"\bk_train_train\b",
        ),
        ("kernel_flow-complex", lambda: fntk.kernel_flow(K3 + 0j, Y3, 1.0), TypeError, r"\bk_train_train\b"),
        ("kernel_flow-t-complex", lambda: fntk.kernel_flow(K3, Y3, 1.0 + 1j), TypeError, r"\bt\b"),
        (
            "kernel_interpolate-nonsymmetric",
            lambda: init_bias.kernel_interpolate(K3.at[0, 2].set(5.0), K3[:1], Y3),
            ValueError,
            r"\bk_train_train\b",
        ),
        ("apriori_bound-complex", lambda: fpnorm.apriori_bound(1j, 1.0, 1.0, 10.0, 0.1), TypeError, r"\bf_sup\b"),
        # testing helpers: a NaN anywhere, or nothing compared, never passes
        (
            "frequency_order-all-nan",
            lambda: ftesting.assert_frequency_order(np.full((5, 3), np.nan), [1, 2, 3], threshold=0.3),
            ValueError,
            r"\berrors\b",
        ),
        (
            "frequency_order-nan-hides",
            lambda: ftesting.assert_frequency_order(nan_hides, [1, 2, 3], threshold=0.3),
            ValueError,
            r"\berrors\b",
        ),
        (
            "frequency_order-all-censored",
            lambda: ftesting.assert_frequency_order(np.ones((5, 3)), [1, 2, 3], threshold=0.3),
            AssertionError,
            "no seed gives information",
        ),
        (
            "frequency_order-freqs-nan",
            lambda: ftesting.assert_frequency_order(ERRS, [1, np.nan, 3], threshold=0.3),
            ValueError,
            r"\bfreqs\b",
        ),
        (
            "seed_mean-nothing-compared",
            lambda: ftesting.assert_seed_mean(np.zeros((3, 0)), 0.0),
            ValueError,
            r"\bvalues\b",
        ),
        ("seed_mean-expected-nan", lambda: ftesting.assert_seed_mean(np.ones(3), np.nan), ValueError, r"\bexpected\b"),
        ("seed_mean-complex", lambda: ftesting.assert_seed_mean(np.ones(3) + 1j, 1.0), TypeError, r"\bvalues\b"),
        (
            "seed_fraction-nothing-compared",
            lambda: ftesting.assert_seed_fraction(np.zeros((3, 0), bool), fraction=0.5),
            ValueError,
            r"\bholds\b",
        ),
    ]


def fntk_model():
    from fpjax.models import mlp

    return mlp((64, 1), "relu", init="ntk", bias=False)


@pytest.mark.parametrize(("thunk", "exc", "match"), [pytest.param(*c[1:], id=c[0]) for c in _special()])
def test_special_bad_input_more(thunk, exc, match):
    _check_special(thunk, exc, match)


def test_cosines_within_rounding_are_clipped_not_refused():
    # x·y of float unit vectors may exceed 1 by a few ulp: that is a cosine of 1, not an error
    np.testing.assert_array_equal(fsphere.arccos_kernel(np.array([1 + 1e-12, -1 - 1e-12]), 0), [1.0, 0.0])
    assert fsphere.relu_ntk(1.0 + 1e-9) == 2.0


def test_real_sph_harm_is_finite_and_accurate_up_to_the_largest_degree():
    ell = fsphere.MAX_SPH_HARM_DEGREE
    x = np.concatenate([np.eye(3), PTS[:3]])  # poles and random points
    x = x / np.linalg.norm(x, axis=1, keepdims=True)  # exactly unit in float64: P_600 moves by ℓ² per unit of cos
    y = fsphere.real_sph_harm(ell, x)
    assert np.all(np.isfinite(y))
    ref = (2 * ell + 1) * fsphere.legendre(3, ell, np.clip(x @ x.T, -1, 1))[ell]
    # a sum of 2ℓ+1 products of size ≤ √(2ℓ+1): rounding ≲ (2ℓ+1)·ε·(2ℓ+1) ≈ 3e-10
    np.testing.assert_allclose(y @ y.T, ref, atol=1e-8 * (2 * ell + 1))


def test_deprecated_t_keyword_warns_and_gives_the_same_numbers():
    c = np.array([-0.3, 0.2, 0.9])
    with pytest.warns(DeprecationWarning, match="'t' is deprecated; use 'cos'"):
        old = fsphere.arccos_kernel(t=c, order=1)
    np.testing.assert_array_equal(old, fsphere.arccos_kernel(c, 1))
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(fsphere.relu_ntk(t=c), fsphere.relu_ntk(c))
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(fsphere.legendre(3, 4, t=c), fsphere.legendre(3, 4, c))
    with pytest.raises(TypeError, match="both 'cos' and its deprecated spelling 't'"):
        fsphere.relu_ntk(cos=c, t=c)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fsphere.relu_ntk(cos=c)  # the new spelling does not warn


def test_one_unit_point_rule_for_real_sph_harm_and_degree_energy():
    # norms within 1e-4 of 1 are points of the sphere for both functions; 1e-3 off is refused by both
    near = PTS * (1 + 5e-5)
    far = PTS * (1 + 1e-3)
    fsphere.real_sph_harm(2, near)
    fsphere.degree_energy(near, near[:, 0], 2)
    for fn in (lambda x: fsphere.real_sph_harm(2, x), lambda x: fsphere.degree_energy(x, x[:, 0], 2)):
        with pytest.raises(ValueError, match="unit vectors"):
            fn(far)


def test_integer_cosines_are_promoted():
    np.testing.assert_array_equal(fsphere.arccos_kernel(np.array([0, 1, -1]), 0), [0.5, 1.0, 0.0])
    assert math.isclose(float(fsphere.legendre(3, 2, np.array(1))[2]), 1.0)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_low_precision_inputs_are_promoted(dtype):
    c = jnp.array([-0.5, 0.0, 0.5, 1.0], dtype)  # exactly representable
    np.testing.assert_array_equal(fsphere.arccos_kernel(c, 1), fsphere.arccos_kernel(np.asarray(c, np.float64), 1))
    x = jnp.asarray(PTS, dtype)  # norms off by up to a few ulp of the dtype: still points of the sphere
    y = fsphere.real_sph_harm(1, x)
    assert y.dtype == np.float64 and np.all(np.isfinite(y))
    with pytest.raises(ValueError, match=r"\bcos\b"):
        fsphere.arccos_kernel(jnp.array([1.5], dtype), 0)


def test_energies_and_power_spectra_refuse_complex():
    from fpjax import spectrum as fspec_public

    for thunk, name in (
        (lambda: fspec_public.radial_profile(jnp.ones((4, 4)) + 0j), "power"),
        (lambda: fspec_public.ssr(jnp.array([1.0 + 1j]), 1.0), "e_hi_unreg"),
        (lambda: fspec_public.ssr_accumulation(0.0, 1.0, 0.0, jnp.array([1j])), "eT_reg"),
    ):
        with pytest.raises(TypeError, match=rf"\b{name}\b"):
            thunk()


def test_complex_points_and_targets_are_refused_naming_them():
    from fpjax.models import mlp

    model = mlp((8, 1), "tanh")
    params = model.init(KEY, X1)
    cases = [
        (lambda: fspec.nudft(X1 + 1j, X1[:, 0], jnp.array([1.0])), "x"),
        (lambda: fspec.fourier_coeffs(jnp.ones(8), jnp.arange(8) / 8 + 0j, jnp.array([1.0])), "x"),
        (lambda: fntk.empirical_ntk(model, params, X1 + 0j), "x1"),
        (lambda: fntk.empirical_ntk(model, params, X1, X1 + 0j), "x2"),
        (lambda: init_bias.kernel_interpolate(jnp.eye(6), jnp.eye(6)[:2], X1 + 1j), "y_train"),
        (lambda: tangent_fourier.kernel_spectrum(model, params, X1 + 0j, grid_size=8), "x"),
        (lambda: tangent_fourier.cost_grad(X1 + 0j, X1, loss="mse"), "f"),
        (lambda: fpnorm.fp_norm(jnp.ones(5) + 0j, jnp.ones(5) + 1j), "gamma2"),
    ]
    for thunk, name in cases:
        with pytest.raises(TypeError, match=rf"\b{name}\b must hold real numbers"):
            thunk()
