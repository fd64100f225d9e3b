"""Table-driven bad-input suite over the public API.

Each case calls one public entry point with one argument replaced by a bad variant and asserts that
a ``ValueError`` or ``TypeError`` is raised whose message names the argument. The table is generated
from a list of entry points (each with good arguments and the kind of every argument) crossed with
bad-variant generators per kind (NaN/Inf, empty, wrong rank, complex/string dtype, mismatched length,
zero/negative sizes, non-integers, unknown options, wrong key types). A second group checks that
NaN/Inf input gives NaN output or an error, never a finite number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fpjax.cnn as fcnn
import fpjax.data as fdata
import fpjax.experiment as fexp
import fpjax.hessian as fhess
import fpjax.landscape as fland
import fpjax.models as fmodels
import fpjax.ntk as fntk
import fpjax.spectrum as fspec
import fpjax.sphere as fsphere
import fpjax.testing as ftesting
import fpjax.train as ftrain
from fpjax.theory import fpnorm, init_bias, lfp, tangent_fourier

KEY = jax.random.key(0)
X1 = jnp.linspace(-1.0, 1.0, 6)[:, None]  # (6, 1) points
Y1 = jnp.sin(3.0 * X1)  # (6, 1) targets
XG = jnp.arange(8) / 8.0  # uniform grid over one period [0, 1)
VG = jnp.sin(2 * jnp.pi * XG)  # values on the grid
MLP = fmodels.mlp((8, 1), "tanh")
PARAMS = MLP.init(KEY, X1)
K6 = jnp.eye(6) + 0.1  # a symmetric positive-definite (6, 6) kernel
LOSS_FN = fhess.model_loss(MLP.apply, X1, Y1)
GAMMA2 = jnp.ones(5)  # γ² on a 1-D grid |k| <= 2 (5 values)
COEFFS = jnp.ones(5, dtype=jnp.complex64)
MOMENTS = lfp.init_moments(fmodels.two_layer_relu(16).init(KEY, X1))


# --------------------------------------------------------------------------------------------
# bad-variant generators per argument kind
# --------------------------------------------------------------------------------------------


def _nan(a):
    a = np.array(a, dtype=np.result_type(np.asarray(a).dtype, np.float32))
    a.flat[0] = np.nan
    return jnp.asarray(a)


def _inf(a):
    a = np.array(a, dtype=np.result_type(np.asarray(a).dtype, np.float32))
    a.flat[-1] = np.inf
    return jnp.asarray(a)


def _empty(a):
    a = np.asarray(a)
    return jnp.zeros((0,) + a.shape[1:], a.dtype)


def _rank3(a):
    a = np.asarray(a)
    return jnp.zeros((2, 2, 2) + a.shape[:0], a.dtype if a.dtype != object else np.float32)


def _short(a):
    return jnp.asarray(a)[:-1]


def _string(a):
    return "abc"


def _none(a):
    return None


VARIANTS: dict[str, dict[str, Callable[[Any], Any]]] = {
    # float data arrays: non-finite, empty, wrong rank, text
    "array": {"nan": _nan, "inf": _inf, "empty": _empty, "rank3": _rank3, "string": _string},
    # an array whose length must match another argument
    "array_len": {"nan": _nan, "inf": _inf, "short": _short, "string": _string},
    # arrays where only finiteness and type are checked
    "finite": {"nan": _nan, "inf": _inf, "string": _string},
    # positive integer sizes
    "size": {"zero": lambda v: 0, "negative": lambda v: -3, "float": lambda v: 2.5, "string": lambda v: "4"},
    # gradient-flow times: t = inf is the steady state (valid), negative/NaN are not
    "time": {"negative": lambda v: -1.0, "nan": lambda v: math.nan, "string": lambda v: "1"},
    "times": {"negative": lambda v: -jnp.asarray(v) - 1.0, "nan": _nan, "string": _string},
    # positive finite floats
    "pos": {
        "zero": lambda v: 0.0,
        "negative": lambda v: -1.0,
        "nan": lambda v: math.nan,
        "inf": lambda v: math.inf,
        "string": lambda v: "1",
    },
    # non-negative finite floats
    "nonneg": {"negative": lambda v: -1.0, "nan": lambda v: math.nan, "inf": lambda v: math.inf},
    # option strings
    "choice": {"unknown": lambda v: "no-such-option", "int": lambda v: 3},
    # PRNG keys
    "key": {"int": lambda v: 0, "float_array": lambda v: jnp.zeros(2), "string": lambda v: "key"},
}


@dataclass
class Entry:
    name: str
    fn: Callable
    args: dict  # good values, in call order
    kinds: dict  # argument -> kind (key of VARIANTS) for the arguments to attack
    positional: tuple = ()  # names passed positionally (in this order)
    match: dict = field(default_factory=dict)  # argument -> regex naming it (default: the name)
    skip: dict = field(default_factory=dict)  # argument -> variant names that are valid input here
    xfail: dict = field(default_factory=dict)  # (argument, variant) -> reason (known, open)
    # Functions meant for hot paths (losses, series evaluation) propagate NaN/Inf instead of checking
    # values on the host: for the "nan"/"inf" variants they must raise naming the argument OR return a
    # non-finite result, never a finite one.
    nan_out: bool = False

    def call(self, **override):
        args = {**self.args, **override}
        pos = [args.pop(p) for p in self.positional]
        return self.fn(*pos, **args)


# --------------------------------------------------------------------------------------------
# the entry points
# --------------------------------------------------------------------------------------------


def _init_mlp(**kw):
    return MLP.init(kw["key"], kw["x"])


def _init_lfp(**kw):
    return fmodels.two_layer_relu(8).init(kw["key"], kw["x"])


ENTRIES = [
    # ---- models
    Entry(
        "models.mlp",
        fmodels.mlp,
        {"widths": (8, 1), "activation": "tanh", "init": "xavier", "sigma_w": 1.0, "sigma_b": 0.0},
        {"activation": "choice", "init": "choice", "sigma_w": "pos", "sigma_b": "nonneg"},
        positional=("widths",),
        skip={"sigma_b": ()},
    ),
    Entry(
        "models.two_layer_relu",
        fmodels.two_layer_relu,
        {"m": 8, "r_std": 1.0, "w_std": 1.0},
        {"m": "size", "r_std": "pos", "w_std": "pos"},
        positional=("m",),
    ),
    Entry(
        "models.activation_fn",
        fmodels.activation_fn,
        {"name": "relu"},
        {"name": "choice"},
        positional=("name",),
        match={"name": r"\bactivation\b"},
    ),
    Entry("models.mlp.init", _init_mlp, {"key": KEY, "x": X1}, {"key": "key", "x": "array"}),
    Entry("models.two_layer_relu.init", _init_lfp, {"key": KEY, "x": X1}, {"key": "key", "x": "array"}),
    # ---- train
    Entry(
        "train.mse",
        ftrain.mse,
        {"pred": Y1, "y": Y1},
        {"pred": "array_len", "y": "array_len"},
        positional=("pred", "y"),
        nan_out=True,
    ),
    Entry(
        "train.bce",
        ftrain.bce,
        {"logits": Y1, "y": (Y1 > 0).astype(jnp.float32)},
        {"logits": "array_len", "y": "array_len"},
        positional=("logits", "y"),
        nan_out=True,
    ),
    Entry(
        "train.ce",
        ftrain.ce,
        {"logits": jnp.zeros((6, 3)), "y": jnp.arange(6) % 3},
        {"logits": "array_len", "y": "array_len"},
        positional=("logits", "y"),
        nan_out=True,
    ),
    Entry(
        "train.get_loss",
        ftrain.get_loss,
        {"name": "mse"},
        {"name": "choice"},
        positional=("name",),
        match={"name": r"\bloss\b"},
    ),
    Entry(
        "train.fit",
        ftrain.fit,
        {
            "apply": MLP.apply,
            "params": PARAMS,
            "x": X1,
            "y": Y1,
            "optimizer": optax.sgd(0.1),
            "steps": 2,
            "loss": "mse",
            "batch_size": 3,
            "key": KEY,
        },
        {"x": "array_len", "y": "array_len", "steps": "size", "loss": "choice", "batch_size": "size", "key": "key"},
        positional=("apply", "params", "x", "y"),
    ),
    Entry(
        "train.gradient_flow",
        ftrain.gradient_flow,
        {"apply": MLP.apply, "params": PARAMS, "x": X1, "y": Y1, "t": jnp.array([0.0, 0.1]), "max_steps": 100},
        {"x": "array_len", "y": "array_len", "max_steps": "size", "t": "finite"},
        positional=("apply", "params", "x", "y", "t"),
    ),
    Entry(
        "train.sweep",
        ftrain.sweep,
        {
            "fn": lambda k: jax.random.normal(k),
            "keys": jax.random.split(KEY, 2),
            "chunk_size": 1,
            "gather": "all",
            "on_mismatch": "error",
        },
        {"keys": "key", "chunk_size": "size", "gather": "choice", "on_mismatch": "choice"},
        positional=("fn", "keys"),
    ),
    # ---- spectrum
    Entry(
        "spectrum.grid_fft",
        fspec.grid_fft,
        {"values": VG, "x_grid": XG},
        {"values": "array_len", "x_grid": "array"},
        positional=("values", "x_grid"),
    ),
    Entry(
        "spectrum.fourier_coeffs",
        fspec.fourier_coeffs,
        {"values": VG, "x": XG, "freqs": jnp.array([1.0, 2.0])},
        {"values": "array_len", "x": "array", "freqs": "finite"},
        positional=("values", "x", "freqs"),
    ),
    Entry(
        "spectrum.peak_relative_error",
        fspec.peak_relative_error,
        {"values": VG, "target": VG + 1.0, "x": XG, "freqs": jnp.array([1.0])},
        {"values": "array_len", "target": "array_len", "x": "array", "freqs": "finite"},
        positional=("values", "target", "x", "freqs"),
    ),
    Entry(
        "spectrum.nudft",
        fspec.nudft,
        {"x": X1, "y": Y1[:, 0], "freqs": jnp.array([0.5, 1.0]), "freq_batch_size": 4, "point_batch_size": 4},
        {"x": "array", "y": "array_len", "freqs": "finite", "freq_batch_size": "size", "point_batch_size": "size"},
        positional=("x", "y", "freqs"),
    ),
    Entry(
        "spectrum.filter_errors",
        fspec.filter_errors,
        {"x": X1, "y": Y1, "h": Y1 * 0.5, "delta": 0.5},
        {"x": "array", "y": "array_len", "h": "array_len", "delta": "pos"},
        positional=("x", "y", "h", "delta"),
    ),
    Entry(
        "spectrum.filter_decompose",
        fspec.filter_decompose,
        {"x": X1, "y": Y1, "delta": 0.5},
        {"x": "array", "y": "array_len", "delta": "pos"},
        positional=("x", "y", "delta"),
    ),
    Entry(
        "spectrum.kernel_power_spectrum",
        fspec.kernel_power_spectrum,
        {"w": jnp.ones((3, 3, 1, 2)), "pad": 8},
        {"w": "finite", "pad": "size"},
        positional=("w",),
    ),
    Entry(
        "spectrum.window_weights",
        fspec.window_weights,
        {"n": 8, "window": "hann"},
        {"n": "size", "window": "choice"},
        positional=("n",),
    ),
    Entry(
        "spectrum.relative_error",
        fspec.relative_error,
        {"h_hat": jnp.ones(3), "y_hat": jnp.ones(3)},
        {"h_hat": "finite", "y_hat": "finite"},
        positional=("h_hat", "y_hat"),
    ),
    Entry(
        "spectrum.crossing_steps",
        fspec.crossing_steps,
        {"errors": jnp.ones((4, 2)), "threshold": 0.1, "rule": "first"},
        {"errors": "finite", "threshold": "pos", "rule": "choice"},
        positional=("errors", "threshold"),
        # NaN/Inf errors are a diverged run's values: never below the threshold, hence no crossing
        skip={"errors": ("nan", "inf")},
    ),
    # ---- ntk
    Entry(
        "ntk.empirical_ntk",
        fntk.empirical_ntk,
        {"apply": MLP, "params": PARAMS, "x1": X1, "x2": X1, "implementation": "auto"},
        {"x1": "array", "x2": "array", "implementation": "choice"},
        positional=("apply", "params", "x1", "x2"),
    ),
    Entry(
        "ntk.infinite_ntk",
        fntk.infinite_ntk,
        {"kernel_fn": fmodels.mlp((8, 1), "relu", init="ntk").kernel_fn, "x1": X1, "x2": X1, "get": "ntk"},
        {"x1": "array", "x2": "array", "get": "choice"},
        positional=("kernel_fn", "x1", "x2"),
    ),
    Entry(
        "ntk.kernel_flow",
        fntk.kernel_flow,
        {"k_train_train": K6, "y_train": Y1, "t": 1.0},
        {"k_train_train": "array", "y_train": "array_len", "t": "time"},
        positional=("k_train_train", "y_train", "t"),
    ),
    Entry(
        "ntk.lanczos_eigh",
        fntk.lanczos_eigh,
        {"matvec": lambda v: K6 @ v, "n": 6, "k": 2, "key": KEY},
        {"n": "size", "k": "size", "key": "key"},
        positional=("matvec", "n", "k"),
    ),
    # ---- theory.lfp
    Entry(
        "lfp.kernel_matrix",
        lfp.kernel_matrix,
        {"x1": X1, "x2": X1, "gamma2": GAMMA2},
        {"x1": "array", "x2": "array", "gamma2": "finite"},
        positional=("x1", "x2", "gamma2"),
    ),
    Entry(
        "lfp.evolve",
        lfp.evolve,
        {"x_train": X1, "y_train": Y1, "gamma2": GAMMA2, "t": jnp.array([0.0, 1.0])},
        {"x_train": "array", "y_train": "array_len", "gamma2": "finite", "t": "times"},
        positional=("x_train", "y_train", "gamma2", "t"),
    ),
    Entry(
        "lfp.steady_state",
        lfp.steady_state,
        {"x_train": X1, "y_train": Y1, "gamma2": GAMMA2},
        {"x_train": "array", "y_train": "array_len", "gamma2": "finite"},
        positional=("x_train", "y_train", "gamma2"),
    ),
    Entry(
        "lfp.frequency_grid",
        lfp.frequency_grid,
        {"k_max": 2, "d": 1},
        {"k_max": "size", "d": "size"},
        positional=("k_max", "d"),
        skip={"k_max": ("zero",)},
    ),  # k_max = 0: the constant mode alone
    Entry(
        "lfp.residual_flow",
        lfp.residual_flow,
        {"k_train_train": K6, "y_train": Y1[:, 0], "t": 1.0},
        {"k_train_train": "array", "y_train": "array_len"},
        positional=("k_train_train", "y_train", "t"),
    ),
    Entry(
        "lfp.choose_period", lfp.choose_period, {"x": X1, "pad": 8.0}, {"x": "array", "pad": "pos"}, positional=("x",)
    ),
    Entry(
        "lfp.gamma2",
        lfp.gamma2,
        {"xi": jnp.array([1.0, 2.0]), "moments": MOMENTS, "d": 1, "c": 1.0},
        {"xi": "finite", "d": "size", "c": "pos"},
        positional=("xi", "moments", "d"),
    ),
    # ---- theory.fpnorm
    Entry(
        "fpnorm.fp_norm",
        fpnorm.fp_norm,
        {"coeffs": COEFFS, "gamma2": GAMMA2},
        {"coeffs": "finite", "gamma2": "finite"},
        positional=("coeffs", "gamma2"),
    ),
    Entry(
        "fpnorm.min_fp_interpolant",
        fpnorm.min_fp_interpolant,
        {"x_train": jnp.array([0.1, 0.4, 0.7]), "y_train": jnp.array([1.0, 0.0, -1.0]), "gamma2": GAMMA2},
        {"x_train": "array", "y_train": "array_len", "gamma2": "finite"},
        positional=("x_train", "y_train", "gamma2"),
    ),
    Entry(
        "fpnorm.l1_error",
        fpnorm.l1_error,
        {"h": COEFFS, "f": COEFFS * 0.5, "method": "grid", "n_grid": 16},
        {"h": "finite", "f": "finite", "method": "choice", "n_grid": "size"},
        positional=("h", "f"),
        nan_out=True,
    ),
    Entry(
        "fpnorm.evaluate_on_grid",
        fpnorm.evaluate_on_grid,
        {"coeffs": COEFFS, "n_grid": 8},
        {"coeffs": "finite", "n_grid": "size"},
        positional=("coeffs", "n_grid"),
        nan_out=True,
    ),
    # ---- theory.init_bias
    Entry(
        "init_bias.kernel_interpolate",
        init_bias.kernel_interpolate,
        {"k_train_train": K6, "k_test_train": K6[:2], "y_train": Y1, "solver": "eigh"},
        {"k_train_train": "array", "k_test_train": "finite", "y_train": "array_len", "solver": "choice"},
        positional=("k_train_train", "k_test_train", "y_train"),
    ),
    Entry(
        "init_bias.decompose",
        init_bias.decompose,
        {"k_train_train": K6, "k_test_train": K6[:2], "y_train": Y1, "f0_train": Y1 * 0, "f0_test": Y1[:2] * 0},
        {"y_train": "array_len", "f0_train": "array_len", "f0_test": "finite"},
        positional=("k_train_train", "k_test_train", "y_train", "f0_train", "f0_test"),
    ),
    Entry(
        "init_bias.network_kernels",
        init_bias.network_kernels,
        {"model": MLP, "params": PARAMS, "x_train": X1, "kernel": "empirical"},
        {"x_train": "array", "kernel": "choice"},
        positional=("model", "params", "x_train"),
    ),
    # ---- theory.tangent_fourier
    Entry(
        "tangent_fourier.kernel_spectrum",
        tangent_fourier.kernel_spectrum,
        {"apply": MLP, "params": PARAMS, "x": X1, "grid_size": 8},
        {"x": "array", "grid_size": "size"},
        positional=("apply", "params", "x"),
    ),
    Entry("tangent_fourier.planck_taper", tangent_fourier.planck_taper, {"n": 8}, {"n": "size"}, positional=("n",)),
    Entry(
        "tangent_fourier.cost_grad",
        tangent_fourier.cost_grad,
        {"f": Y1, "y": Y1, "loss": "mse"},
        {"f": "array_len", "y": "array_len", "loss": "choice"},
        positional=("f", "y"),
        nan_out=True,
    ),
    # ---- hessian / landscape
    Entry(
        "hessian.model_loss",
        fhess.model_loss,
        {"apply": MLP.apply, "x_train": X1, "y_train": Y1, "loss": "mse", "num_batches": 2},
        {"x_train": "array", "y_train": "array_len", "loss": "choice", "num_batches": "size"},
        positional=("apply", "x_train", "y_train"),
    ),
    Entry(
        "hessian.hutchinson_trace",
        fhess.hutchinson_trace,
        {"loss_fn": LOSS_FN, "params": PARAMS, "key": KEY, "num_probes": 2, "curvature": "hessian"},
        {"key": "key", "num_probes": "size", "curvature": "choice"},
        positional=("loss_fn", "params"),
    ),
    Entry(
        "hessian.lanczos",
        fhess.lanczos,
        {"loss_fn": LOSS_FN, "params": PARAMS, "key": KEY, "num_iters": 3},
        {"key": "key", "num_iters": "size"},
        positional=("loss_fn", "params"),
    ),
    Entry(
        "hessian.top_eigenvalues",
        fhess.top_eigenvalues,
        {"loss_fn": LOSS_FN, "params": PARAMS, "key": KEY, "k": 1, "which": "LA"},
        {"key": "key", "k": "size", "which": "choice"},
        positional=("loss_fn", "params"),
    ),
    Entry(
        "landscape.random_direction",
        fland.random_direction,
        {"params": PARAMS, "key": KEY, "normalization": "filter"},
        {"key": "key", "normalization": "choice"},
        positional=("params",),
    ),
    Entry(
        "landscape.slice_1d",
        fland.slice_1d,
        {"loss_fn": LOSS_FN, "params": PARAMS, "direction": PARAMS, "alphas": jnp.linspace(-1, 1, 3), "batch_size": 2},
        {"alphas": "array", "batch_size": "size"},
        positional=("loss_fn", "params", "direction"),
    ),
    # ---- sphere
    Entry(
        "sphere.relu_ntk_eigenvalues",
        fsphere.relu_ntk_eigenvalues,
        {"d": 3, "ell_max": 4},
        {"d": "size", "ell_max": "size"},
        positional=("d", "ell_max"),
        skip={"ell_max": ("zero",)},
    ),  # ell_max = 0: the constant harmonic alone
    Entry(
        "sphere.sample_sphere",
        fsphere.sample_sphere,
        {"n": 4, "d": 3, "key": KEY},
        {"n": "size", "d": "size", "key": "key"},
        positional=("n", "d"),
    ),
    Entry(
        "sphere.degree_energy",
        fsphere.degree_energy,
        {"x": fsphere.sample_sphere(8, 3, key=KEY), "f": jnp.ones(8), "ell_max": 2},
        {"x": "array", "f": "array_len", "ell_max": "size"},
        positional=("x", "f", "ell_max"),
        skip={"ell_max": ("zero",)},
    ),
    # ---- cnn / data / experiment / testing
    Entry(
        "cnn.get_model",
        fcnn.get_model,
        {"name": "cnn_small", "num_classes": 3},
        {"name": "choice", "num_classes": "size"},
        positional=("name",),
    ),
    Entry(
        "cnn.shuffle_labels",
        fcnn.shuffle_labels,
        {"y": jnp.arange(6) % 3, "key": KEY},
        {"y": "array", "key": "key"},
        positional=("y",),
        nan_out=True,
    ),
    Entry(
        "cnn.make_sgd",
        fcnn.make_sgd,
        {"learning_rate": 0.1, "schedule": "constant"},
        {"learning_rate": "pos", "schedule": "choice"},
        positional=("learning_rate",),
    ),
    Entry(
        "data.load_dataset",
        fdata.load_dataset,
        {"name": "digits", "split": "train"},
        {"name": "choice", "split": "choice"},
        positional=("name",),
    ),
    Entry(
        "data.upscale_images",
        fdata.upscale_images,
        {"x": np.zeros((2, 8, 8, 1), np.float32), "size": 16, "channels": 3},
        {"size": "size", "channels": "size"},
        positional=("x",),
    ),
    Entry(
        "experiment.seed_keys",
        fexp.seed_keys,
        {"seed": 0, "n": 3},
        {"seed": "size", "n": "size"},
        positional=("seed", "n"),
        skip={"seed": ("zero",)},
    ),
    Entry(
        "testing.assert_seed_fraction",
        ftesting.assert_seed_fraction,
        {"holds": jnp.ones(4, bool), "fraction": 0.5},
        {"fraction": "pos"},
        positional=("holds",),
    ),
]


def _cases():
    cases = []
    for e in ENTRIES:
        for arg, kind in e.kinds.items():
            skipped = e.skip.get(arg, ())
            for vname, gen in VARIANTS[kind].items():
                if vname in skipped:
                    continue
                marks = []
                if (arg, vname) in e.xfail:
                    marks.append(pytest.mark.xfail(reason=e.xfail[(arg, vname)], strict=True))
                cases.append(pytest.param(e, arg, vname, gen, id=f"{e.name}-{arg}-{vname}", marks=marks))
    return cases


CASES = _cases()


@pytest.mark.parametrize(("entry", "arg", "variant", "gen"), CASES)
def test_bad_argument_is_refused_naming_it(entry, arg, variant, gen):
    bad = gen(entry.args[arg])
    pattern = entry.match.get(arg, rf"\b{arg}\b")
    if entry.nan_out and variant in ("nan", "inf"):
        try:
            out = entry.call(**{arg: bad})
        except (ValueError, TypeError) as err:
            assert re.search(pattern, str(err)), str(err)
        else:
            leaves = [np.asarray(v) for v in jax.tree_util.tree_leaves(out)]
            assert not all(np.all(np.isfinite(v)) for v in leaves), f"finite output {out} from {variant} input"
        return
    with pytest.raises((ValueError, TypeError), match=pattern):
        out = entry.call(**{arg: bad})
        jax.block_until_ready(out)


# --------------------------------------------------------------------------------------------
# hand-written cases: settings that overflow, sizes beyond memory, deep JAX/Flax errors made clear
# --------------------------------------------------------------------------------------------

CNN = fcnn.get_model("cnn_small", 3)
X_IMG = jnp.zeros((2, 8, 8, 3))
CNN_VARS = CNN.init(KEY, X_IMG)
KEYS3 = jax.random.split(KEY, 3)
X2 = jnp.array([[0.0, 0.0], [1.0, 1.0]])


def _special():
    c = [
        ("mlp-init-sigma_w-overflow", lambda: fmodels.mlp((8, 1), sigma_w=1e300).init(KEY, X1), ValueError, "sigma_w"),
        (
            "two_layer_relu-l_range-inf",
            lambda: fmodels.two_layer_relu(8, l_range=(-math.inf, 4.0)),
            ValueError,
            "l_range",
        ),
        (
            "two_layer_relu-l_range-nan",
            lambda: fmodels.two_layer_relu(8, l_range=(math.nan, 4.0)),
            ValueError,
            "l_range",
        ),
        ("mlp-init-key-batch", lambda: MLP.init(KEYS3, X1), ValueError, r"\bkey\b"),
        ("two_layer_relu-init-key-batch", lambda: fmodels.two_layer_relu(8).init(KEYS3, X1), ValueError, r"\bkey\b"),
        ("asi-init-key-batch", lambda: fmodels.asi(MLP).init(KEYS3, X1), ValueError, r"\bkey\b"),
        ("cnn-init-key-batch", lambda: CNN.init(KEYS3, X_IMG), ValueError, r"\bkey\b"),
        ("cnn-init-key-int", lambda: CNN.init(0, X_IMG), TypeError, r"\bkey\b"),
        ("mlp-init-x-complex", lambda: MLP.init(KEY, X1.astype(jnp.complex64)), TypeError, r"\bx\b"),
        ("mlp-init-x-string", lambda: MLP.init(KEY, "x"), TypeError, r"\bx\b"),
        ("cnn-apply-no-params", lambda: CNN.apply({"w": CNN_VARS["params"]}, X_IMG), TypeError, "variables"),
        (
            "cnn-evaluate-no-params",
            lambda: fcnn.evaluate_cnn(CNN, {"w": CNN_VARS["params"]}, X_IMG, jnp.array([0, 1])),
            TypeError,
            "variables",
        ),
        ("cnn-apply-x-rank2", lambda: CNN.apply(CNN_VARS, jnp.zeros((2, 8))), ValueError, r"\bx\b"),
        ("cnn-shuffle_labels-key-batch", lambda: fcnn.shuffle_labels(jnp.arange(4), key=KEYS3), ValueError, r"\bkey\b"),
        (
            "fit-key-batch",
            lambda: ftrain.fit(MLP.apply, PARAMS, X1, Y1, optimizer=optax.sgd(0.1), steps=1, batch_size=3, key=KEYS3),
            ValueError,
            r"\bkey\b",
        ),
        (
            "gradient_flow-max_steps-0",
            lambda: ftrain.gradient_flow(MLP.apply, PARAMS, X1, Y1, jnp.array([0.0, 1.0]), max_steps=0),
            ValueError,
            "max_steps",
        ),
        (
            "gradient_flow-t-decreasing",
            lambda: ftrain.gradient_flow(MLP.apply, PARAMS, X1, Y1, jnp.array([1.0, 0.0])),
            ValueError,
            r"\bt\b",
        ),
        ("mse-broadcast", lambda: ftrain.mse(jnp.zeros((4, 1)), jnp.arange(4.0)), ValueError, r"\by\b"),
        ("ce-label-negative", lambda: ftrain.ce(jnp.zeros((2, 3)), jnp.array([0, -1])), ValueError, r"\by\b"),
        ("ce-label-too-large", lambda: ftrain.ce(jnp.zeros((2, 3)), jnp.array([0, 3])), ValueError, r"\by\b"),
        ("ce-label-fraction", lambda: ftrain.ce(jnp.zeros((2, 3)), jnp.array([0.0, 1.7])), ValueError, r"\by\b"),
        ("ce-label-complex", lambda: ftrain.ce(jnp.zeros((2, 3)), jnp.array([0j, 1j])), TypeError, r"\by\b"),
        ("bce-target-above-1", lambda: ftrain.bce(jnp.zeros(2), jnp.array([0.0, 1.5])), ValueError, r"\by\b"),
        ("bce-target-negative", lambda: ftrain.bce(jnp.zeros(2), jnp.array([-0.5, 1.0])), ValueError, r"\by\b"),
        (
            "kernel_spectrum-grid_size-memory",
            lambda: tangent_fourier.kernel_spectrum(MLP, MLP.init(KEY, X2), X2, grid_size=10**9),
            ValueError,
            "grid_size",
        ),
        (
            "kernel_spectrum-grid_size-too-small",
            lambda: tangent_fourier.kernel_spectrum(MLP, PARAMS, X1, grid_size=2),
            ValueError,
            "grid_size",
        ),
        (
            "kernel_power_spectrum-pad-memory",
            lambda: fspec.kernel_power_spectrum(jnp.ones((3, 3, 1, 2)), 10**6),
            ValueError,
            "pad",
        ),
        ("lfp_constant_1d-inf", lambda: lfp.lfp_constant_1d(math.inf), ValueError, "l_half_width"),
        ("relu_ntk_1d-l-inf", lambda: lfp.relu_ntk_1d(X1, X1, MOMENTS, math.inf), ValueError, "l_half_width"),
        ("relu_ntk_1d-l-nan", lambda: lfp.relu_ntk_1d(X1, X1, MOMENTS, math.nan), ValueError, "l_half_width"),
        ("grid_fft-nonuniform", lambda: fspec.grid_fft(VG, XG.at[3].add(0.05)), ValueError, "x_grid"),
        (
            "grid_fft-float32-spacing",
            lambda: fspec.grid_fft(jnp.ones(8), 1e6 + 0.01 * jnp.arange(8.0)),
            ValueError,
            "x_grid",
        ),
        ("sweep-keys-int", lambda: ftrain.sweep(lambda k: 0.0, 3), TypeError, r"\bkeys\b"),
        ("sweep-keys-single", lambda: ftrain.sweep(lambda k: 0.0, KEY), ValueError, r"\bkeys\b"),
        ("lanczos_eigh-k-too-large", lambda: fntk.lanczos_eigh(lambda v: K6 @ v, 6, 7, key=KEY), ValueError, r"\bk\b"),
    ]
    # invalid trace/diagonal axes: refused the same way on every implementation path
    for impl in fntk.IMPLEMENTATIONS:
        for label, kw in (
            ("trace5", {"trace_axes": (5,)}),
            ("trace-batch", {"trace_axes": (0,)}),
            ("trace-str", {"trace_axes": "a"}),
            ("diag5", {"diagonal_axes": (5,), "trace_axes": ()}),
            ("both-same", {"trace_axes": (-1,), "diagonal_axes": (1,)}),
        ):
            name = next(iter(kw)) if label != "both-same" else "trace_axes"
            exc = TypeError if label == "trace-str" else ValueError
            c.append(
                (
                    f"empirical_ntk-{impl}-{label}",
                    lambda impl=impl, kw=kw: fntk.empirical_ntk(MLP, PARAMS, X1, implementation=impl, **kw),
                    exc,
                    name,
                )
            )
    return c


SPECIAL = _special()


@pytest.mark.parametrize(("thunk", "exc", "match"), [pytest.param(*c[1:], id=c[0]) for c in SPECIAL])
def test_special_bad_input(thunk, exc, match):
    with pytest.raises(exc, match=match):
        jax.block_until_ready(thunk())


def test_integer_inputs_are_read_as_floats():
    """Integer points are data, not an error: init and apply treat them as the default float."""
    xi = jnp.arange(6)[:, None]
    p = MLP.init(KEY, xi)
    assert all(jnp.issubdtype(v.dtype, jnp.floating) for v in jax.tree_util.tree_leaves(p))
    np.testing.assert_allclose(MLP.apply(p, xi), MLP.apply(p, xi.astype(jnp.float32)), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# NaN/Inf in, NaN (or an error) out - never a finite number
# --------------------------------------------------------------------------------------------


def _nan_img(v):
    return X_IMG.at[0].set(v)


NAN_OUT = [
    ("cnn-eval-nan-image", lambda v: CNN.apply(CNN_VARS, _nan_img(v))[0][0]),
    ("cnn-train-nan-image", lambda v: CNN.apply(CNN_VARS, _nan_img(v), train=True)[0][0]),
    ("mlp-apply", lambda v: MLP.apply(PARAMS, X1.at[0, 0].set(v))[0]),
    ("mse", lambda v: ftrain.mse(Y1.at[0, 0].set(v), Y1)),
    ("bce-logits", lambda v: ftrain.bce(Y1.at[0, 0].set(v), jnp.zeros_like(Y1))),
    ("ce-logits", lambda v: ftrain.ce(jnp.zeros((2, 3)).at[0, 0].set(v), jnp.array([1, 2]))),
    ("grid_fft", lambda v: fspec.grid_fft(VG.at[0].set(v), XG).coeffs),
    ("nudft", lambda v: fspec.nudft(X1, Y1[:, 0].at[0].set(v), jnp.array([0.5]))),
    ("kernel_flow-f0", lambda v: fntk.kernel_flow(K6, Y1, 1.0, f0_train=Y1.at[0, 0].set(v))),
    (
        "empirical_ntk-params",
        lambda v: fntk.empirical_ntk(MLP, jax.tree_util.tree_map(lambda a: a.at[(0,) * a.ndim].set(v), PARAMS), X1),
    ),
    (
        "hvp-params",
        lambda v: fhess.hvp(LOSS_FN, jax.tree_util.tree_map(lambda a: a.at[(0,) * a.ndim].set(v), PARAMS), PARAMS),
    ),
    ("fpnorm-evaluate_on_grid", lambda v: fpnorm.evaluate_on_grid(COEFFS.at[1].set(v), 8)),
    ("relative_error", lambda v: fspec.relative_error(jnp.ones(3).at[0].set(v), jnp.ones(3))),
]


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("fn", [pytest.param(f, id=n) for n, f in NAN_OUT])
def test_nonfinite_input_never_gives_finite_output(fn, value):
    try:
        out = fn(value)
    except (ValueError, TypeError, FloatingPointError) as err:
        assert re.search(r"NaN|Inf|finite|nan|inf", str(err)), str(err)
        return
    leaves = [np.asarray(v) for v in jax.tree_util.tree_leaves(out)]
    assert leaves and not all(np.all(np.isfinite(v)) for v in leaves), f"finite output from {value} input: {out}"


def test_table_is_large_enough():
    n = len(CASES) + len(SPECIAL) + 2 * len(NAN_OUT)
    assert len(CASES) >= 200 and n >= 300, (len(CASES), n)
