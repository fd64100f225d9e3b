"""``python -m fpjax ...``: the ``fpjax`` command line (see :mod:`fpjax.cli`)."""

import sys

from fpjax.cli import console_main

if __name__ == "__main__":
    sys.exit(console_main())
