"""fpjax: the frequency principle (spectral bias) of neural networks and how initialization shapes it.

``import fpjax`` is light: it imports no JAX and changes no JAX or XLA setting. Submodules are
imported on first use:

* :mod:`fpjax.models` — MLPs, the LFP two-layer ReLU network, antisymmetric initialization;
* :mod:`fpjax.train` — jitted optax training, diffrax gradient flow, sharded resumable seed sweeps;
* :mod:`fpjax.spectrum` — grid FFT, NUDFT projection, filtering method, conv-kernel spectra, SSR;
* :mod:`fpjax.ntk` — empirical and infinite-width tangent kernels, kernel gradient flow;
* :mod:`fpjax.hessian` — Hessian / Gauss-Newton / Fisher products, trace, Lanczos, densities, per layer;
* :mod:`fpjax.landscape` — loss-landscape slices, filter-normalised directions, trajectory PCA;
* :mod:`fpjax.theory` — LFP, FP-norm, initialization bias, Theorem 5.1;
* :mod:`fpjax.cnn`, :mod:`fpjax.data` — CNN zoo, real data loaders;
* :mod:`fpjax.experiment` — declare, run and report experiments.

:func:`set_host_device_count` gives JAX one CPU device per core (call it before any JAX
computation), so that :func:`fpjax.train.sweep` uses every core.
"""

import importlib

from fpjax._src.devices import set_host_device_count
from fpjax._src.version import __version__ as __version__

_SUBMODULES = (
    "models",
    "train",
    "spectrum",
    "ntk",
    "nt",
    "hessian",
    "landscape",
    "sphere",
    "theory",
    "cnn",
    "data",
    "testing",
    "experiment",
    "distributed",
)
__all__ = ["set_host_device_count", *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"fpjax.{name}")
    raise AttributeError(f"module 'fpjax' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
