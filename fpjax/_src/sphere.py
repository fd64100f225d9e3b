"""Functions and dot-product kernels on the sphere S^{d−1} ⊂ R^d (d ≥ 2).

Conventions
-----------
``σ`` is the **uniform probability measure** on S^{d−1}. ``P_ℓ = P_ℓ^{(d)}`` is the Legendre
(Gegenbauer) polynomial of dimension ``d`` normalised by ``P_ℓ(1) = 1``:
``P_ℓ(t) = C_ℓ^{(d−2)/2}(t) / C_ℓ^{(d−2)/2}(1)`` for ``d ≥ 3`` and the Chebyshev ``T_ℓ(t)`` for
``d = 2``. It obeys ``(ℓ+d−2) P_{ℓ+1}(t) = (2ℓ+d−2) t P_ℓ(t) − ℓ P_{ℓ−1}(t)``. The harmonics of degree
``ℓ`` form a space of dimension

    ``N(d, ℓ) = (2ℓ+d−2)/ℓ · binom(ℓ+d−3, ℓ−1)``  (``N(d, 0) = 1``; ``2ℓ+1`` on S²),

and with any ``σ``-orthonormal basis ``Y_{ℓ,1..N}`` of it the **addition theorem** reads
``Σ_m Y_{ℓm}(x) Y_{ℓm}(y) = N(d, ℓ) P_ℓ(x·y)``.

Degree-wise energy
    ``E_ℓ(f) = ‖f_ℓ‖²_{L²(σ)} = Σ_m ⟨f, Y_{ℓm}⟩² = N(d, ℓ) ∫∫ f(x) f(y) P_ℓ(x·y) dσ(x) dσ(y)``,
    so ``Σ_ℓ E_ℓ = ∫ f² dσ`` (Parseval).

Funk–Hecke
    A dot-product kernel ``k(x·y)`` acts on degree-ℓ harmonics as multiplication by

    ``μ_ℓ = c_d ∫_{−1}^{1} k(t) P_ℓ(t) (1 − t²)^{(d−3)/2} dt``,  ``c_d = Γ(d/2) / (√π Γ((d−1)/2))``,

    each with multiplicity ``N(d, ℓ)``, and ``k(t) = Σ_ℓ N(d, ℓ) μ_ℓ P_ℓ(t)``. These are the
    eigenvalues of the integral operator ``(T f)(x) = ∫ k(x·y) f(y) dσ(y)``, the limit of the Gram
    matrix ``K/n`` of ``n`` uniform points.

References:
  Atkinson & Han, *Spherical Harmonics and Approximations on the Unit Sphere* (2012),
  doi:10.1007/978-3-642-25983-8 (addition theorem, Funk–Hecke). Bach, *Breaking the curse of
  dimensionality with convex neural networks* (2017), arXiv:1412.8690 (arc-cosine eigenvalues).
  Bietti & Mairal, *On the inductive bias of neural tangent kernels* (2019), arXiv:1905.12173.
  Basri, Jacobs, Kasten & Kritchman (2019), arXiv:1906.00425; Basri, Galun, Geifman, Jacobs, Kasten &
  Kritchman (2020), arXiv:2003.04560.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import scipy.special as sps

from fpjax._src import checks
from fpjax._src.array_types import ArrayLike

__all__ = [
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


# ----------------------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------------------


def _check_d(d: Any) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"d must be an int (the ambient dimension of S^(d-1)); got {type(d).__name__}")
    if d < 2:
        raise ValueError(f"d must be >= 2 (S^(d-1) lives in R^d); got {d}")
    return int(d)


def _check_ell_max(ell_max: Any, name: str = "ell_max") -> int:
    if isinstance(ell_max, bool) or not isinstance(ell_max, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {type(ell_max).__name__}")
    if ell_max < 0:
        raise ValueError(f"{name} must be >= 0; got {ell_max}")
    return int(ell_max)


#: Cosines may exceed [−1, 1] by this much (rounding in ``x @ x.T`` of unit vectors; 8 ulp for
#: float16/bfloat16 input, where that is more); they are then clipped. Farther out they are
#: refused: a cosine of 5 is no point pair of the sphere.
COS_TOLERANCE = 1e-6

#: Points are unit vectors when their norms are within this of 1 (8 ulp for float16/bfloat16 input,
#: where that is more): one rule for every function here.
UNIT_TOLERANCE = 1e-4

#: Highest degree :func:`real_sph_harm` evaluates accurately: SciPy's ``sph_harm_y`` returns NaN
#: for most orders from degree 646 on (checked: finite and the addition theorem to 5e-11 at 645).
MAX_SPH_HARM_DEGREE = 600


def _cosines(cos: Any, name: str = "cos") -> np.ndarray:
    """``cos`` as float64, refused if complex or outside ``[−1, 1]`` by more than :data:`COS_TOLERANCE`.

    Within the tolerance the values are clipped to ``[−1, 1]``; NaN stays NaN.
    """
    tol = checks.rounding_tolerance(cos, COS_TOLERANCE)  # wider for float16/bfloat16 cosines
    c = checks.real_float_array(cos, name)
    c = checks.error_if(
        c,
        np.abs(c) > 1.0 + tol,
        f"{name} must hold cosines in [-1, 1] (x·y of unit vectors); got values up to "
        f"{np.nanmax(np.abs(c)) if c.size and not np.all(np.isnan(c)) else 0.0:.6g} in absolute value",
    )
    return np.clip(c, -1.0, 1.0)


def _unit_points(x: Any, name: str = "x", d: int | None = None, *, renormalise: bool = True) -> np.ndarray:
    """``x`` as float64 ``(n, d)`` unit vectors: real, finite, norms within :data:`UNIT_TOLERANCE`
    of 1 (then renormalised unless ``renormalise=False``); the one rule of every function of this
    module that takes points."""
    tol = checks.rounding_tolerance(x, UNIT_TOLERANCE)  # wider for float16/bfloat16 points
    x = checks.real_float_array(x, name)
    if x.ndim != 2 or x.shape[0] == 0 or (d is not None and x.shape[1] != d):
        want = "(n, d)" if d is None else f"(n, {d})"
        raise ValueError(f"{name} must have shape {want} with n >= 1; got {x.shape}")
    _check_d(x.shape[1])
    x = checks.error_if(x, ~np.isfinite(x), f"{name} must be finite")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = checks.error_if(
        x,
        np.abs(norms - 1.0) > tol,
        f"{name} must be unit vectors (points of the sphere): some norms differ from 1 by > {tol:g}",
    )
    return x / norms if renormalise else x


def _check_degrees_memory(ell_max: int) -> None:
    """Refuse ``ell_max`` before allocating the few ``(ell_max + 2,)`` float64 arrays of a spectrum."""
    checks.check_memory(8.0 * 6 * (ell_max + 2), "ell_max", f"the eigenvalues of degrees 0..{ell_max}")


def _c_d(d: int) -> float:
    """``c_d = Γ(d/2)/(√π Γ((d−1)/2))``: the density of ``t = x·e`` under σ is ``c_d (1−t²)^{(d−3)/2}``."""
    return math.exp(math.lgamma(d / 2) - math.lgamma((d - 1) / 2)) / math.sqrt(math.pi)


# ----------------------------------------------------------------------------------------------
# Legendre polynomials and multiplicities
# ----------------------------------------------------------------------------------------------


def multiplicity(d: int, ell: ArrayLike) -> np.ndarray:
    """Dimension ``N(d, ℓ)`` of the degree-ℓ spherical harmonics on S^{d−1}.

    ``N(d, 0) = 1`` and ``N(d, ℓ) = (2ℓ+d−2)/ℓ · binom(ℓ+d−3, ℓ−1)`` for ``ℓ ≥ 1``
    (``2`` on the circle, ``2ℓ+1`` on S²).

    Args:
      d: ambient dimension, ``≥ 2``.
      ell: a degree or an integer array of degrees ``≥ 0``.

    Returns:
      float64 array with the shape of ``ell`` (exact integers up to 2⁵³).

    Examples:
      >>> from fpjax.sphere import multiplicity
      >>> multiplicity(3, [0, 1, 2, 3]).tolist()
      [1.0, 3.0, 5.0, 7.0]

    References:
      Atkinson & Han, *Spherical Harmonics and Approximations on the Unit Sphere* (2012),
      doi:10.1007/978-3-642-25983-8, Chapter 2.
    """
    d = _check_d(d)
    ell = np.asarray(ell)
    if not np.issubdtype(ell.dtype, np.integer) or np.any(ell < 0):
        raise ValueError("ell must be integer degrees >= 0")
    ell = ell.astype(np.int64)
    safe = np.maximum(ell, 1)
    n = (2 * safe + d - 2) / safe * sps.comb(safe + d - 3, safe - 1, exact=False)
    return np.where(ell == 0, 1.0, np.round(n))


@checks.renamed_keyword(t="cos")
def legendre(d: int, ell_max: int, cos: ArrayLike) -> np.ndarray:
    """Normalised Legendre polynomials ``P_0 … P_ℓmax`` of dimension ``d`` at ``cos`` (``P_ℓ(1) = 1``).

    Three-term recurrence ``(ℓ+d−2) P_{ℓ+1} = (2ℓ+d−2) u P_ℓ − ℓ P_{ℓ−1}``, ``P_0 = 1``, ``P_1 = u``
    (``u = cos``); equal to ``C_ℓ^{(d−2)/2}(u)/C_ℓ^{(d−2)/2}(1)`` (``T_ℓ(u)`` for ``d = 2``).

    Args:
      d: ambient dimension ``≥ 2``.
      ell_max: highest degree ``≥ 0``.
      cos: array of cosines ``u = x·y`` in ``[−1, 1]``, any shape ``S`` (real; values farther than
        :data:`COS_TOLERANCE` outside are a ``ValueError``). The old spelling ``t=`` is deprecated.

    Returns:
      float64 array ``(ell_max + 1, *S)``.

    Examples:
      >>> from fpjax.sphere import legendre
      >>> legendre(3, 2, 0.5).tolist()   # 1, u, (3u² − 1)/2
      [1.0, 0.5, -0.125]

    References:
      Atkinson & Han, *Spherical Harmonics and Approximations on the Unit Sphere* (2012),
      doi:10.1007/978-3-642-25983-8, Chapter 2.
    """
    d = _check_d(d)
    ell_max = _check_ell_max(ell_max)
    t = _cosines(cos)
    checks.check_memory(8.0 * (ell_max + 1) * max(t.size, 1), "ell_max", f"Legendre values of degree <= {ell_max}")
    out = np.empty((ell_max + 1,) + t.shape)
    out[0] = 1.0
    if ell_max >= 1:
        out[1] = t
    for ell in range(1, ell_max):
        out[ell + 1] = ((2 * ell + d - 2) * t * out[ell] - ell * out[ell - 1]) / (ell + d - 2)
    return out


# ----------------------------------------------------------------------------------------------
# Funk–Hecke eigenvalues of dot-product kernels
# ----------------------------------------------------------------------------------------------


class SphereKernelSpectrum(NamedTuple):
    """Eigenvalues of a dot-product kernel on S^{d−1} (:func:`funk_hecke`).

    degrees: ``(L+1,)`` int, ``0 … ell_max``.
    eigenvalues: ``(L+1,)`` float64, ``μ_ℓ`` (each repeated ``N(d, ℓ)`` times in the operator).
    multiplicities: ``(L+1,)`` float64, ``N(d, ℓ)``.

    Examples:
      >>> import numpy as np
      >>> from fpjax.sphere import funk_hecke, relu_ntk, relu_ntk_eigenvalues
      >>> spec = funk_hecke(relu_ntk, 3, 4)                 # two-layer ReLU NTK on S²
      >>> spec.degrees.tolist(), spec.multiplicities.tolist()
      ([0, 1, 2, 3, 4], [1.0, 3.0, 5.0, 7.0, 9.0])
      >>> (np.round(spec.eigenvalues, 6) + 0.0).tolist()   # odd degrees ≥ 3 vanish
      [0.5, 0.333333, 0.078125, 0.0, 0.005208]
      >>> bool(np.allclose(spec.eigenvalues, relu_ntk_eigenvalues(3, 4), rtol=1e-8, atol=1e-12))
      True

    References:
      Bietti & Mairal, *On the inductive bias of neural tangent kernels* (2019), arXiv:1905.12173.
      Basri, Jacobs, Kasten & Kritchman (2019), arXiv:1906.00425.
    """

    degrees: np.ndarray
    eigenvalues: np.ndarray
    multiplicities: np.ndarray


QUADRATURES = ("theta", "jacobi")


def _quadrature_nodes(d: int, n_quad: int, quadrature: str):
    """Nodes ``t_i`` and weights ``w_i`` with ``Σ w_i g(t_i) ≈ c_d ∫ g(t)(1−t²)^{(d−3)/2} dt``."""
    if quadrature == "theta":
        # t = cos θ: c_d ∫_0^π g(cos θ) sin^{d−2} θ dθ by Gauss–Legendre in θ. Kernels of ReLU networks
        # (arc-cosine compositions) have √(1−t) singularities in t but are analytic in θ, so this
        # rule converges exponentially for them, where Gauss–Jacobi in t only converges algebraically.
        z, w = np.polynomial.legendre.leggauss(n_quad)
        theta = 0.5 * np.pi * (z + 1.0)
        return np.cos(theta), _c_d(d) * 0.5 * np.pi * w * np.sin(theta) ** (d - 2)
    a = (d - 3) / 2.0  # Gauss–Jacobi with weight (1−t)^a (1+t)^a: exact for polynomial k up to 2n−1−ℓ
    t, w = sps.roots_jacobi(n_quad, a, a)
    return t, _c_d(d) * w


def funk_hecke(
    kernel: Callable[[np.ndarray], Any], d: int, ell_max: int, *, n_quad: int | None = None, quadrature: str = "theta"
) -> SphereKernelSpectrum:
    """Eigenvalues ``μ_ℓ`` of a dot-product kernel ``k(x·y)`` on S^{d−1} by the Funk–Hecke formula.

    ``μ_ℓ = c_d ∫_{−1}^{1} k(t) P_ℓ(t) (1 − t²)^{(d−3)/2} dt``, ``c_d = Γ(d/2)/(√π Γ((d−1)/2))``:
    the eigenvalues of ``(T f)(x) = ∫ k(x·y) f(y) dσ(y)`` (σ the uniform probability measure), each
    with multiplicity ``N(d, ℓ)``; ``k(t) = Σ_ℓ N(d, ℓ) μ_ℓ P_ℓ(t)``.

    Args:
      kernel: vectorised real ``k(u)`` for cosines ``u`` of shape ``(m,)`` in ``[−1, 1]``, e.g. :func:`relu_ntk`
        or :func:`dot_product_kernel` of a model.
      d: ambient dimension ``≥ 2``.
      ell_max: highest degree.
      n_quad: number of quadrature nodes (default ``max(256, 2·ell_max + 64)``).
      quadrature: ``"theta"`` (Gauss–Legendre in ``θ = arccos t``, exponentially convergent for
        kernels analytic in θ, which include all ReLU/arc-cosine kernels) or ``"jacobi"``
        (Gauss–Jacobi in ``t`` with weight ``(1−t²)^{(d−3)/2}``, exact for polynomial kernels of degree
        ``< 2·n_quad − ell_max``).

    Returns:
      :class:`SphereKernelSpectrum` ``(degrees, eigenvalues, multiplicities)``, each ``(ell_max + 1,)``.

    Examples:
      >>> import numpy as np
      >>> from fpjax.sphere import funk_hecke
      >>> mu = funk_hecke(lambda t: t ** 2, 3, 3).eigenvalues   # t² = (1/3) P_0 + (2/3) P_2
      >>> (np.round(mu * [1, 3, 5, 7], 12) + 0.0).tolist()
      [0.333333333333, 0.0, 0.666666666667, 0.0]

    References:
      Atkinson & Han (2012), doi:10.1007/978-3-642-25983-8, Thm 2.22. Bietti & Mairal (2019),
      arXiv:1905.12173.
    """
    d = _check_d(d)
    ell_max = _check_ell_max(ell_max)
    if quadrature not in QUADRATURES:
        raise ValueError(f"quadrature must be one of {QUADRATURES}; got {quadrature!r}")
    if not callable(kernel):
        raise TypeError(f"kernel must be a callable k(t); got {type(kernel).__name__}")
    n_quad_given = n_quad is not None and n_quad > 2 * ell_max + 64
    if n_quad is None:
        n_quad = max(256, 2 * ell_max + 64)
    if isinstance(n_quad, bool) or not isinstance(n_quad, (int, np.integer)) or n_quad < ell_max + 1:
        raise ValueError(f"n_quad must be an int >= ell_max + 1 = {ell_max + 1}; got {n_quad!r}")
    checks.check_memory(
        8.0 * (ell_max + 2) * int(n_quad),
        "n_quad" if n_quad_given else "ell_max",
        f"the ({ell_max + 1}, {n_quad}) Legendre values at the quadrature nodes",
    )
    t, w = _quadrature_nodes(d, int(n_quad), quadrature)
    k = kernel(t)
    if np.iscomplexobj(k):
        raise TypeError("kernel(cos) must return real values; got complex values")
    k = np.asarray(k, dtype=np.float64)
    if k.shape != t.shape:
        raise ValueError(f"kernel(cos) must return one value per cosine, shape {t.shape}; got {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("kernel(cos) returned non-finite values on [-1, 1]")
    mu = legendre(d, ell_max, t) @ (w * k)
    degrees = np.arange(ell_max + 1)
    return SphereKernelSpectrum(degrees, mu, multiplicity(d, degrees))


def dot_product_kernel(kernel_fn, d: int, get: str = "ntk") -> Callable[[np.ndarray], np.ndarray]:
    """The infinite-width kernel of a network on S^{d−1} as a function ``k(t)`` of ``t = x·y``.

    On the unit sphere the NTK and NNGP of an MLP (with or without biases) depend on ``x·y`` only;
    ``k(t)`` is evaluated as ``K(e₁, t e₁ + √(1−t²) e₂)`` with :func:`fpjax.ntk.infinite_ntk`.

    Args:
      kernel_fn: a :class:`fpjax.models.Model` with a ``kernel_fn`` (``init="standard"`` or ``"ntk"``)
        or a neural-tangents ``kernel_fn``.
      d: input dimension ``≥ 2``.
      get: ``"ntk"`` or ``"nngp"``.

    Returns:
      ``k(cos)``: maps ``(m,)`` cosines in ``[−1, 1]`` to the float64 ``(m,)`` kernel values (computed
      in JAX's default float precision; cosines outside ``[−1, 1]`` are a ``ValueError``).

    Examples:
      >>> import numpy as np
      >>> from fpjax.models import mlp
      >>> from fpjax.sphere import dot_product_kernel, relu_ntk
      >>> k = dot_product_kernel(mlp((512, 1), "relu", init="ntk", bias=False), 3)
      >>> t = np.array([-0.5, 0.0, 0.9])
      >>> bool(np.allclose(k(t), relu_ntk(t) / (2 * 3), rtol=1e-5))   # (t κ₀(t) + κ₁(t)) / (2d)
      True

    References:
      Bietti & Mairal, *On the inductive bias of neural tangent kernels* (2019), arXiv:1905.12173.
    """
    from fpjax._src.ntk import infinite_ntk

    d = _check_d(d)
    if get not in ("ntk", "nngp"):
        raise ValueError(f"get must be 'ntk' or 'nngp'; got {get!r}")

    def k(cos):
        import jax.numpy as jnp

        t = _cosines(cos).reshape(-1)
        e1 = np.zeros((1, d))
        e1[0, 0] = 1.0
        x2 = np.zeros((t.size, d))
        x2[:, 0], x2[:, 1] = t, np.sqrt(1.0 - t**2)
        dt = jnp.zeros(()).dtype
        out = infinite_ntk(kernel_fn, jnp.asarray(e1, dt), jnp.asarray(x2, dt), get)
        return np.asarray(out, dtype=np.float64)[0]

    return k


def model_eigenvalues(
    kernel_fn, d: int, ell_max: int, *, get: str = "ntk", n_quad: int | None = None
) -> SphereKernelSpectrum:
    """Funk–Hecke eigenvalues of a network's infinite-width NTK or NNGP on S^{d−1}.

    ``funk_hecke(dot_product_kernel(kernel_fn, d, get), d, ell_max)`` (θ-quadrature).

    Args:
      kernel_fn: a :class:`fpjax.models.Model` with a ``kernel_fn`` or a neural-tangents ``kernel_fn``.
      d: input dimension ``≥ 2``; ell_max: highest degree; get: ``"ntk"`` or ``"nngp"``;
      n_quad: quadrature nodes (see :func:`funk_hecke`).

    Returns:
      :class:`SphereKernelSpectrum`.

    Examples:
      >>> import numpy as np
      >>> from fpjax.models import mlp
      >>> from fpjax.sphere import model_eigenvalues
      >>> mu = model_eigenvalues(mlp((512, 1), "relu", init="ntk", bias=False), 3, 5).eigenvalues
      >>> bool(abs(mu[3]) < 1e-6 * mu[0] and abs(mu[5]) < 1e-6 * mu[0])   # odd ℓ ≥ 3 vanish
      True

    References:
      Bietti & Mairal (2019), arXiv:1905.12173.
    """
    return funk_hecke(dot_product_kernel(kernel_fn, d, get), d, ell_max, n_quad=n_quad)


# ----------------------------------------------------------------------------------------------
# closed forms: arc-cosine kernels and the two-layer ReLU NTK
# ----------------------------------------------------------------------------------------------


@checks.renamed_keyword(t="cos")
def arccos_kernel(cos: ArrayLike, order: int) -> np.ndarray:
    """Arc-cosine kernels of Cho & Saul normalised by ``κ(1) = 1`` (``θ = arccos u``, ``u = x·y``).

    ``κ₀(u) = (π − θ)/π = 2 E_w[1(w·x>0) 1(w·y>0)]`` and
    ``κ₁(u) = (sin θ + (π − θ) cos θ)/π = 2 E_w[relu(w·x) relu(w·y)]`` for ``w ~ N(0, I)``, unit ``x, y``.

    Args:
      cos: real array of cosines in ``[−1, 1]`` (farther than :data:`COS_TOLERANCE` outside is a
        ``ValueError``; the old spelling ``t=`` is deprecated); order: ``0`` or ``1``.

    Returns:
      float64 array with the shape of ``cos``.

    Examples:
      >>> from fpjax.sphere import arccos_kernel
      >>> [float(arccos_kernel(0.0, 0)), round(float(arccos_kernel(0.0, 1)), 6)]
      [0.5, 0.31831]

    References:
      Cho & Saul, *Kernel methods for deep learning*, NeurIPS 2009.
    """
    if order not in (0, 1):
        raise ValueError(f"order must be 0 or 1; got {order!r}")
    t = _cosines(cos)
    theta = np.arccos(t)
    if order == 0:
        return (np.pi - theta) / np.pi
    return (np.sqrt(1.0 - t**2) + (np.pi - theta) * t) / np.pi


def _activation_coefficients(d: int, ell_max: int, order: int) -> np.ndarray:
    """Funk–Hecke coefficients ``λ_ℓ`` of ``σ(t) = 1(t>0)`` (order 0) or ``max(t, 0)`` (order 1).

    With Rodrigues' formula ``P_ℓ(t)(1−t²)^{(d−3)/2} = (−1)^ℓ R_ℓ Dᴸ g_ℓ(t)``, ``g_ℓ = (1−t²)^{ℓ+(d−3)/2}``,
    ``R_ℓ = Γ((d−1)/2)/(2^ℓ Γ(ℓ+(d−1)/2))``, integrating by parts on [0, 1] gives, for ``ℓ ≥ 1`` (order 0)
    and ``ℓ ≥ 2`` (order 1): ``λ_ℓ = c_d (−1)^{ℓ+1} R_ℓ D^{ℓ−1} g_ℓ(0)`` and
    ``λ_ℓ = c_d (−1)^ℓ R_ℓ D^{ℓ−2} g_ℓ(0)``, with ``D^j (1−t²)^β |_{0} = j! binom(β, j/2) (−1)^{j/2}`` for
    even ``j`` (zero for odd ``j``).
    """
    cd = _c_d(d)
    lam = np.zeros(ell_max + 1)

    def term(ell, j):
        # c_d R_ℓ D^j g_ℓ(0) in log space (the factors overflow separately for large ℓ)
        if j % 2:
            return 0.0
        m, beta = j // 2, ell + (d - 3) / 2
        log_r = math.lgamma((d - 1) / 2) - ell * math.log(2) - math.lgamma(ell + (d - 1) / 2)
        log_binom = math.lgamma(beta + 1) - math.lgamma(m + 1) - math.lgamma(beta - m + 1)
        return (-1) ** m * cd * math.exp(log_r + math.lgamma(j + 1) + log_binom)

    if order == 0:
        lam[0] = 0.5
        for ell in range(1, ell_max + 1):
            lam[ell] = (-1) ** (ell + 1) * term(ell, ell - 1)
    else:
        lam[0] = cd / (d - 1)
        if ell_max >= 1:
            lam[1] = 1.0 / (2 * d)
        for ell in range(2, ell_max + 1):
            lam[ell] = (-1) ** ell * term(ell, ell - 2)
    return lam


def arccos_eigenvalues(d: int, ell_max: int, order: int) -> np.ndarray:
    """Closed-form Funk–Hecke eigenvalues of :func:`arccos_kernel` on S^{d−1}.

    ``κ_α(x·y) = 2 E_{w~N(0,I)}[σ_α(w·x) σ_α(w·y)]`` with ``σ₀ = 1(·>0)``, ``σ₁ = relu``; writing
    ``w = r u`` (``u`` uniform on the sphere, ``E r² = d``) and ``σ_α(u·x) = Σ_ℓ N(d,ℓ) λ_ℓ P_ℓ(u·x)`` gives
    ``μ_ℓ(κ₀) = 2 λ_ℓ(σ₀)²`` and ``μ_ℓ(κ₁) = 2 d λ_ℓ(σ₁)²``, where ``λ_ℓ`` follow from Rodrigues' formula
    in Gamma functions: ``λ₀(σ₀) = 1/2``, ``λ_ℓ(σ₀) = 0`` for even ``ℓ ≥ 2``; ``λ₀(σ₁) = c_d/(d−1)``,
    ``λ₁(σ₁) = 1/(2d)``, ``λ_ℓ(σ₁) = 0`` for odd ``ℓ ≥ 3``.

    Args:
      d: ambient dimension ``≥ 2``; ell_max: highest degree; order: ``0`` or ``1``.

    Returns:
      float64 ``(ell_max + 1,)``.

    Examples:
      >>> from fpjax.sphere import arccos_eigenvalues
      >>> [round(float(v), 6) for v in arccos_eigenvalues(3, 3, 1)]
      [0.375, 0.166667, 0.023438, 0.0]

    References:
      Bach (2017), arXiv:1412.8690, appendix D; Bietti & Mairal (2019), arXiv:1905.12173.
    """
    d = _check_d(d)
    ell_max = _check_ell_max(ell_max)
    if order not in (0, 1):
        raise ValueError(f"order must be 0 or 1; got {order!r}")
    _check_degrees_memory(ell_max)
    lam = _activation_coefficients(d, ell_max, order)
    return 2.0 * (1.0 if order == 0 else d) * lam**2


@checks.renamed_keyword(t="cos")
def relu_ntk(cos: ArrayLike) -> np.ndarray:
    """NTK of a bias-free two-layer ReLU network on the sphere: ``k(u) = u κ₀(u) + κ₁(u)`` (``k(1) = 2``).

    For ``f(x) = √(2/m) Σ_j a_j relu(w_j·x)`` in the NTK parameterisation this is the infinite-width
    NTK; :func:`fpjax.models.mlp` ``((m, 1), "relu", init="ntk", bias=False)`` has ``k(u)/(2d)`` on S^{d−1}.

    Args:
      cos: real array of cosines ``u = x·y`` in ``[−1, 1]`` (see :func:`arccos_kernel`; the old
        spelling ``t=`` is deprecated).

    Returns:
      float64 array with the shape of ``cos``.

    Examples:
      >>> from fpjax.sphere import relu_ntk
      >>> float(relu_ntk(1.0))
      2.0

    References:
      Bietti & Mairal (2019), arXiv:1905.12173, eq. (7).
    """
    t = _cosines(cos)
    return t * arccos_kernel(t, 0) + arccos_kernel(t, 1)


def relu_ntk_eigenvalues(d: int, ell_max: int) -> np.ndarray:
    """Closed-form Funk–Hecke eigenvalues of :func:`relu_ntk` on S^{d−1}.

    With ``κ₀(t) = Σ_j a_j P_j(t)`` (``a_j = N(d,j) μ_j(κ₀)``) the recurrence
    ``t P_j = ((j+d−2) P_{j+1} + j P_{j−1})/(2j+d−2)`` (``t P_0 = P_1``) gives the coefficients of
    ``t κ₀(t)``; adding those of ``κ₁`` and dividing by ``N(d, ℓ)`` gives ``μ_ℓ``. Zero for odd
    ``ℓ ≥ 3``; ``μ_ℓ ~ C ℓ^{−d}`` for even ``ℓ``.

    Args:
      d: ambient dimension ``≥ 2``; ell_max: highest degree.

    Returns:
      float64 ``(ell_max + 1,)``.

    Examples:
      >>> from fpjax.sphere import relu_ntk_eigenvalues
      >>> mu = relu_ntk_eigenvalues(3, 5)
      >>> [bool(mu[3] == 0.0), bool(mu[5] == 0.0), bool(mu[2] > mu[4] > 0)]
      [True, True, True]

    References:
      Bietti & Mairal (2019), arXiv:1905.12173, Prop. 5.
    """
    d = _check_d(d)
    ell_max = _check_ell_max(ell_max)
    _check_degrees_memory(ell_max)
    deg = np.arange(ell_max + 2)
    n = multiplicity(d, deg)
    a = n * arccos_eigenvalues(d, ell_max + 1, 0)  # coefficients of κ₀ in P_j
    b = np.zeros(ell_max + 1)  # coefficients of t κ₀(t)
    for j in range(ell_max + 1 + 1):
        if a[j] == 0.0:
            continue
        if j == 0:
            up, down = 1.0, 0.0
        else:
            up, down = (j + d - 2) / (2 * j + d - 2), j / (2 * j + d - 2)
        if j + 1 <= ell_max:
            b[j + 1] += a[j] * up
        if j >= 1 and j - 1 <= ell_max:
            b[j - 1] += a[j] * down
    return b / n[:-1] + arccos_eigenvalues(d, ell_max, 1)


# ----------------------------------------------------------------------------------------------
# sampling, quadrature, harmonics
# ----------------------------------------------------------------------------------------------


def sample_sphere(n: int, d: int, *, key: jax.Array) -> jax.Array:
    """``n`` i.i.d. uniform points on S^{d−1}: normalised standard Gaussians.

    Args:
      n: number of points; d: ambient dimension ``≥ 2``; key: a JAX PRNG key.

    Returns:
      ``(n, d)`` JAX array (default float dtype) of unit vectors.

    Examples:
      >>> import jax, numpy as np
      >>> from fpjax.sphere import sample_sphere
      >>> x = sample_sphere(4, 3, key=jax.random.key(0))
      >>> x.shape, bool(np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-6))
      ((4, 3), True)
    """
    import jax
    import jax.numpy as jnp

    from fpjax._src import checks

    n = checks.check_positive_int(n, "n")
    d = _check_d(d)
    checks.check_key(key)
    # the Gaussian draw, its norms and the quotient: three (n, d) arrays of the default float
    nbytes = 3.0 * n * d * jnp.zeros(()).dtype.itemsize
    checks.check_memory(nbytes, "n" if n >= d else "d", f"{n} points in d = {d}")
    g = jax.random.normal(key, (n, d))
    return g / jnp.linalg.norm(g, axis=1, keepdims=True)


class SphereQuadrature(NamedTuple):
    """A quadrature rule on the sphere (:func:`sphere_quadrature`).

    x: ``(n, d)`` unit vectors. weights: ``(n,)``, summing to 1 (σ is a probability measure).

    Examples:
      >>> import numpy as np
      >>> from fpjax.sphere import sphere_quadrature
      >>> rule = sphere_quadrature(2, d=2)                  # 3 equispaced points on the circle
      >>> rule.x.shape, np.round(rule.weights, 4).tolist()
      ((3, 2), [0.3333, 0.3333, 0.3333])
      >>> round(float(rule.weights @ rule.x[:, 0] ** 2), 12)   # ∫ cos²φ dσ = 1/2
      0.5
    """

    x: np.ndarray
    weights: np.ndarray


def sphere_quadrature(degree: int, d: int = 3) -> SphereQuadrature:
    """Product quadrature on S¹ or S², exact for polynomials of degree ``≤ degree`` under σ.

    ``d = 2``: ``m = degree + 1`` equispaced angles, weights ``1/m`` (exact up to degree ``m − 1``).
    ``d = 3``: Gauss–Legendre in ``z = cos θ`` with ``⌈(degree+1)/2⌉`` nodes times ``degree + 1``
    equispaced azimuths; weights sum to 1.

    Args:
      degree: polynomial degree to integrate exactly (``≥ 0``). For exact degree-wise energies up to
        ``ell_max`` of a polynomial ``f`` of degree ``L`` with :func:`degree_energy`, use
        ``degree ≥ L + ell_max``.
      d: ``2`` or ``3``.

    Returns:
      :class:`SphereQuadrature` ``(x, weights)``: float64 ``(n, d)`` unit vectors and ``(n,)`` weights.

    Examples:
      >>> from fpjax.sphere import sphere_quadrature
      >>> x, w = sphere_quadrature(4)
      >>> x.shape, round(float(w.sum()), 12), round(float(w @ x[:, 2] ** 4), 12)   # ∫ z⁴ dσ = 1/5
      ((15, 3), 1.0, 0.2)
    """
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)):
        raise TypeError(f"degree must be an int; got {type(degree).__name__}")
    if degree < 0:
        raise ValueError(f"degree must be >= 0; got {degree}")
    degree = int(degree)
    if d not in (2, 3):
        raise ValueError(
            f"sphere_quadrature supports d = 2 or 3; got {d!r} (use uniform Monte Carlo points "
            "with degree_energy(..., weights=None) in higher dimensions)"
        )
    m = degree + 1
    # d = 3: about five (nz, m, 3) float64 temporaries (meshgrid, sines, stacked points)
    checks.check_memory(8.0 * 5 * 3 * (degree // 2 + 1) * m, "degree", f"a product rule of degree {degree}")
    if d == 2:
        phi = 2 * np.pi * np.arange(m) / m
        return SphereQuadrature(np.stack([np.cos(phi), np.sin(phi)], axis=1), np.full(m, 1.0 / m))
    nz = degree // 2 + 1
    z, wz = np.polynomial.legendre.leggauss(nz)
    phi = 2 * np.pi * np.arange(m) / m
    zz, pp = np.meshgrid(z, phi, indexing="ij")
    s = np.sqrt(1 - zz**2)
    x = np.stack([s * np.cos(pp), s * np.sin(pp), zz], axis=-1).reshape(-1, 3)
    w = (wz[:, None] / 2 / m * np.ones((1, m))).reshape(-1)
    return SphereQuadrature(x, w)


def real_sph_harm(ell: int, x: ArrayLike) -> np.ndarray:
    """Real spherical harmonics of degree ``ℓ`` on S², orthonormal under σ (``∫ Y² dσ = 1``).

    ``Y_{ℓ0} = √(4π) Y_ℓ^0``, ``Y_{ℓm} = √2 √(4π) Re Y_ℓ^m`` and ``Y_{ℓ,−m} = √2 √(4π) Im Y_ℓ^m`` (m > 0)
    from the complex ``Y_ℓ^m`` (``scipy.special.sph_harm_y``); ``Σ_m Y_{ℓm}(x) Y_{ℓm}(y) = (2ℓ+1) P_ℓ(x·y)``.

    Args:
      ell: degree, ``0 ≤ ell ≤`` :data:`MAX_SPH_HARM_DEGREE` (600; beyond it SciPy's ``Y_ℓ^m`` are
        NaN for most orders, so higher degrees are refused).
      x: ``(n, 3)`` real unit vectors (norms within :data:`UNIT_TOLERANCE` of 1, the rule of
        :func:`degree_energy`; other points are a ``ValueError``, never normalised silently).

    Returns:
      float64 ``(n, 2ℓ+1)``, columns ordered ``m = −ℓ … ℓ``.

    Examples:
      >>> import numpy as np
      >>> from fpjax.sphere import real_sph_harm
      >>> y = real_sph_harm(1, np.eye(3))
      >>> bool(np.allclose(np.abs(y), np.sqrt(3) * np.eye(3)[:, [1, 2, 0]]))   # ±√3 (y, z, x)
      True

    References:
      Atkinson & Han, *Spherical Harmonics and Approximations on the Unit Sphere* (2012),
      doi:10.1007/978-3-642-25983-8, Chapter 2.
    """
    ell = _check_ell_max(ell, "ell")
    if ell > MAX_SPH_HARM_DEGREE:
        raise ValueError(
            f"ell (the degree) must be <= {MAX_SPH_HARM_DEGREE}: SciPy's spherical harmonics are not "
            f"finite beyond degree 645; got degree {ell}"
        )
    x = _unit_points(x, "x", d=3, renormalise=False)  # the angles below do not need unit norms
    checks.check_memory(8.0 * 4 * x.shape[0] * (2 * ell + 1), "x", f"{x.shape[0]} points times {2 * ell + 1} harmonics")
    theta = np.arccos(np.clip(x[:, 2], -1, 1))
    phi = np.arctan2(x[:, 1], x[:, 0])
    out = np.empty((x.shape[0], 2 * ell + 1))
    c = math.sqrt(4 * math.pi)
    for m in range(ell + 1):
        y = sps.sph_harm_y(ell, m, theta, phi)
        if m == 0:
            out[:, ell] = c * y.real
        else:
            out[:, ell + m] = math.sqrt(2) * c * y.real
            out[:, ell - m] = math.sqrt(2) * c * y.imag
    return out


# ----------------------------------------------------------------------------------------------
# degree-wise energy
# ----------------------------------------------------------------------------------------------


class DegreeEnergy(NamedTuple):
    """Degree-wise energy of a function on S^{d−1} (:func:`degree_energy`).

    degrees: ``(L+1,)`` int.
    energy: ``(L+1,)`` or ``(L+1, k)`` float64: ``E_ℓ = ‖f_ℓ‖²_{L²(σ)}``.
    standard_error: like ``energy``: Monte-Carlo standard error (None with quadrature ``weights``;
      ``stderr`` is its deprecated spelling).

    Examples:
      >>> import jax, numpy as np
      >>> from fpjax.sphere import degree_energy, sample_sphere
      >>> x = np.asarray(sample_sphere(400, 3, key=jax.random.key(0)), dtype=np.float64)
      >>> res = degree_energy(x, np.sqrt(3) * x[:, 2], 2)     # f = √3 z: all its energy (1) at ℓ = 1
      >>> res.degrees.tolist(), res.energy.shape, res.standard_error.shape
      ([0, 1, 2], (3,), (3,))
      >>> bool(abs(res.energy[1] - 1.0) < 4 * res.standard_error[1])   # Monte Carlo, within 4 SE
      True

    References:
      Atkinson & Han (2012), doi:10.1007/978-3-642-25983-8, Thm 2.9 (addition theorem).
    """

    degrees: np.ndarray
    energy: np.ndarray
    standard_error: np.ndarray | None

    @property
    def stderr(self) -> np.ndarray | None:
        """Deprecated spelling of ``standard_error``."""
        return checks.deprecated_field(self, "stderr", "standard_error")


def degree_energy(
    x: ArrayLike, f: ArrayLike, ell_max: int, *, weights: ArrayLike | None = None, batch_size: int = 512
) -> DegreeEnergy:
    """Energy ``E_ℓ = ‖f_ℓ‖²`` of each spherical-harmonic degree of ``f`` from samples ``f(x_i)``.

    Addition theorem: ``E_ℓ = N(d,ℓ) ∫∫ f(x) f(y) P_ℓ(x·y) dσ(x) dσ(y)``. Two estimators:

    * quadrature (``weights`` given, ``Σ w_i = 1``): ``E_ℓ = N Σ_{ij} w_i w_j f_i f_j P_ℓ(x_i·x_j)``,
      exact when the rule integrates ``f · Y_{ℓm}`` exactly (e.g. :func:`sphere_quadrature` of degree
      ``≥ L + ell_max`` for ``f`` of degree ``≤ L``);
    * uniform Monte Carlo (``weights=None``, ``x_i`` i.i.d. uniform): the unbiased U-statistic
      ``E_ℓ ≈ N/(n(n−1)) Σ_{i≠j} f_i f_j P_ℓ(x_i·x_j)`` with standard error ``2 sd(g)/√n``,
      ``g_i = N/(n−1) Σ_{j≠i} f_i f_j P_ℓ(x_i·x_j)`` (Hoeffding's projection). It may be slightly
      negative for a degree that ``f`` lacks.

    Cost ``O(n² L)`` time and ``O(batch_size · n · L)`` memory.

    Args:
      x: ``(n, d)`` unit vectors (norms within ``1e-4`` of 1).
      f: ``(n,)`` or ``(n, k)`` values (k functions at once).
      ell_max: highest degree.
      weights: ``(n,)`` quadrature weights summing to 1, or None for uniform Monte Carlo.
      batch_size: rows per block of the ``n × n`` Gram matrix.

    Returns:
      :class:`DegreeEnergy` ``(degrees, energy, standard_error)``; ``energy`` is ``(L+1,)`` or ``(L+1, k)``.

    Examples:
      >>> import numpy as np
      >>> from fpjax.sphere import degree_energy, sphere_quadrature
      >>> x, w = sphere_quadrature(6)
      >>> f = 1.0 + np.sqrt(3) * x[:, 2] + 2 * np.sqrt(15) * x[:, 0] * x[:, 1]   # E = 1, 1, 4
      >>> (np.round(degree_energy(x, f, 3, weights=w).energy, 10) + 0.0).tolist()
      [1.0, 1.0, 4.0, 0.0]

    References:
      Atkinson & Han (2012), doi:10.1007/978-3-642-25983-8, Thm 2.9 (addition theorem).
    """
    ell_max = _check_ell_max(ell_max)
    x = _unit_points(x, "x")
    f = checks.real_float_array(f, "f")
    n, d = x.shape
    squeeze = f.ndim == 1
    if f.ndim not in (1, 2) or f.shape[0] != n:
        raise ValueError(f"f must have shape (n,) or (n, k) with n = {n}; got {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError("f must be finite")
    f2 = f[:, None] if squeeze else f
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    k = f2.shape[1]
    b = min(int(batch_size), n)
    # the (L+1, b, n) Legendre block with its cosines, the (L+1, n, k) sums and the U-statistic terms
    checks.check_memory(
        8.0 * ((ell_max + 2) * b * n + 3 * (ell_max + 1) * n * k),
        "ell_max",
        f"degree energies up to degree {ell_max} of {n} points in blocks of {b} (reduce batch_size or ell_max)",
    )
    nmult = multiplicity(d, np.arange(ell_max + 1))
    if weights is not None:
        w = checks.real_float_array(weights, "weights")
        if w.shape != (n,):
            raise ValueError(f"weights must have shape ({n},); got {w.shape}")
        if abs(w.sum() - 1.0) > 1e-8:
            raise ValueError(f"weights must sum to 1 (σ is a probability measure); got {w.sum()}")
        g = w[:, None] * f2
    else:
        if n < 2:
            raise ValueError("Monte Carlo degree_energy needs at least 2 points")
        g = f2
    # s[ℓ, i, k] = Σ_j P_ℓ(x_i·x_j) g_j,k
    s = np.empty((ell_max + 1, n, f2.shape[1]))
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        p = legendre(d, ell_max, np.clip(x[start:stop] @ x.T, -1.0, 1.0))  # (L+1, b, n)
        s[:, start:stop] = p @ g
    if weights is not None:
        energy = nmult[:, None] * np.einsum("ik,lik->lk", g, s)
        stderr = None
    else:
        h = nmult[:, None, None] * f2[None] * (s - f2[None]) / (n - 1)  # g_i, diagonal (P_ℓ(1) = 1) removed
        energy = h.mean(axis=1)
        stderr = 2.0 * h.std(axis=1, ddof=1) / math.sqrt(n)
    if squeeze:
        energy = energy[:, 0]
        stderr = None if stderr is None else stderr[:, 0]
    return DegreeEnergy(np.arange(ell_max + 1), energy, stderr)
