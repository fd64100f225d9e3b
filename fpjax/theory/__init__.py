"""Theory modules of fpjax (SPEC §2.6-2.8): closed-form predictions to compare networks with."""

from fpjax.theory import fpnorm, lfp

__all__ = ["fpnorm", "lfp"]
