"""Write the tutorial notebooks of ``notebooks/`` (stored without outputs).

Run ``uv run python notebooks/make_notebooks.py`` after editing the cells below; ``tests/test_notebooks.py``
executes every notebook. Each one runs in well under a minute on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


# ------------------------------------------------------------------------------------------------
# 1. The F-Principle in 1-D and 2-D
# ------------------------------------------------------------------------------------------------

NB1 = [
    md(r"""
# The frequency principle in 1-D and 2-D

*DNNs often fit target functions from low to high frequencies during training* (Xu, Zhang, Xiao 2018;
Rahaman et al. 2018). This notebook shows it twice with `fpjax`:

1. a tanh network `1-200-100-100-50-1` fitting the 61-point equal-amplitude curve
   $y = \sin x + \sin 3x + \sin 5x$ on $[-\pi, \pi)$, watched through the relative error of each peak
   of the spectrum, $\Delta_F(k) = |\hat h(k) - \hat y(k)| / |\hat y(k)|$;
2. a ReLU MLP fitting a real photograph $I(\mathbf x)$, $\mathbf x \in [0, 1]^2$: blurry first,
   details later, measured by the relative error of radial frequency bands of the 2-D spectrum.

Seeds are trained together: `fpjax.train.sweep` vmaps a jitted training loop over PRNG keys (and shards
it over all devices when there are several). The experiments `fpjax run fp-1d` and
`fpjax run fp-2d-image` are the full versions of these cells.
"""),
    code(r"""
import numpy as np
import jax
import jax.numpy as jnp
import optax
import matplotlib.pyplot as plt

from fpjax.models import mlp
from fpjax.train import fit, sweep
from fpjax.spectrum import grid_fft, coeffs_at, relative_error
from fpjax.data import load_sample_photo

print("jax", jax.__version__, "devices:", jax.devices())
"""),
    md(r"""
## 1-D: peaks converge in order of frequency

61 samples of one period, so the discrete spectrum of the samples has exactly three peaks,
at $k = 1, 3, 5$ cycles per period. `fit` records the network on the samples every 10 steps inside one
`lax.scan`; `sweep` runs three seeds at once.
"""),
    code(r"""
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
"""),
    code(r"""
ks = np.array([1, 3, 5])
freqs, y_hat = grid_fft(y.astype(np.float32), x.astype(np.float32))   # continuous-transform units
_, h_hat = grid_fft(h, x.astype(np.float32))
delta = np.asarray(relative_error(coeffs_at(h_hat, ks), coeffs_at(y_hat, ks)))   # (seeds, records, 3)

thr = 0.05
first = np.where((delta <= thr).any(1), steps[np.argmax(delta <= thr, axis=1)], np.inf)
print("step at which Δ_F(k) first drops below", thr, "(rows: seeds, columns: k = 1, 3, 5)")
print(first)

fig, ax = plt.subplots(figsize=(6, 3.5))
for j, k in enumerate(ks):
    ax.plot(np.maximum(steps, 5), np.median(delta[:, :, j], 0), label=f"k = {k}")
ax.axhline(thr, ls=":", color="k")
ax.set(xscale="log", yscale="log", xlabel="step", ylabel="Δ_F(k) (median over seeds)")
ax.legend();
"""),
    md(r"""
The network output at the steps where each peak converged: the smooth $\sin x$ part is there after a
few dozen steps, $\sin 5x$ only after several hundred.
"""),
    code(r"""
med = np.median(first, 0)
fig, axes = plt.subplots(1, 3, figsize=(11, 3), sharey=True)
for ax, k, m in zip(axes, ks, med):
    i = min(int(np.searchsorted(steps, m)), len(steps) - 1)
    ax.plot(x, y, "o", ms=2.5, color="0.5", label="samples")
    ax.plot(x, h[0, i], color="C3", label="network (seed 0)")
    ax.set_title(f"step {steps[i]}: Δ_F(k={k}) ≤ {thr}")
axes[0].legend(fontsize=8);
"""),
    md(r"""
## 2-D: a photograph, from blurry to detailed

scikit-learn ships a photograph (`china.jpg`); `fpjax.data.load_sample_photo` returns it in grey. Pixel
$(i, j)$ of the downsampled image sits at $\mathbf x = (i/H, j/W)$ and the MLP learns $I(\mathbf x)$.
"""),
    code(r"""
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
"""),
    md(r"""
Radially binned relative error of the 2-D spectrum,
$E_b(t) = \big(\sum_{\xi \in b} |\hat h_t(\xi) - \hat I(\xi)|^2 / \sum_{\xi\in b} |\hat I(\xi)|^2\big)^{1/2}$.
A Tukey window (`grid_fft(..., window="tukey")`) keeps the jump between opposite edges of the
non-periodic photograph from leaking into every band.
"""),
    code(r"""
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
"""),
]


# ------------------------------------------------------------------------------------------------
# 2. Initialization bias and the antisymmetric initialization trick
# ------------------------------------------------------------------------------------------------

NB2 = [
    md(r"""
# Initialization bias of kernel regression, and ASI

In the linear (NTK) regime a network trained on MSE converges to
$h_k(\cdot; h_{ini}, X, Y) = h_{ini} + K(\cdot, X) K(X,X)^{-1} (Y - h_{ini}(X))$, with $h_{ini}$ the
network at initialization and $K$ its tangent kernel (Zhang, Xu, Luo, Ma 2020).

* **Theorem 2** $h_k(\cdot; h_{ini}, X, Y) = h_k(\cdot; 0, X, Y) + [h_{ini} - h_k(\cdot; 0, X, h_{ini}(X))]$:
  an *unbiased fit* plus a *bias* made of what the kernel cannot see of $h_{ini}$ from its values at
  $X$ — mostly its high frequencies.
* **Theorem 3** for a mean-zero random $h_{ini}$:
  $\mathbb E\|h_k - f\|^2 = \|h_k(\cdot;0,X,f(X)) - f\|^2 + \mathbb E\|h_k(\cdot;0,X,h_{ini}(X)) - h_{ini}\|^2$.
* **ASI** $h_{ASI} = \tfrac{\sqrt2}{2}(h(x;\theta) - h(x;\theta'))$, $\theta'(0) = \theta(0)$: zero at
  initialization with the same tangent kernel, so the bias term disappears.

Tools: `fpjax.theory.init_bias`, `fpjax.ntk`, `fpjax.models.asi`.
"""),
    code(r"""
import numpy as np
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt

from fpjax.models import mlp, asi
from fpjax.ntk import empirical_ntk, linearized_flow
from fpjax.theory import init_bias

f = lambda x: jnp.sin(np.pi * x)
x_train = jnp.linspace(-1, 1, 8)[:, None]
x_test = (-1 + 2 * jnp.arange(400) / 400)[:, None]
y_train, y_test = f(x_train)[:, 0], f(x_test)[:, 0]
"""),
    md(r"""
## Theorem 2 for one network

A one-hidden-layer tanh network in NTK parameterization with a large weight scale $\sigma_w = 8$, so that
its initial function is large and rough, fitted to 8 samples of $\sin \pi x$. `network_decomposition` uses the network's empirical NTK at init.
"""),
    code(r"""
model = mlp((2048, 1), "tanh", init="ntk", sigma_w=8.0, sigma_b=1.0)
params = model.init(jax.random.key(0), x_train)
dec = init_bias.network_decomposition(model, params, x_train, y_train, x_test, kernel="empirical")
h_ini = model.apply(params, x_test)[:, 0]

print("Theorem 2, max |total - (unbiased + bias)| =", float(jnp.max(jnp.abs(dec.total - dec.unbiased - dec.bias))))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
axes[0].plot(x_test, h_ini, color="0.6", label="h_ini (network at init)")
axes[0].plot(x_test, dec.total, color="C3", label="h_k(·; h_ini): trained, NTK regime")
axes[0].plot(x_train, y_train, "ko", ms=4, label="training data")
axes[1].plot(x_test, dec.unbiased, color="C0", label="unbiased fit h_k(·; 0)")
axes[1].plot(x_test, dec.bias, color="C2", label="bias h_ini − h_k(·; 0, X, h_ini(X))")
axes[1].plot(x_train, y_train, "ko", ms=4)
for a in axes:
    a.legend(fontsize=7)
"""),
    md(r"""
## Theorem 3 by Monte Carlo over initializations

`theorem3_monte_carlo` draws inits in one vmapped sweep; with `kernel="infinite"` the kernel is the
architecture's infinite-width NTK (neural-tangents), fixed, and the identity holds exactly in
expectation. `diff` is the paired mean of $\|h_k - f\|^2 - \|A\|^2 - \|B\|^2$ with its standard error.
"""),
    code(r"""
small = mlp((512, 1), "tanh", init="ntk", sigma_w=8.0, sigma_b=1.0)
r3 = init_bias.theorem3_monte_carlo(small, jax.random.key(1), x_train, y_train, x_test, y_test,
                                    n_inits=128, kernel="infinite")
print(f"E||h_k - f||^2           = {r3.lhs:.4f} ± {r3.lhs_se:.4f}")
print(f"unbiased + E bias error  = {r3.unbiased:.4f} + {r3.bias:.4f} = {r3.rhs:.4f} ± {r3.rhs_se:.4f}")
print(f"paired difference        = {r3.diff:.2e} ± {r3.diff_se:.2e}  (z = {r3.z:.2f})")
"""),
    md(r"""
## ASI removes the bias, keeps the kernel

The ASI network is exactly zero at initialization and has the same tangent kernel as the network it
is built from. With the kernel fixed (linearized training to $t = \infty$), its limit is the unbiased
fit: the test error no longer grows with the initialization scale.
"""),
    code(r"""
m_asi = asi(model)
p_asi = m_asi.init(jax.random.key(0), x_train)
print("max |h_ASI| at init:", float(jnp.max(jnp.abs(m_asi.apply(p_asi, x_test)))))
k_base = empirical_ntk(model, params, x_train)
k_asi = empirical_ntk(m_asi, p_asi, x_train)
print("relative kernel difference:", float(jnp.linalg.norm(k_asi - k_base) / jnp.linalg.norm(k_base)))
"""),
    code(r"""
scales = [1.0, 2.0, 4.0, 8.0, 16.0]
err_plain, err_asi = [], []
for s in scales:
    net = mlp((2048, 1), "tanh", init="ntk", sigma_w=s, sigma_b=1.0)
    for use_asi, errs in ((False, err_plain), (True, err_asi)):
        m = asi(net) if use_asi else net
        p = m.init(jax.random.key(2), x_train)
        out = linearized_flow(m, p, x_train, y_train[:, None], jnp.inf, x_test=x_test)
        errs.append(float(jnp.mean((out.test[:, 0] - y_test) ** 2)))
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.plot(scales, err_plain, "o-", label="standard init")
ax.plot(scales, err_asi, "s-", label="ASI")
ax.set(xscale="log", yscale="log", xlabel="weight scale σ_w", ylabel="test MSE at t = ∞ (NTK regime)")
ax.legend()
print("test MSE, plain:", np.round(err_plain, 4))
print("test MSE, ASI:  ", np.round(err_asi, 4))
"""),
]


# ------------------------------------------------------------------------------------------------
# 3. Theorem 5.1: predicted vs measured
# ------------------------------------------------------------------------------------------------

NB3 = [
    md(r"""
# Theorem 5.1: the Fourier picture of gradient flow through the tangent kernel

For a model trained by gradient flow on $C = \sum_i c(f(x_i), y_i)$,
$\partial_t f(x) = -\sum_i K_\theta(x, x_i)\, \partial c / \partial f(x_i)$. Restricting to a box
$K \supset \{x_i\}$ and Fourier transforming,

$$\partial_t \hat f(\xi) = -\sum_i \hat K_\theta(\xi, x_i)\, \frac{\partial c}{\partial f(x_i)}, \qquad
\hat K_\theta(\xi, x_i) = \int_K K_\theta(x, x_i) e^{-2\pi i \xi x} dx \xrightarrow{|\xi| \to \infty} 0 .$$

`fpjax.theory.tangent_fourier` computes the right-hand side from the empirical NTK on a grid
(*predicted*) and the left-hand side from the model itself, never using the kernel (*measured*: a
central difference along a small gradient step, or the diffrax gradient flow at tiny $t$).
"""),
    code(r"""
import numpy as np
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt

from fpjax.models import mlp
from fpjax.theory import tangent_fourier as tf

x = jnp.linspace(-1, 1, 16)[:, None]
y = jnp.sin(2 * jnp.pi * x[:, 0])
model = mlp((64, 64, 1), "tanh", init="standard", sigma_w=1.5, sigma_b=0.3)
params = model.init(jax.random.key(0), x)
res = tf.tangent_fourier(model, params, x, y, grid_size=512, methods=("finite_difference", "ode"))
for m, e in res.rel_error.items():
    print(f"{m:>17}: relative L2 difference predicted vs measured = {e:.2e}  (step {res.step[m]:.2e})")
"""),
    code(r"""
freqs = np.asarray(res.freqs)
pos = freqs > 0
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].plot(freqs[pos], np.abs(np.asarray(res.predicted))[pos], lw=3, color="0.7", label="predicted −Σ K̂ ∂c/∂f")
for m, v in res.measured.items():
    axes[0].plot(freqs[pos], np.abs(np.asarray(v))[pos], lw=1, label=f"measured ({m})")
axes[0].set(xscale="log", yscale="log", xlabel="ξ", ylabel="|∂_t f̂(ξ)|")
axes[0].legend(fontsize=8)
ratio = np.asarray(res.ratio["finite_difference"])
axes[1].plot(freqs[pos], np.abs(ratio[pos]), ".", ms=3)
axes[1].set(xscale="log", xlabel="ξ", ylabel="|measured / predicted|", ylim=(0.9, 1.1))
axes[1].set_title("agreement per frequency");
"""),
    md(r"""
## Riemann–Lebesgue in practice: decay of $|\hat K_\theta|$ per activation

`kernel_spectrum` gives $\hat K_\theta(\xi, x_i)$ on the grid and `fit_decay` fits a power law
$|\xi|^{-\alpha}$ and an exponential $e^{-\beta|\xi|}$ to its high-frequency tail (least squares on
$\log|\hat K|$; the smaller residual wins). The hard box of the theorem adds a $\approx 1/|\xi|$ tail from
its edges to every kernel; a smooth Gaussian window exposes the kernel's own smoothness: the tangent
kernels of smooth activations (tanh, sine) decay exponentially, ReLU's (which has kinks) as a power
law. Theory against theory runs in float64 (`jax.enable_x64`): in float32 the tails hit rounding at
$\sim 10^{-7}$ of the peak.
"""),
    code(r"""
fig, ax = plt.subplots(figsize=(6, 3.8))
with jax.enable_x64(True):
    x64 = jnp.linspace(-1, 1, 16, dtype=jnp.float64)[:, None]
    for act in ["relu", "tanh", "sine"]:
        net = mlp((64, 64, 1), act, init="standard", sigma_w=1.5, sigma_b=0.3)
        p = net.init(jax.random.key(0), x64)
        for window in (None, "gaussian"):
            spec = tf.kernel_spectrum(net, p, x64, grid_size=1024, window=window)
            d = tf.fit_decay(spec.freqs, spec.kernel_hat)
            print(f"{act:>5}, window={str(window):>8}: {d.choice:>11} (α = {d.alpha:5.2f}, β = {d.beta:.3f}) "
                  f"on ξ in [{d.band[0]:.1f}, {d.band[1]:.1f}]")
        amp = np.sqrt(np.mean(np.abs(np.asarray(spec.kernel_hat)) ** 2, axis=0))
        f_ = np.asarray(spec.freqs)
        ax.plot(f_[f_ > 0], amp[f_ > 0], label=act)
ax.set(xscale="log", yscale="log", xlabel="ξ", ylabel="RMS_i |K̂_θ(ξ, x_i)| (Gaussian window)")
ax.legend(fontsize=8);
"""),
]


def write(name: str, cells) -> Path:
    for i, cell in enumerate(cells):
        cell["id"] = f"c{i:02d}"   # fixed ids: regenerating gives the same files
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    path = HERE / name
    nbformat.write(nb, path)
    return path


NOTEBOOKS = {
    "01_frequency_principle_1d_2d.ipynb": NB1,
    "02_initialization_bias_asi.ipynb": NB2,
    "03_theorem_5_1_tangent_fourier.ipynb": NB3,
}

if __name__ == "__main__":
    for fname, cells in NOTEBOOKS.items():
        print("wrote", write(fname, cells))
