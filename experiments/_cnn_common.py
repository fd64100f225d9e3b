"""Helpers shared by the CNN experiments (hys4-cnn-bandwidth, fr-ssr, fr-robustness): data,
models, weight spectra, Hessian statistics and claim records. Private (the runner skips modules
starting with ``_``)."""

from __future__ import annotations

from typing import Any

import numpy as np

NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "tiny_imagenet": 200, "digits": 10, "digits32": 10}


def load_images(dataset: str, cfg: dict):
    """``(x_train, y_train, x_test, y_test)`` as device arrays for an image data set.

    ``cfg`` keys: ``data_dir`` (None: ``$FPJAX_DATA``), ``n_train`` / ``n_test`` (None: all; else
    a fixed subset drawn with ``numpy.random.default_rng(0)``, the same for every seed so that
    seeds differ only in initialisation and minibatch order), ``standardize`` (per-channel, train
    statistics).
    """
    import jax.numpy as jnp

    from fpjax.data import load_dataset, standardize

    if dataset not in NUM_CLASSES or dataset == "digits":
        raise ValueError(f"unknown image data set {dataset!r} for the CNN experiments; expected one of "
                         f"{', '.join(k for k in NUM_CLASSES if k != 'digits')}")
    xtr, ytr = load_dataset(dataset, "train", cfg.get("data_dir"))
    xte, yte = load_dataset(dataset, "test", cfg.get("data_dir"))
    rng = np.random.default_rng(0)
    if cfg.get("n_train") is not None and int(cfg["n_train"]) < len(ytr):
        idx = np.sort(rng.permutation(len(ytr))[: int(cfg["n_train"])])
        xtr, ytr = xtr[idx], ytr[idx]
    if cfg.get("n_test") is not None and int(cfg["n_test"]) < len(yte):
        idx = np.sort(rng.permutation(len(yte))[: int(cfg["n_test"])])
        xte, yte = xte[idx], yte[idx]
    if cfg.get("standardize", False):
        xtr, xte = standardize(xtr, xte)
    return jnp.asarray(xtr), jnp.asarray(ytr), jnp.asarray(xte), jnp.asarray(yte)


def build_model(name: str, dataset: str, cfg: dict, **extra):
    """``fpjax.cnn.get_model`` with ``cfg["model_options"][name]`` and ``extra`` (e.g. dropout).

    Convolutions: ``cfg["conv_impl"]`` (default ``"auto"``)."""
    from fpjax.cnn import get_model

    opts = dict((cfg.get("model_options") or {}).get(name, {}))
    opts.update(extra)
    opts.setdefault("conv_impl", cfg.get("conv_impl", "auto"))
    for k, v in list(opts.items()):
        if isinstance(v, list):
            opts[k] = tuple(v)
    return get_model(name, NUM_CLASSES[dataset], **opts)


def train_conv_impl() -> str:
    """The convolution implementation for *training*: on CPU the per-step loop runs the ``lax``
    convolution about twice as fast as im2col; inside loops (Hessians) im2col is needed, which
    ``"auto"`` picks on CPU."""
    import jax

    return "lax" if jax.default_backend() == "cpu" else "auto"


def kernel_profiles_fn(pad: int):
    """``params -> {layer: (R,) radial profile}`` for every k×k (k ≥ 2) conv kernel (jittable)."""
    from fpjax.cnn import conv_kernels
    from fpjax.spectrum import kernel_power_spectrum, radial_profile

    def record(params):
        return {name: radial_profile(kernel_power_spectrum(k, pad))[1]
                for name, k in conv_kernels(params).items()}
    return record


def profile_radii(pad: int) -> np.ndarray:
    from fpjax.spectrum import radial_profile

    return np.asarray(radial_profile(np.ones((pad, pad), np.float32))[0])


def hessian_stats(loss_on_batch, variables, x, y, key, cfg: dict) -> dict:
    """Trace (Hutchinson, deflated), top eigenvalues and spectral density (SLQ) of the mean
    cross-entropy on ``(x, y)`` with batch norm in eval mode (running statistics, no dropout).

    ``loss_on_batch`` from :func:`make_loss_on_batch` (create it once per model and reuse it: it
    is the static part of the jitted Hessian routines, so reusing it avoids recompiling).

    ``cfg``: ``hessian_samples`` (first that many of ``x``), ``hessian_batches`` (minibatches the
    HVPs are averaged over), ``hessian_probes``, ``lanczos_iters``, ``top_k``, ``density_probes``,
    ``density_iters``. Returns plain floats/lists.
    """
    import jax
    import jax.numpy as jnp

    from fpjax import hessian

    n = min(int(cfg["hessian_samples"]), int(x.shape[0]))
    nb = max(1, int(cfg.get("hessian_batches", 1)))
    n = (n // nb) * nb
    bs = variables.get("batch_stats", {})
    # The batch statistics travel with the data (replicated per minibatch) so that the loss function
    # itself — a static argument of the jitted Hessian routines — is the same object for every
    # model state, and they compile once per model.
    batches = {"x": x[:n].reshape((nb, n // nb) + tuple(x.shape[1:])), "y": y[:n].reshape(nb, n // nb),
               "bs": jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (nb,) + a.shape), bs)}
    # Always a BatchedLoss (also for one batch): its data are traced arguments, whereas data closed
    # over by a plain loss function become XLA constants, and XLA:CPU then tries to constant-fold
    # the convolutions of the input (tens of seconds per op).
    loss = hessian.batched_loss(loss_on_batch, batches)
    params = variables["params"]
    k1, k2 = jax.random.split(key)
    s = hessian.hessian_summary(loss, params, k1, num_probes=int(cfg["hessian_probes"]),
                                num_iters=int(cfg["lanczos_iters"]), k=int(cfg.get("top_k", 3)))
    grid, dens = hessian.eigen_density(loss, params, k2, num_probes=int(cfg["density_probes"]),
                                       num_iters=int(cfg["density_iters"]), grid=400)
    return {"trace": float(s.trace), "trace_se": float(s.trace_se),
            "top_eigenvalues": np.asarray(s.top_eigenvalues).tolist(),
            "spectral_norm": float(s.spectral_norm), "n_samples": n,
            "density_grid": np.asarray(grid).tolist(), "density": np.asarray(dens).tolist()}


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


def claim(text: str, held: bool, evidence: dict) -> dict:
    from fpjax._src.io import to_jsonable

    return {"claim": text, "held": bool(held), "evidence": to_jsonable(evidence)}


def mean(v: Any) -> float:
    return float(np.mean(np.asarray(v, dtype=float)))
