"""Matrix-free NTK eigenpairs against the dense path: time and peak memory vs n (CPU, float32).

Model: ReLU MLP 8-128-128-1 (``init="standard"``, P = 17 793 parameters), inputs ``x ~ N(0, I_8)``.

* matrix-free: ``fpjax.ntk.ntk_eigh(model, params, x, k, num_iters=m, batch_size=b)``: Lanczos with
  full reorthogonalisation on ``v ↦ J(Jᵀv)`` (vjp then jvp, blocks of ``b`` points): memory
  ``O(P + m·n + b·width)``;
* dense: ``fpjax.ntk.empirical_ntk`` (the fast exact MLP path, n × n) then ``numpy.linalg.eigh``
  (float64 copy, all n eigenpairs; memory ``O(n²)``), only where it fits in the time budget.

Every (method, n) runs in a fresh subprocess; its peak resident memory is ``ru_maxrss`` of that
process minus the same process's RSS after importing JAX and building the model (reported as
"extra MiB"). Times are one call each, compilation included. The top-k eigenvalues of the two
paths are compared where both ran.

Usage: uv run --frozen python benchmarks/ntk_eig.py [--ns 1000,4000,16000,50000] [--dense-max 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHILD = r"""
import json, resource, sys, time
import numpy as np
import jax, jax.numpy as jnp
from fpjax.models import mlp
from fpjax.ntk import empirical_ntk, ntk_eigh

method, n, k, m, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
model = mlp((128, 128, 1), "relu", init="standard")
x = jax.random.normal(jax.random.key(0), (n, 8))
params = model.init(jax.random.key(1), x)
jax.block_until_ready(params)
def rss_mib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
base = rss_mib()
t0 = time.perf_counter()
if method == "free":
    r = ntk_eigh(model, params, x, k, key=jax.random.key(2), num_iters=m, batch_size=b)
    top = np.asarray(r.values, np.float64)
    res = float(np.max(np.asarray(r.residuals)) / top[0])
else:
    kmat = np.asarray(empirical_ntk(model, params, x), np.float64)
    top = np.linalg.eigvalsh(kmat)[::-1][:k]
    res = 0.0
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"method": method, "n": n, "seconds": dt, "peak_mib": peak, "extra_mib": peak - base,
                  "top": top.tolist(), "max_rel_residual": res}))
"""


def run_child(method, n, k, m, b, timeout):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "2"))
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, method, str(n), str(k), str(m), str(b)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "error": f"timeout {timeout}s"}
    if out.returncode != 0:
        return {"method": method, "n": n, "error": out.stderr.strip().splitlines()[-1][:200]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    from _common import machine

    ap = argparse.ArgumentParser()
    ap.add_argument("--ns", default="1000,2000,4000,8000,16000,50000")
    ap.add_argument("--dense-max", type=int, default=4000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--n-iter", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    a = ap.parse_args()
    ns = [int(s) for s in a.ns.split(",")]
    t_start = time.time()
    load0 = os.getloadavg()
    rows = []
    for n in ns:
        for method in ("free", "dense"):
            if method == "dense" and n > a.dense_max:
                continue
            r = run_child(method, n, a.k, a.n_iter, a.batch_size, a.timeout)
            rows.append(r)
            print(json.dumps(r), flush=True)
    load1 = os.getloadavg()
    print(
        f"\nmachine: {machine()}; date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"load average before/after {load0[0]:.1f}/{load1[0]:.1f}; total {time.time() - t_start:.0f} s"
    )
    print(f"k = {a.k}, n_iter = {a.n_iter}, batch_size = {a.batch_size}")
    print("| n | matrix-free s | extra MiB | dense s | extra MiB | max rel. diff top-k |")
    print("|---|---|---|---|---|---|")
    for n in ns:
        f = next((r for r in rows if r["n"] == n and r["method"] == "free"), {})
        d = next((r for r in rows if r["n"] == n and r["method"] == "dense"), None)
        fs = f"{f['seconds']:.1f} | {f['extra_mib']:.0f}" if "seconds" in f else f"{f.get('error')} | –"
        if d and "seconds" in d:
            diff = max(abs(p - q) / q for p, q in zip(f.get("top", []), d["top"])) if "top" in f else float("nan")
            print(f"| {n} | {fs} | {d['seconds']:.1f} | {d['extra_mib']:.0f} | {diff:.1e} |")
        else:
            print(f"| {n} | {fs} | – | – | – |")
    if a.out:
        Path(a.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
