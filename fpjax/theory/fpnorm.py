"""FP-norm, minimum-FP-norm interpolation and the a-priori generalization bound.

On ``Ω = [0, 1]^d`` with Fourier-series coefficients ``ĥ(k) = ∫_Ω h(x) e^{−2πi k·x} dx``, the FP-norm
is ``‖h‖_γ = (Σ_{k≠0} γ(k)^{−2} |ĥ(k)|²)^{1/2}`` (constants are free); see :func:`apriori_bound` for
the theorem.

References:
  Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle in
  two-layer neural networks", arXiv:1905.10264.
  T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
  dynamics and its generalization", arXiv:2010.08153.
"""

from fpjax._src.fpnorm import (
    L1_METHODS,
    AprioriBound,
    apriori_bound,
    evaluate_on_grid,
    evaluate_series,
    fp_norm,
    gamma_l2_norm,
    l1_error,
    min_fp_interpolant,
)

__all__ = [
    "fp_norm",
    "min_fp_interpolant",
    "apriori_bound",
    "AprioriBound",
    "l1_error",
    "L1_METHODS",
    "gamma_l2_norm",
    "evaluate_series",
    "evaluate_on_grid",
]
