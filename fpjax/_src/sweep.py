"""Seed sweeps: ``vmap`` over PRNG keys, sharded over every device, chunked and resumable.

``sweep(fn, keys)`` evaluates ``fn(key)`` for every key. Keys are processed in chunks; each chunk is
one jitted ``vmap(fn)`` whose key axis is sharded over a 1-D device mesh (``jax.sharding``), so
the same code runs on one CPU, 8 GPUs or, after :func:`fpjax.distributed.initialize`, on several
processes / hosts (each chunk is then one SPMD computation over the global mesh).

**Checkpoints.** With ``checkpoint_dir`` each finished chunk is written atomically
(``chunk_XXXXX.npz``) by one process (process 0). Every chunk file records the fingerprint of the
sweep it belongs to: the keys, ``xs``, the chunking, the output structure (``jax.eval_shape`` of
``fn``), a hash of ``fn``'s jaxpr (its constants included) and ``tag``. A rerun reuses a chunk only
when its fingerprint equals this sweep's; a chunk from another sweep, a changed ``fn`` or a corrupt
file is refused with an error naming the file and what differs (``on_mismatch="restart"`` discards
the directory's chunks and starts afresh instead). Temporary files left by a killed write are
removed on resume; a finished sweep in a read-only directory can still be read.

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
_FORMAT = 2
_META = "__sweep__"
_CHUNK_RE = re.compile(r"^chunk_(\d{5,})\.npz$")
_GATHER = ("all", "process0", "none")


class CheckpointError(ValueError):
    """A checkpoint directory holds files that do not belong to this sweep, or corrupt files."""


def diverged_mask(outputs: PyTree) -> np.ndarray:
    """``bool[n]``: seed ``i`` diverged if any float leaf of ``outputs[i]`` has a NaN/Inf, or a leaf
    named ``diverged`` (as in :class:`fpjax.train.FitResult`) is True."""
    leaves_with_path = jax.tree_util.tree_leaves_with_path(outputs)
    n = None
    bad = None
    for path, leaf in leaves_with_path:
        a = np.asarray(leaf)
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


def _fn_fingerprint(closed_jaxpr) -> str:
    """sha256 of ``fn``'s jaxpr text (memory addresses removed) and of its constants."""
    h = hashlib.sha256(_ADDR.sub("", str(closed_jaxpr.jaxpr)).encode())
    _hash_arrays(h, closed_jaxpr.consts)
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
# checkpoint files
# ---------------------------------------------------------------------------------------------


def _chunk_name(c: int) -> str:
    return f"chunk_{c:05d}.npz"


def _read_chunk(path: Path, c: int, fp: dict, structs: list) -> list[np.ndarray]:
    """The leaves of chunk ``c`` from ``path``, after checking that the file belongs to the sweep
    with fingerprint ``fp`` and has the expected shapes. Raises :class:`CheckpointError`."""
    hint = "; delete the directory, use a new one, or pass on_mismatch='restart' to discard its chunks and start afresh"
    try:
        with np.load(path, allow_pickle=False) as z:
            if _META not in z.files:
                raise CheckpointError(
                    f"checkpoint file {path} has no sweep fingerprint (written by "
                    f"another program or an older fpjax){hint}"
                )
            meta = json.loads(bytes(z[_META]).decode())
            if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                raise CheckpointError(
                    f"checkpoint file {path} has fingerprint format "
                    f"{meta.get('format') if isinstance(meta, dict) else '?'}, "
                    f"expected {_FORMAT}{hint}"
                )
            diff = _diff(meta.get("fingerprint", {}), fp)
            if diff:
                raise CheckpointError(
                    f"checkpoint file {path} belongs to a different sweep: "
                    f"{', '.join(diff)} differ{'s' if len(diff) == 1 else ''}{hint}"
                )
            if meta.get("chunk") != c:
                raise CheckpointError(
                    f"checkpoint file {path} holds chunk {meta.get('chunk')}, not chunk {c} (renamed or copied){hint}"
                )
            leaves = [z[f"leaf_{i}"] for i in range(len(structs))]
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError, OSError, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"checkpoint file {path} is corrupt or truncated ({type(err).__name__}: {err}){hint}"
        ) from None
    for i, (a, s) in enumerate(zip(leaves, structs)):
        if a.shape != s.shape or a.dtype != s.dtype:
            raise CheckpointError(
                f"checkpoint file {path}: leaf {i} is {a.dtype}{list(a.shape)}, "
                f"expected {np.dtype(s.dtype)}{list(s.shape)}{hint}"
            )
    return leaves


def _write_chunk(path: Path, c: int, fp: dict, leaves: list[np.ndarray]) -> None:
    meta = json.dumps({"format": _FORMAT, "chunk": c, "fingerprint": fp}).encode()
    io.atomic_save_npz(path, **{f"leaf_{i}": a for i, a in enumerate(leaves)}, **{_META: np.frombuffer(meta, np.uint8)})


def _is_stale_temp(name: str) -> bool:
    return name.startswith((".chunk_", f".{_MANIFEST}.")) and name.endswith(".tmp")


def _prepare(ckpt: Path, fp: dict, n_chunks: int, structs: list, on_mismatch: str, keep: bool):
    """Check ``ckpt`` (process 0 only). Returns ``(reuse, leaves, writable)``: ``reuse[c]`` is True
    for chunks whose file belongs to this sweep; ``leaves[c]`` their arrays when ``keep``."""
    exists = ckpt.is_dir()
    if ckpt.exists() and not exists:
        raise ValueError(f"checkpoint_dir {str(ckpt)!r} exists and is not a directory")
    writable = (
        os.access(ckpt, os.W_OK | os.X_OK)
        if exists
        else os.access(next((p for p in ckpt.parents if p.exists()), Path(".")), os.W_OK)
    )
    names = sorted(os.listdir(ckpt)) if exists else []
    stale = [n for n in names if _is_stale_temp(n)]
    chunk_files = {int(m.group(1)): ckpt / n for n in names if (m := _CHUNK_RE.match(n))}

    def restart():
        if not writable:
            raise ValueError(f"checkpoint_dir {str(ckpt)!r} is not writable; cannot restart there")
        for p in chunk_files.values():
            p.unlink()
        if (ckpt / _MANIFEST).exists():
            (ckpt / _MANIFEST).unlink()
        chunk_files.clear()

    reuse = [False] * n_chunks
    leaves: list = [None] * n_chunks
    manifest = ckpt / _MANIFEST
    try:
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text())
                old_fp = old["fingerprint"] if old.get("format") == _FORMAT else {"format": old.get("format")}
            except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as err:
                raise CheckpointError(
                    f"checkpoint manifest {manifest} is corrupt ({type(err).__name__}); "
                    "delete it or pass on_mismatch='restart'"
                ) from None
            diff = _diff(old_fp, fp)
            if diff:
                raise CheckpointError(
                    f"checkpoint_dir {str(ckpt)!r} holds a different sweep ({manifest}): "
                    f"{', '.join(diff)} differ{'s' if len(diff) == 1 else ''}; use a new "
                    "directory, delete it, or pass on_mismatch='restart'"
                )
        extra = sorted(c for c in chunk_files if c >= n_chunks)
        if extra:
            raise CheckpointError(
                f"checkpoint file {chunk_files[extra[0]]} belongs to a different sweep "
                f"(chunk {extra[0]}, but this sweep has {n_chunks} chunks); use a new "
                "directory, delete it, or pass on_mismatch='restart'"
            )
        for c, p in sorted(chunk_files.items()):
            a = _read_chunk(p, c, fp, structs)
            reuse[c] = True
            if keep:
                leaves[c] = a
    except CheckpointError:
        if on_mismatch != "restart":
            raise
        restart()
        reuse, leaves = [False] * n_chunks, [None] * n_chunks
    if not all(reuse):
        if not writable:
            raise ValueError(
                f"checkpoint_dir {str(ckpt)!r} is not writable and {reuse.count(False)} of "
                f"{n_chunks} chunks are missing there; choose a writable directory"
            )
        io.ensure_writable_dir(ckpt, "checkpoint_dir")
        for n in stale:  # left by a write that was killed; never read
            try:
                (ckpt / n).unlink()
            except FileNotFoundError:
                pass
        if not manifest.exists():
            io.atomic_write_json(manifest, {"format": _FORMAT, "fingerprint": fp, "n_chunks": n_chunks})
    return reuse, leaves


# ---------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------


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
      chunk_size: seeds per chunk (default: all at once). Rounded up to a multiple of the device
        count; the last chunk is padded with repeated keys whose outputs are dropped.
      checkpoint_dir: if given, each finished chunk is saved atomically there (by process 0 only)
        and a rerun of the same sweep computes only the missing chunks. A chunk is reused only when
        its recorded fingerprint (keys, ``xs``, chunking, output structure, ``fn``'s jaxpr and
        constants, ``tag``) equals this sweep's; otherwise :class:`CheckpointError` (a
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

    def one(kd, x):
        return _one_seed(kd, x, fn, impl)

    single = lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype)
    x1 = None if xs is None else jax.tree_util.tree_map(single, xs)
    closed, out1 = jax.make_jaxpr(one, return_shape=True)(single(key_data), x1)
    if batched_lapack_deadlocks(devices) and _uses_lapack(closed.jaxpr):
        # jaxlib < 0.12 deadlocks when batched LAPACK kernels run on several host devices at once
        # (fpjax._src.devices): one device per process; the LAPACK kernel spreads the batch itself.
        firsts: dict[int, Any] = {}
        for d in devices:
            firsts.setdefault(d.process_index, d)
        devices = list(firsts.values())
    n_dev = len(devices)
    chunk_size = n if chunk_size is None else checks.check_positive_int(chunk_size, "chunk_size")
    chunk_size = -(-chunk_size // n_dev) * n_dev
    n_chunks = -(-n // chunk_size)
    mesh = Mesh(np.array(devices), ("seeds",))
    sharding = NamedSharding(mesh, P("seeds"))
    n_proc, pid = jax.process_count(), jax.process_index()
    main = pid == 0

    # One module-level jitted program keyed on (fn, key impl): a second sweep of the same function
    # reuses the compiled chunk instead of tracing and compiling it again (compilation, not the
    # steps, was most of the first-call cost of a sweep).
    compiled = functools.partial(_vmapped_chunk, fn=fn, impl=impl)
    out_leaves1, treedef = jax.tree_util.tree_flatten(out1)
    structs = [jax.ShapeDtypeStruct((chunk_size,) + tuple(s.shape), s.dtype) for s in out_leaves1]

    # Rows of every chunk whose shards live on this process's devices (sorted).
    idx_map = sharding.addressable_devices_indices_map((chunk_size,))
    local_rows = np.unique(np.concatenate([np.arange(chunk_size)[ix[0]] for ix in idx_map.values()]))
    keep_rows = (
        np.arange(chunk_size)
        if gather == "all" or n_proc == 1
        else local_rows
        if gather == "none"
        else np.arange(chunk_size)
        if main
        else np.zeros(0, int)
    )

    ckpt = None
    reuse = [False] * n_chunks
    loaded_leaves: list = [None] * n_chunks
    if checkpoint_dir is not None:
        if not isinstance(checkpoint_dir, (str, os.PathLike)):
            raise TypeError(f"checkpoint_dir must be a path; got {type(checkpoint_dir).__name__}")
        ckpt = Path(checkpoint_dir)
        xs_h = hashlib.sha256(str(jax.tree_util.tree_structure(xs)).encode())
        _hash_arrays(xs_h, jax.tree_util.tree_leaves(xs))
        keys_h = hashlib.sha256(f"{impl}|{key_data.dtype.str}{key_data.shape}".encode())
        keys_h.update(np.ascontiguousarray(key_data).tobytes())
        fp = {
            "keys": keys_h.hexdigest()[:24],
            "xs": xs_h.hexdigest()[:24],
            "chunking": f"n_seeds={n}, chunk_size={chunk_size}, n_chunks={n_chunks}",
            "outputs": _describe_struct(out1),
            "fn": _fn_fingerprint(closed),
            "tag": tag,
        }
        error = None
        if main:
            try:
                reuse, loaded_leaves = _prepare(ckpt, fp, n_chunks, structs, on_mismatch, keep=True)
            except ValueError as err:
                if n_proc == 1:
                    raise
                error = str(err)
        if n_proc > 1:
            reuse = _broadcast_status(reuse, error, n_chunks)
            # Every process that must hold reused chunks reads them itself: the files must be visible.
            from jax.experimental import multihost_utils

            needs = len(keep_rows) > 0 and not main
            seen = all((ckpt / _chunk_name(c)).is_file() for c in range(n_chunks) if reuse[c]) if needs else True
            flags = np.asarray(multihost_utils.process_allgather(np.array([int(seen)], np.int32)))
            if not flags.all():
                raise ValueError(
                    f"checkpoint_dir {str(ckpt)!r}: processes {np.flatnonzero(flags == 0).tolist()} "
                    "cannot see the chunk files process 0 wrote; with several processes "
                    "checkpoint_dir must be on a file system they all share"
                )

    def chunk_inputs(c):
        idx = np.arange(c * chunk_size, (c + 1) * chunk_size) % n  # pad by wrapping around
        return key_data[idx], (None if xs is None else jax.tree_util.tree_map(lambda a: a[idx], xs))

    def shard(a):
        return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])

    def local_part(x) -> np.ndarray:
        shards = sorted(x.addressable_shards, key=lambda s: s.index[0].start or 0)
        seen, parts = set(), []
        for s in shards:
            start = s.index[0].start or 0
            if start not in seen:  # (a replicated mesh axis would repeat shards)
                seen.add(start)
                parts.append(np.asarray(s.data))
        return np.concatenate(parts, axis=0)

    need_full = gather != "none" or n_proc == 1 or ckpt is not None
    chunks, rows, computed, loaded = [], [], 0, 0
    it = range(n_chunks)
    if progress and main:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="sweep", unit="chunk")
    for c in it:
        if reuse[c]:
            loaded += 1
            if len(keep_rows) == 0:
                leaves = [np.zeros((0,) + tuple(s.shape[1:]), s.dtype) for s in structs]
            else:
                full = (
                    loaded_leaves[c]
                    if loaded_leaves[c] is not None
                    else _read_chunk(ckpt / _chunk_name(c), c, fp, structs)
                )
                leaves = [a[keep_rows] for a in full]
        else:
            kd, xc = chunk_inputs(c)
            out = compiled(shard(kd), None if xc is None else jax.tree_util.tree_map(shard, xc))
            out_leaves = jax.tree_util.tree_leaves(out)
            if need_full:
                full = [_to_host(leaf) for leaf in out_leaves]
                if ckpt is not None and main:
                    _write_chunk(ckpt / _chunk_name(c), c, fp, full)
                leaves = [a[keep_rows] for a in full]
            else:  # gather="none" without checkpoints: never assemble a chunk on one host
                leaves = [local_part(leaf) for leaf in out_leaves]
            computed += 1
        chunks.append(leaves)
        rows.append(c * chunk_size + keep_rows)
    seed_index = np.concatenate(rows) if rows else np.zeros(0, int)
    valid = seed_index < n  # drop the padding
    seed_index = seed_index[valid]
    stacked = [np.concatenate([ch[i] for ch in chunks], axis=0)[valid] for i in range(treedef.num_leaves)]
    outputs = jax.tree_util.tree_unflatten(treedef, stacked)
    div = diverged_mask(outputs)
    if div.size != seed_index.size:  # no array leaves
        div = np.zeros(seed_index.shape[0], bool)
    if div.any() and (main or gather == "none"):
        warnings.warn(
            f"sweep: {int(div.sum())} of {n} seeds diverged (NaN/Inf) and are excluded from "
            f"SweepResult.mean: seed indices {seed_index[div].tolist()}",
            RuntimeWarning,
            stacklevel=2,
        )
    return SweepResult(outputs, div, seed_index.astype(np.int64), n, computed, loaded, n_dev, n_proc)


def _to_host(x) -> np.ndarray:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
