"""Theorem 5.1 (fpjax.theory.tangent_fourier): predicted vs measured ∂_t f̂, kernel spectrum decay."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax.models import mlp
from fpjax.theory import tangent_fourier as tf

ACTS = ("relu", "tanh", "gaussian", "sine")

# Agreement tolerance. The identity ∂_t f(x_j) = −Σ_i K(x_j, x_i) ∂c/∂f(x_i) is exact at every grid
# point where f is differentiable, and the grid transform is linear, so only the measurement errs:
# central differences with the float64 default step h = 0.2·eps^{1/3}·‖θ‖ = 1.2e-6·‖θ‖ have
# truncation O(h²) ≈ 1.5e-12 and rounding O(eps/h) ≈ 2e-10 (relative); for ReLU a kink that crosses a grid point within the step
# spoils that point, a fraction O(h) ≈ 1e-6 of them. Richardson-extrapolated ODE solutions add the
# solver's error relative to the increment, rtol·‖θ‖/(τ‖θ̇‖) ≈ 1e-12/1e-6 = 1e-6. So 1e-4 bounds
# every case with a margin of 100 and is far inside the 1% the theorem check asks for.
AGREE = 1e-4


def setup(act, loss, n=16, width=48):
    x = jnp.linspace(-1.0, 1.0, n)[:, None]
    y = jnp.sin(2 * jnp.pi * x[:, 0])
    if loss == "bce":
        y = (y > 0).astype(x.dtype)
    # Non-zero biases: a bias-free ReLU net has every kink at x = 0, which is a grid point, and the
    # theorem holds only where f is differentiable (a.e.), not at such a point.
    model = mlp((width, width, 1), act, init="standard", sigma_w=1.5, sigma_b=0.3)
    return model, model.init(jax.random.key(0), x), x, y


def check_theorem(act, loss, methods):
    model, params, x, y = setup(act, loss)
    r = tf.tangent_fourier(model, params, x, y, loss=loss, grid_size=512, methods=methods)
    for m in methods:
        assert getattr(r.rel_error, m) <= AGREE, (act, loss, r.rel_error)
        # Per-frequency ratio ≈ 1 wherever the predicted coefficient is not negligible.
        ratio = np.asarray(getattr(r.ratio, m))
        big = np.abs(np.asarray(r.predicted)) > 1e-3 * np.abs(np.asarray(r.predicted)).max()
        assert np.nanmax(np.abs(ratio[big] - 1)) < 1e-3, (act, loss, m)
    # Riemann–Lebesgue on the grid: |K̂| at the top 10% of frequencies is below 1% of its peak.
    assert r.hf_ratio < 1e-2, r.hf_ratio


# Quick: every activation and both losses once each, the ODE flow on one of them; the full
# product (4 activations × 2 losses × 2 measurements) is the slow test and the experiment.
@pytest.mark.parametrize(
    "act,loss,methods",
    [
        ("relu", "mse", ("finite_difference", "ode")),
        ("tanh", "bce", ("finite_difference",)),
        ("gaussian", "mse", ("finite_difference",)),
        ("sine", "bce", ("finite_difference",)),
    ],
)
def test_theorem(x64, act, loss, methods):
    check_theorem(act, loss, methods)


@pytest.mark.slow
@pytest.mark.xla_optimized  # runs many steps: optimizing the program pays
@pytest.mark.parametrize("act", ACTS)
def test_theorem_all(x64, act):
    for loss in ("mse", "bce"):
        check_theorem(act, loss, ("finite_difference", "ode"))


def test_the_check_can_fail(x64):
    """The comparison discriminates: a wrong loss derivative or the mean instead of the sum fails."""
    model, params, x, y = setup("tanh", "mse")
    r = tf.tangent_fourier(model, params, x, y, loss="mse", grid_size=256, methods="finite_difference")
    meas = r.measured.finite_difference
    f = model.apply(params, x)[:, 0]
    wrong = tf.predicted_dfhat(r.kernel_hat, tf.cost_grad(f, (y > 0).astype(f.dtype), "bce"))
    assert tf.spectral_agreement(wrong, meas)[0] > 0.1
    # Mean loss L = C/n on the predicted side: n times too small, ‖meas − pred/n‖/‖pred/n‖ = n − 1.
    n = x.shape[0]
    err_mean, _ = tf.spectral_agreement(r.predicted / n, meas)
    assert abs(err_mean - (n - 1)) < AGREE * n


def test_kernel_spectrum_is_the_spec_grid_transform(x64):
    """K̂(ξ_k, x_i) = Δ Σ_j K(x_j, x_i) e^{−2πiξ_k x_j}, ξ_k = k/(NΔ), checked by a direct sum."""
    model, params, x, _ = setup("tanh", "mse", n=5)
    spec = tf.kernel_spectrum(model, params, x, box=(-1.5, 1.7), grid_size=64)
    grid = np.asarray(spec.axes[0])
    delta = 3.2 / 64
    np.testing.assert_allclose(np.diff(grid), delta, rtol=1e-12)
    assert grid[0] == -1.5
    from fpjax.ntk import empirical_ntk

    kgrid = np.asarray(empirical_ntk(model, params, jnp.asarray(grid)[:, None], x))  # (N, n)
    freqs = np.asarray(spec.freqs)
    for k in (-32, -3, 0, 5, 31):
        xi = k / (64 * delta)
        j = np.argmin(np.abs(freqs - xi))
        direct = delta * np.sum(kgrid * np.exp(-2j * np.pi * xi * grid)[:, None], axis=0)
        np.testing.assert_allclose(np.asarray(spec.kernel_hat)[:, j], direct, rtol=1e-10, atol=1e-12)


def test_decay_fits_recover_known_laws(x64):
    xi = np.fft.fftshift(np.fft.fftfreq(1024, 1 / 1024)) / 8.0  # box length 8
    safe = np.where(xi == 0, 1.0, np.abs(xi))
    power = np.where(xi == 0, 1.0, 0.05 * safe**-2.0)[None, :] * np.ones((3, 1))
    fit = tf.fit_decay(xi, power, band=(0.1, 0.6))
    assert fit.choice == "power" and abs(fit.alpha - 2.0) < 1e-8 and fit.power_rms < 1e-8
    expo = np.exp(-0.7 * np.abs(xi))[None, :] * np.ones((2, 1))
    fit = tf.fit_decay(xi, expo)
    assert fit.choice == "exponential" and abs(fit.beta - 0.7) < 1e-8
    # Automatic band: from A < 1e-2·peak (|ξ| > ln(100)/0.7) to the 1e-10 floor (ln(1e10)/0.7).
    assert np.log(100) / 0.7 <= fit.band[0] <= np.log(100) / 0.7 + 1 / 8 + 1e-9
    assert fit.band[1] <= np.log(1e10) / 0.7 + 1 / 8 + 1e-9  # first grid frequency at/below the floor
    assert tf.high_frequency_ratio(xi, expo) == pytest.approx(np.exp(-0.7 * 0.9 * 64) / 1.0, rel=0.05)


def test_decay_per_activation(x64):
    """Hard box (the theorem's mollification): K(·, x_i) jumps at the box edges, so |K̂| ~ |ξ|^{−1}
    once the kernel's own spectrum has died out (a power law with α ≈ 1; aliasing near Nyquist
    flattens it slightly). That holds in the fitted band for relu/tanh/sine; the gaussian
    activation (s = 0.1) makes features of width ~ s/|w| ≈ 0.07 whose own spectrum still dominates
    the edge tail up to the grid's Nyquist frequency, so only the bound α ≲ 1 at ξ → ∞ applies there.
    Gaussian window: the kernel's own smoothness shows — the finite-width ReLU NTK contains
    relu'(z(x)) step functions (jumps in x), a power law, while tanh/sine/gaussian nets give
    analytic kernels whose windowed transform falls faster than any power: over the fitted band an
    exponential fits better or the power law is steeper than |ξ|^{-3} (the jump gives α = 1 < 2)."""
    for act in ACTS:
        model, params, x, _ = setup(act, "mse")
        if act != "gaussian":
            hard = tf.kernel_spectrum(model, params, x, grid_size=512)
            fit = tf.fit_decay(hard.freqs, hard.kernel_hat)
            assert fit.choice == "power" and 0.6 <= fit.alpha <= 1.4, (act, fit)
        win = tf.kernel_spectrum(model, params, x, grid_size=512, window="gaussian")
        fit = tf.fit_decay(win.freqs, win.kernel_hat)
        if act == "relu":
            assert fit.choice == "power" and fit.alpha < 2, fit
        else:
            assert fit.choice == "exponential" or fit.alpha > 3, (act, fit)


def test_two_dimensional_inputs(x64):
    x = jax.random.uniform(jax.random.key(1), (10, 2), minval=-1, maxval=1)
    y = jnp.cos(3 * x[:, 0]) * x[:, 1]
    model = mlp((16, 1), "tanh", init="standard", sigma_b=0.2)
    params = model.init(jax.random.key(0), x)
    r = tf.tangent_fourier(model, params, x, y, grid_size=(16, 12), methods="finite_difference")
    assert r.kernel_hat.shape == (10, 16, 12) and r.predicted.shape == (16, 12)
    assert isinstance(r.freqs, tuple) and len(r.freqs) == 2
    assert r.rel_error.finite_difference <= AGREE


def test_tapers():
    w = tf.planck_taper(600)
    assert w[0] == 0 and np.all((w >= 0) & (w <= 1)) and np.all(w[100:501] == 1.0)
    g = tf.gaussian_taper(512)
    assert g[256] == 1.0 and g[0] == pytest.approx(np.exp(-25.0))
    with pytest.raises(ValueError, match="fraction"):
        tf.planck_taper(10, 0.7)


def test_input_validation(x64):
    model, params, x, y = setup("tanh", "mse", n=4)
    with pytest.raises(ValueError, match="box"):
        tf.tangent_fourier(model, params, x, y, box=(-0.5, 0.5))
    with pytest.raises(ValueError, match="loss"):
        tf.tangent_fourier(model, params, x, y, loss="hinge")
    with pytest.raises(ValueError, match="method"):
        tf.tangent_fourier(model, params, x, y, methods="euler")
    with pytest.raises(ValueError, match="y must"):
        tf.tangent_fourier(model, params, x, y[:3])
    with pytest.raises(ValueError, match="grid_size"):
        tf.tangent_fourier(model, params, x, y, grid_size=2)
    two = mlp((4, 2), "tanh")
    with pytest.raises(ValueError, match="scalar outputs"):
        tf.tangent_fourier(two, two.init(jax.random.key(0), x), x, y)
    with pytest.raises(ValueError, match="NaN"):
        tf.tangent_fourier(model, params, x.at[0, 0].set(jnp.nan), y)


@pytest.mark.slow
def test_default_step_adapts_to_float32_and_is_reported():
    """float32 sine net (ω0 = 10): the default step 0.2·eps^{1/3} = 9.8e-4 is reported as ``rel_step``.
    The finite-difference error is truncation ∝ rel_step² plus rounding ∝ eps·|f|/|Δf| (the reported
    ``resolution``, ~1e-7 here): going from 5e-3 (the former float32 default) to 9.8e-4 divides the
    truncation by (5e-3/9.8e-4)² = 26, so the error must drop by more than 10 (margin for the O(h⁴)
    term) when the coarse error is truncation dominated."""
    with jax.enable_x64(False):
        x = jnp.linspace(-1.0, 1.0, 12)[:, None]
        y = jnp.sin(2 * jnp.pi * x[:, 0])
        model = mlp((32, 32, 1), "sine", init="standard", sigma_b=0.3, sine_omega0=10.0)
        params = model.init(jax.random.key(0), x)
        kw = dict(grid_size=256, methods="finite_difference", fit_band=(0.3, 0.6))
        r = tf.tangent_fourier(model, params, x, y, **kw)
        assert r.rel_step == tf.default_rel_step(jnp.float32) == pytest.approx(9.84e-4, rel=1e-3)
        coarse = tf.tangent_fourier(model, params, x, y, rel_step=5e-3, **kw)
        assert coarse.rel_step == 5e-3
        e_def, e_coarse = r.rel_error.finite_difference, coarse.rel_error.finite_difference
        assert coarse.resolution.finite_difference < 1e-3 * e_coarse  # truncation dominated
        assert e_def < e_coarse / 10, (e_def, e_coarse)
    assert tf.default_rel_step(jnp.float64) == pytest.approx(1.211e-6, rel=1e-3)
