"""Several JAX processes (hosts) for one sweep: start-up, detection and a local launcher.

A multi-process JAX program runs the same script in every process; after
``jax.distributed.initialize`` each process sees every device of every process (``jax.devices()``)
and :func:`fpjax.train.sweep` shards its chunks over all of them. This module finds out how the
processes were started:

1. explicit arguments of :func:`initialize`;
2. the environment variables ``JAX_COORDINATOR_ADDRESS`` (which ``jax.distributed.initialize``
   reads itself), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (set by :func:`launch_local`);
3. SLURM (``SLURM_JOB_ID``, ``SLURM_STEP_NODELIST``, ``SLURM_NTASKS``, ``SLURM_PROCID``,
   ``SLURM_LOCALID``: one task per process, as ``srun`` starts them) and Cloud TPU pods
   (``TPU_WORKER_HOSTNAMES`` / ``TPU_PROCESS_ADDRESSES``), left to JAX's own cluster detection;
4. otherwise one process: nothing to do.

On CPU, cross-process collectives need gloo: :func:`initialize` sets
``jax_cpu_collectives_implementation = "gloo"`` unless it was set already.

Start-up has a time limit, ``timeout_s`` (default ``FPJAX_COORDINATOR_TIMEOUT`` or 120 s): a
process other than 0 first checks that the coordinator accepts connections and raises a
``ConnectionError`` naming the address if it does not within the limit; if JAX's own start-up has not
finished by then either (e.g. process 0 waiting for processes that never start), the process ends
with one line on stderr naming the address and exit status 2 — JAX itself would abort the process
(an absl check failure) after its own, longer limit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["ProcessInfo", "free_port", "initialize", "is_main_process", "launch_local"]

_SLURM_VARS = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")
_TPU_VARS = ("TPU_WORKER_HOSTNAMES", "TPU_PROCESS_ADDRESSES")


class ProcessInfo(NamedTuple):
    """Where this process stands in a (possibly single-process) JAX job.

    Attributes:
      process_id: this process's index, ``0 .. num_processes - 1``.
      num_processes: number of processes in the job.
      coordinator: ``"host:port"`` of the coordinator, or ``None`` (single process, or chosen by
        JAX's cluster detection).
      source: how the job was detected: ``"arguments"``, ``"environment"``, ``"slurm"``,
        ``"tpu"``, ``"already initialized"`` or ``"single process"``.

    Examples:
      What :func:`initialize` returns in a plain single-process run:

      >>> info = ProcessInfo(process_id=0, num_processes=1, coordinator=None, source="single process")
      >>> info.process_id == 0  # the main process writes the results
      True
      >>> ProcessInfo(1, 4, "10.0.0.1:1234", "slurm")
      ProcessInfo(process_id=1, num_processes=4, coordinator='10.0.0.1:1234', source='slurm')
    """

    process_id: int
    num_processes: int
    coordinator: str | None
    source: str


def _int_setting(value, name: str, minimum: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        v = int(value)
        if isinstance(value, float) or isinstance(value, bool) or (isinstance(value, str) and str(v) != value.strip()):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}") from None
    if v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {v}")
    return v


def _use_gloo() -> None:
    import jax

    try:
        if jax.config.jax_cpu_collectives_implementation in (None, "none", ""):
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except AttributeError:  # a JAX without the option: nothing to set
        pass


def _timeout(timeout_s) -> float:
    if timeout_s is None:
        env = os.environ.get("FPJAX_COORDINATOR_TIMEOUT", "").strip()
        if not env:
            return 120.0
        try:
            timeout_s = float(env)
        except ValueError:
            raise ValueError(f"FPJAX_COORDINATOR_TIMEOUT must be a positive number of seconds; got {env!r}") from None
        name = "FPJAX_COORDINATOR_TIMEOUT"
    else:
        name = "timeout_s"
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s < 1e6:
        raise ValueError(f"{name} must be a positive number of seconds; got {timeout_s!r}")
    return float(timeout_s)


def _wait_for_coordinator(coordinator: str, timeout_s: float) -> None:
    """Return once ``host:port`` accepts a TCP connection; ``ConnectionError`` after ``timeout_s``."""
    host, port = coordinator.rsplit(":", 1)
    host = host.strip("[]")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=min(2.0, timeout_s)):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"the JAX coordinator {coordinator} did not answer within {timeout_s:g} s "
                    f"({err.strerror or err}); is process 0 running? (FPJAX_COORDINATOR_TIMEOUT sets the limit)"
                ) from None
        time.sleep(0.2)


def _watchdog(coordinator: str | None, timeout_s: float) -> threading.Event:
    """End the process with one line if JAX's start-up has not finished after ``timeout_s``."""
    done = threading.Event()

    def watch():
        if not done.wait(timeout_s):
            where = coordinator or "found by the cluster detection"
            sys.stderr.flush()
            os.write(
                2,
                f"fpjax: error: the distributed JAX job did not start within {timeout_s:g} s (coordinator "
                f"{where}); not every process joined (FPJAX_COORDINATOR_TIMEOUT sets the limit)\n".encode(),
            )
            os._exit(2)

    threading.Thread(target=watch, name="fpjax-coordinator-watchdog", daemon=True).start()
    return done


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout_s: float | None = None,
) -> ProcessInfo:
    """Start JAX's distributed runtime if this process is one of several; a no-op otherwise.

    Call it first, before any other JAX call. Sources, in order: the arguments, the environment
    variables ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID``, SLURM
    (``srun`` with one task per process) and Cloud TPU pods. When none applies the job is a single
    process and nothing is started. Calling it again returns the running job's
    :class:`ProcessInfo`.

    Args:
      coordinator: ``"host:port"`` of process 0's coordinator service (any free port, the same in
        every process).
      num_processes: number of processes (>= 1).
      process_id: this process's index in ``0 .. num_processes - 1``.
      timeout_s: seconds the start-up may take (default ``FPJAX_COORDINATOR_TIMEOUT`` or 120); see
        the module docstring for what happens after it.

    Returns:
      :class:`ProcessInfo` ``(process_id, num_processes, coordinator, source)``.

    Raises:
      ValueError: malformed or incomplete settings (naming the argument or variable).
      ConnectionError: a process other than 0 cannot reach the coordinator within ``timeout_s``.

    Examples:
      >>> from fpjax import distributed
      >>> distributed.initialize(num_processes=1).num_processes
      1
    """
    import jax
    from jax._src import distributed as _jd

    if getattr(_jd.global_state, "client", None) is not None:
        return ProcessInfo(
            jax.process_index(),
            jax.process_count(),
            getattr(_jd.global_state, "coordinator_address", None),
            "already initialized",
        )
    if coordinator is not None and not isinstance(coordinator, str):
        raise TypeError(f"coordinator must be a 'host:port' string; got {type(coordinator).__name__}")
    source = "arguments" if any(v is not None for v in (coordinator, num_processes, process_id)) else None
    n = _int_setting(num_processes, "num_processes", 1)
    pid = _int_setting(process_id, "process_id", 0)
    env = os.environ
    if coordinator is None and env.get("JAX_COORDINATOR_ADDRESS"):
        coordinator = env["JAX_COORDINATOR_ADDRESS"]
        source = source or "environment"
    if n is None and env.get("JAX_NUM_PROCESSES"):
        n = _int_setting(env["JAX_NUM_PROCESSES"], "environment variable JAX_NUM_PROCESSES", 1)
        source = source or "environment"
    if pid is None and env.get("JAX_PROCESS_ID"):
        pid = _int_setting(env["JAX_PROCESS_ID"], "environment variable JAX_PROCESS_ID", 0)
        source = source or "environment"
    if coordinator is not None and (":" not in coordinator or not coordinator.rsplit(":", 1)[1].isdigit()):
        raise ValueError(f"coordinator must be 'host:port'; got {coordinator!r}")

    cluster = None
    if coordinator is None and all(v in env for v in _SLURM_VARS):
        cluster = "slurm"
        n = n if n is not None else _int_setting(env["SLURM_NTASKS"], "SLURM_NTASKS", 1)
        pid = pid if pid is not None else _int_setting(env["SLURM_PROCID"], "SLURM_PROCID", 0)
    elif coordinator is None and any(env.get(v) for v in _TPU_VARS):
        cluster = "tpu"

    if cluster is None and coordinator is None:
        if n not in (None, 1):
            raise ValueError(
                f"num_processes={n} needs a coordinator: pass coordinator='host:port' or set "
                "JAX_COORDINATOR_ADDRESS (or run under SLURM)"
            )
        if pid not in (None, 0):
            raise ValueError(f"process_id={pid} without a coordinator: a single process has id 0")
        return ProcessInfo(0, 1, None, "single process")
    if cluster != "tpu":
        if n is None:
            raise ValueError("num_processes is missing: pass num_processes=... or set JAX_NUM_PROCESSES")
        if pid is None:
            raise ValueError("process_id is missing: pass process_id=... or set JAX_PROCESS_ID")
        if pid >= n:
            raise ValueError(f"process_id must be in 0..{n - 1} (num_processes={n}); got {pid}")
    limit = _timeout(timeout_s)
    if coordinator is not None and pid not in (None, 0):
        _wait_for_coordinator(coordinator, limit)
    _use_gloo()
    # JAX aborts the process (absl check failure) when its own limit passes: ours comes first.
    done = _watchdog(coordinator, limit)
    try:
        if cluster == "tpu":
            jax.distributed.initialize(initialization_timeout=int(limit) + 30)
        else:
            # with SLURM, JAX derives the coordinator from the node list and job id
            jax.distributed.initialize(
                coordinator, num_processes=n, process_id=pid, initialization_timeout=int(limit) + 30
            )
    finally:
        done.set()
    return ProcessInfo(jax.process_index(), jax.process_count(), coordinator, cluster or source)


def is_main_process() -> bool:
    """True in process 0 (the one that writes results and reports), and in a single process.

    Examples:
      >>> from fpjax import distributed
      >>> distributed.is_main_process()
      True
    """
    import jax

    return jax.process_index() == 0


def free_port() -> int:
    """A TCP port on localhost that was free a moment ago (for a local coordinator).

    Returns:
      The port number (the operating system's choice, so another process may take it later).

    Examples:
      >>> port = free_port()
      >>> isinstance(port, int) and 0 < port < 65536
      True
      >>> coordinator = f"127.0.0.1:{port}"
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _exit_code(rc: int) -> int:
    return 128 - rc if rc < 0 else rc  # killed by signal s: 128 + s, as a shell reports it


def launch_local(
    n: int,
    argv: Sequence[str],
    *,
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
    platform: str | None = "cpu",
    grace_s: float = 10.0,
) -> int:
    """Run ``n`` processes of one JAX job on this machine and wait for them.

    Process ``i`` runs ``command + argv`` (default ``command``: ``python -m fpjax``) with
    ``JAX_COORDINATOR_ADDRESS=127.0.0.1:<free port>``, ``JAX_NUM_PROCESSES=n`` and
    ``JAX_PROCESS_ID=i`` set, so :func:`initialize` in each process joins the job; on CPU each
    process gets ``cores // n`` CPU devices (``FPJAX_HOST_DEVICES``, unless set). Output goes to
    this process's stdout/stderr. If a process fails, the others get ``grace_s`` seconds to end
    and are then terminated (a job with a dead member cannot finish).

    Args:
      n: number of processes (>= 1).
      argv: arguments after ``command`` (e.g. ``["run", "fp-1d"]``).
      command: program to start (default ``[sys.executable, "-m", "fpjax"]``).
      env: extra environment variables for every process.
      platform: ``JAX_PLATFORMS`` for the processes (default ``"cpu"``: a local trial; ``None``
        leaves it as it is).
      grace_s: seconds the others may take to end after one failed.

    Returns:
      The exit code of the job: 0 if every process succeeded, else the code of the first process
      that failed (``128 + signal`` if it was killed by a signal); 130 after Ctrl-C.

    Examples:
      >>> import sys
      >>> from fpjax.distributed import launch_local
      >>> launch_local(2, ["-c", "import os, sys; sys.exit(int(os.environ['JAX_PROCESS_ID']))"],
      ...              command=[sys.executable])
      1
    """
    n = _int_setting(n, "n", 1)
    if isinstance(argv, (str, bytes)) or not all(
        isinstance(a, (str, os.PathLike, int, float)) and not isinstance(a, bool) for a in argv
    ):
        raise TypeError("argv must be a list of strings (the arguments of the command)")
    if platform is not None and (not isinstance(platform, str) or not platform.strip()):
        raise TypeError(f"platform must be a JAX_PLATFORMS string such as 'cpu', or None; got {platform!r}")
    if isinstance(grace_s, bool) or not isinstance(grace_s, (int, float)) or not 0 <= grace_s < float("inf"):
        raise ValueError(f"grace_s must be a number of seconds >= 0; got {grace_s!r}")
    cmd = [sys.executable, "-m", "fpjax"] if command is None else [os.fspath(c) for c in command]
    if not cmd:
        raise ValueError("command must not be empty")
    port = free_port()
    procs: list[subprocess.Popen] = []
    base = dict(os.environ)
    base.update(env or {})
    if platform is not None:
        base["JAX_PLATFORMS"] = platform
    if (platform or "").split(",")[0] == "cpu" and "FPJAX_HOST_DEVICES" not in base:
        # share the cores: each process gets its part as CPU devices (see fpjax._src.devices)
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # pragma: no cover - non-Linux
            cores = os.cpu_count() or 1
        base["FPJAX_HOST_DEVICES"] = str(max(1, cores // n))
    for v in _SLURM_VARS + _TPU_VARS:  # a local job must not join an outer cluster's
        base.pop(v, None)
    for i in range(n):
        e = dict(base, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES=str(n), JAX_PROCESS_ID=str(i))
        procs.append(
            subprocess.Popen(cmd + [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in argv], env=e)
        )
    first_failure: int | None = None
    failed_at = None
    try:
        while True:
            codes = [p.poll() for p in procs]
            for rc in codes:
                if rc not in (None, 0) and first_failure is None:
                    first_failure, failed_at = _exit_code(rc), time.monotonic()
            if all(rc is not None for rc in codes):
                break
            if failed_at is not None and time.monotonic() - failed_at > grace_s:
                for p in procs:
                    if p.poll() is None:
                        p.terminate()
                for p in procs:
                    try:
                        p.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return 130
    return first_failure or 0
