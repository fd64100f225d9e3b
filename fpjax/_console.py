"""The ``fpjax`` console script's entry point, kept tiny: it is what runs before Ctrl-C is handled.

Until :class:`fpjax._src.signals.ExitOnSignals` is active (inside :func:`fpjax.cli.main`), Python
turns SIGINT into a ``KeyboardInterrupt``; one raised while the command line is still being imported
ends the command the same way a later one does (one line, status 130), not with a traceback.
"""

import sys


def run() -> int:
    """``fpjax ...``: :func:`fpjax.cli.console_main`, with a Ctrl-C during start-up exiting 130."""
    try:
        from fpjax.cli import console_main

        return console_main()
    except KeyboardInterrupt:
        sys.stderr.write("fpjax: interrupted; results of unfinished runs were discarded, earlier results are kept\n")
        return 130
