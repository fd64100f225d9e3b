"""Losses the curvature routines accept, and their validation.

Three kinds of ``loss_fn``:

* a plain callable ``params -> scalar`` (closing over its data);
* a :class:`BatchedLoss`, ``L(θ) = Σ_b w_b ℓ(θ; batch_b)`` over stacked minibatches, whose products are
  accumulated batch by batch (memory of one batch);
* a :class:`ModelLoss`, ``L(θ) = Σ_b w_b loss(apply(θ, x_b), y_b)``, which also knows the model and
  the loss on its outputs, as the Gauss-Newton and Fisher matrices need.

Validation follows one policy: shapes, dtypes and options are checked statically (Python level,
free under ``jit``); values (NaN/Inf) are checked once where data enter (:func:`batched_loss`,
:func:`model_loss`) and, for parameters, on the device inside the jitted estimators with
``equinox.error_if`` (a no-op cost next to the products, and the same under ``jit`` and ``vmap``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src import checks
from fpjax._src.array_types import ArrayLike, PyTree

#: Curvature matrices every estimator accepts through ``curvature=``.
CURVATURES = ("hessian", "ggn", "fisher", "empirical_fisher")
#: Losses whose true Fisher matrix is known in closed form (names of :mod:`fpjax.train`).
FISHER_LOSSES = ("mse", "bce", "ce")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class BatchedLoss:
    """``L(θ) = Σ_b weights[b] · loss_on_batch(θ, batch_b)`` over stacked minibatches.

    Attributes:
      loss_on_batch: ``(params, batch) -> scalar`` (static).
      batches: pytree of arrays with a common leading axis ``B`` (one entry per minibatch).
      weights: ``(B,)`` non-negative weights summing to 1 (``1/B`` each by default).

    Calling it evaluates the loss (a ``lax.scan``, memory of one batch). The curvature routines
    recognise it and accumulate products batch by batch instead of differentiating through the scan
    (which would store every batch's activations).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import batched_loss, hutchinson_trace
      >>> x = jnp.arange(8.0).reshape(4, 2)                      # 4 batches of 2 samples
      >>> loss = batched_loss(lambda p, b: jnp.mean((p * b) ** 2), x)
      >>> loss.batches.shape, loss.weights.tolist()
      ((4, 2), [0.25, 0.25, 0.25, 0.25])
      >>> float(loss(jnp.array(1.0)))                            # mean(x²)
      17.5
      >>> float(hutchinson_trace(loss, jnp.array(1.0), key=jax.random.key(0), num_probes=2).estimate)
      35.0
    """

    loss_on_batch: Callable = dataclasses.field(metadata={"static": True})
    batches: PyTree
    weights: jax.Array

    def __call__(self, params: PyTree) -> jax.Array:
        return _scan_loss(self.loss_on_batch, self.batches, self.weights, params)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ModelLoss:
    """``L(θ) = Σ_b weights[b] · loss(apply(θ, x[b]), y[b])``: a loss that knows its model.

    Attributes:
      apply: ``apply(params, x) -> (n_b, c)`` outputs (logits for ``bce``/``ce``) (static).
      loss: ``"mse" | "bce" | "ce"`` (:mod:`fpjax.train`) or ``loss(pred, y) -> scalar``, a mean over
        the samples (first axis) of per-sample losses (static).
      x: ``(B, n_b, ...)`` inputs stacked by minibatch.
      y: ``(B, n_b, ...)`` targets stacked by minibatch.
      weights: ``(B,)`` non-negative weights summing to 1.

    Build it with :func:`model_loss`. It is a callable ``params -> scalar`` and is accepted wherever a
    loss is; in addition ``curvature="ggn" | "fisher" | "empirical_fisher"`` need it.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.hessian import ggn_vp, model_loss
      >>> x = jnp.linspace(-1, 1, 8)[:, None]
      >>> L = model_loss(lambda p, x: p * x, x, 2 * x, loss="mse", num_batches=2)
      >>> L.x.shape, L.y.shape, L.weights.tolist(), L.loss
      ((2, 4, 1), (2, 4, 1), [0.5, 0.5], 'mse')
      >>> float(L(jnp.array(2.0)))                               # f = y: zero loss
      0.0
      >>> bool(jnp.isclose(ggn_vp(L, jnp.array(0.0), jnp.array(1.0)), jnp.mean(x ** 2)))   # G = mean x²
      True

    References:
      Martens 2020, arXiv:1412.1193 (Gauss-Newton, Fisher); Kunstner, Hennig, Balles 2019,
      arXiv:1905.12558 (empirical Fisher).
    """

    apply: Callable = dataclasses.field(metadata={"static": True})
    loss: Any = dataclasses.field(metadata={"static": True})
    x: jax.Array
    y: jax.Array
    weights: jax.Array

    def loss_on_batch(self, params: PyTree, batch: PyTree) -> jax.Array:
        return _loss_fn(self.loss)(self.apply(params, batch[0]), batch[1])

    def __call__(self, params: PyTree) -> jax.Array:
        fn = _model_batch_loss(self.apply, self.loss)
        return _scan_loss(fn, (self.x, self.y), self.weights, params)


def _loss_fn(loss):
    from fpjax._src.train import LOSSES

    return LOSSES[loss] if isinstance(loss, str) else loss


def _model_batch_loss(apply, loss):
    fn = _loss_fn(loss)
    return lambda p, b: fn(apply(p, b[0]), b[1])


def _scan_loss(loss_on_batch, batches, weights, params):
    def body(acc, bw):
        batch, w = bw
        return acc + w * loss_on_batch(params, batch), None

    first = jax.tree_util.tree_map(lambda a: a[0], batches)
    out = jax.eval_shape(loss_on_batch, params, first)
    total, _ = jax.lax.scan(body, jnp.zeros(out.shape, out.dtype), (batches, weights.astype(out.dtype)))
    return total


def _weights(weights, n_b):
    if weights is None:
        return jnp.full((n_b,), 1.0 / n_b)
    w = checks.as_array(weights, "weights")
    checks.check_ndim(w, "weights", 1, shape_hint="(number of batches,)")
    if w.shape[0] != n_b:
        raise ValueError(f"weights must have shape ({n_b},) (one per batch); got {tuple(w.shape)}")
    if checks.is_concrete(w):
        wn = np.asarray(w, dtype=float)
        if not np.all(np.isfinite(wn)) or np.any(wn < 0) or wn.sum() <= 0:
            raise ValueError("weights must be finite and >= 0 with a positive sum")
    return w / jnp.sum(w)


def batched_loss(loss_on_batch: Callable, batches: PyTree, weights: ArrayLike | None = None) -> BatchedLoss:
    """Minibatch-averaged loss ``L(θ) = Σ_b w_b ℓ(θ; batch_b)`` for memory-bounded products.

    Args:
      loss_on_batch: ``(params, batch) -> scalar`` mean loss on one minibatch. For Flax models with
        batch norm call ``apply(..., train=False)`` (running statistics) inside it.
      batches: pytree of arrays stacked along a leading batch axis ``B`` (e.g. ``x`` reshaped from
        ``(n, ...)`` to ``(B, n/B, ...)``). ``B`` must be the same for every leaf.
      weights: optional ``(B,)`` non-negative weights; normalized to sum to 1. Default ``1/B``: with
        equal-size batches partitioning the data this is the full-data mean loss.

    Returns:
      A :class:`BatchedLoss` (callable ``params -> scalar``; a pytree, so it can be passed into jit).

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.hessian import batched_loss
      >>> x = jnp.arange(8.0).reshape(4, 2)          # 4 batches of 2 samples
      >>> loss = batched_loss(lambda p, b: jnp.mean((p * b) ** 2), x)
      >>> float(loss(jnp.array(1.0))) == float(jnp.mean(x ** 2))
      True
    """
    if not callable(loss_on_batch):
        raise TypeError(f"loss_on_batch must be callable (params, batch) -> scalar; got {type(loss_on_batch).__name__}")
    leaves = jax.tree_util.tree_leaves(batches)
    if not leaves:
        raise ValueError("batches must be a non-empty pytree of arrays with a leading batch axis")
    leaves = [checks.as_array(a, "batches leaf") for a in leaves]
    sizes = {a.shape[0] if a.ndim else None for a in leaves}
    if None in sizes or len(sizes) != 1:
        raise ValueError(
            "every leaf of batches must have the same leading (batch) axis; got leading "
            f"sizes {sorted(str(s) for s in sizes)}"
        )
    n_b = sizes.pop()
    if n_b == 0:
        raise ValueError("batches must hold at least one minibatch; got a leading axis of size 0")
    for a in leaves:  # data enter here: one value check, not one per product
        checks.check_finite(a, "batches")
    return BatchedLoss(loss_on_batch, jax.tree_util.tree_map(jnp.asarray, batches), _weights(weights, n_b))


def model_loss(
    apply: Callable,
    x_train: ArrayLike,
    y_train: ArrayLike,
    *,
    loss: str | Callable = "mse",
    num_batches: int = 1,
    weights: ArrayLike | None = None,
) -> ModelLoss:
    """The training loss of a model, ``L(θ) = loss(apply(θ, x_train), y_train)``, kept in parts.

    Split into ``num_batches`` equal consecutive minibatches (``n`` must be divisible), the loss is
    ``Σ_b w_b loss(apply(θ, x_b), y_b)`` (``w_b = 1/B``: the full-data mean). Knowing ``apply`` and
    the output loss separately gives the Gauss-Newton and Fisher matrices
    (``curvature="ggn" | "fisher" | "empirical_fisher"`` in every estimator).

    Args:
      apply: ``apply(params, x) -> (n, c)`` (e.g. ``model.apply``, or ``model.eval_fn(variables)`` for
        a CNN with batch norm in evaluation mode).
      x_train: ``(n, ...)`` inputs.
      y_train: targets (``(n, c)``; for ``ce`` integer labels ``(n,)`` or one-hot ``(n, C)``).
      loss: ``"mse" | "bce" | "ce"`` or a callable ``loss(pred, y) -> scalar`` that is a mean over
        the samples of per-sample losses (the empirical Fisher needs that form).
      num_batches: ``B >= 1`` dividing ``n``.
      weights: optional ``(B,)`` batch weights (normalized).

    Returns:
      A :class:`ModelLoss`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import model_loss
      >>> x = jnp.linspace(-1, 1, 8)[:, None]
      >>> L = model_loss(lambda p, x: p * x, x, 2 * x, loss="mse", num_batches=2)
      >>> round(float(L(jnp.array(1.0))), 6) == round(float(0.5 * jnp.mean(x ** 2)), 6)
      True

    References:
      Martens 2020, arXiv:1412.1193 (Gauss-Newton, Fisher); Kunstner, Hennig, Balles 2019,
      arXiv:1905.12558 (empirical Fisher).
    """
    if not callable(apply):
        raise TypeError(f"apply must be callable apply(params, x); got {type(apply).__name__}")
    if isinstance(loss, str):
        checks.check_choice(loss, "loss", FISHER_LOSSES)
    elif not callable(loss):
        raise TypeError(f"loss must be 'mse', 'bce', 'ce' or a callable loss(pred, y); got {type(loss).__name__}")
    x = checks.as_array(x_train, "x_train")
    y = checks.as_array(y_train, "y_train")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"x_train must have shape (n, ...) with n >= 1; got {tuple(x.shape)}")
    checks.check_same_leading(x, "x_train", y, "y_train")
    checks.check_finite(x, "x_train")
    checks.check_finite(y, "y_train")
    y = _check_targets(y, loss)
    nb = checks.check_positive_int(num_batches, "num_batches")
    if x.shape[0] % nb:
        raise ValueError(f"num_batches must divide the number of samples {x.shape[0]}; got {nb}")
    xb = x.reshape((nb, x.shape[0] // nb) + x.shape[1:])
    yb = y.reshape((nb, y.shape[0] // nb) + y.shape[1:])
    return ModelLoss(apply, loss, xb, yb, _weights(weights, nb))


def _check_targets(y, loss):
    """Target values the named losses accept (labels below the class count: :func:`check_labels`)."""
    if loss == "bce":
        return checks.error_if(y, ~jnp.all((y >= 0) & (y <= 1)), "y_train must hold targets in [0, 1] for loss='bce'")
    if loss == "ce" and (jnp.issubdtype(y.dtype, jnp.integer) or y.ndim == 1):
        return checks.error_if(
            y, ~jnp.all((y >= 0) & (y == jnp.round(y))), "y_train must hold integer class labels >= 0 for loss='ce'"
        )
    return y


def check_labels(loss_fn, params) -> None:
    """For ``loss="ce"`` with integer labels: every label below the model's class count ``C``.

    ``C`` is the last axis of ``apply(params, x)`` (traced abstractly); a label ``>= C`` would read as
    a zero one-hot row, a loss without curvature, so it is refused (``ValueError`` naming
    ``y_train``). Concrete labels only: traced labels make the ``ce`` loss NaN instead.
    """
    if not (isinstance(loss_fn, ModelLoss) and isinstance(loss_fn.loss, str) and loss_fn.loss == "ce"):
        return
    out = jax.eval_shape(loss_fn.apply, params, loss_fn.x[0])
    y = loss_fn.y
    if y.ndim - 1 != len(out.shape) - 1:  # one-hot / soft targets: shape checked by the loss
        return
    c = out.shape[-1]
    if checks.is_concrete(y):
        checks.error_if(y, jnp.any(y >= c), f"y_train must hold class labels in 0..{c - 1} for loss='ce' ({c} outputs)")


# ---------------------------------------------------------------------------------------------
# Static description for jit: (kind, functions...) static, data traced
# ---------------------------------------------------------------------------------------------


def split_loss(loss_fn):
    """``(static, data)``: jit keys on the functions and traces the data."""
    if isinstance(loss_fn, ModelLoss):
        return ("model", loss_fn.apply, loss_fn.loss), ((loss_fn.x, loss_fn.y), loss_fn.weights)
    if isinstance(loss_fn, BatchedLoss):
        return ("batched", loss_fn.loss_on_batch), (loss_fn.batches, loss_fn.weights)
    return ("plain", loss_fn), None


def rebuild_loss(static, data):
    """The loss callable from :func:`split_loss`'s parts (inside jitted functions)."""
    if static[0] == "plain":
        return static[1]
    if static[0] == "batched":
        return BatchedLoss(static[1], *data)
    (x, y), w = data
    return ModelLoss(static[1], static[2], x, y, w)


def batch_loss_fn(static):
    """``(params, batch) -> scalar`` for batched kinds."""
    if static[0] == "model":
        return _model_batch_loss(static[1], static[2])
    return static[1]


def check_params(params, name: str = "params") -> int:
    """Static checks (float leaves, non-empty); return the number of scalars ``P``."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError(f"{name} must be a non-empty pytree of float arrays; got no array leaves")
    n = 0
    for leaf in leaves:
        dt = getattr(leaf, "dtype", None)
        if dt is None or not hasattr(leaf, "shape"):
            leaf = checks.as_array(leaf, name)
            dt = leaf.dtype
        if not jnp.issubdtype(dt, jnp.floating):
            raise TypeError(
                f"{name} leaves must be floating-point arrays (curvature is taken with respect to them); got dtype {dt}"
            )
        n += int(np.prod(leaf.shape))
    if n == 0:
        raise ValueError(f"{name} must contain at least one parameter; got only empty arrays")
    return n


def check_loss_output(out) -> None:
    """Raise unless ``out`` (a value or ``ShapeDtypeStruct``) is a real floating scalar."""
    leaves = jax.tree_util.tree_leaves(out)
    if len(leaves) != 1 or not hasattr(leaves[0], "shape"):
        raise ValueError(f"loss_fn(params) must return a single scalar array; got {out}")
    o = leaves[0]
    if o.shape != ():
        raise ValueError(
            f"loss_fn(params) must return a scalar (shape ()); got shape {tuple(o.shape)}. "
            "Reduce it first, e.g. with .mean() over the samples"
        )
    if not jnp.issubdtype(o.dtype, jnp.floating):
        raise TypeError(f"loss_fn(params) must return a floating-point scalar; got dtype {o.dtype}")


def leaf_signature(leaves) -> tuple:
    """``((shape, dtype), …)`` of array leaves (cheap attribute reads; a fallback for scalars)."""
    try:
        return tuple((a.shape, a.dtype) for a in leaves)
    except AttributeError:
        return tuple((tuple(jnp.shape(a)), jnp.result_type(a)) for a in leaves)


def check_problem(loss_fn, params, curvature: str = "hessian", *, flat=None) -> int:
    """Entry-point checks of every estimator; return ``P``.

    Static only: the parameters' dtypes and sizes, the curvature's requirements and the loss's
    output (traced abstractly with ``jax.eval_shape``). The result is memoised per (loss, curvature,
    parameter and data shapes), so a repeated call costs one flatten and a dictionary lookup.
    ``flat``: ``tree_flatten(params)`` when the caller has it already.
    """
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be callable params -> scalar (or a BatchedLoss / ModelLoss); got {type(loss_fn).__name__}"
        )
    static, data = split_loss(loss_fn)
    leaves, treedef = jax.tree_util.tree_flatten(params) if flat is None else flat
    if data is None:
        sig = (static, curvature, treedef, leaf_signature(leaves))
    else:
        data_leaves, data_def = jax.tree_util.tree_flatten(data)
        sig = (static, curvature, treedef, leaf_signature(leaves), data_def, leaf_signature(data_leaves))
    try:
        hit = _CHECKED.get(sig)
    except TypeError:  # unhashable static part: check every time
        hit, sig = None, None
    if hit is not None:
        check_labels(loss_fn, params)
        return hit
    p = check_params(params)
    curvature = checks.check_choice(curvature, "curvature", CURVATURES)
    if curvature != "hessian":
        if not isinstance(loss_fn, ModelLoss):
            raise TypeError(
                f"curvature={curvature!r} needs the model and the output loss separately: pass "
                "loss_fn=fpjax.hessian.model_loss(apply, x_train, y_train, loss=...); got "
                f"{type(loss_fn).__name__}"
            )
        if curvature == "fisher" and not isinstance(loss_fn.loss, str):
            raise ValueError(
                "curvature='fisher' (the true Fisher) needs the model's predictive distribution: "
                f"loss must be one of {FISHER_LOSSES}; got a callable (use 'ggn' or "
                "'empirical_fisher')"
            )
    check_loss_output(jax.eval_shape(loss_fn, params))
    check_labels(loss_fn, params)
    if sig is not None:
        if len(_CHECKED) > 1024:
            _CHECKED.clear()
        _CHECKED[sig] = p
    return p


_CHECKED: dict = {}


def params_bad(params) -> jax.Array:
    """``True`` (a device scalar) when any parameter is NaN/Inf; estimators return it beside their
    result and fail through :func:`fpjax._src.checks.error_if` (eagerly a ``ValueError``)."""
    leaves = jax.tree_util.tree_leaves(params)
    return jnp.logical_not(jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in leaves])))
