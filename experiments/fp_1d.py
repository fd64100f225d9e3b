"""fp-1d: the F-Principle in one dimension (lecture "Frequency Principle", tanh 200-100-100-50).

Setting: ``n_points`` equispaced samples ``x_j = a + jL/n`` of one period ``[a, a+L)``
(``a = −w``, ``L = 2w``, ``w = half_width``) of the equal-amplitude target
``y(x) = Σ_k A sin(2πk(x − a)/L)``, ``k ∈ freqs`` (the lecture's "synthetic curve with equal
amplitude": no peak is favoured by its size). Default ``w = π``, ``freqs = (1, 3, 5)``:
``y = −(sin x + sin 3x + sin 5x)``.
A tanh MLP 1-200-100-100-50-1 (Glorot init) is trained full-batch with Adam on the MSE; its output on
the samples is recorded every ``record_every`` steps. Spectra are the DFT of the values on the samples
(:func:`fpjax.spectrum.grid_fft`), and the convergence of each main peak is the relative error
``Δ_F(k) = |ĥ(k) − ŷ(k)| / |ŷ(k)|`` (:func:`fpjax.spectrum.relative_error`).

Claim computed: for each seed, the step at which ``Δ_F(k)`` first gets below ``threshold``; the claim
holds if the median over seeds of these steps strictly increases with ``k`` and at least 90% of the
seeds show the strict order themselves. All seeds are one vmapped :func:`fpjax.train.sweep`.

Settings tried (quick, 4 seeds, 2000 steps; median steps to the threshold per peak):

* ``w = π``, k = 1, 3, 5, threshold 0.05 (default): 40, 215, 690 — held, every seed in order;
* ``w = 1``, k = 1, 3, 5, threshold 0.05: 35, 355, 815 — held, every seed in order;
* ``w = π``, k = 1, 3, 5, 7, threshold 0.05: 40, 310, 545, 915 — held (one seed had not brought
  k = 7 below the threshold by step 2000);
* ``w = 1``, k = 1, 3, 5, 7: **did not hold** — threshold 0.05: 40, 615, 580, 920 (half of the seeds
  fit k = 5 before k = 3); threshold 0.1: 20, 455, 520, 865 with 3 of 4 seeds in order. There the
  peaks k = 3, 5, 7 sit on a common plateau (Δ_F ≈ 0.8) until step ≈ 400 and then drop within a
  few hundred steps of each other: k = 1 is clearly first, the order among the higher peaks is
  nearly a tie. Run it with ``--set half_width=1 --set 'freqs=[1,3,5,7]'``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpjax.experiment import Config, Experiment, claim, new_figure, save_figure

from . import _common as C

QUICK = {
    "n_points": 61,  # samples of one period [-w, w)
    "half_width": 3.14159265,  # w = π: the target is sin(x) + sin(3x) + sin(5x)
    "freqs": [1, 3, 5],  # peaks, in cycles per period (DFT index)
    "amplitude": 1.0,  # equal amplitudes
    "widths": [200, 100, 100, 50],
    "activation": "tanh",
    "init": "xavier",
    "learning_rate": 1e-3,
    "steps": 2000,
    "record_every": 10,
    "n_seeds": 4,
    "threshold": 0.05,  # Δ_F(k) level counted as "converged"
    "order_fraction": 0.9,  # share of seeds that must show the order themselves
}
FULL = dict(QUICK, steps=20000, record_every=20, n_seeds=64)
# The ledger's "cpu" scale (`fpjax run NAME --cpu`): between quick and full, the largest that
# runs in minutes on a 2-core CPU.
CPU = dict(QUICK, steps=8000, record_every=20, n_seeds=16)


def _target(cfg):
    n, a, period = cfg.n_points, -cfg.half_width, 2.0 * cfg.half_width
    x = a + period * np.arange(n) / n
    y = sum(cfg.amplitude * np.sin(2 * np.pi * k * (x - a) / period) for k in cfg.freqs)
    return x.astype(np.float32), y.astype(np.float32)


def _train(cfg, x, y):
    import jax.numpy as jnp

    from fpjax.models import mlp

    xj, yj = jnp.asarray(x)[:, None], jnp.asarray(y)[:, None]
    model = mlp(cfg.widths + (1,), cfg.activation, init=cfg.init)
    return C.adam_seed_sweep(cfg, model, xj, yj, lambda p: model.apply(p, xj)[:, 0])


def run(cfg: Config, out_dir: Path) -> dict:
    from fpjax.spectrum import coeffs_at, crossing_steps, grid_fft, relative_error

    ks = np.asarray(cfg.freqs, dtype=int)
    if np.any(np.diff(ks) <= 0) or ks[0] < 1 or ks[-1] > (cfg.n_points - 1) // 2:
        raise ValueError(f"freqs must increase within 1..(n_points-1)//2; got {cfg.freqs}")
    x, y = _target(cfg)
    res = _train(cfg, x, y)
    ok = res.ok
    out = res.outputs
    steps = np.asarray(out["record_steps"][0])
    h = np.asarray(out["records"])  # (S, R, n)
    freqs, y_hat = grid_fft(y, x)
    _, h_hat = grid_fft(h, x)  # (S, R, n) complex
    y_pk = np.asarray(coeffs_at(y_hat, ks))
    h_pk = np.asarray(coeffs_at(h_hat, ks))  # (S, R, K)
    delta = np.asarray(relative_error(h_pk, y_pk))  # (S, R, K)

    thr = cfg.threshold
    t_conv = crossing_steps(delta, thr, steps=steps, axis=-2)  # (S, K); Δ_F < thr
    t_ok = t_conv[ok]
    med = np.median(t_ok, axis=0) if ok.size else np.full(ks.size, np.inf)
    in_order = np.array([C.strictly_increasing(t) for t in t_ok])
    frac = float(in_order.mean()) if ok.size else 0.0
    held = bool(ok.size) and C.strictly_increasing(med) and frac >= cfg.order_fraction

    _figures(
        cfg,
        out_dir,
        x=x,
        y=y,
        h=h,
        freqs=freqs,
        y_hat=y_hat,
        h_hat=h_hat,
        ks=ks,
        steps=steps,
        delta=delta,
        t_conv=t_conv,
        ok=ok,
        thr=thr,
    )
    final_loss = np.asarray(out["losses"])[:, -1]
    evidence = {
        "freqs": ks,
        "threshold": thr,
        "median_steps_to_threshold": C.finite_or_none(med),
        "steps_to_threshold_per_seed": C.finite_or_none(t_ok),
        "fraction_of_seeds_in_order": frac,
        "n_seeds": int(res.n_seeds),
        "n_diverged": int(res.n_diverged),
    }
    return {
        "freqs": ks,
        "record_steps": [int(steps[0]), int(steps[-1]), cfg.record_every],
        "median_steps_to_threshold": C.finite_or_none(med),
        "delta_F_final_median": np.median(delta[ok, -1], axis=0) if ok.size else None,
        "final_loss_median": float(np.median(final_loss[ok])) if ok.size else None,
        "n_seeds": int(res.n_seeds),
        "n_diverged": int(res.n_diverged),
        "claims": [claim(EXPERIMENT.claim, held, evidence)],
    }


def _snapshot_indices(steps, t_conv, ok):
    """Record indices to show: init, then the median step at which each peak converged (or the end)."""
    med = np.median(t_conv[ok], axis=0) if ok.size else np.full(t_conv.shape[1], np.inf)
    idx = [0]
    for m in med:
        i = int(np.searchsorted(steps, m)) if np.isfinite(m) else len(steps) - 1
        idx.append(min(i, len(steps) - 1))
    return idx


def _figures(cfg, out_dir, *, x, y, h, freqs, y_hat, h_hat, ks, steps, delta, t_conv, ok, thr):
    s0 = int(ok[0]) if ok.size else 0
    n = x.size
    period = 2.0 * cfg.half_width
    kpos = np.arange(1, (n - 1) // 2 + 1)
    fi = np.searchsorted(freqs * period, kpos - 0.5)  # positions of k = 1..n//2 on the centred axis
    amp_y = np.abs(y_hat[fi]) / period  # Fourier-series amplitudes |c_k|
    amp_h = np.abs(h_hat[s0][:, fi]) / period  # (R, K)

    # 1. function (top) and spectrum (bottom) at init and when each peak has converged.
    idx = _snapshot_indices(steps, t_conv, ok)
    fig = new_figure((3.1 * len(idx), 5.6))
    axes = fig.subplots(2, len(idx), sharey="row")
    xd = np.linspace(x[0], x[0] + period, 400)
    yd = sum(cfg.amplitude * np.sin(2 * np.pi * k * (xd - x[0]) / period) for k in ks)
    for col, i in enumerate(idx):
        ax = axes[0, col]
        ax.plot(xd, yd, color="0.75", lw=1, label="target")
        ax.plot(x, y, "o", color="0.4", ms=2.5, label="samples")
        ax.plot(x, h[s0, i], color="C3", lw=1.5, label="network")
        title = "init" if col == 0 else f"Δ_F(k={ks[col - 1]}) ≤ {thr:g}"
        ax.set_title(f"step {int(steps[i])}\n{title}", fontsize=9)
        ax.set_xlabel("x")
        ax = axes[1, col]
        ax.bar(kpos, amp_y, color="0.75", width=0.8, label="target")
        ax.plot(kpos, amp_h[i], "o-", color="C3", ms=3, lw=1, label="network")
        ax.set_yscale("log")
        ax.set_ylim(1e-4, 2 * amp_y.max())
        ax.set_xlabel("frequency k (cycles per period)")
    axes[0, 0].set_ylabel("f(x)")
    axes[1, 0].set_ylabel("|ĥ(k)|, |ŷ(k)|")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    axes[1, 0].legend(fontsize=7, loc="upper right")
    fig.suptitle(
        f"{cfg.activation} MLP 1-{'-'.join(map(str, cfg.widths))}-1 on {n} samples: "
        "low frequencies are fitted first (seed 0)"
    )
    save_figure(fig, out_dir / "fp1d_function_and_spectrum.png")

    # 2. Δ_F heat map (seed 0) with the threshold crossings.
    fig = new_figure((6.4, 3.4))
    ax = fig.add_subplot()
    C.error_heatmap(
        fig, ax, steps, delta[s0].T, [f"k = {k}" for k in ks], threshold=thr, crossings=t_conv[s0], label="Δ_F(k)"
    )
    ax.set_title("relative error Δ_F(k) of the main peaks over training (seed 0)")
    save_figure(fig, out_dir / "fp1d_delta_heatmap.png")

    # 3. Δ_F(k) curves: median over seeds with the min-max band.
    fig = new_figure((6.4, 4.2))
    ax = fig.add_subplot()
    d = delta[ok] if ok.size else delta
    st = C.log_steps(steps)
    for j, k in enumerate(ks):
        ax.fill_between(st, d[:, :, j].min(0), d[:, :, j].max(0), color=f"C{j}", alpha=0.2, lw=0)
        ax.plot(st, np.median(d[:, :, j], axis=0), color=f"C{j}", label=f"k = {k}")
    C.error_curves_axes(
        ax, thr, ylabel="Δ_F(k)", title=f"relative error per peak, median and range over {d.shape[0]} seeds"
    )
    save_figure(fig, out_dir / "fp1d_delta_curves.png")


EXPERIMENT = Experiment(
    name="fp-1d",
    description="F-Principle in 1-D: tanh 1-200-100-100-50-1 fits a multi-frequency target low frequencies first",
    claim="DNNs fit the training data from low to high frequencies: the relative error Δ_F(k) of the "
    "target's main spectral peaks converges in order of increasing frequency",
    source='Xu, Zhang, Luo, Xiao, Ma, "Frequency Principle: Fourier Analysis Sheds Light on Deep Neural '
    'Networks", arXiv:1901.06523; Xu, Zhang, Xiao, arXiv:1807.01251; Y. Zhang, lecture "Frequency '
    'Principle/Spectral Bias"',
    quick=QUICK,
    full=FULL,
    cpu=CPU,
    run=run,
    figures={
        "fp1d_function_and_spectrum.png": (
            "network output and its spectrum at a few steps: the low-frequency peaks are matched first"
        ),
        "fp1d_delta_heatmap.png": (
            "relative error Δ_F(k) per peak over training; markers show where each peak gets below the threshold,"
            " earlier for lower k"
        ),
        "fp1d_delta_curves.png": "Δ_F(k) per peak (median and range over seeds): lower k drops first",
    },
)
