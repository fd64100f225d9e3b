"""One Lanczos for any symmetric matvec, Rademacher probes, and the chunked probe map.

:func:`lanczos_tridiag` is the only Lanczos of the package: every estimator (top eigenvalues,
deflated trace, spectral density, per-layer curvature, recorders, Hessian eigen-directions of the
landscapes) calls it with the matvec of its curvature matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

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
    """

    alphas: jax.Array
    betas: jax.Array
    vectors: jax.Array | None


def tridiag(alphas, betas):
    """The symmetric tridiagonal ``T`` with diagonal ``alphas`` and off-diagonal ``betas``."""
    return jnp.diag(alphas) + jnp.diag(betas, 1) + jnp.diag(betas, -1)


def _lanczos(mv, v0, num_iters: int):
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
        w = mv(v)
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
    return alphas, betas[: m - 1], V[:m]


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
    vmappable (``num_iters`` and ``return_vectors`` static). Memory ``O(num_iters · P)``.

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
    if num_iters > v0.shape[0]:
        raise ValueError(f"num_iters must be <= the dimension P={v0.shape[0]}; got {num_iters}")
    a, b, V = _lanczos(matvec, v0, num_iters)
    return LanczosResult(a, b, V if return_vectors else None)


def lanczos_tree(mv, like, key, num_iters: int):
    """Lanczos of a pytree operator ``mv`` on the flat space of ``like``, random-sign start.

    Returns ``(alphas, betas, V)`` (flat basis). The basis is one matrix rather than a pytree:
    per-leaf products made the loop compile twice as slowly; the flatten/unflatten of one vector per
    step costs little next to the product.
    """
    theta, unravel = ravel_pytree(like)
    v0 = rademacher(key, theta.size, theta.dtype)
    return _lanczos(lambda v: ravel_pytree(mv(unravel(v)))[0], v0, num_iters)


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
    """``(p,)`` i.i.d. ±1 entries (one random bit each, one threefry call)."""
    return unpack_signs(jax.random.bits(key, (-(-p // 32),), jnp.uint32), p, dtype)


# Probes per vmapped chunk (at most). On CPU a wide vmap mostly adds memory traffic: for 100 probes
# on 17k- and 132k-parameter MLPs (2 cores) 10 per chunk was fastest, 20 no better, 1 about 25%
# slower, and 100 per chunk 3x slower on the larger net.
DEFAULT_BATCH = 10


def probe_map(f, num: int, batch: int):
    """``[f(i) for i < num]`` stacked: ``batch`` indices vmapped at a time in a ``lax.map``.

    Probes are generated inside ``f`` from their index, so memory is ``batch`` probes and the
    values do not depend on ``batch``. A last partial chunk is padded (extra values dropped).
    """
    n_chunks = -(-num // batch)
    idx = jnp.arange(n_chunks * batch, dtype=jnp.int32).reshape(n_chunks, batch)
    if n_chunks == 1:
        out = jax.vmap(f)(idx[0])
    else:
        out = jax.lax.map(jax.vmap(f), idx)
        out = jax.tree_util.tree_map(lambda a: a.reshape((n_chunks * batch,) + a.shape[2:]), out)
    return jax.tree_util.tree_map(lambda a: a[:num], out)


def default_batch(num: int) -> int:
    """Largest divisor of ``num`` that is ``<= DEFAULT_BATCH`` (no padded, wasted probes)."""
    return max(b for b in range(1, min(num, DEFAULT_BATCH) + 1) if num % b == 0)
