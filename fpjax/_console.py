"""The ``fpjax`` console script's entry point, kept tiny: it is what runs before Ctrl-C is handled.

Until :class:`fpjax._src.signals.ExitOnSignals` is active (inside :func:`fpjax.cli.main`), Python
turns SIGINT into a ``KeyboardInterrupt``; one raised while the command line is still being imported
ends the command the same way a later one does (one line, status 130), not with a traceback.
"""

import sys


def run() -> int:
    """``fpjax ...``: :func:`fpjax.cli.main` on ``sys.argv``, the process ending right after.

    Signals stay handled until the interpreter has shut down (a Ctrl-C after the last result was
    written is ignored: the run is complete and the exit status is the run's), and a Ctrl-C while the
    command line is still being imported exits 130 with one line.
    """
    try:
        from fpjax.cli import main

        return main(None, _ignore_signals_on_exit=True)
    except KeyboardInterrupt:
        sys.stderr.write("fpjax: interrupted; results of unfinished runs were discarded, earlier results are kept\n")
        return 130
