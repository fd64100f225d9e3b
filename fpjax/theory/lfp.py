"""Linear Frequency Principle: ``γ²`` from init moments, regimes, exact torus dynamics, and the LFP
prediction of a two-layer ReLU network in one call (:func:`predict`).

Conventions (torus ``[0, L)^d``, Fourier-transform-normalised coefficients, the constant mode, time
``t = η · steps``) are stated in the docstrings of :func:`evolve` and :func:`predict`.

References:
  Y. Zhang, Z.-Q. J. Xu, T. Luo, Z. Ma, "Explicitizing an implicit bias of the frequency principle in
  two-layer neural networks", arXiv:1905.10264.
  Y. Zhang, T. Luo, Z. Ma, Z.-Q. J. Xu, "A linear frequency principle model to understand the absence
  of overfitting in neural networks", Chinese Phys. Lett. 38, 038701 (2021), arXiv:2102.00200.
  T. Luo, Z. Ma, Z.-Q. J. Xu, Y. Zhang, "On the exact computation of linear frequency principle
  dynamics and its generalization", SIAM J. Math. Data Sci. (2022), arXiv:2010.08153.
"""

from fpjax._src.lfp import (
    InitMoments,
    LFPPrediction,
    LFPTrajectory,
    PeriodChoice,
    Regime,
    ResidualFlow,
    choose_period,
    coefficients_from_function,
    coefficients_from_values,
    crossover_frequency,
    evaluate_series,
    evolve,
    frequency_grid,
    gamma2,
    gamma2_on_grid,
    init_moments,
    kernel_matrix,
    lfp_constant_1d,
    predict,
    predict_regime,
    relu_ntk_1d,
    residual_flow,
    steady_state,
)

__all__ = [
    "gamma2",
    "init_moments",
    "InitMoments",
    "crossover_frequency",
    "predict_regime",
    "Regime",
    "frequency_grid",
    "gamma2_on_grid",
    "kernel_matrix",
    "evaluate_series",
    "coefficients_from_function",
    "coefficients_from_values",
    "evolve",
    "steady_state",
    "LFPTrajectory",
    "relu_ntk_1d",
    "lfp_constant_1d",
    "residual_flow",
    "ResidualFlow",
    "predict",
    "LFPPrediction",
    "choose_period",
    "PeriodChoice",
]
