"""Tests of conv-kernel weight spectra, SSR, input-gradient histograms and the plot helpers."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax import spectrum as S


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _direct_power(w, p):
    """|Σ_ij w[i,j] e^{-2πi(ui+vj)/P}|² on the centred grid, averaged over channels (plain numpy)."""
    w = np.asarray(w, np.float64)
    if w.ndim == 2:
        w = w[:, :, None, None]
    kh, kw = w.shape[:2]
    u = np.arange(p) - p // 2
    eu = np.exp(-2j * np.pi * np.outer(u, np.arange(kh)) / p)  # (P, kh)
    ev = np.exp(-2j * np.pi * np.outer(u, np.arange(kw)) / p)  # (P, kw)
    spec = np.einsum("ui,vj,ijab->uvab", eu, ev, w)
    return np.mean(np.abs(spec) ** 2, axis=(2, 3))


def _direct_profile(power):
    p, q = power.shape
    u, v = np.arange(p) - p // 2, np.arange(q) - q // 2
    bins = {}
    for i in range(p):
        for j in range(q):
            bins.setdefault(round(np.hypot(u[i], v[j])), []).append(power[i, j])
    radii = sorted(bins)
    return np.array(radii), np.array([np.mean(bins[r]) for r in radii])


def test_power_spectrum_matches_direct_dft(x64):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 4, 5))
    pw = S.kernel_power_spectrum(w, pad=16)
    assert pw.shape == (16, 16)
    # FFT vs direct sum of 9 terms: rounding ~ε·Σ|w|² ≈ 1e-14. atol 1e-12.
    np.testing.assert_allclose(pw, _direct_power(w, 16), rtol=0, atol=1e-12)
    # Parseval for the padded DFT: mean over (u, v) of |Ŵ|² = Σ w² (per channel pair), averaged.
    np.testing.assert_allclose(np.mean(pw), np.mean(np.sum(w**2, axis=(0, 1))), rtol=1e-12)
    # Leading batch axes (e.g. epochs) and a single 2-D kernel.
    wb = rng.normal(size=(2, 5, 5, 1, 3))
    pb = S.kernel_power_spectrum(wb)
    assert pb.shape == (2, 32, 32)
    np.testing.assert_allclose(pb[1], _direct_power(wb[1], 32), atol=1e-11)
    np.testing.assert_allclose(S.kernel_power_spectrum(w[:, :, 0, 0], 8), _direct_power(w[:, :, 0, 0], 8), atol=1e-12)


def test_radial_profile_matches_direct_binning(x64):
    rng = np.random.default_rng(1)
    power = rng.uniform(size=(3, 32, 32))
    radii, prof = S.radial_profile(power)
    r_ref, p_ref = _direct_profile(power[2])
    np.testing.assert_array_equal(radii, r_ref)
    assert radii.tolist() == list(range(24))  # 32×32: r = 0..round(16√2) = 23, all occupied
    assert prof.shape == (3, 24)
    np.testing.assert_allclose(prof[2], p_ref, rtol=1e-13)
    # Known bin: r = 1 holds (±1, 0), (0, ±1) (|·|² = 1) and (±1, ±1) (√2 rounds to 1): mean 1.5.
    u = np.arange(32) - 16
    _, pr = S.radial_profile(u[:, None] ** 2 + u[None, :] ** 2.0)
    assert float(pr[0]) == 0.0 and float(pr[1]) == pytest.approx(1.5)
    # Non-square and odd sizes.
    r2, p2 = S.radial_profile(power[0, :7, :10])
    r2_ref, p2_ref = _direct_profile(power[0, :7, :10])
    np.testing.assert_array_equal(r2, r2_ref)
    np.testing.assert_allclose(p2, p2_ref, rtol=1e-13)


def test_constant_kernel_is_low_frequency(x64):
    # Constant 3×3: Ŵ(u, v) = D(u)D(v), D(u) = sin(3πu/P)/sin(πu/P) (Dirichlet kernel), maximal
    # (= 3·3, power 81) at the origin only. The profile must peak at r = 0; E_hi must be far below the
    # value for a flat (white) spectrum, the fraction of radii above P/4 = 8, i.e. 15/24 = 0.625:
    # we require < 1/10 of it.
    radii, prof = S.radial_profile(S.kernel_power_spectrum(np.ones((3, 3)), 32))
    assert int(np.argmax(prof)) == 0 and float(prof[0]) == pytest.approx(81.0)
    e_hi = float(S.high_freq_energy(prof, radii))
    _, ref = _direct_profile(_direct_power(np.ones((3, 3)), 32))
    assert e_hi == pytest.approx(ref[radii > 8].sum() / ref.sum(), rel=1e-12)
    assert e_hi < 0.0625
    flat = S.high_freq_energy(jnp.ones(24), radii)
    assert float(flat) == pytest.approx(15 / 24)


def test_checkerboard_kernel_peaks_at_highest_radius(x64):
    # w[i, j] = (-1)^{i+j}: Ŵ(-16, -16) = Σ (-1)^{i+j} e^{iπ(i+j)} = 9 (power 81), the maximum; on the
    # 32×32 centred grid (-16, -16) is the only point with round(|·|) = 23, the largest radius.
    cb = (-1.0) ** (np.arange(3)[:, None] + np.arange(3)[None, :])
    radii, prof = S.radial_profile(S.kernel_power_spectrum(cb, 32))
    assert int(np.argmax(prof)) == len(radii) - 1 == 23
    assert float(prof[-1]) == pytest.approx(81.0)
    assert float(S.high_freq_energy(prof, radii)) > 0.625  # above the flat-spectrum value


def test_profile_rotation_invariance(x64):
    # Rotating a kernel by 90° maps Ŵ(u, v) to a phase times Ŵ(v, -u) (mod P), transposing to Ŵ(v, u);
    # both keep u² + v² (mod-P aliasing of -P/2 keeps |u|), so the radial profiles agree to rounding.
    rng = np.random.default_rng(2)
    w = rng.normal(size=(3, 3, 2, 4))
    _, p0 = S.radial_profile(S.kernel_power_spectrum(w))
    _, p_rot = S.radial_profile(S.kernel_power_spectrum(np.rot90(w, axes=(0, 1)).copy()))
    _, p_tr = S.radial_profile(S.kernel_power_spectrum(np.swapaxes(w, 0, 1)))
    # Sums of 81 products bounded by the peak power: absolute rounding <= 81 ε peak; atol 1e-13 · peak.
    np.testing.assert_allclose(p_rot, p0, rtol=1e-12, atol=1e-13 * float(np.max(p0)))
    np.testing.assert_allclose(p_tr, p0, rtol=1e-12, atol=1e-13 * float(np.max(p0)))
    # A rotationally symmetric kernel (5×5 Gaussian blob) equals its own rotation, and its 2-D power
    # is symmetric under (u, v) -> (v, u) and (u, v) -> (-u, v) off the aliased -P/2 row.
    c = np.arange(5) - 2
    g = np.exp(-(c[:, None] ** 2 + c[None, :] ** 2) / 2.0)
    pw = np.asarray(S.kernel_power_spectrum(g))
    # Each power value is a sum of (kh·kw)² = 625 products bounded by the peak power (Σ g)², so
    # rounding is <= 625 ε peak ≈ 1.4e-13 peak in absolute terms (the smallest values, ~1e-6 of the
    # peak, carry that absolute error, not a relative one). atol 1e-12 · peak.
    tol = {"rtol": 1e-12, "atol": 1e-12 * pw.max()}
    np.testing.assert_allclose(pw, pw.T, **tol)
    np.testing.assert_allclose(pw[1:, :], pw[1:, :][::-1, :], **tol)
    _, pg = S.radial_profile(pw)
    _, pg_rot = S.radial_profile(S.kernel_power_spectrum(np.rot90(g).copy()))
    np.testing.assert_allclose(pg_rot, pg, **tol)


def test_high_freq_energy_and_ssr(x64):
    radii = np.arange(24)
    prof = np.ones((2, 24))
    np.testing.assert_allclose(S.high_freq_energy(prof, radii, r_c=20), 3 / 24)  # r = 21, 22, 23
    np.testing.assert_allclose(S.high_freq_energy(np.zeros(24), radii), 0.0)
    with pytest.raises(ValueError, match=r"pass the pad used"):
        S.high_freq_energy(np.ones(24), radii, pad=64)
    # SSR of identical weight sets is exactly 1.
    rng = np.random.default_rng(3)
    params = {"c1": rng.normal(size=(3, 3, 2, 4)), "c2": rng.normal(size=(3, 3, 4, 4))}
    e_a = S.conv_layer_high_freq_energy(params)
    e_b = S.conv_layer_high_freq_energy(jax.tree_util.tree_map(np.copy, params))
    for name in e_a:
        assert float(S.ssr(e_a[name], e_b[name])) == 1.0
    np.testing.assert_allclose(S.ssr([0.3, 0.2], 0.1), [3.0, 2.0])
    assert np.isinf(S.ssr(0.1, 0.0)) and np.isnan(S.ssr(0.0, 0.0))
    # Accumulation form: (0.5 - 0.2)/(0.3 - 0.2) = 3.
    np.testing.assert_allclose(S.ssr_accumulation(0.2, 0.5, 0.2, 0.3), 3.0)
    np.testing.assert_allclose(S.ssr_accumulation([0.2, 0.1], 0.5, 0.2, [0.3, 0.25]), [3.0, 8.0])


def test_conv_layer_profiles_on_flax_cnn():
    import flax.linen as nn

    class Tiny(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(4, (3, 3))(x))
            x = nn.relu(nn.Conv(6, (5, 5))(x))
            x = nn.BatchNorm(use_running_average=True)(x)
            return nn.Dense(2)(x.reshape(x.shape[0], -1))

    # The real Flax variable tree (paths, layouts) from eval_shape, filled with random numbers:
    # identical structure to model.init without paying for an eager init on a loaded CI machine.
    shapes = jax.eval_shape(Tiny().init, jax.random.key(0), jnp.ones((1, 8, 8, 1)))
    rng = np.random.default_rng(6)
    variables = jax.tree_util.tree_map(lambda s: jnp.asarray(rng.normal(size=s.shape), s.dtype), shapes)
    radii, profiles = S.conv_layer_profiles(variables)
    assert list(profiles) == ["params/Conv_0/kernel", "params/Conv_1/kernel"]  # Dense excluded
    k1 = variables["params"]["Conv_1"]["kernel"]
    assert k1.shape == (5, 5, 4, 6)
    _, ref = S.radial_profile(S.kernel_power_spectrum(k1))
    np.testing.assert_allclose(profiles["params/Conv_1/kernel"], ref, rtol=1e-6)
    assert radii.shape == (24,)
    # Params recorded over 3 epochs: batch_ndim=1 gives (3, R) profiles and (3,) energies.
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 2 * a, 3 * a]), variables)
    _, prof_t = S.conv_layer_profiles(stacked, batch_ndim=1)
    assert prof_t["params/Conv_0/kernel"].shape == (3, 24)
    np.testing.assert_allclose(prof_t["params/Conv_0/kernel"][2], 9 * prof_t["params/Conv_0/kernel"][0], rtol=1e-5)
    e = S.conv_layer_high_freq_energy(stacked, batch_ndim=1)
    np.testing.assert_allclose(e["params/Conv_0/kernel"], e["params/Conv_0/kernel"][0], rtol=1e-5)
    with pytest.raises(ValueError, match=r"params contains no conv kernels"):
        S.conv_kernels({"dense": jnp.ones((3, 4))})


def test_input_gradient_histogram():
    # Linear model f(x) = flatten(x) @ W: each sample's gradient of its mean output is W.mean(1),
    # reshaped to the input; std and mean|g| follow exactly (float32 rounding ~1e-7 relative).
    rng = np.random.default_rng(4)
    w = rng.normal(size=(12, 3)).astype(np.float32)
    x = rng.normal(size=(10, 2, 2, 3)).astype(np.float32)

    def apply_fn(xb):
        return xb.reshape(xb.shape[0], -1) @ w

    g = np.tile(w.mean(1), 10)
    h = S.input_gradient_histogram(apply_fn, x, bins=20)
    assert h.counts.shape == (20,) and h.edges.shape == (21,)
    assert int(h.counts.sum()) == 120
    np.testing.assert_allclose(h.std, g.std(), rtol=1e-5)
    np.testing.assert_allclose(h.mean_abs, np.abs(g).mean(), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(h.edges)[[0, -1]], [-np.abs(g).max(), np.abs(g).max()], rtol=1e-6)
    counts_ref, _ = np.histogram(g, bins=np.asarray(h.edges))
    np.testing.assert_array_equal(h.counts, counts_ref)
    h2 = S.input_gradient_histogram(apply_fn, x, bins=np.linspace(-3, 3, 7), batch_size=3)
    np.testing.assert_array_equal(h2.counts, np.histogram(g, bins=np.linspace(-3, 3, 7))[0])
    with pytest.raises(TypeError, match=r"apply_fn must be callable"):
        S.input_gradient_histogram(None, x)
    with pytest.raises(ValueError, match=r"x must be a non-empty batch"):
        S.input_gradient_histogram(apply_fn, np.ones((0, 12)))
    with pytest.raises(ValueError, match=r"range must be \(lo, hi\)"):
        S.input_gradient_histogram(apply_fn, x, range=(1.0, 1.0))


def test_kernel_input_errors():
    with pytest.raises(ValueError, match=r"w must be a \(kh, kw\) kernel or have shape"):
        S.kernel_power_spectrum(np.ones((3, 3, 2)))
    with pytest.raises(ValueError, match=r"pad must be >= the kernel size"):
        S.kernel_power_spectrum(np.ones((5, 5)), pad=4)
    with pytest.raises(ValueError, match=r"w contains 1 NaN"):
        S.kernel_power_spectrum(np.array([[1.0, np.nan], [0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"w must not be empty"):
        S.kernel_power_spectrum(np.ones((3, 3, 0, 2)))
    with pytest.raises(ValueError, match=r"power must have shape"):
        S.radial_profile(np.ones(5))
    with pytest.raises(ValueError, match=r"profile must have shape \(\.\.\., R\)"):
        S.high_freq_energy(np.ones(5), np.arange(4), r_c=1.0)
    with pytest.raises(ValueError, match=r"e_hi_unreg and e_hi_reg must broadcast"):
        S.ssr(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match=r"e0_reg contains 1 NaN"):
        S.ssr_accumulation(0.1, 0.2, np.nan, 0.3)


def test_plots_return_figures():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    n_before = len(plt.get_fignums())
    rng = np.random.default_rng(5)
    figs = [
        S.plot_spectrum(np.arange(10.0), rng.normal(size=(2, 10)) + 1j, labels=["a", "b"], marks=[3]),
        S.plot_relative_error_heatmap(
            np.where(np.eye(6, 5) > 0, np.inf, 0.5),  # inf is clipped
            np.arange(0, 60, 10),
            [1, 3, 5, 7, 9],
        ),
        S.plot_filter_errors(np.arange(5), rng.uniform(size=(2, 5)), rng.uniform(size=(2, 5)), labels=["δ=0.1", "δ=1"]),
        S.plot_radial_profiles(
            {"conv0": rng.uniform(size=(4, 24)), "conv1": rng.uniform(size=(4, 24))}, np.arange(24), epochs=[0, 1, 2, 3]
        ),
        S.plot_radial_profiles(rng.uniform(size=(5, 3, 24)), np.arange(24), ncols=2),
        S.plot_gradient_histograms([(np.array([1, 5, 2]), np.array([-1.0, -0.3, 0.3, 1.0]))], labels=["m"]),
    ]
    for fig in figs:
        assert isinstance(fig, Figure)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert buf.getvalue()[:4] == b"\x89PNG"
    assert len(figs[4].axes) >= 6  # 5 panels + hidden slot (+ colorbars)
    assert len(plt.get_fignums()) == n_before, "plot helpers must not create pyplot figures"
    with pytest.raises(ValueError, match=r"spectra must have shape"):
        S.plot_spectrum(np.arange(3.0), np.ones(4))
    with pytest.raises(ValueError, match=r"delta_f must have shape"):
        S.plot_relative_error_heatmap(np.ones((2, 3)), [0, 1], [1, 2])


def test_power_spectrum_size_checked_before_allocating():
    # pad = 10⁶ would need 3·10¹²·4 bytes: refused by name before any allocation (no OOM).
    with pytest.raises(ValueError, match=r"pad too large: the \(1000000, 1000000\) power spectra of 1 kernel"):
        S.kernel_power_spectrum(np.ones((3, 3)), pad=10**6)


def test_power_spectrum_wide_layer_float32():
    # A 3×3 layer with 64×64 channels: the autocorrelation route never builds (64, 64, P, P); float32
    # result within float32 rounding of the float64 direct DFT (relative to the peak, 81 terms:
    # ≈ 81 ε32 ≈ 1e-5; rtol/atol 1e-4 · peak).
    rng = np.random.default_rng(5)
    w = rng.normal(size=(3, 3, 64, 64)).astype(np.float32)
    p = np.asarray(S.kernel_power_spectrum(w, 16))
    ref = _direct_power(w, 16)
    np.testing.assert_allclose(p, ref, rtol=1e-4, atol=1e-4 * ref.max())
