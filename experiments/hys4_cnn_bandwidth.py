"""hys4-cnn-bandwidth: CNNs from a random vs a high-bandwidth initialization (arXiv:2206.08558, §7 + A.2,
A.4).

For each data set and model of the config and each seed:

1. ``v0 = model.init(key)`` (random initialization);
2. *random init*: train ``v0`` on the true labels;
3. *high-B/W init*: pre-train ``v0`` on randomly permuted labels
   (:func:`fpjax.cnn.pretrain_shuffled_labels`, until ``pretrain_stop_acc`` running accuracy or
   ``pretrain_epochs``), then train from there on the true labels with the same settings and
   minibatch key as in 2 (the optimizer state is reset);
4. report train accuracy (eval mode, whole training set) and test accuracy of both;
5. bandwidth proxy (App. A.2): histogram of ``∂(mean logit)/∂(input pixels)`` over
   ``grad_samples`` training images (:func:`fpjax.spectrum.input_gradient_histogram`, batch norm
   in eval mode) at the random init, at the high-B/W init, and for both trained models, with
   common bin edges;
6. flatness (App. A.4): Hessian trace (deflated Hutchinson), top eigenvalues (Lanczos) and
   eigenvalue density (SLQ) of the training cross-entropy of both trained models, batch norm in
   eval mode (``fpjax.hessian``).

No data augmentation (as in the source, following Zhang et al. 2016); batch norm and dropout are
kept as parts of the architectures. Quick: ``cnn_small`` on 512 real digits upscaled to 32×32×3;
full: the nine CNNs on CIFAR-10, CIFAR-100 and Tiny ImageNet from ``data_dir``.

Claims computed (per data set × model, means over seeds):
* generalization: test accuracy(high-B/W) < test accuracy(random) — the source's claim;
* bandwidth: the input-gradient std at the high-B/W init exceeds that at the random init (the
  premise: shuffled-label pre-training raises the bandwidth);
* flatness: the high-B/W solution has the larger Hessian trace (reported as a comparison; the
  source tabulates it without a stated direction for CNNs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpjax.experiment import Config, Experiment, claim, new_figure, save_figure

from . import _common as C

QUICK = {
    "datasets": ["digits32"],
    "models": ["cnn_small"],
    "model_options": {"cnn_small": {"widths": [16, 32, 64]}},
    "data_dir": None,
    "n_train": 512,
    "n_test": None,
    "standardize": False,
    "n_seeds": 1,
    "epochs": 15,
    "batch_size": 32,
    "learning_rate": 0.1,
    "learning_rate_overrides": {},
    "momentum": 0.9,
    "weight_decay": 0.0,
    "pretrain_epochs": 100,
    "pretrain_stop_acc": 0.95,
    "grad_samples": 256,
    "grad_bins": 60,
    "hessian_samples": 128,
    "hessian_batches": 1,
    "hessian_probes": 6,
    "hessian_num_iters": 10,
    "top_k": 3,
    "density_probes": 1,
    "density_num_iters": 10,
}
FULL = dict(
    QUICK,
    datasets=["cifar10", "cifar100", "tiny_imagenet"],
    models=[
        "vgg11",
        "vgg16",
        "alexnet",
        "efficientnet_b0",
        "densenet121",
        "resnet18",
        "resnet50",
        "senet18",
        "convmixer",
    ],
    model_options={},
    n_train=None,
    standardize=True,
    n_seeds=1,
    epochs=60,
    batch_size=128,
    learning_rate=0.05,
    learning_rate_overrides={"alexnet": 0.01},
    weight_decay=5e-4,
    pretrain_epochs=150,
    pretrain_stop_acc=0.99,
    grad_samples=1000,
    hessian_samples=2000,
    hessian_batches=10,
    hessian_probes=100,
    hessian_num_iters=50,
    top_k=5,
    density_probes=5,
    density_num_iters=80,
)
# The ledger's "cpu" scale (`fpjax run NAME --cpu`): between quick and full, the largest that
# runs in minutes on a 2-core CPU.
CPU = dict(QUICK, epochs=30, n_train=1024)


def _grad_hist(model, variables, x, bins=60):
    from fpjax.spectrum import input_gradient_histogram

    f = model.eval_fn(variables)
    return input_gradient_histogram(lambda xb: f(variables["params"], xb), x, bins, batch_size=128)


def run_one(name: str, model, loss_on_batch, data, key, cfg: Config) -> dict:
    """One seed of one model: ``model`` for training, ``loss_on_batch`` (same parameters, im2col
    convolutions on CPU) for the Hessians; both are reused across seeds so nothing recompiles."""
    import jax

    from fpjax.cnn import cnn_variables, make_sgd, pretrain_shuffled_labels, train_cnn

    xtr, ytr, xte, yte = data
    k_init, k_train, k_pre, k_hess = jax.random.split(key, 4)
    v0 = model.init(k_init, xtr[:2])
    learning_rate = float((cfg.learning_rate_overrides or {}).get(name, cfg.learning_rate))
    optimizer = make_sgd(learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    kw = dict(epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=optimizer)
    r_rand = train_cnn(model, v0, xtr, ytr, key=k_train, x_test=xte, y_test=yte, eval_every=max(1, kw["epochs"]), **kw)
    pre = pretrain_shuffled_labels(
        model,
        v0,
        xtr,
        ytr,
        key=k_pre,
        **dict(kw, epochs=cfg.pretrain_epochs),
        stop_at_train_acc=cfg.pretrain_stop_acc,
    )
    v_hb = cnn_variables(pre)
    r_hb = train_cnn(model, v_hb, xtr, ytr, key=k_train, x_test=xte, y_test=yte, eval_every=max(1, kw["epochs"]), **kw)

    # input gradients (bandwidth proxy); each histogram spans ±its own max |g| (the plot compares
    # densities, which does not need common edges; the std comes from the raw gradients)
    xg = xtr[: cfg.grad_samples]
    states = {
        "random_init": v0,
        "high_bw_init": v_hb,
        "random_final": cnn_variables(r_rand),
        "high_bw_final": cnn_variables(r_hb),
    }
    hists = {k: _grad_hist(model, v, xg, bins=cfg.grad_bins) for k, v in states.items()}

    kh1, kh2 = jax.random.split(k_hess)
    hess = {
        "random": C.hessian_stats(loss_on_batch, cnn_variables(r_rand), xtr, ytr, kh1, cfg),
        "high_bw": C.hessian_stats(loss_on_batch, cnn_variables(r_hb), xtr, ytr, kh2, cfg),
    }
    return {
        "random": {
            "train_acc": r_rand.metrics.final_train_acc,
            "test_acc": r_rand.metrics.final_test_acc,
            "train_loss": r_rand.metrics.train_loss.tolist(),
            "diverged": r_rand.diverged,
        },
        "high_bw": {
            "train_acc": r_hb.metrics.final_train_acc,
            "test_acc": r_hb.metrics.final_test_acc,
            "train_loss": r_hb.metrics.train_loss.tolist(),
            "diverged": r_hb.diverged,
        },
        "pretrain": {
            "epochs_run": len(pre.metrics.train_loss),
            "shuffled_label_train_acc": pre.metrics.final_train_acc,
            "diverged": pre.diverged,
        },
        "grad_std": {k: float(h.std) for k, h in hists.items()},
        "grad_mean_abs": {k: float(h.mean_abs) for k, h in hists.items()},
        "grad_hist": {
            k: {"edges": np.asarray(h.edges).tolist(), "counts": np.asarray(h.counts).tolist()}
            for k, h in hists.items()
        },
        "hessian": hess,
        "_hists": hists,
    }


def run(cfg: Config, out_dir: Path) -> dict:
    import jax

    results: dict = {}
    verdicts: dict = {"generalization": {}, "bandwidth": {}, "flatness": {}}
    for di, dataset in enumerate(cfg.datasets):
        data = C.load_images(dataset, cfg)
        results[dataset] = {}
        for mi, name in enumerate(cfg.models):
            model = C.build_model(name, dataset, cfg, conv_impl=C.train_conv_impl())
            # im2col convolutions on CPU ("auto"): the Hessian routines loop over HVPs
            loss_on_batch = C.make_loss_on_batch(model.with_conv_impl("auto"))
            runs = []
            for s in range(cfg.n_seeds):
                key = jax.random.fold_in(jax.random.key(cfg.seed), 1000 * di + 100 * mi + s)
                runs.append(run_one(name, model, loss_on_batch, data, key, cfg))
            tag = f"{dataset}/{name}"
            agg = _aggregate(runs)
            results[dataset][name] = {
                "summary": agg,
                "seeds": [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs],
            }
            for kind, row in _verdict_rows(agg).items():
                verdicts[kind][tag] = row
            _seed_figures(out_dir, dataset, name, runs[0])
    _accuracy_figure(cfg, out_dir, results=results)
    return {"results": results, "claims": _claims(**verdicts)}


def _aggregate(runs: list) -> dict:
    """Seed means of one model's accuracies, input-gradient spreads and Hessian statistics."""
    return {
        "random_train_acc": C.mean([r["random"]["train_acc"] for r in runs]),
        "random_test_acc": C.mean([r["random"]["test_acc"] for r in runs]),
        "high_bw_train_acc": C.mean([r["high_bw"]["train_acc"] for r in runs]),
        "high_bw_test_acc": C.mean([r["high_bw"]["test_acc"] for r in runs]),
        "shuffled_label_fit": C.mean([r["pretrain"]["shuffled_label_train_acc"] for r in runs]),
        "grad_std_random_init": C.mean([r["grad_std"]["random_init"] for r in runs]),
        "grad_std_high_bw_init": C.mean([r["grad_std"]["high_bw_init"] for r in runs]),
        "grad_std_random_final": C.mean([r["grad_std"]["random_final"] for r in runs]),
        "grad_std_high_bw_final": C.mean([r["grad_std"]["high_bw_final"] for r in runs]),
        "hessian_trace_random": C.mean([r["hessian"]["random"]["trace"] for r in runs]),
        "hessian_trace_high_bw": C.mean([r["hessian"]["high_bw"]["trace"] for r in runs]),
        "top_eigenvalue_random": C.mean([r["hessian"]["random"]["top_eigenvalues"][0] for r in runs]),
        "top_eigenvalue_high_bw": C.mean([r["hessian"]["high_bw"]["top_eigenvalues"][0] for r in runs]),
        "any_diverged": any(r[k]["diverged"] for r in runs for k in ("random", "high_bw", "pretrain")),
    }


def _verdict_rows(agg: dict) -> dict:
    """The evidence of the three claims for one data set and model (with ``held``)."""
    return {
        "generalization": {
            "random_test_acc": agg["random_test_acc"],
            "high_bw_test_acc": agg["high_bw_test_acc"],
            "random_train_acc": agg["random_train_acc"],
            "high_bw_train_acc": agg["high_bw_train_acc"],
            "test_acc_drop": agg["random_test_acc"] - agg["high_bw_test_acc"],
            "held": agg["high_bw_test_acc"] < agg["random_test_acc"],
        },
        "bandwidth": {
            "grad_std_random_init": agg["grad_std_random_init"],
            "grad_std_high_bw_init": agg["grad_std_high_bw_init"],
            "shuffled_label_fit": agg["shuffled_label_fit"],
            "held": agg["grad_std_high_bw_init"] > agg["grad_std_random_init"],
        },
        "flatness": {
            "trace_random": agg["hessian_trace_random"],
            "trace_high_bw": agg["hessian_trace_high_bw"],
            "top_eig_random": agg["top_eigenvalue_random"],
            "top_eig_high_bw": agg["top_eigenvalue_high_bw"],
            "held": agg["hessian_trace_high_bw"] > agg["hessian_trace_random"],
        },
    }


def _seed_figures(out_dir, dataset: str, name: str, r0: dict) -> None:
    """Input-gradient histograms and Hessian eigenvalue densities of the first seed."""
    from fpjax.hessian import plot_eigen_density
    from fpjax.spectrum import plot_gradient_histograms

    tag = f"{dataset}/{name}"
    save_figure(
        plot_gradient_histograms(
            [r0["_hists"][k] for k in ("random_init", "high_bw_init", "random_final", "high_bw_final")],
            labels=["random init", "high-B/W init", "trained from random", "trained from high-B/W"],
            title=f"input gradients, {tag}",
        ),
        out_dir / f"grad_hist_{dataset}_{name}.png",
    )
    fig = None
    for lab, key_ in (("random init → trained", "random"), ("high-B/W init → trained", "high_bw")):
        h = r0["hessian"][key_]
        fig = plot_eigen_density(
            np.asarray(h["density_grid"]),
            np.asarray(h["density"]),
            ax=None if fig is None else fig.axes[0],
            label=lab,
        )
    fig.axes[0].set_title(f"Hessian eigenvalue density, {tag}")
    fig.axes[0].legend()
    save_figure(fig, out_dir / f"hessian_density_{dataset}_{name}.png")


def _claims(generalization: dict, bandwidth: dict, flatness: dict) -> list:
    return [
        claim(
            "High-bandwidth initialization (pre-training on shuffled labels) gives lower test accuracy than "
            "random initialization, for every data set and model",
            all(v["held"] for v in generalization.values()),
            generalization,
        ),
        claim(
            "Pre-training on shuffled labels raises the bandwidth: input-gradient std at the high-B/W init "
            "exceeds that at the random init",
            all(v["held"] for v in bandwidth.values()),
            bandwidth,
        ),
        claim(
            "The high-B/W solution sits in a sharper minimum (larger Hessian trace) than the random-init one",
            all(v["held"] for v in flatness.values()),
            flatness,
        ),
    ]


def _accuracy_figure(cfg, out_dir, *, results: dict):
    tags, vals = [], []
    for ds, models in results.items():
        for name, r in models.items():
            s = r["summary"]
            tags.append(f"{ds}\n{name}")
            vals.append((s["random_train_acc"], s["random_test_acc"], s["high_bw_train_acc"], s["high_bw_test_acc"]))
    vals = np.asarray(vals)
    fig = new_figure((max(4, 1.6 * len(tags)), 3.5), layout=None)
    ax = fig.subplots()
    xs = np.arange(len(tags))
    labels = ["train, random init", "test, random init", "train, high-B/W init", "test, high-B/W init"]
    for j in range(4):
        ax.bar(xs + (j - 1.5) * 0.2, vals[:, j], 0.2, label=labels[j])
    ax.set_xticks(xs, tags)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="lower left")
    save_figure(fig, out_dir / "accuracy.png")


EXPERIMENT = Experiment(
    name="hys4-cnn-bandwidth",
    description="CNNs: random init vs high-bandwidth init (pre-trained on shuffled labels): accuracy, input gradients, Hessian",
    claim="Initializing deep CNNs with a higher bandwidth (pre-training on randomly shuffled labels) makes them "
    "generalize worse than random initialization; the pre-training raises the input-gradient magnitudes "
    "(bandwidth)",
    source='Ramasinghe, MacDonald, Farazi, Saratchandran, Lucey, "How You Start Matters for Generalization", arXiv:2206.08558',
    quick=QUICK,
    full=FULL,
    cpu=CPU,
    run=run,
    figures={
        "accuracy.png": (
            "train and test accuracy, random vs high-bandwidth init, per data set and model: high bandwidth "
            "generalizes worse"
        ),
    },
)
