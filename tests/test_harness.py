"""The suite's own settings (conftest.py): which tests compile with XLA's optimizations."""

import jax
import jax.numpy as jnp
import pytest


def test_unmarked_tests_compile_without_optimizations():
    assert jax.config.read("jax_disable_most_optimizations")


@pytest.mark.xla_optimized
def test_marked_tests_compile_with_optimizations():
    assert not jax.config.read("jax_disable_most_optimizations")


@pytest.mark.parametrize("optimized", [False, True])
def test_both_levels_compute_the_same_float32_sum(optimized):
    """A reduction of 10⁴ float32 numbers at either level agrees with float64 to the summation
    bound n·ε·Σ|x| (Higham 2002, §4.2), whatever order the compiled program adds in."""
    import numpy as np

    jax.config.update("jax_disable_most_optimizations", not optimized)
    x = jax.random.normal(jax.random.key(0), (10_000,))
    got = float(jax.jit(lambda v: jnp.sum(jnp.sin(v) * v))(x))
    ref = float(np.sum(np.sin(np.asarray(x, np.float64)) * np.asarray(x, np.float64)))
    bound = x.size * np.finfo(np.float32).eps * float(np.sum(np.abs(np.asarray(x, np.float64))))
    assert abs(got - ref) <= bound
