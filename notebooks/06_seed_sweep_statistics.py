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

from fpjax.models import mlp
from fpjax.train import fit, sweep
from fpjax.spectrum import (grid_fft, coeffs_at, relative_error, convergence_times, plot_convergence_times,
                            plot_relative_error_heatmap)

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
# Two definitions, which can differ a lot: the first record at which Δ_F(k) < threshold
# ("first below"), and the first record from which it stays below until the end ("stays below").
# `fpjax.spectrum.convergence_times` computes both per seed and frequency, flags seeds that never get
# there (*censored*) or are already below at step 0, and summarizes over seeds with a Student-t
# confidence interval; `plot_convergence_times` draws every seed and the mean.

# %%
thr = 0.05
ct = convergence_times(delta, thr, steps=steps, freqs=ks)
print("already below at step 0 (seed, k):", np.argwhere(ct.at_step0).tolist())
print("censored (never below):", int(ct.first_censored.sum()))
for name, summ in (("first below", ct.first), ("stays below", ct.stays)):
    for j, k in enumerate(ks):
        print(f"{name:>11}, k = {k}: {summ.mean[j]:7.1f} ± {summ.std[j]:6.1f} steps   "
              f"95% CI [{summ.ci_low[j]:.0f}, {summ.ci_high[j]:.0f}]")
plot_convergence_times(ct, xlabel="frequency k (cycles per period)")

# %% [markdown]
# ## Your own spectral test
#
# A test of the frequency principle asserts something that could fail. `fpjax.testing` has the
# assertions, each raising an `AssertionError` with a table of frequency, measured and expected
# values: here, for every seed, no higher peak may converge before a lower one. Written as a plain
# pytest function it runs here and in `tests/` (the how-to "Compare spectra in a pytest test" has
# more). A perturbed case — the frequencies swapped — must make it fail.

# %%
from fpjax.testing import assert_frequency_order, assert_seed_fraction


def test_low_frequencies_first():
    assert_frequency_order(delta, ks, threshold=thr, rule="first", steps=steps)


def test_k1_converges_within_200_steps_in_most_seeds():
    assert_seed_fraction(ct.first_step[:, 0] <= 200, fraction=0.75, claim="k = 1 below 0.05 by step 200")


test_low_frequencies_first()
test_k1_converges_within_200_steps_in_most_seeds()
print("passed: every seed fits k = 1, 3, 5 in this order")
try:
    assert_frequency_order(delta[..., ::-1], ks, threshold=thr, rule="first", steps=steps)
except AssertionError as err:
    print("perturbed case fails as it should:\n", str(err)[:900])
else:
    raise RuntimeError("the swapped order was not detected")
