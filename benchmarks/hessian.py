"""Hessian benchmark: trace (100 probes) + top eigenvalue on the hys5 MLP, fpjax vs PyHessian.

Models: ReLU MLPs, Xavier init, trained with Adam 1e-3 for 3000 full-batch steps on 64 equidistant
points of f(x) = Σ_{i≤4} a_i sin(2πix), a_i ~ U(0,1), x ∈ [0, 1]; loss L = (1/2n) Σ (h(x_i) − y_i)²
(fpjax mse); the Hessian is taken at the trained weights (the setting of experiment hys5), float32.
  * "hys5 MLP": 1-64-64-64-64-64-1 (5 hidden layers of 64, P = 16,833), the network of
    experiments/hys5_flat_minima.py;
  * 1-256-256-256-1 (P = 132,353), a larger size (about 8× the parameters).

fpjax (one jitted call each, compile time reported separately; best of --repeats):
  * ``hessian_summary``: 20 Lanczos steps (full reorthogonalization) → top eigenvalue, then 100
    Rademacher probes of the Lanczos-deflated Hutchinson estimator → trace. 120 Hessian products.
  * ``hutchinson_trace`` (plain, 100 probes) + ``top_eigenvalues`` (20 Lanczos steps).
  Probes are quadratic forms zᵀHz by forward-over-forward differentiation; Lanczos steps are HVPs.
PyTorch peer (benchmarks/torch_hessian.py, torch venv, 2 threads; identical weights and data via a
temp .npz): PyHessian's double backward (``torch.autograd.grad(g, params, grad_outputs=v,
retain_graph=True)`` on a ``create_graph=True`` gradient); trace = 100 Rademacher probes; top
eigenvalue by power iteration with (a) 20 steps, the same count as the Lanczos (120 HVPs in all),
and (b) PyHessian's defaults (at most 100 steps, stop at relative change < 1e-3).

Timing: each framework runs in its own subprocess, once with 2 compute threads (XLA's default on 2
cores; ``torch.set_num_threads(2)``) and once with 1 (XLA_FLAGS ``--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1``; ``torch.set_num_threads(1)``). Reported: best wall time and best
process CPU time of --repeats calls after a warm-up. On a shared machine wall times grow with the
load (and torch's OpenMP threads suffer most when cores are oversubscribed); single-threaded CPU
time measures the work done and is the load-robust comparison.

Exact references (float64): for P ≤ 20,000 the dense Hessian (``dense_hessian``), its trace, and its
top eigenvalue by ARPACK (``scipy.sparse.linalg.eigsh``, tol=0) on the dense matrix. For the
132k-parameter net (a dense Hessian would need 140 GB) the trace from the ReLU identity
``tr H = (1/n) Σ_i ‖∇_θ h(x_i)‖²`` (h is piecewise linear in every single parameter, so the
``r_i ∂²h/∂θ_k²`` terms of the MSE Hessian vanish; this run checks it against the dense trace of
the small net) and the top eigenvalue by 150 float64 Lanczos steps with its residual bound
``|λ − θ| ≤ ‖Hy − θy‖``.

Usage: uv run python benchmarks/hessian.py [--nets 64x5,256x3] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TORCH_PY = HERE / ".torch-venv" / "bin" / "python"
N_POINTS = 64
PROBES = 100
ITERS = 20


from _common import machine


def best_time(fn, repeats):
    """Best wall time and best process CPU time of ``fn()`` over ``repeats`` calls, and its last output."""
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best, best_cpu, out


def problem(width: int, depth: int, steps: int):
    import jax
    import jax.numpy as jnp
    import optax

    from fpjax import models, train

    x = jnp.linspace(0.0, 1.0, N_POINTS)[:, None]
    a = jax.random.uniform(jax.random.key(1), (4,))
    y = sum(a[i] * jnp.sin(2 * jnp.pi * (i + 1) * x) for i in range(4))
    model = models.mlp((width,) * depth + (1,), "relu", init="xavier")
    params = model.init(jax.random.key(0), x)
    res = train.fit(model.apply, params, x, y, optimizer=optax.adam(1e-3), steps=steps)
    return model, res.params, x, y, float(res.losses[-1])


def references(model, params, x, y, n_par):
    """Exact trace and top eigenvalue in float64 (see the module docstring)."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from fpjax import hessian as fh
    from fpjax import train

    out = {}
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
        x64, y64 = jnp.asarray(x, jnp.float64), jnp.asarray(y, jnp.float64)

        def loss64(p):
            return train.mse(model.apply(p, x64), y64)

        def per_example_sq(p):
            g = jax.vmap(lambda xi: ravel_pytree(jax.grad(lambda q: model.apply(q, xi[None])[0, 0])(p))[0])(x64)
            return jnp.sum(g * g) / x64.shape[0]

        out["trace_relu_identity"] = float(jax.jit(per_example_sq)(p64))
        if n_par <= 20_000:
            import scipy.sparse.linalg as sla

            t = time.perf_counter()
            h = np.asarray(fh.dense_hessian(loss64, p64, batch_size=512))
            out["trace"] = float(np.trace(h))
            out["top"] = float(sla.eigsh(h, k=1, which="LA", tol=0)[0][0])
            out["how"] = "dense float64 Hessian (trace; ARPACK top eigenvalue)"
            out["seconds"] = time.perf_counter() - t
            del h
        else:
            t = time.perf_counter()
            m = 150
            a, b, v = fh.lanczos(loss64, p64, key=jax.random.key(3), num_iters=m, return_vectors=True)
            theta, s = np.linalg.eigh(np.diag(a) + np.diag(b, 1) + np.diag(b, -1))
            yv = np.asarray(v).T @ s[:, -1]
            unravel = ravel_pytree(p64)[1]
            hy = np.asarray(ravel_pytree(fh.hvp(loss64, p64, unravel(jnp.asarray(yv))))[0])
            out["top"] = float(theta[-1])
            out["top_residual_bound"] = float(np.linalg.norm(hy - theta[-1] * yv))
            out["trace"] = out["trace_relu_identity"]
            out["how"] = "ReLU identity trace; float64 Lanczos (150 steps) top eigenvalue with residual bound"
            out["seconds"] = time.perf_counter() - t
    return out


def save_inputs(path, params, x, y, width, depth, repeats, threads):
    w = {}
    for j, layer in enumerate(params["layers"]):
        w[f"w{j}"] = np.asarray(layer["w"])
        w[f"b{j}"] = np.asarray(layer["b"])
    np.savez(
        path,
        x=np.asarray(x),
        y=np.asarray(y),
        activation="relu",
        width=width,
        depth=depth,
        num_probes=PROBES,
        iters=ITERS,
        power=np.array([[ITERS, 0.0], [100, 1e-3]]),
        repeats=repeats,
        threads=threads,
        **w,
    )


def hvp_overhead(loss, params, calls: int) -> dict:
    """Public ``fpjax.hessian.hvp`` against the jitted product it dispatches to.

    ``calls`` single calls of each, strictly alternating (public, jitted, public, ...) so that load
    changes hit both alike; reported: the medians of the single-call times and their ratio
    (public / jitted), and the 10% quantiles' ratio.
    """
    import jax

    from fpjax import hessian as fh
    from fpjax._src.hessian import problems
    from fpjax._src.hessian.estimators import _cvp_jit

    static, data = problems.split_loss(loss)

    def pub():
        return fh.hvp(loss, params, params)

    def raw():
        return _cvp_jit(static, data, params, params, "hessian")

    jax.block_until_ready((pub(), raw()))
    t_pub, t_raw = [], []
    for _ in range(calls):
        for fn, acc in ((pub, t_pub), (raw, t_raw)):
            t = time.perf_counter()
            jax.block_until_ready(fn())
            acc.append(time.perf_counter() - t)
    q = lambda a, f: float(np.quantile(a, f))  # noqa: E731
    return {
        "public_s": q(t_pub, 0.5),
        "jitted_s": q(t_raw, 0.5),
        "ratio": q(t_pub, 0.5) / q(t_raw, 0.5),
        "ratio_q10": q(t_pub, 0.1) / q(t_raw, 0.1),
    }


def jax_worker(inp: str, out: str) -> None:
    """Time fpjax on the weights in ``inp`` (run as a subprocess so XLA's thread count can be set)."""
    import jax

    from fpjax import hessian as fh
    from fpjax import models, train

    d = np.load(inp)
    n_layers = len([k for k in d.files if k[0] == "w" and k[1:].isdigit()])
    params = {
        "layers": [{"w": jax.numpy.asarray(d[f"w{j}"]), "b": jax.numpy.asarray(d[f"b{j}"])} for j in range(n_layers)]
    }
    model = models.mlp((int(d["width"]),) * int(d["depth"]) + (1,), "relu")
    x, y = jax.numpy.asarray(d["x"]), jax.numpy.asarray(d["y"])
    repeats = int(d["repeats"])

    def loss(p):
        return train.mse(model.apply(p, x), y)

    key = jax.random.key(7)

    def summary():
        return jax.block_until_ready(fh.hessian_summary(loss, params, key=key, num_probes=PROBES, num_iters=ITERS))

    def plain():
        tr = fh.hutchinson_trace(loss, params, key=key, num_probes=PROBES)
        top = fh.top_eigenvalues(loss, params, key=key, k=1, num_iters=ITERS)
        return jax.block_until_ready((tr, top))

    res = {}
    for name, fn in (("summary", summary), ("plain", plain)):
        t = time.perf_counter()
        fn()
        first = time.perf_counter() - t
        best, best_cpu, o = best_time(fn, repeats)
        if name == "summary":
            vals = {"trace": float(o.trace), "trace_se": float(o.standard_error), "top": float(o.top_eigenvalues[0])}
        else:
            (tr, se), top = o
            vals = {"trace": float(tr), "trace_se": float(se), "top": float(top[0])}
        res[name] = dict(best_s=best, best_cpu_s=best_cpu, compile_s=first - best, **vals)

    def one():  # the public HVP: static checks only, memoised loss check
        return jax.block_until_ready(fh.hvp(loss, params, params))

    one()
    res["hvp_s"], res["hvp_cpu_s"], _ = best_time(one, max(repeats, 10))
    res["hvp_public_over_jitted"] = hvp_overhead(loss, params, max(repeats, 10) * 10)
    Path(out).write_text(json.dumps(res))


def run_workers(inp: Path, tmp: Path, threads: int):
    """fpjax and torch timings with ``threads`` compute threads each."""
    env = dict(os.environ)
    if threads == 1:
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        ).strip()
    jout = tmp / f"jax{threads}.json"
    r = subprocess.run(
        [sys.executable, __file__, "--worker", str(inp), str(jout)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        raise RuntimeError(f"fpjax worker failed:\n{r.stderr}")
    jx = json.loads(jout.read_text())
    th = None
    if TORCH_PY.exists():
        d = dict(np.load(inp))
        d["threads"] = threads
        tin, tout = tmp / f"torch_in{threads}.npz", tmp / f"torch{threads}.json"
        np.savez(tin, **d)
        r = subprocess.run(
            [str(TORCH_PY), str(HERE / "torch_hessian.py"), str(tin), str(tout)],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            raise RuntimeError(f"torch_hessian.py failed:\n{r.stderr}")
        th = json.loads(tout.read_text())
    return jx, th


def rel(a, b):
    return abs(a - b) / abs(b)


def run_net(width, depth, steps, repeats, thread_counts):
    from fpjax import hessian as fh

    model, params, x, y, final_loss = problem(width, depth, steps)
    n_par = fh.num_params(params)
    print(
        f"\n== ReLU 1-{'-'.join([str(width)] * depth)}-1, P = {n_par:,}, {N_POINTS} points, "
        f"train loss after {steps} Adam steps: {final_loss:.2e}"
    )
    ref = references(model, params, x, y, n_par)
    print(f"exact: trace {ref['trace']:.6g}, top eigenvalue {ref['top']:.6g}  [{ref['how']}, {ref['seconds']:.1f} s]")
    if "top_residual_bound" not in ref:
        print(
            f"  ReLU identity (1/n)Σ‖∇h(x_i)‖² = {ref['trace_relu_identity']:.10g} vs dense trace "
            f"{ref['trace']:.10g} (rel. diff {rel(ref['trace_relu_identity'], ref['trace']):.1e})"
        )
    else:
        print(f"  top eigenvalue residual bound |λ − θ| ≤ {ref['top_residual_bound']:.2e}")
    if not TORCH_PY.exists():
        print(f"torch venv absent ({TORCH_PY}), skipping the PyTorch peer")
    result = {"width": width, "depth": depth, "n_params": n_par, "ref": ref, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inp = tmp / "in.npz"
        save_inputs(inp, params, x, y, width, depth, repeats, 2)
        for threads in thread_counts:
            jx, th = run_workers(inp, tmp, threads)
            result["runs"][threads] = {"fpjax": jx, "torch": th}
            s, p = jx["summary"], jx["plain"]
            rows = [
                ("fpjax hessian_summary (20 Lanczos + 100 deflated probes)", s, s["trace"], s["top"], 120),
                ("fpjax hutchinson_trace(100) + top_eigenvalues(20 Lanczos)", p, p["trace"], p["top"], 120),
            ]
            if th is not None:
                tt = th["trace"]
                for name in th["power_names"]:
                    tol = float(name.split("_")[2])
                    pw = th[name]
                    lam, its = pw["value"]
                    label = f"torch trace(100) + power iteration ({its} steps" + (
                        f", stop at rel. change < {tol:g})" if tol > 0 else ", fixed)"
                    )
                    tim = {"best_s": tt["best_s"] + pw["best_s"], "best_cpu_s": tt["best_cpu_s"] + pw["best_cpu_s"]}
                    rows.append((label, tim, tt["value"][0], lam, PROBES + its))
            print(
                f"\n{threads} thread(s) each   {'method':<68} {'HVPs':>5} {'wall':>9} {'CPU':>9} "
                f"{'trace err':>10} {'top err':>9}"
            )
            for label, tim, tr, top, n_hvp in rows:
                print(
                    f"{'':<20}{label:<68} {n_hvp:>5} {tim['best_s'] * 1e3:>7.1f}ms {tim['best_cpu_s'] * 1e3:>7.1f}ms "
                    f"{rel(tr, ref['trace']):>10.2e} {rel(top, ref['top']):>9.2e}"
                )
            ov = jx["hvp_public_over_jitted"]
            print(
                f"{'':<20}public fh.hvp {ov['public_s'] * 1e3:.3f} ms vs the jitted product it calls "
                f"{ov['jitted_s'] * 1e3:.3f} ms: ratio {ov['ratio']:.3f}"
            )
            print(
                f"{'':<20}fpjax compile: summary {s['compile_s']:.2f} s, plain {p['compile_s']:.2f} s "
                "(first call only, not in the times above)"
            )
            if th is not None:
                base, pyh = rows[2][1], rows[3][1]
                for what, key in (("wall", "best_s"), ("CPU", "best_cpu_s")):
                    print(
                        f"{'':<20}speed-up ({what}) vs torch, same 120 HVPs: summary {base[key] / s[key]:.2f}x, "
                        f"plain {base[key] / p[key]:.2f}x; vs PyHessian defaults: summary {pyh[key] / s[key]:.2f}x"
                    )
                print(
                    f"{'':<20}one product (CPU): fpjax public HVP {jx['hvp_cpu_s'] * 1e3:.2f} ms; torch trace "
                    f"CPU / 100 probes {th['trace']['best_cpu_s'] / PROBES * 1e3:.2f} ms"
                )
                ok = lambda tr, top: rel(tr, ref["trace"]) <= 0.05 and rel(top, ref["top"]) <= 1e-3
                print(
                    f"{'':<20}accuracy targets (trace within 5%, top within 1e-3): fpjax summary "
                    f"{ok(s['trace'], s['top'])}; plain {ok(p['trace'], p['top'])}; "
                    f"torch (20 power steps) {ok(rows[2][2], rows[2][3])}"
                )
            result["runs"][threads]["rows"] = rows
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default="64x5,256x3", help="comma-separated WIDTHxDEPTH (hidden layers)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="2,1", help="compute threads per framework, comma-separated")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--worker", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return jax_worker(*args.worker)
    print(f"machine: {machine()}; date {datetime.date.today()}; load average {os.getloadavg()[0]:.2f}")
    import jax

    print(f"jax {jax.__version__}, Python {platform.python_version()}")
    nets = [tuple(int(v) for v in spec.split("x")) for spec in args.nets.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    results = [run_net(w, d, args.steps, args.repeats, threads) for w, d in nets]
    print(
        f"\nload average at the end: {os.getloadavg()[0]:.2f}. Times are best-of-{args.repeats}; wall "
        "times grow with other processes on the machine, process CPU times much less (with 1 thread "
        "each they measure the work done)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    sys.exit(main())
