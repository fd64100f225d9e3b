"""The assertions of :mod:`fpjax.testing` (implemented in ``fpjax._src.testing``; kept importable here)."""

from fpjax._src.testing import *  # noqa: F403
from fpjax._src.testing import __all__  # noqa: F401
