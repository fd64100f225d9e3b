"""fpjax.sphere: Legendre/Gegenbauer polynomials, Funk–Hecke eigenvalues checked three ways
(closed forms of the arc-cosine kernels, Gram matrices of uniform points, polynomial kernels),
and degree-wise energies of known harmonic sums."""

import math

import jax
import numpy as np
import pytest
import scipy.special as sps

from fpjax import sphere as S


@pytest.mark.parametrize("d", [2, 3, 5, 8])
def test_legendre_matches_scipy_gegenbauer(d):
    t = np.linspace(-1, 1, 41)
    p = S.legendre(d, 12, t)
    for ell in range(13):
        if d == 2:
            ref = sps.eval_chebyt(ell, t)
        else:
            lam = (d - 2) / 2
            ref = sps.eval_gegenbauer(ell, lam, t) / sps.eval_gegenbauer(ell, lam, 1.0)
        np.testing.assert_allclose(p[ell], ref, atol=1e-12)


@pytest.mark.parametrize("d", [2, 3, 4, 7])
def test_multiplicities_sum_to_polynomial_dimension(d):
    # harmonics of degree <= L span the polynomials of degree <= L restricted to the sphere:
    # dim = binom(L+d-1, d-1) + binom(L+d-2, d-1)
    L = np.arange(0, 15)
    n = S.multiplicity(d, L)
    dims = [math.comb(l + d - 1, d - 1) + (math.comb(l + d - 2, d - 1) if l >= 1 else 0) for l in L]
    np.testing.assert_array_equal(np.cumsum(n), dims)


@pytest.mark.parametrize("d", [2, 3, 4, 7])
@pytest.mark.parametrize("order", [0, 1])
def test_funk_hecke_equals_arccos_closed_form(d, order):
    cf = S.arccos_eigenvalues(d, 40, order)
    q = S.funk_hecke(lambda t: S.arccos_kernel(t, order), d, 40).eigenvalues
    np.testing.assert_allclose(q, cf, rtol=0, atol=1e-8 * cf[0])
    # Mercer: k(1) = Σ N μ (the tail beyond ℓ = 40 is positive and small)
    assert np.sum(S.multiplicity(d, np.arange(41)) * cf) <= 1.0 + 1e-12


@pytest.mark.parametrize("d", [2, 3, 5])
def test_relu_ntk_closed_form_zeros_and_decay(d):
    cf = S.relu_ntk_eigenvalues(d, 2001)
    q = S.funk_hecke(S.relu_ntk, d, 60).eigenvalues
    np.testing.assert_allclose(q, cf[:61], rtol=0, atol=1e-8 * cf[0])
    odd = np.arange(3, 2002, 2)
    assert np.all(cf[odd] == 0.0)
    assert np.all(cf[:3] > 0) and np.all(cf[np.arange(2, 2002, 2)] > 0)

    # μ_ℓ ~ C ℓ^{-d} on even ℓ (Bietti & Mairal 2019): the log-log slope is -d + O(1/ℓ)
    def slope(lo, hi):
        ell = np.arange(lo, hi + 1, 2)
        return np.polyfit(np.log(ell), np.log(cf[ell]), 1)[0]

    far, near = slope(1000, 2000), slope(100, 200)
    assert abs(far + d) < 0.01, far
    assert abs(far + d) < 0.2 * abs(near + d)  # and the O(1/ℓ) correction shrinks ~10x


@pytest.mark.parametrize("quadrature", S.QUADRATURES)
@pytest.mark.parametrize("d", [2, 3, 6])
def test_funk_hecke_exact_for_polynomial_kernels(quadrature, d):
    # k(t) = Σ_j a_j P_j(t)  ⇒  μ_ℓ = a_ℓ / N(d, ℓ)
    a = np.random.default_rng(d).uniform(0.1, 1.0, 9)
    k = lambda t: a @ S.legendre(d, 8, t)
    mu = S.funk_hecke(k, d, 12, n_quad=40, quadrature=quadrature).eigenvalues
    np.testing.assert_allclose(mu[:9], a / S.multiplicity(d, np.arange(9)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mu[9:], 0.0, atol=1e-14)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_two_quadratures_agree_on_smooth_kernel(d):
    a = S.funk_hecke(np.exp, d, 20, quadrature="theta").eigenvalues
    b = S.funk_hecke(np.exp, d, 20, quadrature="jacobi").eigenvalues
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)  # cancellation: ~eps·k(1)


def test_model_ntk_equals_closed_form():
    from fpjax.models import mlp

    d = 3
    mu = S.model_eigenvalues(mlp((64, 1), "relu", init="ntk", bias=False), d, 10).eigenvalues
    # float32 kernel evaluations: errors ~ 1e-7 k(1)
    np.testing.assert_allclose(mu, S.relu_ntk_eigenvalues(d, 10) / (2 * d), rtol=0, atol=1e-6 * mu[0])


def _group_means(eigs, mu, mult, degrees):
    """Mean of the sorted Gram eigenvalues in the index block of each degree (degrees sorted by μ)."""
    order = np.argsort(-mu, kind="stable")
    start = {}
    pos = 0
    for ell in order:
        start[ell] = pos
        pos += int(mult[ell])
    return np.array([eigs[start[l] : start[l] + int(mult[l])].mean() for l in degrees])


def _check_gram(kmat, k1, mu, mult, n_groups, trace_rtol=1e-6):
    n = kmat.shape[0]
    eigs = np.linalg.eigvalsh(kmat / n)[::-1]
    mu = np.where(np.abs(mu) < 1e-12 * mu[0], 0.0, mu)  # exact zeros of odd degrees
    top = [int(l) for l in np.argsort(-mu, kind="stable")[:n_groups]]
    means = _group_means(eigs, mu, mult, top)
    # The trace of K/n equals k(1) exactly (up to the rounding of the kernel's diagonal).
    np.testing.assert_allclose(np.trace(kmat) / n, k1, rtol=trace_rtol)
    # Monte-Carlo error of a group mean. With features √μ_j Y_j(x), K/n has the eigenvalues of the
    # empirical covariance C_n. To first order the group mean is tr(Π_ℓ C_n Π_ℓ)/N_ℓ = μ_ℓ exactly,
    # by the addition theorem (Σ_m Y_m(x)² = N_ℓ at every point). The second-order term has mean
    # μ_ℓ b_ℓ, b_ℓ = (1/n) Σ_{ℓ'≠ℓ} N_ℓ' μ_ℓ' / (μ_ℓ − μ_ℓ'), and magnitude at most μ_ℓ s_ℓ with
    # s_ℓ = (1/n) Σ_{ℓ'≠ℓ} N_ℓ' μ_ℓ' / |μ_ℓ − μ_ℓ'|: require |mean/μ_ℓ − 1 − b_ℓ| < 3 s_ℓ.
    for l, m in zip(top, means):
        o = np.arange(mu.size) != l
        b = np.sum(mult[o] * mu[o] / (mu[l] - mu[o])) / n
        s = np.sum(mult[o] * mu[o] / np.abs(mu[l] - mu[o])) / n
        assert abs(m / mu[l] - 1 - b) < 3 * s, (l, m, mu[l], b, s)
        assert 3 * s < 0.15
    return means, top


def test_funk_hecke_equals_gram_matrix_eigenvalues_closed_form_kernel():
    d, n = 3, 1500
    x = np.asarray(S.sample_sphere(n, d, key=jax.random.key(0)), np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    kmat = S.relu_ntk(np.clip(x @ x.T, -1, 1))
    spec = S.funk_hecke(S.relu_ntk, d, 400)
    _check_gram(kmat, 2.0, spec.eigenvalues, spec.multiplicities, 5)


@pytest.mark.slow
def test_funk_hecke_equals_gram_matrix_eigenvalues_model_ntk():
    from fpjax.models import mlp
    from fpjax.ntk import infinite_ntk

    d, n = 3, 800
    model = mlp((64, 64, 1), "relu", init="ntk", sigma_b=0.5)  # deeper, with biases: no closed form
    spec = S.model_eigenvalues(model, d, 200)
    x = S.sample_sphere(n, d, key=jax.random.key(1))
    kmat = np.asarray(infinite_ntk(model, x), np.float64)
    k1 = float(S.dot_product_kernel(model, d)(np.ones(1))[0])
    # The kernel is computed in float32: on the diagonal the cosine 1 is rounded by ~ε, and arccos,
    # whose slope is infinite at 1, turns that into an angle ~√(2ε); the ReLU NTK is linear in the
    # angle there, so each diagonal entry carries a relative error up to ~√ε (3.5e-4), whatever
    # order the compiled program rounds in.
    _check_gram(kmat, k1, spec.eigenvalues, spec.multiplicities, 4, trace_rtol=math.sqrt(np.finfo(np.float32).eps))


def test_real_sph_harm_orthonormal_and_addition_theorem():
    x, w = S.sphere_quadrature(2 * 6)
    ys = [S.real_sph_harm(l, x) for l in range(7)]
    y = np.concatenate(ys, axis=1)
    np.testing.assert_allclose(y.T @ (w[:, None] * y), np.eye(y.shape[1]), atol=1e-12)
    p = np.random.default_rng(0).normal(size=(5, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    for l in range(7):
        yl = S.real_sph_harm(l, p)
        np.testing.assert_allclose(yl @ yl.T, (2 * l + 1) * S.legendre(3, l, p @ p.T)[l], atol=1e-11)


def _harmonic_sum(x, coefs):
    return sum(S.real_sph_harm(l, x) @ c for l, c in enumerate(coefs))


def test_degree_energy_of_harmonic_sum_is_exact_with_quadrature():
    rng = np.random.default_rng(1)
    L, ell_max = 7, 10
    coefs = [rng.normal(size=2 * l + 1) * (l % 3 != 1) for l in range(L + 1)]  # degrees 1, 4, 7 absent
    x, w = S.sphere_quadrature(L + ell_max)
    f = _harmonic_sum(x, coefs)
    e = S.degree_energy(x, f, ell_max, weights=w)
    truth = np.array([np.sum(c**2) for c in coefs] + [0.0] * (ell_max - L))
    np.testing.assert_allclose(e.energy, truth, atol=1e-10)
    assert e.standard_error is None
    # two functions at once give the same columns
    e2 = S.degree_energy(x, np.stack([f, 2 * f], axis=1), ell_max, weights=w)
    np.testing.assert_allclose(e2.energy[:, 1], 4 * truth, atol=1e-9)
    # direct projection on the harmonics agrees (Parseval)
    for l in range(L + 1):
        c = S.real_sph_harm(l, x).T @ (w * f)
        np.testing.assert_allclose(np.sum(c**2), truth[l], atol=1e-10)


def test_degree_energy_on_the_circle():
    x, w = S.sphere_quadrature(20, d=2)
    phi = np.arctan2(x[:, 1], x[:, 0])
    f = 0.5 + 2 * np.cos(3 * phi) - np.sin(3 * phi) + 0.3 * np.sin(5 * phi)
    e = S.degree_energy(x, f, 6, weights=w).energy
    np.testing.assert_allclose(e, [0.25, 0, 0, 2.5, 0, 0.045, 0], atol=1e-12)


def test_degree_energy_monte_carlo_within_its_error():
    rng = np.random.default_rng(2)
    coefs = [rng.normal(size=2 * l + 1) for l in range(4)]
    x = np.asarray(S.sample_sphere(3000, 3, key=jax.random.key(3)), np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    e = S.degree_energy(x, _harmonic_sum(x, coefs), 6)
    truth = np.array([np.sum(c**2) for c in coefs] + [0.0] * 3)
    z = np.abs(e.energy - truth) / e.standard_error
    assert np.all(z < 5), z  # unbiased U-statistic; |z| > 5 has probability < 1e-6 per degree
    assert np.all(e.standard_error < 0.2 * truth.max())


def test_sphere_quadrature_exactness():
    x, w = S.sphere_quadrature(8)
    # ∫ x^a y^b z^c dσ over the sphere for a, b, c even: Γ-formula
    for a, b, c in [(2, 2, 2), (4, 0, 4), (0, 6, 2), (8, 0, 0)]:
        g = lambda k: math.gamma((k + 1) / 2)
        exact = 2 * g(a) * g(b) * g(c) / math.gamma((a + b + c + 3) / 2) / (4 * math.pi)
        np.testing.assert_allclose(w @ (x[:, 0] ** a * x[:, 1] ** b * x[:, 2] ** c), exact, rtol=1e-12)
    np.testing.assert_allclose(w @ (x[:, 0] ** 3 * x[:, 2]), 0.0, atol=1e-14)


def test_bad_inputs():
    with pytest.raises(ValueError, match="d must be >= 2"):
        S.multiplicity(1, 2)
    with pytest.raises(ValueError, match="x must be unit vectors"):
        S.degree_energy(np.ones((4, 3)), np.ones(4), 2)
    x, w = S.sphere_quadrature(4)
    with pytest.raises(ValueError, match="weights must sum to 1"):
        S.degree_energy(x, np.ones(len(x)), 2, weights=2 * w)
    with pytest.raises(ValueError, match="f must have shape"):
        S.degree_energy(x, np.ones(3), 2, weights=w)
    with pytest.raises(ValueError, match="quadrature must be"):
        S.funk_hecke(np.exp, 3, 4, quadrature="simpson")
    with pytest.raises(ValueError, match="n_quad"):
        S.funk_hecke(np.exp, 3, 4, n_quad=3)
    with pytest.raises(ValueError, match="kernel\\(cos\\) must return"):
        S.funk_hecke(lambda t: 1.0, 3, 4)
    with pytest.raises(ValueError, match="supports d = 2 or 3"):
        S.sphere_quadrature(4, d=4)
    with pytest.raises(ValueError, match="order must be 0 or 1"):
        S.arccos_eigenvalues(3, 4, 2)
    with pytest.raises(TypeError, match="ell_max must be an int"):
        S.legendre(3, 2.5, 0.1)
