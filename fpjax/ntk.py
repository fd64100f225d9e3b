"""Tangent kernels (SPEC §2.4): empirical NTK (neural-tangents or the fast exact MLP path),
infinite-width NTK and the closed-form linearized MSE gradient flow."""

from fpjax._src.ntk import (IMPLEMENTATIONS, FlowResult, empirical_ntk, empirical_ntk_fn, fast_path_supported,
                            infinite_ntk, kernel_flow, linearized_flow)
from fpjax._src.nt_compat import NeuralTangentsUnavailable
from fpjax._src.ntk_eig import EigResult, NTKRecord, frobenius_norm, lanczos_eigh, ntk_eigh, ntk_matvec, ntk_record

__all__ = ["empirical_ntk", "empirical_ntk_fn", "infinite_ntk", "kernel_flow", "linearized_flow", "FlowResult",
           "fast_path_supported", "IMPLEMENTATIONS", "NeuralTangentsUnavailable",
           "ntk_matvec", "lanczos_eigh", "ntk_eigh", "EigResult", "frobenius_norm", "NTKRecord", "ntk_record"]
