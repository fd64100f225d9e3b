"""Sensitivity studies of the ledger's claims that did not hold: where, if anywhere, they hold.

A study (:class:`Study`) takes one experiment at its quick settings plus fixed overrides that keep
each run cheap (``base``), and varies one setting at a time along each of its axes
(:class:`Axis`: the setting, and per point the value shown on the figure's x axis and the
``--set`` overrides that realise it). Every point is an ordinary run of
:func:`fpjax.experiment.run_experiment` into its own results folder
``<results>/<experiment>/<point>/`` (a finished point is not run again, so a study resumes where it
stopped). A point whose settings are those of a ledger record (``ledger/quick/<experiment>.json``:
no overrides; ``ledger/cpu/<experiment>.json``: exactly its overrides) is not run: the record
stands for it.

Per point and per studied claim (:class:`StudiedClaim`) the verdict and its deciding number are
distilled into ``ledger/sensitivity/<experiment>.json`` (:func:`distil`), drawn as
``docs/ledger/<experiment>-sensitivity.png`` (:func:`draw`: the deciding number against the varied
setting, its threshold, held points filled) and shown in the "Sensitivity" sections of
``docs/ledger.md`` (:func:`render_section`), with the study's written finding and how its settings
differ from the source's (fields of the table, :data:`STUDIES`).

Command line::

    fpjax ledger --sensitivity fp-parity     # run the missing points, distil, draw, regenerate the page
    fpjax ledger --sensitivity all           # every study in turn

Verdicts are the experiments' own (their thresholds are not changed here); the deciding numbers
say by how much a claim held or failed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "Axis",
    "StudiedClaim",
    "Study",
    "STUDIES",
    "FORMAT",
    "study_points",
    "run_study",
    "distil",
    "point_result",
    "draw",
    "read_study",
    "load_studies",
    "render_section",
]

FORMAT = "fpjax-ledger-sensitivity/1"
ROOT = Path(__file__).resolve().parents[2]
SENSITIVITY_DIR = ROOT / "ledger" / "sensitivity"
FIGURE_DIR = ROOT / "docs" / "ledger"
RESULTS_DIR = ROOT / "results" / "sensitivity"

Number = float | int
Value = str | Callable[[Mapping], Any]


@dataclasses.dataclass(frozen=True)
class Axis:
    """One varied setting: ``points`` are ``(x, overrides)`` pairs, ``x`` the number on the figure."""

    setting: str
    label: str
    points: tuple[tuple[Number, Mapping[str, Any]], ...]
    log: bool = False


@dataclasses.dataclass(frozen=True)
class StudiedClaim:
    """A claim of the experiment (the first whose text contains ``match``) and its deciding number.

    ``value`` and ``threshold`` are read from the claim's evidence (or from that of the claim containing
    ``numbers_from``): a path ``"a/b/0"`` (keys and list indices) or a function of the evidence;
    ``threshold`` may also be a constant. ``rule`` says in
    words how the experiment decides (e.g. "held when the value is below the threshold").
    """

    match: str
    value: Value
    value_label: str
    threshold: Value | Number | None
    threshold_label: str
    rule: str
    numbers_from: str | None = None  # read value and threshold from the evidence of this claim instead


@dataclasses.dataclass(frozen=True)
class Study:
    """A sensitivity study of one experiment (see the module docstring)."""

    experiment: str
    base: Mapping[str, Any]
    axes: tuple[Axis, ...]
    claims: tuple[StudiedClaim, ...]
    finding: str
    differences: str


def _steps(values: Sequence[int], records: int | None = None) -> tuple:
    """Points of a ``steps`` axis; with ``records``, ``record_every`` keeps that many records."""
    return tuple((s, {"steps": s, **({"record_every": max(1, s // records)} if records else {})}) for s in values)


def _get(evidence: Any, path: Value | Number | None) -> Any:
    if path is None or isinstance(path, (int, float)):
        return path
    if callable(path):
        try:
            return path(evidence)
        except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError):
            return None
    cur = evidence
    for part in path.split("/"):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and re.fullmatch(r"-?\d+", part) and -len(cur) <= int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    if isinstance(cur, Mapping) and "values" in cur:  # a distilled per-seed list
        cur = cur.get("over_seeds", {}).get("mean", cur["values"])
    return cur


def _eos_hi_decrease(ev: Mapping) -> float:
    """Smallest (over rates) factor by which the highest frequency's error falls after the onset."""
    rows = [r for r in ev["per_learning_rate"] if "delta_F_at_onset" in r]  # rates that reached the onset
    return min(r["delta_F_at_onset"][-1] / r["delta_F_at_end"][-1] for r in rows)


def _eos_hf_step(ev: Mapping) -> float:
    """Largest increase of the high-frequency share from one η to the next (< 0: strictly falling)."""
    hf = [v for v in ev["high_freq_energy_fraction"] if isinstance(v, (int, float))]  # diverged rates: "nan"
    return max(b - a for a, b in zip(hf[:-1], hf[1:]))


def _grow(key: str) -> Callable[[Mapping], float]:
    def f(ev: Mapping) -> float:
        v = ev[key]
        return v[-1] - v[0]

    return f


def _worst(field: str | Callable[[Mapping], float]) -> Callable[[Mapping], float]:
    """The smallest value of ``field`` over the per-(data set, model) entries of an evidence mapping."""

    def f(ev: Mapping) -> float:
        rows = [v for v in ev.values() if isinstance(v, Mapping)]
        return min(field(v) if callable(field) else v[field] for v in rows)

    return f


def _max_of(ev: Mapping) -> float:
    return max(float(v) for v in ev.values())


STUDIES: dict[str, Study] = {
    s.experiment: s
    for s in [
        Study(
            experiment="fp-parity",
            base={"train_fractions": [0.5]},
            axes=(
                Axis(
                    "train_fractions",
                    "training fraction q",
                    tuple((q, {"train_fractions": [q]}) for q in (0.1, 0.25, 0.5, 0.75, 0.9)),
                ),
                Axis("widths", "hidden width (2 layers)", tuple((w, {"widths": [w, w]}) for w in (50, 200, 800)), True),
                Axis("steps", "Adam steps", _steps((250, 1000, 4000)), True),
            ),
            claims=(
                StudiedClaim(
                    "training accuracy → 100%",
                    "test_acc_mean",
                    "test accuracy (mean over seeds)",
                    0.5,
                    "chance",
                    "held when training accuracy ≥ 99% and test accuracy is within 3 binomial "
                    "standard deviations of 0.5",
                ),
                StudiedClaim(
                    "F-Principle explanation",
                    "network_energy_degrees_le_half",
                    "network's Walsh energy at degrees ≤ d/2",
                    "network_energy_top_degree",
                    "energy at degree d",
                    "held when the network's energy at degrees ≤ d/2 exceeds its energy at degree d",
                ),
            ),
            finding=(
                "Both claims hold for training fractions up to 0.25 (test accuracy 0.455 and 0.472, within "
                "three binomial standard deviations of chance; Walsh energy at degrees ≤ d/2 0.98 and 0.82) "
                "and fail from 0.5 on, where the network generalizes parity (test accuracy 0.88 at q = 0.5, "
                "0.98 at 0.75, 1.00 at 0.9) and puts most of its energy at degree d. At q = 0.5 no width "
                "or step count tried restores them: a wider or longer-trained network generalizes better "
                "(width 50: 0.66, 200: 0.88, 800: 0.98; 250 steps: 0.88, 4000 steps: 0.92)."
            ),
            differences=(
                "The lecture states the parity example (10 bits) without a training fraction, width or "
                "optimizer; here a 2-layer ReLU MLP (200-200, Xavier) trained full-batch with Adam "
                "(learning rate 1e-3, 1000 steps, 2 seeds) on one training fraction per run (0.5 at the "
                "study's base, which the quick setting runs alongside 0.25)."
            ),
        ),
        Study(
            experiment="edge-of-stability",
            base={},
            axes=(
                Axis("steps", "gradient-descent steps", _steps((3000, 10000, 30000), records=60), True),
                Axis(
                    "learning_rates",
                    "largest η (rates η/4, η/2, η)",
                    (
                        (0.1, {"learning_rates": [0.025, 0.05, 0.1]}),
                        (0.2, {}),
                        (0.4, {"learning_rates": [0.1, 0.2, 0.4]}),
                    ),
                    True,
                ),
            ),
            claims=(
                StudiedClaim(
                    "low frequencies converge before",
                    _eos_hi_decrease,
                    "highest frequency: Δ_F at onset / Δ_F at end (worst η)",
                    2.0,
                    "factor 2",
                    "held when, for every η below the limit at init, the lowest frequency has converged "
                    "(Δ_F < 0.1) at the onset, the highest has not, and its Δ_F falls by 2x after the onset",
                ),
                StudiedClaim(
                    "the larger η ends at a flatter minimum",
                    _eos_hf_step,
                    "largest rise of the high-frequency share between consecutive η (stable rates)",
                    0.0,
                    "0 (strictly falling)",
                    "held when the final sharpness and the high-frequency share both fall strictly with η",
                ),
            ),
            finding=(
                "Neither claim held for any setting tried. Claim 2: longer training lets the highest "
                "frequency converge during the edge of stability (its error falls by 7.3x or more after the "
                "onset at 30000 steps, by 1.3x at 3000 and 10000 steps), but then at η = 0.1 the lowest "
                "frequency has not quite converged at the onset (Δ_F = 0.11 against the threshold 0.1, onset "
                "at step 500); with rates 0.025-0.1 the smallest rate never reaches 2/η. Claim 3: the final "
                "sharpness falls with η (≈ 2/η) whenever every rate reaches the limit, but the high-frequency "
                "share of the learned function does not fall with η at any length or rates tried (30000 "
                "steps: 0.37, 0.32, 0.38 for η = 0.05, 0.1, 0.2); with rates 0.1-0.4 the largest diverges."
            ),
            differences=(
                "Cohen et al. train image classifiers (CIFAR-10 subsets) until the training loss is small; "
                "the frequency statements are this project's combination of their onset with the "
                "F-Principle (Xu et al.), not measured in either paper. Here: 61 samples of "
                "sin x + sin 3x + sin 5x, a tanh 64-64 MLP, 3000 full-batch steps at the base."
            ),
        ),
        Study(
            experiment="hys5-flat-minima",
            base={"activations": ["gaussian"]},
            axes=(
                Axis(
                    "gaussian_s",
                    "Gaussian bandwidth s",
                    tuple((s, {} if s == 0.1 else {"gaussian_s": s}) for s in (0.05, 0.1, 0.2, 0.4)),
                    True,
                ),
            ),
            claims=(
                StudiedClaim(
                    "Gaussian: flatness did not go",
                    "spearman_trace_vs_test_error",
                    "Spearman(Hessian trace, test error)",
                    0.0,
                    "0",
                    "held (conjecture falsified) unless the rank correlation is positive and the better "
                    "generalizing init is also the flatter one",
                ),
                StudiedClaim(
                    "the low-bandwidth init generalized better",
                    lambda ev: ev["test_error_mean"]["high"] - ev["test_error_mean"]["low"],
                    "Gaussian test error, high-B/W (Xavier) − low-B/W init",
                    0.0,
                    "0",
                    "held when the low-bandwidth init has the lower mean test error (the premise of the "
                    "flatness comparison: the two inits generalize differently because of their spectra)",
                    numbers_from="Gaussian: flatness did not go",
                ),
            ),
            finding=(
                "The source's counterexample (a high-bandwidth Gaussian start that generalizes worse yet sits "
                "in a flatter minimum) was not reproduced at any bandwidth tried. Where the Xavier start is "
                "high-bandwidth and generalizes worse (s = 0.05 and 0.1: test error 0.61 and 0.40 against 0.08 "
                "and 0.05 for the low-σ init), it also has the larger Hessian trace (190454 and 17489 against "
                "4661 and 2994) and flatness goes with generalization (Spearman +0.80 and +0.93; at s = 0.05 "
                "only 2 of 4 seeds per init converged). From s = 0.2 on the rank correlation is negative "
                "(−0.90, −0.64) and the conjecture-falsified claim holds, but there the Xavier start "
                "generalizes better (0.040 against 0.058 at s = 0.2) while keeping the larger trace: the "
                "premise of the comparison, a worse high-bandwidth start, no longer holds."
            ),
            differences="The source (§8, Table 2) trains Gaussian and ReLU networks on equidistant samples of a random four-sine signal and reads flatness from the Hessian at convergence; its widths, depths, sample count and bandwidth s are not in the text we have. Here: 16 samples, depth 5, width 64, Adam with a cosine schedule for 8000 steps, 4 seeds, Gaussian networks only (the ReLU half holds at the quick scale).",
        ),
        Study(
            experiment="fr-ssr",
            base={},
            axes=(
                Axis(
                    "weight_decay",
                    "L2 weight decay λ",
                    tuple((w, {"weight_decay": w}) for w in (2e-3, 1e-2)),
                    True,
                ),
                Axis("epochs", "epochs", tuple((e, {"epochs": e}) for e in (15, 30))),
            ),
            claims=(
                StudiedClaim(
                    "suppresses the accumulation of high-frequency weight energy E_hi (fraction",
                    "delta_E_none",
                    "ΔE_hi without regularizer",
                    0.0,
                    "0 (accumulation)",
                    "held when ΔE_hi without regularizer > 0 and ΔE_hi with L2 is below a third of it; "
                    "this row shows the first condition",
                ),
                StudiedClaim(
                    "suppresses the accumulation of high-frequency weight energy E_hi (fraction",
                    "delta_E_l2",
                    "ΔE_hi with L2",
                    lambda ev: ev["delta_E_none"] / 3,
                    "ΔE_hi without regularizer / 3",
                    "the same claim; this row shows the second condition",
                ),
            ),
            finding=(
                "Did not hold for any setting tried, because the unregularized network does not accumulate "
                "high-frequency weight energy as a fraction of its total: ΔE_hi without regularizer is −0.049 "
                "at 15 and at 30 epochs (weight decay does not enter that run). L2 lowers E_hi further and more "
                "so with a larger λ (ΔE_hi −0.058 at λ = 2e-3, −0.149 at λ = 1e-2, −0.065 at 30 epochs), so "
                "L2 is a low-pass filter here (SSR 1.02, 1.21 and 1.03), but there is no accumulation to suppress. In "
                "absolute energy the unregularized network does accumulate (+7.5% to +7.9%) "
                "while L2 removes 31-86% of the initial absolute energy: that variant is the experiment's second "
                "claim, which holds."
            ),
            differences="The source trains ResNet-18 on CIFAR-10 (a full schedule; its λ is not in the abstract we have). Here: the small CNN (16-32-64 channels) on 512 digits upscaled to 32×32×3, 15 epochs of SGD with momentum; λ = 2e-3 at the base (4x the usual CIFAR 5e-4 because the run is about 100x shorter).",
        ),
        Study(
            experiment="asi",
            base={"datasets": ["digits"], "n_seeds": 2},
            axes=(
                Axis(
                    "width",
                    "hidden width",
                    tuple((w, {"width": {"diabetes": 256, "digits": w}}) for w in (128, 512, 1024)),
                    True,
                ),
                Axis(
                    "scales",
                    "largest init scale (smallest 0.5)",
                    tuple((x, {} if x == 8.0 else {"scales": [0.5, x]}) for x in (1.0, 2.0, 4.0, 8.0)),
                    True,
                ),
            ),
            claims=(
                StudiedClaim(
                    "digits: with ASI the test error grows",
                    "test_growth_with_asi",
                    "ASI test error, largest scale / scale 0.5",
                    1.5,
                    "1.5x",
                    "held when the ASI test error grows by less than 1.5x from the smallest to the largest init scale",
                ),
            ),
            finding=(
                "Holds at width 1024 (the largest tried, the full setting's width): the ASI test error grows 1.31x from init "
                "scale 0.5 to 8 there (0.112 to 0.146), 1.503x at width 512 (at the 1.5 threshold but not "
                "below it) and 2.51x at width 128. At width 128 it stays flat only up to init scale 1 (growth "
                "1.18; 1.58 to 2, 2.14 to 4). More steps do not help at width 128 (the ledger's cpu record, "
                "2000 steps and 8 seeds: 2.52)."
            ),
            differences="The lecture shows ASI on MNIST and Boston house prices (Zhang et al. 2019); here scikit-learn's digits (400 training images) with a one-hidden-layer ReLU network (width 128), 1000 Adam steps, 2 seeds, digits only (the diabetes half holds); the full setting is width 1024, 20000 steps, 16 seeds.",
        ),
        Study(
            experiment="hys4-cnn-bandwidth",
            base={},
            axes=(
                Axis(
                    "weight_decay",
                    "weight decay",
                    tuple((w, {} if w == 0 else {"weight_decay": w}) for w in (0.0, 5e-4)),
                ),
            ),
            claims=(
                StudiedClaim(
                    "High-bandwidth initialization",
                    _worst("test_acc_drop"),
                    "test accuracy, random init − high-B/W init (worst data set and model)",
                    0.0,
                    "0",
                    "held when the high-bandwidth init has the lower test accuracy for every data set and model",
                ),
                StudiedClaim(
                    "sharper minimum",
                    _worst(lambda v: v["trace_high_bw"] - v["trace_random"]),
                    "Hessian trace, high-B/W − random init (worst data set and model)",
                    0.0,
                    "0",
                    "held when the high-B/W solution has the larger Hessian trace",
                ),
            ),
            finding=(
                "Neither claim held at either weight decay. Without it both starts reach test accuracy 0.978; "
                "with λ = 5e-4 the high-bandwidth start generalizes better (0.969 against 0.905 for the "
                "random start, whose training accuracy is still 0.959 after 15 epochs). The high-B/W solution "
                "is the flatter one at both (Hessian trace 9.3 against 120 without weight decay, 25 against "
                "373 with it), although pre-training on shuffled labels does raise the bandwidth (input-"
                "gradient standard deviation 0.0066 against 0.0013 at λ = 5e-4, the experiment's second "
                "claim). Epochs and data set size were not varied."
            ),
            differences="The source trains VGG, ResNet, DenseNet and others on CIFAR-10/100 (no data augmentation), pre-trained on shuffled labels to fit them; here the small CNN on 512 digits upscaled to 32×32×3, 15 epochs, pre-training stopped at 95% accuracy on the shuffled labels (at most 100 epochs).",
        ),
        Study(
            experiment="fr-robustness",
            base={},
            axes=(
                Axis(
                    "weight_decay",
                    "L2 weight decay λ",
                    tuple((w, {} if w == 2e-3 else {"weight_decay": w}) for w in (2e-3, 1e-2)),
                    True,
                ),
            ),
            claims=tuple(
                StudiedClaim(
                    m,
                    "drop_l2",
                    f"{what}: mean accuracy drop with L2",
                    "drop_none",
                    "drop without regularizer",
                    f"held when the L2 model's drop is {how} than the unregularized one's",
                )
                for m, what, how in (
                    ("high-pass-filtered noise", "high-pass noise", "larger"),
                    ("Gaussian blur", "blur", "smaller"),
                    ("low-resolution", "low resolution", "smaller"),
                )
            ),
            finding=(
                "None of the three held at either λ, and the L2 model behaves the opposite way to the "
                "source's, more so at the larger λ: it loses less accuracy under high-pass noise (mean drop "
                "0.244 at λ = 2e-3 and 0.171 at 1e-2, against 0.270 without regularizer) and more under blur "
                "(0.118 and 0.165 against 0.085) and at low resolution (0.224 and 0.265 against 0.162). At "
                "λ = 1e-2 its clean test accuracy falls to 0.897 (0.947 without). Epochs and data set size "
                "were not varied."
            ),
            differences="The source evaluates ResNet-18 trained on CIFAR-10; here the small CNN on 512 digits upscaled to 32×32×3, 15 epochs, one seed, λ = 2e-3 at the base.",
        ),
        Study(
            experiment="lfp-vs-nn",
            base={},
            axes=(
                Axis(
                    "init_stds",
                    "large init std (small 0.01)",
                    tuple((s, {} if s == 10.0 else {"init_stds": [0.01, s]}) for s in (10.0, 100.0)),
                    True,
                ),
                Axis(
                    "m",
                    "width of the small-init net (large: 10x)",
                    tuple((m, {} if m == 10_000 else {"m": [m, 10 * m]}) for m in (1_000, 10_000)),
                    True,
                ),
            ),
            claims=(
                StudiedClaim(
                    "the lecture slide's pairing",
                    lambda ev: max(ev["small_d_linear"], ev["large_d_cubic"]),
                    "worse RMS distance: small init to linear, large init to cubic",
                    "tol",
                    "limit tolerance",
                    "held when the small-init net is within the tolerance of the linear interpolant and "
                    "the large-init net within it of the cubic spline",
                ),
            ),
            finding=(
                "Did not hold for any setting tried, as the LFP weights predict (they give the opposite "
                "pairing, the experiment's second claim): the small-init network ends at RMS distance 0.997 "
                "(width 10^4) and 1.07 (width 10^3) from the linear interpolant but 0.05 and 0.16 from the "
                "cubic spline; the large-init network ends 0.98 (σ = 10 and 100, width 10^5) and 1.02 (width "
                "10^4) from the cubic spline but 0.12 (σ = 100) to 0.39 (width 10^4) from the linear "
                "interpolant; the tolerance is 0.25."
            ),
            differences="The lecture's slide pairs small init with ξ^{-2} dominance (linear spline) and large init with ξ^{-4} (cubic spline); the LFP weights [4π²⟨r²w²⟩/ξ² + (⟨r²⟩+⟨w²⟩)/ξ⁴]^{-1} give the opposite pairing (⟨r²w²⟩ is fourth order in the init scale). Here: 6 equispaced points of sin 2πx on [−1/2, 1/2], wide two-layer ReLU networks (1/√m scaling, ASI) of width 10^4 (small init σ = 0.01) and 10^5 (large init σ = 10), full-batch gradient descent in float64 in the lazy regime.",
        ),
        Study(
            experiment="ntk-drift",
            base={},
            axes=(
                Axis(
                    "alphas",
                    "smallest α (feature-learning scale)",
                    ((0.1, {}), (0.03, {"alphas": [0.03, 1.0, 10.0]})),
                    True,
                ),
                Axis("steps", "gradient-descent steps", _steps((800, 1600), records=8), True),
                Axis(
                    "widths",
                    "largest width (from 64)",
                    ((512, {}), (1024, {"widths": [64, 128, 256, 512, 1024]})),
                    True,
                ),
            ),
            claims=(
                StudiedClaim(
                    "with feature learning (smallest α)",
                    _grow("low_degree_share"),
                    "change of the top eigenvectors' low-degree share",
                    0.0,
                    "0",
                    "held when the target fraction, the alignment and the low-degree share all grow",
                ),
                StudiedClaim(
                    "O(1/√width)",
                    "exponent",
                    "fitted exponent of the kernel change vs width",
                    -0.5,
                    "−1/2",
                    "held when the 95% confidence interval of the exponent contains −1/2",
                ),
            ),
            finding=(
                "Claim 1 (alignment with feature learning) did not hold for any setting tried: the top "
                "eigenvectors' low-degree share falls during training everywhere (0.98 to 0.74 at the base, "
                "0.79 at 1600 steps, 0.15 at α = 0.03), although at α = 0.1 their target fraction and "
                "alignment grow (0.66 to 0.77-0.79 and 0.03 to 0.32-0.33); at α = 0.03 everything falls "
                "(target fraction 0.66 to 0.04). Claim 2 (change O(1/√width)) holds at 1600 steps only: the "
                "fitted exponent is −0.79 with 95% interval [−1.20, −0.38] there, against −1.02 [−1.28, −0.76] "
                "at 800 steps and −0.99 [−1.11, −0.87] with widths to 1024; at the base the kernel change "
                "falls like 1/width, faster than the bound, and doubling the training time doubles the "
                "widest network's change (0.36 to 0.67) but not the narrowest's (3.1 to 3.5)."
            ),
            differences="Jacot et al. (2018) and Lee et al. (2019) bound the kernel's change over a fixed training time by O(1/√width) in the NTK parameterization; here 256 points on the sphere S², ReLU MLPs 3-m-m-1 in the NTK parameterization with widths 64-512, 800 full-batch gradient-descent steps started at a quarter of the stability edge; feature learning is set by the output scale α of Chizat et al. (smallest 0.1 at the base).",
        ),
        Study(
            experiment="hys3-init-spectrum",
            base={},
            axes=(Axis("steps", "training steps", _steps((4000, 8000, 12000)), True),),
            claims=(
                StudiedClaim(
                    "Every start fits the samples",
                    lambda ev: _max_of(ev),
                    "largest relative train RMSE over the starts",
                    0.05,
                    "0.05",
                    "held when every start's relative train RMSE is below 0.05",
                ),
                StudiedClaim(
                    "3b adds the low-frequency spike",
                    "k_hi_spike_kept",
                    "3b: share of the pre-trained |ĥ(k_hi)| kept",
                    0.5,
                    "half",
                    "held when 3b's |ĥ(k0)| is within 20% of the interpolant's and at least half of the "
                    "pre-trained high-frequency spike survives",
                ),
            ),
            finding=(
                "Of the lengths tried, both hold at 8000 steps only: every start fits (largest relative train RMSE 0.046, start "
                "3b) and 3b keeps 74% of its pre-trained high-frequency spike; every claim of the experiment "
                "held in that run. At 4000 steps 3b has not fit yet (0.059); at 12000 steps (the ledger's cpu "
                "run) everything fits (0.018) but the longer training has erased 3b's spike (2.9% kept), so "
                "the source's 3b claim fails there."
            ),
            differences="The source's Exp. 3 trains each start to zero training error; the quick setting stops after 4000 full-batch SGD steps (depth 4, width 64, 2 seeds); the ledger's cpu record has 12000 steps.",
        ),
    ]
}


def _slug(x: Any) -> str:
    s = json.dumps(x, sort_keys=True, separators=(",", "="))
    return re.sub(r"[^A-Za-z0-9.=_-]+", "_", s).strip("_") or "x"


def _quick_settings(name: str) -> dict:
    try:
        from fpjax._src import runner

        return dict(runner.get_experiment(name).quick)
    except Exception:  # noqa: BLE001 - an experiment this checkout lacks: no point is the quick setting
        return {}


def _resolve(study: Study, over: Mapping, quick: Mapping) -> tuple[str, dict]:
    """``(point id, overrides of the quick settings)`` of one axis point."""
    start = {**quick, **study.base}
    varied = {k: v for k, v in over.items() if start.get(k, object()) != v}
    merged = {**study.base, **over}
    run_over = {k: v for k, v in merged.items() if quick.get(k, object()) != v}
    pid = "+".join(f"{k}={_slug(v)}" for k, v in sorted(varied.items()))[:120] if varied else "base"
    return pid, run_over


def study_points(study: Study, quick: Mapping | None = None) -> dict[str, dict]:
    """``{point id: overrides of the quick settings}`` of every distinct point of ``study`` (``"base"``:
    the study's base), in axis order. ``quick``: the experiment's quick settings (default: declared).

    Examples:
      >>> s = Study("toy", {"a": 1}, (Axis("b", "b", ((1, {"b": 1}), (2, {"b": 2}))),), (), "", "")
      >>> study_points(s, quick={"a": 0, "b": 1})
      {'base': {'a': 1}, 'b=2': {'a': 1, 'b': 2}}
    """
    quick = _quick_settings(study.experiment) if quick is None else quick
    out: dict[str, dict] = {}
    for axis in study.axes:
        for _, over in axis.points:
            pid, run_over = _resolve(study, over, quick)
            out[pid] = run_over
    return out


def run_study(study: Study, *, results_dir: str | os.PathLike = RESULTS_DIR, log=print) -> Path:
    """Run every point of ``study`` not yet finished; returns the study's results folder."""
    import jax

    from fpjax.experiment import run_experiment

    root = Path(results_dir) / study.experiment
    for pid, over in study_points(study).items():
        done = root / pid / study.experiment / "metrics.json"
        if done.is_file():
            continue
        if _ledger_record(study.experiment, over) is not None:
            continue  # a ledger record of exactly these settings stands for the point
        log(f"{study.experiment}: running point {pid}")
        run_experiment(study.experiment, "quick", out_root=root / pid, overrides=over or None)
        jax.clear_caches()
    return root


def _ledger_record(name: str, overrides: Mapping, ledger_dir: str | os.PathLike = ROOT / "ledger") -> dict | None:
    """The ledger record (quick, or cpu) whose settings are the quick settings with exactly
    ``overrides``, or None."""
    from fpjax._src import ledger

    for scale in ("quick", "cpu"):
        path = Path(ledger_dir) / scale / f"{name}.json"
        if not path.is_file():
            continue
        rec = ledger.read_record(path)
        if rec.get("setting") == "quick" and dict(rec.get("overrides") or {}) == dict(overrides):
            return rec
    return None


def _finite(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def point_result(study: Study, claims: Sequence[Mapping]) -> list[dict]:
    """Per studied claim: ``{"claim", "held", "value", "threshold"}`` from a run's claim list
    (``{"claim", "held", "evidence" or "numbers"}``); a claim missing from the run is ``held: None``.

    Examples:
      >>> c = StudiedClaim("grows", "g", "growth", 1.5, "1.5x", "held when g < 1.5")
      >>> s = Study("toy", {}, (), (c,), "", "")
      >>> point_result(s, [{"claim": "it grows", "held": False, "evidence": {"g": 2.0}}])
      [{'claim': 'it grows', 'held': False, 'value': 2.0, 'threshold': 1.5}]
    """
    from fpjax._src.ledger import _round

    out = []
    for sc in study.claims:
        hit = next((c for c in claims if sc.match in c.get("claim", "")), None)
        if hit is None:
            out.append({"claim": sc.match, "held": None, "value": None, "threshold": None})
            continue
        src = hit
        if sc.numbers_from is not None:
            src = next((c for c in claims if sc.numbers_from in c.get("claim", "")), {})
        ev = src.get("evidence", src.get("numbers")) or {}
        value, thr = _finite(_get(ev, sc.value)), _finite(_get(ev, sc.threshold))
        out.append(
            {
                "claim": hit["claim"],
                "held": bool(hit["held"]),
                "value": None if value is None else _round(value),
                "threshold": None if thr is None else _round(thr),
            }
        )
    return out


def distil(
    study: Study,
    *,
    results_dir: str | os.PathLike = RESULTS_DIR,
    out_dir: str | os.PathLike = SENSITIVITY_DIR,
    ledger_dir: str | os.PathLike = ROOT / "ledger",
) -> Path:
    """Write ``<out_dir>/<experiment>.json`` from the finished points of ``study``; returns its path.

    Points not finished are listed with ``"status": "not run"``.
    """
    from fpjax._src import io, ledger

    root = Path(results_dir) / study.experiment
    quick = _quick_settings(study.experiment)
    axes = []
    for axis in study.axes:
        pts = []
        for x, over in axis.points:
            pid, run_over = _resolve(study, over, quick)
            pt: dict[str, Any] = {"x": x, "point": pid, "overrides": run_over}
            run = root / pid / study.experiment
            if (run / "metrics.json").is_file():
                metrics = ledger._read_json(run / "metrics.json")
                pt.update(source="run", runtime_s=metrics.get("runtime_s"))
                pt["claims"] = point_result(study, metrics.get("claims", []))
            elif (rec := _ledger_record(study.experiment, run_over, ledger_dir)) is not None:
                pt.update(source=f"ledger {rec['scale']} record", runtime_s=rec.get("runtime_s"))
                pt["claims"] = point_result(study, rec["claims"])
            else:
                pt["status"] = "not run"
            pts.append(pt)
        axes.append({"setting": axis.setting, "label": axis.label, "log": axis.log, "points": pts})
    record = {
        "format": FORMAT,
        "experiment": study.experiment,
        "base_scale": "quick",
        "base_overrides": dict(study.base),
        "claims": [
            {
                "match": c.match,
                "value": c.value_label,
                "threshold": c.threshold_label,
                "rule": c.rule,
            }
            for c in study.claims
        ],
        "axes": axes,
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return io.atomic_write_json(Path(out_dir) / f"{study.experiment}.json", record)


def read_study(path: str | os.PathLike) -> dict:
    """One sensitivity file, checked (format, and its name is its experiment)."""
    from fpjax._src import ledger

    path = Path(path)
    rec = ledger._read_json(path)
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise ValueError(f"{path} is not a sensitivity record (format {FORMAT!r})")
    if rec.get("experiment") != path.stem:
        raise ValueError(f"{path} holds experiment {rec.get('experiment')!r}, not {path.stem!r}: refused")
    if not isinstance(rec.get("axes"), list) or not isinstance(rec.get("claims"), list):
        raise ValueError(f"{path}: 'axes' and 'claims' must be lists")
    return rec


def load_studies(out_dir: str | os.PathLike = SENSITIVITY_DIR) -> dict[str, dict]:
    """``{experiment: record}`` of every file in ``out_dir`` (missing folder: empty)."""
    root = Path(out_dir)
    if not root.is_dir():
        return {}
    return {p.stem: read_study(p) for p in sorted(root.glob("*.json"))}


def draw(record: Mapping, path: str | os.PathLike) -> Path:
    """The study's figure: one panel per (claim, axis), deciding number vs setting; held points filled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    claims, axes = record["claims"], record["axes"]
    fig, grid = plt.subplots(
        len(claims), len(axes), figsize=(max(5.0, 3.3 * len(axes)), 2.5 * len(claims)), squeeze=False, dpi=80
    )
    for i, claim in enumerate(claims):
        for j, axis in enumerate(axes):
            ax = grid[i][j]
            rows = [(p["x"], p["claims"][i]) for p in axis["points"] if "claims" in p]
            rows = [(x, c) for x, c in rows if c.get("value") is not None]
            xs = [x for x, _ in rows]
            ax.plot(xs, [c["value"] for _, c in rows], "-", color="C0", lw=1)
            for x, c in rows:
                ax.plot(x, c["value"], "o", color="C2" if c["held"] else "C3", mfc="C2" if c["held"] else "none")
            thr = [(x, c["threshold"]) for x, c in rows if c.get("threshold") is not None]
            if thr and len({t for _, t in thr}) == 1:
                ax.axhline(thr[0][1], color="k", ls="--", lw=0.8, label=claim["threshold"])
            elif thr:
                ax.plot([x for x, _ in thr], [t for _, t in thr], "k--", lw=0.8, label=claim["threshold"])
            if axis.get("log") and xs and min(xs) > 0:
                ax.set_xscale("log")
                ax.minorticks_off()
            allx = [p["x"] for p in axis["points"]]
            ax.set_xticks(allx, [f"{x:g}" for x in allx])
            ax.set_xlabel(axis["label"], fontsize=7)
            if j == 0:
                ax.set_ylabel(_wrap(claim["value"], 28), fontsize=7)
            ax.tick_params(labelsize=6)
            if thr:
                ax.legend(fontsize=6, loc="best")
    fig.suptitle(f"{record['experiment']}: green filled = held, red open = not held", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)


def _wrap(text: str, n: int) -> str:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + len(w) + 1 > n:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    return "\n".join(lines + [cur])


def render_section(record: Mapping, study: Study | None, figure: str) -> list[str]:
    """The Markdown lines of one experiment's "Sensitivity" section of ``docs/ledger.md``."""
    from fpjax._src.ledger import _code, _md

    lines = [f"### Sensitivity {{#sensitivity-{record['experiment']}}}", ""]
    lines += [
        "Base: the quick settings"
        + (f" with {_code(record['base_overrides'])}" if record.get("base_overrides") else "")
        + "; one setting varied at a time.",
        "",
        f"![{_md(record['experiment'])} sensitivity]({figure})",
        "",
    ]
    names = [c["value"] for c in record["claims"]]
    for k, c in enumerate(record["claims"], 1):
        lines.append(f"{k}. claim containing “{_md(c['match'])}”: {_md(c['rule'])}; deciding number: {_md(c['value'])}")
    lines += ["", "| setting | value | " + " | ".join(f"claim {k}" for k in range(1, len(names) + 1)) + " |"]
    lines.append("|---|---|" + "---|" * len(names))
    for axis in record["axes"]:
        for p in axis["points"]:
            cells = []
            for c in p.get("claims") or [None] * len(names):
                if c is None:
                    cells.append("not run")
                elif c.get("held") is None:
                    cells.append("— (claim not reported)")
                else:
                    num = "?" if c.get("value") is None else c["value"]
                    thr = "" if c.get("threshold") is None else f" vs {c['threshold']}"
                    cells.append(("✅ held" if c["held"] else "❌ not held") + f" ({num}{thr})")
            src = f" ({p['source']})" if str(p.get("source", "")).startswith("ledger ") else ""
            lines.append(f"| {_md(axis['setting'])} | {_md(p['x'])}{src} | " + " | ".join(cells) + " |")
    lines.append("")
    if study is not None and study.finding:
        lines += [f"**Finding:** {_md(study.finding)}", ""]
    if study is not None and study.differences:
        lines += [f"**Settings vs the source:** {_md(study.differences)}", ""]
    return lines


def holds_at(record: Mapping, claim_index: int, axis_index: int) -> list:
    """The x values of the axis at which the claim held (finished points only).

    Examples:
      >>> rec = {"axes": [{"points": [{"x": 1, "claims": [{"held": False}]}, {"x": 2, "claims": [{"held": True}]},
      ...                             {"x": 3}]}]}
      >>> holds_at(rec, 0, 0)
      [2]
    """
    pts = record["axes"][axis_index]["points"]
    return [p["x"] for p in pts if "claims" in p and p["claims"][claim_index].get("held")]


def render_overview(studies: Mapping[str, Mapping]) -> list[str]:
    """The page's overview table: per study, claim and varied setting, where the claim held."""
    from fpjax._src.ledger import _md

    lines = [
        "## Sensitivity studies",
        "",
        "The claims that did not hold at the quick or cpu scale are studied by varying the settings the",
        "source says matter, one at a time from the quick settings (plus cost-cutting overrides, listed",
        "per study); `fpjax ledger --sensitivity NAME` runs a study. The verdicts are the experiments' own;",
        "a point whose settings are those of a ledger record is read from that record.",
        "",
        "| experiment | claim | setting varied | values | held at |",
        "|---|---|---|---|---|",
    ]
    for name, rec in sorted(studies.items()):
        for i, c in enumerate(rec["claims"]):
            for j, axis in enumerate(rec["axes"]):
                run = [p["x"] for p in axis["points"] if "claims" in p]
                held = holds_at(rec, i, j)
                where = ", ".join(map(str, held)) if held else ("nowhere" if run else "not run")
                row = (
                    f"| [{_md(name)}](#sensitivity-{name}) | {_md(c['match'])}… | {_md(axis['setting'])} | "
                    f"{_md(', '.join(map(str, run)) or '—')} | {where} |"
                )
                if row not in lines:  # two deciding numbers of one claim give one row
                    lines.append(row)
    return lines + [""]
