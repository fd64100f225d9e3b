"""One XLA CPU device per core, on request: :func:`set_host_device_count`.

XLA runs one computation per device; on CPU a single device leaves cores idle for the small,
batched operations of a seed sweep (measured on an idle 2-core machine, 64 seeds × 500 Adam steps
of the fp-1d network: 1 device 14.8 s, 2 devices 8.8 s). :func:`fpjax.train.sweep` shards its seeds
over ``jax.devices()``, so with one CPU device per core every core works.

``import fpjax`` changes no JAX or XLA setting. :func:`set_host_device_count` (public as
``fpjax.set_host_device_count``, the convention of numpyro's function of the same name) asks JAX for
``n`` CPU devices before its backends start; the ``fpjax`` command line calls it before it runs
experiments. Its policy:

* ``n=None`` means ``FPJAX_HOST_DEVICES`` if set, else one device per usable core; with
  ``FPJAX_NO_HOST_DEVICES=1`` a call with ``n=None`` changes nothing (JAX keeps its one CPU device);
* nothing is changed when ``XLA_FLAGS`` already sets ``--xla_force_host_platform_device_count``
  (the flag decides) or when ``JAX_PLATFORMS`` names platforms without ``cpu``;
* otherwise JAX's ``jax_num_cpu_devices`` option is set (the XLA flag on JAX versions without it).
  This only affects the CPU backend: on a GPU machine ``jax.devices()`` are still the GPUs;
* once JAX's backends have started (any JAX computation, ``jax.devices()``), the count can no longer
  change: a :class:`UserWarning` says so, and the count in effect is returned.

Known limitation of jaxlib < 0.12 (measured with jaxlib 0.10.2, not seen with 0.12.0.1): a *batched*
LAPACK call (``vmap`` of ``eigh``, ``solve``, ``svd``, ...) of moderate size (e.g. 100 × 100) that runs
on two host devices at once deadlocks: each device's LAPACK kernel waits for batch work queued on the
shared intra-op thread pool whose threads are all busy waiting the same way. :func:`fpjax.train.sweep`
therefore runs a function that contains such a call on one device on those jaxlib versions (the
LAPACK kernel then spreads the batch over the cores itself); code that shards LAPACK work over host
devices by hand should do the same.
"""

from __future__ import annotations

import os
import warnings

__all__ = ["host_device_count", "set_host_device_count", "batched_lapack_deadlocks"]

_FLAG = "--xla_force_host_platform_device_count"


def host_device_count() -> int:
    """The number of CPU devices ``set_host_device_count()`` asks for: ``FPJAX_HOST_DEVICES`` or the
    usable cores."""
    env = os.environ.get("FPJAX_HOST_DEVICES", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"FPJAX_HOST_DEVICES must be a positive integer; got {env!r}") from None
        if n < 1:
            raise ValueError(f"FPJAX_HOST_DEVICES must be a positive integer; got {env!r}")
        return n
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def _cpu_device_count(jax) -> int | None:
    try:
        return len(jax.devices("cpu"))
    except RuntimeError:  # no CPU backend
        return None


def set_host_device_count(n: int | None = None) -> int | None:
    """Give JAX ``n`` CPU devices, so :func:`fpjax.train.sweep` shards seeds over ``n`` cores.

    Call it before any JAX computation (JAX reads the count when its backends start). Policy in the
    module docstring: ``n=None`` is ``FPJAX_HOST_DEVICES`` or one device per usable core (nothing
    with ``FPJAX_NO_HOST_DEVICES=1``); an explicit
    ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS`` wins; after JAX's backends started,
    a ``UserWarning`` says the count can no longer change.

    Args:
        n: number of CPU devices (a positive int), or ``None``.

    Returns:
        The number of CPU devices JAX has or will have, or ``None`` when nothing was set (the CPU
        backend is not in use, ``JAX_PLATFORMS`` without ``cpu``; or ``FPJAX_NO_HOST_DEVICES=1``).

    Raises:
        ValueError: ``n`` (or ``FPJAX_HOST_DEVICES``) is not a positive integer.

    Examples:
        In a new program, first thing: ``fpjax.set_host_device_count()``. Once JAX has run, the
        count is fixed (a different ``n`` would warn):

        >>> import fpjax, jax
        >>> cpus = len(jax.devices("cpu"))
        >>> fpjax.set_host_device_count(cpus) == cpus
        True
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int or None; got {n!r}")
    if n is None and os.environ.get("FPJAX_NO_HOST_DEVICES", "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    want = host_device_count() if n is None else n
    platforms = os.environ.get("JAX_PLATFORMS", os.environ.get("JAX_PLATFORM_NAME", "")).strip().lower()
    if platforms and "cpu" not in platforms.split(","):
        return None
    import re  # here, not at the top: `import fpjax` stays light

    flag = re.search(_FLAG + r"=(\d+)", os.environ.get("XLA_FLAGS", ""))
    if flag is not None:
        if int(flag.group(1)) != want and n is not None:
            warnings.warn(
                f"XLA_FLAGS sets {_FLAG}={flag.group(1)}, which decides the CPU device count; "
                f"set_host_device_count({n}) changes nothing",
                UserWarning,
                stacklevel=2,
            )
        return int(flag.group(1))
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", want)
    except (AttributeError, KeyError):  # older JAX without the option: the XLA flag, read at start-up
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" {_FLAG}={want}").strip()
    except RuntimeError:  # the backends have started: the count is fixed
        have = _cpu_device_count(jax)
        if have is not None and have != want:
            warnings.warn(
                f"JAX has started its backends with {have} CPU device(s), so it cannot have {want} now: "
                "call fpjax.set_host_device_count() before any JAX computation (or start Python with "
                f"XLA_FLAGS={_FLAG}={want})",
                UserWarning,
                stacklevel=2,
            )
        return have
    return want


def batched_lapack_deadlocks(devices) -> bool:
    """Whether running batched LAPACK calls on these devices at once can deadlock (see module docstring).

    True for two or more CPU devices on jaxlib < 0.12.
    """
    import jax

    devices = list(devices)
    if len(devices) < 2 or any(d.platform != "cpu" for d in devices):
        return False
    try:
        major, minor = (int(v) for v in jax.lib.__version__.split(".")[:2])
    except (AttributeError, ValueError):  # pragma: no cover - unparsable version: assume affected
        return True
    return (major, minor) < (0, 12)
