"""hys5-flat-minima: Hessian flatness at convergence vs generalization ("How you start matters", §8, Exp. 5).

Target ``f(x) = Σ_{i≤4} a_i sin(2πix)``, ``a_i ~ U(0, 1)`` (drawn from the run's seed), sampled at
``n_train`` equidistant points of ``[0, 1]``; test error ``‖h − f‖/‖f‖`` (root mean square) on a
dense grid of ``n_test`` points of ``[0, 1)``. Networks: MLPs 1-W-…-W-1 with ``depth`` hidden layers,
ReLU or Gaussian ``exp(−z²/(2s²))`` activations, each from a low- and a high-bandwidth init:

* ReLU, low: Xavier (the source's choice). ReLU, high: Xavier, then pre-trained (Adam) on
  ``sin(2π ξ_pre x)`` at ``pretrain_points`` points of ``[0, 1)`` with ``ξ_pre`` above the training
  samples' Nyquist frequency ``(n_train − 1)/2`` (the source's Exp. 4b/5 method). Scaling a ReLU
  net's weights only rescales its piecewise-linear output, so a large raw σ does not add high
  frequencies; pre-training does (the high-frequency power fraction at the start of training is in
  the metrics).
* Gaussian, high: Xavier (the source's choice: with ``s = 0.1`` and ``depth = 5`` a Xavier Gaussian
  net already has most of its power above Nyquist). Gaussian, low: raw init ``N(0, σ_low²)`` for
  every weight and bias (the source: "a weight distribution such that it does not contain
  frequencies above Nyquist"); ``σ_low = 0.05``, see the settings tried below.

Every network is trained full-batch with Adam on the MSE ``(1/2n)Σ(h(x_i) − y_i)²`` for ``steps``
steps, the rate decaying from ``learning_rate`` to 0 on a cosine schedule. At the end, on the training loss:
Hessian trace (Lanczos-deflated Hutchinson, :func:`fpjax.hessian.hessian_summary`), top eigenvalue
and spectral norm ``max |λ|`` (Lanczos, full reorthogonalization), and the eigenvalue density
(stochastic Lanczos quadrature: the same Lanczos run, started from random signs, is one quadrature
sample per network; the figure averages the runs of each init). Per activation, all seeds of both
inits are one vmapped :func:`fpjax.train.sweep` (initial parameters passed as per-seed inputs);
the Hessian quantities are computed inside the sweep.

Claims computed, per activation, over the runs that reached ``train_loss_tol``: "flatter minima
went with better generalization" holds when (a) the Spearman rank correlation of Hessian trace
with test error across runs is positive and (b) the init with the lower mean test error also has
the lower mean trace. The source reports this holds for ReLU and fails for Gaussian networks; the
spectral-bias view predicts that the low-bandwidth init generalizes better for both.

Settings tried while writing this (quick scale, seed 0, 4 seeds per init, width 64, 16 samples):

* depth 3, Adam 1e-3, 3000 steps: Xavier Gaussian nets had only 0.3-5% of their initial power above
  Nyquist (not high-bandwidth) and generalized as well as ReLU (test error 0.09-0.17) → depth 5,
  where the fraction is 40-90% (depth 4: 4-26%).
* depth 5, 3000 steps: ReLU-low test error ≈ 0.1 with trace 1.1-1.7k, ReLU-high 0.23-0.42 with
  trace 5-9k; Gaussian-high 0.29-0.43 with trace 13-29k; Gaussian-low with σ = 0.01: 0.11-0.18,
  trace 2-11k (one seed not converged); σ = 0.05: 0.08-0.13, trace 7-19k; σ = (1 for the first
  layer, 0.05 after): 0.14-0.26, trace 0.2-0.5k. σ_low = 0.05 is the all-layer scale with no
  power above Nyquist at init that trained to the lowest loss. Some ReLU runs were not converged
  at 3000 steps (loss up to 5e-3) → 6000 steps.
* constant Adam rate 1e-3, 6000 steps: 3 of 4 Gaussian-high runs ended at losses 0.02-0.14 after
  having reached ~1e-10 (Adam's normalized steps blow up near zero loss); rate 1e-4 still spiked
  to 1e-6. With a cosine decay from 1e-3 every Gaussian run ended below 1e-13; at 4000 steps two
  ReLU-high runs (pre-trained) ended at 6-7e-4 → cosine schedule, 8000 steps (largest 2e-4).

What this gives (quick, seed 0): ReLU-low test error 0.03-0.05 with trace 170-380, ReLU-high 0.38-0.74
with trace 4.3-7.2k (Spearman ρ(trace, error) = 0.81 over the 8 runs): consistent with the
conjecture, as in the source. Gaussian-low 0.04-0.09 with trace 1.4-2.8k, Gaussian-high 0.27-0.45
with trace 10-22k (ρ = 0.67): also consistent, which is *not* what the source reports for Gaussian
networks (the second claim does not hold here). The spectral-bias claim (low-bandwidth init
generalizes better) holds for both.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fpjax import hessian as fh
from fpjax import models, train
from fpjax.experiment import Config, Experiment, claim, new_figure, save_figure

from . import _common as C

QUICK = {
    "n_train": 16,
    "n_test": 512,
    "width": 64,
    "depth": 5,
    "activations": ["relu", "gaussian"],
    "gaussian_s": 0.1,
    "gaussian_low_sigma": 0.05,
    "pretrain_freq": 12.0,
    "pretrain_points": 128,
    "pretrain_steps": 2000,
    "learning_rate": 1e-3,
    "steps": 8000,
    "n_seeds": 4,
    "train_loss_tol": 1e-3,
    "hessian_probes": 20,
    "hessian_num_iters": 30,
}
FULL = dict(
    QUICK,
    n_seeds=16,
    width=128,
    steps=20000,
    pretrain_steps=5000,
    pretrain_points=256,
    hessian_probes=100,
    hessian_num_iters=80,
)
# The ledger's "cpu" scale (`fpjax run NAME --cpu`): between quick and full, the largest that
# runs in minutes on a 2-core CPU.
CPU = dict(QUICK, steps=16000, n_seeds=8)


def target_coeffs(seed: int) -> np.ndarray:
    """``a_i ~ U(0, 1)``, ``i = 1..4``, from the run's seed (stream 0)."""
    return np.asarray(jax.random.uniform(jax.random.fold_in(jax.random.key(int(seed)), 0), (4,)), np.float64)


def target(x, a):
    """``f(x) = Σ_i a_i sin(2π i x)``."""
    return sum(a[i] * np.sin(2 * np.pi * (i + 1) * x) for i in range(4))


def _model(cfg, act, init):
    widths = (cfg.width,) * cfg.depth + (1,)
    if init == "low" and act == "gaussian":
        return models.mlp(widths, act, init="raw", layer_sigmas=cfg.gaussian_low_sigma, gaussian_s=cfg.gaussian_s)
    return models.mlp(widths, act, init="xavier", gaussian_s=cfg.gaussian_s)


def _high_freq_fraction(h, cutoff):
    """Share of the (Hann-windowed, mean-removed) power of ``h`` ``(..., N)`` on ``[0, 1)`` above ``cutoff``."""
    v = h - h.mean(-1, keepdims=True)
    p = np.abs(np.fft.rfft(v * np.hanning(v.shape[-1]), axis=-1)) ** 2
    freqs = np.arange(p.shape[-1])  # cycles per unit on a grid spanning [0, 1)
    tot = p.sum(-1)
    return np.where(tot > 0, p[..., freqs > cutoff].sum(-1) / np.where(tot > 0, tot, 1), 0.0)


def _initial_params(cfg, act, x_train):
    """Initial params of the ``n_seeds`` low- and high-bandwidth runs, stacked (low first)."""
    n = cfg.n_seeds
    key = jax.random.fold_in(jax.random.key(cfg.seed), 1 if act == "relu" else 2)
    k_low, k_high = jax.random.split(key)
    m_low, m_high = _model(cfg, act, "low"), _model(cfg, act, "high")
    p_low = jax.vmap(m_low.init, (0, None))(jax.random.split(k_low, n), x_train)
    p_high = jax.vmap(m_high.init, (0, None))(jax.random.split(k_high, n), x_train)
    if act == "relu":
        # high bandwidth by pre-training on a frequency above the samples' Nyquist frequency
        xp = (jnp.arange(cfg.pretrain_points) / cfg.pretrain_points)[:, None]
        yp = jnp.sin(2 * jnp.pi * cfg.pretrain_freq * xp)

        def pre(p0):
            r = train.fit(
                m_high.apply,
                p0,
                xp,
                yp,
                optimizer=optax.adam(cfg.learning_rate),
                steps=cfg.pretrain_steps,
            )
            return r.params

        p_high = jax.jit(jax.vmap(pre))(p_high)
    return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), p_low, p_high)


def _sweep(cfg, act, x_train, y_train, x_test):
    model = _model(cfg, act, "high")  # same apply for both inits (raw and xavier differ only at init)
    p0 = _initial_params(cfg, act, x_train)
    n_runs = 2 * cfg.n_seeds
    hkey = jax.random.fold_in(jax.random.key(cfg.seed), 3)

    def one(key, params0):
        # cosine decay to 0: the end point is a stable minimum (with a constant rate, Adam's
        # normalized steps kept kicking Gaussian nets out of their ~1e-15-loss minima)
        opt = optax.adam(optax.cosine_decay_schedule(cfg.learning_rate, cfg.steps))
        res = train.fit(model.apply, params0, x_train, y_train, optimizer=opt, steps=cfg.steps)

        def loss(p):
            return train.mse(model.apply(p, x_train), y_train)

        s = fh.hessian_summary(
            loss,
            res.params,
            key=jax.random.fold_in(hkey, 0),
            num_probes=cfg.hessian_probes,
            num_iters=cfg.hessian_num_iters,
        )
        return {
            "h0": model.apply(params0, x_test)[:, 0],
            "h": model.apply(res.params, x_test)[:, 0],
            "train_loss": loss(res.params),
            "diverged": res.diverged,
            "trace": s.trace,
            "trace_se": s.standard_error,
            "top": s.top_eigenvalues[0],
            "spectral_norm": s.spectral_norm,
            "nodes": s.ritz_values,
            "weights": s.ritz_weights,
        }

    keys = jax.random.split(jax.random.fold_in(jax.random.key(cfg.seed), 4), n_runs)
    out = train.sweep(one, keys, p0)
    return {k: np.asarray(v) for k, v in out.outputs.items()}, out.diverged


def _spearman(a, b):
    """Rank correlation of at least 3 pairs (NaN below: two points always correlate ±1)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float("nan") if a.size < 3 else C.spearman(a, b)


def run(cfg: Config, out_dir: Path) -> dict:
    a = target_coeffs(cfg.seed)
    n_tr = cfg.n_train
    xt = np.linspace(0.0, 1.0, n_tr)
    x_train = jnp.asarray(xt[:, None], jnp.float32)
    y_train = jnp.asarray(target(xt, a)[:, None], jnp.float32)
    xg = np.arange(cfg.n_test) / cfg.n_test
    x_test = jnp.asarray(xg[:, None], jnp.float32)
    f_test = target(xg, a)
    nyquist = (n_tr - 1) / 2.0

    per_act, raw = {}, {}
    for act in cfg.activations:
        o, diverged = _sweep(cfg, act, x_train, y_train, x_test)
        per_act[act], raw[act] = _summarize(cfg, o, diverged, f_test, nyquist)
    _figures(cfg, out_dir, raw=raw, xg=xg, f_test=f_test, xt=xt, yt=np.asarray(y_train)[:, 0])
    return {"target_coeffs": a, "nyquist": nyquist, "per_activation": per_act, "claims": _claims(per_act)}


def _summarize(cfg, o, diverged, f_test, nyquist):
    """Test errors, Hessian statistics and their rank correlation for the low- and high-bandwidth
    runs of one activation; also ``(outputs, errors, init labels, converged)`` for the figures."""
    n = cfg.n_seeds
    tol = cfg.train_loss_tol
    err = np.sqrt(np.mean((o["h"] - f_test) ** 2, axis=-1) / np.mean(f_test**2))
    hf0 = _high_freq_fraction(o["h0"], nyquist)
    hf = _high_freq_fraction(o["h"], nyquist)
    ok = ~diverged & np.isfinite(o["trace"]) & (o["train_loss"] < tol)
    init = np.array(["low"] * n + ["high"] * n)
    summary = {}
    for name in ("low", "high"):
        sel = ok & (init == name)
        summary[name] = {
            "n_converged": int(sel.sum()),
            "n_runs": n,
            "test_error_mean": float(err[sel].mean()) if sel.any() else None,
            "hessian_trace_mean": float(o["trace"][sel].mean()) if sel.any() else None,
            "spectral_norm_mean": float(o["spectral_norm"][sel].mean()) if sel.any() else None,
            "initial_high_freq_fraction_mean": float(hf0[init == name].mean()),
            "final_high_freq_fraction_mean": float(hf[init == name].mean()),
        }
    rho_tr = _spearman(o["trace"][ok], err[ok])
    rho_sn = _spearman(o["spectral_norm"][ok], err[ok])
    lo, hi = summary["low"], summary["high"]
    both = lo["n_converged"] > 0 and hi["n_converged"] > 0
    if both:
        better = "low" if lo["test_error_mean"] < hi["test_error_mean"] else "high"
        flatter = "low" if lo["hessian_trace_mean"] < hi["hessian_trace_mean"] else "high"
    else:
        better = flatter = None
    consistent = bool(both and np.isfinite(rho_tr) and rho_tr > 0 and better == flatter)
    result = {
        "init": summary,
        "spearman_trace_vs_test_error": rho_tr,
        "spearman_spectral_norm_vs_test_error": rho_sn,
        "better_generalizing_init": better,
        "flatter_init_by_trace": flatter,
        "flat_minima_consistent": consistent,
        "runs": {
            "init": init.tolist(),
            "test_error": err,
            "hessian_trace": o["trace"],
            "hessian_trace_se": o["trace_se"],
            "top_eigenvalue": o["top"],
            "spectral_norm": o["spectral_norm"],
            "train_loss": o["train_loss"],
            "initial_high_freq_fraction": hf0,
            "converged": ok,
        },
    }
    return result, (o, err, init, ok)


def _claims(per_act: dict) -> list:
    claims = []
    ev = {
        act: {
            k: per_act[act][k]
            for k in (
                "spearman_trace_vs_test_error",
                "spearman_spectral_norm_vs_test_error",
                "better_generalizing_init",
                "flatter_init_by_trace",
            )
        }
        | {
            "test_error_mean": {i: per_act[act]["init"][i]["test_error_mean"] for i in ("low", "high")},
            "hessian_trace_mean": {i: per_act[act]["init"][i]["hessian_trace_mean"] for i in ("low", "high")},
            "n_converged": {i: per_act[act]["init"][i]["n_converged"] for i in ("low", "high")},
        }
        for act in per_act
    }
    if "relu" in per_act:
        claims.append(
            claim(
                "ReLU: flatter minima (lower Hessian trace) went with better generalization",
                per_act["relu"]["flat_minima_consistent"],
                ev["relu"],
            )
        )
    if "gaussian" in per_act:
        claims.append(
            claim(
                "Gaussian: flatness did not go with better generalization (conjecture falsified)",
                not per_act["gaussian"]["flat_minima_consistent"],
                ev["gaussian"],
            )
        )
    low_better = {act: per_act[act]["better_generalizing_init"] == "low" for act in per_act}
    claims.append(
        claim(
            "the low-bandwidth init generalized better for every architecture",
            bool(all(low_better.values())),
            {"low_init_better": low_better},
        )
    )

    return claims


def _figures(cfg, out_dir, *, raw, xg, f_test, xt, yt):
    import matplotlib
    import matplotlib.ticker

    acts = list(raw)
    colors = {"low": "tab:blue", "high": "tab:red"}
    fig = new_figure((4.5 * len(acts), 3.6), layout=None)
    axes = fig.subplots(1, len(acts), squeeze=False)
    for ax, act in zip(axes[0], acts):
        o, err, init, ok = raw[act]
        for name in ("low", "high"):
            sel = init == name
            ax.scatter(o["trace"][sel & ok], err[sel & ok], c=colors[name], label=f"{name} B/W")
            if np.any(sel & ~ok):
                ax.scatter(
                    o["trace"][sel & ~ok],
                    err[sel & ~ok],
                    facecolors="none",
                    edgecolors=colors[name],
                    label=f"{name} B/W (not converged)",
                )
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("Hessian trace at convergence")
        ax.set_ylabel("test error ‖h − f‖/‖f‖")
        ax.set_title(act)
        ax.legend(fontsize=8)
    save_figure(fig, out_dir / "trace_vs_test_error.png")

    fig = new_figure((4.5 * len(acts), 3.6), layout=None)
    axes = fig.subplots(1, len(acts), squeeze=False)
    for ax, act in zip(axes[0], acts):
        o, err, init, ok = raw[act]
        nodes, weights = o["nodes"], o["weights"]
        # common grid over the spectrum's span; broadening 1% of it
        lo_, hi_ = float(nodes.min()), float(nodes.max())
        sigma = 0.01 * max(hi_ - lo_, 1e-6)
        grid = np.linspace(lo_ - 6 * sigma, hi_ + 6 * sigma, 800)
        for name in ("low", "high"):
            sel = init == name
            d = fh.density_from_quadrature(nodes[sel], weights[sel], grid, sigma)
            fh.plot_eigen_density(grid, np.asarray(d), ax=ax, label=f"{name} B/W", color=colors[name])
        ax.set_title(f"{act}: Hessian eigenvalue density (SLQ)")
    save_figure(fig, out_dir / "hessian_density.png")

    fig = new_figure((4.5 * len(acts), 3.4), layout=None)
    axes = fig.subplots(1, len(acts), squeeze=False)
    for ax, act in zip(axes[0], acts):
        o, err, init, ok = raw[act]
        ax.plot(xg, f_test, "k", lw=1.5, label="target")
        for name in ("low", "high"):
            i = int(np.flatnonzero(init == name)[0])
            ax.plot(xg, o["h"][i], color=colors[name], lw=1, label=f"{name} B/W (seed 0)")
        ax.plot(xt, yt, "ko", ms=3)
        ax.set_title(act)
        ax.legend(fontsize=8)
    save_figure(fig, out_dir / "fits.png")


EXPERIMENT = Experiment(
    name="hys5-flat-minima",
    description="Hessian trace / spectral norm at convergence vs test error, ReLU and Gaussian MLPs, low vs high bandwidth init",
    claim="The flat-minima conjecture (flatter minima generalize better) is consistent with ReLU networks "
    "but falsified by Gaussian networks, while a low-bandwidth initial spectrum goes with better "
    "generalization for both",
    source='Ramasinghe, MacDonald, Farazi, Saratchandran, Lucey, "How You Start Matters for Generalization", arXiv:2206.08558',
    quick=QUICK,
    full=FULL,
    cpu=CPU,
    run=run,
    figures={
        "trace_vs_test_error.png": (
            "Hessian trace at convergence against test error per activation: flatness does not order generalization"
        ),
        "hessian_density.png": "Hessian eigenvalue densities (SLQ) of low- and high-bandwidth solutions",
        "fits.png": "learned functions on the test grid against the target",
    },
)
