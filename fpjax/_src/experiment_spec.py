"""Typed experiment settings and declarations read without running any code (standard library only).

The command line answers ``fpjax list`` and ``fpjax run NAME --help`` and checks ``--set`` values
without importing JAX: it reads each experiment module's declaration with :func:`read_declaration`
(the module's source, parsed by :mod:`ast`; the keyword arguments of ``EXPERIMENT = Experiment(...)``
and the module constants they name, e.g. ``QUICK``, ``CPU``, ``FULL``, are evaluated when they are
literals, names of earlier such constants, ``dict(OTHER, key=value)`` or ``{**OTHER, key: value}``).
A module whose declaration uses anything else is imported instead.

A run's settings are a :class:`Config`: frozen, with attribute access and the declared types.

Settings are typed by their declared defaults (:class:`Settings`) and by the project's naming
conventions:

* counts — ``n_*``, ``num_*``, ``steps``, ``*_steps``, ``epochs``, ``*_epochs``, ``record_every``,
  ``batch_size``, ``chunk_size``, ``*_iters``, ``*_probes`` — are ints ≥ 1 (or ``null`` where the
  declaration allows ``null``); a setting declared only as ``null`` with such a name takes an int;
* step sizes — ``learning_rate``, ``*_learning_rate``, ``learning_rates`` — and thresholds (``threshold``,
  ``*_threshold``) are positive; tolerances (``*_tol``, ``*_tolerance``) are non-negative;
  fractions (``*_fraction(s)``) lie in [0, 1];
* folders (``*_dir``, ``*_path``) are strings (or ``null``);
* a setting declared ``null`` in every scale whose name has no rule accepts any JSON value.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "MalformedExperimentError",
    "Settings",
    "Config",
    "Declaration",
    "ExperimentInfo",
    "read_declaration",
    "did_you_mean",
    "SCALES",
]

# Scales a declaration may give, in the order they are shown (``quick`` and ``full`` are required).
SCALES = ("quick", "cpu", "full")

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$")
_JSON_SCALARS = (bool, int, float, str, type(None))

_LENGTH = re.compile(r"^(\w+_)?(steps|epochs)$")
_COUNT = re.compile(r"^(n|num)_\w+$|^(\w+_)?(steps|epochs)$|^record_every$|^(batch|chunk)_size$|_iters$|_probes$")
_POSITIVE = re.compile(r"^(\w+_)?(learning_rates?|threshold)$")
_NON_NEGATIVE = re.compile(r"_(tol|tolerance)$")
_FRACTION = re.compile(r"_fractions?$")
_FOLDER = re.compile(r"_(dir|path)$")


class MalformedExperimentError(ValueError):
    """An experiment declaration (or module) that does not follow the contract of ``Experiment``.

    Examples:
        >>> from fpjax.experiment import Experiment
        >>> try:
        ...     Experiment(name="toy", description="a toy", claim="c", source="s",
        ...                quick={"n": 10}, full={"m": 1000}, run=lambda config, out_dir: {})
        ... except MalformedExperimentError as err:
        ...     print(err)
        experiment 'toy': quick and full must have the same settings; differ in ['m', 'n']
    """


def did_you_mean(word: str, choices) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices`` (difflib), or ``""``."""
    import difflib  # only when a name is unknown: listing stays light

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(t) -> str:
    names = {bool: "a boolean", int: "an int", float: "a number", str: "a string", list: "a list"}
    return {**names, dict: "a mapping", type(None): "null"}.get(t, t.__name__)


def check_json(value: Any, where: str) -> None:
    """Raise :class:`MalformedExperimentError` unless ``value`` is plain, finite JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedExperimentError(f"{where} must be finite; got {value!r}")
    if isinstance(value, _JSON_SCALARS):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_json(v, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise MalformedExperimentError(f"{where} has a non-string key {k!r}")
            check_json(v, f"{where}[{k!r}]")
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


def _kinds(key: str, defaults: tuple) -> list:
    """Accepted types of setting ``key``: those of its defaults, completed by the naming rules."""
    kinds = []
    for d in defaults:
        if _kind(d) not in kinds:
            kinds.append(_kind(d))
    if kinds == [type(None)]:
        if _COUNT.search(key):
            kinds.append(int)
        elif _FOLDER.search(key):
            kinds.append(str)
    return kinds


def _conforms(value: Any, defaults: tuple, kinds: list | None = None) -> bool:
    """Whether ``value`` has the type of one of the declared ``defaults`` (elementwise for lists)."""
    kinds = kinds if kinds is not None else [_kind(d) for d in defaults]
    if kinds == [type(None)]:
        return True  # declared only as null, no naming rule: any JSON value
    k = _kind(value)
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


def _domain_error(key: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the naming rule of ``key`` (None if nothing or no rule)."""
    items = value if isinstance(value, list) else [value]
    numbers = [v for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]
    # Training lengths may be 0 (e.g. tangent-fourier's train_steps=0: the kernel at initialisation);
    # every other count is at least 1.
    minimum = 0 if _LENGTH.search(key) else 1
    if _COUNT.search(key) and any(not isinstance(v, int) or v < minimum for v in numbers):
        return "a positive int (a count)" if minimum else "a non-negative int (a count)"
    if _POSITIVE.search(key) and any(v <= 0 for v in numbers):
        return "positive"
    if _NON_NEGATIVE.search(key) and any(v < 0 for v in numbers):
        return "non-negative"
    if _FRACTION.search(key) and any(not 0 <= v <= 1 for v in numbers):
        return "in [0, 1]"
    return None


def _coerce(value: Any, defaults: tuple) -> Any:
    """``value`` (already checked by :meth:`Settings.check_setting`) in the declared type: an int
    where only numbers (floats) are declared becomes a float, elementwise in lists."""
    kinds = [_kind(d) for d in defaults]
    if isinstance(value, int) and not isinstance(value, bool) and float in kinds and int not in kinds:
        return float(value)
    if isinstance(value, (list, tuple)):
        elems = tuple(e for d in defaults if _kind(d) is list for e in d)
        return [_coerce(e, elems) for e in value] if elems else list(value)
    return value


def _freeze(value: Any) -> Any:
    """Lists as tuples and mappings as read-only mappings, recursively (JSON values otherwise)."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    return value


def _thaw(value: Any) -> Any:
    """The plain JSON form of a frozen value (a new copy: lists and dicts)."""
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    return value


class Config(Mapping):
    """The settings of one run, frozen and typed: what ``run(config, out_dir)`` receives.

    Attribute access gives each setting in its declared type: ``config.steps`` an ``int``,
    ``config.learning_rate`` a ``float`` (also when given as an int), lists as tuples, mappings as
    read-only mappings; ``config.seed`` is the run's seed. Nothing can be assigned or deleted; an
    unknown name raises ``AttributeError`` naming the setting and the closest known one.

    A ``Config`` is also a read-only mapping of the run's settings in their JSON form, as
    ``config.json`` records them (``config["widths"]`` is a new list each time, ``dict(config)`` a
    plain dict), for generic code: comparing or serializing settings, or an experiment written
    against a mapping.

    Args:
        values: ``{setting: value}`` of plain JSON values, with ``"seed"``.
        experiment: the experiment's name, used in error messages.

    Examples:
        >>> cfg = Config({"steps": 10, "widths": [64, 64], "seed": 0}, experiment="toy")
        >>> cfg.steps, cfg.widths, cfg.seed
        (10, (64, 64), 0)
        >>> cfg["widths"], dict(cfg) == {"steps": 10, "widths": [64, 64], "seed": 0}
        ([64, 64], True)
        >>> cfg.stpes
        Traceback (most recent call last):
        ...
        AttributeError: experiment 'toy' has no setting 'stpes' (did you mean 'steps'?); its settings: steps, widths, seed
        >>> cfg.steps = 5
        Traceback (most recent call last):
        ...
        AttributeError: the settings of a run are read-only: use config.replace(steps=...) for a changed copy
    """

    __slots__ = ("_values", "_experiment")

    def __init__(self, values: Mapping[str, Any], *, experiment: str = "experiment"):
        if not isinstance(values, Mapping):
            raise TypeError(f"values must be a mapping of settings; got {type(values).__name__}")
        object.__setattr__(self, "_values", MappingProxyType({str(k): _freeze(v) for k, v in values.items()}))
        object.__setattr__(self, "_experiment", str(experiment))

    def __getattr__(self, name: str) -> Any:
        # Called only when ``name`` is not a method or slot: the settings.
        if name.startswith("__") or name in Config.__slots__:
            raise AttributeError(name)
        values = self._values
        if name in values:
            return values[name]
        raise AttributeError(
            f"experiment {self._experiment!r} has no setting {name!r}{did_you_mean(name, values)}; "
            f"its settings: {', '.join(values)}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the settings of a run are read-only: use config.replace({name}=...) for a changed copy")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("the settings of a run are read-only")

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            raise KeyError(f"experiment {self._experiment!r} has no setting {key!r}{did_you_mean(key, self._values)}")
        return _thaw(self._values[key])

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Config({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"

    def __reduce__(self):
        return (_config, (self.to_dict(), self._experiment))

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain JSON dict (a new copy)."""
        return {k: _thaw(v) for k, v in self._values.items()}

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed (only known settings; values are not re-checked)."""
        unknown = [k for k in changes if k not in self._values]
        if unknown:
            getattr(self, unknown[0])  # raises AttributeError naming it
        return Config({**self.to_dict(), **changes}, experiment=self._experiment)


def _config(values: dict, experiment: str) -> Config:
    return Config(values, experiment=experiment)


# Names a setting cannot have: the methods of a Config (attribute access would give the method).
RESERVED = frozenset(n for n in dir(Config) if not n.startswith("_")) | {"seed"}


class Settings:
    """Typed settings of an experiment; needs the attributes ``name``, ``quick``, ``full``
    (and optionally ``cpu``), plain JSON mappings with the same keys."""

    def scales(self) -> dict[str, Mapping[str, Any]]:
        """``{scale: settings}`` for the scales this experiment declares, in :data:`SCALES` order."""
        return {s: getattr(self, s) for s in SCALES if getattr(self, s, None) is not None}

    def _defaults(self, key: str) -> tuple:
        return tuple(v[key] for v in self.scales().values())

    def setting_types(self) -> dict[str, tuple[str, ...]]:
        """``{setting: names of the accepted types}`` from the declared defaults and naming rules."""
        return {k: tuple(_type_name(t) for t in _kinds(k, self._defaults(k))) for k in self.quick}

    def check_setting(self, key: str, value: Any) -> Any:
        """``value`` if it has the declared type of setting ``key``; ``ValueError`` naming both otherwise."""
        if key not in self.quick:
            raise ValueError(
                f"unknown setting {key!r} for experiment {self.name!r}{did_you_mean(key, self.quick)}; "
                f"its settings: {', '.join(self.quick)}"
            )
        try:
            check_json(value, f"setting {key!r}")
        except MalformedExperimentError as err:
            raise ValueError(f"{err} (experiment {self.name!r})") from None
        defaults = self._defaults(key)
        kinds = _kinds(key, defaults)
        if not _conforms(value, defaults, kinds):
            want = " or ".join(_type_name(t) for t in kinds)
            raise ValueError(f"setting {key!r} of experiment {self.name!r} must be {want}; got {value!r}")
        bad = _domain_error(key, value)
        if bad is not None:
            raise ValueError(f"setting {key!r} of experiment {self.name!r} must be {bad}; got {value!r}")
        return _coerce(value, defaults)

    def config(self, setting: str = "quick", overrides: Mapping[str, Any] | None = None, *, seed: int = 0) -> Config:
        """The settings of a run: the scale's settings, then ``overrides`` (type-checked), then ``seed``;
        a frozen :class:`Config` whose values have the declared types."""
        scales = self.scales()
        if setting not in scales:
            raise ValueError(f"setting must be one of {', '.join(map(repr, scales))}; got {setting!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise ValueError(f"seed must be an int in [0, 2**63); got {seed!r}")
        cfg = {k: _coerce(v, self._defaults(k)) for k, v in json.loads(json.dumps(dict(scales[setting]))).items()}
        for k, v in (overrides or {}).items():
            cfg[k] = self.check_setting(k, v)
        cfg["seed"] = seed
        return Config(cfg, experiment=self.name)


def check_declaration(decl) -> None:
    """Check the fields every declaration shares (name, texts, scales, figures); freeze the mappings."""
    where = f"experiment {decl.name!r}"
    if not isinstance(decl.name, str) or not NAME_PATTERN.match(decl.name):
        raise MalformedExperimentError(f"name must be a dashed identifier like 'fp-1d'; got {decl.name!r}")
    for attr in ("description", "claim", "source"):
        v = getattr(decl, attr)
        if not isinstance(v, str) or not v.strip():
            raise MalformedExperimentError(f"{where}: {attr} must be a non-empty string; got {v!r}")
    for attr in SCALES:
        v = getattr(decl, attr, None)
        if v is None and attr == "cpu":
            continue
        if not isinstance(v, Mapping):
            raise MalformedExperimentError(f"{where}: {attr} must be a mapping of settings")
        if "seed" in v:
            raise MalformedExperimentError(f"{where}: 'seed' is not a setting (it is given to every run)")
        for k in v:
            if not (isinstance(k, str) and k.isidentifier()) or k in RESERVED or k.startswith("_"):
                raise MalformedExperimentError(
                    f"{where}: setting {k!r} must be a Python identifier not starting with '_' and not one of "
                    f"{', '.join(sorted(RESERVED))} (settings are read as config.NAME)"
                )
        check_json(dict(v), f"{where}: {attr}")
        object.__setattr__(decl, attr, MappingProxyType(dict(v)))
        if set(v) != set(decl.quick):
            diff = sorted(set(decl.quick) ^ set(v))
            raise MalformedExperimentError(f"{where}: quick and {attr} must have the same settings; differ in {diff}")
    if not isinstance(decl.figures, Mapping) or not all(
        isinstance(k, str) and isinstance(c, str) for k, c in decl.figures.items()
    ):
        raise MalformedExperimentError(f"{where}: figures must map file names to captions")
    object.__setattr__(decl, "figures", MappingProxyType(dict(decl.figures)))


@dataclass(frozen=True)
class Declaration(Settings):
    """The fields every experiment declaration has (checked and frozen by :func:`check_declaration`)."""

    name: str
    description: str
    claim: str
    source: str
    quick: Mapping[str, Any]
    full: Mapping[str, Any]

    def __post_init__(self):
        check_declaration(self)


@dataclass(frozen=True)
class ExperimentInfo(Declaration):
    """What an experiment declares, read from its module's source without running it.

    The fields of :class:`fpjax.experiment.Experiment` without ``run``, plus ``module`` (the module to
    import to run it).
    """

    module: str
    figures: Mapping[str, str] = field(default_factory=dict)
    cpu: Mapping[str, Any] | None = None


# --------------------------------------------------------------------------------------------------
# reading a declaration from source


class _NotStatic(Exception):
    """An expression the reader does not evaluate (the module is imported instead)."""


def _evaluate(node: ast.AST, env: dict) -> Any:
    """Value of a literal expression, a name of ``env``, ``dict(NAME, k=v)`` or ``{**NAME, k: v}``."""
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        raise _NotStatic(node.id)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not env.get("dict")
    ):
        if len(node.args) > 1:
            raise _NotStatic("dict")
        out = dict(_evaluate(node.args[0], env)) if node.args else {}
        for kw in node.keywords:
            if kw.arg is None:
                out.update(_evaluate(kw.value, env))
            else:
                out[kw.arg] = _evaluate(kw.value, env)
        return out
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                out.update(_evaluate(v, env))
            else:
                out[_evaluate(k, env)] = _evaluate(v, env)
        return out
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_evaluate(e, env) for e in node.elts]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _evaluate(node.left, env), _evaluate(node.right, env)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        raise _NotStatic("+")
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise _NotStatic(type(node).__name__) from None


_FIELDS = ("name", "description", "claim", "source", "quick", "cpu", "full", "figures")


_STATEMENT_START = re.compile(r"^(?=[^\s)\]}#])", re.M)  # a line that starts a top-level statement
_ASSIGNMENT = re.compile(r"([A-Za-z_]\w*)\s*(:[^=\n]*)?=(?!=)")
_DOCSTRING = re.compile(r'\s*(?:[rRbBuU]{0,2})("""|\'\'\')')


def _assignments(text: str):
    """The module-level assignments ``NAME = ...`` of a module's source, as ``(name, expression)``.

    Only those statements are parsed (the whole module would cost ~10 ms per file): a statement runs
    from a line starting at column 0 to the first later such line at which it parses.
    """
    body = 0
    doc = _DOCSTRING.match(text)
    if doc is not None:  # skip the module docstring: its text is not code
        end = text.find(doc.group(1), doc.end())
        body = len(text) if end < 0 else end + 3
    starts = [m.start() for m in _STATEMENT_START.finditer(text, body)] + [len(text)]
    for i, pos in enumerate(starts[:-1]):
        if _ASSIGNMENT.match(text, pos) is None:
            continue
        for end in starts[i + 1 : i + 200]:
            try:
                tree = ast.parse(text[pos:end])
            except SyntaxError:
                continue
            node = tree.body[0] if len(tree.body) == 1 else None
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                yield node.targets[0].id, node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                yield node.target.id, node.value
            break


def read_declaration(path: str | Path, module: str) -> ExperimentInfo | None:
    """The declaration of the experiment module at ``path``, read from its source; ``None`` when it
    does not have the static form this reader evaluates (then the module must be imported).

    Raises:
        MalformedExperimentError: a static declaration that breaks the contract.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    env: dict[str, Any] = {}
    call = None
    for target, value in _assignments(text):
        if target == "EXPERIMENT":
            call = value
            continue
        try:
            env[target] = _evaluate(value, env)
        except _NotStatic:
            env.pop(target, None)
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Experiment"):
        return None
    if call.args or any(kw.arg is None for kw in call.keywords):
        return None
    given = {kw.arg: kw.value for kw in call.keywords}
    if set(given) - set(_FIELDS) - {"run"}:
        return None  # a field this reader does not know: the import decides
    try:
        fields = {k: _evaluate(v, env) for k, v in given.items() if k != "run"}
    except _NotStatic:
        return None
    try:
        return ExperimentInfo(module=module, **fields)
    except TypeError:
        return None
