"""Tests of fpjax.spectrum: grid transforms, projected NUDFT, relative error, input errors.

Theory-vs-theory checks run in float64 (``jax.enable_x64``); tolerances are derived in comments.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax import spectrum as S
from fpjax.testing import assert_spectra_close


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


# ----------------------------------------------------------------------------------------------
# grid_fft: analytic transforms
# ----------------------------------------------------------------------------------------------


def test_gaussian_1d_float64(x64):
    # f = exp(-πx²) has f̂ = exp(-πξ²). Grid x_j = -8 + 0.05 j, N = 320 (box [-8, 8)).
    # Poisson summation: Δ Σ_{j∈Z} f(x_j) e^{-2πiξx_j} = Σ_m f̂(ξ + m/Δ) e^{2πi m a/Δ}, so the aliasing
    # error for |ξ| <= 1/(2Δ) = 10 is <= 2 Σ_{m>=1} exp(-π(m/Δ - 10)²) <= 3 exp(-100π) ≈ 1e-136; the
    # truncation to the box drops Δ Σ_{|x|>=8} f <= 2 exp(-64π) ≈ 1e-87. What remains is float64
    # rounding of an N-point FFT of terms summing to Σ Δ|f| = 1: ~ ε log2 N ≈ 2e-15. atol 1e-13.
    delta, n = 0.05, 320
    x = -8 + delta * np.arange(n)
    freqs, coeffs = S.grid_fft(np.exp(-np.pi * x**2), x)
    assert freqs.dtype == jnp.float64 and coeffs.dtype == jnp.complex128
    assert coeffs.shape == (n,)
    np.testing.assert_allclose(np.diff(np.asarray(freqs)), 1 / (n * delta), rtol=1e-12)
    assert freqs[0] == pytest.approx(-10.0) and freqs[n // 2] == 0.0  # centred, ascending
    np.testing.assert_allclose(coeffs, np.exp(-np.pi * np.asarray(freqs) ** 2), rtol=0, atol=1e-13)


def test_gaussian_origin_phase_and_shifted_grid(x64):
    # f = exp(-π(x - 0.3)²) has f̂ = exp(-πξ²) exp(-2πiξ·0.3). Two grids with the same Δ, N but
    # origins -8 and -7.93 (not a multiple of Δ) must both give it: the FFT alone would differ by
    # exp(-2πiξ_k a), e.g. a factor (-1)^k for a = -8. Error bounds as in the centred test (the data
    # is >= 7.7 from both box edges: truncation <= exp(-π 7.7²) ≈ 1e-81). atol 1e-13.
    delta, n, x0 = 0.05, 320, 0.3
    exact = None
    results = []
    for a in (-8.0, -7.93):
        x = a + delta * np.arange(n)
        freqs, coeffs = S.grid_fft(np.exp(-np.pi * (x - x0) ** 2), x)
        exact = np.exp(-np.pi * np.asarray(freqs) ** 2) * np.exp(-2j * np.pi * np.asarray(freqs) * x0)
        np.testing.assert_allclose(coeffs, exact, rtol=0, atol=1e-13)
        results.append(np.asarray(coeffs))
    np.testing.assert_allclose(results[0], results[1], rtol=0, atol=2e-13)
    # Without the origin phase the two would disagree by O(1) at ξ_1 = 1/16.
    assert abs(exact[n // 2 + 1]) > 0.9


def test_gaussian_2d_float64(x64):
    # exp(-π(x² + y²)) → exp(-π(ξ² + η²)); axes with different N and Δ. Nyquist 5 and 4: aliasing
    # <= 3 exp(-π 4²) ≈ 4e-22 (smallest Nyquist 4, aliased image at distance >= 4); truncation at
    # |x| = 8: exp(-64π). Rounding ~ ε log2(N1 N2) ≈ 3e-15. atol 1e-13.
    ax = -8 + 0.1 * np.arange(160)
    ay = -8 + 0.125 * np.arange(128)
    f = np.exp(-np.pi * (ax[:, None] ** 2 + ay[None, :] ** 2))
    (fx, fy), coeffs = S.grid_fft(f, (ax, ay))
    assert coeffs.shape == (160, 128)
    exact = np.exp(-np.pi * (np.asarray(fx)[:, None] ** 2 + np.asarray(fy)[None, :] ** 2))
    np.testing.assert_allclose(coeffs, exact, rtol=0, atol=1e-13)


def test_gaussian_float32_default():
    # float32 default path: errors are float32 rounding, ε32 ≈ 1.2e-7. FFT of terms summing to 1:
    # <= ε32 (log2 N + 2) ≈ 1.3e-6; the origin phase is built in float64 and rounded once to
    # complex64 (error ε32 relative). atol 1e-5 covers both with margin.
    x = (-8 + 0.05 * np.arange(320)).astype(np.float32)
    freqs, coeffs = S.grid_fft(np.exp(-np.pi * x**2), x)
    assert coeffs.dtype == jnp.complex64
    np.testing.assert_allclose(coeffs, np.exp(-np.pi * np.asarray(freqs, np.float64) ** 2), rtol=0, atol=1e-5)


def test_box_gives_sinc(x64):
    # Box 1 on (-1/2, 1/2): f̂(ξ) = sinc(ξ) = sin(πξ)/(πξ). Grid x_j = -4 + (j + 1/2)Δ, Δ = 1/M, M = 200:
    # the edges fall halfway between samples and exactly M samples are inside, so the discrete sum is
    # the Dirichlet kernel D(ξ) = sin(πξ)/(M sin(πξ/M)) exactly (checked at 1e-13). Its distance to
    # the sinc, with x = πξ/M and x - sin x <= x³/6, sin x >= x(1 - x²/6):
    #   |D - sinc| = |sin πξ| |πξ - M sin x| / (M sin x · πξ) <= |πξ| / (6 M² (1 - x²/6)),
    # valid for all |ξ| <= Nyquist = M/2 (x <= π/2). Checked per frequency with that bound + 1e-13.
    m = 200
    delta = 1.0 / m
    x = -4 + (np.arange(8 * m) + 0.5) * delta
    f = (np.abs(x) < 0.5).astype(np.float64)
    assert f.sum() == m
    freqs, coeffs = S.grid_fft(f, x)
    xi = np.asarray(freqs)
    t = np.pi * xi / m
    with np.errstate(invalid="ignore", divide="ignore"):
        dirichlet = np.where(xi == 0, 1.0, np.sin(np.pi * xi) / (m * np.sin(t)))
    np.testing.assert_allclose(coeffs, dirichlet, rtol=0, atol=1e-13)
    bound = np.abs(np.pi * xi) / (6 * m**2 * (1 - t**2 / 6)) + 1e-13
    assert np.all(np.abs(np.asarray(coeffs) - np.sinc(xi)) <= bound)
    assert np.max(np.abs(coeffs.imag)) < 1e-13  # even function about 0: real transform

    # 2-D box on (-1/2, 1/2)²: sinc(ξ)sinc(η). Discrete: D_M(ξ)D_M(η) exactly; since |D|, |sinc| <= 1,
    # |D D' - s s'| <= |D - s| + |D' - s'| <= b(ξ) + b(η) with b the 1-D bound above. M = 40.
    m2 = 40
    g = -2 + (np.arange(4 * m2) + 0.5) / m2
    box1 = (np.abs(g) < 0.5).astype(np.float64)
    (fx, _fy), c2 = S.grid_fft(box1[:, None] * box1[None, :], (g, g))
    xi = np.asarray(fx)
    t = np.pi * xi / m2
    with np.errstate(invalid="ignore", divide="ignore"):
        d1 = np.where(xi == 0, 1.0, np.sin(np.pi * xi) / (m2 * np.sin(t)))
    b1 = np.abs(np.pi * xi) / (6 * m2**2 * (1 - t**2 / 6))
    np.testing.assert_allclose(c2, np.outer(d1, d1), rtol=0, atol=1e-13)
    err = np.abs(np.asarray(c2) - np.outer(np.sinc(xi), np.sinc(xi)))
    assert np.all(err <= b1[:, None] + b1[None, :] + 1e-13)


def test_sine_amplitude_1d(x64):
    # A sin(2πk₀x) on the periodic grid x_j = j/N, N = 64 (period L = 1): the DFT is exact,
    # c_{±k₀} = ±A/(2i), all other bins are 0 up to rounding ε·A·√N ≈ 3e-15. Tolerance 1e-13.
    n, amp, k0 = 64, 3.0, 5
    x = np.arange(n) / n
    f = amp * np.sin(2 * np.pi * k0 * x)
    ks, amps = S.periodic_amplitudes(f, x)
    assert ks.tolist() == list(range(n // 2 + 1))
    np.testing.assert_allclose(amps[k0], amp / 2, rtol=0, atol=1e-13)
    assert np.max(np.abs(np.delete(np.asarray(amps), k0))) < 1e-13
    freqs, coeffs = S.grid_fft(f, x)  # continuous units: L·A/2 with L = 1, phase ∓i
    np.testing.assert_allclose(S.coeffs_at(coeffs, [k0, -k0]), [amp / 2j, -amp / 2j], atol=1e-13)
    # Every frequency of the grid against the exact spectrum (A/(2i) at ±k₀, 0 elsewhere): the
    # expected function is the same sine, so the default rounding tolerances apply.
    all_freqs = np.arange(-(n // 2), n // 2 + 1)  # cycles per unit = per period (L = 1)
    assert_spectra_close(f, amp * np.sin(2 * np.pi * k0 * x), x, all_freqs)
    with pytest.raises(AssertionError, match=r"differ at 2 of 65 frequencies"):
        assert_spectra_close(f, 0.9 * amp * np.sin(2 * np.pi * k0 * x), x, all_freqs, rtol=0.05)
    np.testing.assert_allclose(S.coeffs_at(freqs, [k0, -k0]), [k0, -k0], atol=1e-13)
    # Same sine on a longer period [0, 2) at index 2k₀: grid_fft gives L·A/2 = A, periodic gives A/2.
    x2 = 2 * np.arange(2 * n) / (2 * n)
    f2 = amp * np.sin(2 * np.pi * k0 * x2)
    _, c2 = S.grid_fft(f2, x2)
    np.testing.assert_allclose(np.abs(S.coeffs_at(c2, 2 * k0)), amp, atol=1e-13)
    np.testing.assert_allclose(S.periodic_amplitudes(f2, x2)[1][2 * k0], amp / 2, atol=1e-13)


def test_periodic_amplitudes_nyquist_and_batch(x64):
    # (-1)^j = cos(πNx) on x_j = j/N: its only bin is k = N/2, with |c| = 1 (±N/2 are one bin).
    n = 16
    x = np.arange(n) / n
    vals = np.stack([(-1.0) ** np.arange(n), 2 + np.cos(2 * np.pi * 3 * x)])  # batch of 2
    _ks, amps = S.periodic_amplitudes(vals, x)
    assert amps.shape == (2, n // 2 + 1)
    np.testing.assert_allclose(amps[0, n // 2], 1.0, atol=1e-14)
    np.testing.assert_allclose(amps[1, [0, 3]], [2.0, 0.5], atol=1e-14)
    _ks2, sub = S.periodic_amplitudes(vals, x, wavenumbers=[3, 0])
    np.testing.assert_allclose(sub[1], [0.5, 2.0], atol=1e-14)


def test_sine_amplitude_2d(x64):
    # A sin(2π(k₁x + k₂y)) on [0,1)², N = (32, 48): exact DFT, coefficients A/(2i) at (k₁, k₂),
    # -A/(2i) at (-k₁, -k₂), 0 elsewhere up to rounding ε·A·√(N₁N₂) ≈ 1e-14. Tolerance 1e-12.
    amp, k1, k2 = 2.0, 3, -5
    ax, ay = np.arange(32) / 32, np.arange(48) / 48
    f = amp * np.sin(2 * np.pi * (k1 * ax[:, None] + k2 * ay[None, :]))
    _, coeffs = S.grid_fft(f, (ax, ay))
    got = S.coeffs_at(coeffs, [[k1, k2], [-k1, -k2]], ndim=2)
    np.testing.assert_allclose(got, [amp / 2j, -amp / 2j], atol=1e-12)
    mag = np.abs(np.asarray(coeffs)).copy()
    mag[16 + k1, 24 + k2] = mag[16 - k1, 24 - k2] = 0
    assert mag.max() < 1e-12


def test_parseval_1d_2d_batched(x64):
    # Discrete Parseval, exact for the DFT: Δ Σ|f|² = (1/(NΔ)) Σ|f̂|² per axis (the origin phase has
    # modulus 1). Holds to rounding, ~ε·log N relative. rtol 1e-12. Batched over two leading axes.
    rng = np.random.default_rng(0)
    x = 1.3 + 0.07 * np.arange(101)
    f = rng.normal(size=(2, 3, 101)) + 1j * rng.normal(size=(2, 3, 101))
    _, c = S.grid_fft(f, x)
    lhs = 0.07 * np.sum(np.abs(f) ** 2, axis=-1)
    rhs = np.sum(np.abs(np.asarray(c)) ** 2, axis=-1) / (101 * 0.07)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
    ax, ay = -1 + 0.2 * np.arange(12), 0.5 * np.arange(9)
    g = rng.normal(size=(4, 12, 9))
    _, c2 = S.grid_fft(g, (ax, ay))
    lhs2 = 0.2 * 0.5 * np.sum(g**2, axis=(-2, -1))
    rhs2 = np.sum(np.abs(np.asarray(c2)) ** 2, axis=(-2, -1)) / (12 * 0.2 * 9 * 0.5)
    np.testing.assert_allclose(lhs2, rhs2, rtol=1e-12)


def test_batched_equals_individual_and_jit(x64):
    rng = np.random.default_rng(1)
    x = 0.1 * np.arange(40)
    vals = rng.normal(size=(3, 2, 40))
    _, c = S.grid_fft(vals, x)
    for i in range(3):
        for j in range(2):
            np.testing.assert_allclose(c[i, j], S.grid_fft(vals[i, j], x)[1], rtol=0, atol=1e-14)
    # Inside jit the grid is traced: spacing and origin come from its end points.
    _f_jit, c_jit = jax.jit(lambda v, g: S.grid_fft(v, g))(vals, x)
    np.testing.assert_allclose(c_jit, c, rtol=0, atol=1e-13)
    # vmap over a batch axis as well.
    c_vmap = jax.vmap(lambda v: S.grid_fft(v, x)[1])(vals)
    np.testing.assert_allclose(c_vmap, c, rtol=0, atol=1e-13)


def test_window(x64):
    # Tukey(α) closed form at a few points; hann = Tukey(1); None = ones.
    w = np.asarray(S.window_weights(9, ("tukey", 0.5)))  # t = j/8, tapers on t < 1/4, t > 3/4
    np.testing.assert_allclose(w, [0, 0.5, 1, 1, 1, 1, 1, 0.5, 0], atol=1e-15)
    np.testing.assert_allclose(S.window_weights(5, "hann"), [0, 0.5, 1, 0.5, 0], atol=1e-15)
    np.testing.assert_allclose(S.window_weights(5, None), np.ones(5))
    # Leakage of a non-bin-centred sine (k = 5.5) at bin 25: with the rectangular window
    # c_k ≈ ∫_0^1 sin(2π·5.5x) e^{-2πikx} dx, modulus (1/2π)|1/(k-5.5) - 1/(k+5.5)| ≈ 2.9e-3 at k = 25
    # (1/d decay). Hann's sidelobes decay like 1/d³, ~d² ≈ 400 times smaller; assert at least 20×
    # smaller (a leak decaying only like 1/d would fail).
    n = 256
    x = np.arange(n) / n
    f = np.sin(2 * np.pi * 5.5 * x)
    _, c_rect = S.grid_fft(f, x)
    _, c_hann = S.grid_fft(f, x, window="hann")
    far = S.coeffs_at(c_rect, 25), S.coeffs_at(c_hann, 25)
    assert abs(far[0]) > 2e-3  # the rectangular window leaks
    assert abs(far[1]) < abs(far[0]) / 20
    # n-D: the window is applied per axis (outer product).
    g = np.ones((8, 6))
    _, cw = S.grid_fft(g, (np.arange(8.0), np.arange(6.0)), window="hann")
    expect = np.sum(np.outer(S.window_weights(8, "hann"), S.window_weights(6, "hann")))
    np.testing.assert_allclose(S.coeffs_at(cw, [0, 0], ndim=2), expect, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# nudft
# ----------------------------------------------------------------------------------------------


def test_nudft_uniform_equals_grid(x64):
    # On x_j = a + jΔ: (1/N) Σ f_j e^{-2πiξx_j} = grid_fft / (NΔ) exactly (1/n vs Δ normalisation;
    # both are sums of the same terms). Rounding ~ ε N max|f|; atol 1e-13. Default direction in 1-D is +1.
    delta, n = 0.05, 320
    x = -7.93 + delta * np.arange(n)
    f = np.exp(-np.pi * (x - 0.3) ** 2) * np.cos(3 * x)
    freqs, coeffs = S.grid_fft(f, x)
    out = S.nudft(x[:, None], f, freqs)
    np.testing.assert_allclose(out, np.asarray(coeffs) / (n * delta), rtol=0, atol=1e-13)
    np.testing.assert_allclose(S.principal_direction(x[:, None]), [1.0])


def test_nudft_scattered_direct_sum(x64):
    rng = np.random.default_rng(2)
    n, d, c, k = 301, 3, 4, 37
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, c))
    freqs = np.linspace(-3, 3, k)
    p = rng.normal(size=d)
    pu = p / np.linalg.norm(p)
    direct = np.exp(-2j * np.pi * freqs[:, None] * (x @ pu)[None, :]) @ y / n  # (K, c)
    # Sums of n = 301 unit-size terms: rounding <= ε n ≈ 7e-14. atol 1e-12.
    np.testing.assert_allclose(S.nudft(x, y, freqs, direction=p), direct, rtol=0, atol=1e-12)
    # Chunking (with padding of both frequency and point blocks) changes nothing.
    np.testing.assert_allclose(
        S.nudft(x, y, freqs, direction=p, freq_batch_size=8, point_batch_size=50), direct, rtol=0, atol=1e-12
    )
    # 1-D y gives (K,), complex y works.
    np.testing.assert_allclose(S.nudft(x, y[:, 0], freqs, direction=p), direct[:, 0], atol=1e-12)
    yc = y[:, 0] + 1j * y[:, 1]
    np.testing.assert_allclose(
        S.nudft(x, yc, freqs, direction=p, point_batch_size=64), direct[:, 0] + 1j * direct[:, 1], atol=1e-12
    )


def test_nudft_float32_close_to_float64():
    # float32: phases 2πk t with |k t| <= 3·4 carry absolute error ~ 2π·12·6e-8 ≈ 5e-6 each; the mean
    # of n unit terms then errs by <= 5e-6 + ε32·√n-ish. atol 1e-4 with margin.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 2)).astype(np.float32)
    y = rng.normal(size=(500,)).astype(np.float32)
    freqs = np.linspace(0, 3, 16).astype(np.float32)
    out32 = S.nudft(x, y, freqs)
    assert out32.dtype == jnp.complex64
    p = np.asarray(S.principal_direction(x), np.float64)
    ref = np.exp(-2j * np.pi * freqs.astype(np.float64)[:, None] * (x.astype(np.float64) @ p)[None]) @ y / 500
    np.testing.assert_allclose(out32, ref, rtol=0, atol=1e-4)


def test_nudft_default_direction_is_first_pc(x64):
    rng = np.random.default_rng(4)
    n = 2000
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    x = (rng.normal(size=(n, 3)) * np.array([3.0, 1.0, 0.5])) @ q.T + np.array([1.0, -2.0, 0.5])
    y = np.sin(x[:, 0])
    p = np.asarray(S.principal_direction(x))
    # Independent: top right-singular vector of the centred data, sign with largest entry positive.
    v = np.linalg.svd(x - x.mean(0), full_matrices=False)[2][0]
    v = v * np.sign(v[np.argmax(np.abs(v))])
    np.testing.assert_allclose(p, v, atol=1e-10)
    # The population PC is q[:, 0]; sampling error of the direction ~ √(λ1 λ2/(n (λ1-λ2)²)) =
    # √(9/(2000·64)) ≈ 0.008 rad, so |cos| > 0.999 with a wide margin.
    assert abs(p @ q[:, 0]) > 0.999
    # Deterministic sign: negating (or shifting) the data does not flip p.
    np.testing.assert_allclose(S.principal_direction(-x + 5.0), p, atol=1e-10)
    freqs = np.linspace(0, 2, 9)
    np.testing.assert_allclose(S.nudft(x, y, freqs), S.nudft(x, y, freqs, direction=p), atol=1e-13)


# ----------------------------------------------------------------------------------------------
# relative_error
# ----------------------------------------------------------------------------------------------


def test_relative_error_values_batch_and_zero_rule(x64):
    y_hat = np.array([1.0 + 1.0j, 2.0, 0.0, 0.0])
    h_hat = np.array([[1.0 + 1.0j, 1.0, 0.0, 0.5], [0.0, 2.0 + 2.0j, 0.0, 0.0]])  # (steps=2, K=4)
    d = np.asarray(S.relative_error(h_hat, y_hat))
    assert d.shape == (2, 4)
    np.testing.assert_allclose(d[0, :3], [0.0, 0.5, 0.0])
    assert np.isinf(d[0, 3])  # miss of a zero target: inf
    np.testing.assert_allclose(d[1], [1.0, 1.0, 0.0, 0.0])  # |0 - (1+i)|/|1+i| = 1
    d2 = np.asarray(S.relative_error(h_hat, y_hat, floor=0.25))
    np.testing.assert_allclose(d2[0, 3], 2.0)  # 0.5 / max(0, 0.25)
    # (K, c) targets against (steps, K, c) predictions.
    rng = np.random.default_rng(5)
    y2 = rng.normal(size=(5, 3)) + 1j * rng.normal(size=(5, 3))
    h2 = rng.normal(size=(7, 5, 3))
    np.testing.assert_allclose(S.relative_error(h2, y2), np.abs(h2 - y2) / np.abs(y2), rtol=1e-14)


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------


def test_grid_fft_input_errors():
    x = np.linspace(0, 1, 10)
    bad = x.copy()
    bad[4] += 0.01
    with pytest.raises(ValueError, match=r"x_grid must be a uniform grid"):
        S.grid_fft(np.ones(10), bad)
    with pytest.raises(ValueError, match=r"x_grid\[1\] must be a uniform grid"):
        S.grid_fft(np.ones((10, 10)), (x, bad))
    with pytest.raises(ValueError, match=r"x_grid must be strictly increasing"):
        S.grid_fft(np.ones(10), x[::-1])
    with pytest.raises(ValueError, match=r"values' trailing axes .* must match"):
        S.grid_fft(np.ones(9), x)
    with pytest.raises(ValueError, match=r"values' trailing axes"):
        S.grid_fft(np.ones((10, 7)), (x, x))
    with pytest.raises(ValueError, match=r"values must have at least 2 trailing"):
        S.grid_fft(np.ones(10), (x, x))
    vals = np.ones(10)
    vals[3] = np.nan
    with pytest.raises(ValueError, match=r"values contains 1 NaN"):
        S.grid_fft(vals, x)
    with pytest.raises(ValueError, match=r"x_grid must not be empty"):
        S.grid_fft(np.ones(0), np.ones(0))
    with pytest.raises(ValueError, match=r"x_grid must have at least 2 points"):
        S.grid_fft(np.ones(1), np.zeros(1))
    with pytest.raises(ValueError, match=r"values must not be empty"):
        S.grid_fft(np.ones((0, 10)), x)
    with pytest.raises(ValueError, match=r"x_grid must be a 1-D array or a non-empty tuple"):
        S.grid_fft(np.ones(10), ())
    with pytest.raises(ValueError, match=r"unknown window"):
        S.grid_fft(np.ones(10), x, window="kaiser")
    with pytest.raises(TypeError, match=r"values must be an array-like"):
        S.grid_fft("abc", x)
    # A float32 linspace is uniform to rounding and must be accepted.
    S.grid_fft(np.ones(1000, np.float32), np.linspace(-10, 10, 1000, dtype=np.float32))


def test_helpers_input_errors():
    c = np.zeros(8)
    with pytest.raises(ValueError, match=r"k beyond the grid.*\[-4, 3\]"):
        S.coeffs_at(c, 4)
    with pytest.raises(ValueError, match=r"k must have shape \(\.\.\., 2\)"):
        S.coeffs_at(np.zeros((4, 4)), [1, 2, 3], ndim=2)
    with pytest.raises(TypeError, match=r"k must hold integer"):
        S.coeffs_at(c, 1.5)
    with pytest.raises(ValueError, match=r"wavenumbers must lie in \[0, 4\]"):
        S.periodic_amplitudes(np.ones(8), np.arange(8.0), wavenumbers=[5])
    with pytest.raises(ValueError, match=r"x and y must have the same number of points"):
        S.nudft(np.ones((5, 2)), np.ones(4), [1.0])
    with pytest.raises(ValueError, match=r"direction must have shape \(d,\) = \(2,\)"):
        S.nudft(np.ones((5, 2)), np.ones(5), [1.0], direction=[1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"direction must be a non-zero"):
        S.nudft(np.ones((5, 2)), np.ones(5), [1.0], direction=[0.0, 0.0])
    with pytest.raises(ValueError, match=r"freqs must have 1 dimension"):
        S.nudft(np.ones((5, 2)), np.ones(5), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"freqs must not be empty"):
        S.nudft(np.ones((5, 2)), np.ones(5), [])
    with pytest.raises(ValueError, match=r"x must not be empty"):
        S.nudft(np.ones((0, 2)), np.ones(0), [1.0])
    y = np.ones(5)
    y[0] = np.inf
    with pytest.raises(ValueError, match=r"y contains 1 NaN/Inf"):
        S.nudft(np.ones((5, 2)), y, [1.0])
    with pytest.raises(ValueError, match=r"h_hat and y_hat must broadcast"):
        S.relative_error(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"h_hat contains 1 NaN"):
        S.relative_error(np.array([1.0, np.nan]), np.ones(2))
    with pytest.raises(ValueError, match=r"y_hat must not be empty"):
        S.relative_error(np.ones(3), np.ones(0))


# ----------------------------------------------------------------------------------------------
# Fourier-series coefficients at physical frequencies
# ----------------------------------------------------------------------------------------------


def test_fourier_coeffs_physical_frequencies(x64):
    # sin(3x) on [-π, π) (L = 2π): c(±3/(2π)) = ∓i/2 exactly (trigonometric polynomial of degree
    # < N/2 on a whole period: the DFT is exact), same with cycles=, and independent of the grid's
    # origin (a shifted whole period gives the same c, since ξ·L is an integer).
    n = 64
    x = np.linspace(-np.pi, np.pi, n, endpoint=False)
    c = S.fourier_coeffs(np.sin(3 * x) + 2.0, x, freqs=[3 / (2 * np.pi), -3 / (2 * np.pi), 0.0])
    np.testing.assert_allclose(c, [-0.5j, 0.5j, 2.0], atol=1e-14)
    np.testing.assert_allclose(S.fourier_coeffs(np.sin(3 * x), x, cycles=[3]), [-0.5j], atol=1e-14)
    x2 = x + 0.37
    np.testing.assert_allclose(S.fourier_coeffs(np.sin(3 * x2), x2, freqs=[3 / (2 * np.pi)]), [-0.5j], atol=1e-14)
    # = grid_fft / L and = nudft on the grid; (N, 1) network columns accepted.
    _freqs, coeffs = S.grid_fft(np.cos(5 * x), x)
    ref = np.asarray(S.coeffs_at(coeffs, 5)) / (2 * np.pi)
    np.testing.assert_allclose(S.fourier_coeffs(np.cos(5 * x)[:, None], x[:, None], cycles=[5]), [ref], atol=1e-14)
    np.testing.assert_allclose(
        S.fourier_coeffs(np.cos(5 * x), x, cycles=[5]), S.nudft(x, np.cos(5 * x), [5 / (2 * np.pi)]), atol=1e-14
    )
    # Values may be traced (jit, vmap over seeds); the grid is checked on the host.
    vals = np.stack([np.sin(3 * x), 2 * np.sin(3 * x)])
    got = jax.jit(jax.vmap(lambda v: S.fourier_coeffs(v, x, cycles=[3])))(vals)
    np.testing.assert_allclose(got, [[-0.5j], [-1.0j]], atol=1e-14)
    # The same comparison with fpjax.testing at the default (rounding) tolerance.
    assert_spectra_close(np.sin(x) + np.sin(3 * x), np.sin(3 * x) + np.sin(x), x, np.array([1, 3]) / (2 * np.pi))


def test_peak_relative_error_one_call(x64):
    # Target sin x + 0.5 sin 3x, prediction with the sin 3x amplitude 0.4 over a batch of 2 steps:
    # Δ_F(1/2π) = 0, Δ_F(3/2π) = 0.1/0.5 = 0.2 exactly (to rounding).
    x = np.linspace(-np.pi, np.pi, 32, endpoint=False)
    y = np.sin(x) + 0.5 * np.sin(3 * x)
    h = np.stack([y, np.sin(x) + 0.4 * np.sin(3 * x)])
    d = S.peak_relative_error(h, y, x, np.array([1, 3]) / (2 * np.pi))
    assert d.shape == (2, 2)
    np.testing.assert_allclose(d, [[0, 0], [0, 0.2]], atol=1e-13)


def test_endpoint_grids_refused(x64):
    # linspace(-π, π, 64) includes the endpoint: sin 3x then leaks (not a whole period of N·Δ), which
    # the Fourier-series helpers refuse by name; passing period = 2π names the endpoint explicitly.
    xe = np.linspace(-np.pi, np.pi, 64)
    msg = r"x looks like linspace\(a, b, N\) with the endpoint b included"
    with pytest.raises(ValueError, match=msg):
        S.periodic_amplitudes(np.sin(3 * xe), xe)
    with pytest.raises(ValueError, match=msg):
        S.fourier_coeffs(np.sin(3 * xe), xe, cycles=[3])
    with pytest.raises(ValueError, match=msg):
        S.peak_relative_error(np.sin(3 * xe), np.sin(3 * xe), xe, [3 / (2 * np.pi)])
    with pytest.raises(ValueError, match=r"x includes the period's endpoint"):
        S.periodic_amplitudes(np.sin(3 * xe), xe, period=2 * np.pi)
    with pytest.raises(ValueError, match=r"is 1.5 periods of 2"):
        S.fourier_coeffs(np.ones(12), np.arange(12) / 4, cycles=[1], period=2.0)
    # The same in float32 and for linspace(0, 1, n): caught; endpoint=False grids pass.
    with pytest.raises(ValueError, match=msg):
        S.periodic_amplitudes(np.ones(100, np.float32), np.linspace(0, 1, 100, dtype=np.float32))
    S.periodic_amplitudes(np.ones(100), np.linspace(0, 1, 100, endpoint=False, dtype=np.float32))
    # period= confirms a grid whose N·Δ really is the period; a grid of two periods is fine too.
    x = np.linspace(0, 2, 64, endpoint=False)
    S.periodic_amplitudes(np.sin(np.pi * x), x, period=1.0)
    ks, amps = S.periodic_amplitudes(np.sin(2 * np.pi * x), x, freqs=[1.0])  # 1 cycle/unit = 2 per L
    assert ks.tolist() == [2]
    np.testing.assert_allclose(amps, [0.5], atol=1e-14)


def test_frequency_checks(x64):
    x = np.linspace(-np.pi, np.pi, 16, endpoint=False)
    with pytest.raises(ValueError, match=r"freqs\[1\] = 0.3 is not a frequency of the grid x: ξ·L = 1.88496"):
        S.fourier_coeffs(np.ones(16), x, freqs=[1 / (2 * np.pi), 0.3])
    with pytest.raises(ValueError, match=r"above the Nyquist frequency"):
        S.fourier_coeffs(np.ones(16), x, cycles=[9])
    with pytest.raises(TypeError, match=r"exactly one of freqs .* and cycles"):
        S.fourier_coeffs(np.ones(16), x)
    with pytest.raises(TypeError, match=r"cycles must hold whole numbers"):
        S.fourier_coeffs(np.ones(16), x, cycles=[1.5])
    with pytest.raises(ValueError, match=r"values must have shape \(\.\.\., N\) or \(\.\.\., N, 1\) with N = 16"):
        S.fourier_coeffs(np.ones(15), x, cycles=[1])
    with pytest.raises(ValueError, match=r"x must be a 1-D grid"):
        S.fourier_coeffs(np.ones(16), np.ones((16, 2)), cycles=[1])


def test_float32_grid_with_unrepresentable_spacing_refused():
    # float32 points near 1e6 spaced 0.01 apart: the ulp there is 0.0625, so the stored points are
    # 1e6, 1e6, ..., 1e6 + 0.0625: diffs pass a rounding test, but the grid is not uniform.
    x = (1e6 + 0.01 * np.arange(50)).astype(np.float32)
    with pytest.raises(ValueError, match=r"x_grid is not a uniform grid in float32"):
        S.grid_fft(np.ones(50), x)
    # The same grid near 0 is fine.
    S.grid_fft(np.ones(50), (0.01 * np.arange(50)).astype(np.float32))


def test_named_results():
    x = np.arange(8) / 8
    r = S.grid_fft(np.ones(8), x)
    assert isinstance(r, S.GridSpectrum) and r.coeffs.shape == (8,)
    a = S.periodic_amplitudes(np.ones(8), x)
    assert isinstance(a, S.Amplitudes) and a.k.tolist() == [0, 1, 2, 3, 4]
    d = S.filter_decompose(x[:, None], np.ones(8), 0.1)
    assert isinstance(d, S.FilterDecomposition) and d.y_low.shape == (8,)
