"""Seed sweeps: ``vmap`` over PRNG keys, sharded over every device, chunked and resumable.

``sweep(fn, keys)`` evaluates ``fn(key)`` for every key. Keys are processed in chunks; each chunk is
one jitted ``vmap(fn)`` whose key axis is sharded over a 1-D device mesh (``jax.sharding``), so
the same code runs on one CPU, 8 GPUs or, after :func:`fpjax.distributed.initialize`, on several
processes / hosts (each chunk is then one SPMD computation over the global mesh).

**Checkpoints.** With ``checkpoint_dir`` each finished chunk is written atomically
(``chunk_XXXXX.npz``) by one process (process 0). Every chunk file records the fingerprint of the
sweep it belongs to: the keys, ``xs``, the chunking, the output structure (``jax.eval_shape`` of
``fn``), a hash of ``fn``'s jaxpr and of every constant it computes with — closed-over arrays and
the constants of nested jitted functions, ``closed_call``, ``custom_jvp``/``custom_vjp`` rules and
``scan``/``cond``/``while`` bodies, at any depth — and ``tag``. A function whose results come from
Python code the jaxpr does not show (``jax.pure_callback``, ``io_callback``) cannot be
fingerprinted and is refused when ``checkpoint_dir`` is given. A rerun reuses a chunk only
when its fingerprint equals this sweep's; a chunk from another sweep, a changed ``fn`` or a corrupt
file is refused with an error naming the file and what differs (``on_mismatch="restart"`` discards
the directory's chunks and starts afresh instead). Temporary files left by a killed write are
removed on resume; a finished sweep in a read-only directory can still be read. A malformed
``sweep.json`` or chunk record (bad JSON, deep nesting, wrong types) is a :class:`CheckpointError`.

Structure: a *plan* (validated inputs, the traced function, devices, chunking), a *chunk store*
(fingerprint, read, write) and *execution* (compute or read back every chunk, then assemble).

Seeds whose outputs contain NaN/Inf are reported as diverged and excluded by
:meth:`SweepResult.mean`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from fpjax._src import checks, io
from fpjax._src.array_types import PyTree
from fpjax._src.devices import batched_lapack_deadlocks

__all__ = ["CheckpointError", "SeedStats", "SweepResult", "diverged_mask", "sweep"]

_MANIFEST = "sweep.json"
_FORMAT = 3
_META = "__sweep__"
_CHUNK_RE = re.compile(r"^chunk_(\d{5,})\.npz$")
_GATHER = ("all", "process0", "none")


class CheckpointError(ValueError):
    """A checkpoint directory holds files that do not belong to this sweep, or corrupt files.

    A ``ValueError``; its message names the file and what differs (keys, ``xs``, chunking, output
    structure, ``fn``, ``tag``). Raised by :func:`sweep` with ``on_mismatch="error"``.

    Examples:
      >>> import tempfile, jax
      >>> from fpjax.train import sweep
      >>> keys = jax.random.split(jax.random.key(0), 2)
      >>> with tempfile.TemporaryDirectory() as d:
      ...     _ = sweep(lambda k: jax.random.normal(k, (2,)), keys, checkpoint_dir=d, tag="a")
      ...     try:
      ...         sweep(lambda k: jax.random.normal(k, (2,)), keys, checkpoint_dir=d, tag="b")
      ...     except CheckpointError as e:
      ...         print(isinstance(e, ValueError), "tag ('a' there, 'b' now) differs" in str(e))
      True True
    """


def diverged_mask(outputs: PyTree) -> np.ndarray:
    """``bool[n]``: seed ``i`` diverged if any float leaf of ``outputs[i]`` has a NaN/Inf, or a leaf
    named ``diverged`` (as in :class:`fpjax.train.FitResult`) is True.

    Args:
      outputs: pytree whose leaves all have the leading seed axis ``n`` (e.g. ``SweepResult.outputs``).

    Returns:
      ``bool[n]`` numpy array (empty for a pytree without leaves).

    Examples:
      >>> import numpy as np
      >>> out = {"loss": np.array([1.0, np.nan, 2.0]), "diverged": np.array([False, False, True])}
      >>> diverged_mask(out).tolist()
      [False, True, True]
    """
    leaves_with_path = jax.tree_util.tree_leaves_with_path(outputs)
    n = None
    bad = None
    for path, leaf in leaves_with_path:
        a = np.asarray(leaf)
        if a.ndim == 0 or not (jnp.issubdtype(a.dtype, jnp.number) or a.dtype == np.bool_):  # jnp: knows bfloat16
            raise ValueError(
                f"outputs must be a pytree of arrays with a leading seed axis; leaf "
                f"{jax.tree_util.keystr(path) or '(root)'} has dtype {a.dtype} and shape {a.shape}"
            )
        if n is not None and a.shape[0] != n:
            raise ValueError(
                f"outputs must have one leading seed axis of the same length on every leaf; got {n} and "
                f"{a.shape[0]} (leaf {jax.tree_util.keystr(path) or '(root)'})"
            )
        n = a.shape[0]
        if bad is None:
            bad = np.zeros(n, bool)
        name = str(path[-1]) if path else ""
        if a.dtype == np.bool_ and "diverged" in name:
            bad |= a.reshape(n, int(np.prod(a.shape[1:]))).any(axis=1)
        elif np.issubdtype(a.dtype, np.inexact):
            bad |= ~np.isfinite(a.reshape(n, int(np.prod(a.shape[1:])))).all(axis=1)
    return bad if bad is not None else np.zeros(0, bool)


class SeedStats(NamedTuple):
    """Statistics over the non-diverged seeds of a sweep (see :meth:`SweepResult.mean`).

    Attributes:
      mean: pytree like ``fn``'s output, each leaf the mean over seeds (seed axis removed).
      std: same structure, the sample standard deviation (``ddof=1``; NaN when ``n == 1``).
      n: number of seeds averaged.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.train import sweep
      >>> res = sweep(lambda key: jnp.full((2,), jax.random.uniform(key) > 2.0) + jnp.arange(2.0),
      ...             jax.random.split(jax.random.key(0), 3))
      >>> stats = res.mean()
      >>> stats.mean.tolist(), stats.std.tolist(), stats.n
      ([0.0, 1.0], [0.0, 0.0], 3)
    """

    mean: Any
    std: Any
    n: int


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SweepResult:
    """Outputs of :func:`sweep`.

    Attributes:
      outputs: ``fn``'s pytree with a leading seed axis (numpy arrays; diverged seeds keep their raw
        values so they can be inspected). Row ``j`` is seed ``seed_index[j]``.
      diverged: ``bool[len(seed_index)]`` from :func:`diverged_mask`.
      seed_index: ``int[...]`` the global indices (into ``keys``) of the seeds held by this process:
        ``arange(n_seeds)`` unless ``gather`` kept only a share (``"none"``: this process's shards;
        ``"process0"``: empty on the other processes).
      n_seeds: number of keys in the whole sweep.
      chunks_computed: chunks computed by this call.
      chunks_loaded: chunks read back from ``checkpoint_dir``.
      n_devices: devices the key axis was sharded over.
      n_processes: JAX processes taking part (``jax.process_count()``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from fpjax.train import sweep
      >>> import warnings
      >>> def fn(key, scale):  # fn(key, xs[i]); seed 1 gets scale NaN: diverged, left out of mean()
      ...     return {"v": scale * jax.random.normal(key, (2,))}
      >>> keys = jax.random.split(jax.random.key(0), 3)
      >>> with warnings.catch_warnings():
      ...     warnings.simplefilter("ignore")  # the warning naming the diverged seed
      ...     res = sweep(fn, keys, xs=jnp.array([1.0, jnp.nan, 1.0]))
      >>> res.outputs["v"].shape, res.diverged.tolist(), res.ok.tolist(), res.seed_index.tolist()
      ((3, 2), [False, True, False], [0, 2], [0, 1, 2])
      >>> res.n_seeds, res.n_diverged, res.complete, res.mean().n
      (3, 1, True, 2)
    """

    outputs: PyTree
    diverged: np.ndarray
    seed_index: np.ndarray
    n_seeds: int
    chunks_computed: int
    chunks_loaded: int
    n_devices: int
    n_processes: int = 1

    @property
    def n_diverged(self) -> int:
        """Number of diverged seeds among those held."""
        return int(self.diverged.sum())

    @property
    def ok(self) -> np.ndarray:
        """Row indices (into ``outputs``) of the seeds that did not diverge."""
        return np.flatnonzero(~self.diverged)

    @property
    def complete(self) -> bool:
        """True when this process holds every seed's outputs."""
        return int(self.seed_index.shape[0]) == self.n_seeds

    def finite_outputs(self):
        """``outputs`` restricted to non-diverged seeds."""
        return jax.tree_util.tree_map(lambda a: a[~self.diverged], self.outputs)

    def mean(self) -> SeedStats:
        """:class:`SeedStats` ``(mean, std, n)`` over the non-diverged seeds.

        Raises ``ValueError`` if every seed diverged, or if this process holds only a share of the
        seeds (``gather="none"``/``"process0"``): a mean over a share is not the sweep's mean.
        """
        if not self.complete:
            raise ValueError(
                f"this process holds {self.seed_index.shape[0]} of {self.n_seeds} seeds "
                "(sweep(..., gather='none' or 'process0')); call mean() where the result "
                "was gathered, or use gather='all'"
            )
        n_ok = self.n_seeds - self.n_diverged
        if n_ok == 0:
            raise ValueError("every seed diverged; there is nothing to average")
        fin = self.finite_outputs()
        mean = jax.tree_util.tree_map(lambda a: np.mean(a, axis=0), fin)
        if n_ok > 1:
            std = jax.tree_util.tree_map(lambda a: np.std(a, axis=0, ddof=1), fin)
        else:
            std = jax.tree_util.tree_map(lambda a: np.full(a.shape[1:], np.nan), fin)
        return SeedStats(mean, std, n_ok)

    def __repr__(self):
        return (
            f"SweepResult(n_seeds={self.n_seeds}, held={self.seed_index.shape[0]}, "
            f"n_diverged={self.n_diverged}, chunks_computed={self.chunks_computed}, "
            f"chunks_loaded={self.chunks_loaded}, n_devices={self.n_devices}, "
            f"n_processes={self.n_processes})"
        )


# ---------------------------------------------------------------------------------------------
# keys and fingerprints
# ---------------------------------------------------------------------------------------------


def _one_seed(kd, x, fn, impl):
    key = jax.random.wrap_key_data(kd, impl=impl) if impl is not None else kd
    return fn(key) if x is None else fn(key, x)


@functools.partial(jax.jit, static_argnames=("fn", "impl"))
def _vmapped_chunk(kd, xs_chunk, *, fn, impl):
    if xs_chunk is None:
        return jax.vmap(lambda k: _one_seed(k, None, fn, impl))(kd)
    return jax.vmap(lambda k, x: _one_seed(k, x, fn, impl))(kd, xs_chunk)


# Primitives that run as LAPACK kernels on CPU (see _uses_lapack).
_LAPACK_PRIMITIVES = frozenset(
    {
        "eigh",
        "eig",
        "svd",
        "lu",
        "qr",
        "householder_product",
        "geqrf",
        "geqp3",
        "cholesky",
        "schur",
        "hessenberg",
        "tridiagonal",
        "tridiagonal_solve",
        "triangular_solve",
    }
)


def _uses_lapack(jaxpr) -> bool:
    """Whether ``jaxpr`` (or any jaxpr nested in its equations: scan, cond, pjit, custom rules) calls
    a LAPACK-backed primitive."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in _LAPACK_PRIMITIVES:
            return True
        for v in eqn.params.values():
            for sub in v if isinstance(v, (tuple, list)) else (v,):
                inner = getattr(sub, "jaxpr", sub)  # ClosedJaxpr -> Jaxpr
                if hasattr(inner, "eqns") and _uses_lapack(inner):
                    return True
    return False


def _key_data(keys) -> tuple[np.ndarray, Any]:
    """Raw ``uint32`` key data ``(n, ...)`` and the key implementation (``None`` for raw keys)."""
    if isinstance(keys, (jax.Array, np.ndarray)) and jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        if keys.ndim != 1:
            raise ValueError(f"keys must be a 1-D array of typed keys (n,); got shape {keys.shape}")
        return np.asarray(jax.random.key_data(keys)), jax.random.key_impl(keys)
    arr = np.asarray(keys) if isinstance(keys, (jax.Array, np.ndarray)) else None
    if arr is None or arr.dtype != np.uint32 or arr.ndim != 2:
        raise TypeError(
            "keys must be jax.random.split(key, n) output: typed keys of shape (n,) or raw "
            f"uint32 keys of shape (n, 2); got {type(keys).__name__}"
            f"{'' if arr is None else f' with dtype {arr.dtype} and shape {arr.shape}'}"
        )
    return arr, None


_ADDR = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")


def _hash_arrays(h, leaves) -> None:
    for a in leaves:
        if isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            h.update(f"key<{jax.random.key_impl(a)}>".encode())
            a = jax.random.key_data(a)
        try:
            arr = np.asarray(a)
        except Exception:  # an opaque constant: its repr is the best we have
            h.update(_ADDR.sub("", repr(a)).encode())
            continue
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes() if arr.dtype != object else repr(arr).encode())


# Primitives whose result comes from Python code the jaxpr does not show: a checkpoint fingerprint
# cannot tell whether that code (or the state it reads) changed since the chunks were written.
_OPAQUE_PRIMITIVES = frozenset({"pure_callback", "io_callback"})


def _is_closed_jaxpr(v) -> bool:
    return hasattr(v, "jaxpr") and hasattr(v, "consts")


def _is_error_check(eqn) -> bool:
    """A host callback of ``equinox.error_if`` (fpjax's value checks, ``checks.error_if``): it only
    raises on bad input and never feeds a value into ``fn``'s results, so it cannot make a checkpoint
    stale."""
    cb = eqn.params.get("callback")
    func = getattr(cb, "callback_func", cb)
    return getattr(func, "__module__", "").startswith("equinox._errors")


def _param_items(value):
    """Sub-jaxprs and arrays inside one equation parameter (tuples, lists and dicts opened)."""
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, (tuple, list)):
            todo.extend(reversed(v))
        elif isinstance(v, dict):
            todo.extend(v[k] for k in sorted(v, key=str, reverse=True))
        elif _is_closed_jaxpr(v) or hasattr(v, "eqns") or isinstance(v, (np.ndarray, jax.Array)):
            yield v


def _hash_nested_constants(h, jaxpr) -> None:
    """Hash what the jaxpr text leaves out, at any depth: the constants of nested closed jaxprs
    (``jit``/``pjit``, ``closed_call``, ``custom_jvp``/``custom_vjp``, ``scan``/``cond``/``while``
    bodies), array literals and array-valued parameters. Refuses host callbacks other than the value
    checks of ``equinox.error_if``."""
    seen: set[int] = set()
    todo = [jaxpr]
    while todo:
        j = todo.pop()
        if id(j) in seen:  # a sub-jaxpr shared by several equations is hashed once
            continue
        seen.add(id(j))
        for eqn in j.eqns:
            name = eqn.primitive.name
            if name in _OPAQUE_PRIMITIVES and not _is_error_check(eqn):
                raise CheckpointError(
                    f"fn calls {name}: its Python callback is invisible to the checkpoint "
                    "fingerprint, so a checkpoint could return the results of an older version "
                    "of that code; run this sweep without checkpoint_dir or express the callback "
                    "with JAX operations"
                )
            h.update(f"|{name}".encode())
            _hash_arrays(h, [v.val for v in eqn.invars if isinstance(v, jax.extend.core.Literal)])
            subs = []
            for key in sorted(eqn.params):
                for item in _param_items(eqn.params[key]):
                    h.update(f"|{key}".encode())
                    if _is_closed_jaxpr(item):
                        _hash_arrays(h, item.consts)
                        subs.append(item.jaxpr)
                    elif hasattr(item, "eqns"):
                        subs.append(item)
                    else:
                        _hash_arrays(h, [item])
            todo.extend(reversed(subs))


def _fn_fingerprint(closed_jaxpr) -> str:
    """sha256 of ``fn``'s jaxpr text (memory addresses removed), of its constants and of the
    constants of every function nested in it (see :func:`_hash_nested_constants`)."""
    h = hashlib.sha256(_ADDR.sub("", str(closed_jaxpr.jaxpr)).encode())
    _hash_arrays(h, closed_jaxpr.consts)
    _hash_nested_constants(h, closed_jaxpr.jaxpr)
    return h.hexdigest()[:24]


def _describe_struct(tree) -> str:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return f"{treedef}: " + ", ".join(f"{np.dtype(s.dtype).name}{list(s.shape)}" for s in leaves)


_WHAT = {
    "keys": "the keys",
    "xs": "xs",
    "chunking": "the chunking",
    "outputs": "the output structure",
    "fn": "fn (its jaxpr or constants)",
    "tag": "tag",
}


def _diff(old: dict, new: dict) -> list[str]:
    out = []
    for k in ("keys", "xs", "chunking", "outputs", "fn", "tag"):
        if old.get(k) != new.get(k):
            if k in ("chunking", "outputs", "tag"):
                out.append(f"{_WHAT[k]} ({old.get(k)!r:.120} there, {new.get(k)!r:.120} now)")
            else:
                out.append(_WHAT[k])
    return out


# ---------------------------------------------------------------------------------------------
# plan: validated inputs, the traced function, devices and chunking
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class _Plan:
    fn: Callable[..., Any]
    impl: Any  # key implementation (None for raw uint32 keys)
    key_data: np.ndarray  # (n, ...) uint32
    xs: PyTree | None
    closed: Any  # jaxpr of one seed
    out1: PyTree  # output structure of one seed
    devices: list
    chunk_size: int
    n_chunks: int
    sharding: NamedSharding
    structs: list  # one ShapeDtypeStruct (chunk_size, ...) per output leaf
    treedef: Any
    keep_rows: np.ndarray  # rows of every chunk this process keeps
    gather: str
    n_proc: int
    main: bool  # process 0

    @property
    def n(self) -> int:
        return int(self.key_data.shape[0])

    def chunk_inputs(self, c: int):
        idx = np.arange(c * self.chunk_size, (c + 1) * self.chunk_size) % self.n  # pad by wrapping around
        return self.key_data[idx], (None if self.xs is None else jax.tree_util.tree_map(lambda a: a[idx], self.xs))


def _check_inputs(fn, keys, xs, tag, devices, gather, on_mismatch):
    """Validated ``(key_data, impl, xs as numpy, devices)``."""
    if not callable(fn):
        raise TypeError(f"fn must be a callable fn(key) -> pytree; got {type(fn).__name__}")
    key_data, impl = _key_data(keys)
    n = key_data.shape[0]
    if n == 0:
        raise ValueError("keys must hold at least one key; got 0")
    if not isinstance(tag, str):
        raise TypeError(f"tag must be a str; got {type(tag).__name__}")
    checks.check_choice(gather, "gather", _GATHER)
    checks.check_choice(on_mismatch, "on_mismatch", ("error", "restart"))
    if xs is not None:
        xs = jax.tree_util.tree_map(np.asarray, xs)
        for path, leaf in jax.tree_util.tree_leaves_with_path(xs):
            if leaf.ndim == 0 or leaf.shape[0] != n:
                raise ValueError(
                    f"xs{jax.tree_util.keystr(path)} must have leading axis n_seeds={n}; got shape {leaf.shape}"
                )
    devices = list(jax.devices() if devices is None else devices)
    if len(devices) == 0:
        raise ValueError("devices must hold at least one device")
    return key_data, impl, xs, devices


def _keep_rows(sharding, chunk_size: int, gather: str, n_proc: int, main: bool) -> np.ndarray:
    """Rows of every chunk that this process keeps (sorted)."""
    if gather == "all" or n_proc == 1 or (gather == "process0" and main):
        return np.arange(chunk_size)
    if gather == "process0":
        return np.zeros(0, int)
    idx_map = sharding.addressable_devices_indices_map((chunk_size,))  # gather="none": own shards
    return np.unique(np.concatenate([np.arange(chunk_size)[ix[0]] for ix in idx_map.values()]))


def _plan(fn, keys, xs, *, chunk_size, tag, devices, gather, on_mismatch) -> _Plan:
    key_data, impl, xs, devices = _check_inputs(fn, keys, xs, tag, devices, gather, on_mismatch)
    n = key_data.shape[0]
    single = lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype)
    x1 = None if xs is None else jax.tree_util.tree_map(single, xs)
    closed, out1 = jax.make_jaxpr(lambda kd, x: _one_seed(kd, x, fn, impl), return_shape=True)(single(key_data), x1)
    if batched_lapack_deadlocks(devices) and _uses_lapack(closed.jaxpr):
        # jaxlib < 0.12 deadlocks when batched LAPACK kernels run on several host devices at once
        # (fpjax._src.devices): one device per process; the LAPACK kernel spreads the batch itself.
        firsts: dict[int, Any] = {}
        for d in devices:
            firsts.setdefault(d.process_index, d)
        devices = list(firsts.values())
    n_dev = len(devices)
    chunk_size = n if chunk_size is None else checks.check_positive_int(chunk_size, "chunk_size")
    # More than n seeds per chunk is all at once (never pad a chunk beyond the keys there are).
    chunk_size = -(-min(chunk_size, n) // n_dev) * n_dev
    sharding = NamedSharding(Mesh(np.array(devices), ("seeds",)), P("seeds"))
    n_proc, main = jax.process_count(), jax.process_index() == 0
    out_leaves1, treedef = jax.tree_util.tree_flatten(out1)
    return _Plan(
        fn=fn,
        impl=impl,
        key_data=key_data,
        xs=xs,
        closed=closed,
        out1=out1,
        devices=devices,
        chunk_size=chunk_size,
        n_chunks=-(-n // chunk_size),
        sharding=sharding,
        structs=[jax.ShapeDtypeStruct((chunk_size,) + tuple(s.shape), s.dtype) for s in out_leaves1],
        treedef=treedef,
        keep_rows=_keep_rows(sharding, chunk_size, gather, n_proc, main),
        gather=gather,
        n_proc=n_proc,
        main=main,
    )


# ---------------------------------------------------------------------------------------------
# chunk store: fingerprint, read, write
# ---------------------------------------------------------------------------------------------

_HINT = "; delete the directory, use a new one, or pass on_mismatch='restart' to discard its chunks and start afresh"
_MAX_MANIFEST_BYTES = 1 << 20


def _fingerprint(plan: _Plan, tag: str) -> dict:
    """What a chunk file must record to be reused by this sweep."""
    xs_h = hashlib.sha256(str(jax.tree_util.tree_structure(plan.xs)).encode())
    _hash_arrays(xs_h, jax.tree_util.tree_leaves(plan.xs))
    kd = plan.key_data
    keys_h = hashlib.sha256(f"{plan.impl}|{kd.dtype.str}{kd.shape}".encode())
    keys_h.update(np.ascontiguousarray(kd).tobytes())
    return {
        "keys": keys_h.hexdigest()[:24],
        "xs": xs_h.hexdigest()[:24],
        "chunking": f"n_seeds={plan.n}, chunk_size={plan.chunk_size}, n_chunks={plan.n_chunks}",
        "outputs": _describe_struct(plan.out1),
        "fn": _fn_fingerprint(plan.closed),
        "tag": tag,
    }


def _parse_record(raw: bytes, what: str) -> dict:
    """The JSON record ``{"format", "fingerprint", ...}`` of a manifest or chunk file, checked for
    shape; anything malformed (bad JSON, deep nesting, wrong types) is a :class:`CheckpointError`."""
    try:
        rec = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{what} is corrupt ({type(err).__name__}){_HINT}") from None
    if not isinstance(rec, dict):
        raise CheckpointError(f"{what} is corrupt (its record is a {type(rec).__name__}, not an object){_HINT}")
    if rec.get("format") != _FORMAT:
        fmt = rec.get("format")
        raise CheckpointError(
            f"{what} has fingerprint format {fmt if isinstance(fmt, int) else '?'!s:.20}, expected "
            f"{_FORMAT} (written by another program or another fpjax version){_HINT}"
        )
    fp = rec.get("fingerprint")
    if not (isinstance(fp, dict) and all(isinstance(fp.get(k), str) for k in _WHAT)):
        raise CheckpointError(f"{what} is corrupt (its fingerprint is malformed){_HINT}")
    return rec


@dataclasses.dataclass(frozen=True)
class _ChunkStore:
    """The chunk files of one sweep in ``path``; every file records the fingerprint ``fp``."""

    path: Path
    fp: dict
    structs: list

    def file(self, c: int) -> Path:
        return self.path / f"chunk_{c:05d}.npz"

    def read(self, c: int, path: Path | None = None) -> list[np.ndarray]:
        """The leaves of chunk ``c``, after checking that the file belongs to this sweep and has
        the expected shapes. Raises :class:`CheckpointError`."""
        path = self.file(c) if path is None else path
        try:
            with np.load(path, allow_pickle=False) as z:
                if _META not in z.files:
                    raise CheckpointError(
                        f"checkpoint file {path} has no sweep fingerprint (written by "
                        f"another program or an older fpjax){_HINT}"
                    )
                meta = _parse_record(bytes(z[_META]), f"checkpoint file {path}")
                diff = _diff(meta["fingerprint"], self.fp)
                if diff:
                    raise CheckpointError(
                        f"checkpoint file {path} belongs to a different sweep: "
                        f"{', '.join(diff)} differ{'s' if len(diff) == 1 else ''}{_HINT}"
                    )
                if meta.get("chunk") != c:
                    raise CheckpointError(
                        f"checkpoint file {path} holds chunk {meta.get('chunk')!r:.20}, not chunk {c} "
                        f"(renamed or copied){_HINT}"
                    )
                leaves = [z[f"leaf_{i}"] for i in range(len(self.structs))]
        except CheckpointError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError, OSError, UnicodeDecodeError) as err:
            raise CheckpointError(
                f"checkpoint file {path} is corrupt or truncated ({type(err).__name__}: {err}){_HINT}"
            ) from None
        for i, (a, s) in enumerate(zip(leaves, self.structs)):
            if a.shape != s.shape or a.dtype != s.dtype:
                raise CheckpointError(
                    f"checkpoint file {path}: leaf {i} is {a.dtype}{list(a.shape)}, "
                    f"expected {np.dtype(s.dtype)}{list(s.shape)}{_HINT}"
                )
        return leaves

    def write(self, c: int, leaves: list[np.ndarray]) -> None:
        _write_chunk(self.file(c), c, self.fp, leaves)

    def check_manifest(self) -> None:
        """Refuse a directory whose ``sweep.json`` records another sweep (or is malformed)."""
        manifest = self.path / _MANIFEST
        if not manifest.exists():
            return
        try:
            if manifest.stat().st_size > _MAX_MANIFEST_BYTES:
                raise CheckpointError(
                    f"checkpoint manifest {manifest} is larger than {_MAX_MANIFEST_BYTES} bytes{_HINT}"
                )
            raw = manifest.read_bytes()
        except OSError as err:
            raise CheckpointError(
                f"checkpoint manifest {manifest} cannot be read ({type(err).__name__}){_HINT}"
            ) from None
        old = _parse_record(raw, f"checkpoint manifest {manifest}")
        diff = _diff(old["fingerprint"], self.fp)
        if diff:
            raise CheckpointError(
                f"checkpoint_dir {str(self.path)!r} holds a different sweep ({manifest}): "
                f"{', '.join(diff)} differ{'s' if len(diff) == 1 else ''}; use a new "
                "directory, delete it, or pass on_mismatch='restart'"
            )

    def write_manifest(self, n_chunks: int) -> None:
        if not (self.path / _MANIFEST).exists():
            io.atomic_write_json(
                self.path / _MANIFEST, {"format": _FORMAT, "fingerprint": self.fp, "n_chunks": n_chunks}
            )


def _write_chunk(path: Path, c: int, fp: dict, leaves: list[np.ndarray]) -> None:
    """Save chunk ``c`` atomically with its record (a module-level function: tests of several
    processes wrap it to see which process writes which chunk)."""
    meta = json.dumps({"format": _FORMAT, "chunk": c, "fingerprint": fp}).encode()
    io.atomic_save_npz(path, **{f"leaf_{i}": a for i, a in enumerate(leaves)}, **{_META: np.frombuffer(meta, np.uint8)})


def _is_stale_temp(name: str) -> bool:
    return name.startswith((".chunk_", f".{_MANIFEST}.")) and name.endswith(".tmp")


def _writable(ckpt: Path, exists: bool) -> bool:
    if exists:
        return os.access(ckpt, os.W_OK | os.X_OK)
    return os.access(next((p for p in ckpt.parents if p.exists()), Path(".")), os.W_OK)


def _scan(store: _ChunkStore, chunk_files: dict, n_chunks: int):
    """``(reuse, leaves)`` of the chunk files that belong to this sweep; CheckpointError otherwise."""
    store.check_manifest()
    extra = sorted(c for c in chunk_files if c >= n_chunks)
    if extra:
        raise CheckpointError(
            f"checkpoint file {chunk_files[extra[0]]} belongs to a different sweep "
            f"(chunk {extra[0]}, but this sweep has {n_chunks} chunks); use a new "
            "directory, delete it, or pass on_mismatch='restart'"
        )
    reuse, leaves = [False] * n_chunks, [None] * n_chunks
    for c, p in sorted(chunk_files.items()):
        leaves[c] = store.read(c, p)
        reuse[c] = True
    return reuse, leaves


def _prepare(store: _ChunkStore, n_chunks: int, on_mismatch: str):
    """Check the checkpoint directory (process 0 only). Returns ``(reuse, leaves)``: ``reuse[c]``
    is True for chunks whose file belongs to this sweep, ``leaves[c]`` their arrays."""
    ckpt = store.path
    exists = ckpt.is_dir()
    if ckpt.exists() and not exists:
        raise ValueError(f"checkpoint_dir {str(ckpt)!r} exists and is not a directory")
    writable = _writable(ckpt, exists)
    names = sorted(os.listdir(ckpt)) if exists else []
    chunk_files = {int(m.group(1)): ckpt / n for n in names if (m := _CHUNK_RE.match(n))}
    try:
        reuse, leaves = _scan(store, chunk_files, n_chunks)
    except CheckpointError:
        if on_mismatch != "restart":
            raise
        if not writable:
            raise ValueError(f"checkpoint_dir {str(ckpt)!r} is not writable; cannot restart there") from None
        if (ckpt / _MANIFEST).is_dir():
            raise ValueError(
                f"checkpoint manifest {ckpt / _MANIFEST} is a folder; remove it to restart there"
            ) from None
        for p in chunk_files.values():
            p.unlink()
        if (ckpt / _MANIFEST).exists():
            (ckpt / _MANIFEST).unlink()
        reuse, leaves = [False] * n_chunks, [None] * n_chunks
    if not all(reuse):
        if not writable:
            raise ValueError(
                f"checkpoint_dir {str(ckpt)!r} is not writable and {reuse.count(False)} of "
                f"{n_chunks} chunks are missing there; choose a writable directory"
            )
        io.ensure_writable_dir(ckpt, "checkpoint_dir")
        for n in (n for n in names if _is_stale_temp(n)):  # left by a write that was killed; never read
            try:
                (ckpt / n).unlink()
            except FileNotFoundError:
                pass
        store.write_manifest(n_chunks)
    return reuse, leaves


def _broadcast_status(reuse: list[bool] | None, error: str | None, n_chunks: int):
    """Send process 0's checkpoint decision (or its error) to every process."""
    from jax.experimental import multihost_utils

    msg = (error or "").encode()[:4000]
    buf = np.zeros(2 + n_chunks + 4000, np.int32)
    if jax.process_index() == 0:
        buf[0] = 1 if error is not None else 0
        buf[1] = len(msg)
        buf[2 : 2 + n_chunks] = np.asarray(reuse if reuse is not None else [0] * n_chunks, np.int32)
        buf[2 + n_chunks : 2 + n_chunks + len(msg)] = np.frombuffer(msg, np.uint8)
    buf = np.asarray(multihost_utils.broadcast_one_to_all(buf))
    if buf[0]:
        text = bytes(buf[2 + n_chunks : 2 + n_chunks + int(buf[1])].astype(np.uint8)).decode(errors="replace")
        raise CheckpointError(text if jax.process_index() == 0 else f"(from process 0) {text}")
    return [bool(v) for v in buf[2 : 2 + n_chunks]]


def _open_store(plan: _Plan, checkpoint_dir, tag: str, on_mismatch: str):
    """``(store, reuse, leaves)`` for ``checkpoint_dir``: process 0 checks the directory and every
    process learns which chunks are reused (``(None, all False, None...)`` without a directory)."""
    reuse, leaves = [False] * plan.n_chunks, [None] * plan.n_chunks
    if checkpoint_dir is None:
        return None, reuse, leaves
    if not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise TypeError(f"checkpoint_dir must be a path; got {type(checkpoint_dir).__name__}")
    store = _ChunkStore(Path(checkpoint_dir), _fingerprint(plan, tag), plan.structs)
    error = None
    if plan.main:
        try:
            reuse, leaves = _prepare(store, plan.n_chunks, on_mismatch)
        except ValueError as err:
            if plan.n_proc == 1:
                raise
            error = str(err)
    if plan.n_proc > 1:
        reuse = _broadcast_status(reuse, error, plan.n_chunks)
        # Every process that must hold reused chunks reads them itself: the files must be visible.
        from jax.experimental import multihost_utils

        needs = len(plan.keep_rows) > 0 and not plan.main
        seen = all(store.file(c).is_file() for c in range(plan.n_chunks) if reuse[c]) if needs else True
        flags = np.asarray(multihost_utils.process_allgather(np.array([int(seen)], np.int32)))
        if not flags.all():
            raise ValueError(
                f"checkpoint_dir {str(store.path)!r}: processes {np.flatnonzero(flags == 0).tolist()} "
                "cannot see the chunk files process 0 wrote; with several processes "
                "checkpoint_dir must be on a file system they all share"
            )
    return store, reuse, leaves


# ---------------------------------------------------------------------------------------------
# execute
# ---------------------------------------------------------------------------------------------


def _local_part(x) -> np.ndarray:
    """The rows of a sharded array that live on this process's devices."""
    shards = sorted(x.addressable_shards, key=lambda s: s.index[0].start or 0)
    seen, parts = set(), []
    for s in shards:
        start = s.index[0].start or 0
        if start not in seen:  # (a replicated mesh axis would repeat shards)
            seen.add(start)
            parts.append(np.asarray(s.data))
    return np.concatenate(parts, axis=0)


def _compute_chunk(plan: _Plan, c: int, store: _ChunkStore | None) -> list[np.ndarray]:
    """Compute chunk ``c``, save it (process 0) and return the rows this process keeps."""
    # One module-level jitted program keyed on (fn, key impl): a second sweep of the same function
    # reuses the compiled chunk instead of tracing and compiling it again (compilation, not the
    # steps, was most of the first-call cost of a sweep).
    kd, xc = plan.chunk_inputs(c)
    shard = lambda a: jax.make_array_from_callback(a.shape, plan.sharding, lambda idx: a[idx])
    out = _vmapped_chunk(
        shard(kd), None if xc is None else jax.tree_util.tree_map(shard, xc), fn=plan.fn, impl=plan.impl
    )
    out_leaves = jax.tree_util.tree_leaves(out)
    if plan.gather == "none" and plan.n_proc > 1 and store is None:
        return [_local_part(leaf) for leaf in out_leaves]  # never assemble a chunk on one host
    full = [_to_host(leaf) for leaf in out_leaves]
    if store is not None and plan.main:
        store.write(c, full)
    return [a[plan.keep_rows] for a in full]


def _execute(plan: _Plan, store, reuse: list[bool], loaded_leaves: list, progress: bool):
    """Every chunk's kept rows (read back or computed), their seed indices and the counts."""
    chunks, rows, computed, loaded = [], [], 0, 0
    it = range(plan.n_chunks)
    if progress and plan.main:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="sweep", unit="chunk")
    for c in it:
        if not reuse[c]:
            leaves = _compute_chunk(plan, c, store)
            computed += 1
        elif len(plan.keep_rows) == 0:
            leaves = [np.zeros((0,) + tuple(s.shape[1:]), s.dtype) for s in plan.structs]
            loaded += 1
        else:
            full = loaded_leaves[c] if loaded_leaves[c] is not None else store.read(c)
            leaves = [a[plan.keep_rows] for a in full]
            loaded += 1
        chunks.append(leaves)
        rows.append(c * plan.chunk_size + plan.keep_rows)
    return chunks, rows, computed, loaded


def _assemble(plan: _Plan, chunks: list, rows: list, computed: int, loaded: int) -> SweepResult:
    """Stack the chunks into a :class:`SweepResult` (padding dropped) and warn about diverged seeds."""
    n = plan.n
    seed_index = np.concatenate(rows) if rows else np.zeros(0, int)
    valid = seed_index < n  # drop the padding
    seed_index = seed_index[valid]
    stacked = [np.concatenate([ch[i] for ch in chunks], axis=0)[valid] for i in range(plan.treedef.num_leaves)]
    outputs = jax.tree_util.tree_unflatten(plan.treedef, stacked)
    div = diverged_mask(outputs)
    if div.size != seed_index.size:  # no array leaves
        div = np.zeros(seed_index.shape[0], bool)
    if div.any() and (plan.main or plan.gather == "none"):
        warnings.warn(
            f"sweep: {int(div.sum())} of {n} seeds diverged (NaN/Inf) and are excluded from "
            f"SweepResult.mean: seed indices {seed_index[div].tolist()}",
            RuntimeWarning,
            stacklevel=3,
        )
    return SweepResult(outputs, div, seed_index.astype(np.int64), n, computed, loaded, len(plan.devices), plan.n_proc)


# ---------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------


def sweep(
    fn: Callable[..., Any],
    keys: jax.Array,
    xs: PyTree | None = None,
    *,
    chunk_size: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    tag: str = "",
    devices=None,
    gather: str = "all",
    on_mismatch: str = "error",
    progress: bool = False,
) -> SweepResult:
    """Evaluate ``fn(key)`` for every key: ``vmap`` + sharding over devices + resumable chunks.

    ``outputs[i] = fn(keys[i])`` (or ``fn(keys[i], xs[i])``) for ``i < n``, computed as
    ``ceil(n / chunk_size)`` jitted ``vmap(fn)`` calls whose key axis is sharded over ``devices``.

    Args:
      fn: ``fn(key) -> pytree of arrays`` (e.g. a closure calling :func:`fpjax.train.fit`). It must be
        traceable by ``jax.jit``/``jax.vmap``.
      keys: ``jax.random.split(key, n)``: typed keys ``(n,)`` or raw ``uint32`` keys ``(n, 2)``.
      xs: optional pytree of per-seed inputs, each leaf with leading axis ``n`` (e.g. learning rates or
        init scales); then ``fn(key, x_i)`` is called. Part of the checkpoint fingerprint.
      chunk_size: seeds per chunk (default, or any value above ``n``: all at once). Rounded up to
        a multiple of the device count; the last chunk is padded with repeated keys whose outputs
        are dropped.
      checkpoint_dir: if given, each finished chunk is saved atomically there (by process 0 only)
        and a rerun of the same sweep computes only the missing chunks. A chunk is reused only when
        its recorded fingerprint (keys, ``xs``, chunking, output structure, ``fn``'s jaxpr and
        every constant it computes with, nested jitted functions included, ``tag``) equals this
        sweep's (a ``fn`` calling ``jax.pure_callback``/``io_callback`` is refused); otherwise :class:`CheckpointError` (a
        ``ValueError``) names the file and what differs. With several processes the directory must
        be on a file system they share.
      tag: free text identifying the computation (e.g. the config); part of the fingerprint.
      devices: devices to shard over (default ``jax.devices()``: every device of every process).
      gather: where the outputs end up when several processes run the sweep: ``"all"`` (default:
        every process gets every seed), ``"process0"`` (only process 0; the others get an empty
        share) or ``"none"`` (each process keeps the seeds its own devices computed, so outputs
        larger than one host's memory stay distributed). ``SweepResult.seed_index`` says which
        seeds a process holds. Identical to ``"all"`` in a single process.
      on_mismatch: ``"error"`` (default) refuses a checkpoint directory holding another sweep's or
        corrupt files; ``"restart"`` deletes that directory's chunk files and starts afresh.
      progress: show a tqdm progress bar over chunks (process 0 only).

    Returns:
      :class:`SweepResult`. A warning names the diverged seeds, if any.

    Examples:
      >>> import jax
      >>> from fpjax.train import sweep
      >>> res = sweep(lambda key: jax.random.normal(key, (3,)), jax.random.split(jax.random.key(0), 4))
      >>> res.outputs.shape, res.mean().n
      ((4, 3), 4)

    Determinism: the same keys, chunking and devices give bitwise-identical outputs.
    """
    plan = _plan(fn, keys, xs, chunk_size=chunk_size, tag=tag, devices=devices, gather=gather, on_mismatch=on_mismatch)
    store, reuse, loaded_leaves = _open_store(plan, checkpoint_dir, tag, on_mismatch)
    chunks, rows, computed, loaded = _execute(plan, store, reuse, loaded_leaves, progress)
    return _assemble(plan, chunks, rows, computed, loaded)


def _to_host(x) -> np.ndarray:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
