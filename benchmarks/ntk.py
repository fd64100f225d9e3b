"""Empirical-NTK benchmark: ReLU MLP 8-512-512-1, N = 512 inputs, float32.

Same weights and data for every contestant (written once to a temporary .npz):
  * fpjax fast exact path: ``fpjax.ntk.empirical_ntk(model, params, x)`` (per-layer
    ``(a aᵀ + 1) ⊙ (δ δᵀ)``, O(N²·Σ widths));
  * neural-tangents' default: ``jax.jit(nt.empirical_ntk_fn(apply))`` (implementation 1, Jacobian
    contraction, O(N²·P));
  * PyTorch ``torch.func``: ``vmap(jacrev(f))`` over samples + einsum contraction, in the separate
    venv ``benchmarks/.torch-venv`` (skipped with a message when absent).
Each is warmed up (compilation excluded), then timed as the median of several runs. Accuracy:
relative Frobenius error of each float32 kernel against a float64 neural-tangents computation.
Usage: uv run python benchmarks/ntk.py [--n 512] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TORCH_PY = HERE / ".torch-venv" / "bin" / "python"
WIDTHS = (512, 512, 1)
D_IN = 8

TORCH_SCRIPT = r"""
import sys, time
import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

torch.set_num_threads(int(sys.argv[3]))
data = np.load(sys.argv[1])
repeats = int(sys.argv[4])
names = sorted(k for k in data.files if k.startswith("w") or k.startswith("b"))
params = {k: torch.tensor(data[k]) for k in names}
x = torch.tensor(data["x"])
n_layers = len([k for k in names if k.startswith("w")])

def f(p, xi):  # one sample (d,) -> (1,)
    h = xi
    for j in range(n_layers):
        h = h @ p[f"w{j}"] + p[f"b{j}"]
        if j < n_layers - 1:
            h = torch.relu(h)
    return h

def ntk():
    jac = vmap(jacrev(f), in_dims=(None, 0))(params, x)  # {name: (N, 1, *shape)}
    k = None
    for j in jac.values():
        j = j.flatten(2)
        t = torch.einsum("nap,map->nm", j, j)
        k = t if k is None else k + t
    return k

with torch.no_grad():
    k = ntk()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        k = ntk()
        times.append(time.perf_counter() - t0)
np.save(sys.argv[2], k.numpy())
print(float(np.median(times)), torch.__version__)
"""


from _common import machine  # noqa: E402  (one CPU description for every benchmark)


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: compilation / first-call costs excluded
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def rel_err(a, ref) -> float:
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(a - ref) / np.linalg.norm(ref))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp

    from fpjax._src import nt_compat
    from fpjax.models import mlp
    from fpjax.ntk import empirical_ntk

    nt = nt_compat.require()
    print(
        f"machine: {machine()}; jax {jax.__version__}; date {time.strftime('%Y-%m-%d')}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"ReLU MLP {D_IN}-{'-'.join(map(str, WIDTHS))}, N = {args.n}, float32, median of {args.repeats} runs")

    model = mlp(WIDTHS, "relu", init="standard", sigma_w=2**0.5, sigma_b=0.1)
    x = jax.random.normal(jax.random.key(0), (args.n, D_IN), jnp.float32)
    params = model.init(jax.random.key(1), x)
    n_params = sum(int(np.prod(v.shape)) for v in jax.tree_util.tree_leaves(params))
    print(f"parameters: {n_params}")

    # float64 reference: neural-tangents Jacobian contraction on the same weights cast to float64.
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a, np.float64)), params)
        x64 = jnp.asarray(np.asarray(x, np.float64))
        k_ref = np.asarray(jax.jit(nt.empirical_ntk_fn(model.apply))(x64, None, p64))

    results = {}
    fast = lambda: empirical_ntk(model, params, x).block_until_ready()
    results["fpjax fast path"] = (median_time(fast, max(args.repeats, 20)), np.asarray(fast()))
    nt_fn = jax.jit(nt.empirical_ntk_fn(model.apply))  # neural-tangents' default (implementation 1)
    ntk_nt = lambda: nt_fn(x, None, params).block_until_ready()
    results["neural-tangents (impl. 1, default)"] = (median_time(ntk_nt, args.repeats), np.asarray(ntk_nt()))
    # Not a target, for reference: neural-tangents told that samples are independent (vmap_axes=0),
    # which builds the Jacobian per sample instead of back-propagating every output through the batch.
    nt_v = jax.jit(nt.empirical_ntk_fn(model.apply, vmap_axes=0))
    ntk_v = lambda: nt_v(x, None, params).block_until_ready()
    extra = {"neural-tangents (impl. 1, vmap_axes=0)": (median_time(ntk_v, args.repeats), np.asarray(ntk_v()))}

    if not TORCH_PY.exists():
        print("torch venv absent, skipping")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            npz, out = Path(tmp) / "weights.npz", Path(tmp) / "k_torch.npy"
            arrays = {"x": np.asarray(x)}
            for j, layer in enumerate(params["layers"]):
                arrays[f"w{j}"], arrays[f"b{j}"] = np.asarray(layer["w"]), np.asarray(layer["b"])
            np.savez(npz, **arrays)
            script = Path(tmp) / "torch_ntk.py"
            script.write_text(TORCH_SCRIPT)
            proc = subprocess.run(
                [str(TORCH_PY), str(script), str(npz), str(out), str(os.cpu_count() or 1), str(args.repeats)],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"torch peer failed:\n{proc.stderr}")
            t_torch, version = proc.stdout.split()
            results[f"torch.func jacrev+vmap+einsum (torch {version})"] = (float(t_torch), np.load(out))

    t_fast = results["fpjax fast path"][0]
    for name, (t, k) in {**results, **extra}.items():
        ratio = "" if name == "fpjax fast path" else f"   fpjax is {t / t_fast:7.1f}x faster"
        print(f"{name:48s} {t * 1e3:10.2f} ms   rel. err vs float64 {rel_err(k, k_ref):.2e}{ratio}")
    ok = all(rel_err(k, k_ref) <= 1e-5 for _, k in {**results, **extra}.values())
    print(f"all relative errors <= 1e-5: {ok}")


if __name__ == "__main__":
    sys.exit(main())
