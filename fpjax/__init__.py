"""fpjax: the frequency principle (spectral bias) of neural networks and how initialization shapes it.

Submodules (imported on first use; ``import fpjax`` itself imports only JAX, to give it one CPU
device per core before its backends start, unless ``FPJAX_NO_HOST_DEVICES=1``):

* :mod:`fpjax.models` — MLPs, the LFP two-layer ReLU network, antisymmetric initialization;
* :mod:`fpjax.train` — jitted optax training, diffrax gradient flow, sharded resumable seed sweeps;
* :mod:`fpjax.spectrum` — grid FFT, NUDFT projection, filtering method, conv-kernel spectra, SSR;
* :mod:`fpjax.ntk` — empirical and infinite-width tangent kernels, kernel gradient flow;
* :mod:`fpjax.hessian` — Hessian / Gauss-Newton / Fisher products, trace, Lanczos, densities, per layer;
* :mod:`fpjax.landscape` — loss-landscape slices, filter-normalised directions, trajectory PCA;
* :mod:`fpjax.theory` — LFP, FP-norm, initialization bias, Theorem 5.1;
* :mod:`fpjax.cnn`, :mod:`fpjax.data` — CNN zoo, real data loaders.
"""

import importlib

from fpjax._src.devices import configure_host_devices as _configure_host_devices

# One XLA CPU device per core (before JAX starts its backends), so sweeps use every core; opt out
# with FPJAX_NO_HOST_DEVICES=1. See fpjax._src.devices.
_configure_host_devices()

__version__ = "0.1.0"

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
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"fpjax.{name}")
    raise AttributeError(f"module 'fpjax' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
