"""Curvature-vector products: Hessian, Gauss-Newton, true and empirical Fisher.

With ``L(θ) = (1/n) Σᵢ ℓ(f(θ, xᵢ), yᵢ)``, ``J = ∂f/∂θ`` (outputs ``(n, c)`` flattened) and
``H_out = ∂²L/∂f²`` (block-diagonal over samples):

* **Hessian** ``Hv = ∇²L v`` by forward-over-reverse, ``jax.jvp(jax.grad(L), (θ,), (v,))``
  (Pearlmutter 1994, doi:10.1162/neco.1994.6.1.147).
* **Gauss-Newton** ``Gv = Jᵀ H_out J v`` (Schraudolph 2002, doi:10.1162/08997660260028683):
  ``u = Jv`` by a forward-mode ``jvp`` of the model, ``H_out u`` by forward-over-reverse of the loss
  on the outputs, ``Jᵀ(·)`` by a ``vjp``. ``G ⪰ 0`` for a loss convex in the outputs; it drops the
  ``Σ (∂L/∂f) ∂²f/∂θ²`` part of the Hessian.
* **True Fisher** ``Fv = Jᵀ Λ J v``, ``Λᵢ = E_{y∼p(y|fᵢ)}[∇_f ℓᵢ ∇_f ℓᵢᵀ] / n`` in closed form for
  the losses of :mod:`fpjax.train` read as negative log-likelihoods: ``mse`` (Gaussian, unit variance)
  ``Λᵢ = I/n``; ``bce`` (independent Bernoulli per output, mean over ``n·c`` entries)
  ``Λᵢ = diag(σ(fᵢ)(1 − σ(fᵢ)))/(n c)``; ``ce`` (categorical) ``Λᵢ = (diag(pᵢ) − pᵢpᵢᵀ)/n``,
  ``pᵢ = softmax(fᵢ)``. For these canonical-link losses ``F = G`` exactly (Martens 2020,
  arXiv:1412.1193, §9.2); computed here from the distribution, not from ``H_out``.
* **Empirical Fisher** ``F̂v = (1/n) Σᵢ gᵢ (gᵢᵀ v)`` with the per-sample gradients
  ``gᵢ = ∇_θ ℓᵢ = J_iᵀ rᵢ``, ``rᵢ = ∇_{fᵢ} ℓᵢ = n ∂L/∂fᵢ`` (Kunstner et al. 2019, arXiv:1905.12558):
  ``F̂v = Jᵀ w``, ``wᵢ = rᵢ (rᵢ · (Jv)ᵢ) / n`` — one ``jvp`` and one ``vjp``, no per-sample gradients.
  It assumes ``L`` is the mean over samples (first axis) of per-sample losses.

Every product has a quadratic form ``z ↦ zᵀCz`` for Hutchinson's estimator that skips the ``Jᵀ``
(Gauss-Newton, Fisher: ``(Jz)ᵀ Λ (Jz)``) or the backward pass (Hessian: ``d²/dε² L(θ + εz)`` by
forward-over-forward differentiation, ~0.6× an HVP on CPU).

For a :class:`~fpjax.hessian.BatchedLoss` / :class:`~fpjax.hessian.ModelLoss` every product is a
``lax.scan`` over minibatches, ``Cv = Σ_b w_b C_b v`` (memory of one batch). This module holds the
only batched-product scan of the package (:func:`_batch_sum`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fpjax._src.hessian import problems


def _batch_sum(fn, batches, weights, like):
    """``Σ_b w_b fn(batch_b)`` over the leading axis of ``batches`` in one ``lax.scan``.

    ``like``: a pytree (or ``ShapeDtypeStruct`` tree) with the structure of ``fn``'s output.
    """

    def body(acc, bw):
        batch, w = bw
        out = fn(batch)
        return jax.tree_util.tree_map(lambda a, o: a + w.astype(o.dtype) * o, acc, out), None

    zero = jax.tree_util.tree_map(lambda a: jnp.zeros(jnp.shape(a), a.dtype), like)
    return jax.lax.scan(body, zero, (batches, weights))[0]


# ----------------------------------------------------------------------------------------------
# Output-space curvature of the loss: u ↦ Λ u, shape of the outputs
# ----------------------------------------------------------------------------------------------


def _out_matvec(kind, loss, out, y, u):
    """``Λ u`` for ``kind`` in ``ggn | fisher | empirical_fisher`` (``out, u``: model outputs)."""
    lfn = problems._loss_fn(loss)
    if kind == "ggn":
        return jax.jvp(jax.grad(lambda o: lfn(o, y)), (out,), (u,))[1]
    n = out.shape[0]
    if kind == "empirical_fisher":
        r = n * jax.grad(lambda o: lfn(o, y))(out)  # per-sample output gradients rᵢ
        axes = tuple(range(1, r.ndim))
        s = jnp.sum(r * u, axis=axes, keepdims=True)
        return r * s / n
    # true Fisher, closed forms (see module docstring)
    if loss == "mse":
        return u / n
    if loss == "bce":
        s = jax.nn.sigmoid(out)
        return s * (1 - s) * u / out.size
    if loss == "ce":
        p = jax.nn.softmax(out, axis=-1)
        return (p * u - p * jnp.sum(p * u, axis=-1, keepdims=True)) / n
    raise ValueError(f"no closed-form Fisher for loss {loss!r}")


def _gn_batch_matvec(kind, apply, loss, params, batch, v):
    x, y = batch
    out, jv = jax.jvp(lambda q: apply(q, x), (params,), (v,))
    hu = _out_matvec(kind, loss, out, y, jv)
    _, vjp = jax.vjp(lambda q: apply(q, x), params)
    return vjp(hu.astype(out.dtype))[0]


def _gn_batch_quadform(kind, apply, loss, params, batch, z):
    x, y = batch
    out, jz = jax.jvp(lambda q: apply(q, x), (params,), (z,))
    return jnp.vdot(jz, _out_matvec(kind, loss, out, y, jz))


def _hess_quadform(f, params, z):
    return jax.jvp(lambda q: jax.jvp(f, (q,), (z,))[1], (params,), (z,))[1]


# ----------------------------------------------------------------------------------------------
# Operators on pytrees: (static, data, params, curvature) -> v ↦ Cv and z ↦ zᵀCz
# ----------------------------------------------------------------------------------------------


def tree_matvec(static, data, params, curvature: str = "hessian"):
    """``v ↦ Cv`` on pytrees shaped like ``params`` for ``C`` named by ``curvature``.

    Plain loss, Hessian: ``jax.linearize`` of ``∇L`` once, so the primal pass is shared by all
    products. Batched losses: one :func:`_batch_sum` scan per product.
    """
    kind = static[0]
    if kind == "plain":
        _, lin = jax.linearize(jax.grad(static[1]), params)
        return lin
    batches, weights = data
    if curvature == "hessian":
        fb = problems.batch_loss_fn(static)

        def mv(v):
            return _batch_sum(
                lambda b: jax.jvp(jax.grad(lambda q: fb(q, b)), (params,), (v,))[1], batches, weights, params
            )

        return mv
    _, apply, loss = static

    def mv_gn(v):
        return _batch_sum(lambda b: _gn_batch_matvec(curvature, apply, loss, params, b, v), batches, weights, params)

    return mv_gn


def tree_quadform(static, data, params, curvature: str = "hessian"):
    """``z ↦ zᵀCz`` (scalar) without forming ``Cz`` (see the module docstring)."""
    kind = static[0]
    if kind == "plain":
        return lambda z: _hess_quadform(static[1], params, z)
    batches, weights = data
    first = jax.tree_util.tree_map(lambda a: a[0], batches)
    if curvature == "hessian":
        fb = problems.batch_loss_fn(static)
        like = jax.eval_shape(fb, params, first)
        return lambda z: _batch_sum(lambda b: _hess_quadform(lambda q: fb(q, b), params, z), batches, weights, like)
    _, apply, loss = static
    like = jax.eval_shape(problems.batch_loss_fn(static), params, first)
    return lambda z: _batch_sum(
        lambda b: _gn_batch_quadform(curvature, apply, loss, params, b, z), batches, weights, like
    )
