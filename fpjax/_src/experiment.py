"""Experiments: the declaration, claims, seed keys and figures (public in :mod:`fpjax.experiment`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from fpjax._src.experiment_spec import Config, Declaration, MalformedExperimentError
from fpjax._src.io import new_figure, save_figure, save_text, to_jsonable  # noqa: F401 - re-exported

# --------------------------------------------------------------------------------------------------
# claims


class Claim(NamedTuple):
    """One verdict of an experiment.

    Attributes:
        claim: the claim in words.
        held: whether it held, decided from the data.
        evidence: the numbers it was decided on (plain JSON types).

    Examples:
        A :func:`claim` record (the JSON form written to ``metrics.json``) read back as a ``Claim``:

        >>> import numpy as np
        >>> from fpjax.experiment import claim
        >>> c = Claim(**claim("the error fell", np.float64(0.1) < 0.5, {"error": np.float64(0.1)}))
        >>> c
        Claim(claim='the error fell', held=True, evidence={'error': 0.1})
        >>> c.held
        True
    """

    claim: str
    held: bool
    evidence: dict


class ClaimSummary(NamedTuple):
    """How many claims of one run held.

    Attributes:
        held: number of claims that held.
        total: number of claims.
        all_held: ``held == total`` (and ``total > 0``).

    Examples:
        >>> from fpjax.experiment import claim, summarize_claims
        >>> s = summarize_claims([claim("a", True, {}), claim("b", True, {})])
        >>> s
        ClaimSummary(held=2, total=2, all_held=True)
        >>> summarize_claims([]).all_held  # no claim: nothing held
        False
    """

    held: int
    total: int
    all_held: bool


def claim(text: str, held: Any, evidence: Mapping[str, Any]) -> dict:
    """One entry of the metrics' ``"claims"`` list, decided from the data.

    ``held`` is converted to a plain ``bool`` (numpy booleans are accepted) and ``evidence`` to plain
    JSON types (:func:`to_jsonable`), so the record can be written to ``metrics.json`` as is.

    Args:
        text: the claim in words (non-empty).
        held: the verdict, a Python or numpy boolean computed from the data.
        evidence: the numbers the verdict was decided on.

    Returns:
        ``{"claim": text, "held": bool, "evidence": {...}}`` — the JSON form of a :class:`Claim`
        (metrics are JSON documents, so the record is a plain mapping).

    Examples:
        >>> import numpy as np
        >>> claim("errors decrease", np.all(np.diff([3.0, 2.0, 1.0]) < 0), {"errors": np.array([3.0, 2.0, 1.0])})
        {'claim': 'errors decrease', 'held': True, 'evidence': {'errors': [3.0, 2.0, 1.0]}}
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string; got {text!r}")
    if not isinstance(held, (bool, np.bool_)):
        # numpy / JAX boolean arrays holding one value are accepted (e.g. ``jnp.all(...)``)
        if str(getattr(held, "dtype", "")) != "bool" or int(np.size(held)) != 1:
            raise TypeError(f"held must be a boolean computed from the data; got {type(held).__name__} {held!r}")
        held = bool(np.asarray(held).reshape(()))
    if not isinstance(evidence, Mapping):
        raise TypeError(
            f"evidence must be a mapping of the numbers the verdict rests on; got {type(evidence).__name__}"
        )
    return {"claim": text, "held": bool(held), "evidence": to_jsonable(dict(evidence))}


def summarize_claims(claims: Any) -> ClaimSummary:
    """Count the claims that held.

    Args:
        claims: a list of :func:`claim` records, or a metrics mapping with a ``"claims"`` list.

    Returns:
        :class:`ClaimSummary` ``(held, total, all_held)``.

    Examples:
        >>> summarize_claims([claim("a", True, {}), claim("b", False, {})])
        ClaimSummary(held=1, total=2, all_held=False)
    """
    if isinstance(claims, Mapping):
        claims = claims.get("claims")
    if not isinstance(claims, (list, tuple)):
        raise ValueError(f"claims must be a list of claim records; got {type(claims).__name__}")
    held = 0
    for i, c in enumerate(claims):
        if not isinstance(c, Mapping) or not isinstance(c.get("claim"), str) or not isinstance(c.get("held"), bool):
            raise ValueError(f"claims[{i}] is not a claim record {{'claim': str, 'held': bool, 'evidence': ...}}")
        held += c["held"]
    return ClaimSummary(held, len(claims), bool(claims) and held == len(claims))


# --------------------------------------------------------------------------------------------------
# seeds


def seed_key(seed: int, *streams: int):
    """The PRNG key of a run: ``key(seed)`` folded in with each stream id in turn.

    ``seed_key(s)`` is ``jax.random.key(s)``; ``seed_key(s, a, b)`` is
    ``fold_in(fold_in(key(s), a), b)``. Streams separate independent random draws of one
    experiment (e.g. targets vs network inits, or one data set of several).

    Args:
        seed: the run's seed, a non-negative int.
        *streams: non-negative ints.

    Returns:
        A typed JAX PRNG key (shape ``()``).

    Examples:
        >>> import jax
        >>> bool((jax.random.key_data(seed_key(0, 3)) == jax.random.key_data(
        ...     jax.random.fold_in(jax.random.key(0), 3))).all())
        True
    """
    import jax

    for name, v in [("seed", seed)] + [(f"streams[{i}]", s) for i, s in enumerate(streams)]:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < 2**63:
            raise ValueError(f"{name} must be an int in [0, 2**63); got {v!r}")
    key = jax.random.key(int(seed))
    for s in streams:
        key = jax.random.fold_in(key, int(s))
    return key


def seed_keys(seed: int, n: int, *streams: int):
    """``n`` independent keys of a run: ``jax.random.split(seed_key(seed, *streams), n)``.

    Args:
        seed: the run's seed.
        n: number of keys (e.g. seeds of a sweep), positive.
        *streams: stream ids, as in :func:`seed_key`.

    Returns:
        ``(n,)`` typed PRNG keys.

    Examples:
        >>> seed_keys(0, 4).shape
        (4,)
    """
    import jax

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    return jax.random.split(seed_key(seed, *streams), int(n))


# --------------------------------------------------------------------------------------------------
# the declaration


@dataclass(frozen=True)
class Experiment(Declaration):
    """The declaration of one experiment.

    Args:
        name: dashed name, e.g. ``"fp-1d"`` (``fpjax run NAME``).
        description: one line, shown by ``fpjax list``.
        claim: the source's claim, in words.
        source: the paper(s) the claim comes from, with arXiv id or DOI.
        quick: settings for a run of CPU minutes (plain JSON values).
        full: settings at the paper's scale; the same keys as ``quick``.
        cpu: optional settings between the two (the largest that runs in about half an hour on a
            few CPU cores); the same keys as ``quick``.
        run: ``run(config, out_dir) -> metrics``; ``config`` is a frozen :class:`Config` with the
            settings of ``quick`` (or the scale run) as attributes plus ``config.seed``, ``out_dir``
            is the (staging) directory for the figures, the returned mapping has a ``"claims"`` list
            of :func:`claim` records.
        figures: ``{file name: caption}``, the caption saying what to look at in the figure.

    The type of each setting is that of its defaults (in every scale): an ``int`` setting accepts
    only ints, a ``float`` ints or finite floats, a ``bool`` only booleans, a list only lists whose
    elements have the types of the default's elements. Names add value rules (counts ≥ 1, positive
    learning rates and thresholds, fractions in [0, 1], a count or folder declared ``null`` takes an
    int or a string; see :mod:`fpjax._src.experiment_spec`); a setting declared ``null`` in every
    scale with no such rule accepts any JSON value.

    Examples:
        >>> from fpjax.experiment import Experiment, claim
        >>> def run(config, out_dir):
        ...     return {"claims": [claim("n is positive", config.n > 0, {"n": config.n})]}
        >>> exp = Experiment(name="toy", description="a toy", claim="n is positive",
        ...                  source="none (an example)", quick={"n": 10}, full={"n": 1000}, run=run)
        >>> cfg = exp.config("full", seed=3)
        >>> cfg
        Config(n=1000, seed=3)
        >>> cfg.n, cfg.seed, dict(cfg)
        (1000, 3, {'n': 1000, 'seed': 3})
        >>> exp.run(exp.config("quick", seed=0), None)
        {'claims': [{'claim': 'n is positive', 'held': True, 'evidence': {'n': 10}}]}
    """

    run: Callable[[Config, Path], Mapping[str, Any]]
    figures: Mapping[str, str] = field(default_factory=dict)
    cpu: Mapping[str, Any] | None = None

    def __post_init__(self):
        super().__post_init__()
        if not callable(self.run):
            raise MalformedExperimentError(
                f"experiment {self.name!r}: run must be callable run(config, out_dir) -> metrics"
            )

    @classmethod
    def from_module(cls, module: ModuleType) -> Experiment:
        """The declaration ``EXPERIMENT = Experiment(...)`` of an experiment module.

        Raises:
            MalformedExperimentError: the module declares no ``EXPERIMENT``, or not an
                :class:`Experiment`; the message names the module.
        """
        where = getattr(module, "__file__", None) or getattr(module, "__name__", "module")
        exp = getattr(module, "EXPERIMENT", None)
        if exp is None:
            raise MalformedExperimentError(
                f"{where}: not an experiment module: define EXPERIMENT = fpjax.experiment.Experiment(...); "
                "helper modules must start with '_'"
            )
        if not isinstance(exp, Experiment):
            raise MalformedExperimentError(
                f"{where}: EXPERIMENT must be an fpjax.experiment.Experiment; got {type(exp).__name__}"
            )
        return exp
