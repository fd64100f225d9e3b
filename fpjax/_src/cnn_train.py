"""Minibatch training and evaluation of the CNN zoo (:mod:`fpjax._src.cnn`).

:func:`train_cnn` runs minibatch SGD with momentum (optax) on softmax cross-entropy:

* **one jitted call per epoch**: the epoch is a ``lax.scan`` over minibatches whose indices come
  from a permutation drawn with an explicit key (``fold_in(key, epoch)``); the data stay on the
  device and each step gathers its batch. The last ``n mod batch_size`` examples of each
  permutation are skipped (a different few every epoch), so every step has the same shape;
* **weight decay** is the coupled L2 of PyTorch's ``SGD(weight_decay=λ)``:
  ``optax.add_decayed_weights(λ)`` before momentum, i.e. the gradient of ``L + (λ/2)‖θ‖²`` over all
  parameters (conv/dense kernels, biases and batch-norm scales/offsets). This is the "L2
  regularizer" of fr-ssr;
* **dropout** is a model option (``get_model(..., dropout=p)``); each step gets its own dropout key
  ``fold_in(epoch_key, step)``;
* **evaluation** (:func:`evaluate_cnn`) runs in eval mode (running batch-norm statistics, no
  dropout) in fixed-size batches (the last one padded and masked), after every ``eval_every``
  epochs and at the end;
* **recording**: ``record(params)`` (any jittable function returning a pytree, e.g. the radial
  spectra of every conv kernel) is evaluated at initialisation and after every epoch and stacked:
  leading axis ``epochs + 1``;
* **divergence**: a NaN/Inf epoch loss stops training; the result holds the last finite
  variables and ``diverged=True`` (never NaN silently).

The same code runs on CPU and GPU; for a fixed key and machine results are reproducible.
:func:`pretrain_shuffled_labels` is the high-bandwidth initialisation of the hys4 experiment:
training on the same images with randomly permuted labels.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fpjax._src import checks
from fpjax._src.cnn import CNN
from fpjax._src.train import ce

__all__ = [
    "CNNTrainResult",
    "CNNEvaluation",
    "train_cnn",
    "evaluate_cnn",
    "make_sgd",
    "pretrain_shuffled_labels",
    "shuffle_labels",
]


class CNNEvaluation(NamedTuple):
    """Result of :func:`evaluate_cnn` (eval mode, over all the examples given).

    Attributes:
      accuracy: fraction of examples whose arg-max logit is the label, in ``[0, 1]``.
      loss: mean cross-entropy ``−(1/n) Σ_i log softmax(f(x_i))_{y_i}``.
    """

    accuracy: float
    loss: float


class CNNTrainResult(NamedTuple):
    """Result of :func:`train_cnn`.

    variables: final ``{"params", "batch_stats"}`` (the last finite ones if training diverged).
    history: dict of numpy arrays over epochs run: ``train_loss`` (mean minibatch loss in train
      mode), ``train_acc_running`` (minibatch accuracy in train mode), ``test_loss``/``test_acc``
      (eval mode; NaN in epochs not evaluated, absent without test data), ``epoch_seconds``;
      scalars ``final_train_acc``/``final_train_loss`` (eval mode over the whole training set)
      and ``final_test_acc``/``final_test_loss`` when test data were given.
    records: stacked ``record(params)`` with leading axis ``epochs_run + 1`` (entry 0 at init),
      or None without ``record``.
    record_epochs: int array, the epoch of each record (0 = initialisation).
    diverged: True when a NaN/Inf loss stopped training.
    epochs_run: number of completed (finite) epochs.
    """

    variables: dict
    history: dict
    records: Any
    record_epochs: np.ndarray
    diverged: bool
    epochs_run: int

    # The fields of :class:`fpjax.train.FitResult` under the same names, so code reading a training
    # result works with both (a step of fit is an epoch here).
    @property
    def params(self) -> Any:
        """``variables["params"]`` (FitResult's ``params``)."""
        return self.variables["params"]

    @property
    def losses(self) -> np.ndarray:
        """Mean training loss per epoch run (FitResult's ``losses``, per epoch)."""
        return self.history["train_loss"]

    @property
    def record_steps(self) -> np.ndarray:
        """The epoch of each record (FitResult's ``record_steps``)."""
        return self.record_epochs

    @property
    def diverged_step(self) -> int:
        """The epoch that diverged, ``-1`` if none (FitResult's ``diverged_step``)."""
        return self.epochs_run if self.diverged else -1


def make_sgd(
    lr: float,
    *,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    schedule: str = "constant",
    total_steps: int | None = None,
) -> optax.GradientTransformation:
    """SGD with momentum and coupled L2 weight decay (PyTorch ``SGD(lr, momentum, weight_decay)``):
    ``g ← ∇L + λθ``; ``m ← μ m + g``; ``θ ← θ − η_t m``. ``schedule``: ``"constant"`` or
    ``"cosine"`` (η_t = η/2·(1 + cos(π t / total_steps)), needs ``total_steps``)."""
    lr = checks.check_positive(lr, "lr")
    momentum = checks.check_positive(momentum, "momentum", allow_zero=True)
    weight_decay = checks.check_positive(weight_decay, "weight_decay", allow_zero=True)
    checks.check_choice(schedule, "schedule", ("constant", "cosine"))
    if schedule == "cosine":
        if total_steps is None:
            raise ValueError("schedule='cosine' needs total_steps")
        total_steps = checks.check_positive_int(total_steps, "total_steps")
    return _sgd(lr, momentum, weight_decay, (weight_decay > 0, momentum > 0, bool(nesterov), schedule, total_steps))


def _sgd(lr, momentum, weight_decay, struct: tuple) -> optax.GradientTransformation:
    """:func:`make_sgd` without checks, so that ``lr, momentum, weight_decay`` may be traced
    scalars; ``struct = (use_weight_decay, use_momentum, nesterov, schedule, total_steps)`` fixes
    the optimizer-state structure (static)."""
    use_wd, use_mom, nesterov, schedule, total_steps = struct
    rate = optax.cosine_decay_schedule(lr, total_steps) if schedule == "cosine" else lr
    parts = [optax.add_decayed_weights(weight_decay)] if use_wd else []
    parts.append(optax.sgd(rate, momentum=momentum if use_mom else None, nesterov=nesterov))
    return optax.chain(*parts)


@functools.lru_cache(maxsize=64)
def _epoch_fn(model: CNN, struct: tuple, loop: str):
    """``epoch(params, bs, opt_state, hp, x, y, idx (steps, batch), key) -> (params, bs,
    opt_state, losses (steps,), accs (steps,))`` with ``hp = (lr, momentum, weight_decay)``
    traced (changing them does not recompile), jitted as one ``lax.scan`` (``loop="scan"``) or as
    one jitted step called per minibatch (``loop="step"``). Both apply the same step with the
    same keys. Cached on (model object, optimizer structure, loop)."""

    def step(params, bs, opt_state, hp, x, y, i, k):
        xb, yb = x[i], y[i]
        tx = _sgd(hp[0], hp[1], hp[2], struct)

        def loss_fn(p):
            logits, new_bs = model.apply({"params": p, "batch_stats": bs}, xb, train=True, key=k)
            return ce(logits, yb), (new_bs, logits)

        (loss, (new_bs, logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, new_bs, opt_state, loss, jnp.mean(jnp.argmax(logits, -1) == yb)

    def step_keys(key, steps):
        return jax.vmap(lambda j: jax.random.fold_in(key, j))(jnp.arange(steps))

    if loop == "scan":

        def epoch(params, bs, opt_state, hp, x, y, idx, key):
            def body(carry, inp):
                *out, loss, acc = step(*carry, hp, x, y, *inp)
                return tuple(out), (loss, acc)

            carry, (losses, accs) = jax.lax.scan(body, (params, bs, opt_state), (idx, step_keys(key, idx.shape[0])))
            return (*carry, losses, accs)

        # Only the optimizer state is donated: the previous params/batch stats stay valid, so a
        # diverged epoch can be rolled back without copying.
        return jax.jit(epoch, donate_argnums=(2,))

    step_jit = jax.jit(step)
    keys_jit = jax.jit(step_keys, static_argnums=1)

    def epoch_loop(params, bs, opt_state, hp, x, y, idx, key):
        keys = keys_jit(key, idx.shape[0])
        losses, accs = [], []
        for j in range(idx.shape[0]):
            params, bs, opt_state, loss, acc = step_jit(params, bs, opt_state, hp, x, y, idx[j], keys[j])
            losses.append(loss)
            accs.append(acc)
        return params, bs, opt_state, jnp.stack(losses), jnp.stack(accs)

    return epoch_loop


@functools.lru_cache(maxsize=64)
def _eval_fn(model: CNN):
    """Jitted ``(params, bs, x, y, n_valid) -> (sum of losses, number correct)`` over one batch
    whose first ``n_valid`` rows are real (the rest padding)."""

    def run(params, bs, xb, yb, n_valid):
        logits, _ = model.apply({"params": params, "batch_stats": bs}, xb, train=False)
        mask = jnp.arange(xb.shape[0]) < n_valid
        l = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
        c = jnp.argmax(logits, -1) == yb
        return jnp.sum(jnp.where(mask, l, 0.0)), jnp.sum(jnp.where(mask, c, False))

    return jax.jit(run)


def _check_xy(model: CNN, x, y, xname="x", yname="y"):
    x = checks.as_array(x, xname, dtype=jnp.float32)
    checks.check_ndim(x, xname, 4, shape_hint="(n, height, width, channels)")
    checks.check_finite(x, xname)
    y = checks.as_array(y, yname)
    checks.check_ndim(y, yname, 1, shape_hint="(n,) integer labels")
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"{yname} must hold integer class labels; got dtype {y.dtype}")
    checks.check_same_leading(x, xname, y, yname)
    if checks.is_concrete(y) and (int(jnp.min(y)) < 0 or int(jnp.max(y)) >= model.num_classes):
        raise ValueError(
            f"{yname} must be labels in 0..{model.num_classes - 1}; got range {int(jnp.min(y))}..{int(jnp.max(y))}"
        )
    return x, y.astype(jnp.int32)


def evaluate_cnn(model: CNN, variables: dict, x, y, *, batch_size: int = 500) -> CNNEvaluation:
    """:class:`CNNEvaluation` ``(accuracy, loss)`` (mean cross-entropy) of ``model`` in eval mode over all of ``(x, y)``,
    computed in batches of ``batch_size`` (the last one zero-padded and masked out)."""
    x, y = _check_xy(model, x, y)
    batch_size = min(checks.check_positive_int(batch_size, "batch_size"), x.shape[0])
    n = x.shape[0]
    run = _eval_fn(model)
    if not isinstance(variables, dict) or "params" not in variables:
        raise TypeError("variables must be the dict returned by init (keys 'params', 'batch_stats')")
    params, bs = variables["params"], variables.get("batch_stats", {})
    loss_sum, correct = 0.0, 0
    # A Python loop over fixed-size batches (one compile; the last batch is zero-padded and
    # masked) rather than lax.map: XLA:CPU is slow on convolutions inside loops.
    for start in range(0, n, batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        m = xb.shape[0]
        if m < batch_size:
            xb = jnp.concatenate([xb, jnp.zeros((batch_size - m,) + x.shape[1:], x.dtype)])
            yb = jnp.concatenate([yb, jnp.zeros((batch_size - m,), y.dtype)])
        l, c = run(params, bs, xb, yb, m)
        loss_sum, correct = loss_sum + l, correct + c
    return CNNEvaluation(float(correct) / n, float(loss_sum) / n)


def train_cnn(
    model: CNN,
    variables: dict,
    x,
    y,
    *,
    key,
    epochs: int,
    batch_size: int = 128,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    schedule: str = "constant",
    x_test=None,
    y_test=None,
    eval_every: int = 1,
    eval_batch_size: int = 500,
    record: Callable[[Any], Any] | None = None,
    stop_at_train_acc: float | None = None,
    loop: str = "auto",
    verbose: bool = False,
) -> CNNTrainResult:
    """Train ``model`` from ``variables`` on ``(x (n, H, W, C), y (n,) int)`` (see module docstring).

    Args:
      key: PRNG key for the permutations and dropout.
      epochs: number of passes; ``batch_size`` ≤ n.
      lr, momentum, weight_decay, nesterov, schedule: :func:`make_sgd` settings.
      x_test, y_test: optional evaluation data (eval mode every ``eval_every`` epochs and at the end).
      record: ``record(params) -> pytree`` evaluated at init and after every epoch.
      stop_at_train_acc: stop early once the running train-mode minibatch accuracy of an epoch
        reaches this value (used to pre-train until the shuffled labels are memorised).
      loop: ``"scan"`` (the epoch is one jitted ``lax.scan``), ``"step"`` (one jitted step per
        minibatch) or ``"auto"``: ``"step"`` on CPU, ``"scan"`` elsewhere.
    Returns a :class:`CNNTrainResult`.
    """
    checks.check_key(key)
    epochs = checks.check_positive_int(epochs, "epochs", minimum=0)
    x, y = _check_xy(model, x, y)
    n = x.shape[0]
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(f"batch_size must be <= the number of examples {n}; got {batch_size}")
    eval_every = checks.check_positive_int(eval_every, "eval_every")
    checks.check_choice(loop, "loop", ("auto", "scan", "step"))
    has_test = x_test is not None
    if has_test:
        x_test, y_test = _check_xy(model, x_test, y_test, "x_test", "y_test")
    steps = n // batch_size
    lr = checks.check_positive(lr, "lr")
    momentum = checks.check_positive(momentum, "momentum", allow_zero=True)
    weight_decay = checks.check_positive(weight_decay, "weight_decay", allow_zero=True)
    checks.check_choice(schedule, "schedule", ("constant", "cosine"))
    struct = (
        weight_decay > 0,
        momentum > 0,
        bool(nesterov),
        schedule,
        steps * max(epochs, 1) if schedule == "cosine" else None,
    )
    hp = jnp.array([lr, momentum, weight_decay], dtype=jnp.float32)
    if loop == "auto":
        # XLA:CPU runs convolutions inside a while loop (lax.scan) several times slower than the
        # same step jitted on its own (measured 3-5× for cnn_small), so CPU loops in Python.
        loop = "step" if jax.default_backend() == "cpu" else "scan"
    epoch_fn = _epoch_fn(model, struct, loop)
    tx = _sgd(lr, momentum, weight_decay, struct)
    params = variables["params"]
    bs = variables.get("batch_stats", {})
    opt_state = tx.init(params)
    rec_fn = jax.jit(record) if record is not None else None
    records = [jax.device_get(rec_fn(params))] if rec_fn is not None else []
    hist: dict[str, list] = {"train_loss": [], "train_acc_running": [], "epoch_seconds": []}
    if has_test:
        hist["test_loss"], hist["test_acc"] = [], []
    diverged = False
    done = 0
    for ep in range(epochs):
        t0 = time.perf_counter()
        k_perm, k_drop = jax.random.split(jax.random.fold_in(key, ep))
        idx = jax.random.permutation(k_perm, n)[: steps * batch_size].reshape(steps, batch_size)
        prev = (params, bs)  # kept in case this epoch diverges
        params, bs, opt_state, losses, accs = epoch_fn(params, bs, opt_state, hp, x, y, idx, k_drop)
        loss = float(jnp.mean(losses))
        if not np.isfinite(loss) or not all(bool(jnp.all(jnp.isfinite(l))) for l in jax.tree_util.tree_leaves(params)):
            diverged = True
            params, bs = prev
            break
        done = ep + 1
        hist["train_loss"].append(loss)
        hist["train_acc_running"].append(float(jnp.mean(accs)))
        if has_test:
            if (ep + 1) % eval_every == 0 or ep + 1 == epochs:
                ta, tl = evaluate_cnn(
                    model, {"params": params, "batch_stats": bs}, x_test, y_test, batch_size=eval_batch_size
                )
            else:
                ta, tl = float("nan"), float("nan")
            hist["test_acc"].append(ta)
            hist["test_loss"].append(tl)
        if rec_fn is not None:
            records.append(jax.device_get(rec_fn(params)))
        hist["epoch_seconds"].append(time.perf_counter() - t0)
        if verbose:
            msg = f"epoch {ep + 1}/{epochs} loss {loss:.4f} acc {hist['train_acc_running'][-1]:.3f}"
            if has_test and np.isfinite(hist["test_acc"][-1]):
                msg += f" test acc {hist['test_acc'][-1]:.3f}"
            print(msg, flush=True)
        if stop_at_train_acc is not None and hist["train_acc_running"][-1] >= stop_at_train_acc:
            break
    final = {"params": params, "batch_stats": bs}
    history = {k: np.asarray(v, dtype=np.float64) for k, v in hist.items()}
    history["final_train_acc"], history["final_train_loss"] = evaluate_cnn(
        model, final, x, y, batch_size=eval_batch_size
    )
    if has_test:
        history["final_test_acc"], history["final_test_loss"] = evaluate_cnn(
            model, final, x_test, y_test, batch_size=eval_batch_size
        )
    stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *records) if records else None
    return CNNTrainResult(final, history, stacked, np.arange(len(records)), diverged, done)


def shuffle_labels(y, *, key) -> jax.Array:
    """A uniformly random permutation of the labels ``y`` (class frequencies are kept).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> sorted(shuffle_labels(jnp.array([0, 1, 1, 2]), key=jax.random.key(0)).tolist())
      [0, 1, 1, 2]
    """
    checks.check_key(key)
    y = checks.as_array(y, "y")
    checks.check_ndim(y, "y", 1)
    return y[jax.random.permutation(key, y.shape[0])]


def pretrain_shuffled_labels(model: CNN, variables: dict, x, y, *, key, epochs: int, **train_kwargs) -> CNNTrainResult:
    """High-bandwidth initialisation (the hys4-cnn-bandwidth experiment): train on ``(x, shuffle_labels(y))``.

    Fitting randomly permuted labels forces the network to separate neighbouring images with
    unrelated labels, i.e. to become a high-frequency function of its input; the returned
    ``variables`` are the initialisation for the subsequent training on the true labels.
    ``train_kwargs`` go to :func:`train_cnn` (e.g. ``lr``, ``batch_size``,
    ``stop_at_train_acc=0.99`` to stop once the random labels are memorised). The result's
    ``history["final_train_acc"]`` is the accuracy on the *shuffled* labels.
    """
    checks.check_key(key)
    k_shuffle, k_train = jax.random.split(key)
    y_rand = shuffle_labels(y, key=k_shuffle)
    return train_cnn(model, variables, x, y_rand, key=k_train, epochs=epochs, **train_kwargs)
