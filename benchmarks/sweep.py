"""Seed-sweep benchmark (SPEC §5): fp-1d network, 64 seeds, fpjax vs PyTorch, same machine, one run.

Network tanh 1-200-100-100-50-1 (Xavier), 61 points of a 3-frequency target on [-1, 1], Adam 1e-3,
2000 full-batch steps, 64 seeds. Prints:
  * fpjax sweep time (one jitted vmap over seeds; compile time reported separately);
  * PyTorch sequential loop and torch.func vmapped ensemble (torch venv) and the speed-up ratios;
  * achieved FLOP/s of the fpjax sweep as a fraction of this machine's float32 matmul rate;
  * scaling over 1/2/4 forced host devices (subprocesses).
Usage: uv run python benchmarks/sweep.py [--seeds 64] [--steps 2000] [--loop-seeds 64]
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


def flops_per_step() -> float:
    """Forward 2·n·Σ fan_in·fan_out FLOPs; backward twice that (grads of activations and weights)."""
    dims = (1,) + WIDTHS
    macs = N_POINTS * sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    return 3 * 2 * macs


def fpjax_sweep(n_seeds: int, steps: int):
    import jax
    import jax.numpy as jnp
    import optax

    from fpjax.models import mlp
    from fpjax.train import fit, sweep

    x = jnp.linspace(-1, 1, N_POINTS)[:, None]
    y = jnp.sin(jnp.pi * x) + 0.5 * jnp.sin(3 * jnp.pi * x) + 0.25 * jnp.sin(5 * jnp.pi * x)
    model = mlp(WIDTHS, "tanh", init="xavier")

    def fn(key):
        r = fit(model.apply, model.init(key, x), x, y, optimizer=optax.adam(1e-3), steps=steps)
        return r.losses[-1]

    keys = jax.random.split(jax.random.key(0), n_seeds)
    t = time.perf_counter()
    sweep(fn, keys)
    first = time.perf_counter() - t
    best, res = float("inf"), None
    for _ in range(2):
        t = time.perf_counter()
        res = sweep(fn, keys)
        best = min(best, time.perf_counter() - t)
    return best, first, float(res.mean().mean), len(jax.devices())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=64)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--loop-seeds", type=int, default=64, help="seeds run by the sequential PyTorch loop")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        dt, _, _, ndev = fpjax_sweep(args.seeds, args.steps)
        print(json.dumps({"seconds": dt, "devices": ndev}))
        return

    print(f"machine: {_common.machine()}; date {time.strftime('%Y-%m-%d')}")
    dt, first_s, loss, _ = fpjax_sweep(args.seeds, args.steps)
    total_flops = flops_per_step() * args.steps * args.seeds
    peak = _common.matmul_gflops()
    achieved = total_flops / dt / 1e9
    print(f"fpjax sweep: {args.seeds} seeds x {args.steps} steps in {dt:.2f} s (first call, with compilation: {first_s:.1f} s), "
          f"mean final loss {loss:.2e}")
    print(f"achieved {achieved:.1f} GFLOP/s = {achieved / peak:.0%} of measured float32 matmul rate {peak:.1f} GFLOP/s")

    tp = _common.torch_python()
    if tp is not None:
        out = _common.run_torch(_common.HERE / "torch_sweep.py", args.loop_seeds, args.seeds, args.steps)
        for line in out.strip().splitlines():
            name, secs, n, final = line.split()
            secs = float(secs) * args.seeds / int(n)  # per-seed cost is constant in a sequential loop
            print(f"{name}: {secs:.2f} s for {args.seeds} seeds (final loss {final}); fpjax is {secs / dt:.1f}x faster")

    print("scaling over forced host devices (same 2 physical cores shared by all devices):")
    base = None
    for ndev in (1, 2, 4):
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={ndev}")
        out = subprocess.run([sys.executable, __file__, "--child", "--seeds", str(args.seeds), "--steps",
                              str(args.steps)], env=env, capture_output=True, text=True, check=True)
        secs = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
        base = base or secs
        print(f"  {ndev} device(s): {secs:.2f} s, speed-up {base / secs:.2f}x")


if __name__ == "__main__":
    main()
