"""hysA2-bandwidth-init: raising a network's bandwidth by training on random targets (arXiv:2206.08558, App. A.2, Fig. 5).

A 4-hidden-layer ReLU MLP (Xavier) is trained on ``n_points`` equispaced inputs on ``[−1, 1)`` whose
targets are white Gaussian noise ``z_i ~ N(0, 1)`` (drawn per seed), in three ways:

* **mse**: regression on ``z`` (one output);
* **bce**: binary cross-entropy on the thresholded labels ``z > 0`` (one logit);
* **ce**: softmax cross-entropy on 4 bins of ``z`` (the quartiles of ``N(0, 1)``; four logits).

The spectrum of the trained function on a dense grid is compared with the same network at its random
init: the power fraction above ``hi_cutoff`` (Hann window, mean removed). For the 4-logit network the
function is the centred logit vector ``ℓ_c(x) − mean_c ℓ_c(x)`` (the softmax does not see a common
shift), its power summed over the four outputs. Training accuracy (``bce``, ``ce``) or relative RMSE
(``mse``) is recorded every ``record_every`` steps.

Settings the source lost are ours: width, Adam (the source names no optimizer), rate, steps, number of
points, cutoff.

Settings tried before the ones above were fixed (quick scale, seed 0), with what was seen, so that no
choice made after looking at results is hidden:

* 64 points, width 64, Adam 1e-3, 3000 steps: power fraction above 4 cycles/unit init 1e-4 -> mse
  0.76, bce 0.73, ce 0.056, but no network fitted its labels (mse rel. RMSE 0.66, accuracies
  0.88/0.94)
* 32 points, 4000 steps, Adam 3e-3 (width 64) or 1e-3 (width 128): all fit; trained fractions mse
  0.36/0.34, bce 0.19/0.20, ce 0.0031/0.0035 vs init ~1e-4/2e-4 (ce only ~13x: once the labels are
  fitted, CE keeps growing the logits' low-frequency margins). The claim was first written as 'more
  than 10x the init's fraction'; it is now the source's literal 'higher than random init, in every
  seed', with the ratios reported
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fpjax.experiment import Config, Experiment, claim, save_figure
from fpjax.train import fit

from . import _common as c1

QUICK = {
    "n_points": 32,
    "depth": 4,
    "width": 64,
    "learning_rate": 3e-3,
    "steps": 4000,
    "record_every": 50,
    "n_grid": 1024,
    "hi_cutoff": 4.0,
    "n_seeds": 2,
}
FULL = dict(QUICK, n_points=128, width=256, learning_rate=1e-3, steps=30000, record_every=100, n_seeds=8)
# The ledger's "cpu" scale (`fpjax run NAME --cpu`): between quick and full, the largest that
# runs in minutes on a 2-core CPU. Twice the quick points need a wider network: at width 64 and
# 8000 steps the 64 random targets were not fitted (MSE relative RMSE 0.31, 3 of 8 seeds fitted BCE).
CPU = dict(QUICK, n_points=64, width=128, steps=12000, n_seeds=8)


LO, HI = -1.0, 1.0
LOSSES = ("mse", "bce", "ce")
# Bin edges of the 4-bin labels: the quartiles of N(0, 1), so the classes are balanced.
QUARTILES = np.array([-0.6744897501960817, 0.0, 0.6744897501960817], np.float32)


def _targets(loss, z):
    if loss == "mse":
        return z[:, None]
    if loss == "bce":
        return (z > 0).astype(jnp.float32)[:, None]
    return jnp.searchsorted(jnp.asarray(QUARTILES), z).astype(jnp.int32)


def _function(loss, out):
    """The function whose spectrum is measured: the output, or the centred logits for ``ce``."""
    return out - jnp.mean(out, axis=-1, keepdims=True) if loss == "ce" else out


def _train_metric(loss, out, y):
    if loss == "mse":
        return jnp.sqrt(jnp.mean((out - y) ** 2) / jnp.mean(y**2))
    if loss == "bce":
        return jnp.mean((out > 0) == (y > 0.5))
    return jnp.mean(jnp.argmax(out, axis=-1) == y)


def run(cfg: Config, out_dir: Path) -> dict:
    cut = cfg.hi_cutoff
    nyq = cfg.n_points / (2 * (HI - LO))

    res, spectra = {}, {}
    for loss in LOSSES:
        out = _sweep(cfg, loss)
        freqs = np.asarray(out["freqs"][0])
        frac = lambda pw: np.sum(pw[:, freqs > cut], axis=1) / np.sum(pw, axis=1)
        hf0, hf1 = frac(out["p0"]), frac(out["p1"])
        metric, steps = np.asarray(out["metric"]), np.asarray(out["steps"][0])
        fitted = metric < 0.1 if loss == "mse" else metric >= 1.0
        first_fit = [int(steps[np.argmax(f)]) if f.any() else None for f in fitted]
        res[loss] = {
            "init_hf_fraction": float(np.mean(hf0)),
            "trained_hf_fraction": float(np.mean(hf1)),
            "trained_hf_fraction_per_seed": hf1.tolist(),
            "hf_ratio_per_seed": (hf1 / hf0).tolist(),
            "final_train_metric": float(np.mean(metric[:, -1])),
            "train_metric_name": "relative RMSE" if loss == "mse" else "accuracy",
            "first_step_fitted": first_fit,
            "n_diverged": int(np.sum(out["diverged"])),
        }
        spectra[loss] = (freqs, np.mean(out["p0"], 0), np.mean(out["p1"], 0), steps, metric.mean(0))

    _figures(cfg, out_dir, spectra=spectra, cut=cut, nyq=nyq)
    return {
        "nyquist_of_points": nyq,
        "hi_cutoff": cut,
        "results": res,
        "claims": _claims(res, cut),
    }


def _sweep(cfg, loss: str) -> dict:
    """The seed sweep of one loss: each seed draws its white-noise targets and init, then trains."""
    x = c1.column(c1.uniform_grid(cfg.n_points, LO, HI))
    xg = c1.uniform_grid(cfg.n_grid, LO, HI)
    xg_col = c1.column(xg)
    model = c1.deep_mlp("relu", cfg.depth, cfg.width, out_dim=4 if loss == "ce" else 1, init="xavier")

    def one(key):
        k_init, k_data = jax.random.split(key)
        p0 = model.init(k_init, x)
        z = jax.random.normal(k_data, (cfg.n_points,))
        y = _targets(loss, z)
        r = fit(
            model.apply,
            p0,
            x,
            y,
            optimizer=optax.adam(cfg.learning_rate),
            steps=cfg.steps,
            loss=loss,
            record=lambda p: _train_metric(loss, model.apply(p, x), y),
            record_every=cfg.record_every,
        )
        f0 = _function(loss, model.apply(p0, xg_col)).T  # (outputs, n_grid)
        f1 = _function(loss, model.apply(r.params, xg_col)).T
        _, pw0 = c1.power_spectrum(f0, xg)
        freqs, pw1 = c1.power_spectrum(f1, xg)
        return {
            "p0": pw0.sum(0),
            "p1": pw1.sum(0),
            "freqs": freqs,
            "metric": r.records,
            "steps": r.record_steps,
            "diverged": r.diverged,
        }

    return c1.seed_sweep(one, cfg.seed, cfg.n_seeds).outputs


def _claims(res: dict, cut: float) -> list:
    return [
        claim(
            f"Each of MSE / BCE / 4-bin CE training on white noise leaves a larger power fraction above {cut} "
            "cycles/unit than the same network's random init, in every seed",
            all(min(res[k]["hf_ratio_per_seed"]) > 1 for k in LOSSES),
            {
                k: {
                    "init": res[k]["init_hf_fraction"],
                    "trained": res[k]["trained_hf_fraction"],
                    "ratio_per_seed": res[k]["hf_ratio_per_seed"],
                }
                for k in LOSSES
            },
        ),
        claim(
            "Each network fits its random targets (accuracy 1 for BCE/CE, relative RMSE < 0.1 for MSE)",
            all(all(s is not None for s in res[k]["first_step_fitted"]) for k in LOSSES),
            {
                k: {
                    "final_train_metric": res[k]["final_train_metric"],
                    "first_step_fitted": res[k]["first_step_fitted"],
                }
                for k in LOSSES
            },
        ),
    ]


def _figures(cfg, out_dir, *, spectra, cut, nyq):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    first = True
    for i, (loss, (freqs, p0, p1, steps, metric)) in enumerate(spectra.items()):
        if first:
            ax0.semilogy(freqs, np.maximum(p0 / p0.sum(), 1e-20), color="0.5", lw=1, label="random init (MSE net)")
            first = False
        ax0.semilogy(freqs, np.maximum(p1 / p1.sum(), 1e-20), color=f"C{i}", lw=1, label=f"trained, {loss}")
        ax1.plot(steps, metric, color=f"C{i}", label=f"{loss} ({'rel. RMSE' if loss == 'mse' else 'accuracy'})")
    for x, ls in ((cut, "--"), (nyq, ":")):
        ax0.axvline(x, color="0.5", ls=ls, lw=1)
    ax0.set_xlim(0, 3 * nyq)
    ax0.set_xlabel("frequency ξ (cycles/unit)")
    ax0.set_ylabel("normalized power (mean over seeds)")
    ax0.set_title("spectra (cutoff dashed, data Nyquist dotted)")
    ax0.legend(fontsize=7)
    ax1.set_xlabel("step")
    ax1.set_title("training fit")
    ax1.legend(fontsize=7)
    save_figure(fig, out_dir / "bandwidth_spectra.png")


EXPERIMENT = Experiment(
    name="hysA2-bandwidth-init",
    description="4-layer ReLU net trained on white-noise targets with MSE / thresholded BCE / 4-bin CE: bandwidth",
    claim="Training a network on random (white-noise) targets, with MSE, thresholded binary cross-entropy or "
    "4-bin cross-entropy, initializes it with a higher bandwidth than random initialization.",
    source='Ramasinghe, MacDonald, Farazi, Saratchandran, Lucey, "How You Start Matters for Generalization", arXiv:2206.08558',
    quick=QUICK,
    full=FULL,
    cpu=CPU,
    run=run,
    figures={
        "bandwidth_spectra.png": (
            "spectra before and after fitting random targets, per loss: fitting raises the power above the cutoff"
        ),
    },
)
