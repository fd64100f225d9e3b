"""hys3-init-spectrum: the initial spectrum decides the learned interpolant (arXiv:2206.08558, Exp. 3a–3d, Fig. 3).

Training data: ``y = sin(2π k0 x)`` sampled every ``Δ`` on ``[−1, 1)`` (``n_train = 2/Δ`` points), so the
samples' Nyquist frequency is ``ξ_N = 1/(2Δ)`` and, since ``k0 < ξ_N``, the lowest-frequency
(band-limited, periodic) interpolant of the samples is the sine itself. Four starts:

* **3a** ReLU MLP, Xavier init (initial spectrum concentrated below ``ξ_N``);
* **3b** the same ReLU MLP first pre-trained (Adam, dense grid) on ``sin(2π k_hi x)``, ``k_hi > ξ_N``;
* **3c** Gaussian MLP, Xavier init (power above ``ξ_N`` at init);
* **3d** Gaussian MLP, raw init ``N(0, σ²)`` with small ``σ`` (no power above ``ξ_N``).

Each is then trained on the samples by full-batch SGD (rate picked per start from ``learning_rates`` by
:func:`experiments._common.pick_rate`: the smallest that fits). Measured on a dense grid: initial
and final Hann-windowed power spectra, the power fraction above ``ξ_N``, the error
``‖h − h_BL‖/‖h_BL‖`` against the band-limited interpolant ``h_BL = sin(2πk0x)`` between the samples,
and (3b) how much of the pre-trained spike at ``k_hi`` survives (``|ĥ(k_hi)|`` after / before).

Settings tried before the ones above were fixed (quick scale, seed 0), with what was seen, so that no
choice made after looking at results is hidden:

* init only, 4 seeds, power fraction above 4 cycles/unit on [-1,1): Gaussian depth 3/4 x width
  64/128, Xavier 0.06/0.008/0.25/0.18; raw sigma 0.1: 0.013/0.034/0.089/0.33; raw 0.03 and 0.01:
  ~1e-6 everywhere; standard sigma_w 0.3: <0.01. Chosen to make the designed starts (3c high, 3d
  low): depth 4, width 64, Xavier vs raw sigma 0.03
* first full quick run (pre-training repeated per rate): every claim held; 3b picked lr 1e-3, lr
  1e-1 diverged
* pre-training moved out of the rate sweep (once per seed): same verdicts; 3b pre-training reaches
  relative RMSE ~0.5 on sin(2*pi*6x) in 3000 Adam steps (partial fit, still >99% of the power above
  Nyquist)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optax

from fpjax import spectrum
from fpjax.experiment import Config, Experiment, claim, save_figure
from fpjax.train import fit

from . import _common as c1

QUICK = {
    "spacing": 0.125,
    "k0": 1.0,
    "k_hi": 6.0,
    "depth": 4,
    "width": 64,
    "gaussian_s": 0.1,
    "small_sigma": 0.03,
    "n_grid": 512,
    "pretrain_steps": 3000,
    "pretrain_learning_rate": 1e-3,
    "steps": 4000,
    "learning_rates": [1e-3, 1e-2, 1e-1],
    "fit_tol": 0.05,
    "n_seeds": 2,
}

FULL = dict(QUICK, width=256, pretrain_steps=20000, steps=20000, learning_rates=[1e-4, 1e-3, 1e-2, 1e-1], n_seeds=8)
# The ledger's "cpu" scale (`fpjax run NAME --cpu`): between quick and full, the largest that
# runs in minutes on a 2-core CPU.
CPU = dict(QUICK, steps=12000)

LO, HI = -1.0, 1.0
VARIANTS = {
    "3a": ("relu", "xavier", False),
    "3b": ("relu", "xavier", True),
    "3c": ("gaussian", "xavier", False),
    "3d": ("gaussian", "raw", False),
}


def _model(cfg, act, init):
    kw = {"layer_sigmas": cfg.small_sigma} if init == "raw" else {}
    return c1.deep_mlp(act, cfg.depth, cfg.width, init=init, gaussian_s=cfg.gaussian_s, **kw)


def _run_variant(cfg, variant, xg, xt, yt):
    act, init, pretrain = VARIANTS[variant]
    model = _model(cfg, act, init)
    xg_col, x_train, y_train = c1.column(xg), c1.column(xt), c1.column(yt)
    y_hi = c1.column(np.sin(2 * np.pi * cfg.k_hi * xg))

    def start(key):
        p = model.init(key, xg_col)
        if not pretrain:
            return {"p": p}
        pre = fit(
            model.apply,
            p,
            xg_col,
            y_hi,
            optimizer=optax.adam(cfg.pretrain_learning_rate),
            steps=cfg.pretrain_steps,
        )
        # ‖h − y‖/‖y‖ on the grid: the loss is ½·mean squared error and the RMS of a sine is 1/√2.
        return {"p": pre.params, "pretrain_rel_rmse": (2 * pre.losses[-1]) ** 0.5 * np.sqrt(2.0)}

    def tune(key, xs):
        res = fit(model.apply, xs["p"], x_train, y_train, optimizer=optax.sgd(xs["learning_rate"]), steps=cfg.steps)
        return {
            "h0": model.apply(xs["p"], xg_col)[:, 0],
            "h": model.apply(res.params, xg_col)[:, 0],
            "train_pred": model.apply(res.params, x_train)[:, 0],
            "loss": res.losses[-1],
            "diverged": res.diverged,
        }

    # Inits (and pre-training) once per seed; then every rate from the same start.
    st, out = c1.rate_sweep(tune, cfg.seed, cfg.n_seeds, cfg.learning_rates, start=start)
    if pretrain:
        out["pretrain_rel_rmse"] = np.asarray(st["pretrain_rel_rmse"])
    return out


def _spike(values, xg, k):
    """``|ĥ(k)|`` (no window) at frequency ``k`` cycles/unit of a function on the ``[LO, HI)`` grid."""
    _, coeffs = spectrum.grid_fft(values, xg)
    return np.abs(np.asarray(spectrum.coeffs_at(coeffs, int(round(k * (HI - LO))))))


def run(cfg: Config, out_dir: Path) -> dict:
    n_train = int(round((HI - LO) / cfg.spacing))
    nyq = 1.0 / (2.0 * cfg.spacing)
    if not cfg.k0 < nyq < cfg.k_hi:
        raise ValueError(f"need k0 < Nyquist {nyq} < k_hi; got k0={cfg.k0}, k_hi={cfg.k_hi}")
    xt = c1.uniform_grid(n_train, LO, HI)
    yt = np.sin(2 * np.pi * cfg.k0 * xt).astype(np.float32)
    xg = c1.uniform_grid(cfg.n_grid, LO, HI)
    h_bl = np.sin(2 * np.pi * cfg.k0 * xg)  # the band-limited (lowest-frequency) interpolant
    inside = (xg >= xt.min()) & (xg <= xt.max())

    res, curves, rates = {}, {}, {}
    for v in VARIANTS:
        o = _run_variant(cfg, v, xg, xt, yt)
        b, train_rmse, _ = c1.fitted_rate(o, yt, cfg.learning_rates, cfg.fit_tol)
        h0, h = o["h0"][b], o["h"][b]
        spike0, spike1 = _spike(h0, xg, cfg.k_hi), _spike(h, xg, cfg.k_hi)
        res[v] = {
            "activation": VARIANTS[v][0],
            "init": VARIANTS[v][1],
            "pretrained_on_k_hi": VARIANTS[v][2],
            "learning_rate": cfg.learning_rates[b],
            "init_hf_fraction": float(np.mean(c1.high_freq_fraction(h0, xg, nyq))),
            "final_hf_fraction": float(np.mean(c1.high_freq_fraction(h, xg, nyq))),
            "final_hf_fraction_per_seed": np.asarray(c1.high_freq_fraction(h, xg, nyq)).tolist(),
            "error_vs_bandlimited": float(np.mean(c1.rel_rmse(h[:, inside], h_bl[inside]))),
            "train_rel_rmse": float(np.mean(train_rmse[b])),
            "k_hi_spike_kept": float(np.mean(spike1 / spike0)) if VARIANTS[v][2] else None,
            "k0_coeff_rel_error": float(
                np.mean(np.abs(_spike(h, xg, cfg.k0) - _spike(h_bl, xg, cfg.k0)) / _spike(h_bl, xg, cfg.k0))
            ),
            "pretrain_rel_rmse": float(np.mean(o["pretrain_rel_rmse"])) if VARIANTS[v][2] else None,
            "n_diverged": int(np.sum(o["diverged"][b])),
        }
        rates[v] = {
            "learning_rates": list(cfg.learning_rates),
            "train_rel_rmse": train_rmse.mean(1).tolist(),
            "n_diverged": o["diverged"].sum(axis=1).tolist(),
            "error_vs_bandlimited": c1.rel_rmse(o["h"][:, :, inside], h_bl[inside]).mean(1).tolist(),
        }
        curves[v] = (h0[0], h[0])

    _figures(cfg, out_dir, res=res, curves=curves, xg=xg, xt=xt, yt=yt, h_bl=h_bl, nyq=nyq)
    return {
        "nyquist": nyq,
        "n_train": n_train,
        "results": res,
        "all_learning_rates": rates,
        "claims": _claims(res, cfg.fit_tol),
    }


def _claims(res, tol):
    g = lambda v, k: res[v][k]
    low, high = ("3a", "3d"), ("3b", "3c")
    claims = [
        claim(
            f"Every start fits the samples (relative train RMSE < {tol})",
            all(g(v, "train_rel_rmse") < tol for v in res),
            {v: g(v, "train_rel_rmse") for v in res},
        )
    ]
    # Three claims of one form: the low-bandwidth starts (3a/3d) lie strictly below the high ones.
    for text, k in (
        ("The starts differ as designed: 3a/3d have less initial power above Nyquist than 3b/3c", "init_hf_fraction"),
        ("After training, 3a/3d keep less power above Nyquist than 3b/3c", "final_hf_fraction"),
        ("3a/3d end closer to the lowest-frequency (band-limited) interpolant than 3b/3c", "error_vs_bandlimited"),
    ):
        claims.append(claim(text, max(g(v, k) for v in low) < min(g(v, k) for v in high), {v: g(v, k) for v in res}))
    claims.append(
        claim(
            "3b adds the low-frequency spike (|ĥ(k0)| within 20% of the interpolant's) but leaves the "
            "pre-trained high-frequency spike (at least half of |ĥ(k_hi)| survives)",
            g("3b", "k0_coeff_rel_error") < 0.2 and g("3b", "k_hi_spike_kept") >= 0.5,
            {
                "k0_coeff_rel_error": g("3b", "k0_coeff_rel_error"),
                "k_hi_spike_kept": g("3b", "k_hi_spike_kept"),
                "pretrain_rel_rmse": g("3b", "pretrain_rel_rmse"),
            },
        )
    )
    return claims


def _figures(cfg, out_dir, *, res, curves, xg, xt, yt, h_bl, nyq):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 2.9 * len(res)), layout="constrained")
    axes = fig.subplots(len(res), 2, squeeze=False)
    for i, v in enumerate(res):
        h0, h = curves[v]
        ax_f, ax_s = axes[i]
        ax_f.plot(xg, h_bl, "k--", lw=1, label="band-limited interpolant")
        ax_f.plot(xg, h0, color="0.6", lw=1, label="start")
        ax_f.plot(xg, h, color="C3", lw=1, label="trained")
        ax_f.plot(xt, yt, "ko", ms=4)
        ax_f.set_ylim(-2.5, 2.5)
        init = res[v]["init"] + (f" σ={cfg.small_sigma}" if res[v]["init"] == "raw" else "")
        ax_f.set_title(
            f"{v}: {res[v]['activation']}, {init}"
            + (f", pre-trained on k={cfg.k_hi}" if res[v]["pretrained_on_k_hi"] else "")
        )
        for vals, lab, col in ((h_bl, "band-limited", "k"), (h0, "start", "0.6"), (h, "trained", "C3")):
            fr, pw = c1.power_spectrum(vals, xg)
            ax_s.semilogy(np.asarray(fr), np.maximum(np.asarray(pw), 1e-20), color=col, lw=1, label=lab)
        ax_s.axvline(nyq, color="0.5", ls=":", lw=1)
        ax_s.set_xlim(0, 4 * max(nyq, cfg.k_hi))
        ax_s.set_ylim(1e-14, 10)
        ax_s.set_title(f"{v}: power spectra (Nyquist dotted)")
        ax_s.set_xlabel("frequency ξ (cycles/unit)")
        if i == 0:
            ax_f.legend(fontsize=7)
            ax_s.legend(fontsize=7)
    save_figure(fig, out_dir / "interpolants_and_spectra.png")


EXPERIMENT = Experiment(
    name="hys3-init-spectrum",
    description="ReLU/Gaussian nets with low vs high initial bandwidth fitted to samples of a low-frequency sine",
    claim="The initial spectrum decides the high frequencies of the learned interpolant: ReLU (Xavier) and "
    "Gaussian (small σ) networks, whose initial spectra have no energy above the samples' Nyquist "
    "frequency, converge to the lowest-frequency interpolant; a ReLU network pre-trained on a frequency "
    "above Nyquist adds the low-frequency spike but keeps the high one, and a Xavier Gaussian network "
    "keeps high-frequency energy: both interpolate poorly.",
    source='Ramasinghe, MacDonald, Farazi, Saratchandran, Lucey, "How You Start Matters for Generalization", arXiv:2206.08558',
    quick=QUICK,
    full=FULL,
    cpu=CPU,
    run=run,
    figures={
        "interpolants_and_spectra.png": (
            "learned interpolants and power spectra of the four initializations (3a–3d): more initial high-"
            "frequency power, worse interpolant"
        ),
    },
)
