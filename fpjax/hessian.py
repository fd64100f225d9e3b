"""Loss curvature: Hessian-vector products, Hutchinson trace, Lanczos eigenvalues, SLQ density.

See :mod:`fpjax._src.hessian` for the formulas. Typical use::

    loss = lambda p: fpjax.train.mse(model.apply(p, x), y)
    tr, se = fpjax.hessian.hutchinson_trace(loss, params, key, num_probes=100)
    lam = fpjax.hessian.top_eigenvalues(loss, params, key, k=5)
    grid, dens = fpjax.hessian.eigen_density(loss, params, key, num_probes=10, num_iters=80)
"""

from fpjax._src.hessian import (
    BatchedLoss,
    HessianSummary,
    batched_loss,
    dense_eigenvalues,
    dense_hessian,
    density_from_quadrature,
    eigen_density,
    hessian_summary,
    hutchinson_trace,
    hvp,
    lanczos,
    num_params,
    plot_eigen_density,
    slq_quadrature,
    top_eigenvalues,
)

__all__ = [
    "BatchedLoss", "batched_loss", "hvp", "hutchinson_trace", "lanczos", "top_eigenvalues",
    "slq_quadrature", "density_from_quadrature", "eigen_density", "plot_eigen_density",
    "dense_hessian", "dense_eigenvalues", "num_params", "hessian_summary", "HessianSummary",
]
