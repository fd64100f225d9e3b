"""Matrix-free eigenpairs of the empirical NTK and its statistics over training.

For a model ``f(θ, x)`` with outputs flattened to a vector ``f(θ) ∈ R^{N}`` (``N = n·c``; index
``i·c + a`` for point ``i`` and output ``a``) and Jacobian ``J = ∂f/∂θ ∈ R^{N×P}``, the empirical NTK is
``K = J Jᵀ``. It is never formed: ``K v = J (Jᵀ v)`` is one reverse-mode product ``Jᵀ v``
(``jax.vjp``) followed by one forward-mode product (``jax.jvp``), optionally over blocks of
``batch_size`` points (``Jᵀ v = Σ_b J_bᵀ v_b`` accumulated in a ``lax.scan``), so memory is
``O(P + batch_size·(activations))`` per product instead of ``O(N²)`` or ``O(N·P)``.

Top-``k`` eigenpairs come from ``m`` steps of the package's one Lanczos iteration
(:mod:`fpjax._src.krylov`: full reorthogonalisation, restarts on breakdown): memory ``O(P + m·N)``
with ``m = num_iters`` (default ``min(N, 2k + 20)``). The Ritz residual
``‖K v_i − θ_i v_i‖ = β_m |s_{m,i}|`` is returned as the accuracy certificate. Everything is pure JAX
(``lax.fori_loop``), so it runs under ``jit``/``vmap`` and inside :func:`fpjax.train.fit`'s
``record``; :func:`ntk_eigh` compiles one program per shapes and takes the parameters and inputs as
its arguments.

``‖K‖_F`` is estimated matrix-free as in Hutch++: with the orthonormal top-``k`` Ritz vectors ``Q``,
``‖K‖_F² = ‖K Q‖_F² + ‖K (I − QQᵀ)‖_F²``; the first term is exact (``k`` products), the second is the
Hutchinson estimate ``(1/s) Σ_j ‖K (I − QQᵀ) z_j‖²`` with ``s`` Rademacher probes ``z_j`` (the
core's :func:`~fpjax._src.krylov.hutchinson`). Deflating
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
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fpjax._src import checks, krylov
from fpjax._src.array_types import ArrayLike, PyTree
from fpjax._src.krylov import Eigenpairs, lanczos_eigh
from fpjax._src.models import Model

__all__ = ["Eigenpairs", "NTKRecord", "frobenius_norm", "lanczos_eigh", "ntk_eigh", "ntk_matvec", "ntk_record"]

#: Deprecated name of :class:`~fpjax._src.krylov.Eigenpairs` (fields ``values, vectors, residuals``;
#: ``eigenvalues`` / ``eigenvectors`` remain as deprecated properties).
EigResult = Eigenpairs


def _resolve_apply(apply):
    apply_fn = getattr(apply, "apply", apply)
    if not callable(apply_fn):
        raise TypeError(f"apply must be a fpjax Model or a callable apply(params, x); got {type(apply).__name__}")
    return apply_fn


def _out_dim(apply, params, x) -> int:
    out = jax.eval_shape(apply, params, x)
    if len(out.shape) not in (1, 2) or out.shape[0] != x.shape[0]:
        raise ValueError(f"apply(params, x) must return (n,) or (n, c) with n = {x.shape[0]}; got {tuple(out.shape)}")
    return 1 if len(out.shape) == 1 else int(out.shape[1])


@checks.renamed_keyword(model_or_apply="apply")
def ntk_matvec(apply: Model | Callable, params: PyTree, x: ArrayLike, *, batch_size: int | None = None) -> Callable:
    """The empirical-NTK-vector product ``v ↦ K v = J (Jᵀ v)`` without forming ``K`` or ``J``.

    Args:
      apply: a :class:`fpjax.models.Model` or ``apply(params, x) -> (n,) | (n, c)``.
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
    apply_fn = _resolve_apply(apply)
    x = checks.as_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (n, ...) with a feature axis; got {tuple(x.shape)}")
    checks.check_finite(x, "x")  # here, not at the first product: the operator is built once, used often
    n = x.shape[0]
    c = _out_dim(apply_fn, params, x)
    if batch_size is not None:  # before comparing with n: "4" or 2.5 are refused, naming it
        batch_size = checks.check_positive_int(batch_size, "batch_size")
    if batch_size is None or batch_size >= n:

        def f(p):
            return apply_fn(p, x).reshape(-1)

        def matvec(v):
            _, vjp = jax.vjp(f, params)
            (g,) = vjp(v.astype(_out_dtype(apply_fn, params, x)))
            return jax.jvp(f, (params,), (g,))[1]

        return matvec
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    nb = -(-n // batch_size)
    pad = nb * batch_size - n
    xb = jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]) if pad else x
    xb = xb.reshape((nb, batch_size) + x.shape[1:])
    dtype = _out_dtype(apply_fn, params, x)

    def fb(p, xi):
        return apply_fn(p, xi).reshape(-1)

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


@partial(jax.jit, static_argnames=("apply", "k", "num_iters", "batch_size"))
def _ntk_eigh_jit(apply, params, x, key, *, k, num_iters, batch_size):
    mv = ntk_matvec(apply, params, x, batch_size=batch_size)
    dtype = _out_dtype(apply, params, x)
    _, sub = jax.random.split(key)
    v0 = jax.random.normal(sub, (x.shape[0] * _out_dim(apply, params, x),), dtype)
    return krylov.ritz_pairs(*krylov.lanczos_basis(mv, v0, num_iters), k)


@checks.renamed_keyword(model_or_apply="apply", n_iter="num_iters")
def ntk_eigh(
    apply: Model | Callable,
    params: PyTree,
    x: ArrayLike,
    k: int,
    *,
    key: jax.Array,
    num_iters: int | None = None,
    batch_size: int | None = None,
) -> Eigenpairs:
    """Top-``k`` eigenpairs of the empirical NTK ``K = J Jᵀ`` at ``x``, matrix-free.

    Lanczos (as :func:`lanczos_eigh`) on :func:`ntk_matvec`: never the ``N × N`` kernel nor the
    ``N × P`` Jacobian; memory ``O(P + num_iters·N)`` plus one block's activations. ``params``, ``x``
    and ``key`` are arguments of one compiled program, cached per model, shapes, ``k``,
    ``num_iters`` and ``batch_size``: a call with new parameters or inputs of the same shapes
    compiles nothing. ``K`` is symmetric by construction, so no symmetry check is made.

    Args:
      apply: :class:`fpjax.models.Model` or ``apply(params, x) -> (n,) | (n, c)``.
      params: parameters; x: ``(n, ...)`` inputs; k: number of eigenpairs.
      key: PRNG key; num_iters: Lanczos steps (default ``min(N, 2k + 20)``; ``n_iter`` is its
        deprecated spelling); batch_size: points per block of the products.

    Returns:
      :class:`Eigenpairs` ``(values (k,), vectors (k, N), residuals (k,))``, ``N = n·c``.

    Examples:
      >>> import jax, jax.numpy as jnp, numpy as np
      >>> from fpjax.models import mlp
      >>> from fpjax.ntk import empirical_ntk
      >>> from fpjax.ntk import ntk_eigh
      >>> model = mlp((32, 1), "tanh", init="standard")
      >>> x = jnp.linspace(-1, 1, 20)[:, None]
      >>> p = model.init(jax.random.key(0), x)
      >>> top = ntk_eigh(model, p, x, 2, key=jax.random.key(1), num_iters=20).values
      >>> dense = np.linalg.eigvalsh(np.asarray(empirical_ntk(model, p, x), np.float64))[::-1][:2]
      >>> bool(np.allclose(top, dense, rtol=1e-4))
      True

    References:
      Jacot, Gabriel & Hongler (2018), arXiv:1806.07572.
    """
    apply_fn = _resolve_apply(apply)
    x = checks.as_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (n, ...) with a feature axis; got {tuple(x.shape)}")
    checks.check_finite(x, "x")
    checks.check_key(key)
    k = checks.check_positive_int(k, "k")
    if batch_size is not None:
        batch_size = checks.check_positive_int(batch_size, "batch_size")
        batch_size = None if batch_size >= x.shape[0] else batch_size
    n_total = x.shape[0] * _out_dim(apply_fn, params, x)
    m = krylov.default_num_iters(n_total, k, num_iters)
    krylov.check_basis_memory(
        m, n_total, _out_dtype(apply_fn, params, x).itemsize, "x" if num_iters is None else "num_iters"
    )
    return _ntk_eigh_jit(apply_fn, params, x, key, k=k, num_iters=m, batch_size=batch_size)


def _frob_sq(kq, kr_mean):
    """Hutch++-style ``‖K‖_F²``: ``‖KQ‖_F² + (1/s) Σ_j ‖K r_j‖²`` with ``r_j = (I − QQᵀ) z_j``."""
    return jnp.sum(kq**2) + kr_mean


@checks.renamed_keyword(n_probes="num_probes")
def frobenius_norm(matvec: Callable, vectors: jax.Array, *, key: jax.Array, num_probes: int = 8) -> jax.Array:
    """Matrix-free estimate of ``‖K‖_F`` deflated by orthonormal ``vectors`` (Hutch++ style).

    ``‖K‖_F² = ‖K Q‖_F² + ‖K (I − QQᵀ)‖_F²`` for any orthonormal ``Q`` (``(N, k)``, e.g. the top Ritz
    vectors ``Eigenpairs.vectors.T``); the first term is exact, the second is
    ``(1/s) Σ_j ‖K (I − QQᵀ) z_j‖²`` with ``s = num_probes`` Rademacher ``z_j`` (the core's
    Hutchinson estimator on the quadratic form ``z ↦ ‖Kz‖²``; unbiased, small when ``Q`` captures the
    top of the spectrum).

    Args:
      matvec: ``v ↦ K v`` on ``(N,)``; vectors: ``(N, k)`` orthonormal columns; key: PRNG key;
      num_probes: number of probes ``s ≥ 1`` (``n_probes`` is its deprecated spelling).

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
    if not callable(matvec):
        raise TypeError(f"matvec must be callable v -> K v; got {type(matvec).__name__}")
    q = checks.as_array(vectors, "vectors")
    checks.check_ndim(q, "vectors", 2, shape_hint="(N, k)")
    if not jnp.issubdtype(q.dtype, jnp.floating):
        q = q.astype(jnp.result_type(float))
    num_probes = krylov.check_num_probes(num_probes, q.dtype.itemsize)
    kq = jax.vmap(matvec)(q.T)
    tail = _deflated_tail(lambda z: (jnp.sum(matvec(z) ** 2),), q, key, num_probes)[0]
    return jnp.sqrt(_frob_sq(kq, tail))


def _deflated_tail(sq_norms, q, key, num_probes):
    """Hutchinson means of ``sq_norms(z)`` (a tuple of ``‖·‖²``) on probes projected off ``q``'s columns."""
    est = krylov.hutchinson(
        lambda z: jnp.stack(sq_norms(z)),
        q.shape[0],
        q.dtype,
        key,
        num_probes,
        krylov.default_batch_size(num_probes),
        q.T,
    ).estimate
    return tuple(est)


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

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> from fpjax.ntk import empirical_ntk, ntk_record
      >>> model = mlp((32, 1), "tanh", init="standard")
      >>> x = jnp.linspace(-1, 1, 8)[:, None]; y = jnp.sin(3 * x)
      >>> p0 = model.init(jax.random.key(0), x)
      >>> rec = ntk_record(model, x, y, k=2, key=jax.random.key(1), params0=p0, eigenvectors=True)
      >>> r = jax.jit(rec)(p0)                                   # one record: an NTKRecord
      >>> r.eigenvalues.shape, r.eigenvectors.shape
      ((2,), (8, 2))
      >>> float(r.kernel_change) < 1e-6  # K = K₀ at params0: zero up to float32 rounding (ε = 1.2e-7)
      True
      >>> dense = jnp.linalg.eigvalsh(empirical_ntk(model, p0, x))[::-1][:2]
      >>> bool(jnp.allclose(r.eigenvalues, dense, rtol=1e-4))
      True
      >>> all(0.0 <= float(v) <= 1.0 for v in (r.alignment, r.target_fraction, r.residual_fraction))
      True
    """

    eigenvalues: jax.Array
    frobenius: jax.Array
    alignment: jax.Array
    target_fraction: jax.Array
    residual_fraction: jax.Array
    kernel_change: jax.Array | None
    eigenvectors: jax.Array | None


@checks.renamed_keyword(model_or_apply="apply", n_iter="num_iters", n_probes="num_probes")
def ntk_record(
    apply: Model | Callable,
    x_train: ArrayLike,
    y_train: ArrayLike,
    *,
    k: int,
    key: jax.Array,
    num_iters: int | None = None,
    num_probes: int = 8,
    batch_size: int | None = None,
    params0: PyTree | None = None,
    eigenvectors: bool = False,
) -> Callable[[Any], NTKRecord]:
    """A ``record(params)`` for :func:`fpjax.train.fit` / ``sweep``: the NTK's spectrum during training.

    At each record the top-``k`` eigenpairs ``(λ_i, v_i)`` of the empirical NTK ``K_θ`` on ``x_train``
    come from Lanczos (:func:`ntk_eigh`); ``‖K‖_F`` from :func:`frobenius_norm` deflated by ``V``; then
    the alignment ``yᵀKy/(‖K‖_F‖y‖²)`` (one extra product), and the fractions of ``y`` and of the
    residual ``f(x) − y`` in ``span(V)``. The same probe vectors (from ``key``) are used at every
    record, so changes over training are not probe noise. Cost per record: ``num_iters + k + num_probes + 1``
    NTK-vector products (twice the last two terms with ``params0``).

    Args:
      apply: :class:`fpjax.models.Model` or ``apply``.
      x_train: ``(n, ...)``; y_train: ``(n,)`` or ``(n, c)`` like the model's output.
      k: top eigenpairs; key: PRNG key (Lanczos start and probes); num_iters: Lanczos steps;
      num_probes: Hutchinson probes; batch_size: points per block of the products; the deprecated
        spellings ``n_iter`` and ``n_probes`` still work;
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
      >>> r.records.eigenvalues.shape, r.records.alignment.shape
      ((3, 3), (3,))
      >>> float(r.records.kernel_change[0]) < 1e-6  # the record at step 0 is at params0: zero up to rounding
      True

    References:
      Cristianini et al. (2001), *On kernel-target alignment*, NeurIPS 14; Kopitkov & Indelman (2020),
      arXiv:1910.02875; Fort et al. (2020), arXiv:2010.15110.
    """
    apply_fn = _resolve_apply(apply)
    x_train = checks.as_array(x_train, "x_train")
    y_train = checks.as_array(y_train, "y_train")
    checks.check_same_leading(x_train, "x_train", y_train, "y_train")
    checks.check_finite(x_train, "x_train")
    checks.check_finite(y_train, "y_train")
    checks.check_key(key)
    k = checks.check_positive_int(k, "k")
    y = y_train.reshape(-1)
    n_total = y.shape[0]
    num_probes = krylov.check_num_probes(num_probes, 8, per_probe=3)
    m = krylov.default_num_iters(n_total, k, num_iters)
    krylov.check_basis_memory(m, n_total, 8, "y_train" if num_iters is None else "num_iters")
    k_lanczos, k_probe = jax.random.split(key)

    def record(params):
        out = apply_fn(params, x_train)
        if out.size != n_total:
            raise ValueError(f"y_train must have the model's output size {out.shape}; got {y_train.shape}")
        dtype = out.dtype
        yv = y.astype(dtype)
        mv = ntk_matvec(apply_fn, params, x_train, batch_size=batch_size)
        _, sub = jax.random.split(k_lanczos)
        v0 = jax.random.normal(sub, (n_total,), dtype)
        eig = krylov.ritz_pairs(*krylov.lanczos_basis(mv, v0, m), k)
        q = eig.vectors.T  # (N, k)
        kq = jax.vmap(mv)(eig.vectors)
        ky = mv(yv)
        mv0 = None if params0 is None else ntk_matvec(apply_fn, params0, x_train, batch_size=batch_size)

        def sq_norms(z):  # ‖Kz‖², and ‖(K − K₀)z‖², ‖K₀z‖² against the reference kernel
            kz = mv(z)
            if mv0 is None:
                return (jnp.sum(kz**2),)
            k0z = mv0(z)
            return jnp.sum(kz**2), jnp.sum((kz - k0z) ** 2), jnp.sum(k0z**2)

        tails = _deflated_tail(sq_norms, q, k_probe, num_probes)
        fro = jnp.sqrt(_frob_sq(kq, tails[0]))
        yy = yv @ yv
        align = (yv @ ky) / (fro * yy)
        res = out.reshape(-1) - yv
        frac = lambda u: jnp.sum((eig.vectors @ u) ** 2) / jnp.maximum(u @ u, jnp.finfo(dtype).tiny)
        change = None
        if mv0 is not None:
            k0q = jax.vmap(mv0)(eig.vectors)
            change = jnp.sqrt(_frob_sq(kq - k0q, tails[1]) / _frob_sq(k0q, tails[2]))
        return NTKRecord(eig.values, fro, align, frac(yv), frac(res), change, q if eigenvectors else None)

    return record
