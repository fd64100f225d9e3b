"""The Krylov core: one Lanczos, one Rademacher generator, one Hutchinson estimator, one stochastic
Lanczos quadrature and one eigenpair type, for every symmetric operator seen through products.

:mod:`fpjax.hessian` (curvature of a loss) and :mod:`fpjax.ntk` (the empirical NTK) both call this
module with the matvec of their operator; nothing else in the package runs a Lanczos iteration or
draws probe vectors.

* **Lanczos** (:func:`lanczos_tridiag`, :func:`lanczos_eigh`): ``m`` steps build an orthonormal
  ``V = [v₁ … v_m]`` and the tridiagonal ``T = V A Vᵀ``, with full reorthogonalisation (a second
  Gram-Schmidt pass only when the first removed more than ~30% of the vector, the DGKS criterion)
  and, on breakdown (``β = 0``: an invariant subspace), a restart from the coordinate vector least
  represented in ``span(V)``, so ``m = N`` gives every eigenvalue. Ritz pairs ``(θᵢ, Vᵀsᵢ)`` from
  ``T sᵢ = θᵢ sᵢ`` come with the residual ``‖A yᵢ − θᵢ yᵢ‖ = β_m |s_{m,i}|``.
* **Rademacher probes** (:func:`rademacher`): ±1 entries, one random bit each.
* **Hutchinson** (:func:`hutchinson`): ``tr A ≈ (1/s) Σ zᵢᵀ A zᵢ`` with its standard error,
  optionally on probes projected off an orthonormal ``V`` (the deflation of Hutch++).
* **Stochastic Lanczos quadrature** (:func:`slq`): nodes ``θⱼ`` and weights ``τⱼ = sⱼ[0]²`` per
  normalised probe, ``(1/N) tr g(A) ≈ mean Σⱼ τⱼ g(θⱼ)``.

References:
  Lanczos 1950, doi:10.6028/jres.045.026; Parlett, *The Symmetric Eigenvalue Problem* (1998),
  doi:10.1137/1.9781611971163; Daniel, Gragg, Kaufman, Stewart 1976 (DGKS),
  doi:10.1090/S0025-5718-1976-0431641-8; Hutchinson 1990, doi:10.1080/03610919008812866;
  Meyer, Musco, Musco, Woodruff 2021 (Hutch++), arXiv:2010.09649; Ubaru, Chen, Saad 2017 (SLQ),
  doi:10.1137/16M1104974.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from fpjax._src import checks


class LanczosResult(NamedTuple):
    """Output of :func:`lanczos_tridiag` and :func:`fpjax.hessian.lanczos`.

    alphas: ``(m,)`` diagonal of ``T = V A Vᵀ``.
    betas: ``(m − 1,)`` off-diagonal of ``T`` (0 where the iteration restarted).
    vectors: ``(m, P)`` orthonormal Lanczos basis ``V`` (flat, ``ravel_pytree`` order), or ``None``
      when not requested.

    Examples:
      >>> import jax, jax.numpy as jnp, numpy as np
      >>> from fpjax.hessian import lanczos
      >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 5.0) * p ** 2)     # H = diag(1, 2, 3, 4)
      >>> r = lanczos(loss, jnp.zeros(4), key=jax.random.key(0), num_iters=4, return_vectors=True)
      >>> r.alphas.shape, r.betas.shape, r.vectors.shape
      ((4,), (3,), (4, 4))
      >>> t = np.diag(r.alphas) + np.diag(r.betas, 1) + np.diag(r.betas, -1)   # T = V H Vᵀ
      >>> [round(float(e), 4) for e in np.linalg.eigvalsh(t)]                   # num_iters = P: all of them
      [1.0, 2.0, 3.0, 4.0]

    References:
      Lanczos 1950, doi:10.6028/jres.045.026; Parlett, *The Symmetric Eigenvalue Problem* (1998),
      doi:10.1137/1.9781611971163.
    """

    alphas: jax.Array
    betas: jax.Array
    vectors: jax.Array | None


class Eigenpairs(NamedTuple):
    """Eigenpairs from a Krylov method (:func:`lanczos_eigh`, :func:`fpjax.ntk.ntk_eigh`,
    :func:`fpjax.hessian.top_eigenpairs`).

    values: ``(k,)`` Ritz values, descending.
    vectors: unit Ritz vectors with a leading axis ``k`` (``vectors[i]`` belongs to ``values[i]``):
      ``(k, N)`` for an operator on vectors, a pytree like ``params`` with leading axis ``k`` for a
      curvature matrix.
    residuals: ``(k,)`` ``‖A yᵢ − θᵢ yᵢ‖``, a bound on the distance of ``θᵢ`` to an eigenvalue of ``A``.

    ``eigenvalues`` and ``eigenvectors`` (the ``(N, k)`` columns ``vectors.T``) are deprecated
    spellings kept for one release.

    Examples:
      >>> import jax.numpy as jnp
      >>> e = Eigenpairs(jnp.array([2.0]), jnp.array([[1.0, 0.0]]), jnp.array([0.0]))
      >>> e.vectors.shape, float(e.values[0])
      ((1, 2), 2.0)
    """

    values: jax.Array
    vectors: Any
    residuals: jax.Array

    @property
    def eigenvalues(self) -> jax.Array:
        """Deprecated: ``values``."""
        warnings.warn("Eigenpairs.eigenvalues is deprecated; use .values", DeprecationWarning, stacklevel=2)
        return self.values

    @property
    def eigenvectors(self) -> jax.Array:
        """Deprecated: ``vectors.T``, the ``(N, k)`` columns of the former ``EigResult``."""
        warnings.warn(
            "Eigenpairs.eigenvectors is deprecated; use .vectors (k, N), one row per eigenvalue",
            DeprecationWarning,
            stacklevel=2,
        )
        return jnp.swapaxes(self.vectors, -1, -2)


class TraceEstimate(NamedTuple):
    """Output of :func:`fpjax.hessian.hutchinson_trace`: ``estimate`` and its ``standard_error``.

    Attributes:
      estimate: ``(1/m) Σᵢ zᵢᵀ C zᵢ`` (plus the deflated part), a scalar in the params' dtype.
      standard_error: ``std(zᵢᵀ C zᵢ, ddof=1)/√m``; NaN for one probe.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import hutchinson_trace
      >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 5.0) * p ** 2)     # H = diag(1, 2, 3, 4)
      >>> est = hutchinson_trace(loss, jnp.zeros(4), key=jax.random.key(0), num_probes=8)
      >>> float(est.estimate), float(est.standard_error)   # zᵀHz = tr H for every sign vector z
      (10.0, 0.0)

    References:
      Hutchinson 1990, doi:10.1080/03610919008812866; Meyer, Musco, Musco, Woodruff 2021 (Hutch++,
      the deflated estimator), arXiv:2010.09649.
    """

    estimate: jax.Array
    standard_error: jax.Array


class Quadrature(NamedTuple):
    """Output of :func:`fpjax.hessian.slq_quadrature`: ``nodes`` and ``weights``, both
    ``(num_probes, num_iters)``.

    Row ``i`` is the Gauss quadrature rule of probe ``i``: Ritz values ``θⱼ`` and weights ``τⱼ``
    (``Σⱼ τⱼ = 1``), so that ``(1/P) tr g(C) ≈ mean_i Σⱼ τᵢⱼ g(θᵢⱼ)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.hessian import slq_quadrature
      >>> loss = lambda p: 0.5 * jnp.sum(jnp.arange(1.0, 5.0) * p ** 2)     # H = diag(1, 2, 3, 4)
      >>> q = slq_quadrature(loss, jnp.zeros(4), key=jax.random.key(0), num_probes=3, num_iters=4)
      >>> q.nodes.shape, [round(float(v), 4) for v in q.nodes[0]]
      ((3, 4), [1.0, 2.0, 3.0, 4.0])
      >>> round(float(jnp.mean(jnp.sum(q.weights * q.nodes, axis=1))), 4)     # (1/P) tr H = 2.5
      2.5

    References:
      Ubaru, Chen, Saad 2017 (SLQ), doi:10.1137/16M1104974.
    """

    nodes: jax.Array
    weights: jax.Array


# ---------------------------------------------------------------------------------------------
# Lanczos
# ---------------------------------------------------------------------------------------------


def tridiag(alphas, betas):
    """The symmetric tridiagonal ``T`` with diagonal ``alphas`` and off-diagonal ``betas``."""
    return jnp.diag(alphas) + jnp.diag(betas, 1) + jnp.diag(betas, -1)


def lanczos_basis(mv, v0, num_iters: int):
    """``num_iters`` Lanczos steps from ``v0``: ``(alphas (m,), betas (m,), V (m, P))``.

    ``betas[:m−1]`` is the off-diagonal of ``T``; ``betas[m−1] = β_m`` is the norm of the next
    residual vector (0 after a breakdown), so ``A V = Vᵀ T + β_m v_{m+1} e_mᵀ``.
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
        # (smallest Σ_j V_ji²; its orthogonal part has norm² ≥ 1 − (j+1)/P > 0), orthogonalized.
        i = jnp.argmin(colsq)
        r = gs(V, (-(V.T @ V[:, i])).at[i].add(1.0))
        nr = jnp.linalg.norm(r)
        return jnp.where(nr > 0, r / jnp.where(nr > 0, nr, 1), 0)

    def body(j, state):
        V, alphas, betas, hnorm, colsq = state
        v = V[j]
        w = mv(v).astype(dt)
        hnorm = jnp.maximum(hnorm, jnp.linalg.norm(w))
        alpha = jnp.vdot(v, w)
        beta_prev = jnp.where(j > 0, betas[j - 1], 0)
        w = w - alpha * v - beta_prev * V[j - 1]  # V[-1] is the zero row m when j = 0
        n0 = jnp.linalg.norm(w)
        w = gs(V, w)
        w = jax.lax.cond(jnp.linalg.norm(w) < 0.7 * n0, lambda u: gs(V, u), lambda u: u, w)
        beta = jnp.linalg.norm(w)
        # Breakdown (invariant subspace reached): restart with β = 0, so T is block-diagonal and
        # every block's eigenvalues are eigenvalues of A.
        broke = beta <= eps * math.sqrt(p) * hnorm
        vnext = jax.lax.cond(broke, lambda: restart(V, colsq), lambda: w / jnp.where(broke, 1, beta))
        beta = jnp.where(broke, 0, beta)
        V = V.at[j + 1].set(vnext)
        return (V, alphas.at[j].set(alpha), betas.at[j].set(beta), hnorm, colsq + vnext * vnext)

    state = (V, jnp.zeros((m,), dt), jnp.zeros((m,), dt), jnp.zeros((), dt), v0 * v0)
    V, alphas, betas, _, _ = jax.lax.fori_loop(0, m, body, state)
    return alphas, betas, V[:m]


def ritz_pairs(alphas, betas, V, k: int) -> Eigenpairs:
    """The ``k`` largest Ritz pairs of :func:`lanczos_basis`'s output, residuals from the recurrence.

    ``yᵢ = Vᵀsᵢ`` (normalised), ``‖A yᵢ − θᵢ yᵢ‖ = β_m |s_{m,i}|`` (exact in exact arithmetic; with
    full reorthogonalisation it holds to rounding).
    """
    theta, s = jnp.linalg.eigh(tridiag(alphas, betas[:-1]))
    theta, s = theta[::-1][:k], s[:, ::-1][:, :k]
    Y = (V.T @ s).T  # (k, P)
    Y = Y / jnp.linalg.norm(Y, axis=1, keepdims=True)
    return Eigenpairs(theta, Y, jnp.abs(betas[-1] * s[-1]))


def asymmetry(matvec, n: int, dtype, key, num_iters: int):
    """``True`` (traced) when ``matvec`` is visibly not symmetric on a random pair ``u, v``.

    ``|⟨u, Av⟩ − ⟨Au, v⟩| > tol (‖u‖‖Av‖ + ‖Au‖‖v‖)`` with ``tol = 10 ε (num_iters + √N)``: the
    rounding of the two inner products (``√N ε``) and of ``num_iters`` Lanczos steps (an asymmetry
    below that changes no Ritz value beyond what rounding already does). Two products.
    """
    ku, kv = jax.random.split(key)
    u = jax.random.normal(ku, (n,), dtype)
    v = jax.random.normal(kv, (n,), dtype)
    au, av = matvec(u).astype(dtype), matvec(v).astype(dtype)
    tol = symmetry_tolerance(n, dtype, num_iters)
    scale = jnp.linalg.norm(u) * jnp.linalg.norm(av) + jnp.linalg.norm(au) * jnp.linalg.norm(v)
    return jnp.abs(jnp.vdot(u, av) - jnp.vdot(au, v)) > tol * scale


def symmetry_tolerance(n: int, dtype, num_iters: int) -> float:
    """Relative tolerance of :func:`asymmetry`: ``10 ε (num_iters + √N)``."""
    return 10 * float(jnp.finfo(dtype).eps) * (num_iters + math.sqrt(n))


def _asymmetry_message(n, dtype, num_iters):
    return (
        "matvec must be a symmetric linear map: ⟨u, A v⟩ and ⟨A u, v⟩ differ for a random pair u, v by more "
        f"than the rounding tolerance {symmetry_tolerance(n, dtype, num_iters):.2g} (relative); Lanczos "
        "needs a symmetric operator"
    )


def check_basis_memory(num_iters: int, n: int, itemsize: int, name: str, copies: int = 1) -> None:
    """``ValueError`` naming ``name`` before allocating ``copies`` Lanczos bases ``(num_iters + 1, n)``."""
    nbytes = copies * (num_iters + 1) * n * itemsize
    what = f"the ({num_iters + 1}, {n}) Lanczos basis" + (
        f" (x{copies}, one per probe in a batch)" if copies > 1 else ""
    )
    checks.check_memory(nbytes, name, f"{what} ({nbytes:,} bytes)")


def lanczos_tridiag(
    matvec: Callable[[jax.Array], jax.Array], v0: jax.Array, num_iters: int, *, return_vectors: bool = False
) -> LanczosResult:
    """``num_iters``-step Lanczos of any symmetric operator, with full reorthogonalization.

    Builds orthonormal ``V = [v₁ … v_m]`` (``v₁ = v0/‖v0‖``) and ``T = V A Vᵀ`` tridiagonal:
    ``w = A v_j − α_j v_j − β_{j−1} v_{j−1}``, then Gram-Schmidt against all of ``V``, a second pass
    only when the first removed more than ~30% of ``w`` (DGKS criterion, as in ARPACK), so ``T`` has
    no spurious copies of converged Ritz values. When the Krylov space is exhausted (``β = 0``) the
    iteration restarts from the coordinate vector least represented in ``span(V)``, so with
    ``num_iters = P`` the Ritz values are all eigenvalues of ``A`` up to rounding. Jittable and
    vmappable (``num_iters`` and ``return_vectors`` static). Memory ``O(num_iters · P)``, checked
    against the memory available before anything is allocated. A ``matvec`` that is not symmetric
    (two products on a random pair, see :func:`asymmetry`) is refused (``ValueError`` eagerly, a
    failing program under ``jit``/``vmap``).

    Args:
      matvec: ``(P,) -> (P,)``, a symmetric linear map ``v ↦ Av``.
      v0: ``(P,)`` non-zero start vector.
      num_iters: ``1 <= m <= P``.
      return_vectors: also return ``V`` (``vectors`` field; ``None`` otherwise).

    Returns:
      :class:`LanczosResult` ``(alphas (m,), betas (m−1,), vectors (m, P) | None)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from fpjax.hessian import lanczos_tridiag
      >>> a = jnp.diag(jnp.array([1.0, 2.0, 3.0, 4.0]))
      >>> r = lanczos_tridiag(lambda v: a @ v, jnp.ones(4), 4)
      >>> [round(float(e), 4) for e in jnp.linalg.eigvalsh(jnp.diag(r.alphas) + jnp.diag(r.betas, 1)
      ...                                                    + jnp.diag(r.betas, -1))]
      [1.0, 2.0, 3.0, 4.0]

    References:
      Lanczos 1950, doi:10.6028/jres.045.026; Parlett, *The Symmetric Eigenvalue Problem* (1998),
      doi:10.1137/1.9781611971163; Daniel, Gragg, Kaufman, Stewart 1976 (DGKS),
      doi:10.1090/S0025-5718-1976-0431641-8.
    """
    if not callable(matvec):
        raise TypeError(f"matvec must be callable (P,) -> (P,); got {type(matvec).__name__}")
    v0 = checks.as_array(v0, "v0")
    checks.check_ndim(v0, "v0", 1, shape_hint="(P,)")
    if not jnp.issubdtype(v0.dtype, jnp.floating):
        v0 = v0.astype(jnp.result_type(float))
    num_iters = checks.check_positive_int(num_iters, "num_iters")
    p = v0.shape[0]
    if num_iters > p:
        raise ValueError(f"num_iters must be <= the dimension P={p}; got {num_iters}")
    check_basis_memory(num_iters, p, v0.dtype.itemsize, "num_iters")
    bad = asymmetry(matvec, p, v0.dtype, jax.random.key(0), num_iters)
    a, b, V = lanczos_basis(matvec, v0, num_iters)
    out = LanczosResult(a, b[: num_iters - 1], V if return_vectors else None)
    return checks.error_if(out, bad, _asymmetry_message(p, v0.dtype, num_iters))


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _eigh_jit(matvec, n, k, m, dtype, key):
    key, sub = jax.random.split(key)
    v0 = jax.random.normal(sub, (n,), dtype)
    bad = asymmetry(matvec, n, dtype, key, m)
    return ritz_pairs(*lanczos_basis(matvec, v0, m), k), bad


@checks.renamed_keyword(n_iter="num_iters")
def lanczos_eigh(
    matvec: Callable, n: int, k: int, *, key: jax.Array, num_iters: int | None = None, dtype=None
) -> Eigenpairs:
    """Top-``k`` eigenpairs of a symmetric operator by Lanczos (:func:`lanczos_tridiag`'s iteration).

    ``m = num_iters`` steps with full reorthogonalisation build ``V`` (``m × N``) and the tridiagonal
    ``T = V A Vᵀ``; the Ritz pairs are ``(θᵢ, Vᵀsᵢ)`` for ``T sᵢ = θᵢ sᵢ``, with residuals
    ``‖A yᵢ − θᵢ yᵢ‖ = β_m |s_{m,i}|``. On breakdown (an invariant subspace, e.g. a rank-deficient
    ``A``) the iteration restarts orthogonally to ``V``, so ``m`` may reach ``N``. The start vector
    is Gaussian from ``key``. Before the iteration two products on a random pair check that ``A`` is
    symmetric (see :func:`asymmetry`); the ``(m + 1) × N`` basis is checked against the memory
    available. One compiled program per ``(matvec, n, k, m, dtype)``: pass the same ``matvec``
    object to reuse it.

    Args:
      matvec: jittable ``v ↦ A v`` on ``(N,)`` vectors.
      n: ``N``, the size of the operator.
      k: number of eigenpairs, ``1 ≤ k ≤ m``.
      key: PRNG key (start vector, symmetry check).
      num_iters: Lanczos steps ``m`` (default ``min(N, 2k + 20)``), ``k ≤ m ≤ N``. ``n_iter`` is its
        deprecated spelling.
      dtype: working dtype (default JAX's default float).

    Returns:
      :class:`Eigenpairs` ``(values (k,), vectors (k, N), residuals (k,))``. Memory ``O(m·N)``
      beyond ``matvec``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.ntk import lanczos_eigh
      >>> a = jnp.diag(jnp.arange(1.0, 51.0))
      >>> r = lanczos_eigh(lambda v: a @ v, 50, 3, key=jax.random.key(0), num_iters=50)
      >>> [round(float(v), 4) for v in r.values]
      [50.0, 49.0, 48.0]

    References:
      Parlett (1998), doi:10.1137/1.9781611971163, ch. 13.
    """
    if not callable(matvec):
        raise TypeError(f"matvec must be callable (N,) -> (N,); got {type(matvec).__name__}")
    n = checks.check_positive_int(n, "n")
    k = checks.check_positive_int(k, "k")
    checks.check_key(key)
    m = default_num_iters(n, k, num_iters)
    dtype = jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)
    # name the argument whose reduction helps: n when two vectors of size n alone do not fit
    small_n = 4 * n * dtype.itemsize <= checks.available_memory()
    check_basis_memory(m, n, dtype.itemsize, "num_iters" if num_iters is not None and small_n else "n")
    pairs, bad = _eigh_jit(matvec, n, k, m, dtype, key)
    return checks.error_if(pairs, bad, _asymmetry_message(n, dtype, m))


def default_num_iters(n: int, k: int, num_iters: int | None) -> int:
    """``num_iters`` checked ``k <= m <= n`` (default ``min(n, 2k + 20)``)."""
    m = min(n, 2 * k + 20) if num_iters is None else checks.check_positive_int(num_iters, "num_iters")
    if not k <= m <= n:
        raise ValueError(f"need k <= num_iters <= N; got k={k}, num_iters={m}, N={n}")
    return m


def lanczos_tree(mv, like, key, num_iters: int):
    """Lanczos of a pytree operator ``mv`` on the flat space of ``like``, Rademacher start.

    Returns ``(alphas, betas, V)`` as :func:`lanczos_basis` (flat basis). The basis is one matrix
    rather than a pytree: per-leaf products made the loop compile twice as slowly; the
    flatten/unflatten of one vector per step costs little next to the product.
    """
    theta, unravel = ravel_pytree(like)
    v0 = rademacher(key, theta.size, theta.dtype)
    return lanczos_basis(lambda v: ravel_pytree(mv(unravel(v)))[0], v0, num_iters)


# ---------------------------------------------------------------------------------------------
# Probes, Hutchinson, stochastic Lanczos quadrature
# ---------------------------------------------------------------------------------------------


def unpack_signs(words, p: int, dtype):
    """±1 from the bits of ``uint32`` words ``(..., W)`` → ``(..., p)``, ``p <= 32 W``.

    ``jax.random.rademacher`` spends a 32-bit draw per entry; threefry on CPU costs ~25 ns per draw,
    which for P = 1.3e5 made probe generation slower than the HVP itself. Every bit of a
    ``jax.random.bits`` word is an independent fair coin, so this is the same distribution 32x cheaper.
    """
    b = (words[..., None] >> jnp.arange(32, dtype=jnp.uint32)) & jnp.uint32(1)
    b = b.reshape(words.shape[:-1] + (words.shape[-1] * 32,))[..., :p]
    return (1 - 2 * b.astype(jnp.int8)).astype(dtype)


def rademacher(key, p: int, dtype):
    """``(p,)`` i.i.d. ±1 entries (one random bit each, one threefry call): the package's only
    Rademacher generator."""
    return unpack_signs(jax.random.bits(key, (-(-p // 32),), jnp.uint32), p, dtype)


# Probes per vmapped chunk (at most). On CPU a wide vmap mostly adds memory traffic: for 100 probes
# on 17k- and 132k-parameter MLPs (2 cores) 10 per chunk was fastest, 20 no better, 1 about 25%
# slower, and 100 per chunk 3x slower on the larger net.
DEFAULT_BATCH_SIZE = 10
#: Most probes one call draws (probe indices are int32).
MAX_PROBES = 2**31 - 1


def probe_map(f, num: int, batch_size: int):
    """``[f(i) for i < num]`` stacked: ``batch_size`` indices vmapped at a time in a ``lax.map``.

    Probes are generated inside ``f`` from their index, so memory is ``batch_size`` probes and the
    values do not depend on ``batch_size``. A last partial chunk is padded (extra values dropped).
    """
    n_chunks = -(-num // batch_size)
    idx = jnp.arange(n_chunks * batch_size, dtype=jnp.int32).reshape(n_chunks, batch_size)
    if n_chunks == 1:
        out = jax.vmap(f)(idx[0])
    else:
        out = jax.lax.map(jax.vmap(f), idx)
        out = jax.tree_util.tree_map(lambda a: a.reshape((n_chunks * batch_size,) + a.shape[2:]), out)
    return jax.tree_util.tree_map(lambda a: a[:num], out)


def default_batch_size(num: int) -> int:
    """Largest divisor of ``num`` that is ``<= DEFAULT_BATCH_SIZE`` (no padded, wasted probes)."""
    return max(b for b in range(1, min(num, DEFAULT_BATCH_SIZE) + 1) if num % b == 0)


def check_num_probes(num_probes, itemsize: int, name: str = "num_probes", per_probe: int = 1) -> int:
    """``num_probes`` as an int ``>= 1``, refused (``ValueError`` naming it, with the bytes) when its
    samples and indices (``per_probe`` values each) would not fit in memory or overflow int32."""
    num_probes = checks.check_positive_int(num_probes, name)
    nbytes = num_probes * (per_probe * itemsize + 4)
    checks.check_memory(nbytes, name, f"the values and indices of {num_probes} probes ({nbytes:,} bytes)")
    if num_probes > MAX_PROBES:
        raise ValueError(f"{name} must be <= {MAX_PROBES}; got {num_probes}")
    return num_probes


def hutchinson(qf, dim: int, dtype, key, num_probes: int, batch_size: int, V=None):
    """Mean and standard error of ``zᵢ'ᵀ A zᵢ' = qf(zᵢ')``, ``z' = (I − VᵀV) z`` (``z' = z`` without ``V``).

    ``qf``: ``(dim,) -> scalar`` quadratic form (or ``-> (r,)``, ``r`` forms on the same probes,
    estimated each); ``z`` Rademacher, probe ``i`` drawn from
    ``fold_in(key, i)``, so the values do not depend on ``batch_size``. The standard error is
    ``std(samples, ddof=1)/√s`` (NaN for one probe).
    """

    def sample(i):
        z = rademacher(jax.random.fold_in(key, i), dim, dtype)
        if V is not None:
            z = z - V.T @ (V @ z)
        return qf(z)

    samples = probe_map(sample, num_probes, batch_size)
    est = jnp.mean(samples, axis=0)
    if num_probes == 1:
        return TraceEstimate(est, jnp.full_like(est, jnp.nan))
    return TraceEstimate(est, jnp.std(samples, axis=0, ddof=1) / math.sqrt(num_probes))


def hutchinson_tree(qf, like, key, num_probes: int, batch_size: int, V=None) -> TraceEstimate:
    """:func:`hutchinson` for a quadratic form on pytrees shaped like ``like``."""
    theta, unravel = ravel_pytree(like)
    return hutchinson(lambda z: qf(unravel(z)), theta.size, theta.dtype, key, num_probes, batch_size, V)


def slq_tree(mv, like, key, num_probes: int, num_iters: int, batch_size: int) -> Quadrature:
    """SLQ nodes and weights of the operator ``mv`` on the flat space of ``like``.

    Probe ``i``: Lanczos from the Rademacher vector of ``fold_in(key, i)`` (normalised, so
    ``E[v vᵀ] = I/P`` and ``E[vᵀ g(A) v] = tr g(A) / P``), ``T = S diag(θ) Sᵀ``, nodes ``θⱼ`` and
    weights ``τⱼ = S[0, j]²``.
    """

    def one(i):
        a, b, _ = lanczos_tree(mv, like, jax.random.fold_in(key, i), num_iters)
        theta_j, s = jnp.linalg.eigh(tridiag(a, b[:-1]))
        return theta_j, s[0] ** 2

    return Quadrature(*probe_map(one, num_probes, batch_size))
