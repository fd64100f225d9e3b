"""fpjax.testing — assertions for spectra, as ``numpy.testing`` is for arrays.

Each helper raises ``AssertionError`` with a table of frequency, measured value, expected value and
error, and documents how its default tolerance is derived:

* :func:`assert_spectra_close` — two functions on a grid have close Fourier coefficients at physical
  frequencies (coefficients below ``floor`` of the largest compared absolutely);
* :func:`assert_frequency_order` — low frequencies converge no later than high ones (per seed, with
  censoring and step-0 convergence handled and reported);
* :func:`assert_kernel_close` — an empirical kernel is within ``rtol/√width`` of its infinite-width limit;
* :func:`assert_decay_rate` — a power-law decay ``ξ^{-p}``, with a report of the fit;
* :func:`assert_seed_fraction`, :func:`assert_seed_mean` — seed-aware forms: a claim holds for a given
  fraction of seeds; a seed mean lies within ``k`` standard errors.

A pytest plugin (:mod:`fpjax.testing.plugin`, registered as an entry point, so installed with fpjax)
adds the fixtures ``x64`` (float64 for one test, the flag restored afterwards), ``key`` (a fixed PRNG
key, seed ``--fpjax-seed``, default 0), ``keys`` (``keys(n)``: ``n`` fixed keys) and the marker
``@pytest.mark.x64``. See ``docs/howto/spectral-tests.md``.
"""

import importlib

__all__ = [
    "PowerLawFit",
    "assert_decay_rate",
    "assert_frequency_order",
    "assert_kernel_close",
    "assert_seed_fraction",
    "assert_seed_mean",
    "assert_spectra_close",
]


def __getattr__(name):
    # Lazy: pytest imports fpjax.testing.plugin (hence this package) at start-up, before a project's
    # conftest sets thread or XLA environment variables; importing numpy/JAX here would pre-empt them.
    if name in __all__:
        return getattr(importlib.import_module("fpjax._src.testing"), name)
    raise AttributeError(f"module 'fpjax.testing' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
