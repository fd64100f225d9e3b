"""Clean ends on Ctrl-C (SIGINT) and SIGTERM for the command line.

Python turns SIGINT into a ``KeyboardInterrupt`` raised wherever the main thread happens to be; inside
a garbage-collector callback (JAX installs one) it is printed as "Exception ignored" and lost, and an
interpreter that unwinds while XLA's threads still run can crash on the way out. :class:`ExitOnSignals`
(used by ``fpjax`` for the duration of a command) therefore handles both signals itself:

* the Python-level handler does nothing but keep ``KeyboardInterrupt`` from being raised;
* the C-level handler writes the signal number to a pipe (:func:`signal.set_wakeup_fd`) at once,
  whatever the main thread is doing (tracing, compiling, waiting for a computation), and a watcher
  thread reading the pipe ends the process: it removes the folders registered with
  :func:`removed_on_signal` (a run's staging folder), prints one line and calls ``os._exit`` with
  ``128 + signal`` (130 for SIGINT, 143 for SIGTERM), without unwinding the interpreter;
* a :func:`critical` section (putting finished results in place) is never cut: the watcher waits
  for it to end.

Results are written atomically (a staging folder replaces the old results in one ``os.replace``), so
ending the process at any other moment leaves the previous results in place. Outside the command
line (no :class:`ExitOnSignals` active) the two helpers cost nothing and change nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading

__all__ = ["ExitOnSignals", "critical", "removed_on_signal"]

_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
_critical = threading.RLock()
_cleanup: dict[str, int] = {}


@contextlib.contextmanager
def critical():
    """A section a signal does not cut: the exit waits until it has ended."""
    with _critical:
        yield


@contextlib.contextmanager
def removed_on_signal(path):
    """Remove the folder ``path`` if a signal ends the process while the ``with`` block runs."""
    key = os.fspath(path)
    _cleanup[key] = _cleanup.get(key, 0) + 1
    try:
        yield path
    finally:
        _cleanup[key] -= 1
        if not _cleanup[key]:
            del _cleanup[key]


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _terminate(signum: int) -> None:
    _critical.acquire()  # never released: the process ends here, after any critical section
    for path in list(_cleanup):
        for _ in range(3):  # the main thread may still be writing into it
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                break
    # Flush what was printed, but never wait long: the main thread may hold a stream's lock while
    # blocked writing into a pipe that nobody reads.
    flusher = threading.Thread(target=_flush, daemon=True)
    flusher.start()
    flusher.join(timeout=1.0)
    what = _SIGNALS.get(signum, f"signal {signum}")
    with contextlib.suppress(OSError):
        os.write(2, f"fpjax: {what}; results of unfinished runs were discarded, earlier results are kept\n".encode())
    os._exit(128 + signum)


def _watch(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:
            return
        for signum in data:
            if signum in _SIGNALS:
                _terminate(signum)


def _ignore(signum, frame):  # the watcher thread acts; this only keeps KeyboardInterrupt away
    return None


class ExitOnSignals:
    """Context manager: while active, SIGINT and SIGTERM end the process cleanly (module docstring).

    Does nothing outside the main thread (signal handlers can only be set there).

    Args:
      ignore_on_exit: on leaving, keep SIGINT and SIGTERM ignored instead of restoring the previous
        handlers: for a process that ends right after (the ``fpjax`` command), so that a signal during
        interpreter shutdown neither kills a finished run by signal nor prints a traceback.
    """

    def __init__(self, *, ignore_on_exit: bool = False):
        self._ignore_on_exit = bool(ignore_on_exit)

    def __enter__(self):
        self._active = threading.current_thread() is threading.main_thread()
        if not self._active:
            return self
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        # a signal ignored at start-up stays ignored (a background job of a non-interactive shell)
        self._old_handlers = {s: signal.signal(s, _ignore) for s in _SIGNALS if signal.getsignal(s) != signal.SIG_IGN}
        self._old_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._thread = threading.Thread(target=_watch, args=(self._read,), name="fpjax-signals", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if not self._active:
            return False
        signal.set_wakeup_fd(self._old_fd)
        if not self._ignore_on_exit:
            for s, h in self._old_handlers.items():
                signal.signal(s, h)
        os.close(self._write)  # the watcher reads end-of-file and returns
        self._thread.join(timeout=5)
        os.close(self._read)
        return False
