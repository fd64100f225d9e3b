"""fp-init-scale: "DNN can easily overfit with bad initialization" — σ_j = 10 vs σ_j = 0.1.

Setting (lecture, "Impact of initialization"): the two-layer network of the slide,
``h(x) = Σ_i w_i^{[2]} tanh(w_i^{[1]} x + b_i^{[1]}) + b^{[2]}`` (``fpjax.models.mlp`` with ``widths``,
``init="raw"``), every weight and bias drawn ``N(0, σ²)`` with one ``σ`` for all layers
(``layer_sigmas=σ``). Sparse data: ``n_train`` equispaced points of ``f(x) = sin(πx)`` on ``[−1, 1]``.
Each ``σ`` in ``sigmas`` is trained full-batch on the MSE with Adam, learning rate decaying
exponentially from ``learning_rate`` to ``learning_rate·learning_rate_decay`` (same schedule and steps for all), seeds as one vmapped
:func:`fpjax.train.sweep` per ``σ``.

Measured on a dense uniform grid of ``n_test`` points of ``[−1, 1)``:

* test error ``‖h − f‖²`` (mean over the grid);
* high-frequency energy ``E_hi = Σ_{|ξ| > ξ_c} |ĥ(ξ)|² / Σ_ξ |ĥ(ξ)|²`` of the learned function
  (:func:`fpjax.spectrum.grid_fft`, hard box), with ``ξ_c = 1/(2Δ)`` the Nyquist frequency of the
  training samples (spacing ``Δ``): what lies above it is not determined by the data at all.

Claims (largest vs smallest σ): both fit the training data (relative training error ≤ ``fit_tol``);
every large-σ seed has a larger test error than every small-σ seed; and likewise a larger ``E_hi``.

Settings tried while writing this (4 seeds, 20 points, 3000 steps): tanh 1-200-200-1 with Adam 1e-3:
σ = 10 did not fit the data (training loss 12-95; its initial function has amplitude ≈ 300 and Adam
moves each weight by ≈ lr per step); tanh 1-200-200-1 with Adam 1e-2: σ = 10 fits (loss 0.02-0.17),
test MSE 440-990 vs 3e-5-1e-3, E_hi 0.45-0.71 vs ≤ 2e-5; relu 1-200-200-1 with Adam 1e-2: test MSE
7e4-3e5 vs ≈ 2e-5 (one σ = 10 seed failed to fit); tanh 1-500-1 (the slide's two-layer net), Adam 1e-2:
training loss ≤ 6e-8 vs ≤ 2e-3, test MSE 7.6-43 vs ≤ 2e-3, E_hi 0.26-0.46 vs ≤ 1e-6. With a constant
rate 1e-2 for 4000 steps, σ = 0.1 stalls at relative training errors up to 0.08 (12 seeds; Adam at a
fixed rate hovers), close to ``fit_tol``; decaying the rate to 1e-3 brings all 12 below 0.011 and
σ = 10 below 0.008, hence the schedule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpjax.experiment import Config, Experiment, claim, new_figure, save_figure, seed_keys

QUICK = {
    "sigmas": [10.0, 0.1],
    "widths": [500],
    "activation": "tanh",
    "n_train": 20,
    "n_test": 1000,
    "learning_rate": 1e-2,
    "learning_rate_decay": 0.1,  # the rate decays exponentially from learning_rate to learning_rate·learning_rate_decay over the run
    "steps": 4000,
    "n_seeds": 4,
    "fit_tol": 0.1,  # relative training error ‖h(X) − Y‖/‖Y‖ counted as "fits"
}
FULL = dict(QUICK, sigmas=[10.0, 3.0, 1.0, 0.3, 0.1], widths=[1000], steps=20000, n_seeds=32)
# The ledger's "cpu" scale (`fpjax run NAME --cpu`): between quick and full, the largest that
# runs in minutes on a 2-core CPU.
CPU = dict(QUICK, steps=8000, n_seeds=8)


def target(x):
    return np.sin(np.pi * x)


def run(cfg: Config, out_dir: Path) -> dict:
    import jax.numpy as jnp
    import optax

    from fpjax.models import mlp
    from fpjax.spectrum import grid_fft
    from fpjax.train import fit, sweep

    sigmas = list(cfg.sigmas)
    if len(sigmas) < 2:
        raise ValueError(f"sigmas must hold at least two init scales to compare; got {cfg.sigmas}")
    n_tr, n_te = cfg.n_train, cfg.n_test
    x_tr = np.linspace(-1.0, 1.0, n_tr, dtype=np.float32)
    y_tr = target(x_tr).astype(np.float32)
    x_te = (-1.0 + 2.0 * np.arange(n_te) / n_te).astype(np.float32)
    y_te = target(x_te)
    xi_c = 1.0 / (2.0 * (x_tr[1] - x_tr[0]))
    xtr, ytr, xte = jnp.asarray(x_tr)[:, None], jnp.asarray(y_tr)[:, None], jnp.asarray(x_te)[:, None]
    opt = optax.adam(optax.exponential_decay(cfg.learning_rate, cfg.steps, cfg.learning_rate_decay))
    keys = seed_keys(cfg.seed, cfg.n_seeds)

    per_sigma, curves = {}, {}
    for s in sigmas:
        model = mlp(cfg.widths + (1,), cfg.activation, init="raw", layer_sigmas=s)

        def one_seed(key, model=model):
            p0 = model.init(key, xtr)
            r = fit(model.apply, p0, xtr, ytr, optimizer=opt, steps=cfg.steps)
            return {
                "h0": model.apply(p0, xte)[:, 0],
                "h": model.apply(r.params, xte)[:, 0],
                "h_train": model.apply(r.params, xtr)[:, 0],
                "diverged": r.diverged,
            }

        res = sweep(one_seed, keys)
        ok = res.ok
        h, h0 = np.asarray(res.outputs["h"]), np.asarray(res.outputs["h0"])
        freqs, coef = grid_fft(h, x_te)
        power = np.abs(np.asarray(coef)) ** 2
        hi = np.abs(np.asarray(freqs)) > xi_c
        e_hi = power[:, hi].sum(-1) / power.sum(-1)
        test_err = np.mean((h - y_te) ** 2, axis=-1)
        train_rel = np.linalg.norm(np.asarray(res.outputs["h_train"]) - y_tr, axis=-1) / np.linalg.norm(y_tr)
        per_sigma[f"{s:g}"] = {
            "test_mse": test_err[ok],
            "high_freq_energy": e_hi[ok],
            "train_rel_error": train_rel[ok],
            "init_max_abs": np.abs(h0[ok]).max(-1),
            "n_diverged": int(res.n_diverged),
        }
        curves[s] = (h[ok], h0[ok], np.asarray(freqs), power[ok])

    _figures(cfg, out_dir, sigmas=sigmas, curves=curves, x_tr=x_tr, y_tr=y_tr, x_te=x_te, y_te=y_te, xi_c=xi_c)
    return {
        "xi_c": float(xi_c),
        "per_sigma": per_sigma,
        "test_mse_median": {k: float(np.median(v["test_mse"])) for k, v in per_sigma.items() if v["test_mse"].size},
        "high_freq_energy_median": {
            k: float(np.median(v["high_freq_energy"])) for k, v in per_sigma.items() if v["high_freq_energy"].size
        },
        "claims": _claims(cfg, sigmas, per_sigma, xi_c),
    }


def _claims(cfg, sigmas, per_sigma, xi_c) -> list:
    big, small = f"{max(sigmas):g}", f"{min(sigmas):g}"
    B, S = per_sigma[big], per_sigma[small]
    tol = cfg.fit_tol
    both_fit = (
        B["train_rel_error"].size > 0
        and S["train_rel_error"].size > 0
        and float(B["train_rel_error"].max()) <= tol
        and float(S["train_rel_error"].max()) <= tol
    )
    sep_test = both_fit and float(B["test_mse"].min()) > float(S["test_mse"].max())
    sep_hi = both_fit and float(B["high_freq_energy"].min()) > float(S["high_freq_energy"].max())
    ev_common = {
        "sigma_large": max(sigmas),
        "sigma_small": min(sigmas),
        "fit_tol": tol,
        "train_rel_error_large": B["train_rel_error"],
        "train_rel_error_small": S["train_rel_error"],
    }
    return [
        claim(
            f"both fit the sparse data, and σ = {big} generalizes worse than σ = {small} (every seed)",
            sep_test,
            dict(ev_common, test_mse_large=B["test_mse"], test_mse_small=S["test_mse"]),
        ),
        claim(
            f"σ = {big} learns a function with more energy above the data's Nyquist frequency than σ = {small}",
            sep_hi,
            dict(
                ev_common,
                xi_c=float(xi_c),
                high_freq_energy_large=B["high_freq_energy"],
                high_freq_energy_small=S["high_freq_energy"],
            ),
        ),
    ]


def _figures(cfg, out_dir, *, sigmas, curves, x_tr, y_tr, x_te, y_te, xi_c):
    show = [max(sigmas), min(sigmas)]
    fig = new_figure((10.0, 3.8))
    axes = fig.subplots(1, 2)
    for ax, s in zip(axes, show):
        h, h0, _, _ = curves[s]
        ax.plot(x_te, y_te, color="0.6", lw=1, label="target sin(πx)")
        if h.shape[0]:
            ax.plot(x_te, h0[0], color="C0", ls="--", lw=1, label="initial h (seed 0)")
            ax.plot(x_te, h[0], color="C3", lw=1.5, label="trained h (seed 0)")
        ax.plot(x_tr, y_tr, "ko", ms=4, label="training points")
        lim = max(1.5, 1.1 * float(np.abs(h[0]).max())) if h.shape[0] else 1.5
        ax.set_ylim(-lim, lim)
        clipped = h0.shape[0] and float(np.abs(h0[0]).max()) > lim
        ax.set_title(f"σ_j = {s:g}" + (" (initial h leaves the frame)" if clipped else ""))
        ax.set_xlabel("x")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{cfg.activation} 1-{'-'.join(map(str, cfg.widths))}-1, every weight and bias N(0, σ²)")
    save_figure(fig, out_dir / "init_scale_functions.png")

    fig = new_figure((6.4, 4.0))
    ax = fig.add_subplot()
    for j, s in enumerate(sigmas):
        _, _, freqs, power = curves[s]
        if power.shape[0]:
            pos = freqs > 0
            ax.plot(freqs[pos], np.sqrt(np.median(power[:, pos], axis=0)), color=f"C{j}", label=f"σ = {s:g}")
    ax.axvline(xi_c, color="k", ls=":", lw=1, label="training-data Nyquist ξ_c")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("frequency ξ (cycles per unit)")
    ax.set_ylabel("|ĥ(ξ)| of the trained network (median over seeds)")
    ax.set_title("spectrum of the learned function")
    ax.legend(fontsize=8)
    save_figure(fig, out_dir / "init_scale_spectra.png")


EXPERIMENT = Experiment(
    name="fp-init-scale",
    description="Initialization scale: σ=10 fits sparse 1-D data with high-frequency wiggles, σ=0.1 fits it smoothly",
    claim="With a large initialization (σ_j = 10) a DNN fits sparse training data but oscillates between the "
    "points (large test error, high-frequency energy); with a small one (σ_j = 0.1) it interpolates "
    "smoothly and generalizes",
    source='Xu, Zhang, Luo, Xiao, Ma, "Frequency Principle: Fourier Analysis Sheds Light on Deep Neural '
    'Networks", arXiv:1901.06523; Xu, Zhang, Xiao, arXiv:1807.01251; Y. Zhang, lecture "Frequency '
    'Principle/Spectral Bias"',
    quick=QUICK,
    full=FULL,
    cpu=CPU,
    run=run,
    figures={
        "init_scale_functions.png": (
            "learned functions for σ = 10 and σ = 0.1 on the sparse data: the large init oscillates between samples"
        ),
        "init_scale_spectra.png": (
            "spectra of the learned functions: σ = 10 keeps more energy above the data's Nyquist frequency"
        ),
    },
)
