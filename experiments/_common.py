"""Helpers shared by several experiments (private: the runner skips modules starting with ``_``).

Claims, seed keys and figures come from :mod:`fpjax.experiment` (``claim``, ``seed_keys``,
``new_figure``, ``save_figure``); this module holds what several experiments compute alike:

* 1-D experiments of "How you start matters" (hys1, hys2, hys3, hysA2, hysA3): grids, spectra of the
  network function, crossing steps, learning-rate choice, rank statistics, decay rates, seed sweeps;
* F-Principle experiments (``fp-*``, ``lfp-vs-nn``): convergence steps, monotonicity, heat maps;
* CNN experiments (hys4-cnn-bandwidth, fr-ssr, fr-robustness): data, models, weight spectra,
  Hessian statistics.

Conventions of the 1-D helpers:

* inputs are ``(n, 1)`` float32 columns; grids are uniform and exclude the right end point,
  ``x_j = lo + j (hi − lo)/n``, so :func:`fpjax.spectrum.grid_fft` reads them directly;
* "depth" of an MLP is its number of hidden (activation) layers: ``depth=2`` is
  ``1 → width → width → 1``;
* spectra are of the mean-removed function on a dense grid, tapered by a Hann window so that the
  jump between the two ends of a non-periodic function (a random ReLU net is close to a ramp) does
  not leak ``1/ξ²`` power into every frequency; "high-frequency fraction" is the share of the power
  above a cutoff, which does not depend on the output's scale.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fpjax import spectrum
from fpjax.experiment import Config, seed_keys
from fpjax.models import mlp
from fpjax.train import sweep

# --------------------------------------------------------------------------------------------------
# 1-D experiments

WINDOW = "hann"


def uniform_grid(n: int, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """``(n,)`` float32 grid ``lo + j (hi − lo)/n``, ``j < n`` (right end excluded)."""
    return (lo + (hi - lo) * np.arange(n) / n).astype(np.float32)


def column(x: Any) -> jax.Array:
    """``(n,)`` → ``(n, 1)`` float32 model input."""
    return jnp.asarray(np.asarray(x, np.float32).reshape(-1, 1))


def deep_mlp(activation: str, depth: int, width: int, out_dim: int = 1, **kwargs):
    """:func:`fpjax.models.mlp` with ``depth`` hidden layers of ``width`` units and ``out_dim`` outputs."""
    return mlp((int(width),) * int(depth) + (int(out_dim),), activation, **kwargs)


def power_spectrum(values: Any, x_grid: np.ndarray, window: Any = WINDOW):
    """One-sided power ``|ĥ(ξ)|²`` of the mean-removed ``values`` ``(..., N)`` on ``x_grid``.

    Returns ``(freqs (M,), power (..., M))`` for ``ξ ≥ 0`` (``M = ⌈N/2⌉``). Works inside ``jit`` (the
    grid is a concrete numpy array). For a real function ``|ĥ(−ξ)| = |ĥ(ξ)|``, so ``ξ ≥ 0`` suffices.
    """
    v = values - jnp.mean(values, axis=-1, keepdims=True)
    freqs, coeffs = spectrum.grid_fft(v, x_grid, window=window)
    n = x_grid.shape[0]
    return freqs[n // 2 :], jnp.abs(coeffs[..., n // 2 :]) ** 2


def high_freq_fraction(values: Any, x_grid: np.ndarray, cutoff: float, window: Any = WINDOW) -> jax.Array:
    """``Σ_{ξ>cutoff} |ĥ(ξ)|² / Σ_{ξ≥0} |ĥ(ξ)|²`` of the mean-removed ``values`` ``(..., N)`` → ``(...)``.

    A constant function (zero power) gives 0.
    """
    freqs, power = power_spectrum(values, x_grid, window)
    total = jnp.sum(power, axis=-1)
    hi = jnp.sum(jnp.where(freqs > cutoff, power, 0.0), axis=-1)
    return jnp.where(total > 0, hi / jnp.where(total > 0, total, 1.0), 0.0)


def rel_rmse(h: Any, f: Any, axis: int = -1) -> np.ndarray:
    """``‖h − f‖ / ‖f‖`` along ``axis`` (root-mean-square ratio)."""
    h, f = np.asarray(h, np.float64), np.asarray(f, np.float64)
    return np.sqrt(np.mean((h - f) ** 2, axis=axis) / np.mean(f**2, axis=axis))


def pick_rate(rates: Sequence[float], train_rel_rmse: Any, final_loss: Any, tol: float) -> int:
    """Index of the learning rate to keep from a grid run on the same inits (axes ``(rate, seed)``).

    The smallest rate whose median relative train RMSE is below ``tol`` (closest to the gradient flow
    of the theory); if none fits, the rate with the lowest median final loss (NaN/Inf counted as
    ``+inf``). Only training data enter the choice.
    """
    rmse = np.asarray(train_rel_rmse, float)
    loss = np.asarray(final_loss, float)
    loss = np.median(np.where(np.isfinite(loss), loss, np.inf), axis=1)
    ok = np.flatnonzero((np.median(np.where(np.isfinite(rmse), rmse, np.inf), axis=1) < tol) & np.isfinite(loss))
    if ok.size:
        return int(ok[np.argmin(np.asarray(rates, float)[ok])])
    return int(np.argmin(loss))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """:func:`fpjax.spectrum.spearman` (average ranks for ties, NaN when a side is constant or has
    fewer than 2 values, rounded to 12 decimals); NaN instead of an error when an input holds NaN,
    so that a reported correlation of undefined data is NaN."""
    from fpjax.spectrum import spearman as rank_correlation

    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    return rank_correlation(a, b)


def order_counts(times: Sequence[float], never: Sequence[bool]) -> tuple[int, int, int]:
    """Pairwise order of events listed in the expected order (e.g. convergence steps by frequency).

    For each pair ``i < j``: *concordant* if event ``i`` happened strictly first (including ``j`` never
    happening), *discordant* if ``j`` happened strictly first (including ``i`` never happening), a
    *tie* if both happened at the same time. Pairs where neither happened carry no information and
    are skipped, so events censored by the end of training do not count as ties the way they would
    in a rank correlation. Returns ``(concordant, discordant, ties)``.
    """
    t = np.asarray(times, float)
    nv = np.asarray(never, bool)
    c = d = ties = 0
    for i in range(t.size):
        for j in range(i + 1, t.size):
            if nv[i] and nv[j]:
                continue
            if nv[j] or (not nv[i] and t[i] < t[j]):
                c += 1
            elif nv[i] or t[j] < t[i]:
                d += 1
            else:
                ties += 1
    return c, d, ties


def decay_rate(t: Any, amps: Any, floor_ratio: float = 1e-2, min_points: int = 3) -> float:
    """Exponential rate ``λ`` of ``amps(t) ≈ A e^{−λ t}`` by least squares on ``log amps``.

    Uses the records from the start up to (excluding) the first one below ``floor_ratio·amps[0]``,
    so the fit sees the decay and not the rounding floor it ends on. If fewer than ``min_points``
    records remain (a very fast decay) the first ``min_points`` are used. Returns NaN if
    ``amps[0] == 0``.
    """
    t, a = np.asarray(t, float), np.asarray(amps, float)
    if not a[0] > 0:
        return float("nan")
    low = np.flatnonzero(a < floor_ratio * a[0])
    stop = int(low[0]) if low.size else a.size
    stop = max(stop, min(min_points, a.size))
    tt, la = t[:stop], np.log(np.maximum(a[:stop], np.finfo(float).tiny))
    slope = np.polyfit(tt, la, 1)[0]
    return float(-slope)


def seed_sweep(
    fn: Callable,
    seed: int,
    n_seeds: int,
    xs: Any = None,
    *,
    stream: int = 0,
    tile: int = 1,
    expect_divergence: bool = False,
):
    """One vmapped ``fpjax.train.sweep`` over ``seed_keys(seed, n_seeds, stream)`` (keys split from
    ``fold_in(key(seed), stream)``).

    ``stream`` separates independent random streams of one experiment (e.g. the draw of targets vs
    the network inits). ``tile > 1`` repeats the key list ``tile`` times (entry ``i`` uses seed
    ``i % n_seeds``), e.g. to run the same inits at several learning rates given in ``xs``. With
    ``xs`` (leading axis ``n_seeds·tile``), ``fn(key, x_i)`` is called. ``expect_divergence``
    silences the sweep's diverged-seeds warning, for learning-rate grids whose largest rates may
    diverge by design (the caller records the divergence in its metrics).
    """
    keys = seed_keys(int(seed), int(n_seeds), int(stream))
    if tile > 1:
        keys = keys[np.tile(np.arange(int(n_seeds)), int(tile))]
    if not expect_divergence:
        return sweep(fn, keys, xs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="sweep: .* diverged", category=RuntimeWarning)
        return sweep(fn, keys, xs)


def rate_sweep(
    train: Callable, seed: int, n_seeds: int, learning_rates: Sequence[float], start: Callable | None = None
) -> tuple[Any, dict]:
    """Train ``n_seeds`` starts at every learning rate, every rate from the same starts.

    ``start(key) -> {"p": params, ...}`` (optional) makes the starts once per seed, e.g. with a
    pre-training; then ``train(key, {"p": params, "learning_rate": η})`` runs. Without ``start``,
    ``train(key, η)`` makes its own start from ``key`` (the same key for every rate). Each stage is one
    vmapped :func:`seed_sweep`; divergence at the largest rates is expected and left to the caller.

    Returns:
        ``(starts, outputs)``: the outputs of ``start`` per seed (``None`` without ``start``) and
        ``train``'s outputs as numpy arrays with axes ``(rate, seed, ...)``.
    """
    lrs = np.asarray(learning_rates, np.float32)
    starts = None
    if start is None:
        xs = np.repeat(lrs, n_seeds)
    else:
        starts = seed_sweep(start, seed, n_seeds).outputs
        xs = {
            "p": jax.tree_util.tree_map(lambda a: np.concatenate([a] * len(lrs)), starts["p"]),
            "learning_rate": np.repeat(lrs, n_seeds),
        }
    out = seed_sweep(train, seed, n_seeds, xs, tile=len(lrs), expect_divergence=True).outputs
    return starts, {k: np.asarray(v).reshape((len(lrs), n_seeds) + np.asarray(v).shape[1:]) for k, v in out.items()}


def fitted_rate(outputs: dict, y_train: np.ndarray, learning_rates: Sequence[float], tol: float):
    """The learning rate kept from a :func:`rate_sweep` whose ``train`` returns ``train_pred``
    (predictions at the training inputs), ``loss`` (final) and ``diverged``.

    Returns:
        ``(index, train_rel_rmse, loss)``: the index of :func:`pick_rate`'s choice, the relative
        train RMSE ``‖h(X) − Y‖/‖Y‖`` and the final loss (``inf`` where diverged), both ``(rate, seed)``.
    """
    y_rms = float(np.sqrt(np.mean(y_train.astype(np.float64) ** 2)))
    train_rmse = np.sqrt(np.mean((outputs["train_pred"].astype(np.float64) - y_train) ** 2, axis=-1)) / y_rms
    loss = np.where(outputs["diverged"], np.inf, outputs["loss"])
    return pick_rate(learning_rates, train_rmse, loss, tol), train_rmse, loss


# --------------------------------------------------------------------------------------------------
# F-Principle experiments


def adam_seed_sweep(cfg: Config, model, x: Any, y: Any, record: Callable):
    """The F-Principle experiments' training: one Adam run (``cfg.learning_rate``, ``cfg.steps``) of
    ``model`` on ``(x, y)`` per key of ``seed_keys(cfg.seed, cfg.n_seeds)``, from the key's init,
    recording ``record(params)`` every ``cfg.record_every`` steps; one vmapped sweep.

    Returns:
        The :func:`fpjax.train.sweep` result; its outputs have leading axis seed: ``records``
        ``(S, R, ...)``, ``losses``, ``record_steps``, ``diverged``.
    """
    import optax

    from fpjax.train import fit

    opt = optax.adam(cfg.learning_rate)

    def one_seed(key):
        r = fit(
            model.apply,
            model.init(key, x),
            x,
            y,
            optimizer=opt,
            steps=cfg.steps,
            record=record,
            record_every=cfg.record_every,
        )
        return {"records": r.records, "losses": r.losses, "record_steps": r.record_steps, "diverged": r.diverged}

    return sweep(one_seed, seed_keys(cfg.seed, cfg.n_seeds))


def finite_or_none(a: Any):
    """Nested lists with ``inf``/``nan`` replaced by ``None`` (JSON ``null``: "never reached")."""
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 0:
        return float(arr) if np.isfinite(arr) else None
    return [finite_or_none(v) for v in arr]


def strictly_increasing(v: Any) -> bool:
    """True if every entry is larger than the one before (``inf`` after ``inf`` is not)."""
    v = np.asarray(v, dtype=float)
    return bool(np.all(v[1:] > v[:-1]))


def non_decreasing(v: Any) -> bool:
    """True if no entry is smaller than the one before (ties allowed, ``inf`` only at the end)."""
    v = np.asarray(v, dtype=float)
    return bool(np.all(v[1:] >= v[:-1]))


def log_steps(steps: Any) -> np.ndarray:
    """Steps for a log axis: step 0 (initialization) drawn at half the first positive step."""
    st = np.asarray(steps, dtype=float)
    pos = st[st > 0]
    return np.where(st > 0, st, 0.5 * (pos[0] if pos.size else 1.0))


def error_curves_axes(ax, threshold: float, *, ylabel: str, title: str, legend_size: float = 8) -> None:
    """Finish the standard "relative error against step" axes of the F-Principle experiments: the
    threshold as a dotted line, log-log axes (step 0 drawn at the left edge, see :func:`log_steps`),
    labels and legend."""
    ax.axhline(threshold, color="k", ls=":", lw=1, label=f"threshold {threshold:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step (step 0 drawn at the left edge)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=legend_size)


def error_heatmap(
    fig, ax, steps, values, row_labels, *, threshold=None, crossings=None, vmax=1.0, label="relative error"
):
    """Heat map of ``values (R, T)`` (rows × recorded steps) on a log step axis, with optional markers
    at the steps where each row first got below ``threshold`` (``crossings (R,)``, ``inf`` = never)."""
    st = log_steps(steps)
    v = np.where(np.isfinite(values), values, vmax)
    im = ax.pcolormesh(st, np.arange(v.shape[0]), v, cmap="viridis", vmin=0.0, vmax=vmax, shading="nearest")
    fig.colorbar(im, ax=ax, label=label)
    if crossings is not None:
        c = np.asarray(crossings, dtype=float)
        fin = np.isfinite(c)
        ax.plot(
            np.maximum(c[fin], st[0]),
            np.arange(c.size)[fin],
            "w^",
            ms=7,
            label=f"first ≤ {threshold:g}" if threshold is not None else None,
        )
        if threshold is not None and fin.any():
            ax.legend(fontsize=7, loc="upper right")
    ax.set_xscale("log")
    ax.set_yticks(np.arange(v.shape[0]), row_labels, fontsize=8)
    ax.set_xlabel("step (step 0 drawn at the left edge)")


# --------------------------------------------------------------------------------------------------
# CNN experiments


NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "tiny_imagenet": 200, "digits": 10, "digits32": 10}


def load_images(dataset: str, cfg: Config):
    """``(x_train, y_train, x_test, y_test)`` as device arrays for an image data set.

    ``cfg`` settings: ``data_dir`` (None: ``$FPJAX_DATA``), ``n_train`` / ``n_test`` (None: all; else
    a fixed subset drawn with ``numpy.random.default_rng(0)``, the same for every seed so that
    seeds differ only in initialisation and minibatch order), ``standardize`` (per-channel, train
    statistics).
    """
    import jax.numpy as jnp

    from fpjax.data import load_dataset, standardize

    if dataset not in NUM_CLASSES or dataset == "digits":
        raise ValueError(
            f"unknown image data set {dataset!r} for the CNN experiments; expected one of "
            f"{', '.join(k for k in NUM_CLASSES if k != 'digits')}"
        )
    xtr, ytr = load_dataset(dataset, "train", cfg.data_dir)
    xte, yte = load_dataset(dataset, "test", cfg.data_dir)
    rng = np.random.default_rng(0)
    if cfg.n_train is not None and cfg.n_train < len(ytr):
        idx = np.sort(rng.permutation(len(ytr))[: cfg.n_train])
        xtr, ytr = xtr[idx], ytr[idx]
    if cfg.n_test is not None and cfg.n_test < len(yte):
        idx = np.sort(rng.permutation(len(yte))[: cfg.n_test])
        xte, yte = xte[idx], yte[idx]
    if cfg.standardize:
        xtr, xte = standardize(xtr, xte)
    return jnp.asarray(xtr), jnp.asarray(ytr), jnp.asarray(xte), jnp.asarray(yte)


def build_model(name: str, dataset: str, cfg: Config, **extra):
    """``fpjax.cnn.get_model`` with the options ``cfg.model_options[name]`` and ``extra`` (e.g.
    dropout, ``conv_impl``; convolutions default to ``"auto"``)."""
    from fpjax.cnn import get_model

    opts = {"conv_impl": "auto", **(cfg.model_options or {}).get(name, {}), **extra}
    return get_model(name, NUM_CLASSES[dataset], **opts)


def train_conv_impl() -> str:
    """The convolution implementation for *training*: on CPU the per-step loop runs the ``lax``
    convolution about twice as fast as im2col; inside loops (Hessians) im2col is needed, which
    ``"auto"`` picks on CPU."""
    import jax

    return "lax" if jax.default_backend() == "cpu" else "auto"


def kernel_profiles_fn(pad: int):
    """``params -> {layer: (R,) radial profile}`` for every k×k (k ≥ 2) conv kernel (jittable)."""
    from fpjax.cnn import spatial_kernels
    from fpjax.spectrum import kernel_power_spectrum, radial_profile

    def record(params):
        return {name: radial_profile(kernel_power_spectrum(k, pad))[1] for name, k in spatial_kernels(params).items()}

    return record


def profile_radii(pad: int) -> np.ndarray:
    from fpjax.spectrum import radial_profile

    return np.asarray(radial_profile(np.ones((pad, pad), np.float32))[0])


def hessian_stats(loss_on_batch, variables, x, y, key, cfg: Config) -> dict:
    """Trace (Hutchinson, deflated), top eigenvalues and spectral density (SLQ) of the mean
    cross-entropy on ``(x, y)`` with batch norm in eval mode (running statistics, no dropout).

    ``loss_on_batch`` from :func:`make_loss_on_batch` (create it once per model and reuse it: it
    is the static part of the jitted Hessian routines, so reusing it avoids recompiling).

    ``cfg`` settings: ``hessian_samples`` (first that many of ``x``), ``hessian_batches`` (minibatches the
    HVPs are averaged over), ``hessian_probes``, ``hessian_num_iters``, ``top_k``, ``density_probes``,
    ``density_num_iters``. Returns plain floats/lists.
    """
    import jax
    import jax.numpy as jnp

    from fpjax import hessian

    n = min(cfg.hessian_samples, int(x.shape[0]))
    nb = cfg.hessian_batches
    n = (n // nb) * nb
    bs = variables.get("batch_stats", {})
    # The batch statistics travel with the data (replicated per minibatch) so that the loss function
    # itself — a static argument of the jitted Hessian routines — is the same object for every
    # model state, and they compile once per model.
    batches = {
        "x": x[:n].reshape((nb, n // nb) + tuple(x.shape[1:])),
        "y": y[:n].reshape(nb, n // nb),
        "bs": jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (nb,) + a.shape), bs),
    }
    # Always a BatchedLoss (also for one batch): its data are traced arguments, whereas data closed
    # over by a plain loss function become XLA constants, and XLA:CPU then tries to constant-fold
    # the convolutions of the input (tens of seconds per op).
    loss = hessian.batched_loss(loss_on_batch, batches)
    params = variables["params"]
    k1, k2 = jax.random.split(key)
    s = hessian.hessian_summary(
        loss,
        params,
        key=k1,
        num_probes=cfg.hessian_probes,
        num_iters=cfg.hessian_num_iters,
        k=cfg.top_k,
    )
    grid, dens = hessian.eigen_density(
        loss, params, key=k2, num_probes=cfg.density_probes, num_iters=cfg.density_num_iters, grid=400
    )
    return {
        "trace": float(s.trace),
        "trace_se": float(s.standard_error),
        "top_eigenvalues": np.asarray(s.top_eigenvalues).tolist(),
        "spectral_norm": float(s.spectral_norm),
        "n_samples": n,
        "density_grid": np.asarray(grid).tolist(),
        "density": np.asarray(dens).tolist(),
    }


def make_loss_on_batch(model):
    """``(params, batch) -> mean cross-entropy`` in eval mode, ``batch = {"x", "y", "bs"}`` with
    ``bs`` the batch-norm running statistics (see :func:`hessian_stats`)."""
    import jax.numpy as jnp
    import optax

    def loss_on_batch(params, batch):
        v = {"params": params, "batch_stats": batch["bs"]} if batch["bs"] else {"params": params}
        logits = model.module.apply(v, batch["x"], train=False)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]))

    return loss_on_batch


def mean(v: Any) -> float:
    return float(np.mean(np.asarray(v, dtype=float)))
