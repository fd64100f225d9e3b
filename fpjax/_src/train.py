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

__all__ = ["mse", "bce", "ce", "get_loss", "LOSSES", "FitResult", "fit", "gradient_flow", "make_loss"]


def mse(pred: jax.Array, y: jax.Array) -> jax.Array:
    """``L = (1/(2n)) Σ_i ‖f(x_i) − y_i‖²``; ``pred, y``: ``(n, c)`` (or ``(n,)``)."""
    return 0.5 * jnp.sum((pred - y) ** 2) / pred.shape[0]


def bce(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Mean binary cross-entropy with logits; ``y ∈ {0, 1}`` with the shape of ``logits``."""
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y))


def ce(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy; ``logits (n, C)``; ``y`` integer labels ``(n,)`` or one-hot ``(n, C)``."""
    if y.ndim == logits.ndim - 1:
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y.astype(jnp.int32)))
    return jnp.mean(optax.softmax_cross_entropy(logits, y))


LOSSES = {"mse": mse, "bce": bce, "ce": ce}


def get_loss(name: str | Callable) -> Callable:
    """Loss by name (``mse | bce | ce``) or a callable ``loss(pred, y) -> scalar`` passed through."""
    if callable(name):
        return name
    return LOSSES[checks.check_choice(name, "loss", tuple(LOSSES))]


def _check_targets(pred_shape, y, loss_name):
    if loss_name == "ce":
        ok = (y.ndim == 1 and y.shape[0] == pred_shape[0]) or tuple(y.shape) == tuple(pred_shape)
        if not ok:
            raise ValueError(f"y must be integer labels of shape ({pred_shape[0]},) or one-hot of shape "
                             f"{tuple(pred_shape)} for loss='ce'; got shape {tuple(y.shape)}")
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
    return x, y


def make_loss(apply: Callable, loss: str | Callable = "mse") -> Callable:
    """``L(params, x, y) = loss(apply(params, x), y)``."""
    fn = get_loss(loss)
    return lambda params, x, y: fn(apply(params, x), y)


class FitResult(NamedTuple):
    """Output of :func:`fit`.

    params: final parameters (the last finite ones if training diverged).
    losses: ``(steps,)`` training loss before each update (NaN after divergence).
    records: ``record(params)`` stacked over ``record_steps`` (None without ``record``).
    record_steps: ``(R,)`` steps at which ``records`` were taken: ``0, k, 2k, ...`` ≤ steps.
    diverged: bool scalar, True if a loss, gradient or parameter became NaN/Inf.
    diverged_step: first step with a non-finite value, ``-1`` if none.
    """

    params: Any
    losses: jax.Array
    records: Any
    record_steps: jax.Array
    diverged: jax.Array
    diverged_step: jax.Array


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(v)) for v in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(jnp.asarray(v).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def fit(apply: Callable, params: Any, x: Any, y: Any, *, optimizer: optax.GradientTransformation,
        steps: int, loss: str | Callable = "mse", batch_size: int | None = None, key: jax.Array | None = None,
        record: Callable[[Any], Any] | None = None, record_every: int = 1,
        check_every: int = 10) -> FitResult:
    """Train ``params`` of ``apply`` on ``(x, y)`` for ``steps`` optimizer updates.

    The loop is one jitted ``lax.scan``: ``θ_{s+1} = θ_s + optimizer.update(∇L(θ_s; batch_s))``.
    Full batch when ``batch_size`` is None; otherwise each epoch is a fresh permutation of the data
    drawn from ``key`` (``fold_in(key, epoch)``) cut into ``n // batch_size`` minibatches (the
    remainder is dropped that epoch).

    If a loss, gradient or update becomes non-finite, the parameters are frozen at their last finite
    value, ``diverged`` is set, and later losses are NaN — never a silent NaN result.

    Args:
      apply: ``apply(params, x) -> (n, c)`` predictions (logits for ``bce``/``ce``).
      params: pytree of arrays.
      x: ``(n, ...)`` inputs. y: targets, see :func:`mse`, :func:`bce`, :func:`ce`.
      optimizer: any optax ``GradientTransformation``.
      steps: number of updates (≥ 1).
      loss: ``"mse" | "bce" | "ce"`` or ``loss(pred, y) -> scalar``.
      batch_size: minibatch size (needs ``key``), ``1 ≤ batch_size ≤ n``.
      record: optional ``record(params) -> pytree`` evaluated at steps ``0, k, 2k, ...``
        (``k = record_every``), e.g. the model's spectrum on a grid, its NTK, the test loss.

    Works under ``jax.vmap`` (over params, data or keys) and inside ``jit``.
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation (e.g. optax.adam(1e-3)); "
                        f"got {type(optimizer).__name__}")
    steps = checks.check_positive_int(steps, "steps")
    record_every = checks.check_positive_int(record_every, "record_every")
    check_every = checks.check_positive_int(check_every, "check_every")
    loss_fn = get_loss(loss)
    x, y = _validate_data(apply, params, x, y, loss)
    n = x.shape[0]
    if batch_size is not None:
        batch_size = checks.check_positive_int(batch_size, "batch_size")
        if batch_size > n:
            raise ValueError(f"batch_size must be <= the number of samples {n}; got {batch_size}")
        if key is None:
            raise ValueError("key is needed with batch_size (it draws the minibatch permutations)")
        checks.check_key(key)
    return _fit_jit(apply, optimizer, steps, loss_fn, batch_size, record, record_every, check_every, params, x, y,
                    key)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5, 6, 7))
def _fit_jit(apply, optimizer, steps, loss_fn, batch_size, record, record_every, check_every, params, x, y,
             key):
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

    def one_step(carry, step):
        # The plain optimizer step: no per-step check or select, so the loop body is exactly the
        # one a hand-written jit(vmap(scan)) would run.
        p, opt_state = carry
        xb, yb = batch(step)
        value, grads = value_and_grad(p, xb, yb)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), value

    def block(carry, start, length):
        # `length` plain steps, then the divergence guard once: one pass over the parameters and
        # one select of (params, opt_state) per block instead of per step.
        p, opt_state, diverged, div_step = carry
        steps_b = start + jnp.arange(length, dtype=jnp.int32)
        (new_p, new_state), values = jax.lax.scan(one_step, (p, opt_state), steps_b)
        bad_loss = ~jnp.isfinite(values)
        ok = ~jnp.any(bad_loss) & _all_finite(new_p)
        first_bad = jnp.where(jnp.any(bad_loss), steps_b[jnp.argmax(bad_loss)], steps_b[-1])
        div_step = jnp.where(~diverged & ~ok, first_bad, div_step)
        accept = ok & ~diverged
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), new, old)
        return (keep(new_p, p), keep(new_state, opt_state), diverged | ~ok, div_step), values

    def run(carry, start, length):
        # `length` steps from `start` (static length, traced start) as blocks of `check_every`.
        k = min(check_every, length)
        n_blocks, tail = divmod(length, k)
        carry, values = jax.lax.scan(lambda c, b: block(c, b, k), carry,
                                     start + jnp.arange(n_blocks, dtype=jnp.int32) * k)
        values = values.reshape(-1)
        if tail:
            carry, tail_values = block(carry, start + n_blocks * k, tail)
            values = jnp.concatenate([values, tail_values])
        return carry, values

    carry = (params, optimizer.init(params), jnp.array(False), jnp.array(-1, jnp.int32))
    if record is None:
        carry, losses = run(carry, jnp.int32(0), steps)
        records, record_steps = None, jnp.zeros((0,), jnp.int32)
    else:
        n_rec = steps // record_every

        def chunk(c, start):
            c, ls = run(c, start, record_every)
            return c, (ls, record(c[0]))

        first = record(params)
        carry, (ls, recs) = jax.lax.scan(chunk, carry, jnp.arange(n_rec, dtype=jnp.int32) * record_every)
        losses = ls.reshape(-1)
        tail = steps - n_rec * record_every
        if tail:
            carry, tail_losses = run(carry, jnp.int32(n_rec * record_every), tail)
            losses = jnp.concatenate([losses, tail_losses])
        records = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, recs)
        record_steps = jnp.arange(n_rec + 1, dtype=jnp.int32) * record_every
    p, _, diverged, div_step = carry
    # Losses after the first non-finite step are NaN (the later blocks restarted from the frozen
    # parameters; their values describe nothing the result holds).
    losses = jnp.where(diverged & (jnp.arange(steps) > div_step), jnp.nan, losses)
    return FitResult(p, losses, records, record_steps, diverged, div_step)


def gradient_flow(apply: Callable, params: Any, x: Any, y: Any, times: Any, *, loss: str | Callable = "mse",
                  rtol: float = 1e-6, atol: float = 1e-8, max_steps: int = 100_000, solver=None):
    """Solve the gradient flow ``θ̇ = −∇_θ L(θ)`` from ``θ(0) = params`` with diffrax.

    Returns the parameters at each of ``times`` (pytree with a leading ``len(times)`` axis).
    ``times`` must be non-decreasing and ≥ 0. Default solver: ``diffrax.Tsit5`` (5th order,
    adaptive step by a PID controller with ``rtol``/``atol``). Use it to compare theory with training
    at exact ``t`` (gradient descent with learning rate ``η`` for ``s`` steps approximates ``t = ηs``
    with a global error ``O(η)``).
    """
    x, y = _validate_data(apply, params, x, y, loss)
    times = checks.as_array(times, "times")
    checks.check_ndim(times, "times", 1)
    checks.check_finite(times, "times")
    if checks.is_concrete(times):
        t = np.asarray(times)
        if t[0] < 0 or np.any(np.diff(t) < 0):
            raise ValueError("times must be non-decreasing and >= 0")
    checks.check_positive(rtol, "rtol")
    checks.check_positive(atol, "atol")
    return _flow_jit(apply, get_loss(loss), solver, float(rtol), float(atol), int(max_steps), params, x, y, times)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5))
def _flow_jit(apply, loss_fn, solver, rtol, atol, max_steps, params, x, y, times):
    # Jitted with the model, loss and solver settings static: repeated calls (new params, data or
    # times of the same shapes) reuse the compiled solver instead of re-tracing diffrax each time.
    import diffrax

    grad = jax.grad(lambda p: loss_fn(apply(p, x), y))
    term = diffrax.ODETerm(lambda t, p, args: jax.tree_util.tree_map(jnp.negative, grad(p)))
    times = times.astype(jax.tree_util.tree_leaves(params)[0].dtype)
    sol = diffrax.diffeqsolve(term, solver or diffrax.Tsit5(), t0=0.0, t1=times[-1], dt0=None, y0=params,
                              saveat=diffrax.SaveAt(ts=times),
                              stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
                              max_steps=max_steps)
    return sol.ys
