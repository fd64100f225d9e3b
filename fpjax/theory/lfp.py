"""Linear Frequency Principle (SPEC §2.6): ``γ²`` from init moments, regimes, exact torus dynamics.

See :mod:`fpjax._src.lfp` for the conventions (torus ``[0, L)^d``, FT-normalised coefficients,
constant-mode treatment).
"""

from fpjax._src.lfp import (LFPTrajectory, coefficients_from_function, coefficients_from_values,
                            crossover_frequency, evaluate, evolve, frequency_grid, gamma2, gamma2_on_grid,
                            init_moments, kernel_flow, kernel_matrix, lfp_constant_1d, predict_regime,
                            relu_ntk_1d, steady_state)

__all__ = [
    "gamma2", "init_moments", "crossover_frequency", "predict_regime",
    "frequency_grid", "gamma2_on_grid", "kernel_matrix", "evaluate", "coefficients_from_function",
    "coefficients_from_values", "evolve", "steady_state", "LFPTrajectory",
    "relu_ntk_1d", "lfp_constant_1d", "kernel_flow",
]
