import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# One CPU device per test process: `import fpjax` changes no JAX setting, but the command line
# (tests calling fpjax.cli.main in this process, and the `fpjax` subprocesses the tests start) asks
# for one device per core unless FPJAX_NO_HOST_DEVICES=1; tests/test_devices.py checks the explicit
# fpjax.set_host_device_count in subprocesses without it.
os.environ.setdefault("FPJAX_NO_HOST_DEVICES", "1")
# OpenBLAS (scipy's, which jaxlib's CPU LAPACK calls) spins its threads; on a loaded 2-core machine a
# small QR took 480 ms instead of 0.75 ms. One thread per test process is faster here (set before numpy loads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# The x64 fixture (and the x64 marker, key, keys) come from the pytest plugin fpjax.testing.plugin.


@pytest.fixture(scope="module")
def single_thread_blas():
    """OpenBLAS (scipy's, which jaxlib's CPU LAPACK kernels call) on one thread for a test module.

    OPENBLAS_NUM_THREADS above is too late where numpy was imported before this file (a plugin); with
    its default 2 threads next to XLA's own pool on a 2-core host, a 258x63 QR took ~480 ms instead of
    ~0.8 ms (threads spinning). Modules of float64 theory checks use it with
    ``pytestmark = pytest.mark.usefixtures("single_thread_blas")``.
    """
    import threadpoolctl

    with threadpoolctl.threadpool_limits(1):
        yield


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    A test worker compiles thousands of programs over the suite; in two full runs on jaxlib 0.10.2 a
    worker late in the run crashed inside XLA:CPU compilation (a segfault; "Failed to materialize
    symbols"). Keeping only one module's programs alive bounds what the CPU JIT holds at once.
    """
    yield
    import sys

    if "jax" in sys.modules:
        sys.modules["jax"].clear_caches()
