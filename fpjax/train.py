"""Training: jitted optax loops, diffrax gradient flow, sharded resumable seed sweeps."""

from fpjax._src.sweep import CheckpointError, SeedStats, SweepResult, diverged_mask, sweep
from fpjax._src.train import LOSSES, FitResult, bce, ce, fit, get_loss, gradient_flow, make_loss, mse

__all__ = [
    "fit",
    "FitResult",
    "gradient_flow",
    "sweep",
    "SweepResult",
    "SeedStats",
    "CheckpointError",
    "diverged_mask",
    "mse",
    "bce",
    "ce",
    "get_loss",
    "make_loss",
    "LOSSES",
]
