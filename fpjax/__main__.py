"""``python -m fpjax ...``: the ``fpjax`` command line (see :mod:`fpjax.cli`)."""

import sys

from fpjax._console import run

if __name__ == "__main__":
    sys.exit(run())
