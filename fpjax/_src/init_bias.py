"""Initialization bias of kernel regression: Theorems 2 and 3 and the ASI trick.

Kernel interpolation from an initial function
---------------------------------------------
For a kernel ``K``, training inputs ``X`` (n points), targets ``Y`` and an initial function ``f0``,

    h_k(·; f0, X, Y) = f0 + K(·, X) K(X, X)⁻¹ (Y − f0(X)),

the ``t → ∞`` limit of the linearized MSE flow of :func:`fpjax.ntk.kernel_flow` (with the NTK of
a network and ``f0`` the network at init, the function that lazy training converges to).
Everything here works on values at points: the kernel enters only through ``K(X, X)`` and
``K(T, X)`` for evaluation points ``T`` (e.g. a test grid), so any kernel works -- an empirical NTK
(:func:`fpjax.ntk.empirical_ntk`), the infinite-width NTK (:func:`fpjax.ntk.infinite_ntk`), or any
function ``kernel(x1, x2) -> (n1, n2)`` (:func:`kernel_matrices`). The map
``v ↦ S v`` with the **interpolation operator** ``S = K(T, X) K(X, X)⁻¹`` is computed once.

Solvers (``solver=``):

* ``"eigh"`` (default): ``K(X,X) = V Λ Vᵀ`` of the symmetrised matrix, and ``K⁻¹`` is the
  pseudo-inverse that drops eigenvalues ``λ ≤ rcond · λ_max`` (default ``rcond = n · eps``): the
  kernel linear-algebra core shared with :func:`fpjax.ntk.kernel_flow` and the LFP, so ``total``
  equals ``kernel_flow(..., t=inf)`` up to rounding and conflicting targets at a repeated point
  give their least-squares average. Works for any PSD kernel, singular ones included.
* ``"cholesky"``: ``K(X,X) + jitter · (tr K / n) · I = L Lᵀ``. ``jitter = 0`` (default) is exact
  interpolation and needs a positive definite ``K``; a non-finite factor raises ``ValueError``
  (use ``jitter > 0`` or ``"eigh"``). ``jitter > 0`` is kernel ridge regression with ridge
  ``jitter · tr K / n``; ``h(X) = Y`` then holds only approximately.

Both rules give a *linear* map ``v ↦ S v``, which is all Theorems 2 and 3 use, so both theorems
hold exactly for either solver and any ``rcond``/``jitter``.

Theorem 2 (decomposition)
-------------------------
``h_k(·; f0, X, Y) = h_k(·; 0, X, Y) + [f0 − h_k(·; 0, X, f0(X))]``: the *unbiased fit*
``S Y`` plus the *bias* ``f0 − S f0(X)`` -- the part of ``f0`` the kernel cannot see from
its values at ``X`` (mostly its high frequencies). :func:`decompose` returns the three terms, each
computed from its own formula (so their agreement is a numerical check, not a tautology of code).

Theorem 3 (generalization error)
--------------------------------
With ``A = h_k(·; 0, X, f(X)) − f`` (deterministic) and ``B(h) = h − S h(X)`` (linear in ``h``),
``h_k(·; f0, X, f(X)) − f = A + B(f0)``, so
``E‖A + B‖² = ‖A‖² + 2⟨A, E B⟩ + E‖B‖²`` and ``E B = B(E f0) = 0`` for a mean-zero ``f0``:

    E‖h_k(·; f0, X, f(X)) − f‖²
        = ‖h_k(·; 0, X, f(X)) − f‖² + E‖h_k(·; 0, X, f0(X)) − f0‖².

Norms are **means over the evaluation points** ``T`` (summed over outputs):
``‖g‖² ≈ (1/m) Σ_j |g(t_j)|²``, the ``L²`` norm for the uniform probability measure on the
region that a uniform grid ``T`` covers (:func:`grid_sq_norm`).

Which kernel (``kernel=`` of :func:`theorem3_monte_carlo`), and what is then exact:

* ``"infinite"`` -- the infinite-width NTK of the architecture (``model.kernel_fn``), or
  ``"reference"`` -- the empirical NTK of one reference init drawn independently of the
  Monte Carlo inits, or fixed ``(K(X,X), K(T,X))`` matrices: a fixed kernel, independent of
  ``f0``. The identity holds exactly in expectation.
* ``"empirical"`` -- each init's own empirical NTK ``K_θ``. Then ``A = A_θ`` and ``S = S_θ`` are
  random too and the identity reads ``E_θ‖h_k − f‖² = E_θ‖A_θ‖² + E_θ‖B_θ(h_θ)‖²``. It is still
  *exact* in expectation for the fpjax MLPs: flipping the sign of the last layer's weights and bias
  (a symmetry of every fpjax init distribution) maps ``h_θ → −h_θ`` and leaves ``K_θ`` unchanged
  (``K = Σ_l (a a' + t²) δ·δ'`` and every ``δ_l`` flips sign with the last layer), so ``h_θ`` is
  symmetric given ``K_θ`` and ``E[⟨A_θ, B_θ(h_θ)⟩] = 0``.

The Monte Carlo check uses the *paired* per-init difference
``D_i = ‖h_k,i − f‖² − ‖A_i‖² − ‖B_i‖² = 2⟨A_i, B_i⟩``: Theorem 3 says ``E D = 0``, and
``mean(D)`` is compared with its standard error (:func:`theorem3_stats`).

For a Gaussian process ``f0 ~ GP(0, Σ)`` (the infinite-width network at init, ``Σ`` its NNGP
kernel) the bias term has the closed form ``E‖B‖² = (1/m) tr(P Σ Pᵀ)``, ``P = [I_m, −S]``
(:func:`gp_bias_error`). A one-hidden-layer network at *any* width has exactly the NNGP
covariance at init (the last layer averages i.i.d. first-layer features), and ``E‖B‖²`` depends on
``f0`` only through its covariance, so for those networks the formula is exact.

ASI
---
:func:`fpjax.models.asi` networks are exactly 0 at init, so their bias term is exactly 0 and
``h_k(·; h_ASI, X, Y) = h_k(·; 0, X, Y)``, with the base network's NTK.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fpjax._src import checks, kernel_linalg
from fpjax._src.array_types import ArrayLike, PyTree
from fpjax._src.models import Model

__all__ = [
    "SOLVERS",
    "KERNELS",
    "Decomposition",
    "interpolation_operator",
    "kernel_interpolate",
    "decompose",
    "grid_sq_norm",
    "kernel_matrices",
    "KernelMatrices",
    "network_kernels",
    "network_decomposition",
    "Theorem3Result",
    "Theorem3Terms",
    "theorem3_stats",
    "theorem3_terms",
    "theorem3_monte_carlo",
    "gp_bias_error",
]

SOLVERS = ("eigh", "cholesky")
KERNELS = ("infinite", "empirical", "reference")

_HI = jax.lax.Precision.HIGHEST  # theory objects: no TF32/bf16 matmuls on accelerators


class Decomposition(NamedTuple):
    """Theorem 2 at the evaluation points ``T`` (each ``batch + (m, *out)``).

    total: ``h_k(T; f0, X, Y) = f0(T) + S (Y − f0(X))``.
    unbiased: ``h_k(T; 0, X, Y) = S Y``.
    bias: ``f0(T) − h_k(T; 0, X, f0(X)) = f0(T) − S f0(X)``.
    Theorem 2: ``total = unbiased + bias``.

    Examples:
      >>> import jax.numpy as jnp
      >>> k_train_train, k_test_train = jnp.array([[2.0, 1.0], [1.0, 2.0]]), jnp.array([[1.5, 1.5]])
      >>> d = decompose(k_train_train, k_test_train, jnp.array([1.0, 3.0]), jnp.array([1.0, 1.0]), jnp.array([5.0]))
      >>> d._fields
      ('total', 'unbiased', 'bias')
      >>> [v.round(5).tolist() for v in d]  # 6 = 2 + 4
      [[6.0], [2.0], [4.0]]

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by
      initialization in deep neural networks", MSML 2020, arXiv:1905.07777.
    """

    total: jax.Array
    unbiased: jax.Array
    bias: jax.Array


# ----------------------------------------------------------------------------------------------
# the interpolation operator S = K(T,X) K(X,X)⁻¹
# ----------------------------------------------------------------------------------------------


def _flatten_full(k):
    """``(n1, n2, c, c)`` → ``(n1 c, n2 c)`` with row index ``i c + a`` (the order of ``y.reshape(-1)``)."""
    return jnp.transpose(k, (0, 2, 1, 3)).reshape(k.shape[0] * k.shape[2], k.shape[1] * k.shape[3])


@functools.partial(jax.jit, static_argnames=("solver",))
def _operator_core(kxx, ktx, solver: str, rcond, jitter):
    """``S = K(T,X) K(X,X)⁻¹`` for 2-D matrices (jittable, no checks)."""
    ksym = 0.5 * (kxx + kxx.T)  # exact symmetry: rounding in a kernel code is not information
    n = ksym.shape[0]
    if solver == "eigh":
        # S = K_tx K⁺ = (K⁺ K_xt)ᵀ with the kernel core's pseudo-inverse (K symmetric).
        eig = kernel_linalg.eigh_psd(ksym, rcond=rcond)
        return kernel_linalg.pinv_apply(eig, ktx.T).T
    ridge = jitter * jnp.trace(ksym) / n
    chol = jnp.linalg.cholesky(ksym + ridge * jnp.eye(n, dtype=ksym.dtype))
    # S = K_tx K⁻¹  ⇔  K Sᵀ = K_txᵀ  (K symmetric): two triangular solves.
    st = jax.scipy.linalg.cho_solve((chol, True), ktx.T)
    return st.T


def _check_solver(solver, rcond, jitter, n: int, dtype):
    checks.check_choice(solver, "solver", SOLVERS)
    if rcond is None:
        rcond = kernel_linalg.default_rcond(n, dtype)
    rcond = checks.check_positive(rcond, "rcond", allow_zero=True)
    jitter = checks.check_positive(jitter, "jitter", allow_zero=True)
    if solver == "eigh" and jitter != 0:
        raise ValueError("jitter is a parameter of solver='cholesky'; solver='eigh' uses rcond")
    return rcond, jitter


def _check_kernels(k_train_train, k_test_train):
    """Validate ``K(X,X)`` ``(n,n)``/``(n,n,c,c)`` and ``K(T,X)`` ``(m,n)``/``(m,n,c,c)``; flatten full ones."""
    kxx = checks.as_array(k_train_train, "k_train_train")
    checks.check_ndim(kxx, "k_train_train", (2, 4), shape_hint="(n, n) or (n, n, c, c)")
    checks.check_finite(kxx, "k_train_train")
    if kxx.shape[0] != kxx.shape[1] or (kxx.ndim == 4 and kxx.shape[2] != kxx.shape[3]):
        raise ValueError(f"k_train_train must be square, (n, n) or (n, n, c, c); got shape {tuple(kxx.shape)}")
    n = kxx.shape[0]
    full = kxx.ndim == 4
    c = kxx.shape[2] if full else None
    if k_test_train is None:
        ktx = kxx
    else:
        ktx = checks.as_array(k_test_train, "k_test_train")
        checks.check_finite(ktx, "k_test_train")
        want = f"(m, {n})" + (f" + ({c}, {c})" if full else "")
        if ktx.ndim != kxx.ndim or ktx.shape[1] != n or ktx.shape[2:] != kxx.shape[2:] or ktx.shape[0] == 0:
            raise ValueError(
                f"k_test_train must have shape {want} to match k_train_train {tuple(kxx.shape)}; got {tuple(ktx.shape)}"
            )
    m = ktx.shape[0]
    checks.check_no_complex(kxx, "k_train_train")
    checks.check_no_complex(ktx, "k_test_train")
    if full:
        kxx, ktx = _flatten_full(kxx), _flatten_full(ktx)
    if k_test_train is None:
        ktx = kxx = checks.check_symmetric(kxx, "k_train_train")
    else:
        kxx = checks.check_symmetric(kxx, "k_train_train")
    return kxx, ktx, n, m, c


def interpolation_operator(
    k_train_train: ArrayLike,
    k_test_train: ArrayLike | None = None,
    *,
    solver: str = "eigh",
    rcond: float | None = None,
    jitter: float = 0.0,
) -> jax.Array:
    """The interpolation operator ``S = K(T, X) K(X, X)⁻¹`` (see the module doc for the solvers).

    Args:
      k_train_train: ``K(X, X)``, ``(n, n)`` (the same kernel for every output) or ``(n, n, c, c)``
        (full output coupling, e.g. ``empirical_ntk(..., trace_axes=())``).
      k_test_train: ``K(T, X)``, ``(m, n)`` or ``(m, n, c, c)``; None: ``T = X``.
      solver: ``"eigh"`` (pseudo-inverse, eigenvalues ``≤ rcond·λ_max`` dropped; default
        ``rcond = n·eps``) or ``"cholesky"`` (``K + jitter·(tr K/n)·I``; default ``jitter = 0``).

    Returns:
      ``(m, n)``, or ``(m c, n c)`` for full kernels (rows/columns ordered like ``y.reshape(-1)``).

    Raises ``ValueError`` for a Cholesky factorization that fails (``K`` not positive definite).

    Examples:
      At ``T = X`` the operator is the identity (the interpolant reproduces the data); a test point
      with ``K(t, X) = (1.5, 1.5)`` averages the two targets:

      >>> import jax.numpy as jnp
      >>> k_train_train = jnp.array([[2.0, 1.0], [1.0, 2.0]])
      >>> (interpolation_operator(k_train_train).round(6) + 0.0).tolist()
      [[1.0, 0.0], [0.0, 1.0]]
      >>> interpolation_operator(k_train_train, jnp.array([[1.5, 1.5]]), solver="cholesky").round(6).tolist()
      [[0.5, 0.5]]
    """
    kxx, ktx, n, _, _ = _check_kernels(k_train_train, k_test_train)
    dtype = jnp.result_type(kxx.dtype, ktx.dtype, jnp.float32)
    rcond, jitter = _check_solver(solver, rcond, jitter, kxx.shape[0], dtype)
    s = _operator_core(kxx.astype(dtype), ktx.astype(dtype), solver, rcond, jitter)
    if solver == "cholesky":
        # NaN/Inf input was refused above (eagerly) or propagates (traced); a failed factorisation of
        # finite K is the only other source of non-finite S.
        s = checks.error_if(
            s,
            ~jnp.all(jnp.isfinite(s)) & jnp.all(jnp.isfinite(kxx)) & jnp.all(jnp.isfinite(ktx)),
            "k_train_train is not positive definite (Cholesky failed); pass jitter > 0 "
            "(kernel ridge regression) or use solver='eigh' (pseudo-inverse)",
        )
    return s


def _apply_op(s, v, out_ndim: int, full: bool):
    """``S v`` where ``v`` has shape ``batch + (n, *out)`` with ``len(out) = out_ndim``."""
    batch = v.shape[: v.ndim - 1 - out_ndim]
    out = v.shape[v.ndim - out_ndim :]
    n = v.shape[len(batch)]
    if full:
        flat = v.reshape(batch + (n * math.prod(out),))
        res = jnp.matmul(flat, s.T, precision=_HI)
        return res.reshape(batch + (res.shape[-1] // max(math.prod(out), 1),) + out)
    flat = v.reshape(batch + (n, math.prod(out)))
    res = jnp.einsum("mn,...nk->...mk", s, flat, precision=_HI)
    return res.reshape(batch + (s.shape[0],) + out)


def _check_values(
    v,
    name: str,
    batch_and_shape_hint: str,
    point_shape: tuple[int, ...],
    out: tuple[int, ...],
    batch: tuple[int, ...] | None = None,
):
    """``v`` must be ``batch + point_shape + out``; returns it and its batch shape."""
    v = checks.as_array(v, name)
    checks.check_no_complex(v, name)
    checks.check_finite(v, name)
    tail = point_shape + out
    if v.ndim < len(tail) or tuple(v.shape[v.ndim - len(tail) :]) != tail or v.size == 0:
        raise ValueError(
            f"{name} must have shape {batch_and_shape_hint} = (..., {', '.join(map(str, tail))}); got {tuple(v.shape)}"
        )
    b = tuple(v.shape[: v.ndim - len(tail)])
    if batch is not None and b != batch:
        raise ValueError(f"{name} must have the leading (batch) shape {batch} of f0_train; got {b}")
    return v, b


def _prepare(k_train_train, k_test_train, y_train, solver, rcond, jitter):
    kxx, ktx, n, m, c = _check_kernels(k_train_train, k_test_train)
    y = checks.as_array(y_train, "y_train")
    checks.check_no_complex(y, "y_train")
    checks.check_ndim(y, "y_train", (1, 2), shape_hint="(n,) or (n, c)")
    checks.check_finite(y, "y_train")
    if y.shape[0] != n:
        raise ValueError(
            f"y_train must have {n} rows (one per training point of k_train_train); got shape {tuple(y.shape)}"
        )
    if c is not None and (y.ndim != 2 or y.shape[1] != c):
        raise ValueError(f"y_train must have shape ({n}, {c}) for a full (n, n, {c}, {c}) kernel; got {tuple(y.shape)}")
    s = interpolation_operator(kxx, ktx, solver=solver, rcond=rcond, jitter=jitter)
    return s, y, n, m, c is not None


def kernel_interpolate(
    k_train_train: ArrayLike,
    k_test_train: ArrayLike,
    y_train: ArrayLike,
    f0_train: ArrayLike | None = None,
    f0_test: ArrayLike | None = None,
    *,
    solver: str = "eigh",
    rcond: float | None = None,
    jitter: float = 0.0,
) -> jax.Array:
    """``h_k(T; f0, X, Y) = f0(T) + K(T,X) K(X,X)⁻¹ (Y − f0(X))``.

    Args:
      k_train_train: ``(n, n)`` or ``(n, n, c, c)``. k_test_train: ``(m, n)`` / ``(m, n, c, c)``,
        or None for ``T = X``.
      y_train: ``(n,)`` or ``(n, c)``.
      f0_train, f0_test: ``f0(X)`` ``batch + y.shape`` and ``f0(T)``
        ``batch + (m, *y.shape[1:])`` (both or neither; None: ``f0 = 0``). A leading batch shape
        (e.g. many inits) is broadcast.
      solver, rcond, jitter: see :func:`interpolation_operator`.

    Returns:
      ``batch + (m, *y.shape[1:])``.

    Examples:
      >>> import jax.numpy as jnp
      >>> k_train_train, k_test_train = jnp.array([[2.0, 1.0], [1.0, 2.0]]), jnp.array([[1.5, 1.5]])
      >>> y = jnp.array([1.0, 3.0])
      >>> kernel_interpolate(k_train_train, k_test_train, y).round(5).tolist()  # f0 = 0: S Y
      [2.0]
      >>> f0_train, f0_test = jnp.array([[1.0, 1.0], [0.0, 0.0]]), jnp.array([[5.0], [0.0]])  # two inits
      >>> kernel_interpolate(k_train_train, k_test_train, y, f0_train, f0_test).round(5).tolist()
      [[6.0], [2.0]]

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by
      initialization in deep neural networks", MSML 2020, arXiv:1905.07777.
    """
    s, y, n, m, full = _prepare(k_train_train, k_test_train, y_train, solver, rcond, jitter)
    dtype = s.dtype
    out = y.shape[1:]
    if (f0_train is None) != (f0_test is None):
        raise ValueError("give both f0_train and f0_test (f0 at X and at T) or neither (f0 = 0)")
    if f0_train is None:
        return _apply_op(s, y.astype(dtype), len(out), full)
    hx, batch = _check_values(f0_train, "f0_train", "batch + y_train.shape", (n,), out)
    ht, _ = _check_values(f0_test, "f0_test", "batch + (m, *y_train.shape[1:])", (m,), out, batch)
    hx, ht = hx.astype(dtype), ht.astype(dtype)
    return ht + _apply_op(s, y.astype(dtype) - hx, len(out), full)


def decompose(
    k_train_train: ArrayLike,
    k_test_train: ArrayLike,
    y_train: ArrayLike,
    f0_train: ArrayLike,
    f0_test: ArrayLike,
    *,
    solver: str = "eigh",
    rcond: float | None = None,
    jitter: float = 0.0,
) -> Decomposition:
    """Theorem 2: the kernel interpolant from ``f0`` split into unbiased fit and bias term.

    ``total = f0(T) + S (Y − f0(X))``, ``unbiased = S Y``, ``bias = f0(T) − S f0(X)``
    with ``S = K(T,X) K(X,X)⁻¹`` (each from its own formula; Theorem 2: ``total = unbiased + bias``).

    Args: as :func:`kernel_interpolate` (``f0_train``/``f0_test`` required, batchable).

    Returns:
      :class:`Decomposition`, each field ``batch + (m, *y.shape[1:])`` (``unbiased`` has no batch
      axes: it does not depend on ``f0``).

    Examples:
      ``S = (1/2, 1/2)`` at the test point, ``Y = (1, 3)``, ``f0 = 1`` at ``X`` and ``5`` at the test
      point: unbiased fit ``S Y = 2``, bias ``5 − S (1, 1) = 4``, total ``5 + S (0, 2) = 6``.

      >>> import jax.numpy as jnp
      >>> k_train_train, k_test_train = jnp.array([[2.0, 1.0], [1.0, 2.0]]), jnp.array([[1.5, 1.5]])
      >>> d = decompose(k_train_train, k_test_train, jnp.array([1.0, 3.0]), jnp.array([1.0, 1.0]), jnp.array([5.0]))
      >>> d.total.round(5).tolist(), d.unbiased.round(5).tolist(), d.bias.round(5).tolist()
      ([6.0], [2.0], [4.0])

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by
      initialization in deep neural networks", MSML 2020, arXiv:1905.07777.
    """
    s, y, n, m, full = _prepare(k_train_train, k_test_train, y_train, solver, rcond, jitter)
    out = y.shape[1:]
    hx, batch = _check_values(f0_train, "f0_train", "batch + y_train.shape", (n,), out)
    ht, _ = _check_values(f0_test, "f0_test", "batch + (m, *y_train.shape[1:])", (m,), out, batch)
    return _decompose_core(s, y.astype(s.dtype), hx.astype(s.dtype), ht.astype(s.dtype), full)


def _decompose_core(s, y, hx, ht, full: bool) -> Decomposition:
    out_ndim = y.ndim - 1
    total = ht + _apply_op(s, y - hx, out_ndim, full)
    unbiased = _apply_op(s, y, out_ndim, full)
    bias = ht - _apply_op(s, hx, out_ndim, full)
    return Decomposition(total, unbiased, bias)


def grid_sq_norm(values: ArrayLike, out_ndim: int = 0) -> jax.Array:
    """``‖g‖² ≈ (1/m) Σ_j |g(t_j)|²``: mean over the ``m`` points, summed over output axes.

    ``values``: ``batch + (m, *out)`` with ``len(out) = out_ndim``; returns ``batch``. For a uniform
    grid ``T`` on a box ``Ω`` this is the ``L²`` norm of the uniform probability measure on ``Ω``
    (the Riemann sum of ``(1/|Ω|) ∫_Ω |g|²``).

    Examples:
      >>> import jax.numpy as jnp
      >>> round(float(grid_sq_norm(jnp.cos(2 * jnp.pi * jnp.arange(8) / 8))), 6)  # mean of cos² = 1/2
      0.5
      >>> grid_sq_norm(jnp.ones((2, 4, 3)), out_ndim=1).tolist()  # 2 functions, 4 points, 3 outputs
      [3.0, 3.0]
    """
    v = checks.as_array(values, "values")
    if isinstance(out_ndim, bool) or not isinstance(out_ndim, (int, np.integer)) or out_ndim < 0:
        raise ValueError(f"out_ndim must be a non-negative int; got {out_ndim!r}")
    if v.ndim < out_ndim + 1 or v.size == 0:
        raise ValueError(f"values must have shape batch + (m, *out) with {out_ndim} output axes; got {tuple(v.shape)}")
    return _sq_norm(v, out_ndim)


def _sq_norm(v, out_ndim: int):
    axes = tuple(range(v.ndim - out_ndim, v.ndim))
    return jnp.mean(jnp.sum(jnp.square(v), axis=axes), axis=-1)


# ----------------------------------------------------------------------------------------------
# kernels of networks and of kernel functions
# ----------------------------------------------------------------------------------------------


class KernelMatrices(NamedTuple):
    """A kernel's train and test matrices: ``k_train_train = K(X, X)``, ``k_test_train = K(T, X)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> rbf = lambda a, b: jnp.exp(-((a[:, None, 0] - b[None, :, 0]) ** 2))
      >>> k_train_train, k_test_train = kernel_matrices(rbf, jnp.array([[0.0], [1.0]]), jnp.zeros((3, 1)))
      >>> k_train_train.shape, k_test_train.shape
      ((2, 2), (3, 2))
    """

    k_train_train: jax.Array
    k_test_train: jax.Array


def kernel_matrices(kernel: Callable, x_train: ArrayLike, x_test: ArrayLike | None = None) -> KernelMatrices:
    """``(K(X, X), K(T, X))`` from a kernel function ``kernel(x1, x2) -> (n1, n2)`` (or ``(n1, n2, c, c)``).

    E.g. ``kernel = functools.partial(fpjax.ntk.empirical_ntk, model, params)`` or
    ``lambda a, b: fpjax.ntk.infinite_ntk(model, a, b)``. ``x_test`` None: ``T = X``.
    Evaluated once on the stacked inputs ``[T; X]`` against ``X``.

    Args:
      kernel: ``kernel(x1 (n1, d), x2 (n2, d)) -> (n1, n2)`` or ``(n1, n2, c, c)``.
      x_train: ``(n, d)``. x_test: ``(m, d)`` or None.

    Returns:
      :class:`KernelMatrices` ``(k_train_train (n, n), k_test_train (m, n))`` (trailing ``(c, c)``
      for a full kernel).

    Examples:
      >>> import jax.numpy as jnp
      >>> rbf = lambda a, b: jnp.exp(-((a[:, None, 0] - b[None, :, 0]) ** 2))
      >>> km = kernel_matrices(rbf, jnp.array([[0.0], [1.0]]), jnp.array([[0.0], [0.5], [1.0]]))
      >>> [[round(v, 4) for v in row] for row in km.k_test_train.tolist()]  # exp(-1), exp(-1/4)
      [[1.0, 0.3679], [0.7788, 0.7788], [0.3679, 1.0]]
    """
    if not callable(kernel):
        raise TypeError(f"kernel must be a callable kernel(x1, x2) -> (n1, n2) array; got {type(kernel).__name__}")
    x = checks.as_array(x_train, "x_train")
    checks.check_ndim(x, "x_train", (2,), shape_hint="(n, d)")
    checks.check_finite(x, "x_train")
    n = x.shape[0]
    if x_test is None:
        k = jnp.asarray(kernel(x, x))
        _check_kernel_out(k, n, n)
        return KernelMatrices(k, k)
    t = checks.as_array(x_test, "x_test")
    checks.check_ndim(t, "x_test", (2,), shape_hint="(m, d)")
    checks.check_finite(t, "x_test")
    if t.shape[1] != x.shape[1]:
        raise ValueError(f"x_test must have {x.shape[1]} features like x_train; got shape {tuple(t.shape)}")
    m = t.shape[0]
    k = jnp.asarray(kernel(jnp.concatenate([t, x.astype(t.dtype)]), x))
    _check_kernel_out(k, m + n, n)
    return KernelMatrices(k[m:], k[:m])


def _check_kernel_out(k, n1, n2):
    if k.ndim not in (2, 4) or k.shape[:2] != (n1, n2):
        raise ValueError(f"kernel(x1, x2) must return shape ({n1}, {n2}) or ({n1}, {n2}, c, c); got {tuple(k.shape)}")


def _model_cls():
    from fpjax._src.models import Model

    return Model


def network_kernels(
    model: Model,
    params: PyTree,
    x_train: ArrayLike,
    x_test: ArrayLike | None = None,
    *,
    kernel: str = "empirical",
    implementation: str | int = "auto",
) -> KernelMatrices:
    """``(K(X,X), K(T,X))`` of a network: its empirical NTK at ``params`` or its infinite-width NTK.

    Args:
      model: an :class:`fpjax.models.Model`.
      params: its parameters (needed for ``kernel="empirical"``; ignored, may be None, for
        ``"infinite"``).
      x_train: ``(n, d)``. x_test: ``(m, d)`` or None (``T = X``).
      kernel: ``"empirical"`` (output-averaged empirical NTK at ``params``, ``trace_axes=(-1,)``) or
        ``"infinite"`` (``model.kernel_fn``; ``init="standard"`` or ``"ntk"``, the infinite limit
        of the empirical NTK exists for ``init="ntk"``).
      implementation: of :func:`fpjax.ntk.empirical_ntk`.

    Returns:
      :class:`KernelMatrices` ``(k_train_train (n, n), k_test_train (m, n))``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> model = mlp((16, 1), "relu", init="ntk")
      >>> x, t = jnp.linspace(-1, 1, 3)[:, None], jnp.linspace(-1, 1, 5)[:, None]
      >>> kxx, ktx = network_kernels(model, None, x, t, kernel="infinite")
      >>> kxx.shape, ktx.shape, bool(jnp.allclose(ktx[::2], kxx))  # t[::2] == x
      ((3, 3), (5, 3), True)
      >>> network_kernels(model, model.init(jax.random.key(0), x), x).k_train_train.shape  # empirical NTK
      (3, 3)

    References:
      A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel: Convergence and Generalization in
      Neural Networks", NeurIPS 2018, arXiv:1806.07572.
    """
    if not isinstance(model, _model_cls()):
        raise TypeError(f"model must be an fpjax.models.Model; got {type(model).__name__}")
    checks.check_choice(kernel, "kernel", ("empirical", "infinite"))
    from fpjax._src import ntk

    if kernel == "empirical":
        if params is None:
            raise ValueError("kernel='empirical' needs params (the network whose tangent kernel is used)")
        return kernel_matrices(
            lambda a, b: ntk.empirical_ntk(model, params, a, b, implementation=implementation), x_train, x_test
        )
    return kernel_matrices(lambda a, b: ntk.infinite_ntk(model, a, b), x_train, x_test)


def network_decomposition(
    model: Model,
    params: PyTree,
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_test: ArrayLike,
    *,
    kernel: str | Callable = "empirical",
    solver: str = "eigh",
    rcond: float | None = None,
    jitter: float = 0.0,
) -> Decomposition:
    """Theorem 2 for a network at init: ``f0 = model.apply(params, ·)``.

    Args:
      model, params: an :class:`fpjax.models.Model` and its parameters at init.
      x_train: ``(n, d)``; y_train: ``(n,)`` or ``(n, c)`` (a model with one output and ``(n,)``
        targets uses the output column). x_test: ``(m, d)`` evaluation points.
      kernel: ``"empirical"`` (NTK at ``params``), ``"infinite"`` (``model.kernel_fn``), a callable
        ``kernel(x1, x2)`` or a tuple ``(K(X,X), K(T,X))``.
      solver, rcond, jitter: see :func:`interpolation_operator`.

    Returns:
      :class:`Decomposition` at ``x_test``, each field ``(m,)`` or ``(m, c)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> model = mlp((16, 1), "relu", init="ntk")
      >>> x, t = jnp.linspace(-1, 1, 3)[:, None], jnp.linspace(-1, 1, 5)[:, None]
      >>> y = jnp.sin(3 * x[:, 0])
      >>> d = network_decomposition(model, model.init(jax.random.key(0), x), x, y, t)
      >>> d.total.shape, bool(jnp.allclose(d.total, d.unbiased + d.bias, atol=1e-5))
      ((5,), True)
      >>> bool(jnp.allclose(d.total[::2], y, atol=1e-4))  # it interpolates: t[::2] == x
      True

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by
      initialization in deep neural networks", MSML 2020, arXiv:1905.07777.
    """
    x = checks.as_array(x_train, "x_train")
    t = checks.as_array(x_test, "x_test")
    if isinstance(kernel, tuple):
        if len(kernel) != 2:
            raise ValueError("kernel as a tuple must be (K(X,X), K(T,X))")
        kxx, ktx = kernel
    elif isinstance(kernel, str):
        kxx, ktx = network_kernels(model, params, x, t, kernel=kernel)
    elif callable(kernel):
        kxx, ktx = kernel_matrices(kernel, x, t)
    else:
        raise TypeError(
            f"kernel must be 'empirical', 'infinite', a callable or a (K(X,X), K(T,X)) tuple; "
            f"got {type(kernel).__name__}"
        )
    y = checks.as_array(y_train, "y_train")
    hx, ht = model.apply(params, x), model.apply(params, t)
    if y.ndim == 1 and hx.ndim == 2 and hx.shape[1] == 1:
        hx, ht = hx[:, 0], ht[:, 0]
    return decompose(kxx, ktx, y, hx, ht, solver=solver, rcond=rcond, jitter=jitter)


# ----------------------------------------------------------------------------------------------
# Theorem 3 by Monte Carlo over inits
# ----------------------------------------------------------------------------------------------


class Theorem3Result(NamedTuple):
    """Both sides of Theorem 3 estimated over ``n`` inits, with standard errors (ddof = 1).

    lhs: ``mean_i ‖h_k(·; h_i, X, f(X)) − f‖²``.
    unbiased: ``mean_i ‖A_i‖²``, ``A_i = h_k(·; 0, X, f(X)) − f`` (one value for a fixed kernel:
      ``unbiased_se = 0``).
    bias: ``mean_i ‖h_k(·; 0, X, h_i(X)) − h_i‖²``.
    rhs: ``unbiased + bias``; rhs_se: standard error of the mean of ``‖A_i‖² + ‖B_i‖²``.
    diff: ``mean_i D_i``, ``D_i = lhs_i − ‖A_i‖² − ‖B_i‖² = 2⟨A_i, B_i⟩`` (Theorem 3: ``E D = 0``);
      diff_se its standard error; z = diff / diff_se (0 when both are 0).
    n: inits used (finite ones); n_diverged: inits dropped for NaN/Inf.
    samples: the per-init :class:`Theorem3Terms` (float64 arrays ``(n_inits,)``) when
      :func:`theorem3_monte_carlo` was asked for them (``return_samples=True``), else None.

    Examples:
      >>> import numpy as np
      >>> r = theorem3_stats(np.array([1.0, 2.0, np.nan, 4.0]), 0.5, np.array([0.4, 1.5, 2.5, 3.5]))
      >>> r.n, r.n_diverged, round(r.lhs, 4), round(r.rhs, 4), r.unbiased_se
      (3, 1, 2.3333, 2.3, 0.0)
      >>> sorted(r.as_dict())[:4]
      ['bias', 'bias_se', 'diff', 'diff_se']

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by
      initialization in deep neural networks", MSML 2020, arXiv:1905.07777.
    """

    lhs: float
    lhs_se: float
    unbiased: float
    unbiased_se: float
    bias: float
    bias_se: float
    rhs: float
    rhs_se: float
    diff: float
    diff_se: float
    z: float
    n: int
    n_diverged: int
    samples: Theorem3Terms | None = None

    def as_dict(self) -> dict:
        """The statistics as plain numbers (``samples`` left out)."""
        return {
            k: (int(v) if k in ("n", "n_diverged") else float(v)) for k, v in self._asdict().items() if k != "samples"
        }


def _mean_se(a: np.ndarray) -> tuple[float, float]:
    return float(np.mean(a)), (float(np.std(a, ddof=1) / math.sqrt(a.size)) if a.size > 1 else float("nan"))


def theorem3_stats(
    lhs_samples: ArrayLike, unbiased_samples: ArrayLike, bias_samples: ArrayLike, *, fixed_kernel: bool = False
) -> Theorem3Result:
    """Theorem 3 statistics from per-init samples (all ``(N,)``; ``unbiased_samples`` may be a scalar).

    ``fixed_kernel=True`` (or a scalar ``unbiased_samples``): ``‖A‖²`` is one deterministic number,
    so ``unbiased_se = 0`` (per-init copies computed under ``vmap`` differ by rounding only). The
    paired differences ``D_i`` always use the per-init values as given, so an identity that holds
    per init (e.g. ASI: ``lhs_i = ‖A_i‖²``) gives ``diff = 0`` up to the last bit of rounding.
    Samples with a NaN/Inf in any of the three are dropped (counted in ``n_diverged``). Needs ≥ 2
    finite samples. Computed in float64 on the host. ``z = diff/diff_se``; when ``diff_se = 0``,
    ``z = 0`` for ``diff = 0`` and ``±inf`` otherwise.

    Args:
      lhs_samples: ``(N,)`` values of ``‖h_k(·; f0_i, X, f(X)) − f‖²``.
      unbiased_samples: ``(N,)`` or a scalar: ``‖A‖²``.
      bias_samples: ``(N,)`` values of ``‖B_i‖²``.
      fixed_kernel: ``‖A‖²`` is deterministic (``unbiased_se = 0``).

    Returns:
      :class:`Theorem3Result` (``samples`` None).

    Examples:
      Samples for which the identity holds per init give ``diff = 0``:

      >>> import numpy as np
      >>> r = theorem3_stats(np.array([1.0, 2.0, 3.0, 4.0]), 0.5, np.array([0.5, 1.5, 2.5, 3.5]))
      >>> r.lhs, r.rhs, r.diff, r.z, r.unbiased_se, round(r.lhs_se, 4)
      (2.5, 2.5, 0.0, 0.0, 0.0, 0.6455)

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by
      initialization in deep neural networks", MSML 2020, arXiv:1905.07777.
    """
    lhs = checks.real_float_array(lhs_samples, "lhs_samples")
    bias = checks.real_float_array(bias_samples, "bias_samples")
    unbiased_samples = checks.real_float_array(unbiased_samples, "unbiased_samples")
    for name, a in (("lhs_samples", lhs), ("unbiased_samples", unbiased_samples), ("bias_samples", bias)):
        if np.any(a < 0):  # NaN compares False: non-finite samples are dropped below, not refused
            raise ValueError(f"{name} must be squared norms (>= 0); got a minimum of {np.nanmin(a):g}")
    if lhs.ndim != 1 or lhs.size < 2:
        raise ValueError(f"lhs_samples must be 1-D with at least 2 samples; got shape {lhs.shape}")
    if bias.shape != lhs.shape:
        raise ValueError(f"bias_samples must have the shape of lhs_samples {lhs.shape}; got {bias.shape}")
    unb = (
        np.broadcast_to(np.asarray(unbiased_samples, np.float64), lhs.shape)
        if np.ndim(unbiased_samples) == 0
        else np.asarray(unbiased_samples, np.float64)
    )
    if unb.shape != lhs.shape:
        raise ValueError(f"unbiased_samples must be a scalar or have shape {lhs.shape}; got {unb.shape}")
    ok = np.isfinite(lhs) & np.isfinite(unb) & np.isfinite(bias)
    if ok.sum() < 2:
        raise ValueError(f"fewer than 2 finite samples ({int(ok.sum())} of {lhs.size}); nothing to estimate")
    lhs, unb, bias = lhs[ok], unb[ok], bias[ok]
    m_l, s_l = _mean_se(lhs)
    # A scalar (fixed kernel) has no spread; np.std of copies of it would show rounding only.
    m_u, s_u = _mean_se(unb)
    if fixed_kernel or np.ndim(unbiased_samples) == 0:
        m_u, s_u = (float(unb[0]) if np.ndim(unbiased_samples) == 0 else m_u), 0.0
    m_b, s_b = _mean_se(bias)
    m_r, s_r = _mean_se(unb + bias)
    d = lhs - unb - bias
    m_d, s_d = _mean_se(d)
    z = m_d / s_d if s_d > 0 else (0.0 if m_d == 0 else math.copysign(math.inf, m_d))
    return Theorem3Result(m_l, s_l, m_u, s_u, m_b, s_b, m_r, s_r, m_d, s_d, z, int(ok.sum()), int(ok.size - ok.sum()))


class Theorem3Terms(NamedTuple):
    """Per-init terms of Theorem 3 (each ``batch`` shaped; norms of :func:`grid_sq_norm` over ``T``).

    Attributes:
      lhs: ``‖f0(T) + S(f(X) − f0(X)) − f(T)‖²``.
      unbiased: ``‖A‖² = ‖S f(X) − f(T)‖²``.
      bias: ``‖B‖² = ‖f0(T) − S f0(X)‖²``.

    Examples:
      ``A = S f(X) − f(T) = 2 − 2.5``, ``B = (0, 1)`` for two inits: ``lhs = (A + B)² = (0.25, 0.25)``
      while ``A² + B² = (0.25, 1.25)``; the difference ``2AB`` averages to 0 only over inits with a
      mean-zero ``f0``.

      >>> import jax.numpy as jnp
      >>> terms = theorem3_terms(jnp.array([[0.5, 0.5]]), jnp.array([1.0, 3.0]), jnp.array([2.5]),
      ...                        jnp.array([[0.0, 0.0], [1.0, -1.0]]), jnp.array([[0.0], [1.0]]))
      >>> terms.lhs.tolist(), terms.unbiased.tolist(), terms.bias.tolist()
      ([0.25, 0.25], 0.25, [0.0, 1.0])

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by
      initialization in deep neural networks", MSML 2020, arXiv:1905.07777.
    """

    lhs: jax.Array
    unbiased: jax.Array
    bias: jax.Array


def _terms_core(s, fx, ft, hx, ht):
    out_ndim = fx.ndim - 1
    dec = _decompose_core(s, fx, hx, ht, False)
    return Theorem3Terms(
        lhs=_sq_norm(dec.total - ft, out_ndim),
        unbiased=_sq_norm(dec.unbiased - ft, out_ndim),
        bias=_sq_norm(dec.bias, out_ndim),
    )


def theorem3_terms(
    operator: ArrayLike, y_train: ArrayLike, y_test: ArrayLike, f0_train: ArrayLike, f0_test: ArrayLike
) -> Theorem3Terms:
    """Per-init terms of Theorem 3 for one operator ``S`` (jit/vmap friendly: use it in custom sweeps).

    With the target ``f`` (``y_train = f(X)``, ``y_test = f(T)``) and the initial function ``f0``:
    ``lhs = ‖f0(T) + S(f(X) − f0(X)) − f(T)‖²``, ``unbiased = ‖S f(X) − f(T)‖²``,
    ``bias = ‖f0(T) − S f0(X)‖²``; Theorem 3 says ``E lhs = unbiased + E bias`` for mean-zero ``f0``.

    Args:
      operator: ``S`` ``(m, n)`` from :func:`interpolation_operator` (per-output kernel).
      y_train: ``(n,)`` or ``(n, c)``. y_test: ``(m, ...)``.
      f0_train: ``batch + y_train.shape``. f0_test: ``batch + y_test.shape``.

    Returns:
      :class:`Theorem3Terms` ``(lhs, unbiased, bias)``, each ``batch`` shaped.

    Examples:
      >>> import jax.numpy as jnp
      >>> terms = theorem3_terms(jnp.eye(2), jnp.ones(2), jnp.ones(2), jnp.zeros(2), jnp.zeros(2))
      >>> [float(v) for v in terms]
      [0.0, 0.0, 0.0]

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by
      initialization in deep neural networks", MSML 2020, arXiv:1905.07777.
    """
    s = checks.as_array(operator, "operator")
    checks.check_ndim(s, "operator", 2, shape_hint="(m, n)")
    m, n = s.shape
    fx = checks.as_array(y_train, "y_train")
    checks.check_no_complex(fx, "y_train")
    checks.check_ndim(fx, "y_train", (1, 2), shape_hint="(n,) or (n, c)")
    if fx.shape[0] != n:
        raise ValueError(f"y_train must have {n} rows for operator {tuple(s.shape)}; got {tuple(fx.shape)}")
    out = fx.shape[1:]
    ft, _ = _check_values(y_test, "y_test", "(m, *y_train.shape[1:])", (m,), out, ())
    hx, batch = _check_values(f0_train, "f0_train", "batch + y_train.shape", (n,), out)
    ht, _ = _check_values(f0_test, "f0_test", "batch + y_test.shape", (m,), out, batch)
    dt = jnp.result_type(s.dtype, fx.dtype, hx.dtype, jnp.float32)
    return _terms_core(s.astype(dt), fx.astype(dt), ft.astype(dt), hx.astype(dt), ht.astype(dt))


def gp_bias_error(
    operator: ArrayLike,
    cov_test_test: ArrayLike,
    cov_test_train: ArrayLike,
    cov_train_train: ArrayLike,
    *,
    n_outputs: int = 1,
) -> jax.Array:
    """``E‖f0 − S f0(X)‖²`` for ``f0 ~ GP(0, Σ)`` (independent outputs, each with covariance ``Σ``).

    ``= (c/m) [tr Σ_TT − 2 tr(S Σ_XT) + tr(S Σ_XX Sᵀ)]`` with ``c = n_outputs`` and the norm of
    :func:`grid_sq_norm`. For a network at init, ``Σ`` is its NNGP kernel
    (``fpjax.ntk.infinite_ntk(model, ..., get="nngp")``): exact for one hidden layer at any width,
    the infinite-width limit otherwise.

    Args:
      operator: ``S`` ``(m, n)`` (from :func:`interpolation_operator` with a per-output kernel).
      cov_test_test: ``Σ(T, T)`` ``(m, m)`` or its diagonal ``(m,)``. cov_test_train: ``Σ(T, X)``
        ``(m, n)``. cov_train_train: ``Σ(X, X)`` ``(n, n)``.
      n_outputs: ``c``.

    Returns:
      0-d array.

    Examples:
      When the interpolation kernel is the covariance itself, the bias error is the mean posterior
      variance: one training point at 0, test points 0 and 1, ``Σ = exp(−(x−x')²)``:
      ``(0 + 1 − e^{−2})/2``.

      >>> import math
      >>> import jax.numpy as jnp
      >>> cov = lambda a, b: jnp.exp(-((a[:, None] - b[None, :]) ** 2))
      >>> x, t = jnp.array([0.0]), jnp.array([0.0, 1.0])
      >>> s = interpolation_operator(cov(x, x), cov(t, x))
      >>> round(float(gp_bias_error(s, cov(t, t), cov(t, x), cov(x, x))), 4), round((1 - math.exp(-2)) / 2, 4)
      (0.4323, 0.4323)

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by
      initialization in deep neural networks", MSML 2020, arXiv:1905.07777.
    """
    s = checks.as_array(operator, "operator")
    checks.check_ndim(s, "operator", 2, shape_hint="(m, n)")
    m, n = s.shape
    ctt = checks.as_array(cov_test_test, "cov_test_test")
    ctx = checks.as_array(cov_test_train, "cov_test_train")
    cxx = checks.as_array(cov_train_train, "cov_train_train")
    if ctt.shape not in ((m,), (m, m)):
        raise ValueError(f"cov_test_test must have shape ({m}, {m}) or ({m},) for operator {s.shape}; got {ctt.shape}")
    if ctx.shape != (m, n):
        raise ValueError(f"cov_test_train must have shape ({m}, {n}); got {ctx.shape}")
    if cxx.shape != (n, n):
        raise ValueError(f"cov_train_train must have shape ({n}, {n}); got {cxx.shape}")
    for a, name in ((s, "operator"), (ctt, "cov_test_test"), (ctx, "cov_test_train"), (cxx, "cov_train_train")):
        checks.check_finite(a, name)
    c = checks.check_positive_int(n_outputs, "n_outputs")
    diag = ctt if ctt.ndim == 1 else jnp.diagonal(ctt)
    tr = jnp.sum(diag) - 2.0 * jnp.sum(s * ctx) + jnp.sum(jnp.matmul(s, cxx, precision=_HI) * s)
    return c * tr / m


def theorem3_monte_carlo(
    model: Model,
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_test: ArrayLike,
    y_test: ArrayLike,
    *,
    key: jax.Array,
    n_inits: int = 256,
    kernel: str | Callable = "infinite",
    reference_key: jax.Array | None = None,
    solver: str = "eigh",
    rcond: float | None = None,
    jitter: float = 0.0,
    chunk_size: int | None = None,
    return_samples: bool = False,
) -> Theorem3Result:
    """Check Theorem 3 by Monte Carlo over ``n_inits`` network inits (a vmapped :func:`fpjax.train.sweep`).

    For each init ``θ_i`` (keys ``jax.random.split(key, n_inits)``): ``h_i = model.apply(θ_i, ·)``
    on ``X`` and ``T``, and with ``S`` the kernel's interpolation operator,
    ``lhs_i = ‖h_i(T) + S(f(X) − h_i(X)) − f(T)‖²``, ``‖A_i‖² = ‖S f(X) − f(T)‖²``,
    ``‖B_i‖² = ‖h_i(T) − S h_i(X)‖²`` (norms: :func:`grid_sq_norm` over ``T``).

    Args:
      model: an :class:`fpjax.models.Model` (e.g. an MLP; any init whose output is mean-zero).
      x_train: ``(n, d)``. y_train: ``(n,)`` or ``(n, c)``, the target ``f(X)``.
      x_test: ``(m, d)`` (a grid on the domain). y_test: ``f(T)``.
      key: PRNG key (keyword-only).
      n_inits: number of inits (≥ 2).
      kernel: ``"infinite"`` (``model.kernel_fn``, fixed), ``"reference"`` (empirical NTK of the
        init drawn from ``reference_key``, default ``fold_in(key, 1_000_003)``; independent of the
        Monte Carlo inits, fixed), ``"empirical"`` (each init's own NTK; exact in expectation by
        the sign symmetry, see the module doc) or a tuple ``(K(X,X), K(T,X))`` (fixed).
      solver, rcond, jitter: see :func:`interpolation_operator`.
      chunk_size: seeds per vmapped chunk of the sweep (memory).
      return_samples: fill :attr:`Theorem3Result.samples` with the per-init terms.

    Returns:
      :class:`Theorem3Result` (its ``samples`` field None unless ``return_samples``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.models import mlp
      >>> x, t = jnp.linspace(-1, 1, 4)[:, None], jnp.linspace(-1, 1, 9)[:, None]
      >>> r = theorem3_monte_carlo(mlp((16, 1), "relu", init="ntk"), x, jnp.sin(x[:, 0]), t, jnp.sin(t[:, 0]),
      ...                          key=jax.random.key(0), n_inits=8)
      >>> r.n, r.samples is None
      (8, True)

    References:
      Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by
      initialization in deep neural networks", MSML 2020, arXiv:1905.07777.
    """
    if not isinstance(model, _model_cls()):
        raise TypeError(f"model must be an fpjax.models.Model; got {type(model).__name__}")
    checks.check_key(key)
    n_inits = checks.check_positive_int(n_inits, "n_inits", minimum=2)
    x, t, fx, ft = _check_theorem3_data(x_train, y_train, x_test, y_test)
    n, m = x.shape[0], t.shape[0]
    dtype = jnp.result_type(x.dtype, fx.dtype, jnp.float32)
    x, t, fx, ft = x.astype(dtype), t.astype(dtype), fx.astype(dtype), ft.astype(dtype)
    rcond, jitter = _check_solver(solver, rcond, jitter, n, dtype)
    out_shape = jax.eval_shape(model.apply, model.init(key, x), x).shape
    squeeze = fx.ndim == 1
    if squeeze and out_shape[1:] != (1,):
        raise ValueError(f"y_train (n,) needs a model with one output; the model returns {out_shape[1:]} per point")
    if not squeeze and out_shape[1:] != fx.shape[1:]:
        raise ValueError(f"y_train must have the model's output shape (n, {out_shape[1]}); got {tuple(fx.shape)}")
    # per init: its key and the recorded terms (a few (m, c) arrays, kept in float64 on the host)
    outs = m * int(np.prod(out_shape[1:], dtype=np.int64))
    checks.check_memory(float(n_inits) * (16 + 8 * 8 * outs), "n_inits", f"{n_inits} inits of {outs} test outputs")
    x_all = jnp.concatenate([t, x])

    solve = dict(solver=solver, rcond=rcond, jitter=jitter)
    fixed_s = _theorem3_fixed_operator(model, kernel, key, reference_key, x, t, dtype, solve)
    ntk_fn = None
    if fixed_s is None:
        from fpjax._src import ntk

        ntk_fn = ntk.empirical_ntk_fn(model)

    def one(k):
        p = model.init(k, x)
        h = model.apply(p, x_all)
        if squeeze:
            h = h[:, 0]
        ht, hx = h[:m], h[m:]
        if fixed_s is None:
            kk = ntk_fn(x_all, x, p)
            s = _operator_core(kk[m:], kk[:m], solver, rcond, jitter)
        else:
            s = fixed_s
        return _terms_core(s, fx, ft, hx, ht)

    import warnings

    from fpjax._src.sweep import sweep

    with warnings.catch_warnings():
        # diverged inits are counted in Theorem3Result.n_diverged, so the sweep's warning is redundant
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sweep(one, jax.random.split(key, n_inits), chunk_size=chunk_size)
    samples = Theorem3Terms(*(np.asarray(v, np.float64) for v in res.outputs))
    stats = theorem3_stats(samples.lhs, samples.unbiased, samples.bias, fixed_kernel=fixed_s is not None)
    return stats._replace(samples=samples) if return_samples else stats


def _check_theorem3_data(x_train, y_train, x_test, y_test):
    """Validated ``(X (n, d), T (m, d), f(X), f(T))`` of :func:`theorem3_monte_carlo`."""
    x = checks.as_array(x_train, "x_train")
    checks.check_ndim(x, "x_train", 2, shape_hint="(n, d)")
    checks.check_finite(x, "x_train")
    t = checks.as_array(x_test, "x_test")
    checks.check_ndim(t, "x_test", 2, shape_hint="(m, d)")
    checks.check_finite(t, "x_test")
    if t.shape[1] != x.shape[1]:
        raise ValueError(f"x_test must have {x.shape[1]} features like x_train; got shape {tuple(t.shape)}")
    fx = checks.as_array(y_train, "y_train")
    checks.check_no_complex(fx, "y_train")
    checks.check_ndim(fx, "y_train", (1, 2), shape_hint="(n,) or (n, c)")
    checks.check_finite(fx, "y_train")
    checks.check_same_leading(x, "x_train", fx, "y_train")
    ft = checks.as_array(y_test, "y_test")
    checks.check_finite(ft, "y_test")
    if ft.shape != (t.shape[0],) + fx.shape[1:]:
        raise ValueError(f"y_test must have shape {(t.shape[0],) + fx.shape[1:]} (f at x_test); got {tuple(ft.shape)}")
    return x, t, fx, ft


def _theorem3_fixed_operator(model, kernel, key, reference_key, x, t, dtype, solve):
    """The interpolation operator of a fixed kernel (a tuple, ``"infinite"`` or ``"reference"``) for
    :func:`theorem3_monte_carlo`; None for ``"empirical"`` (each init's own NTK)."""
    n, m = x.shape[0], t.shape[0]
    solver = solve["solver"]
    fixed_s = None
    if isinstance(kernel, tuple):
        if len(kernel) != 2:
            raise ValueError("kernel as a tuple must be (K(X,X), K(T,X))")
        kxx, ktx, _, mm, c = _check_kernels(*kernel)
        if c is not None:
            raise ValueError("theorem3_monte_carlo takes per-output (n, n) kernels; got a full (n, n, c, c) kernel")
        if kxx.shape[0] != n or mm != m:
            raise ValueError(
                f"kernel matrices must be ({n}, {n}) and ({m}, {n}) for these inputs; "
                f"got {tuple(kxx.shape)} and {tuple(ktx.shape)}"
            )
        fixed_s = interpolation_operator(kxx.astype(dtype), ktx.astype(dtype), **solve)
    else:
        checks.check_choice(kernel, "kernel", KERNELS)
        if kernel == "infinite":
            if model.kernel_fn is None:
                raise ValueError(
                    f"kernel='infinite' needs a model with an infinite-width kernel_fn; {model.name} has "
                    "none (use init='standard' or 'ntk'), or use kernel='reference'/'empirical'"
                )
            kxx, ktx = network_kernels(model, None, x, t, kernel="infinite")
        elif kernel == "reference":
            rkey = jax.random.fold_in(key, 1_000_003) if reference_key is None else reference_key
            checks.check_key(rkey, "reference_key")
            kxx, ktx = network_kernels(model, model.init(rkey, x), x, t, kernel="empirical")
        if kernel in ("infinite", "reference"):
            fixed_s = interpolation_operator(kxx.astype(dtype), ktx.astype(dtype), **solve)
            if solver == "cholesky" and not bool(jnp.all(jnp.isfinite(fixed_s))):
                raise ValueError("the kernel matrix is not positive definite; use jitter > 0 or solver='eigh'")
    return fixed_s
