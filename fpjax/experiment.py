"""Declare, run and report reproducible experiments.

An experiment is a module whose attribute ``EXPERIMENT`` is an :class:`Experiment`: its name, a
one-line description, the claim of its source in words, the source itself (paper and arXiv id or
DOI), typed ``quick`` and ``full`` settings, captions for its figures, and a function
``run(config, out_dir) -> metrics``. The settings' types are taken from the declared defaults, so
``--set steps=2.5`` is refused for an integer ``steps``.

``run`` receives the merged settings (plus ``"seed"``) and a directory for its figures, and returns a
``dict`` of metrics whose ``"claims"`` entry is a list of :func:`claim` records computed from the data:

* :func:`seed_key` / :func:`seed_keys`: the one way keys are derived from the run's seed;
* :func:`claim`: one verdict, with the numbers it was decided on;
* :func:`new_figure` / :func:`save_figure`: pyplot-free matplotlib figures, written atomically;
* :func:`summarize_claims`: how many claims held.

The command line (``fpjax list | run NAME | report``) discovers experiments in the repository's
``experiments/`` folder (or, from an installed wheel, in ``fpjax._experiments``) and refuses a module
that is malformed.

Examples:
    >>> import numpy as np
    >>> from fpjax.experiment import Experiment, claim, summarize_claims
    >>> def run(config, out_dir):
    ...     x = np.random.default_rng(config["seed"]).normal(size=config["n"])
    ...     se = x.std() / np.sqrt(x.size)
    ...     return {"claims": [claim("the mean is near 0", abs(x.mean()) < 4 * se, {"mean": x.mean()})]}
    >>> exp = Experiment(name="toy", description="a toy", claim="the mean is near 0",
    ...                  source="none (a doctest)", quick={"n": 100}, full={"n": 10000}, run=run)
    >>> cfg = exp.config("quick", {"n": 50}, seed=1)
    >>> cfg
    {'n': 50, 'seed': 1}
    >>> summarize_claims(exp.run(cfg, None)["claims"]).all_held
    True
    >>> exp.config("quick", {"n": 2.5})
    Traceback (most recent call last):
    ...
    ValueError: setting 'n' of experiment 'toy' must be an int; got 2.5
"""

from __future__ import annotations

import io as _stdio
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Experiment",
    "MalformedExperimentError",
    "list_experiments",
    "get_experiment",
    "Claim",
    "ClaimSummary",
    "claim",
    "summarize_claims",
    "seed_key",
    "seed_keys",
    "new_figure",
    "save_figure",
    "save_text",
    "to_jsonable",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$")
_JSON_SCALARS = (bool, int, float, str, type(None))


class MalformedExperimentError(ValueError):
    """An experiment declaration (or module) that does not follow the contract of :class:`Experiment`."""


# --------------------------------------------------------------------------------------------------
# the registry


def list_experiments() -> tuple[str, ...]:
    """Names of every experiment (sorted), from the repository's ``experiments/`` folder or, installed,
    from ``fpjax._experiments``.

    Raises:
        MalformedExperimentError: a module of the folder is not a valid experiment (never skipped).

    Examples:
        >>> "fp-1d" in list_experiments()
        True
    """
    from fpjax._src import runner

    return tuple(runner.list_experiments())


def get_experiment(name: str) -> Experiment:
    """The :class:`Experiment` called ``name``; ``ValueError`` listing the known names otherwise.

    Examples:
        >>> get_experiment("fp-1d").quick["activation"]
        'tanh'
    """
    from fpjax._src import runner

    return runner.get_experiment(name)


# --------------------------------------------------------------------------------------------------
# claims


class Claim(NamedTuple):
    """One verdict of an experiment.

    Attributes:
        claim: the claim in words.
        held: whether it held, decided from the data.
        evidence: the numbers it was decided on (plain JSON types).
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
# figures and JSON


def new_figure(figsize: tuple[float, float] = (6, 4), **kwargs):
    """A pyplot-free :class:`matplotlib.figure.Figure` (no global state, no display).

    Args:
        figsize: width and height in inches.
        **kwargs: passed to ``Figure`` (default ``layout="constrained"``).

    Returns:
        A new ``Figure``; draw on ``fig.subplots(...)`` and write it with :func:`save_figure`.

    Examples:
        >>> fig = new_figure((3, 2))
        >>> ax = fig.subplots()
        >>> type(fig).__name__
        'Figure'
    """
    from matplotlib.figure import Figure

    kwargs.setdefault("layout", "constrained")
    return Figure(figsize=figsize, **kwargs)


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Write a matplotlib ``Figure`` as PNG to ``path`` atomically (file mode from the umask).

    Args:
        fig: a ``matplotlib.figure.Figure`` (from :func:`new_figure`; a pyplot figure is closed
            after saving).
        path: the PNG file, usually ``out_dir / "name.png"``.
        dpi: resolution.

    Returns:
        ``path`` as a ``Path``.

    Examples:
        >>> import tempfile, pathlib
        >>> fig = new_figure((2, 2)); _ = fig.subplots().plot([0, 1])
        >>> p = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "line.png")
        >>> p.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    from matplotlib.figure import Figure

    from fpjax._src import io

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure; got {type(fig).__name__}")
    buf = _stdio.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if getattr(fig.canvas, "manager", None) is not None:  # a pyplot figure: release pyplot's reference
        import matplotlib.pyplot as plt

        plt.close(fig)
    return io.atomic_write_bytes(path, buf.getvalue())


def save_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, e.g. a CSV table beside the figures.

    Examples:
        >>> import tempfile, pathlib
        >>> save_text("a,b\\n1,2\\n", pathlib.Path(tempfile.mkdtemp()) / "t.csv").read_text()
        'a,b\\n1,2\\n'
    """
    from fpjax._src import io

    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    return io.atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy/JAX scalars and arrays, tuples, NamedTuples and paths.

    Non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"``.

    Examples:
        >>> to_jsonable({"a": np.float32(0.5), "b": (1, np.inf)})
        {'a': 0.5, 'b': [1, 'inf']}
    """
    from fpjax._src import io

    return io.to_jsonable(obj)


# --------------------------------------------------------------------------------------------------
# the declaration


def _type_name(t) -> str:
    return {
        bool: "a boolean",
        int: "an int",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "null",
    }.get(t, t.__name__)


def _check_json(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedExperimentError(f"{where} must be finite; got {value!r}")
    if isinstance(value, _JSON_SCALARS):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise MalformedExperimentError(f"{where} has a non-string key {k!r}")
            _check_json(v, f"{where}[{k!r}]")
        return
    raise MalformedExperimentError(f"{where} must be a plain JSON value; got {type(value).__name__}")


def _kind(v: Any):
    if isinstance(v, bool):
        return bool
    if isinstance(v, int):
        return int
    if isinstance(v, float):
        return float
    if isinstance(v, (list, tuple)):
        return list
    if isinstance(v, Mapping):
        return dict
    return type(v)


def _conforms(value: Any, defaults: tuple) -> bool:
    """Whether ``value`` has the type of one of the declared ``defaults`` (elementwise for lists)."""
    kinds = {_kind(d) for d in defaults}
    if type(None) in kinds and len(kinds) == 1:
        return True  # declared only as null: any JSON value
    k = _kind(value)
    if k is type(None):
        return type(None) in kinds
    if k is int and float in kinds:
        return True  # an int where a number is expected
    if k not in kinds:
        return False
    if k is list:
        elems = tuple(e for d in defaults if _kind(d) is list for e in d)
        if elems:
            return all(_conforms(e, elems) for e in value)
    if k is float:
        return math.isfinite(value)
    return True


@dataclass(frozen=True)
class Experiment:
    """The declaration of one experiment.

    Args:
        name: dashed name, e.g. ``"fp-1d"`` (``fpjax run NAME``).
        description: one line, shown by ``fpjax list``.
        claim: the source's claim, in words.
        source: the paper(s) the claim comes from, with arXiv id or DOI.
        quick: settings for a run of CPU minutes (plain JSON values).
        full: settings at the paper's scale; the same keys as ``quick``.
        run: ``run(config, out_dir) -> metrics``; ``config`` has the keys of ``quick`` plus ``"seed"``,
            ``out_dir`` is the (staging) directory for the figures, the returned mapping has a
            ``"claims"`` list of :func:`claim` records.
        figures: ``{file name: caption}``, the caption saying what to look at in the figure.

    The type of each setting is that of its default (in ``quick`` and ``full``): an ``int`` setting
    accepts only ints, a ``float`` ints or finite floats, a ``bool`` only booleans, a list only lists
    whose elements have the types of the default's elements; a setting whose default is ``null``
    in both accepts any JSON value.
    """

    name: str
    description: str
    claim: str
    source: str
    quick: Mapping[str, Any]
    full: Mapping[str, Any]
    run: Callable[[dict, Path], Mapping[str, Any]]
    figures: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        where = f"experiment {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise MalformedExperimentError(f"name must be a dashed identifier like 'fp-1d'; got {self.name!r}")
        for attr in ("description", "claim", "source"):
            v = getattr(self, attr)
            if not isinstance(v, str) or not v.strip():
                raise MalformedExperimentError(f"{where}: {attr} must be a non-empty string; got {v!r}")
        if not callable(self.run):
            raise MalformedExperimentError(f"{where}: run must be callable run(config, out_dir) -> metrics")
        for attr in ("quick", "full"):
            v = getattr(self, attr)
            if not isinstance(v, Mapping):
                raise MalformedExperimentError(f"{where}: {attr} must be a mapping of settings")
            if "seed" in v:
                raise MalformedExperimentError(f"{where}: 'seed' is not a setting (it is given to every run)")
            _check_json(dict(v), f"{where}: {attr}")
            object.__setattr__(self, attr, MappingProxyType(dict(v)))
        if set(self.quick) != set(self.full):
            diff = sorted(set(self.quick) ^ set(self.full))
            raise MalformedExperimentError(f"{where}: quick and full must have the same settings; differ in {diff}")
        if not isinstance(self.figures, Mapping) or not all(
            isinstance(k, str) and isinstance(c, str) for k, c in self.figures.items()
        ):
            raise MalformedExperimentError(f"{where}: figures must map file names to captions")
        object.__setattr__(self, "figures", MappingProxyType(dict(self.figures)))

    def setting_types(self) -> dict[str, tuple[str, ...]]:
        """``{setting: names of the accepted types}`` from the declared defaults."""
        out = {}
        for k in self.quick:
            kinds = []
            for d in (self.quick[k], self.full[k]):
                t = _type_name(_kind(d))
                if t not in kinds:
                    kinds.append(t)
            out[k] = tuple(kinds)
        return out

    def check_setting(self, key: str, value: Any) -> Any:
        """``value`` if it has the declared type of setting ``key``; ``ValueError`` naming both otherwise."""
        if key not in self.quick:
            raise ValueError(
                f"unknown setting {key!r} for experiment {self.name!r}; its settings: {', '.join(self.quick)}"
            )
        try:
            _check_json(value, f"setting {key!r}")
        except MalformedExperimentError as err:
            raise ValueError(f"{err} (experiment {self.name!r})") from None
        if not _conforms(value, (self.quick[key], self.full[key])):
            want = " or ".join(self.setting_types()[key])
            raise ValueError(f"setting {key!r} of experiment {self.name!r} must be {want}; got {value!r}")
        return list(value) if isinstance(value, tuple) else value

    def config(self, setting: str = "quick", overrides: Mapping[str, Any] | None = None, *, seed: int = 0) -> dict:
        """The settings of a run: ``quick`` or ``full``, then ``overrides`` (type-checked), then ``seed``."""
        if setting not in ("quick", "full"):
            raise ValueError(f"setting must be 'quick' or 'full'; got {setting!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise ValueError(f"seed must be an int in [0, 2**63); got {seed!r}")
        cfg = json.loads(json.dumps(dict(self.quick if setting == "quick" else self.full)))
        for k, v in (overrides or {}).items():
            cfg[k] = self.check_setting(k, v)
        cfg["seed"] = seed
        return cfg

    @classmethod
    def from_module(cls, module: ModuleType) -> Experiment:
        """The declaration of an experiment module.

        A module declares ``EXPERIMENT = Experiment(...)``. For compatibility, a module with the
        attributes ``NAME``, ``DESCRIPTION``, ``CLAIM``, ``QUICK``, ``FULL`` and ``run`` (and optionally
        ``SOURCE`` and ``FIGURES``) is accepted too. Anything else raises
        :class:`MalformedExperimentError` naming the module and what is missing.
        """
        where = getattr(module, "__file__", None) or getattr(module, "__name__", "module")
        exp = getattr(module, "EXPERIMENT", None)
        if exp is not None:
            if not isinstance(exp, Experiment):
                raise MalformedExperimentError(
                    f"{where}: EXPERIMENT must be an fpjax.experiment.Experiment; got {type(exp).__name__}"
                )
            return exp
        legacy = ("NAME", "DESCRIPTION", "CLAIM", "QUICK", "FULL", "run")
        missing = [a for a in legacy if not hasattr(module, a)]
        if missing:
            raise MalformedExperimentError(
                f"{where}: not an experiment module: define EXPERIMENT = fpjax.experiment.Experiment(...) "
                f"(missing {', '.join(missing)}); helper modules must start with '_'"
            )
        try:
            return cls(
                name=module.NAME,
                description=module.DESCRIPTION,
                claim=module.CLAIM,
                source=getattr(module, "SOURCE", None) or "see the module docstring",
                quick=module.QUICK,
                full=module.FULL,
                run=module.run,
                figures=getattr(module, "FIGURES", None) or {},
            )
        except MalformedExperimentError as err:
            raise MalformedExperimentError(f"{where}: {err}") from None
