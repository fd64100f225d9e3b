"""Matrix-free eigenpairs of the empirical NTK and its statistics over training.

For a model ``f(θ, x)`` with outputs flattened to a vector ``f(θ) ∈ R^{N}`` (``N = n·c``; index
``i·c + a`` for point ``i`` and output ``a``) and Jacobian ``J = ∂f/∂θ ∈ R^{N×P}``, the empirical NTK is
``K = J Jᵀ``. It is never formed: ``K v = J (Jᵀ v)`` is one reverse-mode product ``Jᵀ v``
(``jax.vjp``) followed by one forward-mode product (``jax.jvp``), optionally over blocks of
``batch_size`` points (``Jᵀ v = Σ_b J_bᵀ v_b`` accumulated in a ``lax.scan``), so memory is
``O(P + batch_size·(activations))`` per product instead of ``O(N²)`` or ``O(N·P)``.

Top-``k`` eigenpairs come from ``m`` steps of Lanczos with full reorthogonalisation (each new
vector is orthogonalised twice against all previous ones, "twice is enough"): memory ``O(P + m·N)``
with ``m = n_iter`` (default ``min(N, 2k + 20)``). The Ritz residual ``‖K v_i − θ_i v_i‖ = β_m |y_{m,i}|``
is returned as the accuracy certificate. Everything is pure JAX (``lax.fori_loop``), so it runs
under ``jit``/``vmap`` and inside :func:`fpjax.train.fit`'s ``record``.

``‖K‖_F`` is estimated matrix-free as in Hutch++: with the orthonormal top-``k`` Ritz vectors ``Q``,
``‖K‖_F² = ‖K Q‖_F² + ‖K (I − QQᵀ)‖_F²``; the first term is exact (``k`` products), the second is the
Hutchinson estimate ``(1/s) Σ_j ‖K (I − QQᵀ) z_j‖²`` with ``s`` Rademacher probes ``z_j``. Deflating
the top eigenvectors removes the dominant, badly estimated part of the trace.

References:
  Lanczos (1950), doi:10.6028/jres.045.026; Parlett, *The Symmetric Eigenvalue Problem* (1998),
  doi:10.1137/1.9781611971163 (full reorthogonalisation, Ritz residuals); Meyer, Musco, Musco &
  Woodruff, *Hutch++* (2021), arXiv:2010.09649; Cristianini, Shawe-Taylor, Elisseeff & Kandola,
  *On kernel-target alignment* (2001); Jacot, Gabriel & Hongler (2018), arXiv:1806.07572;
  Fort et al., *Deep learning versus kernel learning* (2020), arXiv:2010.15110 (kernel dynamics).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fpjax._src import checks
from fpjax._src.array_types import ArrayLike, PyTree
from fpjax._src.models import Model

__all__ = ["EigResult", "NTKRecord", "frobenius_norm", "lanczos_eigh", "ntk_eigh", "ntk_matvec", "ntk_record"]


def _resolve_apply(model_or_apply):
    apply = getattr(model_or_apply, "apply", model_or_apply)
    if not callable(apply):
        raise TypeError(
            f"model_or_apply must be a fpjax Model or a callable apply(params, x); got {type(model_or_apply).__name__}"
        )
    return apply


def _out_dim(apply, params, x) -> int:
    out = jax.eval_shape(apply, params, x)
    if len(out.shape) not in (1, 2) or out.shape[0] != x.shape[0]:
        raise ValueError(f"apply(params, x) must return (n,) or (n, c) with n = {x.shape[0]}; got {tuple(out.shape)}")
    return 1 if len(out.shape) == 1 else int(out.shape[1])


def ntk_matvec(
    model_or_apply: Model | Callable, params: PyTree, x: ArrayLike, *, batch_size: int | None = None
) -> Callable:
    """The empirical-NTK-vector product ``v ↦ K v = J (Jᵀ v)`` without forming ``K`` or ``J``.

    Args:
      model_or_apply: a :class:`fpjax.models.Model` or ``apply(params, x) -> (n,) | (n, c)``.
      params: pytree of parameters.
      x: ``(n, ...)`` inputs.
      batch_size: points per block (``None``: all at once). Blocks are padded; padded points get
        ``v = 0`` and are dropped, so the product is exact.

    Returns:
      ``matvec(v)``: ``(N,)`` → ``(N,)`` with ``N = n·c`` (row-major ``(n, c)`` flattening); jittable.

    Examples:
      >>> import jax, jax.numpy as jnp, numpy as np
      >>> from fpjax.models import mlp
      >>> from fpjax.ntk import empirical_ntk
      >>> from fpjax.ntk import ntk_matvec
      >>> model = mlp((16, 1), "tanh", init="standard")
      >>> x = jnp.linspace(-1, 1, 5)[:, None]
      >>> p = model.init(jax.random.key(0), x)
      >>> v = jnp.arange(5.0)
      >>> bool(np.allclose(ntk_matvec(model, p, x, batch_size=2)(v), empirical_ntk(model, p, x) @ v, atol=1e-4))
      True
    """
    apply = _resolve_apply(model_or_apply)
    x = checks.as_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (n, ...) with a feature axis; got {tuple(x.shape)}")
    n = x.shape[0]
    c = _out_dim(apply, params, x)
    if batch_size is None or batch_size >= n:

        def f(p):
            return apply(p, x).reshape(-1)

        def matvec(v):
            _, vjp = jax.vjp(f, params)
            (g,) = vjp(v.astype(_out_dtype(apply, params, x)))
            return jax.jvp(f, (params,), (g,))[1]

        return matvec
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    nb = -(-n // batch_size)
    pad = nb * batch_size - n
    xb = jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]) if pad else x
    xb = xb.reshape((nb, batch_size) + x.shape[1:])
    dtype = _out_dtype(apply, params, x)

    def fb(p, xi):
        return apply(p, xi).reshape(-1)

    def matvec(v):
        vb = jnp.concatenate([v.astype(dtype), jnp.zeros((pad * c,), dtype)]).reshape(nb, batch_size * c)

        def acc(g, inp):
            xi, vi = inp
            _, vjp = jax.vjp(lambda p: fb(p, xi), params)
            (gi,) = vjp(vi)
            return jax.tree_util.tree_map(jnp.add, g, gi), None

        g0 = jax.tree_util.tree_map(jnp.zeros_like, params)
        g, _ = jax.lax.scan(acc, g0, (xb, vb))
        out = jax.lax.map(lambda xi: jax.jvp(lambda p: fb(p, xi), (params,), (g,))[1], xb)
        return out.reshape(-1)[: n * c]

    return matvec


def _out_dtype(apply, params, x):
    return jax.eval_shape(apply, params, x).dtype


class EigResult(NamedTuple):
    """Top-k eigenpairs from :func:`lanczos_eigh` / :func:`ntk_eigh`.

    eigenvalues: ``(k,)`` Ritz values, descending.
    eigenvectors: ``(N, k)`` orthonormal Ritz vectors (columns).
    residuals: ``(k,)`` ``‖K v_i − θ_i v_i‖`` (computed from the Lanczos recurrence).
    """

    eigenvalues: jax.Array
    eigenvectors: jax.Array
    residuals: jax.Array


def lanczos_eigh(
    matvec: Callable, n: int, k: int, *, key: jax.Array, n_iter: int | None = None, dtype=None
) -> EigResult:
    """Top-``k`` eigenpairs of a symmetric positive semi-definite operator by Lanczos.

    ``m = n_iter`` steps with full reorthogonalisation (twice per step) build ``Q ∈ R^{N×m}`` and the
    tridiagonal ``T = Qᵀ A Q``; the Ritz pairs are ``(θ_i, Q y_i)`` for ``T y_i = θ_i y_i``. On
    breakdown (an invariant subspace found, e.g. rank-deficient ``A``) the iteration restarts from a
    fresh random vector orthogonal to ``Q``, so ``m`` may reach ``N``.

    Args:
      matvec: jittable ``v ↦ A v`` on ``(N,)`` vectors.
      n: ``N``, the size of the operator.
      k: number of eigenpairs, ``1 ≤ k ≤ m``.
      key: PRNG key (starting vector, restarts).
      n_iter: Lanczos steps ``m`` (default ``min(N, 2k + 20)``), ``k ≤ m ≤ N``.
      dtype: working dtype (default JAX's default float).

    Returns:
      :class:`EigResult`. Memory ``O(m·N)`` beyond ``matvec``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.ntk import lanczos_eigh
      >>> a = jnp.diag(jnp.arange(1.0, 51.0))
      >>> r = lanczos_eigh(lambda v: a @ v, 50, 3, key=jax.random.key(0), n_iter=50)
      >>> [round(float(v), 4) for v in r.eigenvalues]
      [50.0, 49.0, 48.0]

    References:
      Parlett (1998), doi:10.1137/1.9781611971163, ch. 13.
    """
    n = checks.check_positive_int(n, "n")
    k = checks.check_positive_int(k, "k")
    checks.check_key(key)
    m = min(n, 2 * k + 20) if n_iter is None else checks.check_positive_int(n_iter, "n_iter")
    if not k <= m <= n:
        raise ValueError(f"need k <= n_iter <= n; got k={k}, n_iter={m}, n={n}")
    dtype = jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)
    return jax.jit(lambda kk: _lanczos(matvec, n, k, m, kk, dtype))(key)


def _orth(q, w):
    w = w - q.T @ (q @ w)
    return w - q.T @ (q @ w)


def _lanczos(matvec, n, k, m, key, dtype):
    eps = jnp.finfo(dtype).eps
    key, sub = jax.random.split(key)
    q0 = jax.random.normal(sub, (n,), dtype)
    q = jnp.zeros((m + 1, n), dtype).at[0].set(q0 / jnp.linalg.norm(q0))
    alpha = jnp.zeros((m,), dtype)
    beta = jnp.zeros((m,), dtype)

    def body(j, carry):
        q, alpha, beta, scale, key = carry
        qj = q[j]
        w = matvec(qj).astype(dtype)
        a = qj @ w
        scale = jnp.maximum(scale, jnp.linalg.norm(w))
        w = _orth(q, w)
        b = jnp.linalg.norm(w)
        key, sub = jax.random.split(key)
        r = _orth(q, jax.random.normal(sub, (n,), dtype))
        r = r / jnp.maximum(jnp.linalg.norm(r), jnp.finfo(dtype).tiny)
        # Invariant subspace (β at round-off level): restart from a random vector orthogonal to Q and
        # set β = 0. Zeroing a β perturbs the Ritz values by at most |β| ≤ 10 eps λ_max.
        small = b <= 10 * eps * scale
        qn = jnp.where(small, r, w / jnp.where(small, 1.0, b))
        b = jnp.where(small, 0.0, b)
        return q.at[j + 1].set(qn), alpha.at[j].set(a), beta.at[j].set(b), scale, key

    q, alpha, beta, _, _ = jax.lax.fori_loop(0, m, body, (q, alpha, beta, jnp.zeros((), dtype), key))
    t = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
    theta, y = jnp.linalg.eigh(t)
    theta, y = theta[::-1][:k], y[:, ::-1][:, :k]
    vecs = q[:m].T @ y
    return EigResult(theta, vecs, jnp.abs(beta[m - 1] * y[m - 1]))


def ntk_eigh(
    model_or_apply: Model | Callable,
    params: PyTree,
    x: ArrayLike,
    k: int,
    *,
    key: jax.Array,
    n_iter: int | None = None,
    batch_size: int | None = None,
) -> EigResult:
    """Top-``k`` eigenpairs of the empirical NTK ``K = J Jᵀ`` at ``x``, matrix-free.

    Lanczos (:func:`lanczos_eigh`) on :func:`ntk_matvec`: never the ``N × N`` kernel nor the ``N × P``
    Jacobian; memory ``O(P + n_iter·N)`` plus one block's activations.

    Args:
      model_or_apply: :class:`fpjax.models.Model` or ``apply(params, x) -> (n,) | (n, c)``.
      params: parameters; x: ``(n, ...)`` inputs; k: number of eigenpairs.
      key: PRNG key; n_iter: Lanczos steps (default ``min(N, 2k + 20)``); batch_size: points per
        block of the products.

    Returns:
      :class:`EigResult` with ``(N, k)`` eigenvectors, ``N = n·c``.

    Examples:
      >>> import jax, jax.numpy as jnp, numpy as np
      >>> from fpjax.models import mlp
      >>> from fpjax.ntk import empirical_ntk
      >>> from fpjax.ntk import ntk_eigh
      >>> model = mlp((32, 1), "tanh", init="standard")
      >>> x = jnp.linspace(-1, 1, 20)[:, None]
      >>> p = model.init(jax.random.key(0), x)
      >>> top = ntk_eigh(model, p, x, 2, key=jax.random.key(1), n_iter=20).eigenvalues
      >>> dense = np.linalg.eigvalsh(np.asarray(empirical_ntk(model, p, x), np.float64))[::-1][:2]
      >>> bool(np.allclose(top, dense, rtol=1e-4))
      True

    References:
      Jacot, Gabriel & Hongler (2018), arXiv:1806.07572.
    """
    apply = _resolve_apply(model_or_apply)
    x = checks.as_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (n, ...) with a feature axis; got {tuple(x.shape)}")
    checks.check_finite(x, "x")
    c = _out_dim(apply, params, x)
    mv = ntk_matvec(apply, params, x, batch_size=batch_size)
    return lanczos_eigh(jax.jit(mv), x.shape[0] * c, k, key=key, n_iter=n_iter, dtype=_out_dtype(apply, params, x))


def _rademacher(key, s, n, dtype):
    return jax.random.rademacher(key, (s, n)).astype(dtype)


def _frob_sq(kq, kr, s):
    """Hutch++-style ``‖K‖_F²``: ``‖KQ‖_F² + (1/s) Σ_j ‖K r_j‖²`` with ``r_j = (I − QQᵀ) z_j``."""
    return jnp.sum(kq**2) + jnp.sum(kr**2) / s


def frobenius_norm(matvec: Callable, vectors: jax.Array, *, key: jax.Array, n_probes: int = 8) -> jax.Array:
    """Matrix-free estimate of ``‖K‖_F`` deflated by orthonormal ``vectors`` (Hutch++ style).

    ``‖K‖_F² = ‖K Q‖_F² + ‖K (I − QQᵀ)‖_F²`` for any orthonormal ``Q`` (``(N, k)``, e.g. the top Ritz
    vectors); the first term is exact, the second is ``(1/s) Σ_j ‖K (I − QQᵀ) z_j‖²`` with ``s = n_probes``
    Rademacher ``z_j`` (unbiased; small when ``Q`` captures the top of the spectrum).

    Args:
      matvec: ``v ↦ K v`` on ``(N,)``; vectors: ``(N, k)`` orthonormal columns; key: PRNG key;
      n_probes: number of probes ``s ≥ 1``.

    Returns:
      scalar estimate of ``‖K‖_F``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.ntk import frobenius_norm
      >>> a = jnp.diag(jnp.array([3.0, 1.0, 0.0, 0.0]))
      >>> q = jnp.eye(4)[:, :2]               # the whole range: the estimate is exact
      >>> round(float(frobenius_norm(lambda v: a @ v, q, key=jax.random.key(0))), 5)
      3.16228

    References:
      Meyer, Musco, Musco & Woodruff (2021), arXiv:2010.09649.
    """
    checks.check_key(key)
    n_probes = checks.check_positive_int(n_probes, "n_probes")
    q = jnp.asarray(vectors)
    z = _rademacher(key, n_probes, q.shape[0], q.dtype)
    r = z - (z @ q) @ q.T
    kq = jax.vmap(matvec)(q.T)
    kr = jax.vmap(matvec)(r)
    return jnp.sqrt(_frob_sq(kq, kr, n_probes))


class NTKRecord(NamedTuple):
    """What :func:`ntk_record` records at each step (stacked over records by ``fit``).

    eigenvalues: ``(k,)`` top eigenvalues of the empirical NTK ``K`` (descending).
    frobenius: ``‖K‖_F`` (Hutch++-style estimate, see :func:`frobenius_norm`).
    alignment: kernel-target alignment ``yᵀ K y / (‖K‖_F ‖y‖²)``.
    target_fraction: ``‖V Vᵀ y‖² / ‖y‖²`` for the top-k eigenvectors ``V``.
    residual_fraction: ``‖V Vᵀ r‖² / ‖r‖²`` for the residual ``r = f(x) − y``.
    kernel_change: ``‖K − K₀‖_F / ‖K₀‖_F`` (both estimated with the same deflated probes) against the
      kernel at ``params0``; None without ``params0``.
    eigenvectors: ``(N, k)`` or None (``eigenvectors=False``).
    """

    eigenvalues: jax.Array
    frobenius: jax.Array
    alignment: jax.Array
    target_fraction: jax.Array
    residual_fraction: jax.Array
    kernel_change: jax.Array | None
    eigenvectors: jax.Array | None


def ntk_record(
    model_or_apply: Model | Callable,
    x_train: ArrayLike,
    y_train: ArrayLike,
    *,
    k: int,
    key: jax.Array,
    n_iter: int | None = None,
    n_probes: int = 8,
    batch_size: int | None = None,
    params0: PyTree | None = None,
    eigenvectors: bool = False,
) -> Callable[[Any], NTKRecord]:
    """A ``record(params)`` for :func:`fpjax.train.fit` / ``sweep``: the NTK's spectrum during training.

    At each record the top-``k`` eigenpairs ``(λ_i, v_i)`` of the empirical NTK ``K_θ`` on ``x_train``
    come from Lanczos (:func:`ntk_eigh`); ``‖K‖_F`` from :func:`frobenius_norm` deflated by ``V``; then
    the alignment ``yᵀKy/(‖K‖_F‖y‖²)`` (one extra product), and the fractions of ``y`` and of the
    residual ``f(x) − y`` in ``span(V)``. The same probe vectors (from ``key``) are used at every
    record, so changes over training are not probe noise. Cost per record: ``n_iter + k + n_probes + 1``
    NTK-vector products (twice the last two terms with ``params0``).

    Args:
      model_or_apply: :class:`fpjax.models.Model` or ``apply``.
      x_train: ``(n, ...)``; y_train: ``(n,)`` or ``(n, c)`` like the model's output.
      k: top eigenpairs; key: PRNG key (Lanczos start and probes); n_iter: Lanczos steps;
      n_probes: Hutchinson probes; batch_size: points per block of the products;
      params0: parameters of a reference kernel (e.g. the initialisation) for ``kernel_change``;
      eigenvectors: also record the ``(N, k)`` eigenvectors.

    Returns:
      ``record(params) -> NTKRecord``, jittable.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from fpjax.models import mlp
      >>> from fpjax.train import fit
      >>> from fpjax.ntk import ntk_record
      >>> model = mlp((32, 1), "tanh", init="standard")
      >>> x = jnp.linspace(-1, 1, 16)[:, None]; y = jnp.sin(3 * x)
      >>> p0 = model.init(jax.random.key(0), x)
      >>> rec = ntk_record(model, x, y, k=3, key=jax.random.key(1), params0=p0)
      >>> r = fit(model.apply, p0, x, y, optimizer=optax.sgd(0.1), steps=20, record=rec, record_every=10)
      >>> r.records.eigenvalues.shape, r.records.alignment.shape, float(r.records.kernel_change[0])
      ((3, 3), (3,), 0.0)

    References:
      Cristianini et al. (2001), *On kernel-target alignment*, NeurIPS 14; Kopitkov & Indelman (2020),
      arXiv:1910.02875; Fort et al. (2020), arXiv:2010.15110.
    """
    apply = _resolve_apply(model_or_apply)
    x_train = checks.as_array(x_train, "x_train")
    y_train = checks.as_array(y_train, "y_train")
    checks.check_same_leading(x_train, "x_train", y_train, "y_train")
    checks.check_finite(x_train, "x_train")
    checks.check_finite(y_train, "y_train")
    checks.check_key(key)
    k = checks.check_positive_int(k, "k")
    n_probes = checks.check_positive_int(n_probes, "n_probes")
    y = y_train.reshape(-1)
    n_total = y.shape[0]
    m = min(n_total, 2 * k + 20) if n_iter is None else checks.check_positive_int(n_iter, "n_iter")
    if not k <= m <= n_total:
        raise ValueError(f"need k <= n_iter <= N = {n_total}; got k={k}, n_iter={m}")
    k_lanczos, k_probe = jax.random.split(key)

    def record(params):
        out = apply(params, x_train)
        if out.size != n_total:
            raise ValueError(f"y_train must have the model's output size {out.shape}; got {y_train.shape}")
        dtype = out.dtype
        yv = y.astype(dtype)
        mv = ntk_matvec(apply, params, x_train, batch_size=batch_size)
        eig = _lanczos(mv, n_total, k, m, k_lanczos, dtype)
        v = eig.eigenvectors
        z = _rademacher(k_probe, n_probes, n_total, dtype)
        rz = z - (z @ v) @ v.T
        probes = jnp.concatenate([v.T, rz, yv[None]])
        kp = jax.vmap(mv)(probes)
        fro = jnp.sqrt(_frob_sq(kp[:k], kp[k : k + n_probes], n_probes))
        yy = yv @ yv
        align = (yv @ kp[-1]) / (fro * yy)
        res = out.reshape(-1) - yv
        frac = lambda u: jnp.sum((v.T @ u) ** 2) / jnp.maximum(u @ u, jnp.finfo(dtype).tiny)
        change = None
        if params0 is not None:
            mv0 = ntk_matvec(apply, params0, x_train, batch_size=batch_size)
            k0 = jax.vmap(mv0)(probes[:-1])
            d = kp[:-1] - k0
            change = jnp.sqrt(_frob_sq(d[:k], d[k:], n_probes) / _frob_sq(k0[:k], k0[k:], n_probes))
        return NTKRecord(eig.eigenvalues, fro, align, frac(yv), frac(res), change, v if eigenvectors else None)

    return record
