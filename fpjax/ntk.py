"""Tangent kernels: empirical NTK (neural-tangents or the fast exact MLP path), infinite-width NTK,
the closed-form linearized MSE gradient flow and the linearized prediction of a network in one call.

Time is gradient-flow time ``t = η · steps`` everywhere; the loss is ``(1/2n) Σ_i (f(x_i) − y_i)²``.

neural-tangents 0.6.5 needs compatibility patches under current JAX; :func:`neural_tangents` applies
them and returns the module, after which ``import neural_tangents`` works as usual::

    import fpjax.ntk
    nt = fpjax.ntk.neural_tangents()
    init_fn, apply_fn, kernel_fn = nt.stax.serial(nt.stax.Dense(512), nt.stax.Relu(), nt.stax.Dense(1))

References:
  A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel", NeurIPS 2018, arXiv:1806.07572.
  R. Novak et al., "Neural Tangents: Fast and Easy Infinite Neural Networks in Python", ICLR 2020,
  arXiv:1912.02803.
"""

from fpjax._src.nt_compat import NeuralTangentsUnavailable, neural_tangents
from fpjax._src.ntk import (
    IMPLEMENTATIONS,
    FlowResult,
    empirical_ntk,
    empirical_ntk_fn,
    fast_path_supported,
    infinite_ntk,
    kernel_flow,
    predict_linearized,
)
from fpjax._src.ntk_eig import (
    Eigenpairs,
    EigResult,  # deprecated name of Eigenpairs
    NTKRecord,
    frobenius_norm,
    lanczos_eigh,
    ntk_eigh,
    ntk_matvec,
    ntk_record,
)

__all__ = [
    "empirical_ntk",
    "empirical_ntk_fn",
    "infinite_ntk",
    "kernel_flow",
    "predict_linearized",
    "FlowResult",
    "fast_path_supported",
    "IMPLEMENTATIONS",
    "NeuralTangentsUnavailable",
    "neural_tangents",
    "ntk_matvec",
    "lanczos_eigh",
    "ntk_eigh",
    "Eigenpairs",
    "EigResult",
    "frobenius_norm",
    "NTKRecord",
    "ntk_record",
]
