"""fpjax's Krylov core against matfree, side by side in one process: accuracy and CPU time.

Both compute top-``k`` Ritz pairs from ``m`` Lanczos steps with full reorthogonalisation:

* fpjax: ``fpjax._src.krylov.lanczos_basis`` + ``ritz_pairs`` (the iteration behind
  ``fpjax.ntk.lanczos_eigh``, ``ntk_eigh`` and every ``fpjax.hessian`` estimator): DGKS
  reorthogonalisation, coordinate restarts on breakdown;
* matfree 0.6.3: ``matfree.decomp.tridiag_sym(m, reortho="full")`` (Arnoldi with full
  reorthogonalisation, symmetrised), then ``eigh`` of ``T`` and ``Vᵀ s`` as in
  ``matfree.eig.eigh_partial``.

Operators, as in the tests that compare against dense ``eigh``:

* ``ntk``: the empirical NTK of ``tests/test_ntk_eig.py`` (tanh MLP 3-48-48-1, 90 points, float32),
  top 6 of 40 steps;
* ``hessian``: the Hessian of ``tests/test_hessian.py``'s tiny tanh MLP (2-8-8-1, P = 105, float64),
  top 5 of P steps;
* ``rank5``: the rank-5 40 × 40 operator of the restart test (float32), top 8 of 20 steps (the
  Krylov space is exhausted after 5 steps);
* ``psd2000``: ``A = Q diag(λ) Qᵀ``, N = 2000, ``λ_i = i^{-1}`` (float64), top 10 of 60 steps, for time.

Accuracy: the largest ``|θ_i − λ_i|`` against ``numpy.linalg.eigh`` of the dense matrix (float64),
relative to ``λ_max``, and the largest explicit residual ``‖A y_i − θ_i y_i‖ / λ_max``. Time: median
of repeated calls of the jitted function (compiled first), one CPU thread
(``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``, process pinned to one core).

Usage: uv run --frozen python benchmarks/krylov.py [--repeats 20]
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("FPJAX_NO_HOST_DEVICES", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from matfree import decomp  # noqa: E402

from fpjax import hessian as fh  # noqa: E402
from fpjax import models  # noqa: E402
from fpjax._src import krylov  # noqa: E402
from fpjax.ntk import empirical_ntk  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402


def ntk_operator():
    model = models.mlp((48, 48, 1), "tanh", init="standard", sigma_b=0.2)
    x = jax.random.normal(jax.random.key(0), (90, 3), jnp.float32)
    params = model.init(jax.random.key(1), x)
    return np.asarray(empirical_ntk(model, params, x), np.float64), jnp.float32, 6, 40


def hessian_operator():
    key = jax.random.PRNGKey(0)
    kx, kp = jax.random.split(key)
    x = jax.random.normal(kx, (32, 2), jnp.float64)
    y = jnp.sin(3.0 * x[:, :1]) * jnp.cos(x[:, 1:])
    model = models.mlp((8, 8, 1), "tanh", init="standard", sigma_w=1.5, sigma_b=0.5)
    params = model.init(kp, x)
    h = np.asarray(fh.dense_hessian(lambda p: 0.5 * jnp.mean((model.apply(p, x) - y) ** 2), params))
    return h, jnp.float64, 5, h.shape[0]


def rank5_operator():
    n = 40
    a = np.zeros((n, n))
    a[:5, :5] = np.diag([5.0, 4.0, 3.0, 2.0, 1.0])
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(n, n)))
    return q @ a @ q.T, jnp.float32, 8, 20


def psd_operator(n=2000):
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(n, n)))
    lam = 1.0 / np.arange(1, n + 1)
    return (q * lam) @ q.T, jnp.float64, 10, 60


def fpjax_pairs(a, v0, k, m):
    pairs = krylov.ritz_pairs(*krylov.lanczos_basis(lambda v: a @ v, v0, m), k)
    return pairs.values, pairs.vectors


def matfree_pairs(a, v0, k, m):
    Q, T, *_ = decomp.tridiag_sym(m, reortho="full", materialize=True)(lambda v: a @ v, v0)
    theta, s = jnp.linalg.eigh(T)
    theta, s = theta[::-1][:k], s[:, ::-1][:, :k]
    Y = s.T @ Q  # Q: (m, N), the Krylov vectors as rows
    return theta, Y / jnp.linalg.norm(Y, axis=1, keepdims=True)


def accuracy(a64, theta, Y):
    lam = np.linalg.eigvalsh(a64)[::-1]
    theta = np.asarray(theta, np.float64)
    Y = np.asarray(Y, np.float64)
    if not np.all(np.isfinite(theta)) or not np.all(np.isfinite(Y)):
        return float("nan"), float("nan")
    scale = abs(lam[0])
    err = np.max(np.abs(theta - lam[: theta.size])) / scale
    res = np.max(np.linalg.norm(Y @ a64 - theta[:, None] * Y, axis=1)) / scale
    return err, res


def timed(fn, args, repeats):
    jax.block_until_ready(fn(*args))  # compile
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass
    print(f"machine: {machine()}")
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()}")
    from importlib.metadata import version

    print(f"jax {jax.__version__}, matfree {version('matfree')}")
    print(
        "| operator | N | k | m | method | max abs(theta - lambda)/lambda_max | max residual/lambda_max | time (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    ops = {"ntk": ntk_operator, "hessian": hessian_operator, "rank5": rank5_operator, "psd2000": psd_operator}
    for name, make in ops.items():
        a64, dt, k, m = make()
        n = a64.shape[0]
        a = jnp.asarray(a64, dt)
        v0 = jnp.asarray(np.random.default_rng(2).normal(size=n), dt)
        ratio = {}
        for method, fn in (("fpjax", fpjax_pairs), ("matfree", matfree_pairs)):
            f = jax.jit(fn, static_argnums=(2, 3))
            theta, Y = f(a, v0, k, m)
            err, res = accuracy(a64, theta, Y)
            t = timed(f, (a, v0, k, m), args.repeats)
            ratio[method] = t
            print(f"| {name} | {n} | {k} | {m} | {method} | {err:.2g} | {res:.2g} | {1e3 * t:.3g} |")
        print(f"|  |  |  |  | time matfree / fpjax | | | {ratio['matfree'] / ratio['fpjax']:.2f} |")


if __name__ == "__main__":
    main()
