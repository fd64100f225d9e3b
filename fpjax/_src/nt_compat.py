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

Inside neural-tangents, :func:`load` also repairs three functions that fail on current JAX/scipy
(each patch replaces a name in a ``neural_tangents`` module only, never in JAX or scipy):

* ``empirical_ntk_fn(..., implementation=AUTO)`` compared the cost of all three implementations
  with ``compiled.cost_analysis()[0]`` (now a dict, not a list) and lowered implementation 3. It now
  picks the cheaper of implementations 1 and 2 by XLA's flop count;
* ``predict.gradient_descent_mse`` under ``jit`` with a traced kernel leaked tracers out of
  ``jax.core.eval_context()``; that context now applies only to concrete kernels;
* ``predict.max_learning_rate`` called ``scipy.linalg.eigvalsh(eigvals=...)`` (removed in scipy
  1.14); it now uses ``jnp.linalg.eigvalsh``, which also works under ``jit``;
* implementation 2 sized its identity basis with ``jnp.size`` of shape structures, which JAX
  deprecates; it now multiplies the shapes.

Implementation 3 of ``empirical_ntk_fn`` (structured derivatives) reinterprets JAX's internal
linearization and transposition rules, which changed too deeply to patch: it raises a
``ValueError`` that names implementations 1 and 2 and :func:`fpjax.ntk.empirical_ntk` instead.

Known to work after :func:`load` (tested in ``tests/test_nt_compat.py`` and
``tests/test_nt_surface.py``): ``stax`` infinite-width kernels, ``empirical_ntk_fn``
implementations 1 (Jacobian contraction), 2 (NTK-vector products) and AUTO, ``predict``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import sys
import types
import warnings
from typing import NamedTuple

__all__ = ["load", "require", "neural_tangents", "NeuralTangentsUnavailable", "status", "NTStatus"]


class NeuralTangentsUnavailable(ImportError):
    """neural-tangents could not be made to work with the installed JAX.

    An ``ImportError`` whose message says why (not installed, or a JAX name the compatibility
    patches could not supply). Raised by :func:`fpjax.ntk.neural_tangents`, by
    :func:`fpjax.ntk.infinite_ntk` and by the neural-tangents route of :func:`fpjax.ntk.empirical_ntk`.

    Examples:
      >>> from fpjax.ntk import NeuralTangentsUnavailable, neural_tangents
      >>> issubclass(NeuralTangentsUnavailable, ImportError)
      True
      >>> try:
      ...     nt = neural_tangents()
      ... except NeuralTangentsUnavailable:                      # fall back to the fast exact path
      ...     nt = None
      >>> nt is None or hasattr(nt, "stax")
      True
    """


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


STRUCTURED_DERIVATIVES_REFUSAL = (
    "implementation=3 (structured derivatives) of neural-tangents' empirical_ntk_fn reinterprets JAX's "
    "internal linearization and transposition rules, which changed after JAX 0.4; it does not run on "
    "jax {version}. Use implementation=1 (Jacobian contraction), 2 (NTK-vector products) or "
    "NtkImplementation.AUTO (the cheaper of 1 and 2), or fpjax.ntk.empirical_ntk."
)

# True while a predict function built from a traced (jit/vmap) kernel runs: neural-tangents'
# `jax.core.eval_context()` then must not step out of the trace that owns the kernel.
_TRACED_KERNEL = contextvars.ContextVar("fpjax_nt_traced_kernel", default=False)


def _is_traced(tree) -> bool:
    import jax

    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def _flops(fn, *args, **kwargs) -> float:
    """XLA's flop count of ``fn(*args, **kwargs)``; ``cost_analysis()`` was a list, is now a dict."""
    import jax

    # Shapes only, so that this also works on tracers (an ntk_fn called inside jit).
    args, kwargs = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype) if hasattr(a, "shape") and hasattr(a, "dtype") else a,
        (args, kwargs),
    )
    analysis = jax.jit(fn).lower(*args, **kwargs).compile().cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis["flops"])


def _patched_empirical_ntk_fn(original, implementations):
    """``empirical_ntk_fn`` that refuses implementation 3 and runs AUTO over implementations 1 and 2."""
    import inspect

    import jax

    signature = inspect.signature(original)

    @functools.wraps(original)
    def empirical_ntk_fn(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        implementation = bound.arguments["implementation"]
        if implementation == implementations.STRUCTURED_DERIVATIVES:
            raise ValueError(STRUCTURED_DERIVATIVES_REFUSAL.format(version=jax.__version__))
        if implementation != implementations.AUTO:
            return original(*bound.args, **bound.kwargs)
        candidates = []
        for choice in (implementations.JACOBIAN_CONTRACTION, implementations.NTK_VECTOR_PRODUCTS):
            bound.arguments["implementation"] = choice
            candidates.append(original(*bound.args, **bound.kwargs))
        cache = {}

        def ntk_fn(x1, x2, params, **apply_fn_kwargs):
            # One choice per input/parameter shapes, as neural-tangents' AUTO does.
            key = str(jax.tree_util.tree_map(jax.numpy.shape, (x1, x2, params, apply_fn_kwargs)))
            if key not in cache:
                costs = [_flops(fn, x1, x2, params, **apply_fn_kwargs) for fn in candidates]
                cache[key] = candidates[costs.index(min(costs))]
            return cache[key](x1, x2, params, **apply_fn_kwargs)

        return ntk_fn

    return empirical_ntk_fn


def _patched_gradient_descent_mse(original):
    """``gradient_descent_mse`` whose predict function runs under ``jit`` with a traced kernel."""

    @functools.wraps(original)
    def gradient_descent_mse(k_train_train, *args, **kwargs):
        predict_fn = original(k_train_train, *args, **kwargs)
        if not _is_traced(k_train_train):
            return predict_fn

        @functools.wraps(predict_fn)
        def traced_predict_fn(*fn_args, **fn_kwargs):
            token = _TRACED_KERNEL.set(True)
            try:
                return predict_fn(*fn_args, **fn_kwargs)
            finally:
                _TRACED_KERNEL.reset(token)

        return traced_predict_fn

    return gradient_descent_mse


def _jax_for_predict():
    """The ``jax`` module as neural-tangents' predict sees it: ``jax.core.eval_context()`` only
    steps out of the current trace when the kernel is concrete."""
    import jax

    def eval_context():
        return contextlib.nullcontext() if _TRACED_KERNEL.get() else jax.core.eval_context()

    core = types.ModuleType("jax.core")
    core.__getattr__ = lambda name: getattr(jax.core, name)
    core.eval_context = eval_context
    proxy = types.ModuleType("jax")
    proxy.__getattr__ = lambda name: getattr(jax, name)
    proxy.core = core
    proxy._fpjax_patched = True
    return proxy


def _patched_max_learning_rate(original, make_2d):
    """``max_learning_rate`` with ``jnp.linalg.eigvalsh`` (scipy dropped ``eigvalsh(eigvals=...)``)."""
    import jax.numpy as jnp

    @functools.wraps(original)
    def max_learning_rate(ntk_train_train, y_train_size=None, momentum=0.0, eps=1e-12):
        ntk_train_train = make_2d(ntk_train_train)
        factor = ntk_train_train.shape[0] if y_train_size is None else y_train_size
        max_eva = jnp.linalg.eigvalsh(ntk_train_train)[-1]
        return 2 * (1 + momentum) * factor / (max_eva + eps)

    return max_learning_rate


def _patched_std_basis(original, unravel):
    """``_std_basis`` (implementation 2's identity basis) without ``jnp.size`` on shape structs,
    which JAX deprecates (a future error)."""
    import math

    import jax
    import jax.numpy as jnp

    @functools.wraps(original)
    def _std_basis(pytree):
        leaves = jax.tree_util.tree_leaves(pytree)
        ndim = sum(math.prod(jnp.shape(leaf)) for leaf in leaves)
        dtype = jax.dtypes.result_type(*leaves)
        return unravel(pytree, 1, jnp.eye(ndim, dtype=dtype))

    return _std_basis


def _patch_neural_tangents(nt) -> list[str]:
    """Repair neural-tangents functions that fail on current JAX/scipy; return what was patched.

    Each replacement goes into the neural-tangents module that defines the name and into the
    public modules that re-export it, so internal callers (``empirical_kernel_fn``,
    ``monte_carlo_kernel_fn``) see the same function.
    """
    from neural_tangents import predict as public_predict
    from neural_tangents._src import empirical, predict
    from neural_tangents._src.utils import utils

    replacements = (  # (name, the modules that hold it, factory of the replacement)
        ("_std_basis", (empirical,), lambda f: _patched_std_basis(f, empirical._unravel_array_into_pytree)),
        ("empirical_ntk_fn", (empirical, nt), lambda f: _patched_empirical_ntk_fn(f, empirical.NtkImplementation)),
        ("gradient_descent_mse", (predict, public_predict), _patched_gradient_descent_mse),
        ("max_learning_rate", (predict, public_predict), lambda f: _patched_max_learning_rate(f, utils.make_2d)),
    )
    patched = []
    for name, modules, make in replacements:
        current = getattr(modules[0], name)
        if getattr(current, "_fpjax_patched", False):  # patched earlier in this process
            continue
        replacement = make(current)
        replacement._fpjax_patched = True
        for module in modules:
            setattr(module, name, replacement)
        patched.append(f"{modules[0].__name__}.{name}")
    if not getattr(predict.jax, "_fpjax_patched", False):
        predict.jax = _jax_for_predict()
    return patched


def load():
    """Import neural-tangents with the compatibility patches; return the module or ``None``.

    Never raises. The outcome is cached for the process; :func:`status` tells what happened.
    """
    if "module" in _STATE:
        return _STATE["module"]
    try:
        # The patches look up names JAX deprecated, and neural-tangents imports some at load: not
        # the user's to act on, and an error under `python -W error` that would disable it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            patched = _patch_jax()
            _stub_experimental()
            import neural_tangents as nt  # noqa: F401  (import after patching is the point)
            from neural_tangents import stax  # noqa: F401

            patched += _patch_neural_tangents(nt)
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
