"""Minibatch training and evaluation of the CNN zoo (:mod:`fpjax._src.cnn`).

:func:`train_cnn` runs minibatch training with any optax optimizer (:func:`make_sgd`: SGD with momentum
and coupled weight decay) on softmax cross-entropy, over the guarded step of :func:`fpjax.train.fit`:

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
* **divergence**: the guarded step of :func:`fpjax.train.fit`: a step whose loss or updated
  parameters/batch statistics are NaN/Inf leaves the parameters and statistics at their last
  finite values; training stops at the end of that epoch with ``diverged=True`` and its
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
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fpjax._src import checks
from fpjax._src.array_types import ArrayLike
from fpjax._src.cnn import CNN
from fpjax._src.train import FitResult, _guarded_step, _init_carry, ce

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

    Examples:
      A network with all weights zero has logits 0: loss ``log 2`` on two classes, and the arg-max
      (the first class on ties) is right for half of the balanced labels.

      >>> import jax, jax.numpy as jnp
      >>> from fpjax.cnn import evaluate_cnn, get_model
      >>> m = get_model("cnn_small", 2, widths=(2, 2))
      >>> x = jax.random.uniform(jax.random.key(0), (4, 8, 8, 1)); y = jnp.array([0, 1, 0, 1])
      >>> v = m.init(jax.random.key(1), x)
      >>> v = {"params": jax.tree_util.tree_map(jnp.zeros_like, v["params"]), "batch_stats": v["batch_stats"]}
      >>> e = evaluate_cnn(m, v, x, y)
      >>> e.accuracy, round(e.loss, 4)  # log 2 = 0.6931
      (0.5, 0.6931)
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

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.cnn import get_model, make_sgd, train_cnn
      >>> m = get_model("cnn_small", 2, widths=(2, 2))
      >>> x = jax.random.uniform(jax.random.key(0), (8, 8, 8, 1)); y = jnp.arange(8) % 2
      >>> r = train_cnn(m, m.init(jax.random.key(1), x), x, y, key=jax.random.key(2), epochs=2,
      ...               optimizer=make_sgd(0.1), batch_size=4, x_test=x[:4], y_test=y[:4], eval_every=2)
      >>> met = r.metrics
      >>> met.train_loss.shape, met.test_acc.shape
      ((2,), (2,))
      >>> jnp.isnan(met.test_loss).tolist()  # evaluated every second epoch
      [True, False]
      >>> 0.0 <= met.final_test_acc <= 1.0
      True
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


@functools.lru_cache(maxsize=64)
def _cached_sgd(learning_rate, momentum, weight_decay, nesterov, schedule, total_steps):
    # Equal settings give the same optimizer object, so train_cnn's compiled step (cached on the
    # optimizer) is reused across calls instead of recompiled.
    rate = optax.cosine_decay_schedule(learning_rate, total_steps) if schedule == "cosine" else learning_rate
    parts = [optax.add_decayed_weights(weight_decay)] if weight_decay > 0 else []
    parts.append(optax.sgd(rate, momentum=momentum if momentum > 0 else None, nesterov=nesterov))
    return optax.chain(*parts)


@checks.renamed_keyword(lr="learning_rate")
def make_sgd(
    learning_rate: float,
    *,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    schedule: str = "constant",
    total_steps: int | None = None,
) -> optax.GradientTransformation:
    """SGD with momentum and coupled L2 weight decay (PyTorch ``SGD(lr, momentum, weight_decay)``).

    ``g ← ∇L + λθ``; ``m ← μ m + g``; ``θ ← θ − η_t m`` (``optax.add_decayed_weights(λ)`` before
    ``optax.sgd``: weight decay on every parameter, as PyTorch's ``weight_decay``).

    Args:
      learning_rate: ``η > 0`` (the deprecated keyword ``lr=`` still works).
      momentum: ``μ ≥ 0`` (0: plain SGD). weight_decay: ``λ ≥ 0``. nesterov: Nesterov momentum.
      schedule: ``"constant"`` or ``"cosine"`` (``η_t = η/2·(1 + cos(π t / total_steps))``, needs
        ``total_steps``).

    Returns:
      An optax ``GradientTransformation`` (equal settings return the same object).

    Examples:
      >>> import jax.numpy as jnp
      >>> opt = make_sgd(0.1, momentum=0.0)
      >>> u, _ = opt.update({"w": jnp.ones(2)}, opt.init({"w": jnp.zeros(2)}))
      >>> u["w"].tolist()
      [-0.10000000149011612, -0.10000000149011612]
    """
    learning_rate = checks.check_positive(learning_rate, "learning_rate")
    momentum = checks.check_positive(momentum, "momentum", allow_zero=True)
    weight_decay = checks.check_positive(weight_decay, "weight_decay", allow_zero=True)
    checks.check_choice(schedule, "schedule", ("constant", "cosine"))
    if schedule == "cosine":
        if total_steps is None:
            raise ValueError("schedule='cosine' needs total_steps")
        total_steps = checks.check_positive_int(total_steps, "total_steps")
    else:
        total_steps = None
    return _cached_sgd(learning_rate, momentum, weight_decay, bool(nesterov), schedule, total_steps)


def _cnn_loss_and_grad(model: CNN, data):
    """``loss_and_grad(params, state, step, (idx, key))`` of the training core
    (:func:`fpjax._src.train._guarded_step`): cross-entropy of the minibatch ``x[idx]`` in train
    mode (batch statistics, dropout with ``key``); aux: the minibatch accuracy."""
    x, y = data

    def loss_and_grad(params, state, step, inp):
        i, k = inp
        xb, yb = x[i], y[i]

        def loss_fn(p):
            logits, new_bs = model.apply({"params": p, "batch_stats": state}, xb, train=True, key=k)
            return ce(logits, yb), (new_bs, jnp.mean(jnp.argmax(logits, -1) == yb))

        return jax.value_and_grad(loss_fn, has_aux=True)(params)

    return loss_and_grad


@functools.lru_cache(maxsize=64)
def _epoch_fn(model: CNN, optimizer: optax.GradientTransformation, loop: str):
    """``epoch(data, carry, (steps, (idx, keys))) -> (carry, (losses, accs))``: the guarded steps
    of one epoch, jitted as one ``lax.scan`` (``loop="scan"``) or as one jitted step called per
    minibatch (``loop="step"``; both apply the same step with the same batches and keys). Cached on
    (model object, optimizer object, loop)."""

    def step_fn(data):
        return _guarded_step(_cnn_loss_and_grad(model, data), optimizer)

    if loop == "scan":
        return jax.jit(lambda data, carry, xs: jax.lax.scan(step_fn(data), carry, xs))
    one = jax.jit(lambda data, carry, xs: step_fn(data)(carry, xs))

    def epoch_loop(data, carry, xs):
        outs = []
        for j in range(xs[0].shape[0]):
            carry, out = one(data, carry, jax.tree_util.tree_map(lambda a: a[j], xs))
            outs.append(out)
        return carry, jax.tree_util.tree_map(lambda *a: jnp.stack(a), *outs)

    return epoch_loop


@functools.lru_cache(maxsize=64)
def _eval_fn(model: CNN):
    """Jitted ``(params, bs, x, y, n_valid) -> (sum of losses, number correct)`` over one batch
    whose first ``n_valid`` rows are real (the rest padding). A row whose logits are not all finite
    counts NaN (not right or wrong), so a NaN model has NaN accuracy."""

    def run(params, bs, xb, yb, n_valid):
        logits, _ = model.apply({"params": params, "batch_stats": bs}, xb, train=False)
        mask = jnp.arange(xb.shape[0]) < n_valid
        l = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
        finite = jnp.all(jnp.isfinite(logits), axis=-1)
        c = jnp.where(finite, (jnp.argmax(logits, -1) == yb).astype(jnp.float32), jnp.nan)
        return jnp.sum(jnp.where(mask, l, 0.0)), jnp.sum(jnp.where(mask, c, 0.0))

    return jax.jit(run)


def _check_images(model: CNN, x, name: str) -> jax.Array:
    """``x`` as float32 NHWC images for ``model``: complex refused, channels checked."""
    if jnp.iscomplexobj(x):
        raise TypeError(f"{name} must hold real images; got a complex array (the imaginary part would be lost)")
    x = checks.as_array(x, name, dtype=jnp.float32)
    checks.check_ndim(x, name, 4, shape_hint="(n, height, width, channels)")
    c = getattr(model, "in_channels", None)
    if c is not None and x.shape[-1] != c and x.shape[1] == c:
        raise ValueError(
            f"{name} must be NHWC images (n, height, width, channels={c}); got shape {tuple(x.shape)}, "
            f"which looks like NCHW: use jnp.transpose({name}, (0, 2, 3, 1))"
        )
    checks.check_finite(x, name)
    return x


def _check_xy(model: CNN, x, y, xname="x_train", yname="y_train"):
    x = _check_images(model, x, xname)
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
    (its ``params`` and ``state`` are used). A model whose logits are NaN/Inf on some example (e.g.
    NaN weights) has NaN accuracy and loss: an answer that is not a number is not counted as right
    or wrong.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.cnn import get_model
      >>> m = get_model("cnn_small", 2, widths=(2, 2))
      >>> x = jnp.ones((4, 8, 8, 1)); v = m.init(jax.random.key(0), x)
      >>> 0.0 <= evaluate_cnn(m, v, x, jnp.array([0, 1, 0, 1])).accuracy <= 1.0
      True
    """
    x, y = _check_xy(model, x, y, "x", "y")
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


_SGD_KEYWORDS = ("lr", "learning_rate", "momentum", "weight_decay", "nesterov", "schedule")


def _optimizer_arg(optimizer, legacy: dict, total_steps: int) -> optax.GradientTransformation:
    """``optimizer``, or (deprecated) :func:`make_sgd` built from the old SGD keywords."""
    unknown = set(legacy) - set(_SGD_KEYWORDS)
    if unknown:
        raise TypeError(f"train_cnn() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    if optimizer is not None:
        if legacy:
            raise TypeError(f"train_cnn(): pass either optimizer= or the SGD keywords {sorted(legacy)}, not both")
        if not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(
                f"optimizer must be an optax.GradientTransformation (e.g. make_sgd(0.1)); got {type(optimizer).__name__}"
            )
        return optimizer
    warnings.warn(
        "train_cnn() without optimizer= (or with lr=, momentum=, weight_decay=, nesterov=, schedule=) is "
        "deprecated; pass optimizer=make_sgd(learning_rate, momentum=..., weight_decay=...) or any optax optimizer",
        DeprecationWarning,
        stacklevel=3,
    )
    kw = dict(legacy)
    lr = kw.pop("learning_rate", kw.pop("lr", 0.1))
    if kw.get("schedule") == "cosine":
        kw["total_steps"] = total_steps
    return make_sgd(lr, **kw)


class _History(NamedTuple):
    losses: list
    train_loss: list
    train_acc: list
    test_loss: list
    test_acc: list
    seconds: list
    records: list


def _epoch_inputs(key, ep: int, n: int, steps: int, batch_size: int):
    """Step numbers, minibatch indices ``(P, batch_size)`` and dropout keys of epoch ``ep``."""
    k_perm, k_drop = jax.random.split(jax.random.fold_in(key, ep))
    idx = jax.random.permutation(k_perm, n)[: steps * batch_size].reshape(steps, batch_size)
    keys = jax.vmap(lambda j: jax.random.fold_in(k_drop, j))(jnp.arange(steps))
    return ep * steps + jnp.arange(steps, dtype=jnp.int32), (idx, keys)


def _run_epochs(model, epoch_fn, carry, data, test, key, epochs, batch_size, rec_fn, opts) -> tuple:
    """The epoch loop of :func:`train_cnn`: training chunks of the core, evaluation, records.

    ``opts = (eval_every, eval_batch_size, stop_at_train_acc, verbose)``. Stops after the epoch in
    which training diverged (that epoch is not counted in the metrics)."""
    eval_every, eval_batch_size, stop_at, verbose = opts
    n = data[0].shape[0]
    steps = n // batch_size
    h = _History([], [], [], [], [], [], [jax.device_get(rec_fn(carry.params))] if rec_fn else [])
    for ep in range(epochs):
        t0 = time.perf_counter()
        carry, (losses, accs) = epoch_fn(data, carry, _epoch_inputs(key, ep, n, steps, batch_size))
        h.losses.append(np.asarray(jax.device_get(losses)))
        if bool(carry.diverged):
            break
        h.train_loss.append(float(jnp.mean(losses)))
        h.train_acc.append(float(jnp.mean(accs)))
        if test is not None:
            if (ep + 1) % eval_every == 0 or ep + 1 == epochs:
                variables = {"params": carry.params, "batch_stats": carry.state}
                ta, tl = evaluate_cnn(model, variables, *test, batch_size=eval_batch_size)
            else:
                ta, tl = float("nan"), float("nan")
            h.test_acc.append(ta)
            h.test_loss.append(tl)
        if rec_fn is not None:
            h.records.append(jax.device_get(rec_fn(carry.params)))
        h.seconds.append(time.perf_counter() - t0)
        if verbose:
            msg = f"epoch {ep + 1}/{epochs} loss {h.train_loss[-1]:.4f} acc {h.train_acc[-1]:.3f}"
            if test is not None and np.isfinite(h.test_acc[-1]):
                msg += f" test acc {h.test_acc[-1]:.3f}"
            print(msg, flush=True)
        if stop_at is not None and h.train_acc[-1] >= stop_at:
            break
    return carry, h


def _cnn_metrics(model, final, data, test, h: _History, eval_batch_size: int) -> CNNMetrics:
    train_acc, train_loss = evaluate_cnn(model, final, *data, batch_size=eval_batch_size)
    test_acc = test_loss = None
    if test is not None:
        test_acc, test_loss = evaluate_cnn(model, final, *test, batch_size=eval_batch_size)
    arr = lambda v: np.asarray(v, dtype=np.float64)  # noqa: E731
    return CNNMetrics(
        train_loss=arr(h.train_loss),
        train_acc_running=arr(h.train_acc),
        test_loss=arr(h.test_loss) if test is not None else None,
        test_acc=arr(h.test_acc) if test is not None else None,
        epoch_seconds=arr(h.seconds),
        final_train_acc=train_acc,
        final_train_loss=train_loss,
        final_test_acc=test_acc,
        final_test_loss=test_loss,
    )


@checks.renamed_keyword(x="x_train", y="y_train")
def train_cnn(
    model: CNN,
    variables: dict | FitResult,
    x_train: ArrayLike,
    y_train: ArrayLike,
    *,
    key: jax.Array,
    epochs: int,
    optimizer: optax.GradientTransformation | None = None,
    batch_size: int = 128,
    x_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    eval_every: int = 1,
    eval_batch_size: int = 500,
    record: Callable[[Any], Any] | None = None,
    stop_at_train_acc: float | None = None,
    loop: str = "auto",
    verbose: bool = False,
    **deprecated: Any,
) -> FitResult:
    """Train ``model`` from ``variables`` on images ``x_train`` and labels ``y_train`` (see the module docstring).

    Minibatch training with ``optimizer`` on the softmax cross-entropy: ``P = n // batch_size``
    optimizer steps per epoch, one fresh permutation of the data per epoch. The steps are those of
    :func:`fpjax.train.fit` (the same guarded step: on a non-finite loss, parameter or batch
    statistic the parameters and state stay at their last finite values), chunked by epoch.

    Args:
      model: a :class:`fpjax.cnn.CNN` (:func:`fpjax.cnn.get_model`).
      variables: ``model.init(key, x)`` (``{"params", "batch_stats"}``), or a previous
        :class:`fpjax.train.FitResult` of ``train_cnn`` to continue from its parameters and state.
      x_train: ``(n, H, W, C)`` images; y_train: ``(n,)`` integer labels in ``0..num_classes−1``
        (deprecated keywords ``x=``, ``y=``).
      key: PRNG key for the permutations and dropout.
      epochs: number of passes; ``batch_size`` ≤ n.
      optimizer: any optax ``GradientTransformation``, e.g. :func:`make_sgd` (SGD with momentum
        and coupled weight decay). The deprecated keywords ``lr`` (or ``learning_rate``),
        ``momentum``, ``weight_decay``, ``nesterov``, ``schedule`` build :func:`make_sgd` instead
        (default ``make_sgd(0.1, momentum=0.9)``), with a ``DeprecationWarning``.
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
      >>> from fpjax.cnn import get_model, make_sgd
      >>> m = get_model("cnn_small", 2, widths=(2, 2))
      >>> x = jax.random.uniform(jax.random.key(0), (8, 8, 8, 1)); y = jnp.arange(8) % 2
      >>> r = train_cnn(m, m.init(jax.random.key(1), x), x, y, key=jax.random.key(2), epochs=2,
      ...               optimizer=make_sgd(0.1), batch_size=4)
      >>> r.losses.shape, r.record_steps.tolist(), r.metrics.train_loss.shape, bool(r.diverged)
      ((4,), [], (2,), False)
    """
    sgd_legacy = {k: deprecated.pop(k) for k in _SGD_KEYWORDS if k in deprecated}
    if deprecated:
        raise TypeError(f"train_cnn() got an unexpected keyword argument {next(iter(deprecated))!r}")
    checks.check_key(key)
    if not isinstance(model, CNN):
        raise TypeError(f"model must be a CNN from fpjax.cnn.get_model; got {type(model).__name__}")
    epochs = checks.check_positive_int(epochs, "epochs", minimum=0)
    if record is not None and not callable(record):
        raise TypeError(f"record must be callable params -> pytree, or None; got {type(record).__name__}")
    # an accuracy above 1 is never reached: the run would silently never stop early
    if (
        stop_at_train_acc is not None
        and checks.check_positive(stop_at_train_acc, "stop_at_train_acc", allow_zero=True) > 1
    ):
        raise ValueError(f"stop_at_train_acc must be an accuracy in [0, 1]; got {stop_at_train_acc!r}")
    variables = _as_variables(variables)
    data = _check_xy(model, x_train, y_train)
    n = data[0].shape[0]
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(f"batch_size must be <= the number of examples {n}; got {batch_size}")
    eval_every = checks.check_positive_int(eval_every, "eval_every")
    checks.check_choice(loop, "loop", ("auto", "scan", "step"))
    test = _check_xy(model, x_test, y_test, "x_test", "y_test") if x_test is not None else None
    optimizer = _optimizer_arg(optimizer, sgd_legacy, (n // batch_size) * max(epochs, 1))
    if loop == "auto":
        # XLA:CPU runs convolutions inside a while loop (lax.scan) several times slower than the
        # same step jitted on its own (measured 3-5× for cnn_small), so CPU loops in Python.
        loop = "step" if jax.default_backend() == "cpu" else "scan"
    rec_fn = jax.jit(record) if record is not None else None
    carry = _init_carry(variables["params"], variables.get("batch_stats", {}), optimizer)
    opts = (eval_every, eval_batch_size, stop_at_train_acc, verbose)
    carry, h = _run_epochs(
        model, _epoch_fn(model, optimizer, loop), carry, data, test, key, epochs, batch_size, rec_fn, opts
    )
    final = {"params": carry.params, "batch_stats": carry.state}
    return FitResult(
        params=carry.params,
        losses=np.concatenate(h.losses) if h.losses else np.zeros((0,), np.float32),
        records=jax.tree_util.tree_map(lambda *a: np.stack(a), *h.records) if h.records else None,
        record_steps=np.arange(len(h.records)) * (n // batch_size),
        diverged=bool(carry.diverged),
        diverged_step=int(carry.diverged_step),
        state={"batch_stats": carry.state},
        metrics=_cnn_metrics(model, final, data, test, h, eval_batch_size),
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

    Args:
      model: a :class:`fpjax.cnn.CNN`. variables: ``model.init(key, x)`` or a
        :class:`fpjax.train.FitResult`. x: ``(n, H, W, C)`` images. y: ``(n,)`` integer labels.
      key: PRNG key (split into the permutation's key and the training key).
      epochs: passes over the shuffled data.

    Returns:
      A :class:`fpjax.train.FitResult` (see :func:`train_cnn`).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.cnn import cnn_variables, get_model, make_sgd
      >>> m = get_model("cnn_small", 2, widths=(2, 2))
      >>> x = jax.random.uniform(jax.random.key(0), (8, 8, 8, 1)); y = jnp.arange(8) % 2
      >>> init = pretrain_shuffled_labels(m, m.init(jax.random.key(1), x), x, y, key=jax.random.key(2),
      ...                                 epochs=1, optimizer=make_sgd(0.1), batch_size=4)
      >>> init.losses.shape, sorted(cnn_variables(init))  # then train_cnn(m, init, x, y, ...)
      ((2,), ['batch_stats', 'params'])

    References:
      S. Ramasinghe, L. MacDonald, M. Farazi, H. Saratchandran, S. Lucey, "How you start matters for
      generalization", arXiv:2206.08558 (Sec. 7: pre-training on randomly shuffled labels raises the
      initial bandwidth).
    """
    checks.check_key(key)
    k_shuffle, k_train = jax.random.split(key)
    y_rand = shuffle_labels(y, key=k_shuffle)
    return train_cnn(model, variables, x, y_rand, key=k_train, epochs=epochs, **train_kwargs)
