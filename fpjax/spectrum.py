"""fpjax.spectrum — measuring frequencies (conventions: ``docs/conventions.md``, "Transforms and
frequencies").

* Grid transforms in continuous-transform units: :func:`grid_fft`, :func:`coeffs_at`,
  :func:`window_weights`.
* Fourier-series coefficients at physical frequencies (cycles per unit length) on a grid of whole
  periods: :func:`fourier_coeffs`, :func:`peak_relative_error`, :func:`periodic_amplitudes`.
* Convergence times per frequency (first crossing, stays below; seed statistics):
  :func:`convergence_times`, :func:`crossing_steps`, :func:`plot_convergence_times`,
  :func:`spearman` (rank correlation, e.g. of convergence step and frequency).
* Scattered data, projection method: :func:`nudft`, :func:`principal_direction`.
* Convergence per frequency: :func:`relative_error`.
* Filtering method: :func:`filter_decompose`, :func:`filter_errors`.
* Conv-kernel weight spectra and SSR: :func:`kernel_power_spectrum`, :func:`radial_profile`,
  :func:`high_freq_energy`, :func:`ssr`, :func:`ssr_accumulation`, :func:`conv_kernels`,
  :func:`conv_layer_profiles`, :func:`conv_layer_high_freq_energy`.
* Input-gradient bandwidth proxy: :func:`input_gradient_histogram`.
* Figures (``matplotlib.figure.Figure``, never shown): ``plot_*``.
"""

from fpjax._src.convergence import ConvergenceTimes, convergence_times, crossing_steps
from fpjax._src.spectrum import (
    Amplitudes,
    FilterDecomposition,
    FilterErrors,
    GridSpectrum,
    coeffs_at,
    filter_decompose,
    filter_errors,
    fourier_coeffs,
    grid_fft,
    nudft,
    peak_relative_error,
    periodic_amplitudes,
    principal_direction,
    relative_error,
    window_weights,
)
from fpjax._src.spectrum_kernels import (
    GradientHistogram,
    LayerProfiles,
    RadialProfile,
    conv_kernels,
    conv_layer_high_freq_energy,
    conv_layer_profiles,
    high_freq_energy,
    input_gradient_histogram,
    kernel_power_spectrum,
    radial_profile,
    ssr,
    ssr_accumulation,
)
from fpjax._src.spectrum_plots import (
    plot_convergence_times,
    plot_filter_errors,
    plot_gradient_histograms,
    plot_radial_profiles,
    plot_relative_error_heatmap,
    plot_spectrum,
)
from fpjax._src.stats import spearman

__all__ = [
    "Amplitudes",
    "ConvergenceTimes",
    "FilterDecomposition",
    "FilterErrors",
    "GradientHistogram",
    "GridSpectrum",
    "LayerProfiles",
    "RadialProfile",
    "coeffs_at",
    "conv_kernels",
    "conv_layer_high_freq_energy",
    "conv_layer_profiles",
    "convergence_times",
    "crossing_steps",
    "filter_decompose",
    "filter_errors",
    "fourier_coeffs",
    "grid_fft",
    "high_freq_energy",
    "input_gradient_histogram",
    "kernel_power_spectrum",
    "nudft",
    "peak_relative_error",
    "periodic_amplitudes",
    "plot_convergence_times",
    "plot_filter_errors",
    "plot_gradient_histograms",
    "plot_radial_profiles",
    "plot_relative_error_heatmap",
    "plot_spectrum",
    "principal_direction",
    "radial_profile",
    "relative_error",
    "spearman",
    "ssr",
    "ssr_accumulation",
    "window_weights",
]
