"""One error policy: a bad value gives the same outcome eagerly, under ``jit`` and under ``vmap``.

Eagerly the function raises ``ValueError`` naming the argument; traced (``jit``, ``vmap``, both) the
same message is raised when the program runs (``equinox.error_if``: a ``RuntimeError``). The table
below lists value checks of public functions; each case is run the three ways. Valid values run the
same three ways without error and give equal results.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax import ntk as fntk
from fpjax._src import checks

K3 = jnp.array([[2.0, 0.5, 0.1], [0.5, 2.0, 0.5], [0.1, 0.5, 2.0]])
Y3 = jnp.array([[1.0], [-1.0], [0.5]])

# name -> (function of one scalar argument, a bad value, a good value, the message's key phrase)
CASES = {
    "kernel_flow-t-negative": (lambda t: fntk.kernel_flow(K3, Y3, t).train, -1.0, 0.5, "t must be >= 0"),
    "kernel_flow-t-nan": (lambda t: fntk.kernel_flow(K3, Y3, t).train, jnp.nan, 2.0, "t must be >= 0"),
}


def _modes(fn):
    """The three ways a user calls ``fn``: eagerly, jitted, vmapped over a batch of one."""
    return {
        "eager": fn,
        "jit": jax.jit(fn),
        "vmap": lambda v: jax.vmap(fn)(jnp.asarray(v)[None])[0],
    }


def table_tests(cases):
    """The two tests of a table ``{case: (fn, bad, good, phrase)}``: the bad value fails with
    ``phrase`` eagerly, jitted and vmapped; the good value gives one result all three ways. A test
    module binds them to its own names (pytest collects them under those)."""

    @pytest.mark.parametrize("mode", ["eager", "jit", "vmap"])
    @pytest.mark.parametrize("case", sorted(cases))
    def bad_value_fails_the_same_way(case, mode):
        fn, bad, _, phrase = cases[case]
        assert_fails_the_same_way(fn, bad, phrase, mode)

    @pytest.mark.parametrize("case", sorted(cases))
    def good_value_gives_one_result(case):
        fn, _, good, _ = cases[case]
        assert_one_result(fn, good)

    return bad_value_fails_the_same_way, good_value_gives_one_result


test_bad_value_fails_the_same_way_eager_jit_vmap, test_good_value_gives_one_result_eager_jit_vmap = table_tests(CASES)


def assert_fails_the_same_way(fn, bad, phrase: str, mode: str) -> None:
    """``fn(bad)`` called in ``mode`` fails with ``phrase``: eagerly a ``ValueError``; traced, the
    program fails at run time (jaxlib reports a failed host callback as a RuntimeError, or on some
    dispatch paths a ValueError, both carrying the text)."""
    expected = ValueError if mode == "eager" else (RuntimeError, ValueError)
    with pytest.raises(expected, match=phrase):
        jax.block_until_ready(_modes(fn)[mode](bad))


def assert_one_result(fn, good) -> None:
    """``fn(good)`` gives a finite result, equal (float32 rounding) eagerly, jitted and vmapped."""
    outs = {m: np.asarray(f(good)) for m, f in _modes(fn).items()}
    assert np.all(np.isfinite(outs["eager"]))
    np.testing.assert_allclose(outs["jit"], outs["eager"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(outs["vmap"], outs["eager"], rtol=1e-6, atol=1e-7)


def test_error_if_returns_its_input_and_fails_when_the_program_runs():
    x = jnp.arange(3.0)

    @jax.jit
    def f(v):
        return checks.error_if(v, v > 5, "v must be <= 5") * 2

    np.testing.assert_array_equal(f(x), 2 * x)
    with pytest.raises((RuntimeError, ValueError), match="v must be <= 5"):
        jax.block_until_ready(f(x + 10))
