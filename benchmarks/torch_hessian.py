"""PyTorch peer of benchmarks/hessian.py: PyHessian-style double-backward Hessian trace and top eigenvalue.

Run by benchmarks/hessian.py in the separate torch venv (benchmarks/.torch-venv, torch 2.13.0 CPU):

    benchmarks/.torch-venv/bin/python benchmarks/torch_hessian.py IN.npz OUT.json

IN.npz holds the MLP weights ``w0, b0, w1, b1, ...`` (``w``: (fan_in, fan_out), as in fpjax),
the data ``x (n, 1)``, ``y (n, 1)``, the activation name, ``num_probes``, ``power`` (rows
``(max_iters, tol)``, one power-iteration variant each), ``repeats``, ``threads``. The algorithm is
PyHessian's (Yao et al. 2020, pyhessian/hessian.py) for a full-batch loss:

* ``loss.backward(create_graph=True)`` once to build the differentiable gradient ``g`` (PyHessian
  does this in ``hessian.__init__``; it is timed here as part of each task);
* ``Hv = torch.autograd.grad(g, params, grad_outputs=v, retain_graph=True)`` (double backward);
* trace: ``num_probes`` Rademacher probes in a Python loop, mean of ``vᵀHv``;
* top eigenvalue: power iteration from a normalized Gaussian vector, ``λ = vᵀHv``,
  ``v ← Hv/‖Hv‖``, stopping after ``max_iters`` steps or, if ``tol > 0``, when
  ``|λ − λ_prev| / (|λ_prev| + 1e-6) < tol`` (PyHessian's rule, its defaults 100 / 1e-3).

Writes timings (best and median wall time, best process CPU time, of ``repeats`` runs after one
warm-up) and values as JSON.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch


def build(weights, activation):
    params = [torch.tensor(w, dtype=torch.float32, requires_grad=True) for w in weights]
    if activation == "relu":
        act = torch.relu
    elif activation == "gaussian":
        act = lambda z: torch.exp(-(z * z) / (2 * 0.1**2))  # noqa: E731  (fpjax default s = 0.1)
    elif activation == "tanh":
        act = torch.tanh
    else:
        raise ValueError(f"unknown activation {activation!r}")

    def forward(x):
        h = x
        n_layers = len(params) // 2
        for j in range(n_layers):
            h = h @ params[2 * j] + params[2 * j + 1]
            if j < n_layers - 1:
                h = act(h)
        return h

    return params, forward


def main(inp: str, out: str) -> None:
    d = np.load(inp, allow_pickle=False)
    torch.set_num_threads(int(d["threads"]))
    torch.manual_seed(0)
    n_w = len([k for k in d.files if k[0] == "w" and k[1:].isdigit()])
    weights = []
    for j in range(n_w):
        weights += [d[f"w{j}"], d[f"b{j}"]]
    params, forward = build(weights, str(d["activation"]))
    x = torch.tensor(d["x"], dtype=torch.float32)
    y = torch.tensor(d["y"], dtype=torch.float32)
    num_probes, repeats = int(d["num_probes"]), int(d["repeats"])
    power = [(int(it), float(tol)) for it, tol in np.asarray(d["power"]).reshape(-1, 2)]

    def grads():
        loss = 0.5 * ((forward(x) - y) ** 2).sum() / x.shape[0]
        return torch.autograd.grad(loss, params, create_graph=True)

    def hv(g, v):
        return torch.autograd.grad(g, params, grad_outputs=v, retain_graph=True)

    def dot(a, b):
        return sum((u * w).sum() for u, w in zip(a, b))

    def trace():
        g = grads()
        vals = []
        for _ in range(num_probes):
            v = [torch.randint_like(p, high=2) * 2 - 1 for p in params]
            vals.append(float(dot(hv(g, v), v)))
        vals = np.array(vals)
        return float(vals.mean()), float(vals.std(ddof=1) / np.sqrt(len(vals)))

    def top(power_iters, power_tol):
        g = grads()
        v = [torch.randn_like(p) for p in params]
        nrm = torch.sqrt(dot(v, v))
        v = [u / nrm for u in v]
        lam, it = None, 0
        for it in range(1, power_iters + 1):  # noqa: B007 (returned: iterations used)
            h = hv(g, v)
            new = float(dot(h, v))
            nrm = torch.sqrt(dot(h, h))
            v = [u / nrm for u in h]
            if power_tol > 0 and lam is not None and abs(new - lam) / (abs(lam) + 1e-6) < power_tol:
                lam = new
                break
            lam = new
        return lam, it

    res = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    tasks = [("trace", trace)]
    tasks += [(f"power_{it}_{tol:g}", lambda it=it, tol=tol: top(it, tol)) for it, tol in power]
    res["power_names"] = [name for name, _ in tasks[1:]]
    for name, fn in tasks:
        fn()  # warm-up (allocator, autograd graph caches)
        ts, cs, val = [], [], None
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            val = fn()
            ts.append(time.perf_counter() - t0)
            cs.append(time.process_time() - c0)
        res[name] = {"best_s": min(ts), "median_s": float(np.median(ts)), "best_cpu_s": min(cs), "value": val}
    with open(out, "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: torch_hessian.py IN.npz OUT.json")
    main(sys.argv[1], sys.argv[2])
