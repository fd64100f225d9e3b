"""fr-robustness: accuracy of an unregularized and an L2-regularized CNN under high-pass-filtered
noise, Gaussian blur and down-then-up sampling (Lu, arXiv:2512.22192).

Both models start from the same initialization and see the same minibatches (matched seeds);
``l2`` adds coupled weight decay λ. Each test image ``x`` (NHWC) is corrupted by:

* **high-pass noise** of strength ε: ``n ~ N(0, 1)`` i.i.d. per pixel and channel, every spatial
  frequency with radius ``√(u² + v²) ≤ k_c`` (cycles per image, ``k_c = noise_cutoff · H``, default
  ``H/4``) removed by a 2-D FFT, rescaled to unit RMS; ``x' = x + ε n`` (no clipping; the same
  noise for both models);
* **Gaussian blur** of width σ pixels (separable kernel truncated at ``3σ``, reflect padding);
* **down-then-up sampling** by an integer factor f: antialiased bilinear resize to ``H/f × W/f``
  and bilinear back to ``H × W`` (what a low-resolution input looks like to the network).

The levels span mild to strong damage (quick: ε from 0.025 to 0.2 on [0, 1] images, where
ε = 0.1 already costs about a third of the accuracy; a range that sits at chance level for most
levels would not compare anything). Robustness is the mean accuracy drop over the levels,
``drop = acc(clean) − mean_levels acc(corrupted)`` (a model with lower clean accuracy is not
counted as less robust for that reason). Claims computed (means over seeds), from the source: the
L2 model is *more* sensitive to high-frequency noise (``drop_l2 > drop_none``) but *more* robust
to blur and to low resolution (``drop_l2 < drop_none``).

Quick: ``cnn_small`` on 512 real digits upscaled to 32×32×3 (training as in fr-ssr). Full:
ResNet-18 on CIFAR-10.
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
    "noise_levels": [0.025, 0.05, 0.1, 0.2],
    "noise_cutoff": 0.25,
    "blur_sigmas": [0.5, 1.0, 1.5, 2.0],
    "down_factors": [2, 4],
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
    noise_levels=[0.05, 0.1, 0.2, 0.4],
    down_factors=[2, 4, 8],
)
# The ledger's "cpu" scale (`fpjax run NAME --cpu`): between quick and full, the largest that
# runs in minutes on a 2-core CPU.
CPU = dict(QUICK, epochs=30, n_train=1024, n_seeds=2)


def highpass_noise(key, shape, cutoff: float):
    """Unit-RMS Gaussian noise ``(n, H, W, C)`` with every frequency of radius ≤ ``cutoff·H``
    (cycles per image) removed."""
    import jax
    import jax.numpy as jnp

    n, h, w, c = shape
    z = jax.random.normal(key, shape)
    u = jnp.fft.fftfreq(h) * h
    v = jnp.fft.fftfreq(w) * w
    keep = (u[:, None] ** 2 + v[None, :] ** 2) > (cutoff * h) ** 2
    zf = jnp.fft.fft2(z, axes=(1, 2)) * keep[None, :, :, None]
    out = jnp.real(jnp.fft.ifft2(zf, axes=(1, 2)))
    return out / jnp.sqrt(jnp.mean(out**2))


def gaussian_blur(x, sigma: float):
    """Separable Gaussian blur of NHWC images (σ in pixels, kernel radius ⌈3σ⌉, reflect padding)."""
    import jax
    import jax.numpy as jnp

    if sigma <= 0:
        return x
    r = int(np.ceil(3 * sigma))
    t = np.arange(-r, r + 1)
    g = np.exp(-(t**2) / (2 * sigma**2))
    g = jnp.asarray(g / g.sum(), x.dtype)
    c = x.shape[-1]
    xp = jnp.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    kh = jnp.tile(g[:, None, None, None], (1, 1, 1, c))  # (k, 1, 1, C) depthwise, vertical
    kw = jnp.tile(g[None, :, None, None], (1, 1, 1, c))  # (1, k, 1, C) horizontal
    dn = ("NHWC", "HWIO", "NHWC")
    y = jax.lax.conv_general_dilated(xp, kh, (1, 1), "VALID", dimension_numbers=dn, feature_group_count=c)
    return jax.lax.conv_general_dilated(y, kw, (1, 1), "VALID", dimension_numbers=dn, feature_group_count=c)


def down_up(x, factor: int):
    """Antialiased bilinear downsampling by ``factor`` then bilinear upsampling back."""
    import jax

    if factor <= 1:
        return x
    n, h, w, c = x.shape
    small = jax.image.resize(x, (n, h // factor, w // factor, c), "linear", antialias=True)
    return jax.image.resize(small, (n, h, w, c), "linear", antialias=False)


def _train_pair(cfg, model, data, key):
    import jax

    from fpjax.cnn import make_sgd, train_cnn

    xtr, ytr, xte, yte = data
    k_init, k_train = jax.random.split(key)
    v0 = model.init(k_init, xtr[:2])
    out = {}
    for regime, wd in (("none", 0.0), ("l2", cfg.weight_decay)):
        r = train_cnn(
            model,
            v0,
            xtr,
            ytr,
            key=k_train,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            optimizer=make_sgd(cfg.learning_rate, momentum=cfg.momentum, weight_decay=wd),
        )
        out[regime] = r
    return out


def run(cfg: Config, out_dir: Path) -> dict:
    import jax

    from fpjax.cnn import evaluate_cnn

    data = C.load_images(cfg.dataset, cfg)
    xte, yte = data[2], data[3]
    corruptions = {
        "noise": list(cfg.noise_levels),
        "blur": list(cfg.blur_sigmas),
        "downsample": list(cfg.down_factors),
    }
    acc = {reg: {"clean": [], **{c: [] for c in corruptions}} for reg in ("none", "l2")}
    model = C.build_model(cfg.model, cfg.dataset, cfg, conv_impl=C.train_conv_impl())
    for s in range(cfg.n_seeds):
        key = jax.random.fold_in(jax.random.key(cfg.seed), s)
        runs = _train_pair(cfg, model, data, key)
        noise = highpass_noise(jax.random.fold_in(key, 99), xte.shape, cfg.noise_cutoff)
        corrupted = {
            "noise": [xte + e * noise for e in corruptions["noise"]],
            "blur": [gaussian_blur(xte, sg) for sg in corruptions["blur"]],
            "downsample": [down_up(xte, f) for f in corruptions["downsample"]],
        }
        for reg, r in runs.items():
            acc[reg]["clean"].append(evaluate_cnn(model, r, xte, yte).accuracy)
            for c, xs in corrupted.items():
                acc[reg][c].append([evaluate_cnn(model, r, xc, yte).accuracy for xc in xs])

    summary = {}
    for reg in ("none", "l2"):
        clean = float(np.mean(acc[reg]["clean"]))
        summary[reg] = {"clean_acc": clean}
        for c in corruptions:
            curve = np.mean(np.asarray(acc[reg][c], dtype=float), axis=0)
            summary[reg][c] = {"levels": corruptions[c], "acc": curve.tolist(), "drop": clean - float(curve.mean())}
    d = {c: (summary["none"][c]["drop"], summary["l2"][c]["drop"]) for c in corruptions}
    _figure(cfg, out_dir, summary=summary, corruptions=corruptions)
    ev = lambda c: {
        "drop_none": d[c][0],
        "drop_l2": d[c][1],
        "levels": corruptions[c],
        "acc_none": summary["none"][c]["acc"],
        "acc_l2": summary["l2"][c]["acc"],
        "clean_none": summary["none"]["clean_acc"],
        "clean_l2": summary["l2"]["clean_acc"],
        "n_seeds": cfg.n_seeds,
        "weight_decay": cfg.weight_decay,
    }
    claims = [
        claim(
            "The L2 model is more sensitive to high-pass-filtered noise (larger mean accuracy drop)",
            d["noise"][1] > d["noise"][0],
            ev("noise"),
        ),
        claim(
            "The L2 model is more robust to Gaussian blur (smaller mean accuracy drop)",
            d["blur"][1] < d["blur"][0],
            ev("blur"),
        ),
        claim(
            "The L2 model is more robust to low-resolution (down-then-up sampled) inputs",
            d["downsample"][1] < d["downsample"][0],
            ev("downsample"),
        ),
    ]
    return {"summary": summary, "accuracies": acc, "claims": claims}


def _figure(cfg, out_dir, *, summary, corruptions):
    titles = {"noise": "high-pass noise strength ε", "blur": "blur σ (pixels)", "downsample": "down-up factor"}
    fig = new_figure((11, 3.2), layout=None)
    axes = fig.subplots(1, 3)
    for ax, c in zip(axes, corruptions):
        zero = 1 if c == "downsample" else 0.0
        for reg in ("none", "l2"):
            ax.plot(
                [zero] + list(corruptions[c]), [summary[reg]["clean_acc"]] + summary[reg][c]["acc"], "o-", label=reg
            )
        ax.set_xlabel(titles[c])
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1.02)
        ax.legend()
    save_figure(fig, out_dir / "robustness.png")


EXPERIMENT = Experiment(
    name="fr-robustness",
    description="Accuracy under high-pass noise, Gaussian blur and down-then-up sampling: L2 vs no regularization",
    claim="L2-regularized CNNs are more sensitive to high-frequency noise but more robust to blurred and "
    "low-resolution inputs than unregularized ones",
    source='J. Lu, "Frequency Regularization: Unveiling the Spectral Inductive Bias of Deep Neural Networks", arXiv:2512.22192',
    quick=QUICK,
    full=FULL,
    cpu=CPU,
    run=run,
    figures={
        "robustness.png": (
            "test accuracy of the unregularized and the L2 model under high-pass noise, blur and down-up "
            "sampling, per strength: compare the drops"
        ),
    },
)
