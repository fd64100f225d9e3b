"""Curvature of the loss: Hessian-vector products, trace, top eigenvalues, spectral density.

All routines see the parameters as one flat vector ``θ ∈ ℝ^P`` (``jax.flatten_util.ravel_pytree``;
any pytree of float arrays works, e.g. ``fpjax.models`` params or a Flax ``variables["params"]``)
and the Hessian ``H = ∇²L(θ)`` only through products ``v ↦ Hv``:

* **HVP** by forward-over-reverse, ``Hv = ∂/∂ε ∇L(θ + εv) |_{ε=0}`` = ``jax.jvp(jax.grad(L), (θ,), (v,))``:
  one gradient evaluation plus its tangent, about 2-3× the cost of a gradient, never forming ``H``.
  Inside the estimators ``jax.linearize`` evaluates the primal part of ``∇L`` once and reuses it for
  every product.
* **Trace** by Hutchinson: ``tr H = E[zᵀHz]`` for Rademacher ``z`` (entries ±1), estimated by the mean
  of ``num_probes`` samples ``zᵢᵀHzᵢ``; its standard error is ``std(zᵢᵀHzᵢ, ddof=1)/√num_probes``.
  The quadratic forms need no ``Hz``: ``zᵀHz = d²/dε² L(θ + εz)`` by forward-over-forward ``jvp``
  (forward passes only, ~0.6x the cost of an HVP).
  (``Var zᵀHz = 2(‖H‖_F² − Σᵢ Hᵢᵢ²)`` for Rademacher probes, the lowest of any i.i.d. probe.)
* **Lanczos** with full reorthogonalization: ``V = [v₁ … v_m]`` orthonormal and ``VᵀHV = T`` tridiagonal
  (diagonal ``alphas``, off-diagonal ``betas``). After the three-term recurrence every new vector is
  Gram-Schmidt-orthogonalized against all previous ones, a second time when the first pass removed
  much of it (DGKS criterion), so ``T``'s eigenvalues (Ritz values) have no spurious copies; when
  the Krylov space is exhausted (``β = 0``, e.g. a ReLU net's exactly zero Hessian rows) the
  iteration restarts with ``β = 0`` from the coordinate vector least represented in ``span(V)``.
  Hence with ``num_iters = P`` the Ritz values are the eigenvalues of ``H`` up to rounding.
* **Deflated trace** (:func:`hessian_summary`, ``hutchinson_trace(..., deflate=d)``):
  ``tr H = Σⱼ αⱼ + tr(PHP)``, ``P = I − VᵀV``, the second term by Hutchinson on projected probes;
  trained networks' Hessians have a few outliers carrying most of the trace, which plain
  Hutchinson estimates with ~√(2/m) relative error and deflation removes.
* **Spectral density** by stochastic Lanczos quadrature (SLQ, Ubaru-Chen-Saad 2017; PyHessian):
  for probe ``v`` (unit norm) the ``m``-step Lanczos gives Ritz values ``θⱼ`` and eigenvectors ``sⱼ``
  of ``T``; ``vᵀ g(H) v ≈ Σⱼ τⱼ g(θⱼ)`` with ``τⱼ = sⱼ[0]²`` (Gauss quadrature, ``Σⱼ τⱼ = 1``). The density
  ``φ(t) = (1/P) Σᵢ δ(t − λᵢ)`` smoothed by a Gaussian of width ``σ`` is estimated by
  ``φ_σ(t) = (1/n_v) Σ_probes Σⱼ τⱼ N(t; θⱼ, σ²)``, which integrates to 1 over ℝ.
* **Dense** ``H`` (``jax.hessian`` of the flat loss) for small models, the exact reference.

Minibatch averaging (:func:`batched_loss`): for ``L(θ) = Σ_b w_b ℓ(θ; batch_b)`` (``w_b = 1/B`` by
default; equal-size batches that partition the data give exactly the full-data mean loss) every
HVP is accumulated over the batches in a ``lax.scan``, ``Hv = Σ_b w_b ∇²ℓ(θ; batch_b) v``, so the
working memory is that of one batch whatever the number of batches (the stacked data must fit).

Batch norm / dropout (Flax): measure the Hessian of the network as used at test time — batch
statistics frozen (``train=False`` / ``use_running_average=True``), dropout off — so the loss is a
deterministic function of the trainable parameters only::

    def loss_on_batch(params, batch):
        logits = model.apply({"params": params, "batch_stats": batch_stats}, batch["x"], train=False)
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()

    loss = batched_loss(loss_on_batch, {"x": x.reshape(B, -1, 32, 32, 3), "y": y.reshape(B, -1)})
    tr, se = hutchinson_trace(loss, variables["params"], key)

With :mod:`fpjax.cnn` models ``model.eval_fn(variables)`` is exactly this eval-mode ``f(params, x)``::

    f = model.eval_fn(variables)
    loss = batched_loss(lambda p, b: fpjax.train.ce(f(p, b[0]), b[1]), (xb, yb))  # xb: (B, n/B, H, W, C)
    s = hessian_summary(loss, variables["params"], key)   # trace, top eigenvalue, spectral norm

In train mode the loss would depend on the batch composition through the batch statistics and
``mutable=["batch_stats"]`` would change state at every call; that is not a fixed function of θ.

Every public function accepts a plain callable ``loss_fn(params) -> scalar`` (closing over its data)
or a :class:`BatchedLoss`. Plain callables are static arguments of ``jax.jit``: reuse the same
function object to hit the compilation cache. All routines also work under ``jax.vmap`` over
``params`` (a vmapped seed sweep) and in float64.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from fpjax._src import checks

__all__ = [
    "BatchedLoss", "batched_loss", "hvp", "hutchinson_trace", "lanczos", "top_eigenvalues",
    "slq_quadrature", "density_from_quadrature", "eigen_density", "plot_eigen_density",
    "dense_hessian", "dense_eigenvalues", "num_params", "hessian_summary", "HessianSummary",
]

PyTree = Any

# Probes per vmapped chunk (at most). On CPU a wide vmap mostly adds memory traffic: for 100 probes
# on 17k- and 132k-parameter MLPs (2 cores) 10 per chunk was fastest, 20 no better, 1 about 25%
# slower, and 100 per chunk 3x slower on the larger net. On accelerators a larger batch can pay
# off, so it is a parameter.
_DEFAULT_BATCH = 10


# ---------------------------------------------------------------------------------------------
# Losses: plain callables and minibatch averages
# ---------------------------------------------------------------------------------------------

@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class BatchedLoss:
    """``L(θ) = Σ_b weights[b] · loss_on_batch(θ, batch_b)`` over stacked minibatches.

    Attributes:
      loss_on_batch: ``(params, batch) -> scalar`` (static).
      batches: pytree of arrays with a common leading axis ``B`` (one entry per minibatch).
      weights: ``(B,)`` non-negative weights summing to 1 (``1/B`` each by default).

    Calling it evaluates the loss (a ``lax.scan``, memory of one batch). The hessian routines
    recognise it and accumulate HVPs batch by batch instead of differentiating through the scan
    (which would store every batch's activations).
    """

    loss_on_batch: Callable = dataclasses.field(metadata=dict(static=True))
    batches: PyTree
    weights: jax.Array

    def __call__(self, params: PyTree) -> jax.Array:
        def body(acc, bw):
            batch, w = bw
            return acc + w * self.loss_on_batch(params, batch), None
        first = jax.tree_util.tree_map(lambda a: a[0], self.batches)
        out = jax.eval_shape(self.loss_on_batch, params, first)
        total, _ = jax.lax.scan(body, jnp.zeros(out.shape, out.dtype), (self.batches, self.weights))
        return total


def batched_loss(loss_on_batch: Callable, batches: PyTree, weights=None) -> BatchedLoss:
    """Minibatch-averaged loss ``L(θ) = Σ_b w_b ℓ(θ; batch_b)`` for memory-bounded HVPs.

    Args:
      loss_on_batch: ``(params, batch) -> scalar`` mean loss on one minibatch. For Flax models with
        batch norm call ``apply(..., train=False)`` (running statistics) inside it.
      batches: pytree of arrays stacked along a leading batch axis ``B`` (e.g. ``x`` reshaped from
        ``(n, ...)`` to ``(B, n/B, ...)``). ``B`` must be the same for every leaf.
      weights: optional ``(B,)`` non-negative weights; normalized to sum to 1. Default ``1/B``: with
        equal-size batches partitioning the data this is the full-data mean loss. For unequal
        batches pass the batch sizes (padding is the caller's business).

    Returns:
      A :class:`BatchedLoss` (callable ``params -> scalar``; a pytree, so it can be passed into jit).
    """
    if not callable(loss_on_batch):
        raise TypeError(f"loss_on_batch must be callable (params, batch) -> scalar; "
                        f"got {type(loss_on_batch).__name__}")
    leaves = jax.tree_util.tree_leaves(batches)
    if not leaves:
        raise ValueError("batches must be a non-empty pytree of arrays with a leading batch axis")
    leaves = [checks.as_array(a, "batches leaf") for a in leaves]
    sizes = {a.shape[0] if a.ndim else None for a in leaves}
    if None in sizes or len(sizes) != 1:
        raise ValueError("every leaf of batches must have the same leading (batch) axis; got leading "
                         f"sizes {sorted(str(s) for s in sizes)}")
    n_b = sizes.pop()
    if n_b == 0:
        raise ValueError("batches must hold at least one minibatch; got a leading axis of size 0")
    for a in leaves:
        checks.check_finite(a, "batches")
    batches = jax.tree_util.tree_map(jnp.asarray, batches)
    if weights is None:
        w = jnp.full((n_b,), 1.0 / n_b)
    else:
        w = checks.as_array(weights, "weights")
        checks.check_ndim(w, "weights", 1, shape_hint="(number of batches,)")
        if w.shape[0] != n_b:
            raise ValueError(f"weights must have shape ({n_b},) (one per batch); got {tuple(w.shape)}")
        checks.check_finite(w, "weights")
        if checks.is_concrete(w):
            wn = np.asarray(w, dtype=float)
            if np.any(wn < 0) or wn.sum() <= 0:
                raise ValueError("weights must be >= 0 with a positive sum")
        w = w / jnp.sum(w)
    return BatchedLoss(loss_on_batch, batches, w)


def _split_loss(loss_fn):
    """``(static_part, traced_part)`` so that jit keys on the function and traces the data."""
    if isinstance(loss_fn, BatchedLoss):
        return (BatchedLoss, loss_fn.loss_on_batch), (loss_fn.batches, loss_fn.weights)
    return (None, loss_fn), None


def _flat_problem(static, data, params):
    """Flatten params; return ``(θ, unravel, loss_flat, matvec_factory)``.

    ``matvec_factory()`` returns ``v ↦ Hv`` on flat vectors. For a plain loss it linearizes ``∇L``
    once (primal pass shared by all products); for a :class:`BatchedLoss` it scans over batches with
    one forward-over-reverse product per batch (memory of one batch).
    """
    kind, fn = static
    theta, unravel = ravel_pytree(params)
    if kind is None:
        def loss_flat(t):
            return fn(unravel(t))

        def factory():
            _, lin = jax.linearize(jax.grad(loss_flat), theta)
            return lin
    else:
        batches, weights = data

        def loss_flat(t):
            return BatchedLoss(fn, batches, weights)(unravel(t))

        def factory():
            def mv(v):
                def body(acc, bw):
                    batch, w = bw
                    g = jax.grad(lambda t: fn(unravel(t), batch))
                    return acc + w * jax.jvp(g, (theta,), (v,))[1], None
                out, _ = jax.lax.scan(body, jnp.zeros_like(theta), (batches, weights.astype(theta.dtype)))
                return out
            return mv
    return theta, unravel, loss_flat, factory


def _tree_matvec(static, data, params):
    """``v ↦ Hv`` on pytrees shaped like ``params`` (the estimators' operator).

    Plain loss: ``jax.linearize`` of ``∇L`` once, so the primal pass is shared by all products.
    :class:`BatchedLoss`: a ``lax.scan`` over batches of forward-over-reverse products (memory of
    one batch). Vectors stay pytrees: flattening every product into one ``(P,)`` vector costs a
    concatenate and slices per product, measured at ~40% of an HVP for a 132k-parameter MLP on CPU.
    """
    kind, fn = static
    if kind is None:
        _, lin = jax.linearize(jax.grad(fn), params)
        return lin
    batches, weights = data

    def mv(v):
        def body(acc, bw):
            batch, w = bw
            hv = jax.jvp(jax.grad(lambda q: fn(q, batch)), (params,), (v,))[1]
            return jax.tree_util.tree_map(lambda a, h: a + w.astype(h.dtype) * h, acc, hv), None
        out, _ = jax.lax.scan(body, jax.tree_util.tree_map(jnp.zeros_like, params), (batches, weights))
        return out
    return mv


def _tree_quadform(static, data, params):
    """``z ↦ zᵀHz`` on pytrees, by forward-over-forward differentiation.

    ``zᵀHz = d²/dε² L(θ + εz)|₀`` = ``jvp(θ ↦ jvp(L, θ, z), θ, z)``: two tangent streams through the
    forward pass only. An HVP also runs the backward pass and builds the full ``P``-vector ``Hz``,
    which Hutchinson then reduces to one number; on CPU the quadratic form cost ~0.6x of an HVP
    for a 132k-parameter MLP. For a :class:`BatchedLoss` the per-batch forms are summed in a scan.
    """
    kind, fn = static

    def second(f, z):
        return jax.jvp(lambda q: jax.jvp(f, (q,), (z,))[1], (params,), (z,))[1]
    if kind is None:
        return lambda z: second(fn, z)
    batches, weights = data

    def qf(z):
        def body(acc, bw):
            batch, w = bw
            return acc + w * second(lambda q: fn(q, batch), z), None
        first = jax.tree_util.tree_map(lambda a: a[0], batches)
        out = jax.eval_shape(lambda: fn(params, first))
        total, _ = jax.lax.scan(body, jnp.zeros(out.shape, out.dtype), (batches, weights.astype(out.dtype)))
        return total
    return qf


def _tdot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def _flat_matvec(mv, unravel):
    """``v ↦ ravel(H unravel(v))`` on flat ``(P,)`` vectors, for the Lanczos basis."""
    return lambda v: ravel_pytree(mv(unravel(v)))[0]


def _unpack_signs(words, p: int, dtype):
    """±1 from the bits of ``uint32`` words ``(..., W)`` → ``(..., p)``, ``p <= 32 W``.

    ``jax.random.rademacher`` spends a 32-bit draw per entry; threefry on CPU costs ~25 ns per draw,
    which for P = 1.3e5 made probe generation slower than the HVP itself. Every bit of a
    ``jax.random.bits`` word is an independent fair coin, so this is the same distribution 32x cheaper.
    """
    b = (words[..., None] >> jnp.arange(32, dtype=jnp.uint32)) & jnp.uint32(1)
    b = b.reshape(words.shape[:-1] + (words.shape[-1] * 32,))[..., :p]
    return (1 - 2 * b.astype(jnp.int8)).astype(dtype)


def _rademacher(key, p: int, dtype):
    """``(p,)`` i.i.d. ±1 entries (one random bit each, one threefry call)."""
    return _unpack_signs(jax.random.bits(key, (-(-p // 32),), jnp.uint32), p, dtype)


def _probe_map(f, num_probes: int, batch: int):
    """``[f(i) for i < num_probes]`` stacked: ``batch`` indices vmapped at a time in a ``lax.map``.

    Probes are generated inside ``f`` from their index, so memory is ``batch`` probes and the
    values do not depend on ``batch``. A last partial chunk is padded (extra values dropped).
    """
    n_chunks = -(-num_probes // batch)
    idx = jnp.arange(n_chunks * batch, dtype=jnp.int32).reshape(n_chunks, batch)
    if n_chunks == 1:
        out = jax.vmap(f)(idx[0])
    else:
        out = jax.lax.map(jax.vmap(f), idx)
        out = jax.tree_util.tree_map(lambda a: a.reshape((n_chunks * batch,) + a.shape[2:]), out)
    return jax.tree_util.tree_map(lambda a: a[:num_probes], out)


def _default_batch(num_probes: int) -> int:
    """Largest divisor of ``num_probes`` that is ``<= _DEFAULT_BATCH`` (no padded, wasted probes)."""
    return max(b for b in range(1, min(num_probes, _DEFAULT_BATCH) + 1) if num_probes % b == 0)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

def _check_params(params, name="params") -> int:
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError(f"{name} must be a non-empty pytree of float arrays; got no array leaves")
    n = 0
    for leaf in leaves:
        if not hasattr(leaf, "dtype") or not hasattr(leaf, "shape"):
            leaf = checks.as_array(leaf, name)
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(f"{name} leaves must be floating-point arrays (the Hessian is taken with "
                            f"respect to them); got dtype {leaf.dtype}")
        n += int(np.prod(leaf.shape))
        checks.check_finite(leaf, name)
    if n == 0:
        raise ValueError(f"{name} must contain at least one parameter; got only empty arrays")
    return n


def _check_loss(loss_fn, params) -> None:
    """Raise unless ``loss_fn(params)`` is a real scalar (checked abstractly, no FLOPs)."""
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable params -> scalar (or a BatchedLoss); "
                        f"got {type(loss_fn).__name__}")
    out = jax.eval_shape(loss_fn, params)
    leaves = jax.tree_util.tree_leaves(out)
    if len(leaves) != 1 or not hasattr(leaves[0], "shape"):
        raise ValueError(f"loss_fn(params) must return a single scalar array; got {out}")
    o = leaves[0]
    if o.shape != ():
        raise ValueError(f"loss_fn(params) must return a scalar (shape ()); got shape {tuple(o.shape)}. "
                         "Reduce it first, e.g. with .mean() over the samples")
    if not jnp.issubdtype(o.dtype, jnp.floating):
        raise TypeError(f"loss_fn(params) must return a floating-point scalar; got dtype {o.dtype}")


def _prep(loss_fn, params):
    n = _check_params(params)
    _check_loss(loss_fn, params)
    return n


def num_params(params: PyTree) -> int:
    """Number of scalar parameters ``P`` (size of the flat vector the Hessian acts on)."""
    return _check_params(params)


# ---------------------------------------------------------------------------------------------
# Hessian-vector product
# ---------------------------------------------------------------------------------------------

@partial(jax.jit, static_argnums=0)
def _hvp_jit(static, data, params, v):
    kind, fn = static
    if kind is None:
        return jax.jvp(jax.grad(fn), (params,), (v,))[1]
    batches, weights = data

    def body(acc, bw):
        batch, w = bw
        hv = jax.jvp(jax.grad(lambda p: fn(p, batch)), (params,), (v,))[1]
        return jax.tree_util.tree_map(lambda a, h: a + w.astype(h.dtype) * h, acc, hv), None
    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    out, _ = jax.lax.scan(body, zero, (batches, weights))
    return out


def hvp(loss_fn: Callable, params: PyTree, v: PyTree) -> PyTree:
    """Hessian-vector product ``H v = ∇²L(θ) v`` by forward-over-reverse (jitted).

    ``H v = jax.jvp(jax.grad(L), (θ,), (v,))[1]``; for a :class:`BatchedLoss` the products of the
    minibatches are accumulated in a ``lax.scan``: ``Hv = Σ_b w_b ∇²ℓ_b v``.

    Args:
      loss_fn: ``params -> scalar`` or a :class:`BatchedLoss`.
      params: pytree of float arrays (θ).
      v: pytree with the same structure and leaf shapes as ``params``.

    Returns:
      ``Hv``, a pytree like ``params``.
    """
    _prep(loss_fn, params)
    s_p, s_v = jax.tree_util.tree_structure(params), jax.tree_util.tree_structure(v)
    if s_p != s_v:
        raise ValueError(f"v must have the same pytree structure as params; got {s_v} vs {s_p}")
    for lp, lv in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(v)):
        if jnp.shape(lp) != jnp.shape(lv):
            raise ValueError(f"v must have the same leaf shapes as params; got {jnp.shape(lv)} "
                             f"where params has {jnp.shape(lp)}")
        checks.check_finite(lv, "v")
    v = jax.tree_util.tree_map(lambda p, t: jnp.asarray(t, dtype=jnp.result_type(p)), params, v)
    static, data = _split_loss(loss_fn)
    return _hvp_jit(static, data, params, v)


# ---------------------------------------------------------------------------------------------
# Hutchinson trace
# ---------------------------------------------------------------------------------------------

def _hutchinson_tree(qf, params, key, num_probes: int, batch: int, V=None):
    """Mean and standard error of ``zᵢ'ᵀ H zᵢ'``, ``z' = (I − VᵀV) z`` (``z' = z`` without ``V``).

    ``qf``: ``z ↦ zᵀHz`` on pytrees. ``V``: ``(d, P)`` flat orthonormal rows (``ravel_pytree``
    order). Probe ``i`` is drawn from ``fold_in(key, i)``, so the values do not depend on ``batch``.
    """
    theta, unravel = ravel_pytree(params)

    def sample(i):
        z = _rademacher(jax.random.fold_in(key, i), theta.size, theta.dtype)
        if V is not None:
            z = z - V.T @ (V @ z)
        return qf(unravel(z))
    samples = _probe_map(sample, num_probes, batch)
    est = jnp.mean(samples)
    if num_probes > 1:
        se = jnp.std(samples, ddof=1) / math.sqrt(num_probes)
    else:
        se = jnp.array(jnp.nan, samples.dtype)
    return est, se


@partial(jax.jit, static_argnums=(0, 4, 5, 6))
def _hutchinson_jit(static, data, params, key, num_probes, batch, deflate):
    qf = _tree_quadform(static, data, params)
    if deflate == 0:
        return _hutchinson_tree(qf, params, key, num_probes, batch)
    k_lz, k_pr = jax.random.split(key)
    alphas, _, V = _lanczos_params(_tree_matvec(static, data, params), params, k_lz, deflate)
    est, se = _hutchinson_tree(qf, params, k_pr, num_probes, batch, V)
    return jnp.sum(alphas) + est, se


def hutchinson_trace(loss_fn: Callable, params: PyTree, key: jax.Array, num_probes: int = 100, *,
                     batch: int | None = None, deflate: int = 0):
    """Hutchinson estimate of ``tr ∇²L(θ)`` with Rademacher probes.

    ``tr H ≈ (1/m) Σᵢ zᵢᵀ H zᵢ``, ``zᵢ ∈ {−1, +1}^P`` i.i.d. uniform; standard error
    ``std(zᵢᵀHzᵢ, ddof=1)/√m`` (NaN when ``m = 1``). ``Var zᵀHz = 2(‖H‖_F² − Σᵢ Hᵢᵢ²)``: when a few
    outlier eigenvalues carry most of the trace (typical of trained networks) the relative error is
    about ``√(2/m)``, 14% for m = 100, whatever P.

    With ``deflate = d > 0`` (variance reduction in the spirit of Hutch++, Meyer et al. 2021, with a
    Krylov sketch): ``d`` Lanczos steps give an orthonormal ``V`` (``d × P``) spanning the dominant
    eigenvectors; then ``tr H = tr(VHVᵀ) + tr(PHP)``, ``P = I − VᵀV``, with ``tr(VHVᵀ) = Σⱼ αⱼ``
    exact and the remainder estimated by ``(1/m) Σᵢ (Pzᵢ)ᵀ H (Pzᵢ)`` — unbiased given ``V``, with
    the variance of the deflated matrix ``PHP`` (its outliers removed). The returned standard error
    is that of the remainder. Cost: ``d + m`` HVPs.

    Args:
      loss_fn: ``params -> scalar`` or a :class:`BatchedLoss`.
      params: pytree of float arrays.
      key: PRNG key for the probes (and the Lanczos start vector when deflating).
      num_probes: number of probes ``m >= 1``.
      batch: probes per vmapped chunk (default: the largest divisor of ``num_probes`` up to 8;
        chunks run sequentially in one jitted ``lax.map``, so memory ∝ ``batch``). The estimate
        does not depend on ``batch``.
      deflate: Lanczos steps to deflate, ``0 <= deflate <= P`` (0: plain Hutchinson).

    Returns:
      ``(estimate, standard_error)``, two scalars in the params' dtype.
    """
    p = _prep(loss_fn, params)
    checks.check_key(key)
    num_probes = checks.check_positive_int(num_probes, "num_probes")
    batch = _default_batch(num_probes) if batch is None else min(checks.check_positive_int(batch, "batch"), num_probes)
    deflate = checks.check_positive_int(deflate, "deflate", minimum=0)
    if deflate > p:
        raise ValueError(f"deflate must be <= the number of parameters ({p}); got {deflate}")
    static, data = _split_loss(loss_fn)
    return _hutchinson_jit(static, data, params, key, num_probes, batch, deflate)


# ---------------------------------------------------------------------------------------------
# Lanczos
# ---------------------------------------------------------------------------------------------

def _lanczos_flat(mv, v0, num_iters: int):
    """Lanczos with full reorthogonalization on flat ``(P,)`` vectors.

    Returns ``(alphas (m,), betas (m-1,), V (m, P))`` with orthonormal rows ``V`` and
    ``V H Vᵀ = tridiag(betas, alphas, betas)`` up to rounding.

    Each step: ``w = H v_j − α_j v_j − β_{j−1} v_{j−1}`` (three-term recurrence), one classical
    Gram-Schmidt pass against all of ``V`` and a second pass only when the first removed more than
    ~30% of ``w`` (DGKS criterion, as in ARPACK), so ``V`` stays orthonormal to working precision.
    (The basis is one matrix rather than a pytree: per-leaf products made the loop compile twice
    as slowly; the flatten/unflatten of one vector per step costs little next to the HVP.)
    """
    p = v0.shape[0]
    dt = v0.dtype
    m = num_iters
    eps = float(jnp.finfo(dt).eps)
    v0 = v0 / jnp.linalg.norm(v0)
    # V has m + 1 rows: the last holds the (unused) next vector so the loop body is uniform. Rows not
    # yet filled are zero and drop out of the Gram-Schmidt products.
    V = jnp.zeros((m + 1, p), dt).at[0].set(v0)

    def gs(V, w):
        return w - V.T @ (V @ w)

    def restart(V, colsq):
        # Krylov space exhausted: continue from the coordinate vector e_i least represented in span(V)
        # (smallest Σ_j V_ji²; its orthogonal part has norm² ≥ 1 − (j+1)/P > 0), orthogonalized twice.
        i = jnp.argmin(colsq)
        r = gs(V, (-(V.T @ V[:, i])).at[i].add(1.0))
        nr = jnp.linalg.norm(r)
        return jnp.where(nr > 0, r / jnp.where(nr > 0, nr, 1), 0)

    def body(j, state):
        V, alphas, betas, hnorm, colsq = state
        v = V[j]
        w = mv(v)
        hnorm = jnp.maximum(hnorm, jnp.linalg.norm(w))
        alpha = jnp.vdot(v, w)
        beta_prev = jnp.where(j > 0, betas[j - 1], 0)
        w = w - alpha * v - beta_prev * V[j - 1]  # V[-1] is the zero row m when j = 0
        n0 = jnp.linalg.norm(w)
        w = gs(V, w)
        w = jax.lax.cond(jnp.linalg.norm(w) < 0.7 * n0, lambda u: gs(V, u), lambda u: u, w)
        beta = jnp.linalg.norm(w)
        # Breakdown (invariant subspace reached, β = 0 up to rounding): restart with β = 0, so T is
        # block-diagonal and every block's eigenvalues are eigenvalues of H.
        broke = beta <= eps * math.sqrt(p) * hnorm
        vnext = jax.lax.cond(broke, lambda: restart(V, colsq), lambda: w / jnp.where(broke, 1, beta))
        beta = jnp.where(broke, 0, beta)
        V = V.at[j + 1].set(vnext)
        return V, alphas.at[j].set(alpha), betas.at[j].set(beta), hnorm, colsq + vnext * vnext

    state = (V, jnp.zeros((m,), dt), jnp.zeros((m,), dt), jnp.zeros((), dt), v0 * v0)
    V, alphas, betas, _, _ = jax.lax.fori_loop(0, m, body, state)
    return alphas, betas[: m - 1], V[:m]


def _lanczos_params(mv, params, key, num_iters: int):
    """Lanczos on the parameters' flat space from a random-sign start vector drawn from ``key``."""
    theta, unravel = ravel_pytree(params)
    v0 = _rademacher(key, theta.size, theta.dtype)
    return _lanczos_flat(_flat_matvec(mv, unravel), v0, num_iters)


def _tridiag(alphas, betas):
    return jnp.diag(alphas) + jnp.diag(betas, 1) + jnp.diag(betas, -1)


@partial(jax.jit, static_argnums=(0, 4, 5))
def _lanczos_jit(static, data, params, key, num_iters, return_vectors):
    a, b, V = _lanczos_params(_tree_matvec(static, data, params), params, key, num_iters)
    if return_vectors:
        return a, b, V
    return a, b


def lanczos(loss_fn: Callable, params: PyTree, key: jax.Array, num_iters: int, *,
            return_vectors: bool = False):
    """``num_iters``-step Lanczos tridiagonalization of ``H = ∇²L(θ)`` with full reorthogonalization.

    Start vector: random signs (from ``key``), normalized. ``T = tridiag(betas, alphas, betas)``
    satisfies ``T = V H Vᵀ`` with orthonormal rows ``V``; its eigenvalues (Ritz values) approximate
    the extreme eigenvalues of ``H`` first, and equal all of them when ``num_iters = P``.
    Memory ``O(num_iters · P)`` (the basis is kept for reorthogonalization).

    Args:
      loss_fn: ``params -> scalar`` or a :class:`BatchedLoss`.
      params: pytree of float arrays, ``P`` scalars in total.
      key: PRNG key for the start vector.
      num_iters: ``1 <= num_iters <= P``.
      return_vectors: also return the Lanczos basis ``V`` of shape ``(num_iters, P)`` (flat
        vectors; map back with ``ravel_pytree(params)[1]``).

    Returns:
      ``(alphas (num_iters,), betas (num_iters - 1,))`` [``, V``].
    """
    p = _prep(loss_fn, params)
    checks.check_key(key)
    num_iters = checks.check_positive_int(num_iters, "num_iters")
    if num_iters > p:
        raise ValueError(f"num_iters must be <= the number of parameters ({p}); got {num_iters}")
    static, data = _split_loss(loss_fn)
    return _lanczos_jit(static, data, params, key, num_iters, bool(return_vectors))


@partial(jax.jit, static_argnums=(0, 4, 5, 6))
def _top_jit(static, data, params, key, k, num_iters, which):
    a, b = _lanczos_jit(static, data, params, key, num_iters, False)
    ritz = jnp.linalg.eigvalsh(_tridiag(a, b))
    if which == "LM":
        order = jnp.argsort(-jnp.abs(ritz))
        return ritz[order[:k]]
    return ritz[::-1][:k]


def top_eigenvalues(loss_fn: Callable, params: PyTree, key: jax.Array, k: int = 5,
                    num_iters: int | None = None, *, which: str = "LA"):
    """The ``k`` largest eigenvalues of ``∇²L(θ)`` by Lanczos (full reorthogonalization).

    Ritz values of the ``num_iters``-step tridiagonal ``T`` (see :func:`lanczos`), descending.
    Extreme eigenvalues converge first (error ∝ a Chebyshev polynomial of the gap), so a few tens of
    iterations suffice for well-separated top eigenvalues; ``num_iters = P`` is exact.

    Args:
      loss_fn: ``params -> scalar`` or a :class:`BatchedLoss`.
      params: pytree of float arrays (``P`` scalars).
      key: PRNG key.
      k: number of eigenvalues, ``1 <= k <= P``.
      num_iters: Lanczos steps, ``k <= num_iters <= P``; default ``min(P, max(4k, 40))``.
      which: ``"LA"`` largest algebraic (default) or ``"LM"`` largest magnitude (the spectral norm
        is ``abs(top_eigenvalues(..., k=1, which="LM"))``).

    Returns:
      ``(k,)`` eigenvalues, descending (``"LA"``) or by descending magnitude (``"LM"``).
    """
    p = _prep(loss_fn, params)
    checks.check_key(key)
    k = checks.check_positive_int(k, "k")
    which = checks.check_choice(which, "which", ("LA", "LM"))
    if k > p:
        raise ValueError(f"k must be <= the number of parameters ({p}); got k={k}")
    if num_iters is None:
        num_iters = min(p, max(4 * k, 40))
    num_iters = checks.check_positive_int(num_iters, "num_iters")
    if num_iters > p:
        raise ValueError(f"num_iters must be <= the number of parameters ({p}); got {num_iters}")
    if num_iters < k:
        raise ValueError(f"num_iters must be >= k ({k}) to give k Ritz values; got {num_iters}")
    static, data = _split_loss(loss_fn)
    return _top_jit(static, data, params, key, k, num_iters, which)


class HessianSummary(NamedTuple):
    """Output of :func:`hessian_summary` (scalars / ``(k,)`` in the params' dtype).

    trace, trace_se: deflated Hutchinson estimate of ``tr H`` and its standard error.
    top_eigenvalues: ``(k,)`` largest Ritz values, descending.
    spectral_norm: ``max |θⱼ|`` over the Ritz values (``‖H‖₂`` once both ends have converged).
    ritz_values, ritz_weights: ``(num_iters,)`` all Ritz values ``θⱼ`` (ascending) and their Gauss
      quadrature weights ``τⱼ = sⱼ[0]²``. The Lanczos start vector is random signs, so this is one
      stochastic-Lanczos-quadrature sample of the spectral density: pass
      ``ritz_values[None], ritz_weights[None]`` to :func:`density_from_quadrature`.
    """

    trace: jax.Array
    trace_se: jax.Array
    top_eigenvalues: jax.Array
    spectral_norm: jax.Array
    ritz_values: jax.Array
    ritz_weights: jax.Array


@partial(jax.jit, static_argnums=(0, 4, 5, 6, 7))
def _summary_jit(static, data, params, key, num_probes, num_iters, k, batch):
    mv = _tree_matvec(static, data, params)
    k_lz, k_pr = jax.random.split(key)
    alphas, betas, V = _lanczos_params(mv, params, k_lz, num_iters)
    ritz, vecs = jnp.linalg.eigh(_tridiag(alphas, betas))
    est, se = _hutchinson_tree(_tree_quadform(static, data, params), params, k_pr, num_probes, batch, V)
    return HessianSummary(jnp.sum(alphas) + est, se, ritz[::-1][:k], jnp.max(jnp.abs(ritz)), ritz, vecs[0] ** 2)


def hessian_summary(loss_fn: Callable, params: PyTree, key: jax.Array, num_probes: int = 100,
                    num_iters: int = 20, k: int = 1, *, batch: int | None = None) -> HessianSummary:
    """Trace, top eigenvalues and spectral norm of ``∇²L(θ)`` from one Lanczos run plus probes.

    ``num_iters`` Lanczos steps (full reorthogonalization) give the Ritz values (top ``k`` and the
    spectral norm) and the basis ``V`` that deflates the Hutchinson estimate of the trace
    (see :func:`hutchinson_trace` with ``deflate``): ``tr H ≈ Σⱼ αⱼ + mean_i (Pzᵢ)ᵀH(Pzᵢ)``.
    Cost: ``num_iters + num_probes`` HVPs, the budget of a PyHessian ``trace()`` plus
    ``eigenvalues()`` with as many power iterations.

    Args:
      loss_fn, params, key: as in :func:`hutchinson_trace`.
      num_probes: Hutchinson probes ``>= 1``.
      num_iters: Lanczos steps, ``max(k, 1) <= num_iters <= P``.
      k: number of top eigenvalues.
      batch: probes per vmapped chunk (default as in :func:`hutchinson_trace`).
    """
    p = _prep(loss_fn, params)
    checks.check_key(key)
    num_probes = checks.check_positive_int(num_probes, "num_probes")
    num_iters = checks.check_positive_int(num_iters, "num_iters")
    k = checks.check_positive_int(k, "k")
    if k > p:
        raise ValueError(f"k must be <= the number of parameters ({p}); got k={k}")
    if num_iters > p:
        raise ValueError(f"num_iters must be <= the number of parameters ({p}); got {num_iters}")
    if num_iters < k:
        raise ValueError(f"num_iters must be >= k ({k}) to give k Ritz values; got {num_iters}")
    batch = _default_batch(num_probes) if batch is None else min(checks.check_positive_int(batch, "batch"), num_probes)
    static, data = _split_loss(loss_fn)
    return _summary_jit(static, data, params, key, num_probes, num_iters, k, batch)


# ---------------------------------------------------------------------------------------------
# Stochastic Lanczos quadrature
# ---------------------------------------------------------------------------------------------

@partial(jax.jit, static_argnums=(0, 4, 5, 6))
def _slq_jit(static, data, params, key, num_probes, num_iters, batch):
    mv = _tree_matvec(static, data, params)

    def one(i):
        # Rademacher start vector, normalized: E[v vᵀ] = I/P, so E[vᵀ g(H) v] = tr g(H) / P.
        a, b, _ = _lanczos_params(mv, params, jax.random.fold_in(key, i), num_iters)
        theta_j, s = jnp.linalg.eigh(_tridiag(a, b))
        return theta_j, s[0] ** 2

    return _probe_map(one, num_probes, batch)


def slq_quadrature(loss_fn: Callable, params: PyTree, key: jax.Array, num_probes: int = 10,
                   num_iters: int = 80, *, batch: int | None = None):
    """Stochastic Lanczos quadrature nodes and weights of the Hessian's spectral measure.

    For each of ``num_probes`` Rademacher probes ``v`` (normalized), ``num_iters`` Lanczos steps give
    ``T = S diag(θ) Sᵀ``; nodes ``θⱼ`` and weights ``τⱼ = S[0, j]²`` (``Σⱼ τⱼ = 1``) so that
    ``(1/P) tr g(H) ≈ mean_probes Σⱼ τⱼ g(θⱼ)``. Probes are vmapped ``batch`` at a time
    (default: all; memory ``batch · num_iters · P``).

    Returns:
      ``(nodes, weights)``, both ``(num_probes, num_iters)``.
    """
    p = _prep(loss_fn, params)
    checks.check_key(key)
    num_probes = checks.check_positive_int(num_probes, "num_probes")
    num_iters = checks.check_positive_int(num_iters, "num_iters")
    if num_iters > p:
        raise ValueError(f"num_iters must be <= the number of parameters ({p}); got {num_iters}")
    batch = _default_batch(num_probes) if batch is None else min(checks.check_positive_int(batch, "batch"), num_probes)
    static, data = _split_loss(loss_fn)
    return _slq_jit(static, data, params, key, num_probes, num_iters, batch)


@jax.jit
def _density_jit(nodes, weights, grid, sigma):
    z = (grid[:, None, None] - nodes[None]) / sigma
    g = jnp.exp(-0.5 * z * z) / (sigma * math.sqrt(2 * math.pi))
    return jnp.sum(g * weights[None], axis=(1, 2)) / nodes.shape[0]


def density_from_quadrature(nodes, weights, grid, sigma: float):
    """Gaussian-broadened density ``φ_σ(t) = (1/n_v) Σ_probes Σⱼ τⱼ N(t; θⱼ, σ²)`` on ``grid``.

    Args:
      nodes, weights: ``(n_v, m)`` from :func:`slq_quadrature` (or exact eigenvalues ``(1, P)``
        with weights ``1/P``).
      grid: ``(G,)`` evaluation points.
      sigma: broadening ``σ > 0`` in eigenvalue units.

    Returns:
      ``(G,)`` density values; ``∫φ_σ = Σ τ / n_v = 1`` over ℝ.
    """
    nodes = checks.as_array(nodes, "nodes")
    weights = checks.as_array(weights, "weights")
    checks.check_ndim(nodes, "nodes", 2, shape_hint="(num_probes, num_iters)")
    if weights.shape != nodes.shape:
        raise ValueError(f"weights must have the shape of nodes {tuple(nodes.shape)}; got {tuple(weights.shape)}")
    grid = checks.as_array(grid, "grid")
    checks.check_ndim(grid, "grid", 1, shape_hint="(G,)")
    checks.check_finite(grid, "grid")
    sigma = checks.check_positive(sigma, "sigma")
    dt = jnp.result_type(nodes.dtype, grid.dtype, jnp.float32)
    return _density_jit(nodes.astype(dt), weights.astype(dt), grid.astype(dt), jnp.asarray(sigma, dt))


def eigen_density(loss_fn: Callable, params: PyTree, key: jax.Array, num_probes: int = 10,
                  num_iters: int = 80, grid: int | Any = 1000, sigma: float | None = None, *,
                  batch: int | None = None):
    """Hessian eigenvalue density by SLQ, Gaussian-broadened.

    ``φ_σ(t) = (1/n_v) Σ_probes Σⱼ τⱼ exp(−(t−θⱼ)²/(2σ²))/(σ√(2π))`` (see :func:`slq_quadrature`).

    Args:
      loss_fn, params, key: as in :func:`hutchinson_trace`.
      num_probes: SLQ probes ``n_v >= 1``.
      num_iters: Lanczos steps per probe, ``1 <= num_iters <= P`` (capped at ``P``).
      grid: number of grid points (the grid then spans ``[min θ − 6σ, max θ + 6σ]`` so that the
        returned density integrates to 1 up to the Gaussian tails, < 1e-8, and the trapezoid
        error), or a ``(G,)`` array of points (mass outside it is not shown).
      sigma: Gaussian broadening in eigenvalue units; default ``1%`` of the Ritz-value span
        (``max θ − min θ``; 1e-3 if the span is 0).

    Returns:
      ``(grid (G,), density (G,))``.
    """
    p = _prep(loss_fn, params)
    num_iters = min(checks.check_positive_int(num_iters, "num_iters"), p)
    if sigma is not None:
        sigma = checks.check_positive(sigma, "sigma")
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        n_grid = checks.check_positive_int(grid, "grid", minimum=2)
        grid_arr = None
    else:
        grid_arr = checks.as_array(grid, "grid")
        checks.check_ndim(grid_arr, "grid", 1, shape_hint="(G,) or an int number of points")
        checks.check_finite(grid_arr, "grid")
    nodes, weights = slq_quadrature(loss_fn, params, key, num_probes, num_iters, batch=batch)
    lo, hi = jnp.min(nodes), jnp.max(nodes)
    if sigma is None:
        span = hi - lo
        sigma_v = jnp.where(span > 0, 0.01 * span, 1e-3)
    else:
        sigma_v = jnp.asarray(sigma, nodes.dtype)
    if grid_arr is None:
        grid_arr = jnp.linspace(lo - 6 * sigma_v, hi + 6 * sigma_v, n_grid, dtype=nodes.dtype)
    dt = jnp.result_type(nodes.dtype, grid_arr.dtype)
    dens = _density_jit(nodes.astype(dt), weights.astype(dt), grid_arr.astype(dt), sigma_v.astype(dt))
    return grid_arr, dens


def plot_eigen_density(grid, density, *, ax=None, log: bool = True, label: str | None = None,
                       floor: float = 1e-8, **plot_kwargs):
    """Plot a Hessian eigenvalue density; return the matplotlib ``Figure``.

    Args:
      grid, density: ``(G,)`` arrays from :func:`eigen_density`.
      ax: existing axes to draw into (default: a new figure).
      log: log-scale density axis (the usual view: a huge spike at 0 and a sparse outlier bulk);
        values are clipped below at ``floor``.
      label: legend label.
    """
    import matplotlib
    import matplotlib.pyplot as plt
    grid = np.asarray(grid)
    density = np.asarray(density)
    if grid.ndim != 1 or density.shape != grid.shape:
        raise ValueError(f"grid and density must be 1-D of equal length; got {grid.shape}, {density.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    else:
        if not isinstance(ax, matplotlib.axes.Axes):
            raise TypeError(f"ax must be a matplotlib Axes; got {type(ax).__name__}")
        fig = ax.figure
    y = np.maximum(density, floor) if log else density
    ax.plot(grid, y, label=label, **plot_kwargs)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    if label is not None:
        ax.legend()
    return fig


# ---------------------------------------------------------------------------------------------
# Dense Hessian (small models)
# ---------------------------------------------------------------------------------------------

@partial(jax.jit, static_argnums=(0, 3))
def _dense_jit(static, data, params, chunk):
    theta, _, loss_flat, factory = _flat_problem(static, data, params)
    p = theta.size
    if static[0] is None and chunk >= p:
        return jax.hessian(loss_flat)(theta)
    # columns H e_i, chunk at a time, for large P / batched losses: memory chunk · (activations)
    # instead of P · (activations); the unit vectors are made inside the loop, not as an identity
    mv = factory()
    cols = _probe_map(lambda i: mv(jax.nn.one_hot(i, p, dtype=theta.dtype)), p, chunk)
    return 0.5 * (cols + cols.T)


def dense_hessian(loss_fn: Callable, params: PyTree, *, max_params: int = 20_000,
                  chunk: int | None = None) -> jax.Array:
    """The full Hessian ``∇²L(θ)`` of the flattened parameters, ``(P, P)``.

    ``jax.hessian`` of ``θ ↦ L(unravel(θ))`` (``ravel_pytree`` order) when ``chunk >= P`` (default
    for ``P <= 2048``); otherwise (and for a :class:`BatchedLoss`) the columns ``H e_i`` are built
    ``chunk`` at a time by HVPs (default 256) and the result symmetrized, which bounds the memory of
    the intermediate activations. Refuses ``P > max_params`` (the matrix needs ``P² · itemsize``
    bytes).
    """
    p = _prep(loss_fn, params)
    max_params = checks.check_positive_int(max_params, "max_params")
    if p > max_params:
        raise ValueError(f"dense_hessian needs a {p}x{p} matrix ({p * p * 8 / 2**30:.1f} GiB in "
                         f"float64); P={p} exceeds max_params={max_params}. Use hutchinson_trace / "
                         "top_eigenvalues / eigen_density instead, or raise max_params")
    if chunk is None:
        chunk = p if (p <= 2048 and not isinstance(loss_fn, BatchedLoss)) else min(p, 256)
    chunk = checks.check_positive_int(chunk, "chunk")
    static, data = _split_loss(loss_fn)
    return _dense_jit(static, data, params, min(chunk, p))


def dense_eigenvalues(loss_fn: Callable, params: PyTree, **kwargs) -> jax.Array:
    """All eigenvalues of the dense Hessian, ascending, ``(P,)`` (``eigvalsh`` of :func:`dense_hessian`)."""
    return jnp.linalg.eigvalsh(dense_hessian(loss_fn, params, **kwargs))
