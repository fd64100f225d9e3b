"""Shared helpers for the benchmarks: machine description, the torch venv, matmul peak."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TORCH_PY = HERE / ".torch-venv" / "bin" / "python"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def torch_python() -> Path | None:
    """The torch venv's python (made with `pip install torch==2.13.0`), or None with a message."""
    if TORCH_PY.exists():
        return TORCH_PY
    print(
        f"torch venv absent ({TORCH_PY}); PyTorch peers skipped. Create it with:\n"
        f"  python3 -m venv {HERE / '.torch-venv'} && {HERE / '.torch-venv/bin/pip'} install torch==2.13.0 numpy"
    )
    return None


def run_torch(script: Path, *args, taskset: bool = False) -> str:
    """Run a PyTorch peer script in the torch venv and return its stdout (``taskset``: pinned to one core)."""
    cmd = [str(TORCH_PY), str(script), *map(str, args)]
    if taskset:
        cmd = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[-1]), *cmd]
    out = subprocess.run(
        cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1") if taskset else None
    )
    if out.returncode != 0:
        raise RuntimeError(f"{script.name} failed:\n{out.stderr}")
    return out.stdout


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matmul rate of this machine through XLA (best of ``repeats``), in GFLOP/s."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def stream_gbs(mbytes: int = 64, repeats: int = 5) -> float:
    """Measured memory bandwidth of ``a + b`` on float32 arrays of ``mbytes`` each (2 reads + 1 write), GB/s."""
    import jax
    import jax.numpy as jnp

    n = mbytes * 2**20 // 4
    a = jnp.ones((n,), jnp.float32)
    b = jnp.ones((n,), jnp.float32)
    f = jax.jit(lambda a, b: a + b)
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 3 * 4 * n / best / 1e9


PINNED_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def pinned_rates() -> dict:
    """``matmul_gflops`` and ``stream_gbs`` with one thread pinned to one core (a subprocess)."""
    env = dict(os.environ, XLA_FLAGS=PINNED_XLA_FLAGS, FPJAX_NO_HOST_DEVICES="1")
    code = (
        "import json, _common; print(json.dumps({'matmul_gflops': _common.matmul_gflops(1024), "
        "'stream_gbs': _common.stream_gbs()}))"
    )
    out = subprocess.run(
        ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[-1]), sys.executable, "-c", code],
        env=env,
        cwd=HERE,
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def timeit(fn, repeats: int = 3) -> float:
    """Best wall time of ``fn()`` over ``repeats`` (fn must block until its result is ready)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


if __name__ == "__main__":
    print(machine(), sys.version)
