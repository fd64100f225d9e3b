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
# # The frequency principle in 1-D and 2-D
#
# *DNNs often fit target functions from low to high frequencies during training* (Xu, Zhang, Xiao 2018;
# Rahaman et al. 2018). This notebook shows it twice with `fpjax`:
#
# 1. a tanh network `1-200-100-100-50-1` fitting the 61-point equal-amplitude curve
#    y = sin x + sin 3x + sin 5x on [−π, π), watched through the relative error of each peak
#    of the spectrum, Δ_F(k) = |ĥ(k) − ŷ(k)| / |ŷ(k)|;
# 2. a ReLU MLP fitting a real photograph I(**x**), **x** ∈ [0, 1]²: blurry first,
#    details later, measured by the relative error of radial frequency bands of the 2-D spectrum.
#
# Seeds are trained together: `fpjax.train.sweep` vmaps a jitted training loop over PRNG keys (and shards
# it over all devices when there are several). The experiments `fpjax run fp-1d` and
# `fpjax run fp-2d-image` are the full versions of these cells.

# %%
# %matplotlib inline
import numpy as np
import jax
import jax.numpy as jnp
import optax
import matplotlib.pyplot as plt

from fpjax.models import mlp
from fpjax.train import fit, sweep
from fpjax.spectrum import grid_fft, coeffs_at, relative_error, plot_relative_error_heatmap, plot_spectrum
from fpjax.data import load_sample_photo

print("jax", jax.__version__, "devices:", jax.devices())

# %% [markdown]
# ## 1-D: peaks converge in order of frequency
#
# 61 samples of one period, so the discrete spectrum of the samples has exactly three peaks,
# at k = 1, 3, 5 cycles per period. `fit` records the network on the samples every 10 steps inside one
# `lax.scan`; `sweep` runs three seeds at once.

# %%
n = 61
x = -np.pi + 2 * np.pi * np.arange(n) / n
y = np.sin(x) + np.sin(3 * x) + np.sin(5 * x)
xj, yj = jnp.asarray(x, jnp.float32)[:, None], jnp.asarray(y, jnp.float32)[:, None]
model = mlp((200, 100, 100, 50, 1), "tanh", init="xavier")

def one_seed(key):
    r = fit(model.apply, model.init(key, xj), xj, yj, optimizer=optax.adam(1e-3), steps=1200,
            record=lambda p: model.apply(p, xj)[:, 0], record_every=10)
    return r.records, r.record_steps

res = sweep(one_seed, jax.random.split(jax.random.key(0), 3))
h, steps = np.asarray(res.outputs[0]), np.asarray(res.outputs[1][0])   # h: (seeds, records, n)
print(res, h.shape)

# %%
ks = np.array([1, 3, 5])
freqs, y_hat = grid_fft(y.astype(np.float32), x.astype(np.float32))   # continuous-transform units
_, h_hat = grid_fft(h, x.astype(np.float32))
delta = np.asarray(relative_error(coeffs_at(h_hat, ks), coeffs_at(y_hat, ks)))   # (seeds, records, 3)

thr = 0.05
first = np.where((delta <= thr).any(1), steps[np.argmax(delta <= thr, axis=1)], np.inf)
print("step at which Δ_F(k) first drops below", thr, "(rows: seeds, columns: k = 1, 3, 5)")
print(first)

plot_relative_error_heatmap(np.median(delta, 0), steps, ks,
                            title="Δ_F(k), median over seeds: the k = 1 row darkens first")

# %% [markdown]
# The network output at the steps where each peak converged: the smooth sin x part is there after a
# few dozen steps, sin 5x only after several hundred.

# %%
med = np.median(first, 0)
fig, axes = plt.subplots(1, 3, figsize=(11, 3), sharey=True)
for ax, k, m in zip(axes, ks, med):
    i = min(int(np.searchsorted(steps, m)), len(steps) - 1)
    ax.plot(x, y, "o", ms=2.5, color="0.5", label="samples")
    ax.plot(x, h[0, i], color="C3", label="network (seed 0)")
    ax.set_title(f"step {steps[i]}: Δ_F(k={k}) ≤ {thr}")
axes[0].legend(fontsize=8);

# %% [markdown]
# ## 2-D: a photograph, from blurry to detailed
#
# scikit-learn ships a photograph (`china.jpg`); `fpjax.data.load_sample_photo` returns it in grey. Pixel
# (i, j) of the downsampled image sits at **x** = (i/H, j/W) and the MLP learns I(**x**).

# %%
H, W = 24, 36
img = np.asarray(jax.image.resize(jnp.asarray(load_sample_photo("china")), (H, W), "linear", antialias=True))
ay, ax_ = np.arange(H, dtype=np.float32) / H, np.arange(W, dtype=np.float32) / W
pts = jnp.asarray(np.stack(np.meshgrid(ay, ax_, indexing="ij"), -1).reshape(-1, 2))
target = jnp.asarray(img.reshape(-1, 1))
net = mlp((96, 96, 96, 1), "relu", init="xavier")

r = fit(net.apply, net.init(jax.random.key(1), pts), pts, target, optimizer=optax.adam(1e-3), steps=1500,
        record=lambda p: net.apply(p, pts)[:, 0].reshape(H, W), record_every=25)
outs, st = np.asarray(r.records), np.asarray(r.record_steps)

show = [1, 4, 12, 30, len(st) - 1]
fig, axes = plt.subplots(1, len(show) + 1, figsize=(14, 2.2))
axes[0].imshow(img, cmap="gray", vmin=0, vmax=1); axes[0].set_title("target")
for a, i in zip(axes[1:], show):
    a.imshow(np.clip(outs[i], 0, 1), cmap="gray", vmin=0, vmax=1); a.set_title(f"step {st[i]}")
for a in axes:
    a.axis("off")

# %% [markdown]
# Radially binned relative error of the 2-D spectrum,
# E_b(t) = ( Σ_{ξ∈b} |ĥ_t(ξ) − Î(ξ)|² / Σ_{ξ∈b} |Î(ξ)|² )^½.
# A Tukey window (`grid_fft(..., window="tukey")`) keeps the jump between opposite edges of the
# non-periodic photograph from leaking into every band.

# %%
(fy, fx), I_hat = grid_fft(img, (ay, ax_), window="tukey")
_, h2_hat = grid_fft(outs, (ay, ax_), window="tukey")
radius = np.hypot(np.asarray(fy)[:, None], np.asarray(fx)[None, :])
edges = [0, 3, 6, 9, np.inf]
E = np.stack([np.sqrt((np.abs(np.asarray(h2_hat) - np.asarray(I_hat))[:, (radius >= lo) & (radius < hi)] ** 2).sum(-1)
                      / (np.abs(np.asarray(I_hat))[(radius >= lo) & (radius < hi)] ** 2).sum())
              for lo, hi in zip(edges[:-1], edges[1:])], -1)
fig, ax = plt.subplots(figsize=(6, 3.5))
for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
    ax.plot(np.maximum(st, 10), E[:, b], label=f"|ξ| in [{lo}, {hi})")
ax.set(xscale="log", yscale="log", xlabel="step", ylabel="E_b")
ax.legend(fontsize=8)
print("final band errors:", E[-1].round(3))

# %% [markdown]
# The radial spectrum of the target and of the network at a few steps (`plot_spectrum`): the low
# radial frequencies match early, the high ones later.

# %%
r_edges = np.arange(0, radius.max() + 1.0)
def radial(spec):
    a = np.abs(np.asarray(spec)) ** 2
    return np.sqrt([a[..., (radius >= lo) & (radius < lo + 1)].sum(-1) for lo in r_edges[:-1]]).T
plot_spectrum(r_edges[:-1] + 0.5, np.vstack([radial(I_hat)[None], radial(h2_hat[np.array(show[1:])])]),
              labels=["target"] + [f"step {st[i]}" for i in show[1:]], xlabel="radial frequency |ξ|",
              ylabel="band amplitude")
