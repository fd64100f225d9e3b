"""Bad input for every public function: the rest of the API, and a completeness check.

Extends the tables of ``tests/test_bad_input.py`` (``Entry`` and its bad-variant generators, reused
here) and ``tests/test_bad_input_more.py`` to the public functions they did not reach. Each case
asserts the exception type (``ValueError``/``TypeError``) and that the message names the argument.
Array-valued value checks of jittable functions give one outcome eagerly, under ``jit`` and under
``vmap`` (the helpers of ``tests/test_error_policy.py``); NaN input gives NaN out or an error, never
a finite number, in all three modes.

``test_every_public_function_has_a_bad_input_case`` collects the function names of all the tables
and fails for a public function (in a module's ``__all__``) that has no case and no entry in
``EXEMPT`` (with the reason), so a new public function cannot land untested.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import test_bad_input as base
import test_bad_input_more as more
from test_bad_input import CNN, CNN_VARS, K6, KEY, LOSS_FN, MLP, MOMENTS, PARAMS, VARIANTS, VG, X1, X_IMG, XG, Y1, Entry
from test_bad_input import test_bad_argument_is_refused_naming_it as _check_bad_argument
from test_bad_input import test_special_bad_input as _check_special
from test_error_policy import _modes, table_tests

import fpjax.cnn as fcnn
import fpjax.data as fdata
import fpjax.distributed as fdist
import fpjax.experiment as fexp
import fpjax.hessian as fhess
import fpjax.landscape as fland
import fpjax.models as fmodels
import fpjax.ntk as fntk
import fpjax.spectrum as fspec
import fpjax.sphere as fsphere
import fpjax.testing as ftesting
import fpjax.train as ftrain
from fpjax.theory import fpnorm, init_bias, lfp
from fpjax.theory import tangent_fourier as tf

NAN = math.nan
P3 = jnp.ones(3)
YI = jnp.array([0, 1])  # labels of the two images X_IMG


def _quad(p):
    return 0.5 * jnp.sum(jnp.arange(1.0, 4.0) * p**2)


ERRS = np.exp(-np.arange(5.0)[:, None] * np.array([2.0, 1.0, 0.5]))
CONV = {"conv": {"kernel": jnp.ones((3, 3, 1, 2))}}
FR = np.arange(1.0, 9.0)
KH = FR**-2.0
NODES = jnp.array([[0.5, 1.0, 2.0]])
QW = jnp.full((1, 3), 1 / 3)
GRID = jnp.linspace(0.0, 2.5, 5)
OP = jnp.ones((2, 6)) / 6  # a (test, train) interpolation operator
SERIES = jnp.ones(5, jnp.complex64)  # Fourier coefficients on |k| <= 2
LFP_MODEL = fmodels.two_layer_relu(16)
LFP_PARAMS = LFP_MODEL.init(KEY, X1)
KSPEC = tf.kernel_spectrum(MLP, PARAMS, X1, grid_size=16)


def _ok_fn(x):
    return MLP.apply(PARAMS, x)


# --------------------------------------------------------------------------------------------
# table entries: one argument at a time, every bad variant of its kind
# --------------------------------------------------------------------------------------------

ENTRIES = [
    Entry("train.make_loss", ftrain.make_loss, {"apply": MLP.apply, "loss": "mse"}, {"loss": "choice"}),
    Entry(
        "spectrum.coeffs_at",
        fspec.coeffs_at,
        {"coeffs": jnp.ones(5), "k": jnp.array([0, 1]), "ndim": 1},
        {"ndim": "size"},
        positional=("coeffs", "k"),
    ),
    Entry(
        "spectrum.conv_layer_high_freq_energy",
        fspec.conv_layer_high_freq_energy,
        {"params": CONV, "pad": 8, "r_c": 2.0},
        {"pad": "size", "r_c": "nonneg"},
        positional=("params",),
    ),
    Entry("spectrum.conv_layer_profiles", fspec.conv_layer_profiles, {"params": CONV, "pad": 8}, {"pad": "size"}),
    Entry(
        "spectrum.convergence_times",
        fspec.convergence_times,
        {"errors": ERRS, "threshold": 0.3},
        {"threshold": "pos"},
        positional=("errors", "threshold"),
    ),
    Entry(
        "spectrum.principal_direction",
        fspec.principal_direction,
        {"x": X1},
        {"x": "array"},
        positional=("x",),
    ),
    Entry(
        "spectrum.input_gradient_histogram",
        fspec.input_gradient_histogram,
        {"apply_fn": _ok_fn, "x": X1, "bins": 5, "batch_size": 3},
        {"x": "array", "batch_size": "size"},
        positional=("apply_fn", "x"),
        skip={"x": ("rank3",)},  # x is any batch (n, ...): a rank-3 batch is valid input
    ),
    Entry(
        "sphere.multiplicity",
        fsphere.multiplicity,
        {"d": 3, "ell": 2},
        {"d": "size"},
        positional=("d", "ell"),
        match={"d": r"\bd\b"},
    ),
    Entry(
        "ntk.empirical_ntk_fn",
        fntk.empirical_ntk_fn,
        {"apply": MLP, "implementation": "auto"},
        {"implementation": "choice"},
        positional=("apply",),
    ),
    Entry(
        "ntk.ntk_matvec",
        fntk.ntk_matvec,
        {"apply": MLP, "params": PARAMS, "x": X1, "batch_size": 2},
        {"x": "array", "batch_size": "size"},
        positional=("apply", "params", "x"),
    ),
    Entry(
        "ntk.frobenius_norm",
        fntk.frobenius_norm,
        {"matvec": lambda v: K6 @ v, "vectors": jnp.eye(6)[:, :2], "key": KEY, "num_probes": 2},
        {"key": "key", "num_probes": "size"},
        positional=("matvec", "vectors"),
    ),
    Entry(
        "ntk.ntk_record",
        fntk.ntk_record,
        {"apply": MLP, "x_train": X1, "y_train": Y1, "k": 1, "key": KEY},
        {"x_train": "array", "k": "size", "key": "key"},
        positional=("apply", "x_train", "y_train"),
    ),
    Entry(
        "ntk.predict_linearized",
        fntk.predict_linearized,
        {"apply": MLP, "params": PARAMS, "x_train": X1, "y_train": Y1, "t": 1.0},
        {"t": "time"},
        positional=("apply", "params", "x_train", "y_train", "t"),
    ),
    Entry(
        "hessian.curvature_recorder",
        fhess.curvature_recorder,
        {"loss_fn": _quad, "key": KEY, "num_iters": 2, "num_probes": 2, "curvature": "hessian"},
        {"key": "key", "num_iters": "size", "num_probes": "size", "curvature": "choice"},
        positional=("loss_fn",),
    ),
    Entry(
        "hessian.dense_hessian",
        fhess.dense_hessian,
        {"loss_fn": _quad, "params": P3, "curvature": "hessian", "batch_size": 2},
        {"curvature": "choice", "batch_size": "size"},
        positional=("loss_fn", "params"),
    ),
    Entry(
        "hessian.density_from_quadrature",
        fhess.density_from_quadrature,
        {"nodes": NODES, "weights": QW, "grid": GRID, "sigma": 0.1},
        {"grid": "array", "sigma": "pos"},
        positional=("nodes", "weights", "grid", "sigma"),
    ),
    Entry(
        "hessian.layer_curvature",
        fhess.layer_curvature,
        {"loss_fn": _quad, "params": P3, "key": KEY, "curvature": "hessian", "num_probes": 2, "num_iters": 2},
        {"key": "key", "curvature": "choice", "num_probes": "size", "num_iters": "size"},
        positional=("loss_fn", "params"),
    ),
    Entry(
        "hessian.top_eigenpairs",
        fhess.top_eigenpairs,
        {"loss_fn": _quad, "params": P3, "key": KEY, "k": 1, "curvature": "hessian"},
        {"key": "key", "k": "size", "curvature": "choice"},
        positional=("loss_fn", "params"),
    ),
    Entry(
        "landscape.eigen_directions",
        fland.eigen_directions,
        {"loss_fn": _quad, "params": P3, "key": KEY, "num_iters": 3, "curvature": "hessian"},
        {"key": "key", "num_iters": "size", "curvature": "choice"},
        positional=("loss_fn", "params"),
    ),
    Entry(
        "cnn.spatial_kernels", fcnn.spatial_kernels, {"params": CNN_VARS["params"], "min_size": 2}, {"min_size": "size"}
    ),
    Entry(
        "cnn.train_cnn",
        fcnn.train_cnn,
        {
            "model": CNN,
            "variables": CNN_VARS,
            "x_train": X_IMG,
            "y_train": YI,
            "key": KEY,
            "epochs": 1,
            "batch_size": 2,
        },
        {"key": "key", "batch_size": "size", "x_train": "array_len"},
        positional=("model", "variables", "x_train", "y_train"),
    ),
    Entry(
        "cnn.pretrain_shuffled_labels",
        fcnn.pretrain_shuffled_labels,
        {"model": CNN, "variables": CNN_VARS, "x": X_IMG, "y": YI, "key": KEY, "epochs": 1, "batch_size": 2},
        {"key": "key"},
        positional=("model", "variables", "x", "y"),
    ),
    Entry("data.load_diabetes", fdata.load_diabetes, {"split": "train"}, {"split": "choice"}),
    Entry(
        "data.load_digits",
        fdata.load_digits,
        {"split": "train", "size": 16, "channels": 1},
        {"split": "choice", "size": "size", "channels": "size"},
    ),
    Entry("data.load_sample_photo", fdata.load_sample_photo, {"name": "china"}, {"name": "choice"}),
    Entry(
        "testing.assert_decay_rate",
        ftesting.assert_decay_rate,
        {"freqs": FR, "magnitudes": KH, "exponent": 2.0, "tol": 0.1},
        {"magnitudes": "array_len", "tol": "nonneg"},
        positional=("freqs", "magnitudes", "exponent"),
    ),
    Entry(
        "testing.assert_kernel_close",
        ftesting.assert_kernel_close,
        {"empirical": K6, "expected": K6, "width": 64, "rtol": 8.0},
        {"empirical": "finite", "expected": "finite", "width": "size", "rtol": "nonneg"},
        positional=("empirical", "expected"),
    ),
    Entry(
        "testing.assert_spectra_close",
        ftesting.assert_spectra_close,
        {"values": VG, "expected_values": VG, "x": XG, "freqs": jnp.array([1.0, 2.0]), "floor": 1e-3},
        {"values": "finite", "expected_values": "finite", "x": "finite", "floor": "nonneg"},
        positional=("values", "expected_values", "x", "freqs"),
    ),
    Entry(
        "lfp.predict_regime",
        lfp.predict_regime,
        {"moments": MOMENTS, "x": X1, "factor": 3.0},
        {"x": "array", "factor": "pos"},
        positional=("moments", "x"),
    ),
    Entry(
        "lfp.gamma2_on_grid",
        lfp.gamma2_on_grid,
        {"gamma2": lambda k: 1.0 + jnp.sum(k**2, -1), "d": 1, "k_max": 2, "period": 1.0},
        {"d": "size", "period": "pos"},
        positional=("gamma2", "d"),
    ),
    Entry(
        "lfp.evaluate_series",
        lfp.evaluate_series,
        {"coeffs": SERIES, "x": XG, "period": 1.0},
        {"x": "finite", "period": "pos"},
        positional=("coeffs", "x"),
    ),
    Entry(
        "lfp.coefficients_from_function",
        lfp.coefficients_from_function,
        {"fn": lambda x: x[:, 0], "k_max": 2, "d": 1, "period": 1.0},
        {"d": "size", "period": "pos"},
        positional=("fn", "k_max", "d"),
    ),
    Entry(
        "lfp.coefficients_from_values",
        lfp.coefficients_from_values,
        {"values": VG, "k_max": 2, "period": 1.0},
        {"values": "finite", "period": "pos"},
        positional=("values", "k_max"),
    ),
    Entry(
        "lfp.predict",
        lfp.predict,
        {"model": LFP_MODEL, "params": LFP_PARAMS, "x_train": X1, "y_train": Y1, "t": 1.0},
        {"x_train": "finite", "y_train": "array_len", "t": "time"},
        positional=("model", "params", "x_train", "y_train", "t"),
    ),
    Entry(
        "fpnorm.gamma_l2_norm",
        fpnorm.gamma_l2_norm,
        {"gamma2": jnp.ones(5), "d": 1},
        {"gamma2": "finite", "d": "size"},
        positional=("gamma2", "d"),
    ),
    Entry(
        "fpnorm.evaluate_series",
        fpnorm.evaluate_series,
        {"coeffs": SERIES, "x": XG, "period": 1.0},
        {"period": "pos"},
        positional=("coeffs", "x"),
    ),
    Entry(
        "init_bias.interpolation_operator",
        init_bias.interpolation_operator,
        {"k_train_train": K6, "k_test_train": K6[:2], "solver": "eigh", "jitter": 0.0},
        {"k_train_train": "array", "k_test_train": "finite", "solver": "choice", "jitter": "nonneg"},
        positional=("k_train_train", "k_test_train"),
    ),
    Entry(
        "init_bias.kernel_matrices",
        init_bias.kernel_matrices,
        {"kernel": lambda a, b: a @ b.T, "x_train": X1, "x_test": X1[:2]},
        {"x_train": "array", "x_test": "array"},
        positional=("kernel", "x_train", "x_test"),
    ),
    Entry(
        "init_bias.network_decomposition",
        init_bias.network_decomposition,
        {
            "model": MLP,
            "params": PARAMS,
            "x_train": X1,
            "y_train": Y1,
            "x_test": X1[:2],
            "kernel": "empirical",
            "solver": "eigh",
        },
        {"y_train": "array_len", "x_test": "finite", "kernel": "choice", "solver": "choice"},
        positional=("model", "params", "x_train", "y_train", "x_test"),
    ),
    Entry(
        "init_bias.gp_bias_error",
        init_bias.gp_bias_error,
        {"operator": OP, "cov_test_test": jnp.eye(2), "cov_test_train": K6[:2], "cov_train_train": K6, "n_outputs": 1},
        {"cov_test_test": "finite", "n_outputs": "size"},
        positional=("operator", "cov_test_test", "cov_test_train", "cov_train_train"),
    ),
    Entry(
        "tangent_fourier.measured_dfhat",
        tf.measured_dfhat,
        {"apply": MLP, "params": PARAMS, "x": X1, "y": Y1, "axes": KSPEC.axes, "method": "finite_difference"},
        {"y": "finite", "method": "choice"},
        positional=("apply", "params", "x", "y", "axes"),
    ),
    Entry(
        "tangent_fourier.fit_decay",
        tf.fit_decay,
        {"freqs": KSPEC.freqs, "kernel_hat": KSPEC.kernel_hat, "band": (0.2, 0.6)},
        {"kernel_hat": "finite"},
        positional=("freqs", "kernel_hat"),
    ),
    Entry(
        "tangent_fourier.high_frequency_ratio",
        tf.high_frequency_ratio,
        {"freqs": KSPEC.freqs, "kernel_hat": KSPEC.kernel_hat},
        {"kernel_hat": "finite"},
        positional=("freqs", "kernel_hat"),
    ),
    Entry(
        "experiment.run_experiment",
        fexp.run_experiment,
        {"name": "fp-1d", "setting": "quick", "write": False},
        {"setting": "choice"},
        positional=("name",),
    ),
    Entry(
        "experiment.seed_key",
        fexp.seed_key,
        {"seed": 0},
        {"seed": "size"},
        positional=("seed",),
        skip={"seed": ("zero",)},
    ),
    Entry(
        "distributed.launch_local",
        fdist.launch_local,
        {"n": 2, "argv": ["list"]},
        {"n": "size"},
        positional=("n", "argv"),
        skip={"n": ("string",)},  # "4" is read as 4, as from an environment variable (it would launch)
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


CASES = _cases()


@pytest.mark.parametrize(("entry", "arg", "variant", "gen"), CASES)
def test_bad_argument_is_refused_naming_it_all(entry, arg, variant, gen):
    _check_bad_argument(entry, arg, variant, gen)


# --------------------------------------------------------------------------------------------
# hand-written cases: "module.function-what", the call, the exception, a regex naming the argument
# --------------------------------------------------------------------------------------------


# Results the plotting cases need, computed when a test first asks (not at collection, in every worker).
@functools.cache
def _slice_1d():
    return fland.slice_1d(_quad, P3, P3, alphas=jnp.linspace(-1, 1, 3))


@functools.cache
def _slice_2d():
    return fland.slice_2d(_quad, P3, P3, P3, alphas=jnp.linspace(-1, 1, 3), betas=jnp.linspace(-1, 1, 3))


@functools.cache
def _convergence_times():
    return fspec.convergence_times(ERRS, 0.3)


def _special():
    tmp = "/nonexistent-fpjax-folder"
    return [
        # ---- train / models
        ("train.diverged_mask-string-leaf", lambda: ftrain.diverged_mask({"a": "abc"}), ValueError, r"\boutputs\b"),
        ("train.diverged_mask-scalar-leaf", lambda: ftrain.diverged_mask(jnp.array(1.0)), ValueError, r"\boutputs\b"),
        (
            "train.diverged_mask-ragged",
            lambda: ftrain.diverged_mask({"a": jnp.ones(3), "b": jnp.ones(2)}),
            ValueError,
            r"\boutputs\b",
        ),
        ("train.make_loss-apply-int", lambda: ftrain.make_loss(3, "mse"), TypeError, r"\bapply\b"),
        ("models.num_params-string-leaf", lambda: fmodels.num_params({"w": "abc"}), TypeError, r"\btree\b"),
        ("hessian.num_params-object-leaf", lambda: fhess.num_params([object()]), TypeError, r"\btree\b"),
        ("cnn.num_params-string-leaf", lambda: fcnn.num_params({"w": "abc"}), TypeError, r"\btree\b"),
        # ---- spectrum
        ("spectrum.coeffs_at-k-float", lambda: fspec.coeffs_at(jnp.ones(5), jnp.array([0.5])), TypeError, r"\bk\b"),
        ("spectrum.coeffs_at-k-range", lambda: fspec.coeffs_at(jnp.ones(5), jnp.array([7])), ValueError, r"\bk\b"),
        ("spectrum.conv_kernels-batch_ndim", lambda: fspec.conv_kernels(CONV, batch_ndim=-1), ValueError, "batch_ndim"),
        (
            "spectrum.conv_kernels-no-conv",
            lambda: fspec.conv_kernels({"d": {"kernel": jnp.ones((3, 2))}}),
            ValueError,
            "params",
        ),
        (
            "spectrum.conv_layer_profiles-nan",
            lambda: fspec.conv_layer_profiles({"c": {"kernel": CONV["conv"]["kernel"].at[0, 0, 0, 0].set(NAN)}}, 8),
            ValueError,
            r"\bw\b",
        ),
        (
            "spectrum.convergence_times-confidence",
            lambda: fspec.convergence_times(ERRS, 0.3, confidence=1.5),
            ValueError,
            "confidence",
        ),
        (
            "spectrum.convergence_times-steps",
            lambda: fspec.convergence_times(ERRS, 0.3, steps=np.arange(3)),
            ValueError,
            r"\bsteps\b",
        ),
        (
            "spectrum.convergence_times-errors-str",
            lambda: fspec.convergence_times("abc", 0.3),
            TypeError,
            r"\berrors\b",
        ),
        (
            "spectrum.high_freq_energy-radii-empty",
            lambda: fspec.high_freq_energy(jnp.ones(5), jnp.zeros(0)),
            ValueError,
            "radii",
        ),
        (
            "spectrum.high_freq_energy-profile-nan",
            lambda: fspec.high_freq_energy(jnp.ones(6).at[0].set(NAN), jnp.arange(6.0), 2.0, pad=8),
            ValueError,
            "profile",
        ),
        (
            "spectrum.high_freq_energy-r_c",
            lambda: fspec.high_freq_energy(jnp.ones(6), jnp.arange(6.0), -2.0, pad=8),
            ValueError,
            "r_c",
        ),
        (
            "spectrum.input_gradient_histogram-apply_fn",
            lambda: fspec.input_gradient_histogram(3, X1),
            TypeError,
            "apply_fn",
        ),
        (
            "spectrum.input_gradient_histogram-bins",
            lambda: fspec.input_gradient_histogram(_ok_fn, X1, 0),
            ValueError,
            "bins",
        ),
        (
            "spectrum.input_gradient_histogram-range",
            lambda: fspec.input_gradient_histogram(_ok_fn, X1, 5, range=(NAN, 1.0)),
            ValueError,
            r"\brange\b",
        ),
        (
            "spectrum.periodic_amplitudes-nan",
            lambda: fspec.periodic_amplitudes(VG.at[0].set(NAN), XG, wavenumbers=jnp.array([1])),
            ValueError,
            "values",
        ),
        (
            "spectrum.periodic_amplitudes-wavenumbers",
            lambda: fspec.periodic_amplitudes(VG, XG, wavenumbers=jnp.array([9])),
            ValueError,
            r"\bwavenumbers\b",
        ),
        (
            "spectrum.periodic_amplitudes-period",
            lambda: fspec.periodic_amplitudes(VG, XG, wavenumbers=jnp.array([1]), period=NAN),
            ValueError,
            "period",
        ),
        (
            "spectrum.periodic_amplitudes-freqs-nan",
            lambda: fspec.periodic_amplitudes(VG, XG, freqs=jnp.array([NAN])),
            ValueError,
            "freqs",
        ),
        (
            "spectrum.plot_spectrum-mismatch",
            lambda: fspec.plot_spectrum(jnp.arange(3.0), jnp.ones(4)),
            ValueError,
            "spectra",
        ),
        ("spectrum.plot_spectrum-empty", lambda: fspec.plot_spectrum(jnp.zeros(0), jnp.ones(0)), ValueError, "freqs"),
        (
            "spectrum.plot_relative_error_heatmap-mismatch",
            lambda: fspec.plot_relative_error_heatmap(jnp.ones((3, 4)), jnp.arange(2), jnp.arange(4)),
            ValueError,
            "delta_f",
        ),
        (
            "spectrum.plot_filter_errors-mismatch",
            lambda: fspec.plot_filter_errors(jnp.arange(3), jnp.ones(4), jnp.ones(3)),
            ValueError,
            "e_low",
        ),
        (
            "spectrum.plot_radial_profiles-mismatch",
            lambda: fspec.plot_radial_profiles(jnp.ones((2, 3, 5)), jnp.arange(4)),
            ValueError,
            "profiles",
        ),
        (
            "spectrum.plot_gradient_histograms-empty",
            lambda: fspec.plot_gradient_histograms([]),
            ValueError,
            "histograms",
        ),
        (
            "spectrum.plot_gradient_histograms-string",
            lambda: fspec.plot_gradient_histograms(["abc"]),
            TypeError,
            "histograms",
        ),
        (
            "spectrum.plot_convergence_times-type",
            lambda: fspec.plot_convergence_times({"a": 1}),
            TypeError,
            r"\btimes\b",
        ),
        (
            "spectrum.plot_convergence_times-rule",
            lambda: fspec.plot_convergence_times(_convergence_times(), rule="nope"),
            ValueError,
            r"\brule\b",
        ),
        (
            "spectrum.radial_profile-nan",
            lambda: fspec.radial_profile(jnp.ones((4, 4)).at[0, 0].set(NAN)),
            ValueError,
            "power",
        ),
        ("spectrum.ssr-nan", lambda: fspec.ssr(jnp.array([NAN]), jnp.array([1.0])), ValueError, "e_hi_unreg"),
        (
            "spectrum.ssr_accumulation-nan",
            lambda: fspec.ssr_accumulation(0.0, 1.0, 0.0, jnp.array([NAN])),
            ValueError,
            "eT_reg",
        ),
        ("spectrum.spearman-nan", lambda: fspec.spearman([1.0, NAN, 2.0], [1, 2, 3]), ValueError, r"\ba\b"),
        ("spectrum.spearman-lengths", lambda: fspec.spearman([1.0, 2.0], [1, 2, 3]), ValueError, r"\bb\b"),
        ("spectrum.spearman-string", lambda: fspec.spearman("abc", [1, 2, 3]), TypeError, r"\ba\b"),
        ("spectrum.spearman-rank2", lambda: fspec.spearman([1, 2, 3], np.ones((3, 2))), ValueError, r"\bb\b"),
        # ---- sphere
        (
            "sphere.model_eigenvalues-get",
            lambda: fsphere.model_eigenvalues(fsphere.relu_ntk, 3, 4, get="nope"),
            ValueError,
            r"\bget\b",
        ),
        ("sphere.model_eigenvalues-d", lambda: fsphere.model_eigenvalues(fsphere.relu_ntk, 1, 4), ValueError, r"\bd\b"),
        ("sphere.model_eigenvalues-kernel_fn", lambda: fsphere.model_eigenvalues(3, 3, 4), TypeError, "kernel_fn"),
        ("sphere.multiplicity-ell-negative", lambda: fsphere.multiplicity(3, -1), ValueError, r"\bell\b"),
        ("sphere.multiplicity-ell-fraction", lambda: fsphere.multiplicity(3, 1.5), ValueError, r"\bell\b"),
        ("sphere.multiplicity-ell-nan", lambda: fsphere.multiplicity(3, NAN), ValueError, r"\bell\b"),
        # ---- ntk
        ("ntk.empirical_ntk_fn-apply", lambda: fntk.empirical_ntk_fn(3), TypeError, r"\bapply\b"),
        (
            "ntk.predict_linearized-x_train-nan",
            lambda: fntk.predict_linearized(MLP, PARAMS, X1.at[0, 0].set(NAN), Y1, 1.0),
            ValueError,
            r"\bx1\b",
        ),
        (
            "ntk.predict_linearized-y_train-short",
            lambda: fntk.predict_linearized(MLP, PARAMS, X1, Y1[:-1], 1.0),
            ValueError,
            "y_train",
        ),
        ("ntk.ntk_matvec-x-nan", lambda: fntk.ntk_matvec(MLP, PARAMS, X1.at[0, 0].set(NAN)), ValueError, r"\bx\b"),
        ("ntk.ntk_eigh-k", lambda: fntk.ntk_eigh(MLP, PARAMS, X1, k=0, key=KEY), ValueError, r"\bk\b"),
        (
            "ntk.frobenius_norm-matvec",
            lambda: fntk.frobenius_norm(3, jnp.eye(6)[:, :2], key=KEY),
            TypeError,
            r"\bmatvec\b",
        ),
        (
            "ntk.frobenius_norm-vectors-rank1",
            lambda: fntk.frobenius_norm(lambda v: K6 @ v, jnp.ones(6), key=KEY),
            ValueError,
            r"\bvectors\b",
        ),
        (
            "ntk.ntk_record-x_train-nan",
            lambda: fntk.ntk_record(MLP, X1.at[0, 0].set(NAN), Y1, k=1, key=KEY),
            ValueError,
            "x_train",
        ),
        # ---- hessian
        (
            "hessian.batched_loss-weights-negative",
            lambda: fhess.batched_loss(lambda p, b: jnp.sum(p * b), jnp.ones((2, 3)), weights=jnp.array([1.0, -1.0])),
            ValueError,
            r"\bweights\b",
        ),
        (
            "hessian.batched_loss-weights-nan",
            lambda: fhess.batched_loss(lambda p, b: jnp.sum(p * b), jnp.ones((2, 3)), weights=jnp.array([1.0, NAN])),
            ValueError,
            r"\bweights\b",
        ),
        (
            "hessian.batched_loss-weights-short",
            lambda: fhess.batched_loss(lambda p, b: jnp.sum(p * b), jnp.ones((2, 3)), weights=jnp.array([1.0])),
            ValueError,
            r"\bweights\b",
        ),
        ("hessian.batched_loss-fn", lambda: fhess.batched_loss(3, jnp.ones((2, 3))), TypeError, "loss_on_batch"),
        (
            "hessian.batched_loss-empty",
            lambda: fhess.batched_loss(lambda p, b: jnp.sum(p * b), jnp.ones((0, 3))),
            ValueError,
            "batches",
        ),
        (
            "hessian.eigen_density-num_probes",
            lambda: fhess.eigen_density(_quad, P3, key=KEY, num_probes=0),
            ValueError,
            "num_probes",
        ),
        (
            "hessian.slq_quadrature-num_iters",
            lambda: fhess.slq_quadrature(_quad, P3, key=KEY, num_iters=0),
            ValueError,
            "num_iters",
        ),
        (
            "hessian.lanczos_tridiag-num_iters",
            lambda: fhess.lanczos_tridiag(lambda v: K6 @ v, jnp.ones(6), 0),
            ValueError,
            "num_iters",
        ),
        ("hessian.hessian_summary-key", lambda: fhess.hessian_summary(_quad, P3, key=0), TypeError, r"\bkey\b"),
        (
            "hessian.dense_eigenvalues-curvature",
            lambda: fhess.dense_eigenvalues(_quad, P3, curvature="nope"),
            ValueError,
            "curvature",
        ),
        (
            "hessian.dense_eigenvalues-max_params",
            lambda: fhess.dense_eigenvalues(_quad, P3, max_params=2),
            ValueError,
            "max_params",
        ),
        (
            "hessian.dense_hessian-params-nan",
            lambda: fhess.dense_hessian(_quad, P3.at[0].set(NAN)),
            ValueError,
            r"\bparams\b",
        ),
        (
            "hessian.density_from_quadrature-weights-negative",
            lambda: fhess.density_from_quadrature(NODES, -QW, GRID, 0.1),
            ValueError,
            r"\bweights\b",
        ),
        (
            "hessian.density_from_quadrature-weights-shape",
            lambda: fhess.density_from_quadrature(NODES, QW[:, :2], GRID, 0.1),
            ValueError,
            r"\bweights\b",
        ),
        ("hessian.fisher_vp-loss_fn", lambda: fhess.fisher_vp(_quad, P3, P3), TypeError, "loss_fn"),
        ("hessian.fisher_vp-v", lambda: fhess.fisher_vp(LOSS_FN, PARAMS, {"a": 1.0}), ValueError, r"\bv\b"),
        ("hessian.ggn_vp-loss_fn", lambda: fhess.ggn_vp(_quad, P3, P3), TypeError, "loss_fn"),
        ("hessian.ggn_vp-v", lambda: fhess.ggn_vp(LOSS_FN, PARAMS, P3), ValueError, r"\bv\b"),
        (
            "hessian.layer_curvature-density_probes",
            lambda: fhess.layer_curvature(_quad, P3, key=KEY, density_probes=-1),
            ValueError,
            "density_probes",
        ),
        (
            "hessian.layer_curvature-group_by",
            lambda: fhess.layer_curvature(_quad, P3, key=KEY, group_by=3),
            TypeError,
            "group_by",
        ),
        ("hessian.layer_groups-group_by", lambda: fhess.layer_groups(PARAMS, 3), TypeError, "group_by"),
        (
            "hessian.layer_groups-group_by-returns-int",
            lambda: fhess.layer_groups(PARAMS, lambda path: 3),
            TypeError,
            "group_by",
        ),
        (
            "hessian.plot_curvature_training-mismatch",
            lambda: fhess.plot_curvature_training(jnp.arange(3), jnp.ones(4), jnp.ones((3, 2)), jnp.arange(2)),
            ValueError,
            "top_eigenvalue",
        ),
        (
            "hessian.plot_eigen_density-mismatch",
            lambda: fhess.plot_eigen_density(jnp.arange(3.0), jnp.ones(4)),
            ValueError,
            "density",
        ),
        (
            "hessian.plot_eigen_density-floor",
            lambda: fhess.plot_eigen_density(jnp.arange(3.0), jnp.ones(3), floor=-1.0),
            ValueError,
            "floor",
        ),
        (
            "hessian.plot_eigen_density-ax",
            lambda: fhess.plot_eigen_density(jnp.arange(3.0), jnp.ones(3), ax=3),
            TypeError,
            r"\bax\b",
        ),
        ("hessian.plot_layer_curvature-type", lambda: fhess.plot_layer_curvature({"a": 1}), TypeError, r"\bresult\b"),
        (
            "hessian.top_eigenpairs-k-too-large",
            lambda: fhess.top_eigenpairs(_quad, P3, key=KEY, k=5),
            ValueError,
            r"\bk\b",
        ),
        # ---- landscape plots
        ("landscape.plot_landscape_1d-type", lambda: fland.plot_landscape_1d({"a": 1}), TypeError, r"\bresult\b"),
        ("landscape.plot_landscape_1d-slice2d", lambda: fland.plot_landscape_1d(_slice_2d()), TypeError, r"\bresult\b"),
        (
            "landscape.plot_landscape_contour-type",
            lambda: fland.plot_landscape_contour({"a": 1}),
            TypeError,
            r"\bresult\b",
        ),
        (
            "landscape.plot_landscape_contour-slice1d",
            lambda: fland.plot_landscape_contour(_slice_1d()),
            TypeError,
            r"\bresult\b",
        ),
        (
            "landscape.plot_landscape_contour-levels",
            lambda: fland.plot_landscape_contour(_slice_2d(), levels=0),
            ValueError,
            r"\blevels\b",
        ),
        (
            "landscape.plot_landscape_surface-slice1d",
            lambda: fland.plot_landscape_surface(_slice_1d()),
            TypeError,
            r"\bresult\b",
        ),
        # ---- cnn
        (
            "cnn.evaluate_cnn-rows",
            lambda: fcnn.evaluate_cnn(CNN, CNN_VARS, X_IMG, jnp.array([0])),
            ValueError,
            r"\by\b",
        ),
        ("cnn.cnn_variables-type", lambda: fcnn.cnn_variables({"a": 1}), TypeError, r"\bresult\b"),
        (
            "cnn.train_cnn-model",
            lambda: fcnn.train_cnn(3, CNN_VARS, X_IMG, YI, key=KEY, epochs=1, batch_size=2),
            TypeError,
            r"\bmodel\b",
        ),
        (
            "cnn.train_cnn-epochs",
            lambda: fcnn.train_cnn(CNN, CNN_VARS, X_IMG, YI, key=KEY, epochs=-1),
            ValueError,
            r"\bepochs\b",
        ),
        (
            "cnn.train_cnn-loop",
            lambda: fcnn.train_cnn(CNN, CNN_VARS, X_IMG, YI, key=KEY, epochs=1, batch_size=2, loop="x"),
            ValueError,
            r"\bloop\b",
        ),
        (
            "cnn.train_cnn-record",
            lambda: fcnn.train_cnn(CNN, CNN_VARS, X_IMG, YI, key=KEY, epochs=1, batch_size=2, record=3),
            TypeError,
            r"\brecord\b",
        ),
        (
            "cnn.train_cnn-stop_at_train_acc",
            lambda: fcnn.train_cnn(CNN, CNN_VARS, X_IMG, YI, key=KEY, epochs=1, batch_size=2, stop_at_train_acc=2.0),
            ValueError,
            "stop_at_train_acc",
        ),
        (
            "cnn.train_cnn-eval_every",
            lambda: fcnn.train_cnn(CNN, CNN_VARS, X_IMG, YI, key=KEY, epochs=1, batch_size=2, eval_every=0),
            ValueError,
            "eval_every",
        ),
        (
            "cnn.train_cnn-variables",
            lambda: fcnn.train_cnn(CNN, {"a": 1}, X_IMG, YI, key=KEY, epochs=1, batch_size=2),
            TypeError,
            "variables",
        ),
        (
            "cnn.train_cnn-optimizer",
            lambda: fcnn.train_cnn(CNN, CNN_VARS, X_IMG, YI, key=KEY, epochs=1, batch_size=2, optimizer=3),
            TypeError,
            "optimizer",
        ),
        (
            "cnn.train_cnn-labels",
            lambda: fcnn.train_cnn(CNN, CNN_VARS, X_IMG, jnp.array([0, 7]), key=KEY, epochs=1, batch_size=2),
            ValueError,
            "y_train",
        ),
        (
            "cnn.train_cnn-x_train-nan",
            lambda: fcnn.train_cnn(CNN, CNN_VARS, X_IMG.at[0, 0, 0, 0].set(NAN), YI, key=KEY, epochs=1, batch_size=2),
            ValueError,
            "x_train",
        ),
        (
            "cnn.pretrain_shuffled_labels-epochs",
            lambda: fcnn.pretrain_shuffled_labels(CNN, CNN_VARS, X_IMG, YI, key=KEY, epochs=-1),
            ValueError,
            r"\bepochs\b",
        ),
        (
            "cnn.pretrain_shuffled_labels-float-labels",
            lambda: fcnn.pretrain_shuffled_labels(CNN, CNN_VARS, X_IMG, jnp.array([0.0, NAN]), key=KEY, epochs=1),
            TypeError,
            r"\by_train\b",
        ),
        # ---- data (files: refused before anything is read or downloaded)
        ("data.load_cifar10-split", lambda: fdata.load_cifar10("val", data_dir=tmp), ValueError, r"\bsplit\b"),
        ("data.load_cifar10-data_dir", lambda: fdata.load_cifar10("train", data_dir=3), TypeError, "data_dir"),
        (
            "data.load_cifar100-label_mode",
            lambda: fdata.load_cifar100("train", data_dir=tmp, label_mode="x"),
            ValueError,
            "label_mode",
        ),
        (
            "data.load_tiny_imagenet-split",
            lambda: fdata.load_tiny_imagenet("x", data_dir=tmp),
            ValueError,
            r"\bsplit\b",
        ),
        (
            "data.load_tiny_imagenet-max_per_class",
            lambda: fdata.load_tiny_imagenet("train", data_dir=tmp, max_per_class=0),
            ValueError,
            "max_per_class",
        ),
        ("data.load_digits-size-0", lambda: fdata.load_digits(size=0), ValueError, r"\bsize\b"),
        ("data.resolve_data_dir-int", lambda: fdata.resolve_data_dir(3), TypeError, "data_dir"),
        ("data.safe_unpickle-str", lambda: fdata.safe_unpickle("abc"), TypeError, r"\bdata\b"),
        ("data.safe_unpickle-garbage", lambda: fdata.safe_unpickle(b"\x00garbage"), ValueError, "pickle"),
        ("data.standardize-string", lambda: fdata.standardize("abc"), TypeError, "x_train"),
        ("data.standardize-empty", lambda: fdata.standardize(np.zeros((0, 2))), ValueError, "x_train"),
        ("data.standardize-eps", lambda: fdata.standardize(np.ones((3, 2)), eps=-1.0), ValueError, r"\beps\b"),
        (
            "data.standardize-others-channels",
            lambda: fdata.standardize(np.ones((3, 2)), np.ones((3, 5))),
            ValueError,
            r"others\[0\]",
        ),
        (
            "data.standardize-others-complex",
            lambda: fdata.standardize(np.ones((3, 2)), np.ones((3, 2)) + 1j),
            TypeError,
            r"others\[0\]",
        ),
        ("data.write_sha256sums-missing", lambda: fdata.write_sha256sums(tmp), ValueError, "folder"),
        ("data.write_sha256sums-int", lambda: fdata.write_sha256sums(3), TypeError, "folder"),
        # ---- testing helpers
        (
            "testing.assert_decay_rate-fraction",
            lambda: ftesting.assert_decay_rate(FR, KH, 2.0, fraction=0.0),
            ValueError,
            "fraction",
        ),
        (
            "testing.assert_decay_rate-exponent-nan",
            lambda: ftesting.assert_decay_rate(FR, KH, NAN),
            TypeError,
            "exponent",
        ),
        (
            "testing.assert_decay_rate-freqs-nan",
            lambda: ftesting.assert_decay_rate(np.where(FR == 3, NAN, FR), KH, 2.0),
            ValueError,
            "freqs",
        ),
        (
            "testing.assert_decay_rate-zero-magnitude",
            lambda: ftesting.assert_decay_rate(FR, KH * 0, 2.0),
            ValueError,
            "magnitudes",
        ),
        (
            "testing.assert_kernel_close-shape",
            lambda: ftesting.assert_kernel_close(K6, K6[:3, :3], width=1),
            ValueError,
            "expected",
        ),
        (
            "testing.assert_spectra_close-rtol",
            lambda: ftesting.assert_spectra_close(VG, VG, XG, jnp.array([1.0]), rtol=-1.0),
            ValueError,
            "rtol",
        ),
        (
            "testing.assert_spectra_close-fraction",
            lambda: ftesting.assert_spectra_close(VG, VG, XG, jnp.array([1.0]), fraction=2.0),
            ValueError,
            "fraction",
        ),
        (
            "testing.assert_spectra_close-freqs-nan",
            lambda: ftesting.assert_spectra_close(VG, VG, XG, jnp.array([NAN])),
            ValueError,
            "freqs",
        ),
        (
            "testing.assert_spectra_close-no-freqs",
            lambda: ftesting.assert_spectra_close(VG, VG, XG),
            TypeError,
            "freqs",
        ),
        # ---- theory.lfp / fpnorm
        ("lfp.init_moments-type", lambda: lfp.init_moments("abc"), TypeError, r"\bparams\b"),
        ("lfp.crossover_frequency-type", lambda: lfp.crossover_frequency("abc"), TypeError, "moments"),
        ("lfp.crossover_frequency-keys", lambda: lfp.crossover_frequency({}), ValueError, "moments"),
        ("lfp.predict_regime-period", lambda: lfp.predict_regime(MOMENTS, X1, period=-1.0), ValueError, "period"),
        (
            "lfp.gamma2_on_grid-k_max",
            lambda: lfp.gamma2_on_grid(lambda k: 1.0 + jnp.sum(k**2, -1), 1, k_max=-1),
            ValueError,
            "k_max",
        ),
        (
            "lfp.evaluate_series-coeffs-even",
            lambda: lfp.evaluate_series(jnp.ones(4, jnp.complex64), XG),
            ValueError,
            "coeffs",
        ),
        (
            "lfp.coefficients_from_function-k_max",
            lambda: lfp.coefficients_from_function(lambda x: x[:, 0], -1, 1),
            ValueError,
            "k_max",
        ),
        ("lfp.coefficients_from_function-fn", lambda: lfp.coefficients_from_function(3, 2, 1), TypeError, r"\bfn\b"),
        (
            "lfp.coefficients_from_function-n_grid",
            lambda: lfp.coefficients_from_function(lambda x: x[:, 0], 4, 1, n_grid=2),
            ValueError,
            r"k_max|n_grid|\bN\b",
        ),
        (
            "lfp.coefficients_from_values-k_max-too-large",
            lambda: lfp.coefficients_from_values(VG, 10),
            ValueError,
            "k_max",
        ),
        (
            "lfp.coefficients_from_values-k_max-negative",
            lambda: lfp.coefficients_from_values(VG, -1),
            ValueError,
            "k_max",
        ),
        ("lfp.predict-k_max", lambda: lfp.predict(LFP_MODEL, LFP_PARAMS, X1, Y1, 1.0, k_max=-1), ValueError, "k_max"),
        (
            "lfp.predict-x_train-short",
            lambda: lfp.predict(LFP_MODEL, LFP_PARAMS, X1[:-1], Y1, 1.0),
            ValueError,
            "y_train",
        ),
        ("lfp.gamma2_on_grid-string", lambda: lfp.gamma2_on_grid("abc", 1), TypeError, "gamma2"),
        ("lfp.gamma2_on_grid-nan", lambda: lfp.gamma2_on_grid(jnp.ones(5).at[0].set(NAN), 1), ValueError, "gamma2"),
        ("lfp.predict-model", lambda: lfp.predict(MLP, PARAMS, X1, Y1, 1.0), TypeError, r"\bmodel\b"),
        ("fpnorm.gamma_l2_norm-negative", lambda: fpnorm.gamma_l2_norm(-jnp.ones(5), 1), ValueError, "gamma2"),
        (
            "fpnorm.gamma_l2_norm-k_max",
            lambda: fpnorm.gamma_l2_norm(lambda k: 1.0 + jnp.sum(k**2, -1), 1, k_max=-1),
            ValueError,
            "k_max",
        ),
        # ---- theory.init_bias
        (
            "init_bias.interpolation_operator-nonsymmetric",
            lambda: init_bias.interpolation_operator(K6.at[0, 2].set(5.0)),
            ValueError,
            "k_train_train",
        ),
        (
            "init_bias.interpolation_operator-columns",
            lambda: init_bias.interpolation_operator(K6, K6[:2, :3]),
            ValueError,
            "k_test_train",
        ),
        (
            "init_bias.interpolation_operator-rcond",
            lambda: init_bias.interpolation_operator(K6, rcond=-1.0),
            ValueError,
            "rcond",
        ),
        ("init_bias.grid_sq_norm-out_ndim", lambda: init_bias.grid_sq_norm(jnp.ones(4), -1), ValueError, "out_ndim"),
        ("init_bias.grid_sq_norm-empty", lambda: init_bias.grid_sq_norm(jnp.ones(0)), ValueError, "values"),
        ("init_bias.kernel_matrices-kernel", lambda: init_bias.kernel_matrices(3, X1), TypeError, "kernel"),
        (
            "init_bias.theorem3_stats-lengths",
            lambda: init_bias.theorem3_stats(jnp.ones(4), jnp.ones(3), jnp.ones(4)),
            ValueError,
            "unbiased_samples",
        ),
        (
            "init_bias.theorem3_stats-one-sample",
            lambda: init_bias.theorem3_stats(jnp.ones(1), jnp.ones(1), jnp.ones(1)),
            ValueError,
            "lhs_samples",
        ),
        (
            "init_bias.theorem3_stats-negative",
            lambda: init_bias.theorem3_stats(-jnp.ones(4), jnp.ones(4), jnp.ones(4)),
            ValueError,
            "lhs_samples",
        ),
        (
            "init_bias.theorem3_stats-string",
            lambda: init_bias.theorem3_stats(jnp.ones(4), "abc", jnp.ones(4)),
            TypeError,
            "unbiased_samples",
        ),
        (
            "init_bias.theorem3_terms-y_train",
            lambda: init_bias.theorem3_terms(OP, Y1[:-1], Y1[:2], Y1, Y1[:2]),
            ValueError,
            "y_train",
        ),
        (
            "init_bias.theorem3_terms-y_test",
            lambda: init_bias.theorem3_terms(OP, Y1, Y1[:3], Y1, Y1[:2]),
            ValueError,
            "y_test",
        ),
        (
            "init_bias.gp_bias_error-shape",
            lambda: init_bias.gp_bias_error(OP, jnp.eye(3), K6[:2], K6),
            ValueError,
            "cov_test_test",
        ),
        (
            "init_bias.gp_bias_error-operator",
            lambda: init_bias.gp_bias_error(OP[:, :3], jnp.eye(2), K6[:2], K6),
            ValueError,
            "cov_test_train",
        ),
        # ---- theory.tangent_fourier
        (
            "tangent_fourier.predicted_dfhat-shape",
            lambda: tf.predicted_dfhat(jnp.ones(4), jnp.ones(5)),
            ValueError,
            "kernel_hat|dc_df",
        ),
        (
            "tangent_fourier.predicted_dfhat-string",
            lambda: tf.predicted_dfhat("abc", jnp.ones(4)),
            TypeError,
            "kernel_hat",
        ),
        (
            "tangent_fourier.measured_dfhat-rel_step",
            lambda: tf.measured_dfhat(MLP, PARAMS, X1, Y1, KSPEC.axes, rel_step=-1.0),
            ValueError,
            "rel_step",
        ),
        (
            "tangent_fourier.measured_dfhat-loss",
            lambda: tf.measured_dfhat(MLP, PARAMS, X1, Y1, KSPEC.axes, loss="x"),
            ValueError,
            r"\bloss\b",
        ),
        (
            "tangent_fourier.measured_dfhat-window",
            lambda: tf.measured_dfhat(MLP, PARAMS, X1, Y1, KSPEC.axes, window="x"),
            ValueError,
            r"\bwindow\b",
        ),
        (
            "tangent_fourier.measured_dfhat-y-short",
            lambda: tf.measured_dfhat(MLP, PARAMS, X1, Y1[:-1], KSPEC.axes),
            ValueError,
            r"\by\b",
        ),
        (
            "tangent_fourier.tangent_fourier-grid_size",
            lambda: tf.tangent_fourier(MLP, PARAMS, X1, Y1, grid_size=0),
            ValueError,
            "grid_size",
        ),
        (
            "tangent_fourier.spectral_agreement-floor",
            lambda: tf.spectral_agreement(jnp.ones(4), jnp.ones(4), floor=-1.0),
            ValueError,
            "floor",
        ),
        (
            "tangent_fourier.spectral_agreement-shape",
            lambda: tf.spectral_agreement(jnp.ones(4), jnp.ones(5)),
            ValueError,
            "measured",
        ),
        (
            "tangent_fourier.fit_decay-band",
            lambda: tf.fit_decay(KSPEC.freqs, KSPEC.kernel_hat, band=(0.5, 0.2)),
            ValueError,
            r"\bband\b",
        ),
        (
            "tangent_fourier.fit_decay-start",
            lambda: tf.fit_decay(KSPEC.freqs, KSPEC.kernel_hat, start=-1.0),
            ValueError,
            r"\bstart\b",
        ),
        (
            "tangent_fourier.fit_decay-start-nan",
            lambda: tf.fit_decay(KSPEC.freqs, KSPEC.kernel_hat, start=NAN),
            ValueError,
            r"\bstart\b",
        ),
        (
            "tangent_fourier.fit_decay-floor",
            lambda: tf.fit_decay(KSPEC.freqs, KSPEC.kernel_hat, floor=-1.0),
            ValueError,
            r"\bfloor\b",
        ),
        (
            "tangent_fourier.fit_decay-freqs-nan",
            lambda: tf.fit_decay(KSPEC.freqs.at[0].set(NAN), KSPEC.kernel_hat),
            ValueError,
            r"\bfreqs\b",
        ),
        (
            "tangent_fourier.fit_decay-shape",
            lambda: tf.fit_decay(KSPEC.freqs, KSPEC.kernel_hat[:, :-1]),
            ValueError,
            "kernel_hat",
        ),
        (
            "tangent_fourier.high_frequency_ratio-top_fraction",
            lambda: tf.high_frequency_ratio(KSPEC.freqs, KSPEC.kernel_hat, top_fraction=NAN),
            ValueError,
            "top_fraction",
        ),
        (
            "tangent_fourier.high_frequency_ratio-shape",
            lambda: tf.high_frequency_ratio(KSPEC.freqs, KSPEC.kernel_hat[:, :-1]),
            ValueError,
            "kernel_hat",
        ),
        ("tangent_fourier.default_rel_step-string", lambda: tf.default_rel_step("abc"), TypeError, r"\bdtype\b"),
        ("tangent_fourier.default_rel_step-int", lambda: tf.default_rel_step(jnp.int32), TypeError, r"\bdtype\b"),
        # ---- experiment
        ("experiment.get_experiment-unknown", lambda: fexp.get_experiment("nope"), ValueError, "experiment"),
        ("experiment.run_experiment-name", lambda: fexp.run_experiment("nope", write=False), ValueError, "experiment"),
        (
            "experiment.run_experiment-seed",
            lambda: fexp.run_experiment("fp-1d", seed=-1, write=False),
            ValueError,
            r"\bseed\b",
        ),
        (
            "experiment.run_experiment-overrides",
            lambda: fexp.run_experiment("fp-1d", overrides={"no_such": 1}, write=False),
            ValueError,
            "no_such",
        ),
        ("experiment.build_report-missing", lambda: fexp.build_report(tmp), ValueError, "out_root"),
        ("experiment.build_report-int", lambda: fexp.build_report(3), TypeError, "out_root"),
        ("experiment.claim-text", lambda: fexp.claim(3, True, {}), ValueError, r"\btext\b"),
        ("experiment.claim-held-string", lambda: fexp.claim("x", "yes", {}), TypeError, r"\bheld\b"),
        ("experiment.claim-held-nan", lambda: fexp.claim("x", NAN, {}), TypeError, r"\bheld\b"),
        ("experiment.claim-evidence", lambda: fexp.claim("x", True, 3), TypeError, "evidence"),
        ("experiment.summarize_claims-type", lambda: fexp.summarize_claims(3), ValueError, "claims"),
        ("experiment.summarize_claims-record", lambda: fexp.summarize_claims([3]), ValueError, r"claims\[0\]"),
        ("experiment.seed_key-stream", lambda: fexp.seed_key(0, "a"), ValueError, r"streams\[0\]"),
        ("experiment.new_figure-zero", lambda: fexp.new_figure((0, 4)), ValueError, "figsize"),
        ("experiment.new_figure-nan", lambda: fexp.new_figure((NAN, 4)), ValueError, "figsize"),
        ("experiment.new_figure-string", lambda: fexp.new_figure("abc"), ValueError, "figsize"),
        ("experiment.save_figure-fig", lambda: fexp.save_figure(3, "a.png"), TypeError, r"\bfig\b"),
        ("experiment.save_text-text", lambda: fexp.save_text(3, "a.txt"), TypeError, r"\btext\b"),
        ("experiment.save_text-path", lambda: fexp.save_text("x", 3), TypeError, r"\bpath\b"),
        ("experiment.to_jsonable-object", lambda: fexp.to_jsonable({"a": object()}), TypeError, r"\bobj\b"),
        # ---- distributed: refused before any process is started
        (
            "distributed.initialize-num_processes",
            lambda: fdist.initialize("localhost:1", 0, 0),
            ValueError,
            "num_processes",
        ),
        ("distributed.initialize-process_id", lambda: fdist.initialize("localhost:1", 2, 5), ValueError, "process_id"),
        (
            "distributed.initialize-timeout_s",
            lambda: fdist.initialize("localhost:1", 2, 0, timeout_s=-1.0),
            ValueError,
            "timeout_s",
        ),
        ("distributed.initialize-coordinator", lambda: fdist.initialize(3, 2, 0), TypeError, "coordinator"),
        ("distributed.launch_local-argv", lambda: fdist.launch_local(2, "list"), TypeError, r"\bargv\b"),
        (
            "distributed.launch_local-platform",
            lambda: fdist.launch_local(2, ["list"], platform=3),
            TypeError,
            r"\bplatform\b",
        ),
        (
            "distributed.launch_local-grace_s",
            lambda: fdist.launch_local(2, ["list"], grace_s=-1.0),
            ValueError,
            r"\bgrace_s\b",
        ),
    ]


SPECIAL = _special()


@pytest.mark.parametrize(("thunk", "exc", "match"), [pytest.param(*c[1:], id=c[0]) for c in SPECIAL])
def test_special_bad_input_all(thunk, exc, match):
    _check_special(thunk, exc, match)


# --------------------------------------------------------------------------------------------
# held: input that looks odd but is valid, with the answer the mathematics gives
# --------------------------------------------------------------------------------------------


def test_held_cases_give_the_documented_answer():
    # a pytree without leaves holds no seeds
    assert ftrain.diverged_mask({}).shape == (0,)
    # an object that is not a Model has no fast NTK path
    assert fntk.fast_path_supported("abc") is False
    # fewer than two values: Spearman's correlation is undefined (NaN), not a number
    assert math.isnan(fspec.spearman([1.0], [2.0]))
    # theorem3_stats drops non-finite samples (diverged initialisations) and counts them
    r = init_bias.theorem3_stats(jnp.array([1.0, NAN, 2.0, 3.0]), jnp.ones(4), jnp.ones(4))
    assert r.n == 3 and r.n_diverged == 1
    # JSON has no NaN: to_jsonable writes it as the string "nan"
    assert fexp.to_jsonable(NAN) == "nan"


# --------------------------------------------------------------------------------------------
# eager / jit / vmap: one outcome for array-valued value checks of jittable functions
# --------------------------------------------------------------------------------------------

SKEW6 = jnp.zeros((6, 6)).at[0, 2].set(1.0)  # K6 + s·SKEW6 is symmetric only for s = 0

# name -> (function of one scalar argument, a bad value, a good value, the message's key phrase)
POLICY = {
    "density_from_quadrature-weights-negative": (
        lambda s: fhess.density_from_quadrature(NODES, s * QW, GRID, 0.1),
        -1.0,
        1.0,
        "weights must be >= 0",
    ),
    "interpolation_operator-nonsymmetric": (
        lambda s: init_bias.interpolation_operator(K6 + s * SKEW6, K6[:2]),
        5.0,
        0.0,
        "k_train_train must be symmetric",
    ),
}


test_bad_value_fails_the_same_way_eager_jit_vmap_all, test_good_value_gives_one_result_eager_jit_vmap_all = table_tests(
    POLICY
)


# NaN in, NaN out (or an error naming NaN) eagerly, under jit and under vmap: hot-path functions
# that propagate NaN instead of checking values on the host. fn(v) puts v into one input entry.
NAN_OUT = {
    "lfp.evaluate_series-coeffs": lambda v: lfp.evaluate_series(SERIES.at[1].set(v), XG),
    "fpnorm.evaluate_series-coeffs": lambda v: fpnorm.evaluate_series(SERIES.at[0].set(v), XG),
    "init_bias.grid_sq_norm": lambda v: init_bias.grid_sq_norm(jnp.ones(4).at[0].set(v)),
    "init_bias.theorem3_terms-y_train": lambda v: (
        init_bias.theorem3_terms(OP, Y1.at[0, 0].set(v), Y1[:2], Y1, Y1[:2]).lhs
    ),
    "tangent_fourier.predicted_dfhat": lambda v: tf.predicted_dfhat(jnp.ones((6, 4)).at[0, 0].set(v), jnp.ones(6)),
    "spectrum.coeffs_at-coeffs": lambda v: fspec.coeffs_at(jnp.ones(5).at[3].set(v), np.array([1])),  # k: host indices
    "hessian.density_from_quadrature-nodes": lambda v: fhess.density_from_quadrature(
        NODES.at[0, 0].set(v), QW, GRID, 0.1
    ),
}


@pytest.mark.parametrize("mode", ["eager", "jit", "vmap"])
@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("case", sorted(NAN_OUT))
def test_nonfinite_input_never_gives_a_finite_number(case, value, mode):
    try:
        out = jax.block_until_ready(_modes(NAN_OUT[case])[mode](value))
    except (ValueError, TypeError, RuntimeError) as err:
        assert re.search(r"NaN|Inf|finite|nan|inf", str(err)), str(err)
        return
    leaves = [np.asarray(v) for v in jax.tree_util.tree_leaves(out)]
    assert leaves and not all(np.all(np.isfinite(v)) for v in leaves), f"finite output from {value}: {out}"


# --------------------------------------------------------------------------------------------
# completeness: every public function has a case (or a reason why not)
# --------------------------------------------------------------------------------------------

MODULES = [
    "fpjax.train",
    "fpjax.models",
    "fpjax.spectrum",
    "fpjax.sphere",
    "fpjax.ntk",
    "fpjax.hessian",
    "fpjax.landscape",
    "fpjax.cnn",
    "fpjax.data",
    "fpjax.testing",
    "fpjax.theory.lfp",
    "fpjax.theory.fpnorm",
    "fpjax.theory.init_bias",
    "fpjax.theory.tangent_fourier",
    "fpjax.experiment",
    "fpjax.distributed",
]

EXEMPT = {
    "free_port": "no arguments",
    "is_main_process": "no arguments",
    "list_experiments": "no arguments",
    "neural_tangents": "no arguments (imports the optional neural-tangents package)",
    "fast_path_supported": "a predicate: any object is valid input (False for what is not a Model)",
}


def _table_names() -> set[str]:
    """Function names of every case of every bad-input table (entry names ``module.function[...]``,
    hand-written case ids ``[module.]function-what``)."""
    names = set()
    entries = base.ENTRIES + more.ENTRIES + ENTRIES
    for e in entries:
        names.add(re.split(r"[.-]", e.name.split(".", 1)[1])[0] if "." in e.name else e.name.split("-")[0])
    ids = [c[0] for c in base.SPECIAL] + [c[0] for c in more._special()] + [n for n, _ in base.NAN_OUT]
    ids += [c[0] for c in SPECIAL] + list(POLICY) + list(NAN_OUT)
    for i in ids:
        head = i.split("-")[0]
        names.add(head.split(".")[-1])
    return names


def _public_functions():
    for modname in MODULES:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if inspect.isclass(obj) or not callable(obj):
                continue
            yield modname, name


def test_every_public_function_has_a_bad_input_case():
    covered = _table_names()
    missing = sorted(f"{m}.{n}" for m, n in _public_functions() if n not in covered and n not in EXEMPT)
    assert not missing, f"public functions without a bad-input case (add one, or to EXEMPT with a reason): {missing}"


def test_exemptions_are_still_needed():
    public = {n for _, n in _public_functions()}
    stale = sorted(n for n in EXEMPT if n not in public)
    assert not stale, f"EXEMPT names that are no longer public functions: {stale}"
    covered = _table_names()
    assert not sorted(n for n in EXEMPT if n in covered), "an exempt function now has a case: drop it from EXEMPT"
