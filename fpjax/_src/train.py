"""Training: jitted optax loops, continuous gradient flow (diffrax) and losses.

``fit`` runs the whole optimisation as one jitted ``lax.scan`` (no Python loop per step), so it
can itself be ``vmap``-ed over seeds (see :func:`fpjax.train.sweep`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fpjax._src import checks
from fpjax._src.array_types import ArrayLike, PyTree

__all__ = ["mse", "bce", "ce", "get_loss", "LOSSES", "FitResult", "fit", "gradient_flow", "make_loss"]


def _same_shape(pred, y, loss: str, pred_name: str) -> None:
    if tuple(jnp.shape(pred)) != tuple(jnp.shape(y)):
        raise ValueError(
            f"{loss}: y must have exactly the shape of {pred_name} {tuple(jnp.shape(pred))} (no "
            f"broadcasting); got y of shape {tuple(jnp.shape(y))}"
        )


def _nan_if_nonfinite(a) -> jax.Array:
    """0 if every entry of ``a`` is finite, NaN otherwise (``0 · Σa``: a loss of ±Inf inputs is NaN, not ±Inf
    or a finite number; zero gradient)."""
    return 0.0 * jnp.sum(a)


def _real(a, name: str, loss: str, *, min_ndim: int = 1) -> jax.Array:
    """``a`` as a real floating array: complex refused (TypeError), integers/bools promoted to
    float32 (no integer overflow in the loss), at least ``min_ndim`` dimensions (a leading sample axis)."""
    if jnp.iscomplexobj(a):
        raise TypeError(f"{loss}: {name} must be real; got a complex array (its imaginary part would be lost)")
    a = checks.as_array(a, f"{loss}: {name}")
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(jnp.float32)
    if a.ndim < min_ndim:
        raise ValueError(f"{loss}: {name} must have a leading sample axis (shape (n,) or (n, c)); got shape {a.shape}")
    return a


def mse(pred: jax.Array, y: jax.Array) -> jax.Array:
    """Half mean squared error ``L = (1/(2n)) Σ_i ‖f(x_i) − y_i‖²``.

    Args:
      pred: ``(n, c)`` (or ``(n,)``) predictions; real (integers are promoted to float32).
      y: targets of exactly the same shape (no broadcasting: ``(n, 1)`` against ``(n,)`` is an error).

    Returns:
      Scalar; NaN when an input holds NaN/Inf.

    Raises:
      ValueError: if the shapes differ or an input is a scalar (no sample axis).
      TypeError: complex inputs.

    Examples:
      >>> import jax.numpy as jnp
      >>> float(mse(jnp.zeros((2, 1)), jnp.ones((2, 1))))
      0.5
    """
    pred, y = _real(pred, "pred", "mse"), _real(y, "y", "mse")
    _same_shape(pred, y, "mse", "pred")
    return 0.5 * jnp.sum((pred - y) ** 2) / pred.shape[0] + _nan_if_nonfinite(pred)


def bce(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Mean binary cross-entropy with logits, ``−mean[y log σ(z) + (1 − y) log(1 − σ(z))]``.

    Args:
      logits: ``z``, any shape.
      y: targets in ``[0, 1]`` with exactly the shape of ``logits``.

    Returns:
      Scalar; NaN/Inf logits give NaN. Targets outside ``[0, 1]`` (or NaN) raise ``ValueError``
      eagerly and fail the compiled program under ``jit``/``vmap`` (:func:`fpjax._src.checks.error_if`).

    Examples:
      >>> import jax.numpy as jnp
      >>> round(float(bce(jnp.zeros(2), jnp.array([0.0, 1.0]))), 4)
      0.6931
    """
    logits, y = _real(logits, "logits", "bce", min_ndim=0), _real(y, "y", "bce", min_ndim=0)
    _same_shape(logits, y, "bce", "logits")
    loss = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y)) + _nan_if_nonfinite(logits)
    return checks.error_if(loss, ~jnp.all((y >= 0) & (y <= 1)), "bce: y must hold targets in [0, 1] (no NaN)")


def _class_labels(y, n_classes: int) -> tuple[jax.Array, Any]:
    """Integer labels as int32 and the traced "bad label" flag (None when checked here).

    Concrete labels are checked on the host in their own dtype (an int64 label 2**33 is out of
    range, not wrapped to 0); traced ones in a dtype at least int32 wide (an int8/uint8 label is
    compared with ``n_classes`` without overflow)."""
    msg = f"ce: y must hold integer class labels in 0..{n_classes - 1}"
    if not isinstance(y, jax.core.Tracer):
        yn = np.asarray(y)
        bad = (yn < 0) | (yn >= n_classes)
        if bad.any():
            raise ValueError(f"{msg}; got {yn[bad][:5].tolist()}")
        return jnp.asarray(yn.astype(np.int32)), None
    wide = y.astype(jnp.int32) if jnp.dtype(y.dtype).itemsize < 4 else y
    return y.astype(jnp.int32), (wide < 0) | (wide >= n_classes)


def ce(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy ``−mean_i log softmax(z_i)[y_i]`` (or ``−mean_i Σ_c y_ic log softmax(z_i)_c``).

    Args:
      logits: ``(n, C)``, real.
      y: class labels ``(n,)`` in ``0..C−1``: an integer dtype (always read as class indices), or
        floats holding whole numbers; or probability rows ``(n, C)`` of exactly the logits' shape
        (floats, non-negative, each row summing to 1 within ``√eps`` of its dtype; e.g. one-hot).

    Returns:
      Scalar; NaN/Inf logits give NaN. Bad labels (out of range, not whole, not probability rows,
      integer labels of the logits' shape) raise ``ValueError`` eagerly and fail the compiled
      program under ``jit``/``vmap`` (:func:`fpjax._src.checks.error_if`); complex inputs ``TypeError``.

    Examples:
      >>> import jax.numpy as jnp
      >>> round(float(ce(jnp.zeros((2, 3)), jnp.array([0, 2]))), 4)
      1.0986
      >>> round(float(ce(jnp.zeros((2, 3)), jnp.array([[1.0, 0, 0], [0.5, 0.5, 0]]))), 4)
      1.0986
    """
    logits = _real(logits, "logits", "ce")
    if jnp.iscomplexobj(y):
        raise TypeError("ce: y must hold integer class labels or real probability rows; got a complex array")
    n_classes = logits.shape[-1]
    y_dtype = y.dtype if hasattr(y, "dtype") else np.asarray(y).dtype
    if jnp.issubdtype(y_dtype, jnp.integer) or y_dtype == jnp.bool_:
        if tuple(np.shape(y)) != tuple(logits.shape[:-1]):
            raise ValueError(
                f"ce: integer labels y must have shape {tuple(logits.shape[:-1])} (class indices) for logits of "
                f"shape {tuple(logits.shape)}; got y of shape {tuple(np.shape(y))} (pass probability rows as floats)"
            )
        labels, bad = _class_labels(y, n_classes)
        loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels)) + _nan_if_nonfinite(logits)
        return (
            loss
            if bad is None
            else checks.error_if(loss, jnp.any(bad), f"ce: y must hold integer class labels in 0..{n_classes - 1}")
        )
    y = _real(y, "y", "ce", min_ndim=0)
    if y.ndim == logits.ndim - 1:  # whole-number float labels
        if tuple(y.shape) != tuple(logits.shape[:-1]):
            raise ValueError(f"ce: labels y must have shape {tuple(logits.shape[:-1])}; got {tuple(y.shape)}")
        bad = ~jnp.isfinite(y) | (y != jnp.round(y)) | (y < 0) | (y >= n_classes)
        loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y.astype(jnp.int32)))
        return checks.error_if(
            loss + _nan_if_nonfinite(logits),
            jnp.any(bad),
            f"ce: y must hold integer class labels in 0..{n_classes - 1}",
        )
    _same_shape(logits, y, "ce", "logits")
    tol = float(np.sqrt(np.finfo(y.dtype).eps))
    bad = jnp.any(~(y >= 0)) | jnp.any(~(jnp.abs(jnp.sum(y, axis=-1) - 1) <= tol))  # NaN is bad
    loss = jnp.mean(optax.softmax_cross_entropy(logits, y)) + _nan_if_nonfinite(logits)
    return checks.error_if(
        loss, bad, f"ce: soft targets y must be probability rows (entries >= 0, rows summing to 1 within {tol:.1e})"
    )


LOSSES = {"mse": mse, "bce": bce, "ce": ce}


def get_loss(name: str | Callable) -> Callable:
    """Loss by name (``mse | bce | ce``) or a callable ``loss(pred, y) -> scalar`` passed through.

    Args:
      name: ``"mse"``, ``"bce"`` or ``"ce"`` (the functions of :data:`LOSSES`), or a callable
        ``loss(pred, y) -> scalar``, returned unchanged.

    Returns:
      The loss function ``loss(pred, y) -> scalar``.

    Raises:
      ValueError: an unknown name.

    Examples:
      >>> import jax.numpy as jnp
      >>> get_loss("mse") is mse
      True
      >>> float(get_loss("mse")(jnp.zeros((2, 1)), jnp.ones((2, 1))))
      0.5
      >>> l1 = lambda pred, y: jnp.mean(jnp.abs(pred - y))
      >>> get_loss(l1) is l1
      True
    """
    if callable(name):
        return name
    return LOSSES[checks.check_choice(name, "loss", tuple(LOSSES))]


def _check_targets(pred_shape, y, loss_name):
    if loss_name == "ce":
        ok = (y.ndim == 1 and y.shape[0] == pred_shape[0]) or tuple(y.shape) == tuple(pred_shape)
        if not ok:
            raise ValueError(
                f"y must be integer labels of shape ({pred_shape[0]},) or one-hot of shape "
                f"{tuple(pred_shape)} for loss='ce'; got shape {tuple(y.shape)}"
            )
    elif tuple(y.shape) != tuple(pred_shape):
        raise ValueError(f"y must have the model's output shape {tuple(pred_shape)}; got {tuple(y.shape)}")


def _validate_data(apply, params, x, y, loss):
    x = checks.as_array(x, "x")
    y = checks.as_array(y, "y")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (n, ...) with a feature axis, e.g. (n, d); got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("x must not be empty")
    checks.check_same_leading(x, "x", y, "y")
    checks.check_finite(x, "x")
    checks.check_finite(y, "y")
    out = jax.eval_shape(apply, params, x)
    if isinstance(loss, str):
        _check_targets(out.shape, y, loss)
        if loss in ("ce", "bce"):  # label/target values (concrete y): one evaluation on zero logits
            LOSSES[loss](jnp.zeros(out.shape, out.dtype), y)
    return x, y


def make_loss(apply: Callable, loss: str | Callable = "mse") -> Callable:
    """The training objective ``L(params, x, y) = loss(apply(params, x), y)`` as one function.

    Args:
      apply: ``apply(params, x) -> (n, c)`` predictions (logits for ``bce``/``ce``).
      loss: ``"mse" | "bce" | "ce"`` or a callable ``loss(pred, y) -> scalar`` (:func:`get_loss`).

    Returns:
      ``L(params, x, y) -> scalar``, differentiable in ``params`` (e.g. for ``jax.grad``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> L = make_loss(lambda p, x: x * p, "mse")
      >>> x = jnp.ones((4, 1))
      >>> float(L(jnp.zeros(1), x, 2 * x))  # (1/2n) Σ (0 − 2)² = 2
      2.0
      >>> jax.grad(L)(jnp.zeros(1), x, 2 * x).tolist()  # dL/dp = −(1/n) Σ x (y − p x)
      [-2.0]
    """
    if not callable(apply):
        raise TypeError(f"apply must be callable apply(params, x); got {type(apply).__name__}")
    fn = get_loss(loss)
    return lambda params, x, y: fn(apply(params, x), y)


class FitResult(NamedTuple):
    """The result of a training run: of :func:`fit` and of :func:`fpjax.cnn.train_cnn`.

    Steps count optimizer updates from 0; the loss of step ``s`` is the training (minibatch) loss
    of the parameters after ``s`` updates, taken just before update ``s``.

    Attributes:
      params: final trainable parameters; if training diverged, the last finite ones (those after
        ``diverged_step`` updates, before the failing update).
      losses: ``(S,)`` training loss before each update, one per optimizer step run; NaN after
        ``diverged_step``. ``fit``: ``S = steps``; ``train_cnn``: ``S = epochs × steps_per_epoch``
        over the epochs started (fewer when it stops early).
      records: ``record(params)`` stacked over ``record_steps`` (leading axis ``R``), or None
        without ``record``.
      record_steps: ``(R,)`` int, the step at which each record was taken (after that many
        updates; 0 is the initialisation): ``0, k, 2k, ...`` for ``fit(record_every=k)``,
        ``0, P, 2P, ...`` (one per epoch of ``P`` steps) for ``train_cnn``.
      diverged: bool, True if a loss, parameter (or model state) became NaN/Inf.
      diverged_step: int, the first step whose loss or updated parameters were non-finite,
        ``-1`` if none.
      state: non-trainable model state at the end, e.g. ``{"batch_stats": ...}`` of a batch-norm
        CNN (flax ``variables = {"params": params, **state}``); None for :func:`fit`.
      metrics: a NamedTuple of per-epoch evaluation metrics (:class:`fpjax.cnn.CNNMetrics` for
        ``train_cnn``); None for :func:`fit`.

    A pytree (a NamedTuple; the None fields are empty subtrees), so it passes through ``jit``,
    ``vmap`` and :func:`fpjax.train.sweep`, where ``fit`` gives array scalars for ``diverged`` and
    ``diverged_step``.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> x = jnp.linspace(-1, 1, 8)[:, None]
      >>> r = fit(lambda p, x: x * p, jnp.zeros(1), x, 2 * x, optimizer=optax.sgd(0.5), steps=4,
      ...         record=lambda p: p[0], record_every=2)
      >>> r.losses.shape, r.records.shape, r.record_steps.tolist()
      ((4,), (3,), [0, 2, 4])
      >>> bool(r.losses[-1] < r.losses[0]), bool(r.diverged), int(r.diverged_step)
      (True, False, -1)
      >>> r.state is None and r.metrics is None
      True
    """

    params: Any
    losses: jax.Array
    records: Any
    record_steps: jax.Array
    diverged: jax.Array
    diverged_step: jax.Array
    state: Any = None
    metrics: Any = None


def _all_finite(tree) -> jax.Array:
    leaves = [
        jnp.all(jnp.isfinite(v))
        for v in jax.tree_util.tree_leaves(tree)
        if jnp.issubdtype(jnp.asarray(v).dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


class _Carry(NamedTuple):
    """The state of the training core between steps (a pytree)."""

    params: Any
    state: Any  # non-trainable model state (batch-norm statistics), None for plain models
    opt_state: Any
    diverged: jax.Array
    diverged_step: jax.Array


def _init_carry(params, state, optimizer) -> _Carry:
    return _Carry(params, state, optimizer.init(params), jnp.array(False), jnp.array(-1, jnp.int32))


def _guarded_step(loss_and_grad: Callable, optimizer: optax.GradientTransformation) -> Callable:
    """One optimizer update with the divergence guard: the training step of :func:`fit` and
    :func:`fpjax.cnn.train_cnn`.

    ``loss_and_grad(params, state, step, inp) -> ((loss, (new_state, aux)), grads)`` evaluates the
    step's minibatch (``inp``: per-step inputs, e.g. batch indices and a dropout key). Returns
    ``step_fn(carry, (step, inp)) -> (carry, (loss, aux))`` for ``lax.scan``. If the loss or the
    updated parameters/state are non-finite, the parameters and state stay at their last finite
    values, ``diverged`` is set with ``diverged_step``, and later losses are NaN.
    """

    def step_fn(carry: _Carry, xs):
        step, inp = xs
        p, s, opt_state, diverged, div_step = carry
        (value, (new_s, aux)), grads = loss_and_grad(p, s, step, inp)
        updates, new_opt_state = optimizer.update(grads, opt_state, p)
        new_p = optax.apply_updates(p, updates)
        ok = jnp.isfinite(value) & _all_finite(new_p) & _all_finite(new_s) & ~diverged
        # Only the parameters and state are frozen: the optimizer state is never returned and, once
        # a step failed, ``ok`` stays False, so whatever it holds cannot reach the parameters again.
        # Selecting the optimizer state too (three more passes over parameter-sized trees) cost ~10 %
        # of an Adam step of the benchmark network; the parameter select alone ~3 % (benchmarks/RESULTS.md).
        kept_p, kept_s = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), (new_p, new_s), (p, s))
        div_step = jnp.where(~diverged & ~ok, step, div_step)
        value = jnp.where(diverged, jnp.nan, value)
        return _Carry(kept_p, kept_s, new_opt_state, diverged | ~ok, div_step), (value, aux)

    return step_fn


def _scan_steps(step_fn: Callable, carry: _Carry, start, count: int, inp=None):
    """Steps ``start .. start + count − 1`` of ``step_fn`` as one ``lax.scan``."""
    return jax.lax.scan(step_fn, carry, (start + jnp.arange(count, dtype=jnp.int32), inp))


def _scan_with_records(step_fn: Callable, carry: _Carry, steps: int, record, record_every: int):
    """``steps`` guarded steps as one scan, ``record(params)`` at steps ``0, k, 2k, ...``.

    Returns ``(carry, losses (steps,), records or None, record_steps (R,))``: the record-chunk
    scan (an outer scan over chunks of ``k = record_every`` steps, then the tail)."""
    if record is None:
        carry, (losses, _) = _scan_steps(step_fn, carry, 0, steps)
        return carry, losses, None, jnp.zeros((0,), jnp.int32)
    n_rec = steps // record_every

    def chunk(c, start):
        c, (ls, _) = _scan_steps(step_fn, c, start, record_every)
        return c, (ls, record(c.params))

    first = record(carry.params)
    carry, (ls, recs) = jax.lax.scan(chunk, carry, jnp.arange(n_rec, dtype=jnp.int32) * record_every)
    losses = ls.reshape(-1)
    tail = steps - n_rec * record_every
    if tail:
        carry, (tail_losses, _) = _scan_steps(step_fn, carry, n_rec * record_every, tail)
        losses = jnp.concatenate([losses, tail_losses])
    records = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, recs)
    return carry, losses, records, jnp.arange(n_rec + 1, dtype=jnp.int32) * record_every


@checks.renamed_keyword(x="x_train", y="y_train")
def fit(
    apply: Callable,
    params: PyTree,
    x_train: ArrayLike,
    y_train: ArrayLike,
    *,
    optimizer: optax.GradientTransformation,
    steps: int,
    loss: str | Callable = "mse",
    batch_size: int | None = None,
    key: jax.Array | None = None,
    record: Callable[[PyTree], PyTree] | None = None,
    record_every: int = 1,
) -> FitResult:
    """Train ``params`` of ``apply`` on ``(x_train, y_train)`` for ``steps`` optimizer updates.

    The loop is one jitted ``lax.scan``: ``θ_{s+1} = θ_s + optimizer.update(∇L(θ_s; batch_s))``.
    Full batch when ``batch_size`` is None; otherwise each epoch is a fresh permutation of the data
    drawn from ``key`` (``fold_in(key, epoch)``) cut into ``n // batch_size`` minibatches (the
    remainder is dropped that epoch).

    If a loss, gradient or update becomes non-finite, the parameters are frozen at their last finite
    value, ``diverged`` is set, and later losses are NaN — never a silent NaN result. The same
    guarded step drives :func:`fpjax.cnn.train_cnn`.

    Args:
      apply: ``apply(params, x) -> (n, c)`` predictions (logits for ``bce``/``ce``): a plain
        function or a :class:`fpjax.models.Model` (models are callable).
      params: pytree of arrays.
      x_train: ``(n, ...)`` inputs. y_train: targets, see :func:`mse`, :func:`bce`, :func:`ce`.
        (The deprecated keywords ``x=``, ``y=`` still work, with a ``DeprecationWarning``.)
      optimizer: any optax ``GradientTransformation``.
      steps: number of updates (≥ 1).
      loss: ``"mse" | "bce" | "ce"`` or ``loss(pred, y) -> scalar``.
      batch_size: minibatch size (needs ``key``), ``1 ≤ batch_size ≤ n``.
      record: optional ``record(params) -> pytree`` evaluated at steps ``0, k, 2k, ...``
        (``k = record_every``), e.g. the model's spectrum on a grid, its NTK, the test loss.

    Returns:
      A :class:`FitResult`: ``losses (steps,)``, ``records`` (leading axis ``steps // k + 1``), ...

    Works under ``jax.vmap`` (over params, data or keys) and inside ``jit``.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> x = jnp.linspace(-1, 1, 8)[:, None]
      >>> r = fit(lambda p, x: x * p, jnp.zeros(1), x, 2 * x, optimizer=optax.sgd(0.5), steps=50, record=lambda p: p, record_every=25)
      >>> round(float(r.params[0]), 3), r.record_steps.tolist(), bool(r.diverged)
      (2.0, [0, 25, 50], False)
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"optimizer must be an optax.GradientTransformation (e.g. optax.adam(1e-3)); got {type(optimizer).__name__}"
        )
    steps = checks.check_positive_int(steps, "steps")
    record_every = checks.check_positive_int(record_every, "record_every")
    loss_fn = get_loss(loss)
    x, y = _validate_data(apply, params, x_train, y_train, loss)
    n = x.shape[0]
    if batch_size is not None:
        batch_size = checks.check_positive_int(batch_size, "batch_size")
        if batch_size > n:
            raise ValueError(f"batch_size must be <= the number of samples {n}; got {batch_size}")
        if key is None:
            raise ValueError("key is needed with batch_size (it draws the minibatch permutations)")
        checks.check_key(key)
    if record is not None and not callable(record):
        raise TypeError(f"record must be a function record(params) -> pytree; got {type(record).__name__}")
    return _fit_jit(apply, optimizer, steps, loss_fn, batch_size, record, record_every, params, x, y, key)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6))
def _fit_jit(apply, optimizer, steps, loss_fn, batch_size, record, record_every, params, x, y, key):
    n = x.shape[0]
    value_and_grad = jax.value_and_grad(lambda p, xb, yb: loss_fn(apply(p, xb), yb))
    n_batches = n // batch_size if batch_size else 1

    def batch(step):
        if batch_size is None:
            return x, y
        epoch, j = step // n_batches, step % n_batches
        perm = jax.random.permutation(jax.random.fold_in(key, epoch), n)
        idx = jax.lax.dynamic_slice_in_dim(perm, j * batch_size, batch_size)
        return x[idx], y[idx]

    def loss_and_grad(p, s, step, _):
        value, grads = value_and_grad(p, *batch(step))
        return (value, (s, None)), grads

    step_fn = _guarded_step(loss_and_grad, optimizer)
    carry = _init_carry(params, None, optimizer)
    carry, losses, records, record_steps = _scan_with_records(step_fn, carry, steps, record, record_every)
    return FitResult(carry.params, losses, records, record_steps, carry.diverged, carry.diverged_step)


@checks.renamed_keyword(x="x_train", y="y_train")
def gradient_flow(
    apply: Callable,
    params: PyTree,
    x_train: ArrayLike,
    y_train: ArrayLike,
    t: ArrayLike = None,
    *,
    loss: str | Callable = "mse",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps: int = 100_000,
    solver: Any = None,
) -> PyTree:
    """Solve the gradient flow ``θ̇ = −∇_θ L(θ)`` from ``θ(0) = params`` with diffrax.

    Returns the parameters at each gradient-flow time in ``t`` (pytree with a leading ``len(t)``
    axis). ``t`` (``(k,)``, the same ``t = η·steps`` as everywhere in fpjax) must be non-decreasing and ≥ 0. Default solver: ``diffrax.Tsit5`` (5th order,
    adaptive step by a PID controller with ``rtol``/``atol``). Use it to compare theory with training
    at exact ``t`` (gradient descent with learning rate ``η`` for ``s`` steps approximates ``t = ηs``
    with a global error ``O(η)``).

    Args:
      apply: ``apply(params, x) -> (n, c)``, a plain function or a :class:`fpjax.models.Model`.
      params: initial parameters ``θ(0)``.
      x_train, y_train: training data, as for :func:`fit` (deprecated keywords ``x=``, ``y=``).
      t: ``(k,)`` non-decreasing times ≥ 0.
      loss: ``"mse" | "bce" | "ce"`` or a callable.

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.ones((4, 1))
      >>> ps = gradient_flow(lambda p, x: x * p, jnp.zeros(1), x, x, jnp.array([0.0, 1.0]))
      >>> round(float(ps[1, 0]), 4)  # θ(t) = 1 − e^{−t}
      0.6321
    """
    if t is None:
        raise TypeError("gradient_flow() missing required argument 't'")
    x, y = _validate_data(apply, params, x_train, y_train, loss)
    t = checks.as_array(t, "t")
    checks.check_ndim(t, "t", 1)
    checks.check_finite(t, "t")
    if checks.is_concrete(t):
        t_np = np.asarray(t)
        if t_np[0] < 0 or np.any(np.diff(t_np) < 0):
            raise ValueError("t must be non-decreasing and >= 0")
    checks.check_positive(rtol, "rtol")
    checks.check_positive(atol, "atol")
    checks.check_positive_int(max_steps, "max_steps")
    return _flow_jit(apply, get_loss(loss), solver, float(rtol), float(atol), int(max_steps), params, x, y, t)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5))
def _flow_jit(apply, loss_fn, solver, rtol, atol, max_steps, params, x, y, times):
    # Jitted with the model, loss and solver settings static: repeated calls (new params, data or
    # times of the same shapes) reuse the compiled solver instead of re-tracing diffrax each time.
    import diffrax

    grad = jax.grad(lambda p: loss_fn(apply(p, x), y))
    term = diffrax.ODETerm(lambda t, p, args: jax.tree_util.tree_map(jnp.negative, grad(p)))
    times = times.astype(jax.tree_util.tree_leaves(params)[0].dtype)
    sol = diffrax.diffeqsolve(
        term,
        solver or diffrax.Tsit5(),
        t0=0.0,
        t1=times[-1],
        dt0=None,
        y0=params,
        saveat=diffrax.SaveAt(ts=times),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    return sol.ys
