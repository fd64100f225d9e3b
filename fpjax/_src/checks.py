"""Input validation shared by every public function.

Each check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, wrong value),
always naming the argument and saying what was expected, e.g.
``ValueError: x must have shape (n, d) with n >= 1; got shape (0, 3)``.

Shape and dtype checks are static and behave the same everywhere. Value checks follow one policy,
:func:`error_if`: where the values are concrete (eager calls) a bad value raises the Python exception
(``ValueError`` naming the argument) at once; where they are traced (inside ``jit`` or ``vmap``) the
same message is raised when the compiled program runs, through ``equinox.error_if`` (jaxlib reports
it as a ``RuntimeError``, on some dispatch paths a ``ValueError``, whose text contains the message). A bad value therefore never becomes a
number, whichever way the function is called.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "as_array",
    "as_points",
    "available_memory",
    "check_choice",
    "check_finite",
    "check_key",
    "check_memory",
    "check_no_complex",
    "check_ndim",
    "check_positive",
    "check_positive_int",
    "check_same_leading",
    "check_symmetric",
    "error_if",
    "host_real_array",
    "is_concrete",
    "real_float_array",
    "rounding_tolerance",
    "renamed_keyword",
    "safe_ratio",
]


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values (not a tracer inside jit/vmap)."""
    return not isinstance(x, jax.core.Tracer)


def error_if(x: Any, bad: Any, message: str, *, error: type[Exception] = ValueError) -> Any:
    """Return ``x``, failing with ``message`` if any element of ``bad`` is true.

    The one value-check policy of fpjax: a concrete ``bad`` (an eager call) raises
    ``error(message)`` immediately; a traced ``bad`` (inside ``jit`` or ``vmap``) is attached to ``x``
    with ``equinox.error_if``, so the compiled program fails with an error carrying ``message`` when it
    runs (``RuntimeError``, or ``ValueError`` on some jaxlib dispatch paths). Use the returned value: under ``jit`` a check whose result is unused is removed as
    dead code.

    Args:
      x: any array or pytree the check guards (returned unchanged).
      bad: boolean array-like, true where the input is invalid.
      message: the error text; names the argument and says what was expected.
      error: exception class raised for concrete values.

    Returns:
      ``x``.

    Examples:
      >>> import jax
      >>> t = jnp.array([0.0, 1.0])
      >>> error_if(t, t < 0, "t must be >= 0").tolist()
      [0.0, 1.0]
      >>> error_if(-t - 1, -t - 1 < 0, "t must be >= 0")
      Traceback (most recent call last):
      ValueError: t must be >= 0
    """
    if is_concrete(bad):
        if bool(np.any(np.asarray(bad))):
            raise error(message)
        return x
    return eqx.error_if(x, bad, message)


def as_array(x: Any, name: str, *, dtype=None) -> jax.Array:
    """Convert ``x`` to a ``jax.Array`` or raise ``TypeError`` naming ``name``."""
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise TypeError(f"{name} must be an array-like of numbers; got {type(x).__name__}")
    try:
        arr = jnp.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array-like of numbers; got {type(x).__name__} ({err})") from None
    if not (jnp.issubdtype(arr.dtype, jnp.number) or arr.dtype == jnp.bool_):
        raise TypeError(f"{name} must hold numbers; got dtype {arr.dtype}")
    return arr


def check_finite(x: Any, name: str) -> None:
    """Raise ``ValueError`` if a concrete ``x`` contains NaN or Inf; no-op on tracers."""
    if not is_concrete(x):
        return
    arr = np.asarray(x)
    if arr.size and np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
        n_bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {n_bad} NaN/Inf value(s); clean the data first")


def check_ndim(
    x: Any, name: str, ndims: int | Iterable[int], *, nonempty: bool = True, shape_hint: str | None = None
) -> None:
    """Raise ``ValueError`` unless ``x.ndim`` is in ``ndims`` (and ``x`` is non-empty)."""
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    hint = f" {shape_hint}" if shape_hint else ""
    if x.ndim not in allowed:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, allowed))} dimension(s){hint}; got shape {tuple(x.shape)}"
        )
    if nonempty and x.size == 0:
        raise ValueError(f"{name} must not be empty{hint}; got shape {tuple(x.shape)}")


def check_same_leading(a: Any, a_name: str, b: Any, b_name: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same first dimension."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{a_name} and {b_name} must have the same number of rows; got "
            f"{a.shape[0]} and {b.shape[0]} (shapes {tuple(a.shape)}, {tuple(b.shape)})"
        )


def check_positive(v: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return ``float(v)`` or raise: ``TypeError`` if not a real number, ``ValueError`` if ≤ 0."""
    not_number = isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))
    if not_number and not (hasattr(v, "shape") and getattr(v, "shape", None) == () and is_concrete(v)):
        raise TypeError(f"{name} must be a real number; got {type(v).__name__}")
    f = float(v)
    if not np.isfinite(f) or f < 0 or (f == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite; got {v!r}")
    return f


def check_positive_int(v: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``int(v)`` or raise: ``TypeError`` if not an integer, ``ValueError`` if < minimum."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(v).__name__} ({v!r})")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {v}")
    return int(v)


def check_choice(v: Any, name: str, choices: Iterable[str]) -> str:
    """Raise ``ValueError`` unless ``v`` is one of ``choices`` (listing them)."""
    choices = tuple(choices)
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a string, one of {choices}; got {type(v).__name__}")
    if v not in choices:
        raise ValueError(f"unknown {name} {v!r}; expected one of {', '.join(map(repr, choices))}")
    return v


def check_key(key: Any, name: str = "key") -> None:
    """Raise ``TypeError`` unless ``key`` is one JAX PRNG key (raw uint32[2] or typed); a batch of
    keys is a ``ValueError``."""
    if isinstance(key, (jax.Array, jax.core.Tracer)):
        typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        if typed or (key.dtype == jnp.uint32 and key.shape[-1:] == (2,)):
            if key.shape != (() if typed else (2,)):
                raise ValueError(
                    f"{name} must be a single jax.random key; got a batch of keys of shape "
                    f"{tuple(key.shape)} (split it and vmap, or use fpjax.train.sweep)"
                )
            return
    raise TypeError(
        f"{name} must be a jax.random key (jax.random.key(seed) or PRNGKey(seed)); got {type(key).__name__}"
    )


def as_points(x: Any, name: str = "x", d: int | None = None) -> jax.Array:
    """``x`` as an inexact ``(n, d)`` array of points; ``(n,)`` is read as ``d = 1``.

    Raises ``ValueError`` naming ``name`` for another rank, an empty array, NaN/Inf (when concrete)
    or, when ``d`` is given, a different number of columns. Integer input becomes the default float.
    """
    arr = as_array(x, name)
    check_no_complex(arr, name)  # points are real: an imaginary part would be dropped silently
    check_ndim(arr, name, (1, 2), shape_hint="(n,) or (n, d)")
    if arr.ndim == 1:
        arr = arr[:, None]
    if d is not None and arr.shape[1] != d:
        raise ValueError(f"{name} must have {d} column(s) (points in d={d}); got shape {tuple(arr.shape)}")
    check_finite(arr, name)
    if not jnp.issubdtype(arr.dtype, jnp.inexact):
        arr = arr.astype(jnp.asarray(0.0).dtype)
    return arr


def safe_ratio(num: Any, den: Any) -> jax.Array:
    """``num / den`` for ``num, den >= 0`` with the rule ``0/0 := 0`` and ``x/0 := +inf`` (``x > 0``).

    Used wherever a non-negative error or energy is divided by a non-negative reference: matching a
    zero reference exactly is no error (and an all-zero total holds no energy), any miss of a zero
    reference is an unbounded relative error. Broadcasts; jit- and grad-safe (no division by 0 is
    evaluated).

    Examples:
      >>> safe_ratio(jnp.array([1.0, 0.0, 2.0]), jnp.array([2.0, 0.0, 0.0])).tolist()
      [0.5, 0.0, inf]
    """
    num = jnp.asarray(num)
    den = jnp.asarray(den)
    zero = den == 0
    safe = jnp.where(zero, jnp.ones_like(den), den)
    return jnp.where(zero, jnp.where(num == 0, jnp.zeros_like(num), jnp.inf), num / safe)


def available_memory() -> int:
    """Bytes of memory this process may still allocate on the host, best effort.

    ``MemAvailable`` from ``/proc/meminfo`` on Linux, else the physical memory size from ``sysconf``,
    else ``2**63 - 1`` (unknown: no limit enforced).
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return 2**63 - 1


def check_memory(nbytes: float, name: str, what: str, *, fraction: float = 0.5) -> None:
    """Raise ``ValueError`` naming ``name`` before allocating ``nbytes`` if that exceeds ``fraction``
    of :func:`available_memory` (default half: room for the inputs and one temporary copy).

    ``what`` describes the allocation, e.g. ``"the (P, P) power spectrum of 3 kernels"``.
    """
    limit = fraction * available_memory()
    if nbytes > limit:
        raise ValueError(
            f"{name} too large: {what} needs {nbytes / 2**30:.3g} GiB, more than "
            f"{fraction:.0%} of the {available_memory() / 2**30:.3g} GiB of memory available; "
            f"reduce {name}"
        )


def renamed_keyword(**renames: str):
    """Decorator keeping deprecated keyword spellings working for one release: ``old=new`` pairs.

    A call passing ``old=...`` warns (``DeprecationWarning`` naming both spellings) and is forwarded
    as ``new=...``; passing both is a ``TypeError``. The signature shown (``inspect.signature``) is
    the new one.

    Examples:
      >>> import warnings
      >>> @renamed_keyword(t="cos")
      ... def f(cos):
      ...     return cos
      >>> with warnings.catch_warnings(record=True) as w:
      ...     warnings.simplefilter("always")
      ...     (f(t=0.5), w[0].category.__name__)
      (0.5, 'DeprecationWarning')
    """
    import functools
    import warnings

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {new!r} and its deprecated spelling {old!r}")
                    warnings.warn(
                        f"{fn.__name__}(): the argument {old!r} is deprecated; use {new!r}",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def deprecated_field(obj, old: str, new: str):
    """``getattr(obj, new)`` with a ``DeprecationWarning`` for the former field name ``old`` (for a
    result type's property that keeps a renamed field readable for one release)."""
    import warnings

    warnings.warn(f"{type(obj).__name__}.{old} is deprecated; use .{new}", DeprecationWarning, stacklevel=3)
    return getattr(obj, new)


def host_real_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a NumPy array of real numbers in its own dtype (integers, booleans and every float,
    ``bfloat16`` included).

    Raises ``TypeError`` naming ``name`` for complex values (their imaginary part would be dropped
    silently) and for anything that is not an array of numbers.

    Examples:
      >>> host_real_array([1j], "x")
      Traceback (most recent call last):
      TypeError: x must hold real numbers; got complex values (dtype complex128)
    """
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise TypeError(f"{name} must be an array-like of real numbers; got {type(x).__name__}")
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array-like of real numbers; got {type(x).__name__} ({err})") from None
    if np.iscomplexobj(raw):
        raise TypeError(f"{name} must hold real numbers; got complex values (dtype {raw.dtype})")
    # jnp.issubdtype also knows the ml_dtypes floats (bfloat16, float8) that NumPy does not
    if not (np.issubdtype(raw.dtype, np.number) or raw.dtype == np.bool_ or jnp.issubdtype(raw.dtype, jnp.floating)):
        raise TypeError(f"{name} must hold real numbers; got dtype {raw.dtype}")
    return raw


def real_float_array(x: Any, name: str, *, dtype=np.float64) -> np.ndarray:
    """:func:`host_real_array` converted to ``dtype`` (float64 by default): integers promoted.

    Examples:
      >>> real_float_array([1, 2], "x").dtype.name
      'float64'
    """
    return host_real_array(x, name).astype(dtype)


def rounding_tolerance(x: Any, floor: float, *, ulps: float = 8.0) -> float:
    """``max(floor, ulps · eps)`` for the floating dtype of ``x`` (``floor`` for other dtypes): how far
    a value computed in that dtype may stray by rounding (float16 and bfloat16 need more than ``floor``).

    Examples:
      >>> rounding_tolerance(np.ones(2), 1e-6), rounding_tolerance(np.ones(2, np.float16), 1e-6)
      (1e-06, 0.0078125)
    """
    dt = getattr(x, "dtype", None)
    if dt is None:
        dt = np.asarray(x).dtype
    if jnp.issubdtype(dt, jnp.floating):
        return max(float(floor), ulps * float(jnp.finfo(dt).eps))
    return float(floor)


def check_no_complex(x: Any, name: str) -> None:
    """Raise ``TypeError`` naming ``name`` if ``x`` has a complex dtype (works on tracers)."""
    dt = getattr(x, "dtype", None)
    if dt is None:
        dt = np.asarray(x).dtype
    if np.issubdtype(dt, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers; got complex dtype {dt}")


def check_symmetric(k: Any, name: str, *, rtol: float | None = None) -> Any:
    """Return the square matrix ``k``, failing (:func:`error_if`) unless it is symmetric.

    ``max|K − Kᵀ| ≤ rtol · max|K|`` with ``rtol = 8√eps`` of ``k``'s dtype by default (2.8e-3 in
    float32, 1.2e-7 in float64). The square root is the rounding of arc-cosine kernels: near the
    diagonal the cosine ``u ≈ 1`` is known to a few ulp, and ``arccos`` turns an error ``δu`` into
    ``√(2 δu)``, so ``K(x, x')`` and ``K(x', x)`` may differ by a few ``√eps``; a genuinely
    non-symmetric matrix differs by O(1). One pass over ``k`` (cheap next to the ``O(n³)``
    eigendecomposition that follows). NaN entries are left to propagate.

    Examples:
      >>> check_symmetric(jnp.array([[2.0, 1.0], [1.0, 2.0]]), "k").tolist()
      [[2.0, 1.0], [1.0, 2.0]]
      >>> check_symmetric(jnp.array([[2.0, 1.0], [0.0, 2.0]]), "k")
      Traceback (most recent call last):
      ValueError: k must be symmetric (a kernel matrix): max|K - K^T| exceeds 8 sqrt(eps) times max|K|
    """
    arr = jnp.asarray(k)
    if rtol is None:
        rtol = 8.0 * float(np.sqrt(np.finfo(arr.dtype).eps)) if jnp.issubdtype(arr.dtype, jnp.inexact) else 0.0
    asym = jnp.max(jnp.abs(arr - arr.T)) if arr.size else jnp.zeros(())
    bad = asym > rtol * jnp.max(jnp.abs(arr)) if arr.size else False
    return error_if(
        k, bad, f"{name} must be symmetric (a kernel matrix): max|K - K^T| exceeds 8 sqrt(eps) times max|K|"
    )
