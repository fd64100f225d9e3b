"""The 1-D two-layer ReLU network's own kernel: its infinite-width NTK on the line and the LFP time
constant ``c`` read off the kernel's translation-invariant part.

References:
  Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the absence
  of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
  T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
  dynamics and its generalization", SIAM J. Math. Data Sci. (2022), arXiv:2010.08153.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from fpjax._src.array_types import ArrayLike
from fpjax._src.checks import as_points, check_positive, error_if
from fpjax._src.lfp_rates import _check_moments

__all__ = [
    "relu_ntk_1d",
    "lfp_constant_1d",
]


def lfp_constant_1d(l_half_width: float) -> float:
    """LFP time constant ``c = 1/(32 π⁴ L_l)`` of ``two_layer_relu`` in 1-D with ``l ~ U(−L_l, L_l)``.

    Derivation (see :func:`relu_ntk_1d`): the infinite-width NTK's translation-invariant part is
    ``(⟨r²⟩+⟨w²⟩)|δ|³/(24 L_l) − ⟨r²w²⟩|δ|/(4 L_l)``; with ``FT[|x|³] = 3/(4π⁴ξ⁴)`` and
    ``FT[|x|] = −1/(2π²ξ²)`` its transform is ``(⟨r²⟩+⟨w²⟩)/(32π⁴L_l ξ⁴) + ⟨r²w²⟩/(8π²L_l ξ²)``
    ``= c [(⟨r²⟩+⟨w²⟩)/ξ⁴ + 4π²⟨r²w²⟩/ξ²]``. Time is gradient-flow time ``t = η · steps``.

    Examples:
      >>> import math
      >>> round(lfp_constant_1d(1.0) * 32 * math.pi**4, 12)
      1.0

    References:
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
      T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
      dynamics and its generalization", SIAM J. Math. Data Sci. 4, 1272–1292 (2022), arXiv:2010.08153.
    """
    L = check_positive(l_half_width, "l_half_width")
    return 1.0 / (32.0 * math.pi**4 * L)


def relu_ntk_1d(x1: ArrayLike, x2: ArrayLike, moments: dict, l_half_width: float) -> jax.Array:
    """Infinite-width NTK of ``h(x) = (1/√m) Σ w_i ReLU(r_i (x + l_i))`` in 1-D, ``l_i ~ U(−L_l, L_l)``.

    For ``|x|, |x'| ≤ L_l``, ``r`` with a sign symmetric law independent of ``|r|, w`` and ``l``
    independent of ``(r, w)``, the mean over neurons of ``∇_θ h(x)·∇_θ h(x')`` (w-, r- and
    l-gradients) is, with ``A = ⟨r²⟩ + ⟨w²⟩``, ``B = ⟨r²w²⟩``, ``δ = |x − x'|``,

        K(x, x') = A L_l²/6 + A x x'/2 + B/2 + (A δ³/24 − B δ/4) / L_l.

    The polynomial part ``A L_l²/6 + B/2 + A x x'/2`` is the ``ξ = 0`` (constant and linear)
    part of the spectrum; the rest has the LFP transform ``γ²`` with ``c = lfp_constant_1d(L_l)``.
    ``x1 (n1,)`` or ``(n1, 1)``, ``x2`` likewise → ``(n1, n2)``.

    Examples:
      >>> import numpy as np
      >>> from fpjax.theory.lfp import InitMoments
      >>> x = np.array([0.0, 0.5])
      >>> K = relu_ntk_1d(x, x, InitMoments(r2=1.0, w2=1.0, r2w2=1.0), 1.0)
      >>> np.asarray(K, float).round(5).tolist()
      [[0.83333, 0.71875], [0.71875, 1.08333]]

    References:
      A. Jacot, F. Gabriel, C. Hongler, "Neural tangent kernel: convergence and generalization in neural
      networks", NeurIPS 2018, arXiv:1806.07572.
      Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the
      absence of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
    """
    x1 = as_points(x1, "x1", 1)[:, 0]
    x2 = as_points(x2, "x2", 1)[:, 0]
    L = check_positive(l_half_width, "l_half_width")
    r2, w2, r2w2 = _check_moments(moments)
    outside = jnp.maximum(jnp.max(jnp.abs(x1)), jnp.max(jnp.abs(x2))) > L * (1 + 1e-6)
    x1 = error_if(
        x1,
        outside,
        f"relu_ntk_1d needs |x| <= l_half_width = {L} (the closed form assumes "
        "every kink position range covers the data)",
    )
    A = r2 + w2
    delta = jnp.abs(x1[:, None] - x2[None, :])
    return A * L**2 / 6 + r2w2 / 2 + A * x1[:, None] * x2[None, :] / 2 + (A * delta**3 / 24 - r2w2 * delta / 4) / L
