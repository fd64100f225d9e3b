"""Theory modules of fpjax: closed-form predictions to compare networks with.

* :mod:`fpjax.theory.lfp` — Linear Frequency Principle dynamics, steady state and the LFP prediction of
  a two-layer ReLU network in one call (arXiv:1905.10264, arXiv:2010.08153);
* :mod:`fpjax.theory.fpnorm` — FP-norm, minimum-norm interpolant, a-priori bound (arXiv:1905.10264);
* :mod:`fpjax.theory.init_bias` — kernel interpolation from an initial function, Theorems 2 and 3
  (arXiv:1905.07777);
* :mod:`fpjax.theory.tangent_fourier` — Theorem 5.1, Fourier evolution through the tangent kernel
  (arXiv:2206.08558).

Time is gradient-flow time ``t = η · steps`` everywhere.
"""

from fpjax.theory import fpnorm, init_bias, lfp, tangent_fourier

__all__ = ["fpnorm", "lfp", "init_bias", "tangent_fourier"]
