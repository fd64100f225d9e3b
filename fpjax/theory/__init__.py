"""Theory modules of fpjax (SPEC §2.5-2.8): closed-form predictions to compare networks with.

* :mod:`fpjax.theory.lfp` — Linear Frequency Principle dynamics and steady state;
* :mod:`fpjax.theory.fpnorm` — FP-norm, minimum-norm interpolant, a-priori bound;
* :mod:`fpjax.theory.init_bias` — kernel interpolation from an initial function, Theorems 2 and 3;
* :mod:`fpjax.theory.tangent_fourier` — Theorem 5.1, Fourier evolution through the tangent kernel.
"""

from fpjax.theory import fpnorm, init_bias, lfp, tangent_fourier

__all__ = ["fpnorm", "lfp", "init_bias", "tangent_fourier"]
