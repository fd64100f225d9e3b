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
* **divergence**: a step whose loss or updated parameters/batch statistics are NaN/Inf stops
  training at the end of its epoch; the result holds the last finite parameters (those before the
  failing step, recomputed from the start of the epoch), ``diverged=True`` and its
  ``diverged_step`` (never NaN silently).

The result is a :class:`fpjax.train.FitResult`, the type :func:`fpjax.train.fit` returns, with the
same step semantics: ``losses`` holds every minibatch loss (one per optimizer step),
``record_steps`` counts optimizer steps, ``state`` holds the batch-norm statistics and ``metrics``
is a :class:`CNNMetrics` (per-epoch loss/accuracy, test metrics, timings). The flax variables are
``cnn_variables(result) = {"params": result.params, **result.state}``.

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
from fpjax._src.array_types import ArrayLike
from fpjax._src.cnn import CNN
from fpjax._src.train import FitResult, _all_finite, ce

__all__ = [
    "CNNMetrics",
    "CNNEvaluation",
    "cnn_variables",
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


class CNNMetrics(NamedTuple):
    """Per-epoch metrics of :func:`train_cnn` (the ``metrics`` field of its :class:`fpjax.train.FitResult`).

    Arrays have one entry per completed (finite) epoch, ``E = len(train_loss)``; the test fields
    are None when no test data were given.

    Attributes:
      train_loss: ``(E,)`` mean minibatch cross-entropy of each epoch (train mode, the mean of
        that epoch's ``losses``).
      train_acc_running: ``(E,)`` mean minibatch accuracy of each epoch (train mode, while training).
      test_loss: ``(E,)`` eval-mode test loss after each epoch, NaN in epochs not evaluated
        (``eval_every``), or None.
      test_acc: ``(E,)`` eval-mode test accuracy, as ``test_loss``, or None.
      epoch_seconds: ``(E,)`` wall-clock seconds of each epoch (training, evaluation, recording).
      final_train_acc: eval-mode accuracy of the final variables over the whole training set.
      final_train_loss: eval-mode mean cross-entropy over the whole training set.
      final_test_acc: eval-mode accuracy over the test set, or None.
      final_test_loss: eval-mode mean cross-entropy over the test set, or None.
    """

    train_loss: np.ndarray
    train_acc_running: np.ndarray
    test_loss: np.ndarray | None
    test_acc: np.ndarray | None
    epoch_seconds: np.ndarray
    final_train_acc: float
    final_train_loss: float
    final_test_acc: float | None
    final_test_loss: float | None


def cnn_variables(result: FitResult) -> dict:
    """The flax variables ``{"params": result.params, **result.state}`` of a :func:`train_cnn` result.

    Args:
      result: a :class:`fpjax.train.FitResult` (``state`` None counts as no state).

    Returns:
      ``{"params": ..., "batch_stats": ...}``, the dict :meth:`CNN.apply` takes.

    Examples:
      >>> from fpjax.train import FitResult
      >>> r = FitResult({"w": 1.0}, None, None, None, False, -1, state={"batch_stats": {}})
      >>> sorted(cnn_variables(r))
      ['batch_stats', 'params']
    """
    if not isinstance(result, FitResult):
        raise TypeError(f"result must be a fpjax.train.FitResult (from train_cnn); got {type(result).__name__}")
    return {"params": result.params, **(result.state or {})}


def _as_variables(variables, name: str = "variables") -> dict:
    """A variables dict from either a variables dict or a :class:`FitResult`."""
    if isinstance(variables, FitResult):
        variables = cnn_variables(variables)
    if not isinstance(variables, dict) or "params" not in variables:
        raise TypeError(
            f"{name} must be the dict returned by init (keys 'params', 'batch_stats') or a FitResult of "
            f"train_cnn; got {type(variables).__name__}"
        )
    return variables


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
    opt_state, losses (steps,), accs (steps,), oks (steps,))`` (``oks``: the step's loss and
    updated params/batch stats are finite) with ``hp = (lr, momentum, weight_decay)``
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
        ok = jnp.isfinite(loss) & _all_finite(params) & _all_finite(new_bs)
        return params, new_bs, opt_state, loss, jnp.mean(jnp.argmax(logits, -1) == yb), ok

    def step_keys(key, steps):
        return jax.vmap(lambda j: jax.random.fold_in(key, j))(jnp.arange(steps))

    if loop == "scan":

        def epoch(params, bs, opt_state, hp, x, y, idx, key):
            def body(carry, inp):
                *out, loss, acc, ok = step(*carry, hp, x, y, *inp)
                return tuple(out), (loss, acc, ok)

            carry, (losses, accs, oks) = jax.lax.scan(
                body, (params, bs, opt_state), (idx, step_keys(key, idx.shape[0]))
            )
            return (*carry, losses, accs, oks)

        # Nothing is donated: the inputs of an epoch stay valid, so a diverged epoch can be
        # replayed up to its failing step.
        return jax.jit(epoch)

    step_jit = jax.jit(step)
    keys_jit = jax.jit(step_keys, static_argnums=1)

    def epoch_loop(params, bs, opt_state, hp, x, y, idx, key):
        keys = keys_jit(key, idx.shape[0])
        losses, accs, oks = [], [], []
        for j in range(idx.shape[0]):
            params, bs, opt_state, loss, acc, ok = step_jit(params, bs, opt_state, hp, x, y, idx[j], keys[j])
            losses.append(loss)
            accs.append(acc)
            oks.append(ok)
        return params, bs, opt_state, jnp.stack(losses), jnp.stack(accs), jnp.stack(oks)

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


def evaluate_cnn(
    model: CNN, variables: dict | FitResult, x: ArrayLike, y: ArrayLike, *, batch_size: int = 500
) -> CNNEvaluation:
    """:class:`CNNEvaluation` ``(accuracy, loss)`` (mean cross-entropy) of ``model`` in eval mode over all of ``(x, y)``,
    computed in batches of ``batch_size`` (the last one zero-padded and masked out).

    ``variables``: the dict of ``model.init`` or a :class:`fpjax.train.FitResult` of :func:`train_cnn`
    (its ``params`` and ``state`` are used)."""
    x, y = _check_xy(model, x, y)
    batch_size = min(checks.check_positive_int(batch_size, "batch_size"), x.shape[0])
    n = x.shape[0]
    run = _eval_fn(model)
    variables = _as_variables(variables)
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
    variables: dict | FitResult,
    x: ArrayLike,
    y: ArrayLike,
    *,
    key: jax.Array,
    epochs: int,
    batch_size: int = 128,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    schedule: str = "constant",
    x_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    eval_every: int = 1,
    eval_batch_size: int = 500,
    record: Callable[[Any], Any] | None = None,
    stop_at_train_acc: float | None = None,
    loop: str = "auto",
    verbose: bool = False,
) -> FitResult:
    """Train ``model`` from ``variables`` on images ``x`` and labels ``y`` (see the module docstring).

    Minibatch SGD with momentum on the softmax cross-entropy: ``P = n // batch_size`` optimizer
    steps per epoch, one fresh permutation of the data per epoch.

    Args:
      model: a :class:`fpjax.cnn.CNN` (:func:`fpjax.cnn.get_model`).
      variables: ``model.init(key, x)`` (``{"params", "batch_stats"}``), or a previous
        :class:`fpjax.train.FitResult` of ``train_cnn`` to continue from its parameters and state.
      x: ``(n, H, W, C)`` images; y: ``(n,)`` integer labels in ``0..num_classes−1``.
      key: PRNG key for the permutations and dropout.
      epochs: number of passes; ``batch_size`` ≤ n.
      lr, momentum, weight_decay, nesterov, schedule: :func:`make_sgd` settings.
      x_test, y_test: optional evaluation data (eval mode every ``eval_every`` epochs and at the end).
      eval_batch_size: batch size of the evaluations (:func:`evaluate_cnn`).
      record: ``record(params) -> pytree`` evaluated at init and after every epoch.
      stop_at_train_acc: stop early once the running train-mode minibatch accuracy of an epoch
        reaches this value (used to pre-train until the shuffled labels are memorised).
      loop: ``"scan"`` (the epoch is one jitted ``lax.scan``), ``"step"`` (one jitted step per
        minibatch) or ``"auto"``: ``"step"`` on CPU, ``"scan"`` elsewhere.
      verbose: print one line per epoch.

    Returns:
      A :class:`fpjax.train.FitResult` (the type of :func:`fpjax.train.fit`):

      * ``params``: final ``variables["params"]`` (if training diverged, the last finite ones:
        before ``diverged_step``); ``state``: ``{"batch_stats": ...}`` at the same point;
      * ``losses``: ``(E' · P,)`` the minibatch loss before every optimizer step of the ``E'``
        epochs started (``E' = epochs`` unless stopped early or diverged; NaN after
        ``diverged_step``);
      * ``records``: stacked ``record(params)``, leading axis ``E + 1`` (init and after each
        completed epoch), None without ``record``; ``record_steps``: ``(E + 1,)`` = ``0, P, 2P, ...``;
      * ``diverged`` (bool), ``diverged_step`` (int, ``-1`` if none);
      * ``metrics``: :class:`CNNMetrics` over the ``E`` completed epochs.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.cnn import get_model
      >>> m = get_model("cnn_small", 2, widths=(2, 2))
      >>> x = jax.random.uniform(jax.random.key(0), (8, 8, 8, 1)); y = jnp.arange(8) % 2
      >>> r = train_cnn(m, m.init(jax.random.key(1), x), x, y, key=jax.random.key(2), epochs=2, batch_size=4)
      >>> r.losses.shape, r.record_steps.tolist(), r.metrics.train_loss.shape, bool(r.diverged)
      ((4,), [], (2,), False)
    """
    checks.check_key(key)
    epochs = checks.check_positive_int(epochs, "epochs", minimum=0)
    variables = _as_variables(variables)
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
    step_losses: list[np.ndarray] = []
    diverged, diverged_step = False, -1
    for ep in range(epochs):
        t0 = time.perf_counter()
        k_perm, k_drop = jax.random.split(jax.random.fold_in(key, ep))
        idx = jax.random.permutation(k_perm, n)[: steps * batch_size].reshape(steps, batch_size)
        prev = (params, bs, opt_state)  # kept in case this epoch diverges
        params, bs, opt_state, losses, accs, oks = epoch_fn(params, bs, opt_state, hp, x, y, idx, k_drop)
        oks_np = np.asarray(jax.device_get(oks))
        if not oks_np.all():
            j = int(np.argmin(oks_np))  # first failing step of this epoch
            diverged, diverged_step = True, ep * steps + j
            losses_np = np.array(jax.device_get(losses))
            losses_np[j + 1 :] = np.nan
            step_losses.append(losses_np)
            params, bs = prev[0], prev[1]
            if j > 0:  # replay the epoch's first j (finite) steps: same batches, same keys
                p_j, bs_j, *_ = epoch_fn(*prev, hp, x, y, idx[:j], k_drop)
                if bool(_all_finite(p_j)) and bool(_all_finite(bs_j)):
                    params, bs = p_j, bs_j
            break
        loss = float(jnp.mean(losses))
        step_losses.append(np.asarray(jax.device_get(losses)))
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
    h = {k: np.asarray(v, dtype=np.float64) for k, v in hist.items()}
    train_acc, train_loss = evaluate_cnn(model, final, x, y, batch_size=eval_batch_size)
    test_acc = test_loss = None
    if has_test:
        test_acc, test_loss = evaluate_cnn(model, final, x_test, y_test, batch_size=eval_batch_size)
    metrics = CNNMetrics(
        train_loss=h["train_loss"],
        train_acc_running=h["train_acc_running"],
        test_loss=h.get("test_loss"),
        test_acc=h.get("test_acc"),
        epoch_seconds=h["epoch_seconds"],
        final_train_acc=train_acc,
        final_train_loss=train_loss,
        final_test_acc=test_acc,
        final_test_loss=test_loss,
    )
    stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *records) if records else None
    all_losses = np.concatenate(step_losses) if step_losses else np.zeros((0,), np.float32)
    return FitResult(
        params=params,
        losses=all_losses,
        records=stacked,
        record_steps=np.arange(len(records)) * steps,
        diverged=diverged,
        diverged_step=diverged_step,
        state={"batch_stats": bs},
        metrics=metrics,
    )


def shuffle_labels(y: ArrayLike, *, key: jax.Array) -> jax.Array:
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


def pretrain_shuffled_labels(
    model: CNN,
    variables: dict | FitResult,
    x: ArrayLike,
    y: ArrayLike,
    *,
    key: jax.Array,
    epochs: int,
    **train_kwargs: Any,
) -> FitResult:
    """High-bandwidth initialisation (the hys4-cnn-bandwidth experiment): train on ``(x, shuffle_labels(y))``.

    Fitting randomly permuted labels forces the network to separate neighbouring images with
    unrelated labels, i.e. to become a high-frequency function of its input; the returned
    :class:`fpjax.train.FitResult` (as :func:`train_cnn`'s; pass it, or ``cnn_variables(result)``,
    as the ``variables`` of the subsequent training on the true labels) is that initialisation.
    ``train_kwargs`` go to :func:`train_cnn` (e.g. ``lr``, ``batch_size``,
    ``stop_at_train_acc=0.99`` to stop once the random labels are memorised). The result's
    ``metrics.final_train_acc`` is the accuracy on the *shuffled* labels.
    """
    checks.check_key(key)
    k_shuffle, k_train = jax.random.split(key)
    y_rand = shuffle_labels(y, key=k_shuffle)
    return train_cnn(model, variables, x, y_rand, key=k_train, epochs=epochs, **train_kwargs)
