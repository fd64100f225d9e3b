"""Make ``neural_tangents`` 0.6.5 importable under current JAX.

neural-tangents 0.6.5 (its latest release) was written against JAX 0.4. Since then JAX moved or
removed several names it imports at module load:

* ``jax.core.{Jaxpr, JaxprEqn, Literal, Var, Primitive}`` -> ``jax.extend.core``;
  ``jax.core.{ShapedArray, Value, AbstractValue}`` -> ``jax._src.core`` on some versions;
* the module ``jax.util`` (``safe_map``, ``safe_zip``) -> ``jax._src.util``;
* ``jax.interpreters.ad.zeros_like_p`` -> ``jax._src.ad_util.zeros_like_p``;
* ``neural_tangents.experimental`` imports TensorFlow and tf2jax, which fpjax does not install.

:func:`load` puts those names back (only where missing, never replacing what JAX has) and imports
``neural_tangents`` with a stub ``experimental`` package. It never raises: if a future JAX breaks
something, :func:`load` records why and :func:`require` raises :class:`NeuralTangentsUnavailable`
with that reason the first time an NTK function is used, so ``import fpjax`` keeps working.

Known to work after :func:`load` (tested in ``tests/test_nt_compat.py``): ``stax`` infinite-width
kernels, ``empirical_ntk_fn`` implementations 1 (Jacobian contraction) and 2 (NTK-vector products),
``predict``. Implementation 3 (structured derivatives) relies on JAX internals that changed more
deeply and fails; fpjax never selects it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import NamedTuple

__all__ = ["load", "require", "neural_tangents", "NeuralTangentsUnavailable", "status", "NTStatus"]


class NeuralTangentsUnavailable(ImportError):
    """neural-tangents could not be made to work with the installed JAX."""


# Result of the one attempt per process: (module or None, reason or None).
_STATE: dict[str, object] = {}

_CORE_NAMES = ("Jaxpr", "JaxprEqn", "Literal", "ShapedArray", "Value", "Var", "Primitive", "AbstractValue")


def _find(name: str, modules: tuple[str, ...]):
    for mod_name in modules:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        if hasattr(mod, name):
            return getattr(mod, name)
    raise AttributeError(f"{name} not found in any of {modules}")


def _patch_jax() -> list[str]:
    """Supply the names neural-tangents imports; return what was patched."""
    import jax
    import jax.core
    import jax.interpreters.ad

    patched = []
    for name in _CORE_NAMES:
        if not hasattr(jax.core, name):
            setattr(jax.core, name, _find(name, ("jax.extend.core", "jax._src.core")))
            patched.append(f"jax.core.{name}")
    if "jax.util" not in sys.modules:
        try:
            importlib.import_module("jax.util")
        except ImportError:
            src_util = importlib.import_module("jax._src.util")
            util = types.ModuleType("jax.util")
            util.safe_map = src_util.safe_map
            util.safe_zip = src_util.safe_zip
            sys.modules["jax.util"] = util
            jax.util = util
            patched.append("jax.util")
    if not hasattr(jax.interpreters.ad, "zeros_like_p"):
        jax.interpreters.ad.zeros_like_p = _find("zeros_like_p", ("jax._src.ad_util",))
        patched.append("jax.interpreters.ad.zeros_like_p")
    return patched


def _stub_experimental() -> None:
    """Replace ``neural_tangents.experimental`` (TensorFlow-only) by an explanatory stub."""
    name = "neural_tangents.experimental"
    if name in sys.modules:
        return
    stub = types.ModuleType(name)
    stub.__doc__ = "Stub installed by fpjax: the TensorFlow-based experimental API is not available."

    def __getattr__(attr):
        if attr.startswith("__") and attr.endswith("__"):
            # module protocol: introspection (getattr(m, "__file__", None), e.g. by hypothesis) expects AttributeError
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        raise NeuralTangentsUnavailable(
            f"neural_tangents.experimental.{attr} needs TensorFlow and tf2jax, which fpjax does not "
            "install; use neural_tangents.empirical_ntk_fn on a JAX function instead."
        )

    stub.__getattr__ = __getattr__
    stub.__path__ = []  # a package, so that submodule imports fail cleanly
    sys.modules[name] = stub


def load():
    """Import neural-tangents with the compatibility patches; return the module or ``None``.

    Never raises. The outcome is cached for the process; :func:`status` tells what happened.
    """
    if "module" in _STATE:
        return _STATE["module"]
    try:
        patched = _patch_jax()
        _stub_experimental()
        import neural_tangents as nt  # noqa: F401  (import after patching is the point)
        from neural_tangents import stax  # noqa: F401

        _STATE.update(module=nt, reason=None, patched=patched)
    except Exception as err:  # any failure: keep fpjax importable, report on use
        import jax

        _STATE.update(
            module=None,
            patched=[],
            reason=(
                f"neural-tangents 0.6.5 could not be imported under jax {jax.__version__}: "
                f"{type(err).__name__}: {err}. fpjax.ntk's neural-tangents paths (infinite-width "
                "kernels, kernel_fn, implementation='nt') are unavailable; the fast exact MLP NTK "
                "path does not need neural-tangents. Pin an older jax or update "
                "fpjax/_src/nt_compat.py for the moved names."
            ),
        )
    return _STATE["module"]


class NTStatus(NamedTuple):
    """Outcome of :func:`load`: ``available``, the ``reason`` it is not (or None), the ``patched`` names."""

    available: bool
    reason: str | None
    patched: list


def status() -> NTStatus:
    """:class:`NTStatus` after trying :func:`load`."""
    load()
    return NTStatus(available=_STATE["module"] is not None, reason=_STATE["reason"], patched=list(_STATE["patched"]))


def require():
    """Return the ``neural_tangents`` module or raise :class:`NeuralTangentsUnavailable` saying why."""
    nt = load()
    if nt is None:
        raise NeuralTangentsUnavailable(_STATE["reason"])
    return nt


def neural_tangents():
    """The ``neural_tangents`` module, imported with fpjax's compatibility patches for current JAX.

    After this call ``import neural_tangents`` (and ``from neural_tangents import stax``) also work
    directly in the same process. Public as :func:`fpjax.ntk.neural_tangents`.

    Returns:
      the ``neural_tangents`` module.

    Raises:
      NeuralTangentsUnavailable: the patches could not make it import (the message says why).

    Examples:
      >>> from fpjax.ntk import neural_tangents
      >>> nt = neural_tangents()
      >>> _, _, kernel_fn = nt.stax.serial(nt.stax.Dense(8), nt.stax.Relu(), nt.stax.Dense(1))
      >>> import jax.numpy as jnp
      >>> kernel_fn(jnp.ones((2, 3)), None, "ntk").shape
      (2, 2)
    """
    return require()


def _reset_for_tests() -> None:
    _STATE.clear()
