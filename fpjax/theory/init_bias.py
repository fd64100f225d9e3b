"""Initialization bias of kernel regression (SPEC §2.8): Theorem 2 (unbiased fit + bias term),
Theorem 3 (generalization error = unbiased error + bias error, Monte Carlo over inits) and the
closed-form bias error of a Gaussian-process init.

See :mod:`fpjax._src.init_bias` for the formulas, the solvers and which kernel makes what exact.
"""

from fpjax._src.init_bias import (KERNELS, SOLVERS, Decomposition, Theorem3Result, decompose, gp_bias_error,
                                  grid_sq_norm, interpolation_operator, kernel_interpolate, kernel_matrices,
                                  network_decomposition, network_kernels, theorem3_monte_carlo, theorem3_stats,
                                  theorem3_terms)

__all__ = ["kernel_interpolate", "decompose", "Decomposition", "interpolation_operator", "grid_sq_norm",
           "kernel_matrices", "network_kernels", "network_decomposition", "theorem3_monte_carlo",
           "theorem3_stats", "theorem3_terms", "Theorem3Result", "gp_bias_error", "SOLVERS", "KERNELS"]
