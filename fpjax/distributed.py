"""Multi-process (multi-host) runs on JAX's own distributed runtime.

``initialize()`` joins a job started by SLURM, a Cloud TPU pod, :func:`launch_local` or explicit
arguments (and does nothing in a single process); ``is_main_process()`` says which process writes
results; ``launch_local(n, argv)`` starts ``n`` local processes of ``python -m fpjax <argv>`` for a
trial on one machine. :func:`fpjax.train.sweep` then shards every chunk over the devices of all
processes; see ``docs/howto/distributed.md``.
"""

from fpjax._src.distributed import (
    ProcessInfo,
    free_port,
    initialize,
    is_main_process,
    launch_local,
)

__all__ = ["ProcessInfo", "free_port", "initialize", "is_main_process", "launch_local"]
