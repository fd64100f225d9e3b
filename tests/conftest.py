import os

# Tests run on CPU; keep XLA from grabbing every core's threads per xdist worker.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
os.environ.setdefault("MPLBACKEND", "Agg")
# One CPU device per test process, as before fpjax defaulted to one device per core
# (tests/test_devices.py checks the default in subprocesses).
os.environ.setdefault("FPJAX_NO_HOST_DEVICES", "1")
# OpenBLAS (scipy's, which jaxlib's CPU LAPACK calls) spins its threads; on a loaded 2-core machine a
# small QR took 480 ms instead of 0.75 ms. One thread per test process is faster here (set before numpy loads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def x64():
    """Enable float64 for one test and restore the previous setting afterwards."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)
