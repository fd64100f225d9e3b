"""Loss landscapes (Li et al. 2018, arXiv:1712.09913): 1-D and 2-D slices along filter-normalised
random directions or the top Hessian eigenvectors, the PCA projection of a training trajectory, and
contour / surface figures.

Typical use::

    loss = fpjax.hessian.model_loss(model.apply, x_train, y_train)
    d1 = fpjax.landscape.random_direction(params, key=k1)
    d2 = fpjax.landscape.random_direction(params, key=k2)
    s = fpjax.landscape.slice_2d(loss, params, d1, d2)            # 51 × 51, one jitted call
    fig = fpjax.landscape.plot_landscape_contour(s)

Slices are deterministic given the key (the directions) and evaluate every grid point in one jitted
call of vmapped chunks.
"""

from fpjax._src.curvature_plots import plot_landscape_1d, plot_landscape_contour, plot_landscape_surface
from fpjax._src.landscape import (
    EigenDirections,
    Slice1D,
    Slice2D,
    TrajectoryPCA,
    eigen_directions,
    random_direction,
    slice_1d,
    slice_2d,
    trajectory_pca,
)

__all__ = [
    "EigenDirections",
    "Slice1D",
    "Slice2D",
    "TrajectoryPCA",
    "eigen_directions",
    "plot_landscape_1d",
    "plot_landscape_contour",
    "plot_landscape_surface",
    "random_direction",
    "slice_1d",
    "slice_2d",
    "trajectory_pca",
]
