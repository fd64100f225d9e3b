"""fr-ssr: weight spectra of every conv layer during training with no regularizer, L2 (weight decay)
and dropout, and the Spectral Suppression Ratio (Lu, arXiv:2512.22192).

The same initialization and minibatch order (matched seeds) are trained three times: ``none``,
``l2`` (coupled weight decay λ, :func:`fpjax.cnn.train_cnn`) and ``dropout`` (rate p before the
classifier). After every epoch (and at init) every k×k conv kernel (k ≥ 2) is zero-padded to P×P,
its power ``|Ŵ|²`` averaged over channels and binned by radius (:mod:`fpjax.spectrum`), giving the
heat maps layer × epoch × radius.

Quantities (l = layer, t = epoch, T = last epoch, r_c = P/4):

* ``E_hi(l, t) = Σ_{r>r_c} P(r) / Σ_r P(r)`` (the source's definition), overall ``Ē(t) = mean_l E_hi(l, t)``;
* ``SSR = E_hi,T(none) / E_hi,T(reg)`` per layer and overall (``Ē``);
* accumulation form ``SSR_Δ = (E_T − E_0)_none / (E_T − E_0)_reg`` per layer and overall;
* absolute variant (not normalized by the layer's total power, which is what "energy
  accumulation" can also mean): ``A(l, t) = Σ_{r>r_c} P(r)``, relative to init
  ``a(l, t) = A(l, t)/A(l, 0)``, overall ``ā(t) = mean_l a(l, t)``, ``SSR_abs = ā_T(none)/ā_T(reg)``,
  ``SSR_Δ,abs = (ā_T − 1)_none / (ā_T − 1)_reg``.

Claims computed (means over seeds): "L2 suppresses high-frequency energy accumulation by more
than 3×" is held when the unregularized run accumulates (``ΔĒ_none > 0``) and L2's accumulation
is below a third of it (``ΔĒ_l2 < ΔĒ_none / 3``; this includes L2 *removing* energy, where the
ratio is negative), checked for ``E_hi`` (fraction form) and for the absolute variant; and "L2 is a
low-pass filter": ``SSR > 1``.

Quick: ``cnn_small`` on 512 real digits upscaled to 32×32×3, 15 epochs, λ = 2e-3 (4× the usual
CIFAR 5e-4, since the run is ~100× shorter than a CIFAR schedule). Full: ResNet-18 on CIFAR-10.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpjax.experiment import Config, Experiment, claim, new_figure, save_figure

from . import _common as C

QUICK = {
    "dataset": "digits32",
    "model": "cnn_small",
    "model_options": {"cnn_small": {"widths": [16, 32, 64]}},
    "data_dir": None,
    "n_train": 512,
    "n_test": None,
    "standardize": False,
    "n_seeds": 1,
    "epochs": 15,
    "batch_size": 32,
    "learning_rate": 0.05,
    "momentum": 0.9,
    "weight_decay": 2e-3,
    "dropout": 0.5,
    "pad": 32,
}
FULL = dict(
    QUICK,
    dataset="cifar10",
    model="resnet18",
    model_options={},
    n_train=None,
    standardize=True,
    n_seeds=3,
    epochs=100,
    batch_size=128,
    learning_rate=0.1,
    weight_decay=5e-4,
    dropout=0.5,
)
# The ledger's "cpu" scale (`fpjax run NAME --cpu`): between quick and full, the largest that
# runs in minutes on a 2-core CPU.
CPU = dict(QUICK, epochs=30, n_train=1024, n_seeds=2)

REGIMES = ("none", "l2", "dropout")


def _models(cfg):
    """One model object per regime (built once, so the seeds share compilations)."""
    plain = C.build_model(cfg.model, cfg.dataset, cfg, conv_impl=C.train_conv_impl(), dropout=0.0)
    drop = C.build_model(cfg.model, cfg.dataset, cfg, conv_impl=C.train_conv_impl(), dropout=cfg.dropout)
    return {"none": plain, "l2": plain, "dropout": drop}


def _train_regimes(cfg, models, data, key):
    import jax

    from fpjax.cnn import make_sgd, train_cnn

    xtr, ytr, xte, yte = data
    record = C.kernel_profiles_fn(cfg.pad)
    k_init, k_train = jax.random.split(key)
    out = {}
    v0 = models["none"].init(k_init, xtr[:2])  # the same initialization for all three regimes
    for regime in REGIMES:
        model = models[regime]
        r = train_cnn(
            model,
            v0,
            xtr,
            ytr,
            key=k_train,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            optimizer=make_sgd(
                cfg.learning_rate,
                momentum=cfg.momentum,
                weight_decay=cfg.weight_decay if regime == "l2" else 0.0,
            ),
            x_test=xte,
            y_test=yte,
            eval_every=cfg.epochs,
            record=record,
        )
        out[regime] = {
            "profiles": {k: np.asarray(v) for k, v in r.records.items()},
            "train_acc": r.metrics.final_train_acc,
            "test_acc": r.metrics.final_test_acc,
            "diverged": r.diverged,
            "epochs_run": len(r.metrics.train_loss),
        }
    return out


def _energies(profiles: dict, radii: np.ndarray, pad: int):
    """Per layer: E_hi (t,) (fraction) and A (t,) (absolute high-radius power)."""
    from fpjax.spectrum import high_freq_energy

    r_c = pad / 4
    e = {k: np.asarray(high_freq_energy(p, radii, pad=pad), dtype=float) for k, p in profiles.items()}
    a = {k: np.asarray(p, dtype=float)[:, radii > r_c].sum(-1) for k, p in profiles.items()}
    return e, a


def _ratio(num, den):
    return float(num / den) if den != 0 else (float("inf") * np.sign(num) if num != 0 else float("nan"))


def run(cfg: Config, out_dir: Path) -> dict:
    import jax

    radii = C.profile_radii(cfg.pad)
    data = C.load_images(cfg.dataset, cfg)
    models = _models(cfg)
    seeds = []
    for s in range(cfg.n_seeds):
        seeds.append(_train_regimes(cfg, models, data, jax.random.fold_in(jax.random.key(cfg.seed), s)))
    layers = list(seeds[0]["none"]["profiles"])
    per_seed = _seed_energies(seeds, layers, radii, cfg.pad)
    summary = _summary(seeds, per_seed, layers)
    _figures(cfg, out_dir, seeds=seeds, per_seed=per_seed, layers=layers, radii=radii)
    curves = {
        reg: {
            "E_bar": per_seed[0][reg]["E_bar"].tolist(),
            "a_bar": per_seed[0][reg]["a_bar"].tolist(),
            "E_per_layer": {k: per_seed[0][reg]["E"][k].tolist() for k in layers},
        }
        for reg in REGIMES
    }
    return {
        "layers": layers,
        "radii": radii.tolist(),
        "summary": summary,
        "curves_seed0": curves,
        "any_diverged": any(r[g]["diverged"] for r in seeds for g in REGIMES),
        "claims": _claims(cfg, summary),
    }


def _seed_energies(seeds, layers, radii, pad) -> list:
    """Per seed and regime: the energies per layer and their layer means."""
    per_seed = []
    for res in seeds:
        q = {}
        for regime in REGIMES:
            e, a = _energies(res[regime]["profiles"], radii, pad)
            q[regime] = {
                "E": e,
                "A": a,
                "E_bar": np.mean([e[k] for k in layers], axis=0),
                "a_bar": np.mean([a[k] / a[k][0] for k in layers], axis=0),
            }
        per_seed.append(q)
    return per_seed


def _summary(seeds, per_seed, layers) -> dict:
    """Seed means of the suppression ratios (SSR) and accumulations, per regularizer."""

    def seed_mean(fn):
        return float(np.mean([fn(q) for q in per_seed]))

    summary = {}
    for reg in ("l2", "dropout"):
        s = {
            "ssr_per_layer": {
                k: seed_mean(lambda q: _ratio(q["none"]["E"][k][-1], q[reg]["E"][k][-1])) for k in layers
            },
            "ssr_accumulation_per_layer": {
                k: seed_mean(
                    lambda q: _ratio(
                        q["none"]["E"][k][-1] - q["none"]["E"][k][0], q[reg]["E"][k][-1] - q[reg]["E"][k][0]
                    )
                )
                for k in layers
            },
            "ssr_overall": seed_mean(lambda q: _ratio(q["none"]["E_bar"][-1], q[reg]["E_bar"][-1])),
            "delta_E_none": seed_mean(lambda q: q["none"]["E_bar"][-1] - q["none"]["E_bar"][0]),
            "delta_E_reg": seed_mean(lambda q: q[reg]["E_bar"][-1] - q[reg]["E_bar"][0]),
            "ssr_abs_overall": seed_mean(lambda q: _ratio(q["none"]["a_bar"][-1], q[reg]["a_bar"][-1])),
            "delta_a_none": seed_mean(lambda q: q["none"]["a_bar"][-1] - 1.0),
            "delta_a_reg": seed_mean(lambda q: q[reg]["a_bar"][-1] - 1.0),
            "test_acc_reg": float(np.mean([r[reg]["test_acc"] for r in seeds])),
        }
        s["ssr_accumulation_overall"] = _ratio(s["delta_E_none"], s["delta_E_reg"])
        s["ssr_abs_accumulation_overall"] = _ratio(s["delta_a_none"], s["delta_a_reg"])
        summary[reg] = s
    summary["none"] = {
        "test_acc": float(np.mean([r["none"]["test_acc"] for r in seeds])),
        "E_bar_init": seed_mean(lambda q: q["none"]["E_bar"][0]),
        "E_bar_final": seed_mean(lambda q: q["none"]["E_bar"][-1]),
    }
    return summary


def _figures(cfg, out_dir, *, seeds, per_seed, layers, radii):
    """Heat maps (first seed) and the overall energies over epochs."""
    from fpjax.spectrum import plot_radial_profiles

    for regime in REGIMES:
        prof = seeds[0][regime]["profiles"]
        save_figure(
            plot_radial_profiles(
                {k: prof[k] for k in layers},
                radii,
                epochs=np.arange(prof[layers[0]].shape[0]),
                title=f"radial weight spectra, {regime} ({cfg.model})",
            ),
            out_dir / f"heatmap_{regime}.png",
        )
    _energy_figure(cfg, out_dir, q=per_seed[0])


def _claims(cfg, summary) -> list:
    l2 = summary["l2"]
    held_E = l2["delta_E_none"] > 0 and l2["delta_E_reg"] < l2["delta_E_none"] / 3
    held_a = l2["delta_a_none"] > 0 and l2["delta_a_reg"] < l2["delta_a_none"] / 3
    ev_common = {
        "test_acc_none": summary["none"]["test_acc"],
        "test_acc_l2": l2["test_acc_reg"],
        "test_acc_dropout": summary["dropout"]["test_acc_reg"],
        "weight_decay": cfg.weight_decay,
        "epochs": cfg.epochs,
        "n_seeds": cfg.n_seeds,
    }
    return [
        claim(
            "L2 suppresses the accumulation of high-frequency weight energy E_hi (fraction above r_c) by "
            "more than 3x: dE_none > 0 and dE_l2 < dE_none/3",
            held_E,
            {
                "delta_E_none": l2["delta_E_none"],
                "delta_E_l2": l2["delta_E_reg"],
                "ssr_accumulation_overall": l2["ssr_accumulation_overall"],
                "ssr_accumulation_per_layer": l2["ssr_accumulation_per_layer"],
                "dropout_ssr_accumulation_overall": summary["dropout"]["ssr_accumulation_overall"],
                **ev_common,
            },
        ),
        claim(
            "L2 suppresses the accumulation of absolute high-frequency weight power by more than 3x "
            "(relative to init): da_none > 0 and da_l2 < da_none/3",
            held_a,
            {
                "delta_a_none": l2["delta_a_none"],
                "delta_a_l2": l2["delta_a_reg"],
                "ssr_abs_accumulation_overall": l2["ssr_abs_accumulation_overall"],
                "ssr_abs_overall": l2["ssr_abs_overall"],
                "dropout_delta_a": summary["dropout"]["delta_a_reg"],
                **ev_common,
            },
        ),
        claim(
            "L2 acts as a low-pass filter on the conv weights: SSR = E_hi(none)/E_hi(L2) > 1 at the end of training",
            l2["ssr_overall"] > 1,
            {
                "ssr_overall": l2["ssr_overall"],
                "ssr_per_layer": l2["ssr_per_layer"],
                "dropout_ssr_overall": summary["dropout"]["ssr_overall"],
                **ev_common,
            },
        ),
    ]


def _energy_figure(cfg, out_dir, *, q: dict):
    fig = new_figure((9, 3.4), layout=None)
    axes = fig.subplots(1, 2)
    for reg in REGIMES:
        axes[0].plot(q[reg]["E_bar"], label=reg)
        axes[1].plot(q[reg]["a_bar"], label=reg)
    axes[0].set_title("mean E_hi over conv layers")
    axes[1].set_title("mean high-freq. power / init")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
    save_figure(fig, out_dir / "high_freq_energy.png")


EXPERIMENT = Experiment(
    name="fr-ssr",
    description="Conv weight spectra over training with none / L2 / dropout; Spectral Suppression Ratio",
    claim="L2 regularization (weight decay) acts as a low-pass filter on CNN weights: it suppresses "
    "high-frequency energy accumulation by more than 3x compared to the unregularized baseline (SSR)",
    source='J. Lu, "Frequency Regularization: Unveiling the Spectral Inductive Bias of Deep Neural Networks", arXiv:2512.22192',
    quick=QUICK,
    full=FULL,
    cpu=CPU,
    run=run,
    figures={
        "heatmap_none.png": "radial weight spectra of every conv layer over epochs, no regularizer",
        "heatmap_l2.png": "radial weight spectra over epochs with L2: less high-radius power",
        "heatmap_dropout.png": "radial weight spectra over epochs with dropout",
        "high_freq_energy.png": (
            "mean high-frequency energy E_hi and high-radius power over epochs per regularizer: L2 lowest"
        ),
    },
)
