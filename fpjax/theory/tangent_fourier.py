"""Theorem 5.1 (SPEC §2.5): ``∂_t f̂(ξ) = −Σ_i K̂_θ(ξ, x_i) ∂c/∂f(x_i)`` checked on a grid, and the
high-frequency decay of the tangent kernel's transform."""

from fpjax._src.tangent_fourier import (LOSSES, METHODS, DecayFit, KernelSpectrum, TangentFourierResult, cost_grad,
                                        fit_decay, gaussian_taper, high_frequency_ratio, kernel_spectrum,
                                        measured_dfhat, planck_taper, predicted_dfhat, spectral_agreement,
                                        tangent_fourier)

__all__ = ["tangent_fourier", "TangentFourierResult", "kernel_spectrum", "KernelSpectrum", "predicted_dfhat",
           "measured_dfhat", "spectral_agreement", "fit_decay", "DecayFit", "high_frequency_ratio", "cost_grad",
           "planck_taper", "gaussian_taper", "LOSSES", "METHODS"]
