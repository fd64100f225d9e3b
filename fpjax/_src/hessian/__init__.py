"""Curvature of the loss: products, Lanczos, estimators, per-layer blocks and recorders.

Modules by concern: :mod:`.problems` (the losses accepted and their validation), :mod:`.operators`
(Hessian, Gauss-Newton and Fisher vector products; the one batched-product scan),
:mod:`fpjax._src.krylov` (the package's one Lanczos, probes, Hutchinson and SLQ, shared with
:mod:`fpjax.ntk`), :mod:`.estimators` (trace, top eigenvalues and
eigenvectors, spectral density, dense matrices), :mod:`.layers` (per-layer blocks, training
recorders). Figures are in :mod:`fpjax._src.curvature_plots`.
"""

from fpjax._src.curvature_plots import (
    plot_curvature_training,
    plot_eigen_density,
    plot_layer_curvature,
)
from fpjax._src.hessian.estimators import (
    Density,
    Eigenpairs,
    HessianSummary,
    Quadrature,
    TraceEstimate,
    dense_eigenvalues,
    dense_hessian,
    density_from_quadrature,
    eigen_density,
    fisher_vp,
    ggn_vp,
    hessian_summary,
    hutchinson_trace,
    hvp,
    lanczos,
    slq_quadrature,
    top_eigenpairs,
    top_eigenvalues,
)
from fpjax._src.hessian.layers import (
    CurvatureRecord,
    LayerCurvature,
    curvature_recorder,
    layer_curvature,
    layer_groups,
)
from fpjax._src.hessian.problems import (
    CURVATURES,
    BatchedLoss,
    ModelLoss,
    batched_loss,
    model_loss,
)
from fpjax._src.krylov import LanczosResult, lanczos_tridiag

try:  # one definition of the parameter count, in fpjax.models
    from fpjax._src.models import num_params
except ImportError:  # pragma: no cover - until the move lands
    from fpjax._src.cnn import num_params

__all__ = [
    "CURVATURES",
    "BatchedLoss",
    "CurvatureRecord",
    "Density",
    "Eigenpairs",
    "HessianSummary",
    "LanczosResult",
    "LayerCurvature",
    "ModelLoss",
    "Quadrature",
    "TraceEstimate",
    "batched_loss",
    "curvature_recorder",
    "dense_eigenvalues",
    "dense_hessian",
    "density_from_quadrature",
    "eigen_density",
    "fisher_vp",
    "ggn_vp",
    "hessian_summary",
    "hutchinson_trace",
    "hvp",
    "lanczos",
    "lanczos_tridiag",
    "layer_curvature",
    "layer_groups",
    "model_loss",
    "num_params",
    "plot_curvature_training",
    "plot_eigen_density",
    "plot_layer_curvature",
    "slq_quadrature",
    "top_eigenpairs",
    "top_eigenvalues",
]
