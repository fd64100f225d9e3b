"""Kernel linear algebra: one core for kernel gradient flow, interpolation and the steady state.

Every closed-form kernel computation of fpjax (:func:`fpjax.ntk.kernel_flow`, the LFP of
:mod:`fpjax.theory.lfp`, the interpolation operator of :mod:`fpjax.theory.init_bias`) goes through
this module, so they share one numerical policy.

Flow
----
For a symmetric positive semi-definite kernel matrix ``K = K(X, X)`` (``n × n``) the kernel gradient
flow ``ḟ(X) = −K (f(X) − y)`` has the solution

    f(X, t) = y + exp(−t K) (f0(X) − y),
    f(x, t) = f0(x) − K(x, X) a(t),   a(t) = ∫_0^t r(s) ds = K⁻¹ (I − exp(−t K)) r0,

with residual ``r = f(X) − y``. Both are computed from ``K = V Λ Vᵀ``: ``exp(−tK) = V e^{−tΛ} Vᵀ``
and ``a(t) = V g_t(Λ) Vᵀ r0`` with ``g_t(λ) = (1 − e^{−tλ})/λ`` (via ``expm1``), finite for every
``t ∈ [0, ∞]``; ``t = ∞`` is the steady state ``f∞(x) = f0(x) + K(x, X) K⁺ (y − f0(X))``.

**Time and the loss.** Gradient flow ``θ̇ = −∇L`` on the mean squared error
``L = (1/2n) Σ_i (f(x_i) − y_i)²`` with a frozen tangent kernel gives
``ḟ(X) = −(1/n) K (f(X) − y)``: that is this core at time ``t/n``, which is what
:func:`fpjax.ntk.kernel_flow` and the LFP pass. Gradient descent with step size ``η`` for ``steps``
steps approximates gradient-flow time ``t = η · steps``.

rcond policy
------------
The kernel is symmetrised (``(K + Kᵀ)/2``) and eigenvalues ``λ ≤ rcond · λ_max`` are set to zero
(``λ_max`` the largest ``|λ|``; default ``rcond = n · eps(dtype)``; negative eigenvalues of a PSD
kernel are rounding errors). On those directions the flow does nothing (``e^{−tλ} = 1``,
``g_t = 0``: the residual there is left unchanged, for every ``t``), and ``K⁺`` is the pseudo-inverse,
so the steady state is the **least-norm least-squares** solution. In particular repeated points with
conflicting targets converge to the least-squares answer (the average of their targets), and
``t → ∞`` of the flow equals the steady state exactly.

The same policy for a kernel given by features ``K = B Bᵀ`` (``B`` of shape ``(n, p)``,
:func:`feature_lstsq`) works on the singular values ``s`` of ``B`` (``λ = s²``), which halves the
condition number that the computation sees.

All functions here are pure and jittable (no host checks); the public entry points validate.

References:
  A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel", NeurIPS 2018, arXiv:1806.07572.
  J. Lee et al., "Wide neural networks of any depth evolve as linear models under gradient
  descent", NeurIPS 2019, arXiv:1902.06720.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "KernelEigh",
    "default_rcond",
    "eigh_psd",
    "flow_factors",
    "residual_flow",
    "pinv_apply",
    "feature_lstsq",
    "flow",
]

_HI = jax.lax.Precision.HIGHEST


def default_rcond(n: int, dtype) -> float:
    """The default relative cut-off ``rcond = n · eps(dtype)`` for an ``n × n`` kernel.

    Examples:
      >>> default_rcond(10, "float64")
      2.220446049250313e-15
    """
    return float(n) * float(jnp.finfo(dtype).eps)


class KernelEigh(NamedTuple):
    """Eigendecomposition of a symmetrised PSD kernel with the rcond cut-off applied.

    Attributes:
      eigenvalues: ``(p,)`` ascending, those ``≤ rcond · λ_max`` replaced by exactly 0.
      eigenvectors: ``(n, p)`` orthonormal columns (``p = n``, or the basis' width).
      keep: ``(p,)`` bool, True where the eigenvalue was kept.
    """

    eigenvalues: jax.Array
    eigenvectors: jax.Array
    keep: jax.Array


def eigh_psd(k: jax.Array, *, rcond: float | None = None, basis: jax.Array | None = None) -> KernelEigh:
    """``K = V Λ Vᵀ`` of ``(K + Kᵀ)/2`` with eigenvalues ``≤ rcond · λ_max`` set to 0.

    Args:
      k: ``(n, n)`` kernel matrix.
      rcond: relative cut-off (default :func:`default_rcond`).
      basis: optional ``(n, p)`` orthonormal basis ``Q`` of a subspace: then the kernel restricted
        to it, ``QᵀKQ = W Λ Wᵀ``, is decomposed and ``V = Q W`` (the flow then only moves inside
        ``span Q``; used for a free constant mode).

    Returns:
      :class:`KernelEigh`.

    Examples:
      >>> import jax.numpy as jnp
      >>> e = eigh_psd(jnp.array([[1.0, 1.0], [1.0, 1.0]]))
      >>> e.eigenvalues.tolist(), e.keep.tolist()
      ([0.0, 2.0], [False, True])
    """
    k = 0.5 * (k + k.T)
    n = k.shape[0]
    if rcond is None:
        rcond = default_rcond(n, k.dtype)
    if basis is not None:
        if basis.shape[1] == 0:
            z = jnp.zeros((0,), k.dtype)
            return KernelEigh(z, jnp.zeros((n, 0), k.dtype), z.astype(bool))
        lam, w = jnp.linalg.eigh(jnp.matmul(basis.T, jnp.matmul(k, basis, precision=_HI), precision=_HI))
        v = jnp.matmul(basis, w, precision=_HI)
    else:
        lam, v = jnp.linalg.eigh(k)
    lam_max = jnp.maximum(jnp.max(jnp.abs(lam)), jnp.finfo(k.dtype).tiny)
    keep = lam > rcond * lam_max
    return KernelEigh(jnp.where(keep, lam, 0.0), v, keep)


def flow_factors(eig: KernelEigh, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-eigenvalue factors ``(e^{−tλ}, (1 − e^{−tλ})/λ)`` of the flow, shapes ``t.shape + (p,)``.

    Cut (zero) eigenvalues get ``(1, 0)``: nothing moves there. ``t = inf`` gives ``(0, 1/λ)``.
    """
    t = jnp.asarray(t, eig.eigenvalues.dtype)[..., None]
    lam = eig.eigenvalues
    safe = jnp.where(eig.keep, lam, 1.0)
    x = t * safe  # λ > 0 on kept modes, so t = inf gives x = inf and e^{−x} = 0
    decay = jnp.where(eig.keep, jnp.exp(-x), 1.0)
    integral = jnp.where(eig.keep, -jnp.expm1(-x) / safe, 0.0)
    return decay, integral


def _apply(v, coef, r):
    """``V diag(coef) Vᵀ r`` for ``coef (..., p)`` and ``r (n, c)`` → ``(..., n, c)``."""
    proj = jnp.matmul(v.T, r, precision=_HI)  # (p, c)
    return jnp.einsum("ij,...j,jk->...ik", v, coef, proj, precision=_HI)


def residual_flow(eig: KernelEigh, r0: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Residual ``r(t) = e^{−tK} r0`` and weights ``a(t) = ∫_0^t r = K⁺(I − e^{−tK}) r0``.

    Args:
      eig: :func:`eigh_psd` of ``K``.
      r0: ``(n, c)`` initial residual ``f0(X) − y``.
      t: times, any shape (``inf`` allowed).

    Returns:
      ``(a, r)``, each ``t.shape + (n, c)``; ``f(x, t) = f0(x) − K(x, X) a(t)``. Directions outside
      the kept eigenvectors keep their initial residual.
    """
    decay, integral = flow_factors(eig, t)
    a = _apply(eig.eigenvectors, integral, r0)
    r = r0 + _apply(eig.eigenvectors, decay - 1.0, r0)
    return a, r


def pinv_apply(eig: KernelEigh, y: jax.Array) -> jax.Array:
    """``K⁺ y`` (kernel interpolation weights; least-norm least-squares) for ``y (n, c)``."""
    inv = jnp.where(eig.keep, 1.0 / jnp.where(eig.keep, eig.eigenvalues, 1.0), 0.0)
    return _apply(eig.eigenvectors, inv, y)


def feature_lstsq(b: jax.Array, y: jax.Array, *, rcond: float | None = None) -> jax.Array:
    """Least-norm least-squares ``u = B⁺ y`` for a kernel given by features, ``K = B Bᵀ``.

    Equals ``Bᵀ K⁺ y`` with the module's rcond policy on ``λ = s²`` (singular values ``s`` of ``B``
    with ``s² ≤ rcond · s_max²`` are dropped), computed from the SVD of ``B`` (condition number
    ``cond(K)^{1/2}``).

    Args:
      b: ``(n, p)`` features. y: ``(n,)`` or ``(n, c)``.
      rcond: relative cut-off on ``λ = s²`` (default ``n · eps``).

    Returns:
      ``(p,)`` or ``(p, c)``; then ``B u`` is the least-squares fit of ``y`` in ``range(K)``.
    """
    n = b.shape[0]
    if rcond is None:
        rcond = default_rcond(n, b.dtype)
    u, s, vt = jnp.linalg.svd(b, full_matrices=False)
    s_max = jnp.maximum(jnp.max(s), jnp.finfo(b.dtype).tiny)
    keep = s * s > rcond * s_max * s_max
    inv = jnp.where(keep, 1.0 / jnp.where(keep, s, 1.0), 0.0)
    proj = jnp.matmul(u.T, y, precision=_HI)
    proj = proj * (inv if y.ndim == 1 else inv[:, None])
    return jnp.matmul(vt.T, proj, precision=_HI)


def flow(
    k_train_train: jax.Array,
    y_train: jax.Array,
    t: jax.Array,
    *,
    f0_train: jax.Array | None = None,
    k_test_train: jax.Array | None = None,
    f0_test: jax.Array | None = None,
    rcond: float | None = None,
) -> tuple[jax.Array, jax.Array | None]:
    """``f(t) = y + exp(−tK)(f0 − y)`` on the training points and its extension to test points.

    ``f(X, t) = y + e^{−tK}(f0(X) − y)`` and ``f(x, t) = f0(x) + K(x, X) K⁺(I − e^{−tK})(y − f0(X))``
    with ``K = k_train_train`` and the module's rcond policy (no ``1/n``: for the MSE
    ``(1/2n)Σ(f − y)²`` pass ``t / n``).

    Args:
      k_train_train: ``(n, n)``. y_train: ``(n,)`` or ``(n, c)``. t: times, any shape, ``inf`` allowed.
      f0_train: like ``y_train`` (default 0). k_test_train: ``(m, n)`` or None.
      f0_test: ``(m, ...)`` like ``y_train``'s trailing shape (default 0).
      rcond: see the module docstring.

    Returns:
      ``(f_train, f_test)`` with shapes ``t.shape + y_train.shape`` and ``t.shape + (m, ...)``
      (``f_test`` None without ``k_test_train``).

    Examples:
      >>> import jax.numpy as jnp
      >>> f_train, _ = flow(jnp.eye(2), jnp.array([1.0, 2.0]), jnp.inf)
      >>> f_train.tolist()
      [1.0, 2.0]
    """
    y = jnp.asarray(y_train)
    t = jnp.asarray(t, y.dtype)
    n = y.shape[0]
    y2 = y.reshape(n, -1)
    f0 = jnp.zeros_like(y2) if f0_train is None else jnp.asarray(f0_train, y.dtype).reshape(n, -1)
    eig = eigh_psd(k_train_train, rcond=rcond)
    a, r = residual_flow(eig, f0 - y2, t)
    f_train = (y2 + r).reshape(t.shape + y.shape)
    if k_test_train is None:
        return f_train, None
    m = k_test_train.shape[0]
    f0t = jnp.zeros((m, y2.shape[1]), y.dtype) if f0_test is None else jnp.asarray(f0_test, y.dtype).reshape(m, -1)
    f_test = f0t - jnp.einsum("mn,...nc->...mc", k_test_train, a, precision=_HI)
    return f_train, f_test.reshape(t.shape + (m,) + y.shape[1:])
