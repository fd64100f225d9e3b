"""Loss landscapes: 1-D and 2-D slices, filter-normalised directions, trajectory PCA.

Following Li, Xu, Taylor, Studer, Goldstein 2018 (arXiv:1712.09913):

* **Slices.** ``f(α) = L(θ + α d)`` along one direction and ``f(α, β) = L(θ + α d₁ + β d₂)`` on a
  grid. All grid points are evaluated in one jitted call: the points are cut into chunks of
  ``batch_size`` that are ``vmap``-ed, and the chunks run sequentially in a ``lax.map`` (a 51 × 51 slice
  with ``batch_size = 256`` is one call of 11 vmapped chunks).
* **Filter normalisation.** A Gaussian direction ``d`` is rescaled filter by filter,
  ``d_f ← d_f ‖θ_f‖ / ‖d_f‖``, where a filter is one output unit of a layer: the slice of a weight
  leaf along its last axis (fpjax MLP ``w (n_in, n_out)``, Flax ``Dense`` ``(in, out)`` and ``Conv``
  ``(h, w, c_in, c_out)`` kernels). This removes the scale invariance of ReLU/batch-norm networks
  so that slices of different networks are comparable. Biases and batch-norm parameters (leaves
  with ``ndim <= 1``) get ``d = 0`` by default, as in the paper.
* **Hessian directions.** The top two eigenvectors of the Hessian (Lanczos Ritz vectors), the
  directions of largest curvature.
* **Trajectory PCA.** For parameters ``θ_0 … θ_n`` along training, the principal directions of the
  centred matrix ``[θ_i − θ_n]`` (SVD); coordinates ``(θ_i − θ_n)·u_j`` put the end point at the
  origin of a 2-D slice around ``θ_n`` along ``u_1, u_2``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from fpjax._src import checks
from fpjax._src.array_types import ArrayLike, PyTree
from fpjax._src.hessian import problems
from fpjax._src.hessian.estimators import top_eigenpairs

__all__ = [
    "EigenDirections",
    "Slice1D",
    "Slice2D",
    "TrajectoryPCA",
    "eigen_directions",
    "random_direction",
    "slice_1d",
    "slice_2d",
    "trajectory_pca",
]


def _check_like(params, d, name):
    sp, sd = jax.tree_util.tree_structure(params), jax.tree_util.tree_structure(d)
    if sp != sd:
        raise ValueError(f"{name} must have the pytree structure of params; got {sd} vs {sp}")
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(d)):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                f"{name} must have the leaf shapes of params; got {jnp.shape(b)} where params has {jnp.shape(a)}"
            )


def random_direction(
    params: PyTree, *, key: jax.Array, normalization: str = "filter", ignore_bias: bool = True
) -> PyTree:
    """A Gaussian direction in parameter space, filter-normalised as in Li et al. 2018.

    ``d ∼ N(0, I)`` per leaf; then ``"filter"``: ``d_f ← d_f ‖θ_f‖/‖d_f‖`` for every filter ``f``
    (slice along the last axis of a leaf with ``ndim >= 2``); ``"layer"``: the same per leaf;
    ``"none"``: unchanged. Leaves with ``ndim <= 1`` (biases, batch-norm scales) are zero when
    ``ignore_bias`` and otherwise normalised as one filter.

    Args:
      params: pytree of float arrays (the point θ).
      key: PRNG key (leaf ``i`` uses ``fold_in(key, i)``).
      normalization: ``"filter" | "layer" | "none"``.
      ignore_bias: zero direction on leaves with ``ndim <= 1``.

    Returns:
      A pytree like ``params``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.landscape import random_direction
      >>> p = {"w": jnp.array([[3.0, 0.0], [4.0, 1.0]]), "b": jnp.ones(2)}
      >>> d = random_direction(p, key=jax.random.key(0))
      >>> [round(float(v), 4) for v in jnp.linalg.norm(d["w"], axis=0)], d["b"].tolist()
      ([5.0, 1.0], [0.0, 0.0])

    References:
      Li et al. 2018, arXiv:1712.09913, §4.
    """
    checks.check_key(key)
    normalization = checks.check_choice(normalization, "normalization", ("filter", "layer", "none"))
    problems.check_params(params)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    out = []
    for i, a in enumerate(leaves):
        a = jnp.asarray(a)
        d = jax.random.normal(jax.random.fold_in(key, i), a.shape, a.dtype)
        if a.ndim <= 1 and ignore_bias:
            d = jnp.zeros_like(a)
        elif normalization != "none":
            axes = tuple(range(a.ndim - 1)) if (normalization == "filter" and a.ndim >= 2) else None
            nd = jnp.sqrt(jnp.sum(d * d, axis=axes, keepdims=axes is not None))
            na = jnp.sqrt(jnp.sum(a * a, axis=axes, keepdims=axes is not None))
            d = d * na / jnp.where(nd > 0, nd, 1)
        out.append(d)
    return jax.tree_util.tree_unflatten(treedef, out)


@partial(jax.jit, static_argnums=(0, 5))
def _grid_jit(static, data, params, dirs, coeffs, batch_size):
    """``L(θ + Σ_j c_ij d_j)`` for every row ``c_i`` of ``coeffs (N, D)``; ``dirs (D, P)`` flat."""
    loss = problems.rebuild_loss(static, data)
    theta, unravel = ravel_pytree(params)
    n = coeffs.shape[0]
    n_chunks = -(-n // batch_size)
    pad = n_chunks * batch_size - n
    c = jnp.concatenate([coeffs, jnp.zeros((pad, coeffs.shape[1]), coeffs.dtype)]) if pad else coeffs
    f = jax.vmap(lambda ci: loss(unravel(theta + ci @ dirs)))
    out = jax.lax.map(f, c.reshape(n_chunks, batch_size, -1)).reshape(-1)
    return out[:n]


def _grid(loss_fn, params, dirs, coeffs, batch_size):
    problems.check_problem(loss_fn, params)
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    theta, _ = ravel_pytree(params)
    flat = jnp.stack([ravel_pytree(d)[0].astype(theta.dtype) for d in dirs])
    coeffs = jnp.asarray(coeffs, theta.dtype)
    static, data = problems.split_loss(loss_fn)
    return _grid_jit(static, data, params, flat, coeffs, min(batch_size, coeffs.shape[0]))


def _axis(v, name):
    v = checks.as_array(v, name)
    checks.check_no_complex(v, name)
    checks.check_ndim(v, name, 1, shape_hint="(A,)")
    checks.check_finite(v, name)
    return v


def _check_grid_memory(params, n_points: int, batch_size: int, name: str) -> None:
    """Refuse a slice before allocating its ``n_points`` coefficients/losses and ``batch_size`` parameter copies."""
    problems.check_params(params)
    theta, _ = ravel_pytree(params)
    per = theta.dtype.itemsize
    batch_size = min(checks.check_positive_int(batch_size, "batch_size"), max(n_points, 1))
    checks.check_memory(4.0 * per * n_points, name, f"a slice of {n_points} points")
    checks.check_memory(
        3.0 * per * batch_size * theta.size, "batch_size", f"{batch_size} parameter vectors of size {theta.size}"
    )


class Slice1D(NamedTuple):
    """Output of :func:`slice_1d`: ``alphas (A,)`` and ``losses (A,)``, ``losses[i] = L(θ + αᵢ d)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.landscape import slice_1d
      >>> s = slice_1d(lambda p: jnp.sum(p ** 2), jnp.zeros(2), jnp.ones(2), alphas=jnp.linspace(-1, 1, 5))
      >>> s.alphas.tolist(), s.losses.tolist()                   # L(α·(1, 1)) = 2α²
      ([-1.0, -0.5, 0.0, 0.5, 1.0], [2.0, 0.5, 0.0, 0.5, 2.0])

    References:
      Li, Xu, Taylor, Studer, Goldstein 2018, arXiv:1712.09913.
    """

    alphas: jax.Array
    losses: jax.Array


@checks.renamed_keyword(chunk="batch_size")
def slice_1d(
    loss_fn: Callable, params: PyTree, direction: PyTree, *, alphas: ArrayLike | None = None, batch_size: int = 256
) -> Slice1D:
    """Loss along a line, ``f(α) = L(θ + α d)``, at every ``α`` in one jitted call.

    Args:
      loss_fn: ``params -> scalar``, a :class:`~fpjax.hessian.BatchedLoss` or a
        :class:`~fpjax.hessian.ModelLoss`.
      params: the point θ (pytree of float arrays).
      direction: ``d``, a pytree like ``params`` (e.g. :func:`random_direction`).
      alphas: ``(A,)`` step sizes; default ``linspace(-1, 1, 51)``.
      batch_size: points per vmapped batch_size (memory ∝ ``batch_size``).

    Returns:
      :class:`Slice1D`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.landscape import slice_1d
      >>> s = slice_1d(lambda p: jnp.sum(p ** 2), jnp.zeros(2), jnp.ones(2), alphas=jnp.array([0.0, 1.0, 2.0]))
      >>> s.losses.tolist()
      [0.0, 2.0, 8.0]

    References:
      Goodfellow, Vinyals, Saxe 2015, arXiv:1412.6544; Li et al. 2018, arXiv:1712.09913.
    """
    _check_like(params, direction, "direction")
    a = jnp.linspace(-1.0, 1.0, 51) if alphas is None else _axis(alphas, "alphas")
    _check_grid_memory(params, a.shape[0], batch_size, "alphas")
    return Slice1D(a, _grid(loss_fn, params, [direction], a[:, None], batch_size))


class Slice2D(NamedTuple):
    """Output of :func:`slice_2d`: ``alphas (A,)``, ``betas (B,)``, ``losses (A, B)`` with
    ``losses[i, j] = L(θ + αᵢ d₁ + βⱼ d₂)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.landscape import slice_2d
      >>> s = slice_2d(lambda p: p[0] ** 2 + 2 * p[1] ** 2, jnp.zeros(2), jnp.array([1.0, 0.0]),
      ...              jnp.array([0.0, 1.0]), alphas=jnp.linspace(-1, 1, 5), betas=jnp.array([0.0, 1.0]))
      >>> s.alphas.shape, s.betas.shape, s.losses.shape
      ((5,), (2,), (5, 2))
      >>> s.losses[:, 1].tolist()                                # α² + 2 at β = 1
      [3.0, 2.25, 2.0, 2.25, 3.0]

    References:
      Li, Xu, Taylor, Studer, Goldstein 2018, arXiv:1712.09913.
    """

    alphas: jax.Array
    betas: jax.Array
    losses: jax.Array


@checks.renamed_keyword(chunk="batch_size")
def slice_2d(
    loss_fn: Callable,
    params: PyTree,
    d1: PyTree,
    d2: PyTree,
    *,
    alphas: ArrayLike | None = None,
    betas: ArrayLike | None = None,
    batch_size: int = 256,
) -> Slice2D:
    """Loss on a plane, ``f(α, β) = L(θ + α d₁ + β d₂)``, on an ``A × B`` grid in one jitted call.

    Args:
      loss_fn, params, batch_size: as in :func:`slice_1d`.
      d1, d2: directions, pytrees like ``params`` (random filter-normalised, :func:`eigen_directions`
        or :func:`trajectory_pca`).
      alphas, betas: ``(A,)``, ``(B,)``; default ``linspace(-1, 1, 51)`` each.

    Returns:
      :class:`Slice2D`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.landscape import slice_2d
      >>> s = slice_2d(lambda p: p[0] ** 2 + 2 * p[1] ** 2, jnp.zeros(2), jnp.array([1.0, 0.0]),
      ...              jnp.array([0.0, 1.0]), alphas=jnp.array([0.0, 1.0]), betas=jnp.array([0.0, 1.0]))
      >>> s.losses.tolist()
      [[0.0, 2.0], [1.0, 3.0]]

    References:
      Li et al. 2018, arXiv:1712.09913.
    """
    _check_like(params, d1, "d1")
    _check_like(params, d2, "d2")
    a = jnp.linspace(-1.0, 1.0, 51) if alphas is None else _axis(alphas, "alphas")
    b = jnp.linspace(-1.0, 1.0, 51) if betas is None else _axis(betas, "betas")
    _check_grid_memory(params, a.shape[0] * b.shape[0], batch_size, "alphas" if a.shape[0] >= b.shape[0] else "betas")
    aa, bb = jnp.meshgrid(a, b, indexing="ij")
    coeffs = jnp.stack([aa.reshape(-1), bb.reshape(-1)], axis=1)
    return Slice2D(a, b, _grid(loss_fn, params, [d1, d2], coeffs, batch_size).reshape(a.shape[0], b.shape[0]))


class EigenDirections(NamedTuple):
    """Output of :func:`eigen_directions`: unit eigenvectors ``d1``, ``d2`` (pytrees like ``params``)
    of the two largest eigenvalues ``values (2,)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.landscape import eigen_directions, slice_2d
      >>> loss = lambda p: jnp.sum(jnp.arange(1.0, 4.0) * p ** 2)          # H = diag(2, 4, 6)
      >>> e = eigen_directions(loss, jnp.zeros(3), key=jax.random.key(0), num_iters=3)
      >>> [round(float(v), 4) for v in e.values]
      [6.0, 4.0]
      >>> [round(abs(float(c)), 3) for c in e.d1], [round(abs(float(c)), 3) for c in e.d2]
      ([0.0, 0.0, 1.0], [0.0, 1.0, 0.0])
      >>> slice_2d(loss, jnp.zeros(3), e.d1, e.d2, alphas=jnp.array([1.0]), betas=jnp.array([0.0])).losses.shape
      (1, 1)

    References:
      Li, Xu, Taylor, Studer, Goldstein 2018, arXiv:1712.09913.
    """

    d1: PyTree
    d2: PyTree
    values: jax.Array


def eigen_directions(
    loss_fn: Callable, params: PyTree, *, key: jax.Array, num_iters: int | None = None, curvature: str = "hessian"
) -> EigenDirections:
    """The top two eigenvectors of the Hessian (or ``curvature``) at θ, for slices of largest curvature.

    Lanczos Ritz vectors (:func:`fpjax.hessian.top_eigenpairs` with ``k = 2``), unit norm in the flat
    parameter space. Along ``d1`` the slice is ``L(θ) + ½ λ₁ α² + O(α³)`` at a critical point.

    Args:
      loss_fn, params, key, num_iters, curvature: as in :func:`fpjax.hessian.top_eigenvalues`.

    Returns:
      :class:`EigenDirections`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.landscape import eigen_directions
      >>> e = eigen_directions(lambda p: jnp.sum(jnp.arange(1.0, 4.0) * p ** 2), jnp.zeros(3),
      ...                      key=jax.random.key(0), num_iters=3)
      >>> [round(float(v), 4) for v in e.values], [round(abs(float(c)), 3) for c in e.d1]
      ([6.0, 4.0], [0.0, 0.0, 1.0])

    References:
      Li, Xu, Taylor, Studer, Goldstein 2018, arXiv:1712.09913.
    """
    e = top_eigenpairs(loss_fn, params, key=key, k=2, num_iters=num_iters, curvature=curvature)
    return EigenDirections(
        jax.tree_util.tree_map(lambda a: a[0], e.vectors), jax.tree_util.tree_map(lambda a: a[1], e.vectors), e.values
    )


class TrajectoryPCA(NamedTuple):
    """Output of :func:`trajectory_pca`.

    d1, d2: unit principal directions (pytrees like one set of parameters).
    coords: ``(T, 2)`` coordinates ``((θ_t − θ_end)·d1, (θ_t − θ_end)·d2)`` (end point at the origin).
    explained_variance_ratio: ``(2,)`` share of the trajectory's variance along ``d1``, ``d2``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.landscape import trajectory_pca
      >>> t = jnp.array([[2.0, 1.0, 0.0], [1.0, 0.0, 0.5], [0.0, 0.0, 0.0]])   # (T, P) = (3, 3)
      >>> r = trajectory_pca(t)
      >>> r.d1.shape, r.coords.shape, r.coords[-1].tolist()                    # end point at the origin
      ((3,), (3, 2), [0.0, 0.0])
      >>> round(float(jnp.dot(r.d1, r.d2)), 5) + 0.0, round(float(jnp.sum(r.explained_variance_ratio)), 5)
      (0.0, 1.0)

    References:
      Li, Xu, Taylor, Studer, Goldstein 2018, arXiv:1712.09913, Section 7.
    """

    d1: PyTree
    d2: PyTree
    coords: jax.Array
    explained_variance_ratio: jax.Array


def trajectory_pca(trajectory: PyTree, *, final: PyTree | None = None) -> TrajectoryPCA:
    """Principal directions of a training trajectory (Li et al. 2018, §7).

    With ``M = [θ_t − θ_end]_t`` (``T × P``) centred over ``t``, the right singular vectors of the two
    largest singular values are ``d1, d2``; signs are fixed so that each direction's largest-magnitude
    entry is positive (deterministic output). A trajectory of numerical rank below 2 (constant, or
    along one line: ``σ₂ ≤ max(T, P)·eps·σ₁``) has no defined second direction and is a
    ``ValueError`` (a failing program under jit).

    Args:
      trajectory: pytree of parameters with a leading time axis ``T >= 2`` (e.g. ``fit(...,
        record=lambda p: p).records``).
      final: the end point ``θ_end`` (default: the last entry of ``trajectory``).

    Returns:
      :class:`TrajectoryPCA`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.landscape import trajectory_pca
      >>> t = jnp.array([[2.0, 0.0, 0.0], [1.0, 0.1, 0.0], [0.0, 0.0, 0.0]])
      >>> r = trajectory_pca(t)
      >>> [abs(round(float(c), 3)) for c in r.d1], r.coords.shape
      ([1.0, 0.0, 0.0], (3, 2))

    References:
      Li, Xu, Taylor, Studer, Goldstein 2018, arXiv:1712.09913, Section 7.
    """
    leaves = jax.tree_util.tree_leaves(trajectory)
    if not leaves:
        raise ValueError("trajectory must be a non-empty pytree with a leading time axis")
    t_len = {jnp.shape(a)[0] if jnp.ndim(a) else None for a in leaves}
    if len(t_len) != 1 or None in t_len:
        raise ValueError("every leaf of trajectory must have the same leading (time) axis")
    t_len = t_len.pop()
    if t_len < 2:
        raise ValueError(f"trajectory must hold at least 2 points; got {t_len}")
    mat = jax.vmap(lambda p: ravel_pytree(p)[0])(trajectory)  # (T, P)
    if final is None:
        end = mat[-1]
        unravel = ravel_pytree(jax.tree_util.tree_map(lambda a: a[0], trajectory))[1]
    else:
        end, unravel = ravel_pytree(final)
        if end.shape[0] != mat.shape[1]:
            raise ValueError(f"final must have {mat.shape[1]} parameters like the trajectory; got {end.shape[0]}")
    m = mat - end[None]
    checks.check_finite(m, "trajectory")
    mc = m - jnp.mean(m, axis=0, keepdims=True)
    _, s, vt = jnp.linalg.svd(mc, full_matrices=False)
    if vt.shape[0] < 2:
        raise ValueError("trajectory spans fewer than 2 directions")
    # A singular value at the rounding level (numerical rank < 2, e.g. a constant or straight-line
    # trajectory) has an arbitrary singular vector: refuse instead of returning it.
    tol = max(mc.shape) * jnp.finfo(mc.dtype).eps * s[0]
    vt = checks.error_if(
        vt[:2],
        ~(s[1] > tol),
        "trajectory spans fewer than 2 directions (its second singular value is at the rounding level "
        "of the first): the principal directions would be arbitrary",
    )
    idx = jnp.argmax(jnp.abs(vt), axis=1)
    vt = vt * jnp.sign(vt[jnp.arange(2), idx])[:, None]
    var = s**2
    ratio = var[:2] / jnp.where(jnp.sum(var) > 0, jnp.sum(var), 1)
    return TrajectoryPCA(unravel(vt[0]), unravel(vt[1]), m @ vt.T, ratio)
