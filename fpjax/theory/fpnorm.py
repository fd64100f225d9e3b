"""FP-norm, minimum-FP-norm interpolation and the a-priori generalization bound (SPEC §2.7).

See :mod:`fpjax._src.fpnorm` for the conventions (``Ω = [0,1]^d``, constant mode free).
"""

from fpjax._src.fpnorm import (apriori_bound, evaluate, evaluate_on_grid, fp_norm, gamma_l2_norm, l1_error,
                               min_fp_interpolant)

__all__ = ["fp_norm", "min_fp_interpolant", "apriori_bound", "l1_error", "gamma_l2_norm", "evaluate",
           "evaluate_on_grid"]
