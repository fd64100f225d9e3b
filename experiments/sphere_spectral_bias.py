"""sphere-spectral-bias: a ReLU network on S² learns spherical-harmonic degrees at the rates μ_ℓ of its NTK.

Setting: ``n_train`` points uniform on S² (:func:`fpjax.sphere.sample_sphere`), target
``y = Σ_{ℓ ∈ degrees} h_ℓ`` with ``h_ℓ`` a random real harmonic of degree ℓ and unit energy
``‖h_ℓ‖²_{L²(σ)} = 1`` (:func:`fpjax.sphere.real_sph_harm`, σ the uniform probability measure). A
two-layer ReLU MLP 3-``width``-1 in the NTK parameterisation with biases (``sigma_b``) is *centred*,
``g(θ, x) = f(θ, x) − f(θ₀, x)`` (same Jacobian, so the same NTK, but ``g(θ₀) = 0``), and trained by
full-batch gradient descent with step size ``η = learning_rate`` on ``L = (1/2n) Σ_i (g(x_i) − y_i)²``.

Time convention: ``t = η · steps``. Linearised at infinite width, ``ṙ = −(1/n) K r`` for the
residual ``r = g − y`` on the training points; ``K/n`` has the Funk–Hecke eigenvalues ``μ_ℓ`` of the
infinite-width NTK (:func:`fpjax.sphere.model_eigenvalues`) on the degree-ℓ harmonics, so the residual's
degree-ℓ part decays like ``exp(−μ_ℓ t)`` and its **energy** like ``E_ℓ(t) = exp(−2 μ_ℓ t) E_ℓ(0)``.

Measured: ``E_ℓ(t)`` of the residual ``g_t − y`` over the whole sphere, from the network's values on
a product quadrature of degree ``quad_degree`` (:func:`fpjax.sphere.degree_energy`); the time to learn
degree ℓ is the first ``t`` with ``E_ℓ(t)/E_ℓ(0) ≤ threshold`` (log-linear interpolation between
records); predicted ``t̂_ℓ = ln(1/threshold)/(2 μ_ℓ)``.

Claims computed from data:

1. degrees are learned in the order of μ_ℓ: sorting the degrees by ``t_ℓ`` gives the order of
   decreasing ``μ_ℓ`` (every degree must be learned within ``steps``);
2. the time to learn degree ℓ grows like ``1/μ_ℓ``: the least-squares slope ``p`` of ``log t_ℓ`` on
   ``log(1/μ_ℓ)`` has a 95% confidence interval (Student t, ``K − 2`` degrees of freedom) containing 1.

References: Bietti & Mairal (2019), arXiv:1905.12173; Basri, Jacobs, Kasten & Kritchman (2019),
arXiv:1906.00425; Basri et al. (2020), arXiv:2003.04560; Cao, Fang, Wu, Zhou & Gu (2019),
arXiv:1912.01198 (spectral bias on the sphere).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpjax.experiment import Config, Experiment, claim, new_figure, save_figure, seed_key

QUICK = {
    "n_train": 600,
    "degrees": [1, 2, 3, 4, 5],
    "width": 1024,
    "sigma_b": 0.5,
    "learning_rate": 1.0,
    "steps": 6000,
    "record_every": 25,
    "threshold": 0.1,  # energy fraction left when a degree counts as learned
    "quad_degree": 40,  # product quadrature on S² for the degree energies
}
FULL = dict(QUICK, n_train=4000, degrees=[1, 2, 3, 4, 5, 6], width=8192, steps=12000, record_every=20)
# The ledger's "cpu" scale (`fpjax run NAME --cpu`): between quick and full, the largest that
# runs in minutes on a 2-core CPU.
CPU = dict(QUICK, n_train=2000, width=2048)


def _target(cfg, key):
    import jax

    coefs = {}
    for j, ell in enumerate(cfg.degrees):
        c = np.asarray(jax.random.normal(jax.random.fold_in(key, j), (2 * ell + 1,)), np.float64)
        c /= np.linalg.norm(c)
        coefs[ell] = c
    return coefs


def _eval(coefs, x):
    from fpjax.sphere import real_sph_harm

    return sum(real_sph_harm(ell, x) @ c for ell, c in coefs.items())


def _crossing(t, ratio, thr):
    """First t with ratio ≤ thr, interpolating log(ratio) linearly between records; NaN if never."""
    below = np.nonzero(ratio <= thr)[0]
    if below.size == 0:
        return np.nan
    i = below[0]
    if i == 0:
        return float(t[0])
    la, lb = np.log(ratio[i - 1]), np.log(max(ratio[i], 1e-300))
    return float(t[i - 1] + (np.log(thr) - la) / (lb - la) * (t[i] - t[i - 1]))


def _train(cfg, model, x, y, xq, k_init):
    """Full-batch gradient descent on the centred network; records its values at the quadrature nodes."""
    import jax.numpy as jnp
    import optax

    from fpjax.train import fit

    xj, yj, xqj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)[:, None], jnp.asarray(xq, jnp.float32)
    p0 = model.init(k_init, xj)
    f0_train, f0_q = model.apply(p0, xj), model.apply(p0, xqj)

    def apply_c(p, xx):  # centred network on the (full-batch) training points: g(θ₀) = 0, same NTK
        return model.apply(p, xx) - f0_train

    r = fit(
        apply_c,
        p0,
        xj,
        yj,
        optimizer=optax.sgd(cfg.learning_rate),
        steps=cfg.steps,
        record=lambda p: (model.apply(p, xqj) - f0_q)[:, 0],
        record_every=cfg.record_every,
    )
    if bool(r.diverged):
        raise RuntimeError(f"training diverged at step {int(r.diverged_step)}; lower learning_rate")
    return r


def _exponent_fit(t_meas, mu_k):
    """``(slope, 95% CI low, high, intercept)`` of ``log t`` against ``log 1/μ`` (NaN below 3 learned degrees)."""
    import scipy.stats

    ok = np.isfinite(t_meas)
    if ok.sum() >= 3:
        lx, ly = np.log(1 / mu_k[ok]), np.log(t_meas[ok])
        fitres = scipy.stats.linregress(lx, ly)
        q = scipy.stats.t.ppf(0.975, ok.sum() - 2)
        slope, lo, hi = (
            float(fitres.slope),
            float(fitres.slope - q * fitres.stderr),
            float(fitres.slope + q * fitres.stderr),
        )
        intercept = float(fitres.intercept)
    else:
        slope = lo = hi = intercept = float("nan")
    return slope, lo, hi, intercept


def run(cfg: Config, out_dir: Path) -> dict:
    import jax
    import scipy.stats

    from fpjax.models import mlp
    from fpjax.sphere import (
        degree_energy,
        model_eigenvalues,
        sample_sphere,
        sphere_quadrature,
    )

    degrees = list(cfg.degrees)
    if len(degrees) < 3 or min(degrees) < 1 or len(set(degrees)) != len(degrees):
        raise ValueError(f"degrees must be >= 3 distinct degrees >= 1; got {degrees}")
    key = seed_key(cfg.seed)
    k_x, k_y, k_init = jax.random.split(key, 3)
    x = np.asarray(sample_sphere(cfg.n_train, 3, key=k_x), np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    coefs = _target(cfg, k_y)
    xq, wq = sphere_quadrature(cfg.quad_degree)
    y, yq = _eval(coefs, x), _eval(coefs, xq)

    model = mlp((cfg.width, 1), "relu", init="ntk", sigma_b=cfg.sigma_b)
    l_max = max(degrees) + 2
    mu = model_eigenvalues(model, 3, l_max).eigenvalues

    r = _train(cfg, model, x, y, xq, k_init)
    t = cfg.learning_rate * np.asarray(r.record_steps, np.float64)
    g = np.asarray(r.records, np.float64)  # (R, m)
    resid = (g - yq[None]).T  # (m, R)
    energy = degree_energy(xq, resid, l_max, weights=wq).energy  # (L+1, R)
    e = energy[degrees]  # (K, R)
    ratio = e / e[:, :1]
    mu_k = mu[degrees]
    thr = cfg.threshold
    t_meas = np.array([_crossing(t, ratio[j], thr) for j in range(len(degrees))])
    t_pred = np.log(1 / thr) / (2 * mu_k)

    ok = np.isfinite(t_meas)
    # claim 1: order
    rho = float(scipy.stats.spearmanr(t_meas[ok], 1 / mu_k[ok]).statistic) if ok.sum() >= 2 else float("nan")
    order_measured = [degrees[i] for i in np.argsort(t_meas)] if ok.all() else None
    order_mu = [degrees[i] for i in np.argsort(-mu_k, kind="stable")]
    held1 = bool(ok.all() and order_measured == order_mu)
    # claim 2: exponent
    slope, lo, hi, intercept = _exponent_fit(t_meas, mu_k)
    held2 = bool(ok.all() and lo <= 1.0 <= hi)

    _figures(out_dir, t, e, mu_k, degrees, t_meas, t_pred, slope, lo, hi, intercept, thr)
    ev1 = {
        "degrees": degrees,
        "mu": mu_k,
        "order_learned": order_measured,
        "order_of_mu": order_mu,
        "time_to_learn": t_meas,
        "spearman_time_vs_inv_mu": rho,
        "threshold": thr,
        "all_learned": bool(ok.all()),
    }
    ev2 = {
        "slope": slope,
        "ci95": [lo, hi],
        "time_measured": t_meas,
        "time_predicted": t_pred,
        "ratio_measured_over_predicted": t_meas / t_pred,
    }
    return {
        "degrees": degrees,
        "mu": mu_k,
        "mu_all": mu,
        "time_convention": "t = learning_rate * steps; energy ∝ exp(-2 mu t)",
        "final_loss": float(np.asarray(r.losses)[-1]),
        "final_energy_fraction": ratio[:, -1],
        "claims": [
            claim("degrees are learned in the order of the NTK eigenvalues μ_ℓ", held1, ev1),
            claim("time to learn degree ℓ grows like 1/μ_ℓ (fitted exponent's 95% CI contains 1)", held2, ev2),
        ],
    }


def _figures(out_dir, t, e, mu_k, degrees, t_meas, t_pred, slope, lo, hi, intercept, thr):
    fig = new_figure((6.6, 4.4))
    ax = fig.add_subplot()
    for j, ell in enumerate(degrees):
        ax.plot(t, e[j], color=f"C{j}", label=f"ℓ = {ell}  (μ = {mu_k[j]:.2e})")
        ax.plot(t, e[j, 0] * np.exp(-2 * mu_k[j] * t), color=f"C{j}", ls="--", lw=1)
        if np.isfinite(t_meas[j]):
            ax.plot([t_meas[j]], [thr * e[j, 0]], "o", color=f"C{j}", ms=4)
    ax.set_yscale("log")
    ax.set_ylim(max(1e-6, e.min() * 0.5), 2 * e.max())
    ax.set_xlabel("t = η · steps")
    ax.set_ylabel("residual energy E_ℓ(t)")
    ax.set_title("residual energy per degree: measured (solid) vs exp(−2 μ_ℓ t) E_ℓ(0) (dashed)", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, out_dir / "sphere_residual_energy.png")

    fig = new_figure((5.2, 4.2))
    ax = fig.add_subplot()
    inv = 1 / mu_k
    ax.loglog(inv, t_meas, "o", label="measured")
    ax.loglog(inv, t_pred, "x", color="0.4", label="linear theory ln(1/thr)/(2μ)")
    if np.isfinite(slope):
        xx = np.geomspace(inv.min(), inv.max(), 50)
        ax.loglog(
            xx, np.exp(intercept) * xx**slope, "-", color="C3", label=f"fit slope {slope:.2f} [{lo:.2f}, {hi:.2f}]"
        )
    for j, ell in enumerate(degrees):
        ax.annotate(f"ℓ={ell}", (inv[j], t_meas[j] if np.isfinite(t_meas[j]) else t_pred[j]), fontsize=7)
    ax.set_xlabel("1/μ_ℓ")
    ax.set_ylabel("time to learn degree ℓ")
    ax.legend(fontsize=7)
    save_figure(fig, out_dir / "sphere_learning_times.png")


EXPERIMENT = Experiment(
    name="sphere-spectral-bias",
    description="ReLU net on S² learns a sum of spherical harmonics degree by degree at the NTK's Funk–Hecke rates exp(−μ_ℓ t)",
    claim="Degrees are learned in the order of the NTK eigenvalues μ_ℓ, and the time to learn degree ℓ grows like 1/μ_ℓ",
    source="Bietti & Mairal, arXiv:1905.12173; Basri, Jacobs, Kasten & Kritchman, arXiv:1906.00425; "
    "Basri et al., arXiv:2003.04560; Cao et al., arXiv:1912.01198",
    quick=QUICK,
    full=FULL,
    cpu=CPU,
    run=run,
    figures={
        "sphere_residual_energy.png": (
            "residual energy per degree over t = η·steps (solid) against the linearised "
            "prediction exp(−2 μ_ℓ t) E_ℓ(0) (dashed): low degrees (large μ_ℓ) go first"
        ),
        "sphere_learning_times.png": (
            "time to learn each degree against 1/μ_ℓ (log-log) with the fitted slope and "
            "its 95% CI; slope 1 is the linear-theory prediction"
        ),
    },
)
