"""Seed-sweep benchmark: the fp-1d network, fpjax vs plain JAX vs PyTorch, measured side by side in one run.

Network tanh 1-200-100-100-50-1 (Xavier), 61 points of a 3-frequency target on [-1, 1], Adam 1e-3,
full-batch steps, ``--seeds`` seeds. Contestants (each in its own subprocess):

* ``fpjax``: ``fpjax.train.sweep`` of a closure calling ``fpjax.train.fit`` (the whole call: tracing,
  compilation and run), and the steady state of the computation it runs (``jit(vmap(fit))``);
* ``plain``: a 25-line ``jit(vmap(lax.scan))`` of the same network and Adam, no fpjax;
* ``loop``: a PyTorch sequential loop over seeds; ``torch.func``: a ``vmap(grad(functional_call))``
  ensemble with one Adam over the stacked parameters (torch venv, ``benchmarks/.torch-venv``);
* fp-1d's own sweep (``experiments/fp_1d.py``: outputs recorded every 10 steps) against its plain-JAX
  equivalent.

Two settings: (a) single thread: every contestant pinned to one core (``taskset``) with one compute
thread (XLA ``intra_op_parallelism_threads=1``, ``torch.set_num_threads(1)``), timed by process CPU time,
which load barely moves; (b) whole machine: wall time with every core (fpjax's default of one XLA CPU
device per core; PyTorch at its best thread count), valid only when the load average before and after
is below the core count; otherwise (b) is printed as invalid (or skipped when the load is already too
high before it starts). ``--profile`` adds the ablation of the step (forward, backward, Adam, guard,
scan overhead) and operation counts of the optimized HLO of the loop body, in setting (a).

Usage: uv run python benchmarks/sweep.py [--seeds 64] [--steps 500] [--loop-seeds 8] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import _common

WIDTHS = (200, 100, 100, 50, 1)
N_POINTS = 61
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def flops_per_step() -> float:
    """Forward 2·n·Σ fan_in·fan_out FLOPs; backward twice that (grads of activations and weights)."""
    dims = (1,) + WIDTHS
    macs = N_POINTS * sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    return 3 * 2 * macs


def n_params() -> int:
    dims = (1,) + WIDTHS
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))


def bytes_per_step() -> dict:
    """Minimum float32 bytes one seed's step moves to/from memory if nothing stays in cache."""
    p = n_params()
    acts = N_POINTS * sum(WIDTHS) * 4
    return {
        "params_read_fwd_bwd": 2 * 4 * p,  # W read by the forward and the backward pass
        "grads_write": 4 * p,
        "adam": 7 * 4 * p,  # read p, g, m, v; write p, m, v
        "activations": 3 * acts,  # written forward, read backward, dz written
        "guard_per_step_old": 7 * 4 * p,  # isfinite pass + select of p, m, v (read new/old, write)
    }


# ----------------------------------------------------------------------------------------- contestants


def _data():
    import jax.numpy as jnp

    x = jnp.linspace(-1, 1, N_POINTS)[:, None]
    y = jnp.sin(jnp.pi * x) + 0.5 * jnp.sin(3 * jnp.pi * x) + 0.25 * jnp.sin(5 * jnp.pi * x)
    return x, y


def _cpu_wall(fn):
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c, time.perf_counter() - w, out


def _plain_fn(steps, record_every=None):
    """The plain-JAX baseline: init, Adam, ``lax.scan``; optional outputs every ``record_every`` steps."""
    import jax
    import jax.numpy as jnp
    import optax

    from fpjax.models import mlp

    x, y = _data()
    init = mlp(WIDTHS, "tanh", init="xavier").init  # same initial weights as fpjax
    opt = optax.adam(1e-3)

    def net(p):
        h = x
        for j, layer in enumerate(p["layers"]):
            h = h @ layer["w"] + layer["b"]
            h = jnp.tanh(h) if j < len(p["layers"]) - 1 else h
        return h

    def step(carry, _):
        p, s = carry
        v, g = jax.value_and_grad(lambda q: 0.5 * jnp.sum((net(q) - y) ** 2) / N_POINTS)(p)
        u, s = opt.update(g, s, p)
        return (optax.apply_updates(p, u), s), v

    def one(key):
        p = init(key, x)
        c = (p, opt.init(p))
        if record_every is None:
            c, losses = jax.lax.scan(step, c, None, length=steps)
            return losses

        def chunk(c, _):
            c, ls = jax.lax.scan(step, c, None, length=record_every)
            return c, (ls, net(c[0])[:, 0])

        c, (ls, recs) = jax.lax.scan(chunk, c, None, length=steps // record_every)
        return ls.reshape(-1), jnp.concatenate([net(p)[None, :, 0], recs])

    return jax.jit(jax.vmap(one))


def _fpjax_fn(steps, record_every=None):
    import optax

    from fpjax.models import mlp
    from fpjax.train import fit

    x, y = _data()
    model = mlp(WIDTHS, "tanh", init="xavier")
    opt = optax.adam(1e-3)

    def fn(key):
        if record_every is None:
            return fit(model.apply, model.init(key, x), x, y, optimizer=opt, steps=steps).losses
        # as experiments/fp_1d.py: the network's output on the samples every record_every steps
        r = fit(
            model.apply,
            model.init(key, x),
            x,
            y,
            optimizer=opt,
            steps=steps,
            record=lambda p: model.apply(p, x)[:, 0],
            record_every=record_every,
        )
        return {"losses": r.losses, "outputs": r.records, "diverged": r.diverged}

    return fn


def paired(seeds: int, steps: int, record_every: int | None, rounds: int = 7) -> dict:
    """fpjax's ``jit(vmap(fit))`` and the plain baseline compiled in one process and run alternately.

    Separate processes measured minutes apart see different background load (cache and memory
    bandwidth taken by other jobs moves process CPU time by ±10 %); alternating the two compiled
    programs ``rounds`` times and taking the median of the per-round ratios cancels most of it.
    """
    import jax
    import numpy as np

    keys = jax.random.split(jax.random.key(0), seeds)
    progs = {
        "fpjax": jax.jit(jax.vmap(_fpjax_fn(steps, record_every))).lower(keys).compile(),
        "plain": _plain_fn(steps, record_every).lower(keys).compile(),
    }
    for prog in progs.values():  # warm-up: first-run allocations are not part of the steady state
        jax.tree_util.tree_map(np.asarray, prog(keys))
    cpu: dict = {k: [] for k in progs}
    for _ in range(rounds):
        for k, prog in progs.items():
            c, _, _ = _cpu_wall(lambda prog=prog: jax.tree_util.tree_map(np.asarray, prog(keys)))
            cpu[k].append(c)
    ratios = np.array(cpu["fpjax"]) / np.array(cpu["plain"])
    return {"cpu": cpu, "median_ratio": float(np.median(ratios)), "ratios": ratios.tolist()}


def child(name: str, seeds: int, steps: int, record_every: int | None) -> dict:
    """One contestant in this process: CPU and wall seconds of its phases."""
    import jax
    import numpy as np

    import fpjax

    fpjax.set_host_device_count()  # before any JAX computation: one CPU device per core

    keys = jax.random.split(jax.random.key(0), seeds)
    out = {"devices": len(jax.devices())}
    block = lambda t: jax.tree_util.tree_map(lambda a: np.asarray(a), t)
    if name == "plain":
        f = _plain_fn(steps, record_every)
        c, w, compiled = _cpu_wall(lambda: f.lower(keys).compile())
        out["compile_cpu"], out["compile_wall"] = c, w
        c, w, res = _cpu_wall(lambda: block(compiled(keys)))
        out["run_cpu"], out["run_wall"] = c, w
        c, w, res = _cpu_wall(lambda: block(compiled(keys)))  # second run: best of two
        out["run_cpu"], out["run_wall"] = min(c, out["run_cpu"]), min(w, out["run_wall"])
        losses = res if record_every is None else res[0]
    else:
        from fpjax.train import sweep

        fn = _fpjax_fn(steps, record_every)
        c, w, res = _cpu_wall(lambda: sweep(fn, keys))
        out["sweep_cpu"], out["sweep_wall"] = c, w
        # a second sweep of the same function reuses the compiled program: the steady state of a
        # sweep, sharded over every device (jit(vmap(fn)) below runs on one device)
        c, w, _ = _cpu_wall(lambda: sweep(fn, keys))
        out["sweep2_cpu"], out["sweep2_wall"], out["sweep_devices"] = c, w, res.n_devices
        losses = res.outputs if record_every is None else res.outputs["losses"]
        f = jax.jit(jax.vmap(fn))
        c, w, compiled = _cpu_wall(lambda: f.lower(keys).compile())
        out["compile_cpu"], out["compile_wall"] = c, w
        c, w, _ = _cpu_wall(lambda: block(compiled(keys)))
        out["run_cpu"], out["run_wall"] = c, w
    out["final_loss"] = float(np.mean(np.asarray(losses)[:, -1]))
    return out


def profile(seeds: int, steps: int) -> dict:
    """Ablation of the step (setting (a)): CPU seconds per step of variants of the plain scan."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from fpjax.models import mlp
    from fpjax.train import fit

    x, y = _data()
    model = mlp(WIDTHS, "tanh", init="xavier")
    keys = jax.random.split(jax.random.key(0), seeds)
    params = jax.vmap(model.init, (0, None))(keys, x)
    opt = optax.adam(1e-3)
    loss = lambda q: 0.5 * jnp.sum((model.apply(q, x) - y) ** 2) / N_POINTS

    def allfin(t):
        return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree_util.tree_leaves(t)]))

    def scan_of(step, carry0):
        return jax.jit(jax.vmap(lambda p: jax.lax.scan(step, carry0(p), jnp.arange(steps))[1][-1]))

    def fwd(c, s):
        return c, loss(c)

    def sgd(c, s):
        v, g = jax.value_and_grad(loss)(c)
        return jax.tree_util.tree_map(lambda a, b: a - 1e-3 * b, c, g), v

    def adam(c, s):
        p, st = c
        v, g = jax.value_and_grad(loss)(p)
        u, st = opt.update(g, st, p)
        return (optax.apply_updates(p, u), st), v

    def guarded(c, s):  # the per-step guard fpjax used before (one isfinite pass + select every step)
        p, st, d = c
        v, g = jax.value_and_grad(loss)(p)
        u, nst = opt.update(g, st, p)
        np_ = optax.apply_updates(p, u)
        ok = jnp.isfinite(v) & allfin(np_) & ~d
        keep = lambda a, b: jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), a, b)
        return (keep(np_, p), keep(nst, st), d | ~ok), v

    def empty(c, s):
        return c + 1.0, c

    variants = {
        "scan of an empty step (per-iteration overhead)": scan_of(empty, lambda p: jnp.float32(0)),
        "forward only": scan_of(fwd, lambda p: p),
        "forward + backward + SGD update": scan_of(sgd, lambda p: p),
        "+ Adam (= plain baseline)": scan_of(adam, lambda p: (p, opt.init(p))),
        "+ Adam + per-step guard of params and state (fpjax before)": scan_of(
            guarded, lambda p: (p, opt.init(p), jnp.array(False))
        ),
        "fpjax fit (per-step guard, parameters only)": jax.jit(
            jax.vmap(lambda p: fit(model.apply, p, x, y, optimizer=opt, steps=steps).losses[-1])
        ),
    }
    res = {}
    hlo = {}
    for name, f in variants.items():
        compiled = f.lower(params).compile()
        np.asarray(compiled(params))
        best = min(_cpu_wall(lambda: np.asarray(compiled(params)))[0] for _ in range(2))
        res[name] = best / steps
        text = compiled.as_text()
        hlo[name] = {op: text.count(f" {op}(") for op in ("dot", "fusion", "copy", "while", "select")}
    return {"per_step_cpu_s": res, "hlo_op_counts": hlo}


# ------------------------------------------------------------------------------------------- driver


def run_child(args: list[str], single: bool, cores_env: bool = True) -> dict:
    env = dict(os.environ)
    cmd = [sys.executable, __file__, *args]
    if single:
        env["XLA_FLAGS"] = SINGLE_THREAD_XLA
        env["FPJAX_NO_HOST_DEVICES"] = "1"
        env["OPENBLAS_NUM_THREADS"] = "1"
        cmd = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[-1]), *cmd]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def torch_peers(loop_seeds, seeds, steps, threads) -> dict:
    out = _common.run_torch(_common.HERE / "torch_sweep.py", loop_seeds, seeds, steps, threads, taskset=threads == 1)
    res = {}
    for line in out.strip().splitlines():
        name, cpu, wall, n, final = line.split()
        scale = seeds / int(n)  # per-seed cost is constant in a sequential loop
        res[name] = {"cpu": float(cpu) * scale, "wall": float(wall) * scale, "final_loss": float(final)}
    return res


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=64)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--loop-seeds", type=int, default=8, help="seeds run by the sequential PyTorch loop")
    p.add_argument("--fp1d-seeds", type=int, default=16)
    p.add_argument("--fp1d-steps", type=int, default=1000)
    p.add_argument("--profile", action="store_true", help="ablation of the step and HLO op counts")
    p.add_argument("--force-wall", action="store_true", help="run (b) even when the load is too high")
    p.add_argument("--settings", default="ab", choices=("ab", "a", "b"), help="which settings to run")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--record-every", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child == "paired":
        print(json.dumps(paired(args.seeds, args.steps, args.record_every)))
        return
    if args.child == "profile":
        print(json.dumps(profile(args.seeds, args.steps)))
        return
    if args.child:
        print(json.dumps(child(args.child, args.seeds, args.steps, args.record_every)))
        return

    cores = len(os.sched_getaffinity(0))
    load0 = os.getloadavg()[0]
    print(f"machine: {_common.machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"load average before: {load0:.2f} on {cores} cores")
    fl = flops_per_step() * args.seeds
    base = ["--seeds", str(args.seeds), "--steps", str(args.steps)]
    res: dict = {"a": {}, "b": {}}

    # (a) single thread, process CPU time
    if "a" in args.settings:
        mm = _common.pinned_rates()
        res["rates"] = mm
        print(
            f"(a) one thread: float32 matmul {mm['matmul_gflops']:.1f} GFLOP/s, memory (a+=b, 64 MB) "
            f"{mm['stream_gbs']:.1f} GB/s"
        )
        res["a"]["fpjax"] = run_child(["--child", "fpjax", *base], single=True)
        res["a"]["plain"] = run_child(["--child", "plain", *base], single=True)
        if _common.torch_python() is not None:
            res["a"].update(torch_peers(args.loop_seeds, args.seeds, args.steps, 1))
        fp1 = ["--seeds", str(args.fp1d_seeds), "--steps", str(args.fp1d_steps), "--record-every", "10"]
        res["a"]["fp1d-fpjax"] = run_child(["--child", "fpjax", *fp1], single=True)
        res["a"]["fp1d-plain"] = run_child(["--child", "plain", *fp1], single=True)
        res["a"]["paired"] = run_child(["--child", "paired", *base], single=True)
        res["a"]["fp1d-paired"] = run_child(["--child", "paired", *fp1], single=True)
        if args.profile:
            res["profile"] = run_child(
                ["--child", "profile", "--seeds", str(args.seeds), "--steps", "100"], single=True
            )
    load_mid = os.getloadavg()[0]

    # (b) whole machine, wall time
    if "b" in args.settings and (load_mid < cores or args.force_wall):
        res["b"]["fpjax"] = run_child(["--child", "fpjax", *base], single=False)
        res["b"]["plain"] = run_child(["--child", "plain", *base], single=False)
        if _common.torch_python() is not None:
            for th in sorted({1, cores}):
                for k, v in torch_peers(args.loop_seeds, args.seeds, args.steps, th).items():
                    if k not in res["b"] or v["wall"] < res["b"][k]["wall"]:
                        res["b"][k] = dict(v, threads=th)
        for ndev in (1, cores):
            env_child = ["--child", "fpjax", *base]
            os.environ["FPJAX_HOST_DEVICES"] = str(ndev)
            res["b"][f"fpjax-{ndev}dev"] = run_child(env_child, single=False)
        os.environ.pop("FPJAX_HOST_DEVICES", None)
    load1 = os.getloadavg()[0]
    res["load"] = [load0, load_mid, load1]
    report(res, args, cores, fl)


def report(res, args, cores, fl):
    if res["a"]:
        report_a(res, args, fl)
    report_b(res, cores)
    print("\nRAW " + json.dumps(res))


def report_a(res, args, fl):
    a = res["a"]
    f, pl = a["fpjax"], a["plain"]
    print(f"\n(a) single thread, process CPU seconds, {args.seeds} seeds x {args.steps} steps")
    print(f"  fpjax sweep(fit) call (trace + compile + run): {f['sweep_cpu']:.2f} s")
    print(f"  fpjax jit(vmap(fit)): compile {f['compile_cpu']:.2f} s, run {f['run_cpu']:.2f} s")
    print(f"  plain jit(vmap(scan)): compile {pl['compile_cpu']:.2f} s, run {pl['run_cpu']:.2f} s")
    print(f"  steady state fpjax / plain, separate processes: {f['run_cpu'] / pl['run_cpu']:.3f}")
    pr = a["paired"]
    print(
        f"  steady state, paired in one process ({len(pr['ratios'])} alternating runs): median fpjax / plain "
        f"{pr['median_ratio']:.3f} (runs {', '.join(f'{r:.3f}' for r in pr['ratios'])})"
    )
    print(f"  whole call fpjax sweep / plain compile+run: {f['sweep_cpu'] / (pl['compile_cpu'] + pl['run_cpu']):.3f}")
    for name in ("loop", "torch.func"):
        if name in a:
            print(
                f"  PyTorch {name}: {a[name]['cpu']:.2f} s -> fpjax (steady) {a[name]['cpu'] / f['run_cpu']:.2f}x, "
                f"fpjax (whole sweep call) {a[name]['cpu'] / f['sweep_cpu']:.2f}x faster"
            )
    g = fl * args.steps / f["run_cpu"] / 1e9
    print(f"  achieved {g:.1f} GFLOP/s = {g / res['rates']['matmul_gflops']:.0%} of the one-thread matmul rate")
    f1, p1 = a["fp1d-fpjax"], a["fp1d-plain"]
    print(
        f"  fp-1d sweep with records ({args.fp1d_seeds} seeds x {args.fp1d_steps} steps, outputs every 10): "
        f"fpjax run {f1['run_cpu']:.2f} s (sweep call {f1['sweep_cpu']:.2f} s), plain {p1['run_cpu']:.2f} s "
        f"(compile {p1['compile_cpu']:.2f} s): ratio {f1['run_cpu'] / p1['run_cpu']:.3f}"
    )
    pr1 = a["fp1d-paired"]
    print(f"  fp-1d paired in one process: median fpjax / plain {pr1['median_ratio']:.3f}")
    if "profile" in res:
        print("  ablation, CPU ms per step (64-seed batch):")
        for k, v in res["profile"]["per_step_cpu_s"].items():
            print(f"    {k}: {1e3 * v:.3f} ms; HLO {res['profile']['hlo_op_counts'][k]}")


def report_b(res, cores):
    b = res["b"]
    l0, lm, l1 = res["load"]
    valid = max(l0, lm, l1) < cores
    print(
        f"\n(b) whole machine, wall seconds (load before {l0:.2f}, between {lm:.2f}, after {l1:.2f}, "
        f"{cores} cores): {'VALID' if valid else 'INVALID (load >= cores)'}"
    )
    if not b:
        print("  not run: the machine was loaded before (b) could start (use --force-wall to run anyway)")
    for k, v in b.items():
        t = v.get("run_wall", v.get("wall"))
        extra = (
            f", first sweep call {v['sweep_wall']:.2f} s, second (compiled) sweep call {v['sweep2_wall']:.2f} s "
            f"on {v['sweep_devices']} device(s)"
            if "sweep2_wall" in v
            else ""
        )
        print(f"  {k}: {t:.2f} s{extra} (devices/threads {v.get('devices', v.get('threads'))})")


if __name__ == "__main__":
    main()
