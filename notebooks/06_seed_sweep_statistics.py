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
# # A seed sweep with convergence-time statistics, and your own spectral tests
#
# One seed shows a tendency; a claim about training needs many. This notebook trains 8 seeds of a
# tanh network on y = sin x + sin 3x + sin 5x in one vmapped `fpjax.train.sweep`, measures for each
# seed and frequency when the relative error Δ_F(k) = |ĥ(k) − ŷ(k)| / |ŷ(k)| (Xu, Zhang, Luo, Xiao,
# Ma 2019, arXiv:1901.06523) crosses a threshold, summarizes these times over seeds with a
# confidence interval, and turns the frequency principle into a test that can fail.

# %%
# %matplotlib inline
import numpy as np
import jax
import jax.numpy as jnp
import optax
import matplotlib.pyplot as plt

from fpjax.models import mlp
from fpjax.train import fit, sweep
from fpjax.spectrum import grid_fft, coeffs_at, relative_error, plot_relative_error_heatmap

n = 61
x = -np.pi + 2 * np.pi * np.arange(n) / n            # one period, endpoint excluded
y = np.sin(x) + np.sin(3 * x) + np.sin(5 * x)
xj, yj = jnp.asarray(x, jnp.float32)[:, None], jnp.asarray(y, jnp.float32)[:, None]
model = mlp((100, 100, 1), "tanh", init="xavier")

def one_seed(key):
    r = fit(model.apply, model.init(key, xj), xj, yj, optimizer=optax.adam(2e-3), steps=1500,
            record=lambda p: model.apply(p, xj)[:, 0], record_every=10)
    return r.records, r.record_steps

res = sweep(one_seed, jax.random.split(jax.random.key(0), 8), chunk_size=4)
h = np.asarray(res.outputs[0])                      # (seeds, records, n)
steps = np.asarray(res.outputs[1][0])               # the record steps are the same for every seed
print(res.n_seeds, "seeds,", int(res.diverged.sum()), "diverged; records:", h.shape)

# %% [markdown]
# `sweep` also checkpoints and resumes: pass `checkpoint_dir=` and a rerun loads the finished chunks
# instead of recomputing them (see the how-to "Run a seed sweep and resume it").
#
# ## Δ_F(k) per seed
#
# Frequencies of a grid over one period of length L are ξ_k = k / L cycles per unit length; here
# L = 2π, so the peaks of sin kx sit at index k = 1, 3, 5.

# %%
ks = np.array([1, 3, 5])
_, y_hat = grid_fft(y.astype(np.float32), x.astype(np.float32))
_, h_hat = grid_fft(h, x.astype(np.float32))
delta = np.asarray(relative_error(coeffs_at(h_hat, ks), coeffs_at(y_hat, ks)))   # (seeds, records, 3)
plot_relative_error_heatmap(np.median(delta, 0), steps, ks, title="Δ_F(k), median over 8 seeds")

# %% [markdown]
# ## Convergence times
#
# Two definitions, which can differ a lot: the first record at which Δ_F(k) ≤ threshold
# ("first below"), and the first record after which it stays below until the end ("stays below").
# A seed that never gets there is *censored* (time = ∞); a seed already below at step 0 is flagged.

# %%
thr = 0.05
below = delta <= thr                                                  # (seeds, records, 3)
first = np.where(below.any(1), steps[np.argmax(below, axis=1)], np.inf)
stays_idx = below.shape[1] - np.argmax(~below[:, ::-1], axis=1)       # first index of the final run of True
stays = np.where(below[:, -1], steps[np.minimum(stays_idx, len(steps) - 1)], np.inf)
stays = np.where(below.all(1), steps[0], stays)
at_zero = below[:, 0]
print("already below at step 0 (seed, k):", np.argwhere(at_zero).tolist())
print("censored (never below):", int(np.isinf(first).sum()))


def summary(t, conf_z=2.365):   # Student t, 7 degrees of freedom, 95 %
    mean, sd = t.mean(0), t.std(0, ddof=1)
    half = conf_z * sd / np.sqrt(t.shape[0])
    return mean, sd, mean - half, mean + half


for name, t in (("first below", first), ("stays below", stays)):
    mean, sd, lo, hi = summary(t)
    for j, k in enumerate(ks):
        print(f"{name:>11}, k = {k}: {mean[j]:7.1f} ± {sd[j]:6.1f} steps   95% CI [{lo[j]:.0f}, {hi[j]:.0f}]")

fig, ax = plt.subplots(figsize=(6, 3.4))
for j, k in enumerate(ks):
    ax.plot(first[:, j], np.full(first.shape[0], k) - 0.12, "o", color=f"C{j}", ms=4)
    ax.plot(stays[:, j], np.full(stays.shape[0], k) + 0.12, "s", mfc="none", color=f"C{j}", ms=4)
ax.set(xlabel="step", ylabel="frequency k", yticks=ks, title="per seed: first below (●), stays below (□)");

# %% [markdown]
# ## Your own spectral test
#
# A test of the frequency principle asserts something that could fail: for every seed, each higher
# peak must first get below the threshold strictly later than the lower one. Written as a plain
# pytest function, it runs here and in `tests/`. A perturbed case — the peaks swapped — must make it
# fail, with a message naming the frequency and both values.

# %%
def assert_frequency_order(times, ks, *, frac=1.0):
    """Low frequencies converge first: times (seeds, K) strictly increase along K for ≥ frac of seeds."""
    times = np.asarray(times, float)
    ordered = np.all(np.diff(times, axis=1) > 0, axis=1)
    if ordered.mean() < frac:
        bad = int(np.argmin(ordered))
        j = int(np.argmin(np.diff(times[bad])) + 1)
        raise AssertionError(f"seed {bad}: k = {ks[j]} converged at step {times[bad, j]:.0f}, "
                             f"not after k = {ks[j - 1]} (step {times[bad, j - 1]:.0f}); "
                             f"{ordered.sum()}/{len(ordered)} seeds in order")


def test_low_frequencies_first():
    assert_frequency_order(first, ks)


test_low_frequencies_first()
print("passed: every seed fits k = 1, 3, 5 in this order")
try:
    assert_frequency_order(first[:, ::-1], ks[::-1])
except AssertionError as err:
    print("perturbed case fails as it should:", err)
else:
    raise RuntimeError("the swapped order was not detected")
