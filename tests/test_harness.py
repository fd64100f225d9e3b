"""The suite's own settings (conftest.py): which tests compile with XLA's optimizations, and with
which XLA:CPU code generator."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest


def test_unmarked_tests_compile_without_optimizations():
    assert jax.config.read("jax_disable_most_optimizations")


@pytest.mark.xla_optimized
def test_marked_tests_compile_with_optimizations():
    assert not jax.config.read("jax_disable_most_optimizations")


def float32_sum_error_and_bound() -> tuple[float, float]:
    """|float32 − float64| of a jitted reduction of 10⁴ numbers, and the summation bound n·ε·Σ|x|
    (Higham 2002, §4.2) it must meet whatever order the compiled program adds in."""
    import numpy as np

    x = jax.random.normal(jax.random.key(0), (10_000,))
    got = float(jax.jit(lambda v: jnp.sum(jnp.sin(v) * v))(x))
    x64 = np.asarray(x, np.float64)
    ref = float(np.sum(np.sin(x64) * x64))
    return abs(got - ref), x.size * np.finfo(np.float32).eps * float(np.sum(np.abs(x64)))


@pytest.mark.parametrize("optimized", [False, True])
def test_both_levels_compute_the_same_float32_sum(optimized):
    """The summation bound holds at either optimization level."""
    jax.config.update("jax_disable_most_optimizations", not optimized)
    error, bound = float32_sum_error_and_bound()
    assert error <= bound


def test_classic_emitters_unless_the_user_sets_xla_flags():
    """The root conftest sets XLA_FLAGS before any backend starts, and the test processes and the
    `fpjax` processes they start inherit it; a run under the user's own XLA_FLAGS keeps those."""
    flags = os.environ["XLA_FLAGS"]
    if "--xla_cpu_use_fusion_emitters=false" not in flags:
        pytest.skip(f"XLA_FLAGS={flags!r}: the user's own, or an XLA without the classic emitters")
    code = "import os, jax; jax.devices(); print(os.environ['XLA_FLAGS'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == flags


@pytest.mark.parametrize("emitters", ["true", "false"])
def test_both_emitters_compute_the_same_float32_sum(emitters):
    """The summation bound above holds with the fusion emitters on and off (a fresh process each)."""
    code = "from test_harness import float32_sum_error_and_bound as f; e, b = f(); assert e <= b, (e, b)"
    env = dict(os.environ, XLA_FLAGS=f"--xla_cpu_use_fusion_emitters={emitters}")
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=os.path.dirname(__file__),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "Unknown flag in XLA_FLAGS" in run.stderr:
        pytest.skip(f"this XLA (jax {jax.__version__}) has only the fusion emitters")
    assert run.returncode == 0, run.stderr[-3000:]
