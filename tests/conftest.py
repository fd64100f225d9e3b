import os

# Tests run on CPU; keep XLA from grabbing every core's threads per xdist worker.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
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
