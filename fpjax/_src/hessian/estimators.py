"""Estimators on a curvature matrix ``C`` (Hessian, Gauss-Newton, Fisher) seen through products.

* **Trace** by Hutchinson: ``tr C = E[zᵀCz]`` for Rademacher ``z``; standard error
  ``std(zᵢᵀCzᵢ, ddof=1)/√m``; ``Var zᵀCz = 2(‖C‖_F² − Σᵢ Cᵢᵢ²)``, the lowest of any i.i.d. probe
  (Hutchinson 1990, doi:10.1080/03610919008812866). With ``deflate = d``: ``tr C = Σⱼ αⱼ + tr(PCP)``,
  ``P = I − VᵀV`` from ``d`` Lanczos steps, the remainder by Hutchinson (in the spirit of Hutch++,
  Meyer et al. 2021, arXiv:2010.09649).
* **Extreme eigenvalues** by Lanczos (:func:`~fpjax.hessian.lanczos_tridiag`): Ritz values of
  ``T = V C Vᵀ``; ``num_iters = P`` is exact.
* **Spectral density** by stochastic Lanczos quadrature (Ubaru, Chen, Saad 2017,
  doi:10.1137/16M1104974; Ghorbani, Krishnan, Xiao 2019, arXiv:1901.10159): per normalized
  Rademacher probe, Ritz values ``θⱼ`` and weights ``τⱼ = sⱼ[0]²``, ``(1/P) tr g(C) ≈ mean Σⱼ τⱼ g(θⱼ)``;
  ``φ_σ(t) = (1/n_v) Σ Σⱼ τⱼ N(t; θⱼ, σ²)``.
* **Dense** ``C`` for small models, the exact reference.

All estimators take ``loss_fn`` (a callable ``params -> scalar``, a
:class:`~fpjax.hessian.BatchedLoss` or a :class:`~fpjax.hessian.ModelLoss`), ``params`` (any pytree
of float arrays, seen as one flat vector ``θ ∈ ℝ^P`` in ``ravel_pytree`` order), the keyword-only
PRNG ``key`` and ``curvature = "hessian" | "ggn" | "fisher" | "empirical_fisher"`` (the last three
need a ``ModelLoss``). Plain callables are static arguments of ``jax.jit``: reuse the same function
object to hit the compilation cache. All work under ``jax.vmap`` over ``params`` and in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from fpjax._src import checks, krylov
from fpjax._src.array_types import ArrayLike, PyTree
from fpjax._src.hessian import operators, problems
from fpjax._src.krylov import Eigenpairs, LanczosResult, Quadrature, TraceEstimate, tridiag

_NAN_PARAMS = "params contain NaN/Inf values: the curvature at a non-finite point is undefined"


def _finite(out_and_bad):
    """The output of a jitted estimator, ``(out, bad)``, failing (policy of :func:`checks.error_if`)
    when the parameters held NaN/Inf: eagerly a ``ValueError``, traced a failing program."""
    out, bad = out_and_bad
    return checks.error_if(out, bad, _NAN_PARAMS)


def _itemsize(params) -> int:
    return max(jnp.result_type(a).itemsize for a in jax.tree_util.tree_leaves(params))


def _batch(batch_size, num, p, itemsize):
    if batch_size is None:
        batch_size = krylov.default_batch_size(num)
    batch_size = min(checks.check_positive_int(batch_size, "batch_size"), num)
    nbytes = batch_size * p * itemsize * 2
    checks.check_memory(nbytes, "batch_size", f"{batch_size} probes of {p} parameters ({nbytes:,} bytes)")
    return batch_size


def _check_iters(num_iters, p, k=None, name="num_iters", *, itemsize=8, copies=1):
    num_iters = checks.check_positive_int(num_iters, name)
    if num_iters > p:
        raise ValueError(f"{name} must be <= the number of parameters ({p}); got {num_iters}")
    if k is not None and num_iters < k:
        raise ValueError(f"{name} must be >= k ({k}) to give k Ritz values; got {num_iters}")
    krylov.check_basis_memory(num_iters, p, itemsize, name, copies)
    return num_iters


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------


@partial(jax.jit, static_argnums=(0, 4))
def _cvp_jit(static, data, params, v, curvature):
    # Checks run while tracing (shapes and structures are static), so a cached call pays nothing.
    problems.check_params(params)
    problems.check_loss_output(jax.eval_shape(problems.rebuild_loss(static, data), params))
    lp, s_p = jax.tree_util.tree_flatten(params)
    lv, s_v = jax.tree_util.tree_flatten(v)
    if s_p != s_v:
        raise ValueError(f"v must have the same pytree structure as params; got {s_v} vs {s_p}")
    for a, b in zip(lp, lv):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                f"v must have the same leaf shapes as params; got {jnp.shape(b)} where params has {jnp.shape(a)}"
            )
    v = jax.tree_util.tree_map(lambda a, b: jnp.asarray(b, a.dtype), params, v)
    if static[0] == "plain":
        return jax.jvp(jax.grad(static[1]), (params,), (v,))[1]
    return operators.tree_matvec(static, data, params, curvature)(v)


def hvp(loss_fn: Callable, params: PyTree, v: PyTree, *, curvature: str = "hessian") -> PyTree:
    """Curvature-vector product ``C v``, by default the Hessian's ``∇²L(θ) v`` (jitted).

    Hessian: forward-over-reverse ``jax.jvp(jax.grad(L), (θ,), (v,))[1]``; Gauss-Newton / Fisher:
    ``Jᵀ Λ J v`` (see :func:`ggn_vp`). For a batched loss the minibatch products are accumulated in
    a ``lax.scan``, ``Cv = Σ_b w_b C_b v``. Input checks (tree structure, shapes, dtypes, the loss's
    scalar output) run when the product is traced for new shapes, so a repeated call costs what the
    jitted product costs (no per-call checks, no host copies).

    Args:
      loss_fn: ``params -> scalar``, a :class:`BatchedLoss` or a :class:`ModelLoss`.
      params: pytree of float arrays (θ).
      v: pytree with the structure and leaf shapes of ``params``.
      curvature: ``"hessian" | "ggn" | "fisher" | "empirical_fisher"``.

    Returns:
      ``Cv``, a pytree like ``params``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.hessian import hvp
      >>> hvp(lambda p: jnp.sum(p ** 3) / 6, jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0]))
      Array([1., 2.], dtype=float32)

    References:
      Pearlmutter 1994, doi:10.1162/neco.1994.6.1.147.
    """
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be callable params -> scalar (or a BatchedLoss / ModelLoss); got {type(loss_fn).__name__}"
        )
    if curvature != "hessian":
        problems.check_problem(loss_fn, params, curvature)
    static, data = problems.split_loss(loss_fn)
    return _cvp_jit(static, data, params, v, curvature)


def ggn_vp(loss_fn: problems.ModelLoss, params: PyTree, v: PyTree) -> PyTree:
    """Gauss-Newton-vector product ``G v = Jᵀ H_out J v`` (Schraudolph 2002).

    ``J = ∂f/∂θ`` of the model outputs, ``H_out = ∂²L/∂f²`` of the loss on the outputs. ``G ⪰ 0`` for
    convex losses (mse, bce, ce) and equals the Hessian minus ``Σ (∂L/∂f)·∂²f/∂θ²``.

    Args:
      loss_fn: a :class:`ModelLoss` (:func:`model_loss`).
      params, v: as in :func:`hvp`.

    Returns:
      ``Gv``, a pytree like ``params``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.hessian import ggn_vp, model_loss
      >>> x = jnp.array([[1.0], [2.0]])
      >>> L = model_loss(lambda p, x: x * p, x, jnp.zeros((2, 1)))   # G = mean(x²) = 2.5
      >>> ggn_vp(L, jnp.array(1.0), jnp.array(1.0))
      Array(2.5, dtype=float32)

    References:
      Schraudolph 2002, doi:10.1162/08997660260028683; Martens 2020, arXiv:1412.1193.
    """
    return hvp(loss_fn, params, v, curvature="ggn")


def fisher_vp(loss_fn: problems.ModelLoss, params: PyTree, v: PyTree, *, empirical: bool = False) -> PyTree:
    """Fisher-vector product: true ``F v = Jᵀ Λ J v`` or empirical ``F̂ v = (1/n) Σᵢ gᵢ gᵢᵀ v``.

    True Fisher: ``Λ`` the covariance of the output score under the model's own predictive
    distribution (closed form for mse/bce/ce; equal to the Gauss-Newton matrix for these losses).
    Empirical Fisher: per-sample gradients ``gᵢ = ∇_θ ℓ(f(θ, xᵢ), yᵢ)`` at the observed labels
    (not a curvature approximation in general, Kunstner et al. 2019).

    Args:
      loss_fn: a :class:`ModelLoss` (``loss`` a name for the true Fisher).
      params, v: as in :func:`hvp`.
      empirical: the empirical instead of the true Fisher.

    Returns:
      ``Fv``, a pytree like ``params``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.hessian import fisher_vp, model_loss
      >>> x = jnp.array([[1.0], [2.0]])
      >>> L = model_loss(lambda p, x: x * p, x, jnp.zeros((2, 1)))
      >>> fisher_vp(L, jnp.array(1.0), jnp.array(1.0))             # = G for mse
      Array(2.5, dtype=float32)
      >>> fisher_vp(L, jnp.array(1.0), jnp.array(1.0), empirical=True)   # mean((x·x)²) = 8.5
      Array(8.5, dtype=float32)

    References:
      Amari 1998, doi:10.1162/089976698300017746; Kunstner, Balles, Hennig 2019, arXiv:1905.12558.
    """
    return hvp(loss_fn, params, v, curvature="empirical_fisher" if empirical else "fisher")


# ---------------------------------------------------------------------------------------------
# Hutchinson trace
# ---------------------------------------------------------------------------------------------


@partial(jax.jit, static_argnums=(0, 4, 5, 6, 7))
def _hutchinson_jit(static, data, params, key, num_probes, batch_size, deflate, curvature):
    bad = problems.params_bad(params)
    qf = operators.tree_quadform(static, data, params, curvature)
    if deflate == 0:
        return krylov.hutchinson_tree(qf, params, key, num_probes, batch_size), bad
    k_lz, k_pr = jax.random.split(key)
    alphas, _, V = krylov.lanczos_tree(operators.tree_matvec(static, data, params, curvature), params, k_lz, deflate)
    est, se = krylov.hutchinson_tree(qf, params, k_pr, num_probes, batch_size, V)
    return TraceEstimate(jnp.sum(alphas) + est, se), bad


@checks.renamed_keyword(batch="batch_size")
def hutchinson_trace(
    loss_fn: Callable,
    params: PyTree,
    *,
    key: jax.Array,
    num_probes: int = 100,
    curvature: str = "hessian",
    batch_size: int | None = None,
    deflate: int = 0,
) -> TraceEstimate:
    """Hutchinson estimate of ``tr C`` (default ``C = ∇²L(θ)``) with Rademacher probes.

    ``tr C ≈ (1/m) Σᵢ zᵢᵀ C zᵢ``, ``zᵢ ∈ {−1, +1}^P`` i.i.d. uniform; standard error
    ``std(zᵢᵀCzᵢ, ddof=1)/√m`` (NaN when ``m = 1``). When a few outlier eigenvalues carry most of
    the trace the relative error is about ``√(2/m)``. With ``deflate = d > 0``: ``d`` Lanczos steps
    give an orthonormal ``V`` (``d × P``); ``tr C = Σⱼ αⱼ + tr(PCP)``, ``P = I − VᵀV``, the remainder
    estimated on projected probes (unbiased given ``V``; the standard error is the remainder's).
    Cost: ``d`` products plus ``m`` quadratic forms.

    Args:
      loss_fn: ``params -> scalar``, a :class:`BatchedLoss` or a :class:`ModelLoss`.
      params: pytree of float arrays.
      key: PRNG key for the probes (and the Lanczos start vector when deflating).
      num_probes: number of probes ``m >= 1``.
      curvature: ``"hessian" | "ggn" | "fisher" | "empirical_fisher"``.
      batch_size: probes per vmapped chunk (default: the largest divisor of ``num_probes`` up to 10;
        chunks run sequentially in one jitted ``lax.map``, memory ∝ ``batch_size``). The estimate
        does not depend on ``batch_size``. ``batch`` is its deprecated spelling.
      deflate: Lanczos steps to deflate, ``0 <= deflate <= P`` (0: plain Hutchinson).

    Returns:
      :class:`TraceEstimate` ``(estimate, standard_error)``, scalars in the params' dtype.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import hutchinson_trace
      >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 5.0) * p ** 2)     # H = diag(1, 2, 3, 4)
      >>> float(hutchinson_trace(loss, jnp.zeros(4), key=jax.random.key(0), num_probes=3).estimate)
      10.0

    References:
      Hutchinson 1990, doi:10.1080/03610919008812866; Meyer et al. 2021, arXiv:2010.09649.
    """
    p = problems.check_problem(loss_fn, params, curvature)
    checks.check_key(key)
    isz = _itemsize(params)
    num_probes = krylov.check_num_probes(num_probes, isz)
    batch_size = _batch(batch_size, num_probes, p, isz)
    deflate = checks.check_positive_int(deflate, "deflate", minimum=0)
    if deflate > p:
        raise ValueError(f"deflate must be <= the number of parameters ({p}); got {deflate}")
    if deflate:
        krylov.check_basis_memory(deflate, p, isz, "deflate")
    static, data = problems.split_loss(loss_fn)
    return _finite(_hutchinson_jit(static, data, params, key, num_probes, batch_size, deflate, curvature))


# ---------------------------------------------------------------------------------------------
# Lanczos on a loss, top eigenvalues / eigenpairs
# ---------------------------------------------------------------------------------------------


@partial(jax.jit, static_argnums=(0, 4, 5, 6))
def _lanczos_jit(static, data, params, key, num_iters, return_vectors, curvature):
    bad = problems.params_bad(params)
    a, b, V = krylov.lanczos_tree(operators.tree_matvec(static, data, params, curvature), params, key, num_iters)
    return LanczosResult(a, b[:-1], V if return_vectors else None), bad


def lanczos(
    loss_fn: Callable,
    params: PyTree,
    *,
    key: jax.Array,
    num_iters: int,
    curvature: str = "hessian",
    return_vectors: bool = False,
) -> LanczosResult:
    """``num_iters``-step Lanczos tridiagonalization of ``C`` (default ``∇²L(θ)``).

    :func:`lanczos_tridiag` on the flat parameter space with a random-sign start vector from
    ``key``: ``T = tridiag(betas, alphas, betas) = V C Vᵀ`` with orthonormal rows ``V``; its
    eigenvalues approximate the extreme eigenvalues of ``C`` first and equal all of them when
    ``num_iters = P``.

    Args:
      loss_fn: ``params -> scalar``, a :class:`BatchedLoss` or a :class:`ModelLoss`.
      params: pytree of float arrays, ``P`` scalars in total.
      key: PRNG key for the start vector.
      num_iters: ``1 <= num_iters <= P``.
      curvature: ``"hessian" | "ggn" | "fisher" | "empirical_fisher"``.
      return_vectors: fill the ``vectors`` field with the basis ``V`` ``(num_iters, P)`` (flat; map
        back with ``ravel_pytree(params)[1]``); ``None`` otherwise.

    Returns:
      :class:`LanczosResult` ``(alphas, betas, vectors)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import lanczos
      >>> r = lanczos(lambda p: jnp.sum(p ** 2), jnp.ones(3), key=jax.random.key(0), num_iters=1)
      >>> round(float(r.alphas[0]), 5), r.vectors is None
      (2.0, True)

    References:
      Lanczos 1950, doi:10.6028/jres.045.026; Parlett, *The Symmetric Eigenvalue Problem* (1998),
      doi:10.1137/1.9781611971163.
    """
    p = problems.check_problem(loss_fn, params, curvature)
    checks.check_key(key)
    num_iters = _check_iters(num_iters, p, itemsize=_itemsize(params))
    static, data = problems.split_loss(loss_fn)
    return _finite(_lanczos_jit(static, data, params, key, num_iters, bool(return_vectors), curvature))


@partial(jax.jit, static_argnums=(0, 4, 5, 6, 7))
def _top_jit(static, data, params, key, k, num_iters, which, curvature):
    bad = problems.params_bad(params)
    a, b, _ = krylov.lanczos_tree(operators.tree_matvec(static, data, params, curvature), params, key, num_iters)
    ritz = jnp.linalg.eigvalsh(tridiag(a, b[:-1]))
    if which == "LM":
        return ritz[jnp.argsort(-jnp.abs(ritz))[:k]], bad
    return ritz[::-1][:k], bad


def _top_args(loss_fn, params, key, k, num_iters, curvature):
    p = problems.check_problem(loss_fn, params, curvature)
    checks.check_key(key)
    k = checks.check_positive_int(k, "k")
    if k > p:
        raise ValueError(f"k must be <= the number of parameters ({p}); got k={k}")
    if num_iters is None:
        num_iters = min(p, max(4 * k, 40))
    return k, _check_iters(num_iters, p, k, itemsize=_itemsize(params))


def top_eigenvalues(
    loss_fn: Callable,
    params: PyTree,
    *,
    key: jax.Array,
    k: int = 5,
    num_iters: int | None = None,
    curvature: str = "hessian",
    which: str = "LA",
) -> jax.Array:
    """The ``k`` largest eigenvalues of ``C`` (default ``∇²L(θ)``) by Lanczos.

    Ritz values of the ``num_iters``-step tridiagonal ``T`` (see :func:`lanczos`). Extreme
    eigenvalues converge first (error ∝ a Chebyshev polynomial of the gap), so a few tens of
    iterations suffice for well-separated top eigenvalues; ``num_iters = P`` is exact.

    Args:
      loss_fn, params, key, curvature: as in :func:`lanczos`.
      k: number of eigenvalues, ``1 <= k <= P``.
      num_iters: Lanczos steps, ``k <= num_iters <= P``; default ``min(P, max(4k, 40))``.
      which: ``"LA"`` largest algebraic (default) or ``"LM"`` largest magnitude.

    Returns:
      ``(k,)`` eigenvalues, descending (``"LA"``) or by descending magnitude (``"LM"``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import top_eigenvalues
      >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 5.0) * p ** 2)
      >>> [round(float(e), 4) for e in top_eigenvalues(loss, jnp.zeros(4), key=jax.random.key(0), k=2)]
      [4.0, 3.0]

    References:
      Lanczos 1950, doi:10.6028/jres.045.026; Yao et al. 2020 (PyHessian), arXiv:1912.07145.
    """
    which = checks.check_choice(which, "which", ("LA", "LM"))
    k, num_iters = _top_args(loss_fn, params, key, k, num_iters, curvature)
    static, data = problems.split_loss(loss_fn)
    return _finite(_top_jit(static, data, params, key, k, num_iters, which, curvature))


@partial(jax.jit, static_argnums=(0, 4, 5, 6))
def _pairs_jit(static, data, params, key, k, num_iters, curvature):
    bad = problems.params_bad(params)
    mv = operators.tree_matvec(static, data, params, curvature)
    theta, Y, _ = krylov.ritz_pairs(*krylov.lanczos_tree(mv, params, key, num_iters), k)
    # explicit residuals (k more products) rather than the recurrence's β_m |s_m|: a certificate that
    # does not rely on the basis having stayed orthogonal
    _, unravel = ravel_pytree(params)
    CY = jax.vmap(lambda y: ravel_pytree(mv(unravel(y)))[0])(Y)
    res = jnp.linalg.norm(CY - theta[:, None] * Y, axis=1)
    return Eigenpairs(theta, jax.vmap(unravel)(Y), res), bad


def top_eigenpairs(
    loss_fn: Callable,
    params: PyTree,
    *,
    key: jax.Array,
    k: int = 1,
    num_iters: int | None = None,
    curvature: str = "hessian",
) -> Eigenpairs:
    """The ``k`` largest eigenvalues of ``C`` and their eigenvectors (Ritz pairs of Lanczos).

    Ritz vectors ``yᵢ = Vᵀsᵢ`` from the eigenvectors ``sᵢ`` of ``T``; the residual
    ``‖C yᵢ − θᵢ yᵢ‖`` (``k`` more products) bounds ``min_λ |λ − θᵢ|`` (Parlett 1998, Thm 4.5.1).

    Args:
      loss_fn, params, key, curvature, k, num_iters: as in :func:`top_eigenvalues`.

    Returns:
      :class:`Eigenpairs` ``(values (k,), vectors (pytree, leading k), residuals (k,))``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import top_eigenpairs
      >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 5.0) * p ** 2)
      >>> e = top_eigenpairs(loss, jnp.zeros(4), key=jax.random.key(0), k=1, num_iters=4)
      >>> round(float(e.values[0]), 4), [round(abs(float(c)), 3) for c in e.vectors[0]]
      (4.0, [0.0, 0.0, 0.0, 1.0])

    References:
      Lanczos 1950, doi:10.6028/jres.045.026; Yao et al. 2020 (PyHessian), arXiv:1912.07145.
    """
    k, num_iters = _top_args(loss_fn, params, key, k, num_iters, curvature)
    static, data = problems.split_loss(loss_fn)
    return _finite(_pairs_jit(static, data, params, key, k, num_iters, curvature))


# ---------------------------------------------------------------------------------------------
# Summary: one Lanczos run + deflated probes
# ---------------------------------------------------------------------------------------------


class HessianSummary(NamedTuple):
    """Output of :func:`hessian_summary` (scalars / ``(k,)`` / ``(num_iters,)`` in the params' dtype).

    trace, standard_error: deflated Hutchinson estimate of ``tr C`` and its standard error
      (``trace_se`` is the deprecated spelling of ``standard_error``).
    top_eigenvalues: ``(k,)`` largest Ritz values, descending.
    spectral_norm: ``max |θⱼ|`` over the Ritz values (``‖C‖₂`` once both ends have converged).
    ritz_values, ritz_weights: ``(num_iters,)`` all Ritz values ``θⱼ`` (ascending) and their Gauss
      quadrature weights ``τⱼ = sⱼ[0]²``: one stochastic-Lanczos-quadrature sample of the spectral
      density (pass ``ritz_values[None], ritz_weights[None]`` to :func:`density_from_quadrature`).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import hessian_summary
      >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 5.0) * p ** 2)     # H = diag(1, 2, 3, 4)
      >>> s = hessian_summary(loss, jnp.zeros(4), key=jax.random.key(0), num_probes=4, num_iters=4, k=2)
      >>> round(float(s.trace), 4), [round(float(v), 4) for v in s.top_eigenvalues], round(float(s.spectral_norm), 4)
      (10.0, [4.0, 3.0], 4.0)
      >>> [round(float(v), 4) for v in s.ritz_values], [round(float(w), 4) for w in s.ritz_weights]
      ([1.0, 2.0, 3.0, 4.0], [0.25, 0.25, 0.25, 0.25])

    References:
      Yao, Gholami, Keutzer, Mahoney 2020 (PyHessian), arXiv:1912.07145.
    """

    trace: jax.Array
    standard_error: jax.Array
    top_eigenvalues: jax.Array
    spectral_norm: jax.Array
    ritz_values: jax.Array
    ritz_weights: jax.Array

    @property
    def trace_se(self) -> jax.Array:
        """Deprecated: ``standard_error``."""
        return deprecated_field(self, "trace_se", "standard_error")


deprecated_field = checks.deprecated_field  # shared with the other result types


def summary_tree(mv, qf, like, key, num_probes, num_iters, k, batch_size):
    """:class:`HessianSummary` of the operator ``(mv, qf)`` on the flat space of ``like``."""
    k_lz, k_pr = jax.random.split(key)
    alphas, betas, V = krylov.lanczos_tree(mv, like, k_lz, num_iters)
    ritz, vecs = jnp.linalg.eigh(tridiag(alphas, betas[:-1]))
    est, se = krylov.hutchinson_tree(qf, like, k_pr, num_probes, batch_size, V)
    return HessianSummary(jnp.sum(alphas) + est, se, ritz[::-1][:k], jnp.max(jnp.abs(ritz)), ritz, vecs[0] ** 2)


@partial(jax.jit, static_argnums=(0, 4, 5, 6, 7, 8))
def _summary_jit(static, data, params, key, num_probes, num_iters, k, batch_size, curvature):
    return summary_tree(
        operators.tree_matvec(static, data, params, curvature),
        operators.tree_quadform(static, data, params, curvature),
        params,
        key,
        num_probes,
        num_iters,
        k,
        batch_size,
    ), problems.params_bad(params)


@checks.renamed_keyword(batch="batch_size")
def hessian_summary(
    loss_fn: Callable,
    params: PyTree,
    *,
    key: jax.Array,
    num_probes: int = 100,
    num_iters: int = 20,
    k: int = 1,
    curvature: str = "hessian",
    batch_size: int | None = None,
) -> HessianSummary:
    """Trace, top eigenvalues and spectral norm of ``C`` from one Lanczos run plus probes.

    ``num_iters`` Lanczos steps give the Ritz values (top ``k`` and the spectral norm) and the basis
    ``V`` that deflates the Hutchinson estimate of the trace (see :func:`hutchinson_trace`):
    ``tr C ≈ Σⱼ αⱼ + mean_i (Pzᵢ)ᵀC(Pzᵢ)``. Cost: ``num_iters`` products and ``num_probes``
    quadratic forms, the budget of a PyHessian ``trace()`` plus ``eigenvalues()``.

    Args:
      loss_fn, params, key, curvature: as in :func:`hutchinson_trace`.
      num_probes: Hutchinson probes ``>= 1``.
      num_iters: Lanczos steps, ``max(k, 1) <= num_iters <= P``.
      k: number of top eigenvalues.
      batch_size: probes per vmapped chunk (default as in :func:`hutchinson_trace`; ``batch`` is its
        deprecated spelling).

    Returns:
      :class:`HessianSummary`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import hessian_summary
      >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 5.0) * p ** 2)
      >>> s = hessian_summary(loss, jnp.zeros(4), key=jax.random.key(0), num_probes=4, num_iters=4)
      >>> round(float(s.trace), 4), round(float(s.top_eigenvalues[0]), 4)
      (10.0, 4.0)

    References:
      Yao, Gholami, Keutzer, Mahoney 2020 (PyHessian), arXiv:1912.07145; Hutchinson 1990,
      doi:10.1080/03610919008812866; Meyer et al. 2021 (Hutch++), arXiv:2010.09649.
    """
    p = problems.check_problem(loss_fn, params, curvature)
    checks.check_key(key)
    isz = _itemsize(params)
    num_probes = krylov.check_num_probes(num_probes, isz)
    k = checks.check_positive_int(k, "k")
    if k > p:
        raise ValueError(f"k must be <= the number of parameters ({p}); got k={k}")
    num_iters = _check_iters(num_iters, p, k, itemsize=isz)
    batch_size = _batch(batch_size, num_probes, p, isz)
    static, data = problems.split_loss(loss_fn)
    return _finite(_summary_jit(static, data, params, key, num_probes, num_iters, k, batch_size, curvature))


# ---------------------------------------------------------------------------------------------
# Stochastic Lanczos quadrature and densities
# ---------------------------------------------------------------------------------------------


@partial(jax.jit, static_argnums=(0, 4, 5, 6, 7))
def _slq_jit(static, data, params, key, num_probes, num_iters, batch_size, curvature):
    mv = operators.tree_matvec(static, data, params, curvature)
    return krylov.slq_tree(mv, params, key, num_probes, num_iters, batch_size), problems.params_bad(params)


@checks.renamed_keyword(batch="batch_size")
def slq_quadrature(
    loss_fn: Callable,
    params: PyTree,
    *,
    key: jax.Array,
    num_probes: int = 10,
    num_iters: int = 80,
    curvature: str = "hessian",
    batch_size: int | None = None,
) -> Quadrature:
    """Stochastic Lanczos quadrature nodes and weights of the spectral measure of ``C``.

    For each of ``num_probes`` Rademacher probes ``v`` (normalized), ``num_iters`` Lanczos steps give
    ``T = S diag(θ) Sᵀ``; nodes ``θⱼ`` and weights ``τⱼ = S[0, j]²`` (``Σⱼ τⱼ = 1``) so that
    ``(1/P) tr g(C) ≈ mean_probes Σⱼ τⱼ g(θⱼ)``. Probes are vmapped ``batch_size`` at a time
    (default: the largest divisor of ``num_probes`` up to 10; memory ``batch_size · num_iters · P``,
    checked against the memory available).

    Args:
      loss_fn, params, key, curvature: as in :func:`lanczos`.
      num_probes: ``n_v >= 1``.
      num_iters: ``1 <= m <= P``.
      batch_size: probes per vmapped chunk (``batch`` is its deprecated spelling).

    Returns:
      :class:`Quadrature` ``(nodes, weights)``, both ``(num_probes, num_iters)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import slq_quadrature
      >>> q = slq_quadrature(lambda p: jnp.sum(p ** 2), jnp.zeros(3), key=jax.random.key(0),
      ...                    num_probes=2, num_iters=1)
      >>> q.nodes.round(5).tolist(), q.weights.tolist()
      ([[2.0], [2.0]], [[1.0], [1.0]])

    References:
      Ubaru, Chen, Saad 2017, doi:10.1137/16M1104974; Yao et al. 2020 (PyHessian), arXiv:1912.07145.
    """
    p = problems.check_problem(loss_fn, params, curvature)
    checks.check_key(key)
    isz = _itemsize(params)
    num_probes = checks.check_positive_int(num_probes, "num_probes")
    num_iters = checks.check_positive_int(num_iters, "num_iters")
    num_probes = krylov.check_num_probes(num_probes, isz, per_probe=2 * min(num_iters, p))
    batch_size = _batch(batch_size, num_probes, p, isz)
    num_iters = _check_iters(num_iters, p, itemsize=isz, copies=batch_size)
    static, data = problems.split_loss(loss_fn)
    return _finite(_slq_jit(static, data, params, key, num_probes, num_iters, batch_size, curvature))


def _check_density_memory(n_grid: int, n_nodes: int, itemsize: int) -> None:
    # the broadened density is formed as a (G, n_v, m) array before the sum
    nbytes = 3 * n_grid * n_nodes * itemsize
    checks.check_memory(nbytes, "grid", f"the ({n_grid}, {n_nodes}) broadening table ({nbytes:,} bytes)")


@jax.jit
def _density_jit(nodes, weights, grid, sigma):
    z = (grid[:, None, None] - nodes[None]) / sigma
    g = jnp.exp(-0.5 * z * z) / (sigma * math.sqrt(2 * math.pi))
    d = jnp.sum(g * weights[None], axis=(1, 2)) / nodes.shape[0]
    # an infinite node (a diverged estimate) would drop its weight silently (exp(-inf) = 0): NaN out
    return jnp.where(jnp.all(jnp.isfinite(nodes)), d, jnp.nan)


def density_from_quadrature(nodes: ArrayLike, weights: ArrayLike, grid: ArrayLike, sigma: float) -> jax.Array:
    """Gaussian-broadened density ``φ_σ(t) = (1/n_v) Σ_probes Σⱼ τⱼ N(t; θⱼ, σ²)`` on ``grid``.

    Args:
      nodes, weights: ``(n_v, m)`` from :func:`slq_quadrature` (or exact eigenvalues ``(1, P)``
        with weights ``1/P``).
      grid: ``(G,)`` evaluation points.
      sigma: broadening ``σ > 0`` in eigenvalue units.

    Returns:
      ``(G,)`` density values; ``∫φ_σ = Σ τ / n_v = 1`` over ℝ.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.hessian import density_from_quadrature
      >>> d = density_from_quadrature(jnp.zeros((1, 1)), jnp.ones((1, 1)), jnp.array([0.0]), 1.0)
      >>> round(float(d[0]), 4)        # 1/√(2π)
      0.3989

    References:
      Ubaru, Chen, Saad 2017 (SLQ), doi:10.1137/16M1104974; Ghorbani, Krishnan, Xiao 2019,
      arXiv:1901.10159.
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
    # Gauss quadrature weights are squares (>= 0): a negative one would give a negative "density"
    weights = checks.error_if(weights, weights < 0, "weights must be >= 0 (Gauss quadrature weights)")
    dt = jnp.result_type(nodes.dtype, grid.dtype, jnp.float32)
    _check_density_memory(grid.shape[0], nodes.size, dt.itemsize)
    return _density_jit(nodes.astype(dt), weights.astype(dt), grid.astype(dt), jnp.asarray(sigma, dt))


class Density(NamedTuple):
    """Output of :func:`eigen_density`: ``grid (G,)`` and ``density (G,)``.

    Attributes:
      grid: ``(G,)`` eigenvalue axis.
      density: ``(G,)`` the Gaussian-broadened SLQ estimate of the spectral density on ``grid``
        (integrates to about 1).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import eigen_density
      >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 5.0) * p ** 2)     # H = diag(1, 2, 3, 4)
      >>> d = eigen_density(loss, jnp.zeros(4), key=jax.random.key(0), num_probes=2, num_iters=4,
      ...                   grid=jnp.linspace(0.0, 5.0, 51), sigma=0.1)
      >>> d.grid.shape, d.density.shape, round(float(jnp.trapezoid(d.density, d.grid)), 3)
      ((51,), (51,), 1.0)

    References:
      Ghorbani, Krishnan, Xiao 2019, arXiv:1901.10159; Ubaru, Chen, Saad 2017 (SLQ),
      doi:10.1137/16M1104974; Yao et al. 2020 (PyHessian), arXiv:1912.07145.
    """

    grid: jax.Array
    density: jax.Array


def density_on_grid(nodes, weights, n_grid: int, sigma=None):
    """Density on an automatic grid spanning all nodes ``± 6σ`` (σ default: 1% of the node span)."""
    lo, hi = jnp.min(nodes), jnp.max(nodes)
    if sigma is None:
        span = hi - lo
        sigma_v = jnp.where(span > 0, 0.01 * span, 1e-3).astype(nodes.dtype)
    else:
        sigma_v = jnp.asarray(sigma, nodes.dtype)
    grid = jnp.linspace(lo - 6 * sigma_v, hi + 6 * sigma_v, n_grid, dtype=nodes.dtype)
    return Density(grid, _density_jit(nodes, weights, grid, sigma_v))


@checks.renamed_keyword(batch="batch_size")
def eigen_density(
    loss_fn: Callable,
    params: PyTree,
    *,
    key: jax.Array,
    num_probes: int = 10,
    num_iters: int = 80,
    grid: int | ArrayLike = 1000,
    sigma: float | None = None,
    curvature: str = "hessian",
    batch_size: int | None = None,
) -> Density:
    """Eigenvalue density of ``C`` (default ``∇²L(θ)``) by SLQ, Gaussian-broadened.

    ``φ_σ(t) = (1/n_v) Σ_probes Σⱼ τⱼ exp(−(t−θⱼ)²/(2σ²))/(σ√(2π))`` (see :func:`slq_quadrature`).

    Args:
      loss_fn, params, key, curvature: as in :func:`lanczos`.
      num_probes: SLQ probes ``n_v >= 1``.
      num_iters: Lanczos steps per probe (capped at ``P``).
      grid: number of grid points (the grid spans ``[min θ − 6σ, max θ + 6σ]``, so the density
        integrates to 1 up to tails < 1e-8 and the trapezoid error), or a ``(G,)`` array of points.
      sigma: Gaussian broadening; default 1% of the Ritz-value span (1e-3 if the span is 0).
      batch_size: probes per vmapped chunk (``batch`` is its deprecated spelling).

    Returns:
      :class:`Density` ``(grid (G,), density (G,))``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import eigen_density
      >>> d = eigen_density(lambda p: jnp.sum(p ** 2), jnp.zeros(3), key=jax.random.key(0),
      ...                   num_probes=2, num_iters=3, grid=5)
      >>> d.grid.shape, d.density.shape
      ((5,), (5,))

    References:
      Ghorbani, Krishnan, Xiao 2019, arXiv:1901.10159; Ubaru, Chen, Saad 2017 (SLQ),
      doi:10.1137/16M1104974; Yao et al. 2020 (PyHessian), arXiv:1912.07145.
    """
    p = problems.check_problem(loss_fn, params, curvature)
    num_iters = min(checks.check_positive_int(num_iters, "num_iters"), p)
    num_probes = checks.check_positive_int(num_probes, "num_probes")
    if sigma is not None:
        sigma = checks.check_positive(sigma, "sigma")
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        n_grid = checks.check_positive_int(grid, "grid", minimum=2)
        grid_arr = None
    else:
        grid_arr = checks.as_array(grid, "grid")
        checks.check_ndim(grid_arr, "grid", 1, shape_hint="(G,) or an int number of points")
        checks.check_finite(grid_arr, "grid")
        n_grid = grid_arr.shape[0]
    _check_density_memory(n_grid, num_probes * num_iters, _itemsize(params))
    nodes, weights = slq_quadrature(
        loss_fn, params, key=key, num_probes=num_probes, num_iters=num_iters, curvature=curvature, batch_size=batch_size
    )
    if grid_arr is None:
        return density_on_grid(nodes, weights, n_grid, sigma)
    span = jnp.max(nodes) - jnp.min(nodes)
    sigma_v = jnp.where(span > 0, 0.01 * span, 1e-3) if sigma is None else jnp.asarray(sigma)
    dt = jnp.result_type(nodes.dtype, grid_arr.dtype)
    return Density(
        grid_arr, _density_jit(nodes.astype(dt), weights.astype(dt), grid_arr.astype(dt), sigma_v.astype(dt))
    )


# ---------------------------------------------------------------------------------------------
# Dense matrices (small models)
# ---------------------------------------------------------------------------------------------


@partial(jax.jit, static_argnums=(0, 3, 4))
def _dense_jit(static, data, params, batch_size, curvature):
    theta, unravel = ravel_pytree(params)
    p = theta.size
    bad = problems.params_bad(params)
    if static[0] == "plain" and batch_size >= p:
        return jax.hessian(lambda t: static[1](unravel(t)))(theta), bad
    # columns C e_i, batch_size at a time: memory batch_size · (activations) instead of P · (activations)
    mv = operators.tree_matvec(static, data, params, curvature)
    cols = krylov.probe_map(
        lambda i: ravel_pytree(mv(unravel(jax.nn.one_hot(i, p, dtype=theta.dtype))))[0], p, batch_size
    )
    return 0.5 * (cols + cols.T), bad


@checks.renamed_keyword(chunk="batch_size")
def dense_hessian(
    loss_fn: Callable,
    params: PyTree,
    *,
    curvature: str = "hessian",
    max_params: int = 20_000,
    batch_size: int | None = None,
) -> jax.Array:
    """The full matrix ``C`` (default ``∇²L(θ)``) of the flattened parameters, ``(P, P)``.

    Hessian of a plain loss: ``jax.hessian`` of ``θ ↦ L(unravel(θ))`` when ``batch_size >= P``
    (default for ``P <= 2048``); otherwise the columns ``C e_i`` are built ``batch_size`` at a time
    by products (default 256) and symmetrized. Refuses ``P > max_params``, and a matrix (three
    ``P² · itemsize`` buffers) larger than half the memory available.

    Args:
      loss_fn, params, curvature: as in :func:`hvp`.
      max_params: largest ``P`` accepted.
      batch_size: columns per vmapped chunk (``chunk`` is its deprecated spelling).

    Returns:
      ``(P, P)`` symmetric matrix in ``ravel_pytree`` order.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.hessian import dense_hessian
      >>> dense_hessian(lambda p: p[0] * p[1], jnp.zeros(2)).tolist()
      [[0.0, 1.0], [1.0, 0.0]]
    """
    p = problems.check_problem(loss_fn, params, curvature)
    max_params = checks.check_positive_int(max_params, "max_params")
    if p > max_params:
        raise ValueError(
            f"dense_hessian needs a {p}x{p} matrix ({p * p * 8 / 2**30:.1f} GiB in "
            f"float64); P={p} exceeds max_params={max_params}. Use hutchinson_trace / "
            "top_eigenvalues / eigen_density instead, or raise max_params"
        )
    nbytes = 3 * p * p * _itemsize(params)
    checks.check_memory(nbytes, "max_params", f"the dense ({p}, {p}) matrix ({nbytes:,} bytes)")
    if batch_size is None:
        batch_size = (
            p if (p <= 2048 and not isinstance(loss_fn, (problems.BatchedLoss, problems.ModelLoss))) else min(p, 256)
        )
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    static, data = problems.split_loss(loss_fn)
    return _finite(_dense_jit(static, data, params, min(batch_size, p), curvature))


def dense_eigenvalues(loss_fn: Callable, params: PyTree, **kwargs) -> jax.Array:
    """All eigenvalues of :func:`dense_hessian`, ascending, ``(P,)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.hessian import dense_eigenvalues
      >>> dense_eigenvalues(lambda p: p[0] * p[1], jnp.zeros(2)).tolist()
      [-1.0, 1.0]
    """
    return jnp.linalg.eigvalsh(dense_hessian(loss_fn, params, **kwargs))
