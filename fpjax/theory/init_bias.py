"""Initialization bias of kernel regression: Theorem 2 (unbiased fit + bias term), Theorem 3
(generalization error = unbiased error + bias error, Monte Carlo over inits) and the closed-form bias
error of a Gaussian-process init.

The kernel interpolant from an initial function ``f0`` is
``h_k(·; f0, X, Y) = f0 + K(·, X) K(X, X)⁺ (Y − f0(X))``, the ``t → ∞`` limit of
:func:`fpjax.ntk.kernel_flow`; both use the same kernel linear algebra (eigenvalues
``≤ rcond · λ_max`` are zero).

References:
  Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "A type of generalization error induced by initialization in
  deep neural networks", MSML 2020, arXiv:1905.07777.
"""

from fpjax._src.init_bias import (
    KERNELS,
    SOLVERS,
    Decomposition,
    KernelMatrices,
    Theorem3Result,
    Theorem3Terms,
    decompose,
    gp_bias_error,
    grid_sq_norm,
    interpolation_operator,
    kernel_interpolate,
    kernel_matrices,
    network_decomposition,
    network_kernels,
    theorem3_monte_carlo,
    theorem3_stats,
    theorem3_terms,
)

__all__ = [
    "kernel_interpolate",
    "decompose",
    "Decomposition",
    "interpolation_operator",
    "grid_sq_norm",
    "kernel_matrices",
    "KernelMatrices",
    "network_kernels",
    "network_decomposition",
    "theorem3_monte_carlo",
    "theorem3_stats",
    "theorem3_terms",
    "Theorem3Terms",
    "Theorem3Result",
    "gp_bias_error",
    "SOLVERS",
    "KERNELS",
]
