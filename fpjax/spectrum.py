"""fpjax.spectrum — measuring frequencies (SPEC §1 conventions, §2.1).

* Grid transforms in continuous-transform units: :func:`grid_fft`, :func:`coeffs_at`,
  :func:`periodic_amplitudes`, :func:`window_weights`.
* Scattered data, projection method: :func:`nudft`, :func:`principal_direction`.
* Convergence per frequency: :func:`relative_error`.
* Filtering method: :func:`filter_decompose`, :func:`filter_errors`.
* Conv-kernel weight spectra and SSR: :func:`kernel_power_spectrum`, :func:`radial_profile`,
  :func:`high_freq_energy`, :func:`ssr`, :func:`ssr_accumulation`, :func:`conv_kernels`,
  :func:`conv_layer_profiles`, :func:`conv_layer_high_freq_energy`.
* Input-gradient bandwidth proxy: :func:`input_gradient_histogram`.
* Figures (``matplotlib.figure.Figure``, never shown): ``plot_*``.
"""

from fpjax._src.spectrum import (
    FilterErrors,
    coeffs_at,
    filter_decompose,
    filter_errors,
    grid_fft,
    nudft,
    periodic_amplitudes,
    principal_direction,
    relative_error,
    window_weights,
)
from fpjax._src.spectrum_kernels import (
    GradientHistogram,
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
    plot_filter_errors,
    plot_gradient_histograms,
    plot_radial_profiles,
    plot_relative_error_heatmap,
    plot_spectrum,
)

__all__ = [
    "grid_fft", "coeffs_at", "periodic_amplitudes", "window_weights",
    "nudft", "principal_direction", "relative_error",
    "filter_decompose", "filter_errors", "FilterErrors",
    "kernel_power_spectrum", "radial_profile", "high_freq_energy", "ssr", "ssr_accumulation",
    "conv_kernels", "conv_layer_profiles", "conv_layer_high_freq_energy",
    "input_gradient_histogram", "GradientHistogram",
    "plot_spectrum", "plot_relative_error_heatmap", "plot_filter_errors", "plot_radial_profiles",
    "plot_gradient_histograms",
]
