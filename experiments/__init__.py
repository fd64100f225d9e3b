"""Runnable experiments, one module each; run them with ``fpjax run NAME`` (``fpjax list`` lists them).

Each public module (name not starting with ``_``) declares ``EXPERIMENT = fpjax.experiment.Experiment(
name=..., description=..., claim=..., source=..., quick={...}, full={...}, run=run, figures={...})``;
see :mod:`fpjax.experiment` for the contract and the helpers (seed keys, claims, figures). A module
that does not is refused by the runner. Helpers shared by several experiments live in ``_common.py``.
Experiments import only public fpjax and each other relatively (``from . import _common``), so the
same files run from the repository and from the wheel (where they are ``fpjax._experiments``).
"""
