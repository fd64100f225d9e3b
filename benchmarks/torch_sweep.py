"""PyTorch peers of benchmarks/sweep.py (run in the torch venv): sequential loop and torch.func ensemble.

Usage: python torch_sweep.py N_SEEDS_LOOP N_SEEDS_VMAP STEPS [THREADS]
Prints one line per peer: `<name> <cpu seconds> <wall seconds> <n_seeds> <final mean loss>`.
"""

import sys
import time

import torch
from torch.func import functional_call, grad, stack_module_state, vmap

WIDTHS = [1, 200, 100, 100, 50, 1]


def make_net():
    layers = []
    for i, (a, b) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        layers.append(torch.nn.Linear(a, b))  # default init; the timing does not depend on it
        if i < len(WIDTHS) - 2:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def data():
    x = torch.linspace(-1, 1, 61).unsqueeze(1)
    y = torch.sin(torch.pi * x) + 0.5 * torch.sin(3 * torch.pi * x) + 0.25 * torch.sin(5 * torch.pi * x)
    return x, y


def loop(n_seeds, steps):
    x, y = data()
    losses = []
    c, t = time.process_time(), time.perf_counter()
    for s in range(n_seeds):
        torch.manual_seed(s)
        net = make_net()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = 0.5 * ((net(x) - y) ** 2).sum() / x.shape[0]
            loss.backward()
            opt.step()
        losses.append(loss.item())
    return time.process_time() - c, time.perf_counter() - t, sum(losses) / len(losses)


def ensemble(n_seeds, steps):
    x, y = data()
    torch.manual_seed(0)
    nets = [make_net() for _ in range(n_seeds)]
    params, buffers = stack_module_state(nets)
    base = make_net().to("meta")

    def loss_fn(p, b):
        out = functional_call(base, (p, b), (x,))
        return 0.5 * ((out - y) ** 2).sum() / x.shape[0]

    g = vmap(grad(loss_fn))
    vloss = vmap(loss_fn)
    leaves = [v.detach().requires_grad_(False) for v in params.values()]
    opt = torch.optim.Adam(leaves, lr=1e-3)  # elementwise, so one Adam over stacked params = one per model
    names = list(params.keys())
    c, t = time.process_time(), time.perf_counter()
    for _ in range(steps):
        grads = g(dict(zip(names, leaves)), buffers)
        for leaf, name in zip(leaves, names):
            leaf.grad = grads[name]
        opt.step()
    final = vloss(dict(zip(names, leaves)), buffers).mean().item()
    return time.process_time() - c, time.perf_counter() - t, final


if __name__ == "__main__":
    n_loop, n_vmap, steps = map(int, sys.argv[1:4])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.set_num_threads(threads)
    loop(1, 20)
    c, w, l = loop(n_loop, steps)
    print(f"loop {c:.4f} {w:.4f} {n_loop} {l:.3e}")
    ensemble(n_vmap, 20)
    c, w, l = ensemble(n_vmap, steps)
    print(f"torch.func {c:.4f} {w:.4f} {n_vmap} {l:.3e}")
