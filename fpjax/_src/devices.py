"""One XLA CPU device per core, arranged when fpjax is imported (before JAX starts its backends).

XLA runs one computation per device; on CPU a single device leaves cores idle for the small,
batched operations of a seed sweep (measured on an idle 2-core machine, 64 seeds × 500 Adam steps
of the fp-1d network: 1 device 14.8 s, 2 devices 8.8 s). :func:`fpjax.train.sweep` shards its seeds
over ``jax.devices()``, so with one CPU device per core every core works without the user setting
XLA flags.

Policy (applied once, by ``import fpjax``):

* nothing is changed when ``FPJAX_NO_HOST_DEVICES=1``, when ``XLA_FLAGS`` already sets
  ``--xla_force_host_platform_device_count``, when ``JAX_PLATFORMS`` names platforms without
  ``cpu``, or when there is a single core;
* ``FPJAX_HOST_DEVICES=n`` asks for ``n`` devices instead of one per usable core;
* otherwise JAX is configured with that many CPU devices (``jax_num_cpu_devices``, or the XLA flag
  on JAX versions without it). This only affects the CPU backend: on a GPU machine ``jax.devices()``
  are still the GPUs;
* if JAX's backends were already initialised (the user ran JAX code before importing fpjax), the
  device count can no longer change: a :class:`UserWarning` says so and how to get all cores.

Known limitation of jaxlib < 0.12 (measured with jaxlib 0.10.2, not seen with 0.12.0.1): a *batched*
LAPACK call (``vmap`` of ``eigh``, ``solve``, ``svd``, ...) of moderate size (e.g. 100 × 100) that runs
on two host devices at once deadlocks: each device's LAPACK kernel waits for batch work queued on the
shared intra-op thread pool whose threads are all busy waiting the same way. :func:`fpjax.train.sweep`
therefore runs a function that contains such a call on one device on those jaxlib versions (the
LAPACK kernel then spreads the batch over the cores itself); code that shards LAPACK work over host
devices by hand should do the same, or set ``FPJAX_NO_HOST_DEVICES=1``.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["host_device_count", "configure_host_devices", "batched_lapack_deadlocks"]

_FLAG = "--xla_force_host_platform_device_count"


def host_device_count() -> int:
    """The number of CPU devices fpjax asks for: ``FPJAX_HOST_DEVICES`` or the usable cores."""
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


def _backends_initialized() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except Exception:  # pragma: no cover - private API moved: assume the safe answer
        return True


def configure_host_devices() -> int | None:
    """Apply the policy of the module docstring; return the device count set, or None if unchanged."""
    if os.environ.get("FPJAX_NO_HOST_DEVICES", "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    if _FLAG in os.environ.get("XLA_FLAGS", ""):
        return None
    platforms = os.environ.get("JAX_PLATFORMS", os.environ.get("JAX_PLATFORM_NAME", "")).strip().lower()
    if platforms and "cpu" not in platforms.split(","):
        return None
    n = host_device_count()
    if n <= 1:
        return None
    if _backends_initialized():
        import jax

        try:
            have = len(jax.devices("cpu"))
        except RuntimeError:  # no CPU backend
            return None
        if have < n:
            warnings.warn(
                f"fpjax: JAX was initialised before fpjax was imported, so it has {have} CPU device(s) "
                f"for {n} cores and sweeps use {have} core(s). Import fpjax before running any JAX code, "
                f"or set XLA_FLAGS={_FLAG}={n} before starting Python (FPJAX_NO_HOST_DEVICES=1 silences "
                "this).",
                UserWarning,
                stacklevel=3,
            )
        return None
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", n)
    except (AttributeError, KeyError, RuntimeError, ValueError):  # older JAX without the option
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" {_FLAG}={n}").strip()
    return n


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
