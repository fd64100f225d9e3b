# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Empirical → infinite NTK with width
#
# The empirical tangent kernel K_θ(x, x′) = ∇_θ f(x) · ∇_θ f(x′) of a randomly initialized one-hidden-layer
# ReLU network in NTK parameterization converges, as every width m → ∞, to a deterministic kernel K_∞ (Jacot,
# Gabriel, Hongler 2018, arXiv:1806.07572), computed analytically by neural-tangents (Novak et al.
# 2019, arXiv:1912.02803). Its fluctuations are O(m^(−1/2)): the relative error
# ‖K_θ − K_∞‖_F / ‖K_∞‖_F should fall by a factor 2 for every factor 4 in width.
#
# `fpjax.ntk.empirical_ntk` computes K_θ (a fast exact path for fpjax MLPs) and
# `fpjax.ntk.infinite_ntk` the limit from the model's own `kernel_fn`: the same `Model` object gives
# both.

# %%
# %matplotlib inline
import numpy as np
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt

from fpjax.models import mlp
from fpjax.ntk import empirical_ntk, infinite_ntk
from fpjax.spectrum import grid_fft, plot_spectrum

n = 64
x = (-1 + 2 * jnp.arange(n) / n)[:, None]          # one period [−1, 1) of a uniform grid
widths = [64, 256, 1024, 4096, 16384]
seeds = 8
k_inf = infinite_ntk(mlp((64, 1), "relu", init="ntk"), x)   # the limit does not depend on the width

errors, kernels = {}, {}
for m in widths:
    model = mlp((m, 1), "relu", init="ntk")   # one hidden layer of width m
    ks = [empirical_ntk(model, model.init(key, x), x) for key in jax.random.split(jax.random.key(0), seeds)]
    kernels[m] = ks[0]
    errors[m] = [float(jnp.linalg.norm(k - k_inf) / jnp.linalg.norm(k_inf)) for k in ks]
    print(f"width {m:>5}: relative error {np.mean(errors[m]):.4f} ± {np.std(errors[m], ddof=1):.4f} over {seeds} seeds")

# %% [markdown]
# ## The m^(−1/2) law
#
# A least-squares line through log mean error against log width; its slope should be close to −1/2.
# The spread between seeds is large (a few random directions dominate the error), so the law shows
# in the mean over seeds, not in every seed.

# %%
mean_err = np.array([np.mean(errors[m]) for m in widths])
slope, intercept = np.polyfit(np.log(widths), np.log(mean_err), 1)
print(f"fitted exponent: {slope:.3f} (theory −0.5)")
fig, ax = plt.subplots(figsize=(5.5, 3.5))
for m in widths:
    ax.plot([m] * seeds, errors[m], "o", color="0.6", ms=3)
ax.plot(widths, mean_err, "s-", label="mean over seeds")
ax.plot(widths, np.exp(intercept) * np.asarray(widths, float) ** -0.5, "k--", label="∝ m^(−1/2)")
ax.set(xscale="log", yscale="log", xlabel="width m", ylabel="‖K_θ − K_∞‖_F / ‖K_∞‖_F")
ax.legend()
assert -0.7 < slope < -0.3

# %% [markdown]
# ## In frequency
#
# The kernel's row K(·, x₀) at the centre point, transformed with `grid_fft` over the period: the
# empirical kernels approach the infinite-width spectrum at every frequency, the narrow ones with a
# noisy high-frequency floor. The decay of this spectrum is what makes low frequencies train first.

# %%
row = n // 2
freqs, spec_inf = grid_fft(k_inf[:, row], x[:, 0])
specs = [grid_fft(kernels[m][:, row], x[:, 0])[1] for m in widths]
pos = np.asarray(freqs) > 0
plot_spectrum(np.asarray(freqs)[pos], np.stack([np.asarray(s)[pos] for s in specs] + [np.asarray(spec_inf)[pos]]),
              labels=[f"empirical, m = {m}" for m in widths] + ["infinite width"],
              ylabel="|K̂(ξ, x₀)|", title="tangent kernel spectrum vs width")
