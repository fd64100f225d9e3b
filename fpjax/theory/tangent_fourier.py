"""Theorem 5.1: ``∂_t f̂(ξ) = −Σ_i K̂_θ(ξ, x_i) ∂c/∂f(x_i)`` checked on a grid, and the high-frequency
decay of the tangent kernel's transform.

References:
  S. Ramasinghe, L. MacDonald, M. Farazi, H. Saratchandran, S. Lucey, "How you start matters for
  generalization", arXiv:2206.08558.
"""

from fpjax._src.tangent_fourier import (
    COSTS,
    METHODS,
    Agreement,
    DecayFit,
    KernelSpectrum,
    MeasuredDfhat,
    PerMethod,
    TangentFourierResult,
    cost_grad,
    default_rel_step,
    fit_decay,
    gaussian_taper,
    high_frequency_ratio,
    kernel_spectrum,
    measured_dfhat,
    planck_taper,
    predicted_dfhat,
    spectral_agreement,
    tangent_fourier,
)

__all__ = [
    "tangent_fourier",
    "TangentFourierResult",
    "PerMethod",
    "kernel_spectrum",
    "KernelSpectrum",
    "predicted_dfhat",
    "measured_dfhat",
    "MeasuredDfhat",
    "spectral_agreement",
    "Agreement",
    "fit_decay",
    "DecayFit",
    "high_frequency_ratio",
    "cost_grad",
    "default_rel_step",
    "planck_taper",
    "gaussian_taper",
    "COSTS",
    "METHODS",
]
