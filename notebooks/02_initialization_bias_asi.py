# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Initialization bias of kernel regression, and ASI
#
# In the linear (NTK) regime a network trained on MSE converges to
# h_k(·; f0, X, Y) = f0 + K(·, X) K(X, X)⁻¹ (Y − f0(X)), with f0 the
# network at initialization and K its tangent kernel (Zhang, Xu, Luo, Ma 2020, arXiv:1905.07777).
#
# * **Theorem 2** h_k(·; f0, X, Y) = h_k(·; 0, X, Y) + [f0 − h_k(·; 0, X, f0(X))]:
#   an *unbiased fit* plus a *bias* made of what the kernel cannot see of f0 from its values at
#   X — mostly its high frequencies.
# * **Theorem 3** for a mean-zero random f0:
#   E‖h_k − f‖² = ‖h_k(·; 0, X, f(X)) − f‖² + E‖h_k(·; 0, X, f0(X)) − f0‖².
# * **ASI** h_ASI = (√2/2)(h(x; θ) − h(x; θ′)), θ′(0) = θ(0): zero at
#   initialization with the same tangent kernel, so the bias term disappears.
#
# Tools: `fpjax.theory.init_bias`, `fpjax.ntk`, `fpjax.models.asi`.

# %%
# %matplotlib inline
import numpy as np
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt

from fpjax.models import mlp, asi
from fpjax.ntk import empirical_ntk, predict_linearized
from fpjax.spectrum import grid_fft, plot_spectrum
from fpjax.theory import init_bias

f = lambda x: jnp.sin(np.pi * x)
x_train = jnp.linspace(-1, 1, 8)[:, None]
x_test = (-1 + 2 * jnp.arange(400) / 400)[:, None]
y_train, y_test = f(x_train)[:, 0], f(x_test)[:, 0]

# %% [markdown]
# ## Theorem 2 for one network
#
# A one-hidden-layer tanh network in NTK parameterization with a large weight scale σ_w = 8, so that
# its initial function is large and rough, fitted to 8 samples of sin πx. `network_decomposition` uses the network's empirical NTK at init.

# %%
model = mlp((2048, 1), "tanh", init="ntk", sigma_w=8.0, sigma_b=1.0)
params = model.init(jax.random.key(0), x_train)
dec = init_bias.network_decomposition(model, params, x_train, y_train, x_test, kernel="empirical")
f0_test = model.apply(params, x_test)[:, 0]

print("Theorem 2, max |total - (unbiased + bias)| =", float(jnp.max(jnp.abs(dec.total - dec.unbiased - dec.bias))))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
axes[0].plot(x_test, f0_test, color="0.6", label="f0 (network at init)")
axes[0].plot(x_test, dec.total, color="C3", label="h_k(·; f0): trained, NTK regime")
axes[0].plot(x_train, y_train, "ko", ms=4, label="training data")
axes[1].plot(x_test, dec.unbiased, color="C0", label="unbiased fit h_k(·; 0)")
axes[1].plot(x_test, dec.bias, color="C2", label="bias f0 − h_k(·; 0, X, f0(X))")
axes[1].plot(x_train, y_train, "ko", ms=4)
for a in axes:
    a.legend(fontsize=7)

# %% [markdown]
# The same functions in frequency (`grid_fft` over the period [−1, 1) of the test grid, drawn with
# `plot_spectrum`): 8 samples 2/7 apart resolve frequencies up to their Nyquist frequency 1.75 cycles
# per unit (dashed line); the bias carries the initial function's content above it, and the unbiased fit has little there.

# %%
freqs, spec = grid_fft(jnp.stack([f0_test, dec.unbiased, dec.bias]), x_test[:, 0])
pos = (np.asarray(freqs) > 0) & (np.asarray(freqs) <= 40)
plot_spectrum(np.asarray(freqs)[pos], np.asarray(spec)[:, pos], labels=["f0", "unbiased fit", "bias"],
              marks=[1.75], title="initialization bias lives at high frequencies")

# %% [markdown]
# ## Theorem 3 by Monte Carlo over initializations
#
# `theorem3_monte_carlo` draws inits in one vmapped sweep; with `kernel="infinite"` the kernel is the
# architecture's infinite-width NTK (neural-tangents), fixed, and the identity holds exactly in
# expectation. `diff` is the paired mean of ‖h_k − f‖² − ‖A‖² − ‖B‖² with its standard error.

# %%
# erf: the infinite-width kernel is in closed form (tanh needs quadrature, which at sigma_w = 8 is
# not even symmetric: 38 % relative asymmetry with 32 Gauss-Hermite points)
small = mlp((512, 1), "erf", init="ntk", sigma_w=8.0, sigma_b=1.0)
r3 = init_bias.theorem3_monte_carlo(small, x_train, y_train, x_test, y_test, key=jax.random.key(1),
                                    n_inits=128, kernel="infinite")
print(f"E||h_k - f||^2           = {r3.lhs:.4f} ± {r3.lhs_se:.4f}")
print(f"unbiased + E bias error  = {r3.unbiased:.4f} + {r3.bias:.4f} = {r3.rhs:.4f} ± {r3.rhs_se:.4f}")
print(f"paired difference        = {r3.diff:.2e} ± {r3.diff_se:.2e}  (z = {r3.z:.2f})")

# %% [markdown]
# ## ASI removes the bias, keeps the kernel
#
# The ASI network is exactly zero at initialization and has the same tangent kernel as the network it
# is built from. With the kernel fixed (linearized training to t = ∞), its limit is the unbiased
# fit: the test error no longer grows with the initialization scale.

# %%
m_asi = asi(model)
p_asi = m_asi.init(jax.random.key(0), x_train)
print("max |h_ASI| at init:", float(jnp.max(jnp.abs(m_asi.apply(p_asi, x_test)))))
k_base = empirical_ntk(model, params, x_train)
k_asi = empirical_ntk(m_asi, p_asi, x_train)
print("relative kernel difference:", float(jnp.linalg.norm(k_asi - k_base) / jnp.linalg.norm(k_base)))

# %%
scales = [1.0, 2.0, 4.0, 8.0, 16.0]
err_plain, err_asi = [], []
for s in scales:
    net = mlp((2048, 1), "tanh", init="ntk", sigma_w=s, sigma_b=1.0)
    for use_asi, errs in ((False, err_plain), (True, err_asi)):
        m = asi(net) if use_asi else net
        p = m.init(jax.random.key(2), x_train)
        out = predict_linearized(m, p, x_train, y_train[:, None], jnp.inf, x_test)
        errs.append(float(jnp.mean((out.test[:, 0] - y_test) ** 2)))
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.plot(scales, err_plain, "o-", label="standard init")
ax.plot(scales, err_asi, "s-", label="ASI")
ax.set(xscale="log", yscale="log", xlabel="weight scale σ_w", ylabel="test MSE at t = ∞ (NTK regime)")
ax.legend()
print("test MSE, plain:", np.round(err_plain, 4))
print("test MSE, ASI:  ", np.round(err_asi, 4))
