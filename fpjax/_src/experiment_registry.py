"""Where the experiments live: discovery, declarations read without JAX, and the imported modules.

:func:`declarations` reads every experiment module's declaration from its source
(:func:`fpjax._src.experiment_spec.read_declaration`), so ``fpjax list`` and ``fpjax run NAME --help``
answer without importing JAX; a module whose declaration is not static is imported. :func:`modules`
imports every module (what a run needs). Both refuse a malformed module instead of skipping it.
This module imports nothing beyond the standard library until a module must be imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

from fpjax._src.experiment_spec import ExperimentInfo, MalformedExperimentError, did_you_mean, read_declaration

__all__ = ["DEMO", "experiments_package", "declarations", "modules", "list_experiments", "get_experiment", "lookup"]

# The README's main command: fast experiments that together show the frequency principle, the
# initialization bias, and Theorem 5.1 (each has its own quick setting).
DEMO = ("fp-1d", "hys2-spectral-bias", "init-bias")

_ROOT = Path(__file__).resolve().parents[2]
_CHECKOUT = _ROOT / "experiments"


def experiments_package() -> ModuleType:
    """The package holding the experiment modules.

    From a source checkout, the repository's ``experiments/`` folder (imported as the package
    ``experiments``); from an installed wheel, ``fpjax._experiments`` (the same files, shipped inside
    fpjax so that no top-level ``experiments`` package is installed).
    """
    if (_ROOT / "pyproject.toml").is_file() and (_CHECKOUT / "__init__.py").is_file():
        mod = sys.modules.get("experiments")
        if mod is not None and Path(getattr(mod, "__file__", "") or "").resolve().parent == _CHECKOUT:
            return mod
        spec = importlib.util.spec_from_file_location(
            "experiments", _CHECKOUT / "__init__.py", submodule_search_locations=[str(_CHECKOUT)]
        )
        mod = importlib.util.module_from_spec(spec)
        sys.modules["experiments"] = mod
        spec.loader.exec_module(mod)
        return mod
    return importlib.import_module("fpjax._experiments")


def _public_modules(pkg: ModuleType):
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield info.name, f"{pkg.__name__}/{info.name}.py"


def _import(pkg: ModuleType, name: str, where: str):
    from fpjax._src.experiment import Experiment

    try:
        mod = importlib.import_module(f"{pkg.__name__}.{name}")
    except Exception as err:  # noqa: BLE001 - any import failure makes the module malformed
        raise MalformedExperimentError(f"{where} cannot be imported: {type(err).__name__}: {err}") from err
    return Experiment.from_module(mod)


def _add(found: dict, decl, where: str) -> None:
    if decl.name in found:
        raise MalformedExperimentError(f"{where}: experiment name {decl.name!r} is declared twice")
    found[decl.name] = decl


def declarations() -> dict:
    """``{name: declaration}`` of every experiment, sorted, read from the sources where possible.

    A value is an :class:`~fpjax._src.experiment_spec.ExperimentInfo` (read without running the
    module) or, for a module whose declaration is not static, the imported
    :class:`~fpjax.experiment.Experiment`; both give ``name``, ``description``, ``claim``, ``source``,
    the scales' settings, ``figures``, ``setting_types()``, ``check_setting()`` and ``config()``.
    """
    pkg = experiments_package()
    found: dict = {}
    for name, where in _public_modules(pkg):
        path = Path(pkg.__path__[0]) / f"{name}.py"
        try:
            decl = read_declaration(path, f"{pkg.__name__}.{name}") if path.is_file() else None
        except MalformedExperimentError as err:
            raise MalformedExperimentError(f"{where}: {err}") from None
        _add(found, decl if decl is not None else _import(pkg, name, where), where)
    return dict(sorted(found.items()))


def modules() -> dict:
    """``{name: Experiment}`` of every public module of the experiments package (imports them all).

    A module whose name does not start with ``_`` must declare an experiment; one that fails to import
    or is malformed raises :class:`MalformedExperimentError` (it is never skipped silently)."""
    pkg = experiments_package()
    found: dict = {}
    for name, where in _public_modules(pkg):
        _add(found, _import(pkg, name, where), where)
    return dict(sorted(found.items()))


def lookup(name: str, known) -> None:
    """Raise ``ValueError`` (with the closest name) unless ``name`` is one of ``known``."""
    if not isinstance(name, str) or name not in known:
        raise ValueError(
            f"unknown experiment {name!r}{did_you_mean(name, known)}; known experiments: {', '.join(known)} "
            "(see `fpjax list`)"
        )


def list_experiments() -> dict[str, str]:
    """``{name: one-line description}`` of every experiment (read without importing JAX)."""
    return {name: d.description for name, d in declarations().items()}


def get_experiment(name: str):
    """The imported :class:`~fpjax.experiment.Experiment` called ``name``; ``ValueError`` naming the
    closest known name otherwise. Only that experiment's module is imported."""
    decls = declarations()
    lookup(name, decls)
    decl = decls[name]
    if not isinstance(decl, ExperimentInfo):
        return decl
    pkg_name, _, mod = decl.module.rpartition(".")
    exp = _import(experiments_package(), mod, f"{pkg_name}/{mod}.py")
    if exp.name != name:
        raise MalformedExperimentError(f"{pkg_name}/{mod}.py: declares {exp.name!r} in its source but runs {name!r}")
    return exp
