"""pytest plugin of fpjax (entry point ``pytest11: fpjax``): float64 on demand and fixed PRNG keys.

Fixtures:

* ``x64`` — enables ``jax_enable_x64`` for the test and restores the previous value afterwards;
* ``key`` — ``jax.random.key(seed)`` with ``seed`` from ``--fpjax-seed`` (default 0);
* ``keys`` — a function ``keys(n)`` returning ``jax.random.split(key, n)`` (``n`` fixed keys).

Marker: ``@pytest.mark.x64`` has the effect of the ``x64`` fixture for the whole test, fixtures
included. A project's own fixtures of the same names take precedence (pytest's usual rule).
JAX is imported only when a fixture or the marker is used.
"""

from __future__ import annotations

import pytest

_X64_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser):
    group = parser.getgroup("fpjax")
    group.addoption("--fpjax-seed", type=int, default=0, help="seed of the fpjax `key` and `keys` fixtures (default 0)")


def pytest_configure(config):
    config.addinivalue_line("markers", "x64: run the test with jax_enable_x64 (float64), restored afterwards")


def _set_x64(value: bool) -> bool:
    import jax

    old = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", value)
    return old


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.get_closest_marker("x64") is not None:
        item.stash[_X64_KEY] = _set_x64(True)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    if _X64_KEY in item.stash:
        _set_x64(item.stash[_X64_KEY])
        del item.stash[_X64_KEY]


@pytest.fixture
def x64():
    """Enable float64 (``jax_enable_x64``) for one test; the previous setting is restored afterwards."""
    old = _set_x64(True)
    try:
        yield
    finally:
        _set_x64(old)


@pytest.fixture
def key(request):
    """A fixed PRNG key, ``jax.random.key(seed)`` with ``seed`` from ``--fpjax-seed`` (default 0)."""
    import jax

    return jax.random.key(int(request.config.getoption("fpjax_seed")))


@pytest.fixture
def keys(key):
    """``keys(n)``: ``n`` fixed PRNG keys, ``jax.random.split(key, n)``."""
    import jax

    def make(n: int):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}")
        return jax.random.split(key, n)

    return make
