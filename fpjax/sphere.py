"""fpjax.sphere — functions and dot-product kernels on the sphere S^{d−1} (any d ≥ 2).

"Frequency" on the sphere is the spherical-harmonic degree ℓ.

* Degree-wise energy of a function from samples (quadrature or uniform Monte Carlo with its
  standard error): :func:`degree_energy`, with :func:`sphere_quadrature`, :func:`sample_sphere`,
  :func:`real_sph_harm` (d = 3), :func:`legendre`, :func:`multiplicity`.
* Eigenvalues of dot-product kernels by the Funk–Hecke formula: :func:`funk_hecke`; of a network's
  infinite-width NTK/NNGP: :func:`model_eigenvalues`, :func:`dot_product_kernel`.
* Closed forms: :func:`arccos_kernel`, :func:`arccos_eigenvalues`, :func:`relu_ntk`,
  :func:`relu_ntk_eigenvalues`.

The cosine ``u = x·y`` of a dot-product kernel is the argument ``cos`` (``t=`` is a deprecated
spelling: ``t`` is gradient-flow time in fpjax). Cosines outside ``[−1, 1]`` by more than
``COS_TOLERANCE`` and points whose norms differ from 1 by more than ``UNIT_TOLERANCE`` are a
``ValueError``; complex values a ``TypeError``.
"""

from fpjax._src.sphere import (
    COS_TOLERANCE,
    MAX_SPH_HARM_DEGREE,
    QUADRATURES,
    UNIT_TOLERANCE,
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
    "COS_TOLERANCE",
    "MAX_SPH_HARM_DEGREE",
    "QUADRATURES",
    "UNIT_TOLERANCE",
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
