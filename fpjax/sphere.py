"""fpjax.sphere — functions and dot-product kernels on the sphere S^{d−1} (any d ≥ 2).

"Frequency" on the sphere is the spherical-harmonic degree ℓ.

* Degree-wise energy of a function from samples (quadrature or uniform Monte Carlo with its
  standard error): :func:`degree_energy`, with :func:`sphere_quadrature`, :func:`sample_sphere`,
  :func:`real_sph_harm` (d = 3), :func:`legendre`, :func:`multiplicity`.
* Eigenvalues of dot-product kernels by the Funk–Hecke formula: :func:`funk_hecke`; of a network's
  infinite-width NTK/NNGP: :func:`model_eigenvalues`, :func:`dot_product_kernel`.
* Closed forms: :func:`arccos_kernel`, :func:`arccos_eigenvalues`, :func:`relu_ntk`,
  :func:`relu_ntk_eigenvalues`.
"""

from fpjax._src.sphere import (
    QUADRATURES,
    DegreeEnergy,
    SphereKernelSpectrum,
    SphereQuadrature,
    arccos_eigenvalues,
    arccos_kernel,
    degree_energy,
    dot_product_kernel,
    funk_hecke,
    legendre,
    model_eigenvalues,
    multiplicity,
    real_sph_harm,
    relu_ntk,
    relu_ntk_eigenvalues,
    sample_sphere,
    sphere_quadrature,
)

__all__ = [
    "QUADRATURES",
    "DegreeEnergy",
    "SphereKernelSpectrum",
    "SphereQuadrature",
    "arccos_eigenvalues",
    "arccos_kernel",
    "degree_energy",
    "dot_product_kernel",
    "funk_hecke",
    "legendre",
    "model_eigenvalues",
    "multiplicity",
    "real_sph_harm",
    "relu_ntk",
    "relu_ntk_eigenvalues",
    "sample_sphere",
    "sphere_quadrature",
]
