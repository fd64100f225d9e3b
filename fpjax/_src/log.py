"""Logging and run progress of the command line.

fpjax logs through the standard :mod:`logging` module, logger ``"fpjax"`` (a library adds no
handler but a ``NullHandler``; an application chooses where records go). The command line sends
them to stderr, one line each (``INFO``; ``DEBUG`` with ``--verbose``).

:class:`Progress` reports a running experiment: on a terminal a bar of the elapsed time against the
expected runtime, updated every second; otherwise (piped, logged) a plain line every
``FPJAX_PROGRESS_EVERY`` seconds (default 30). The expected runtime is that of the last finished
run of the same settings in the results folder (``runtime_s`` of its ``metrics.json``), so the ETA
is an estimate; without such a run only the elapsed time is shown.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

__all__ = ["logger", "configure", "Progress", "previous_runtime", "format_seconds"]

logger = logging.getLogger("fpjax")
logger.addHandler(logging.NullHandler())


def configure(verbose: bool = False) -> None:
    """Send fpjax's log records to stderr, one line each (``INFO``, or ``DEBUG`` if ``verbose``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("fpjax: %(message)s"))
    for h in [h for h in logger.handlers if getattr(h, "_fpjax_cli", False)]:
        logger.removeHandler(h)
    handler._fpjax_cli = True
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def format_seconds(s: float) -> str:
    """``75.2`` → ``"1 min 15 s"``; ``3725`` → ``"1 h 2 min"``."""
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def previous_runtime(out_root, name: str, config: dict) -> float | None:
    """Runtime in seconds of the finished run ``<out_root>/<name>`` if it had the same settings
    (the seed aside), else ``None``."""
    folder = Path(out_root) / name
    try:
        old = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        runtime = json.loads((folder / "metrics.json").read_text(encoding="utf-8")).get("runtime_s")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(old, dict) or not isinstance(old.get("config"), dict):
        return None
    same = {k: v for k, v in old["config"].items() if k != "seed"} == {k: v for k, v in config.items() if k != "seed"}
    if not same or isinstance(runtime, bool) or not isinstance(runtime, (int, float)) or runtime <= 0:
        return None
    return float(runtime)


def _interval() -> float:
    try:
        return max(0.1, float(os.environ.get("FPJAX_PROGRESS_EVERY", "30")))
    except ValueError:
        return 30.0


class Progress:
    """Context manager reporting the elapsed time (and ETA) of one experiment's run (module docstring).

    Args:
        name: the experiment.
        expected_s: expected runtime in seconds, or ``None``.
        enabled: whether to report at all (e.g. only in process 0 of a distributed run).
    """

    def __init__(self, name: str, expected_s: float | None, *, enabled: bool = True):
        self.name, self.expected_s, self.enabled = name, expected_s, enabled
        self._stop = threading.Event()

    def line(self, elapsed: float) -> str:
        """The plain progress line after ``elapsed`` seconds."""
        text = f"{self.name}: running for {format_seconds(elapsed)}"
        if self.expected_s is None:
            return text + " (no earlier run of these settings to estimate the time left)"
        left = self.expected_s - elapsed
        if left > 0:
            return text + f", about {format_seconds(left)} left (ETA from the last run of these settings)"
        return text + f", longer than the last run of these settings ({format_seconds(self.expected_s)})"

    def __enter__(self):
        self._t0 = time.monotonic()
        if self.enabled:
            tty = sys.stderr.isatty() and logger.isEnabledFor(logging.INFO)
            target = self._bar if tty else self._lines
            self._thread = threading.Thread(target=target, name="fpjax-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.enabled:
            self._thread.join(timeout=5)
        return False

    def _lines(self):
        every = _interval()
        while not self._stop.wait(every):
            logger.info(self.line(time.monotonic() - self._t0))

    def _bar(self):
        from tqdm.auto import tqdm

        total = None if self.expected_s is None else round(self.expected_s, 1)
        fmt = "{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed, ETA {remaining}"
        with tqdm(
            total=total, desc=self.name, unit="s", leave=False, file=sys.stderr,
            bar_format=fmt if total else "{desc}: {elapsed} elapsed",
        ) as bar:  # fmt: skip
            while not self._stop.wait(1.0):
                elapsed = time.monotonic() - self._t0
                bar.n = min(elapsed, total) if total else elapsed
                bar.refresh()
