"""fp-highdim: the F-Principle on high-dimensional real data, projection and filtering methods.

Data: scikit-learn's handwritten digits (8×8 = 64 inputs, 1437 training images; shipped), or
CIFAR-10 (3072 inputs, the first ``n_train`` training images) when ``data_dir`` is given (read by
:func:`fpjax.data.load_dataset`; nothing is downloaded). Labels are one-hot ``y_i ∈ R^10``. An MLP
``d → widths → 10`` is trained full-batch on the MSE with Adam; its outputs on the training set are
recorded every ``record_every`` steps. Seeds are one vmapped :func:`fpjax.train.sweep`.

**Projection method** (:func:`fpjax.spectrum.nudft`): ``ŷ(k) = (1/n) Σ_i y_i e^{−2πik p·x_i}`` along the
first principal component ``p`` of the inputs, for the label-centred targets ``y_i − ȳ`` (the
constant ``ȳ`` only adds the characteristic function of ``p·x`` to both ``ŷ`` and ``ĥ``; removing it
from both leaves ``ĥ − ŷ`` unchanged and makes ``|ŷ(k)|`` the class structure, not the class
frequencies). ``Δ_F(k) = ‖ĥ(k) − ŷ(k)‖ / ‖ŷ(k)‖`` (norms over the 10 outputs). Digits' projected
spectrum has one broad peak (at k ≈ 0.3) and no others above the noise level ``‖y − ȳ‖/n`` of
idiosyncratic labels, so instead of peaks ``n_track`` equally spaced frequencies
``k_j = j·k_max/n_track`` are followed, ``k_max`` the frequency where ``‖ŷ(k)‖`` has fallen to
``amp_cut`` of its maximum (beyond it the target spectrum is label noise).

**Filtering method** (:func:`fpjax.spectrum.filter_errors`): ``y_low = G_δ * y`` (Gaussian of variance
``δ``), ``y_high = y − y_low``, ``e_low``, ``e_high``. ``δ`` is given in units of the median squared
nearest-neighbour distance of the inputs (``delta_scales``), so the split means the same on any data.

Claims computed: (1) for every ``δ``, ``e_low`` gets below ``threshold`` strictly before ``e_high``
(never counts as ∞; median over seeds); (2) projection: the steps at which ``Δ_F(k_j)`` first gets
below ``threshold`` rise with frequency — Spearman rank correlation ≥ 0.8 and the lowest tracked
frequency strictly before the highest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpjax.experiment import Config, Experiment, claim, new_figure, save_figure

from . import _common as C

QUICK = {
    "data_dir": None,  # a CIFAR-10 folder switches from digits to CIFAR-10
    "n_train": None,  # digits: all 1437 training images; CIFAR-10 default 10000
    "widths": [128, 128],
    "activation": "relu",
    "init": "xavier",
    "learning_rate": 1e-3,
    "steps": 800,
    "record_every": 5,
    "n_seeds": 2,
    "n_track": 6,
    "amp_cut": 0.25,
    "n_freq_grid": 200,
    "delta_scales": [0.5, 1.0, 2.0],
    "threshold": 0.2,
}
FULL = dict(QUICK, widths=[400, 200, 100], steps=20000, record_every=200, n_seeds=8)
# The ledger's "cpu" scale (`fpjax run NAME --cpu`): between quick and full, the largest that
# runs in minutes on a 2-core CPU.
CPU = dict(QUICK, widths=[256, 128], steps=3000, record_every=20, n_seeds=8)


def load_data(cfg):
    """``(x (n, d) float32, labels (n,) int32, name)``: digits, or CIFAR-10 from ``data_dir``."""
    from fpjax.data import load_dataset

    if cfg.data_dir:
        x, lab = load_dataset("cifar10", "train", data_dir=cfg.data_dir)
        n = cfg.n_train or 10000
        name = "CIFAR-10"
    else:
        x, lab = load_dataset("digits", "train")
        n = cfg.n_train or int(x.shape[0])
        name = "digits"
    if not 0 < n <= x.shape[0]:
        raise ValueError(f"n_train must be in 1..{x.shape[0]} for {name}; got {cfg.n_train}")
    return np.asarray(x[:n]).reshape(n, -1).astype(np.float32), np.asarray(lab[:n]).astype(np.int32), name


def _train(cfg, x, y):
    """The seed sweep: the network's outputs on the training inputs at every recorded step."""
    import jax.numpy as jnp

    from fpjax.models import mlp

    xj, yj = jnp.asarray(x), jnp.asarray(y)
    model = mlp(cfg.widths + (10,), cfg.activation, init=cfg.init)
    return C.adam_seed_sweep(cfg, model, xj, yj, lambda p: model.apply(p, xj))


def run(cfg: Config, out_dir: Path) -> dict:
    x, lab, data_name = load_data(cfg)
    n = x.shape[0]
    y = np.eye(10, dtype=np.float32)[lab]
    res = _train(cfg, x, y)
    ok = res.ok
    steps = np.asarray(res.outputs["record_steps"][0])
    h = np.asarray(res.outputs["records"])  # (S, R, n, 10)
    proj = _projection(cfg, x, y, h, steps, ok)
    filt = _filtering(cfg, x, y, h, steps, ok)
    _figures(
        cfg,
        out_dir,
        data_name=data_name,
        steps=steps,
        k_grid=proj["k_grid"],
        y_amp=proj["y_amp"],
        noise=proj["noise"],
        ks=proj["ks"],
        k_max=proj["k_max"],
        dF=proj["dF"],
        dF_grid=proj["dF_grid"],
        t_proj=proj["t_proj"],
        deltas=filt["deltas"],
        scales=cfg.delta_scales,
        e_low=filt["e_low"],
        e_high=filt["e_high"],
        ok=ok,
        thr=cfg.threshold,
    )
    losses = np.asarray(res.outputs["losses"])[:, -1]
    return {
        "data": data_name,
        "n_train": int(n),
        "input_dim": int(x.shape[1]),
        "final_loss_median": float(np.median(losses[ok])) if ok.size else None,
        "n_seeds": int(res.n_seeds),
        "n_diverged": int(res.n_diverged),
        "claims": _claims(cfg, data_name, proj, filt, ok),
    }


def _projection(cfg, x, y, h, steps, ok) -> dict:
    """Projection method: Δ_F(k) along the first principal component at ``n_track`` frequencies."""
    from fpjax.spectrum import crossing_steps, nudft

    n = x.shape[0]
    p = first_principal_direction(x)
    t = x @ p
    ybar = y.mean(0)
    k_grid = np.linspace(0.0, 4.0 / float(np.std(t)), cfg.n_freq_grid).astype(np.float32)
    y_amp = np.linalg.norm(np.asarray(nudft(x, y - ybar, k_grid, p)), axis=-1)
    i_peak = int(np.argmax(y_amp))
    below = np.nonzero((np.arange(k_grid.size) > i_peak) & (y_amp < cfg.amp_cut * y_amp[i_peak]))[0]
    k_max = float(k_grid[below[0]] if below.size else k_grid[-1])
    n_track = cfg.n_track
    ks = (k_max * np.arange(1, n_track + 1) / n_track).astype(np.float32)
    kk = np.concatenate([ks, k_grid])  # tracked + plotting grid
    y_hat = np.asarray(nudft(x, y - ybar, kk, p))  # (K, 10)
    s_all, r_all = h.shape[:2]
    hs = (h - ybar).reshape(s_all * r_all, n, 10).transpose(1, 0, 2).reshape(n, -1)
    h_hat = np.asarray(nudft(x, hs, kk, p)).reshape(kk.size, s_all, r_all, 10).transpose(1, 2, 0, 3)
    dF_all = np.linalg.norm(h_hat - y_hat, axis=-1) / np.linalg.norm(y_hat, axis=-1)  # (S, R, K)
    dF, dF_grid = dF_all[..., :n_track], dF_all[..., n_track:]
    t_proj = crossing_steps(dF, cfg.threshold, steps=steps, axis=-2)  # (S, n_track); Δ_F < thr
    med_proj = np.median(t_proj[ok], axis=0) if ok.size else np.full(n_track, np.inf)
    rho = C.spearman(ks, med_proj)
    return {
        "k_grid": k_grid,
        "y_amp": y_amp,
        "k_max": k_max,
        "ks": ks,
        "dF": dF,
        "dF_grid": dF_grid,
        "t_proj": t_proj,
        "med_proj": med_proj,
        "rho": rho,
        "held": bool(ok.size) and np.isfinite(rho) and rho >= 0.8 and med_proj[0] < med_proj[-1],
        "noise": float(np.linalg.norm(y - ybar) / n),  # E|ŷ(k)| level of labels with no structure along p
    }


def _filtering(cfg, x, y, h, steps, ok) -> dict:
    """Filtering method: low- and high-frequency errors e_low, e_high for each Gaussian width δ."""
    from fpjax.spectrum import crossing_steps, filter_decompose, filter_errors

    thr = cfg.threshold
    s_all, r_all = h.shape[:2]
    nn = _median_nn_sq_distance(x)
    deltas = [s * nn for s in cfg.delta_scales]
    fe = filter_errors(x, y, h.reshape((-1,) + h.shape[2:]), deltas)
    e_low = np.asarray(fe.e_low).reshape(len(deltas), s_all, r_all)
    e_high = np.asarray(fe.e_high).reshape(len(deltas), s_all, r_all)
    t_low = crossing_steps(e_low, thr, steps=steps, axis=-1)  # (m, S)
    t_high = crossing_steps(e_high, thr, steps=steps, axis=-1)
    med_low = np.median(t_low[:, ok], axis=1) if ok.size else np.full(len(deltas), np.inf)
    med_high = np.median(t_high[:, ok], axis=1) if ok.size else np.full(len(deltas), np.inf)
    y_low, _ = filter_decompose(x, y, deltas)
    return {
        "nn": nn,
        "deltas": deltas,
        "e_low": e_low,
        "e_high": e_high,
        "med_low": med_low,
        "med_high": med_high,
        "held": bool(ok.size) and bool(np.all(med_low < med_high)),
        "low_share": [float(np.sum(np.asarray(a) ** 2) / np.sum(y**2)) for a in y_low],
    }


def _claims(cfg, data_name, proj, filt, ok) -> list:
    thr = cfg.threshold
    e_low, e_high = filt["e_low"], filt["e_high"]
    return [
        claim(
            "filtering method: e_low gets below the threshold before e_high, for every δ",
            filt["held"],
            {
                "data": data_name,
                "threshold": thr,
                "delta_scales": cfg.delta_scales,
                "deltas": filt["deltas"],
                "median_nn_sq_distance": filt["nn"],
                "low_energy_share": filt["low_share"],
                "median_steps_e_low": C.finite_or_none(filt["med_low"]),
                "median_steps_e_high": C.finite_or_none(filt["med_high"]),
                "final_e_low_median": np.median(e_low[:, ok, -1], axis=1) if ok.size else None,
                "final_e_high_median": np.median(e_high[:, ok, -1], axis=1) if ok.size else None,
            },
        ),
        claim(
            "projection method: Δ_F(k) along the first principal component converges from low to high k",
            proj["held"],
            {
                "data": data_name,
                "threshold": thr,
                "tracked_freqs": proj["ks"],
                "k_max": proj["k_max"],
                "median_steps_to_threshold": C.finite_or_none(proj["med_proj"]),
                "steps_to_threshold_per_seed": C.finite_or_none(proj["t_proj"][ok]),
                "spearman_k_vs_steps": proj["rho"],
                "label_noise_level": proj["noise"],
            },
        ),
    ]


def first_principal_direction(x: np.ndarray) -> np.ndarray:
    """Unit first principal component of ``x (n, d)`` with the sign of :func:`fpjax.spectrum.principal_direction`.

    For ``n ≥ d`` that function's ``d × d`` covariance eigenproblem; for ``n < d`` (few CIFAR images)
    the thin SVD of the centred ``n × d`` data, which costs ``O(n²d)`` instead of ``O(d³)``.
    """
    from fpjax.spectrum import principal_direction

    if x.shape[0] >= x.shape[1]:
        return np.asarray(principal_direction(x))
    c = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    p = np.linalg.svd(c, full_matrices=False)[2][0]
    p = p * (-1.0 if p[np.argmax(np.abs(p))] < 0 else 1.0)
    return p.astype(np.float32)


def _median_nn_sq_distance(x: np.ndarray, block: int = 2048) -> float:
    """Median over points of the squared distance to the nearest other point (blocked, exact)."""
    sq = np.sum(x.astype(np.float64) ** 2, axis=1)
    out = []
    for a in range(0, x.shape[0], block):
        xb = x[a : a + block].astype(np.float64)
        d2 = sq[a : a + block, None] + sq[None, :] - 2.0 * xb @ x.T.astype(np.float64)
        d2[np.arange(xb.shape[0]), a + np.arange(xb.shape[0])] = np.inf
        out.append(np.maximum(d2.min(axis=1), 0.0))
    return float(np.median(np.concatenate(out)))


def _figures(
    cfg,
    out_dir,
    *,
    data_name,
    steps,
    k_grid,
    y_amp,
    noise,
    ks,
    k_max,
    dF,
    dF_grid,
    t_proj,
    deltas,
    scales,
    e_low,
    e_high,
    ok,
    thr,
):
    s0 = int(ok[0]) if ok.size else 0
    st = C.log_steps(steps)

    # 1. projected target spectrum with the tracked frequencies.
    fig = new_figure((6.4, 3.8))
    ax = fig.add_subplot()
    ax.plot(k_grid, y_amp, color="0.3", label="‖ŷ(k)‖ (labels − mean)")
    for k in ks:
        ax.axvline(k, color="C3", lw=0.8, ls="--")
    ax.axvline(k_max, color="C3", lw=1.5, label=f"tracked frequencies (k_max = {k_max:.2f})")
    ax.axhline(noise, color="0.5", ls=":", lw=1, label="noise level ‖y − ȳ‖/n")
    ax.set_xlabel("frequency k along the first principal component")
    ax.set_ylabel("amplitude")
    ax.set_title(f"{data_name}: projected spectrum of the labels")
    ax.legend(fontsize=8)
    save_figure(fig, out_dir / "highdim_projected_spectrum.png")

    # 2. Δ_F heat map on the fine frequency grid (seed 0) and at the tracked frequencies.
    fig = new_figure((11.0, 3.8))
    a1, a2 = fig.subplots(1, 2)
    sel = (k_grid > 0) & (k_grid <= 1.5 * k_max)  # ŷ(0) = 0 for centred labels: Δ_F(0) undefined
    im = a1.pcolormesh(
        st, k_grid[sel], np.clip(dF_grid[s0][:, sel].T, 0, 1), cmap="viridis", vmin=0, vmax=1, shading="nearest"
    )
    fig.colorbar(im, ax=a1, label="Δ_F(k)")
    a1.axhline(k_max, color="w", lw=0.8, ls="--")
    a1.set_xscale("log")
    a1.set_xlabel("step")
    a1.set_ylabel("frequency k")
    a1.set_title("Δ_F(k) over training (seed 0); dashed: k_max")
    C.error_heatmap(
        fig, a2, steps, dF[s0].T, [f"k = {k:.2f}" for k in ks], threshold=thr, crossings=t_proj[s0], label="Δ_F(k)"
    )
    a2.set_title("tracked frequencies")
    save_figure(fig, out_dir / "highdim_projection_heatmap.png")

    # 3. filtering method: e_low and e_high (median over seeds) per δ.
    fig = new_figure((6.4, 4.2))
    ax = fig.add_subplot()
    for j, (dl, sc) in enumerate(zip(deltas, scales)):
        lo = np.median(e_low[j, ok], axis=0) if ok.size else e_low[j, 0]
        hi = np.median(e_high[j, ok], axis=0) if ok.size else e_high[j, 0]
        ax.plot(st, lo, color=f"C{j}", label=f"e_low, δ = {dl:.3g} ({sc:g}× NN²)")
        ax.plot(st, hi, color=f"C{j}", ls="--", label=f"e_high, δ = {dl:.3g}")
    C.error_curves_axes(
        ax, thr, ylabel="relative error", title=f"{data_name}: filtering method (median over seeds)", legend_size=7
    )
    save_figure(fig, out_dir / "highdim_filtering.png")


EXPERIMENT = Experiment(
    name="fp-highdim",
    description="F-Principle in high dimension: projection (NUDFT along PC1) and filtering methods on digits / CIFAR-10",
    claim="On high-dimensional real data a DNN also fits low frequencies first: e_low converges before e_high "
    "(filtering method) and Δ_F(k) along the first principal component converges from low to high k "
    "(projection method)",
    source='Xu, Zhang, Luo, Xiao, Ma, "Frequency Principle: Fourier Analysis Sheds Light on Deep Neural '
    'Networks", arXiv:1901.06523; Xu, Zhang, Xiao, arXiv:1807.01251; Y. Zhang, lecture "Frequency '
    'Principle/Spectral Bias"',
    quick=QUICK,
    full=FULL,
    cpu=CPU,
    run=run,
    figures={
        "highdim_projected_spectrum.png": (
            "spectrum of the labels along the first principal component and the tracked frequencies"
        ),
        "highdim_projection_heatmap.png": "projection method: Δ_F(k) over training; low k converge first",
        "highdim_filtering.png": "filtering method: e_low falls below the threshold before e_high for every δ",
    },
)
