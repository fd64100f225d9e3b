"""Loss curvature: Hessian, Gauss-Newton and Fisher products, trace, top eigenpairs, densities,
per-layer blocks and curvature recorded during training.

Every estimator sees the parameters as one flat vector ``θ ∈ ℝ^P`` and the curvature matrix ``C``
only through products ``v ↦ Cv`` (``curvature="hessian" | "ggn" | "fisher" | "empirical_fisher"``;
the last three need a :class:`ModelLoss` from :func:`model_loss`, which keeps the model and the
loss on its outputs apart). The PRNG ``key`` is keyword-only everywhere. Typical use::

    loss = fpjax.hessian.model_loss(model.apply, x_train, y_train, loss="mse")
    tr = fpjax.hessian.hutchinson_trace(loss, params, key=key, num_probes=100)          # TraceEstimate
    lam = fpjax.hessian.top_eigenvalues(loss, params, key=key, k=5)
    g = fpjax.hessian.eigen_density(loss, params, key=key, curvature="ggn")             # Density
    per_layer = fpjax.hessian.layer_curvature(loss, params, key=key)                     # .table(), .plot()
    rec = fpjax.hessian.curvature_recorder(lambda p: loss(p), key=key, num_iters=10)
    fit(model.apply, params, x_train, y_train, ..., record=rec, record_every=50)

Batch norm (Flax, the CNN zoo): take the curvature of the network as used at test time, batch
statistics frozen and dropout off: ``model_loss(model.eval_fn(variables), x, y, loss="ce",
num_batches=B)`` differentiates with respect to ``variables["params"]`` only, batch by batch
(memory of one batch). In train mode the loss would depend on the batch composition through the
batch statistics and would not be a fixed function of θ.

References: Pearlmutter 1994, doi:10.1162/neco.1994.6.1.147 (HVP); Hutchinson 1990,
doi:10.1080/03610919008812866 (trace); Ubaru, Chen, Saad 2017, doi:10.1137/16M1104974 (SLQ);
Yao et al. 2020, arXiv:1912.07145 (PyHessian); Martens 2020, arXiv:1412.1193 (Gauss-Newton,
Fisher); Kunstner et al. 2019, arXiv:1905.12558 (empirical Fisher); Cohen et al. 2021,
arXiv:2103.00065 (sharpness during training).
"""

from fpjax._src.hessian import (
    CURVATURES,
    BatchedLoss,
    CurvatureRecord,
    Density,
    Eigenpairs,
    HessianSummary,
    LanczosResult,
    LayerCurvature,
    ModelLoss,
    Quadrature,
    TraceEstimate,
    batched_loss,
    curvature_recorder,
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
    lanczos_tridiag,
    layer_curvature,
    layer_groups,
    model_loss,
    num_params,
    plot_curvature_training,
    plot_eigen_density,
    plot_layer_curvature,
    slq_quadrature,
    top_eigenpairs,
    top_eigenvalues,
)

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
