"""Seed sweeps: ``vmap`` over PRNG keys, sharded over every device, chunked and resumable.

``sweep(fn, keys)`` evaluates ``fn(key)`` for every key. Keys are processed in chunks; each chunk is
one jitted ``vmap(fn)`` whose key axis is sharded over a 1-D device mesh (``jax.sharding``), so
the same code runs on one CPU, 8 GPUs or, after ``jax.distributed.initialize()``, a multi-host pod.
With ``checkpoint_dir`` each finished chunk is written atomically (``chunk_XXXXX.npz``); a rerun
after a crash loads those and computes only the missing chunks. Seeds whose outputs contain NaN/Inf
are reported as diverged and excluded by :meth:`SweepResult.mean`/``std``.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from fpjax._src import checks, io

__all__ = ["sweep", "SweepResult", "diverged_mask"]

_MANIFEST = "sweep.json"


def diverged_mask(outputs: Any) -> np.ndarray:
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
            bad |= a.reshape(n, -1).any(axis=1)
        elif np.issubdtype(a.dtype, np.inexact):
            bad |= ~np.isfinite(a.reshape(n, -1)).all(axis=1)
    return bad if bad is not None else np.zeros(0, bool)


class SweepResult:
    """Outputs of :func:`sweep`.

    Attributes:
      outputs: ``fn``'s pytree with a leading seed axis of length ``n_seeds`` (numpy arrays; diverged
        seeds keep their raw values so they can be inspected).
      diverged: ``bool[n_seeds]`` from :func:`diverged_mask`.
      chunks_computed / chunks_loaded: how many chunks ran now vs were read back from checkpoints.
    """

    def __init__(self, outputs, diverged, chunks_computed, chunks_loaded, n_devices):
        self.outputs = outputs
        self.diverged = diverged
        self.chunks_computed = chunks_computed
        self.chunks_loaded = chunks_loaded
        self.n_devices = n_devices

    @property
    def n_seeds(self) -> int:
        return int(self.diverged.shape[0])

    @property
    def n_diverged(self) -> int:
        return int(self.diverged.sum())

    @property
    def ok(self) -> np.ndarray:
        """Indices of the seeds that did not diverge."""
        return np.flatnonzero(~self.diverged)

    def finite_outputs(self):
        """``outputs`` restricted to non-diverged seeds."""
        return jax.tree_util.tree_map(lambda a: a[~self.diverged], self.outputs)

    def mean(self):
        """Mean over non-diverged seeds (raises if every seed diverged)."""
        if self.n_diverged == self.n_seeds:
            raise ValueError("every seed diverged; there is nothing to average")
        return jax.tree_util.tree_map(lambda a: np.mean(a, axis=0), self.finite_outputs())

    def std(self):
        """Standard deviation (ddof=1) over non-diverged seeds."""
        return jax.tree_util.tree_map(lambda a: np.std(a, axis=0, ddof=1), self.finite_outputs())

    def __repr__(self):
        return (f"SweepResult(n_seeds={self.n_seeds}, n_diverged={self.n_diverged}, "
                f"chunks_computed={self.chunks_computed}, chunks_loaded={self.chunks_loaded}, "
                f"n_devices={self.n_devices})")


def _key_data(keys) -> tuple[np.ndarray, bool]:
    """Raw ``uint32`` key data ``(n, ...)`` and whether the keys were typed (``jax.random.key``)."""
    if isinstance(keys, (jax.Array, np.ndarray)) and jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        if keys.ndim != 1:
            raise ValueError(f"keys must be a 1-D array of typed keys (n,); got shape {keys.shape}")
        return np.asarray(jax.random.key_data(keys)), True
    arr = np.asarray(keys) if isinstance(keys, (jax.Array, np.ndarray)) else None
    if arr is None or arr.dtype != np.uint32 or arr.ndim != 2:
        raise TypeError("keys must be jax.random.split(key, n) output: typed keys of shape (n,) or raw "
                        f"uint32 keys of shape (n, 2); got {type(keys).__name__}"
                        f"{'' if arr is None else f' with dtype {arr.dtype} and shape {arr.shape}'}")
    return arr, False


def _fingerprint(key_data: np.ndarray, chunk_size: int, tag: str) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(key_data).tobytes())
    h.update(f"{chunk_size}|{tag}".encode())
    return h.hexdigest()[:32]


def sweep(fn: Callable[..., Any], keys: Any, xs: Any = None, *, chunk_size: int | None = None,
          checkpoint_dir: str | os.PathLike | None = None, tag: str = "", devices=None,
          progress: bool = False) -> SweepResult:
    """Evaluate ``fn(key)`` for every key: ``vmap`` + sharding over devices + resumable chunks.

    Args:
      fn: ``fn(key) -> pytree of arrays`` (e.g. a closure calling :func:`fpjax.train.fit`). It must be
        traceable by ``jax.jit``/``jax.vmap``.
      keys: ``jax.random.split(key, n)``: typed keys ``(n,)`` or raw ``uint32`` keys ``(n, 2)``.
      xs: optional pytree of per-seed inputs, each leaf with leading axis ``n`` (e.g. learning rates or
        init scales); then ``fn(key, x_i)`` is called. Part of the checkpoint fingerprint.
      chunk_size: seeds per chunk (default: all at once). Rounded up to a multiple of the device
        count; the last chunk is padded with repeated keys whose outputs are dropped.
      checkpoint_dir: if given, each finished chunk is saved atomically there and a rerun with the
        same keys, chunk size and ``tag`` resumes from it. A directory holding a different sweep is
        refused (``ValueError``) rather than mixed in.
      tag: free text identifying the computation (e.g. the config); part of the checkpoint
        fingerprint, so changing it invalidates old chunks.
      devices: devices to shard over (default ``jax.devices()``, all hosts).
      progress: show a tqdm progress bar over chunks.

    Returns:
      :class:`SweepResult`. A warning names the diverged seeds, if any.

    Determinism: the same keys, chunking and devices give bitwise-identical outputs.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable fn(key) -> pytree; got {type(fn).__name__}")
    key_data, typed = _key_data(keys)
    n = key_data.shape[0]
    if n == 0:
        raise ValueError("keys must hold at least one key; got 0")
    if xs is not None:
        xs = jax.tree_util.tree_map(np.asarray, xs)
        for path, leaf in jax.tree_util.tree_leaves_with_path(xs):
            if leaf.ndim == 0 or leaf.shape[0] != n:
                raise ValueError(f"xs{jax.tree_util.keystr(path)} must have leading axis n_seeds={n}; "
                                 f"got shape {leaf.shape}")
    devices = list(jax.devices() if devices is None else devices)
    n_dev = len(devices)
    chunk_size = n if chunk_size is None else checks.check_positive_int(chunk_size, "chunk_size")
    chunk_size = -(-chunk_size // n_dev) * n_dev
    n_chunks = -(-n // chunk_size)
    mesh = Mesh(np.array(devices), ("seeds",))
    sharding = NamedSharding(mesh, P("seeds"))

    def body(kd, xs_chunk):
        k = jax.random.wrap_key_data(kd) if typed else kd
        if xs_chunk is None:
            return jax.vmap(fn)(k)
        return jax.vmap(fn)(k, xs_chunk)

    compiled = jax.jit(body)

    ckpt = None
    if checkpoint_dir is not None:
        ckpt = io.ensure_writable_dir(checkpoint_dir, "checkpoint_dir")
        xs_bytes = b"".join(np.ascontiguousarray(a).tobytes() for a in jax.tree_util.tree_leaves(xs))
        fp = _fingerprint(key_data, chunk_size, tag + hashlib.sha256(xs_bytes).hexdigest())
        manifest = ckpt / _MANIFEST
        if manifest.exists():
            old = json.loads(manifest.read_text())
            if old.get("fingerprint") != fp:
                raise ValueError(f"checkpoint_dir {str(ckpt)!r} holds a different sweep (other keys, chunk size or "
                                 "tag); use a new directory or delete it")
        else:
            io.atomic_write_json(manifest, {"fingerprint": fp, "n_seeds": n, "chunk_size": chunk_size,
                                            "n_chunks": n_chunks, "tag": tag})

    def chunk_inputs(c):
        idx = np.arange(c * chunk_size, (c + 1) * chunk_size) % n  # pad by wrapping around
        return key_data[idx], (None if xs is None else jax.tree_util.tree_map(lambda a: a[idx], xs))

    def shard(a):
        return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])

    struct = lambda a: jax.ShapeDtypeStruct((chunk_size,) + a.shape[1:], a.dtype)
    out_struct = jax.eval_shape(body, struct(key_data),
                                None if xs is None else jax.tree_util.tree_map(struct, xs))
    treedef = jax.tree_util.tree_structure(out_struct)

    chunks, computed, loaded = [], 0, 0
    it = range(n_chunks)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="sweep", unit="chunk")
    for c in it:
        path = ckpt / f"chunk_{c:05d}.npz" if ckpt else None
        if path is not None and path.exists():
            with np.load(path) as z:
                leaves = [z[f"leaf_{i}"] for i in range(treedef.num_leaves)]
            loaded += 1
        else:
            kd, xc = chunk_inputs(c)
            out = compiled(shard(kd), None if xc is None else jax.tree_util.tree_map(shard, xc))
            leaves = [_to_host(leaf) for leaf in jax.tree_util.tree_leaves(out)]
            if path is not None:
                io.atomic_save_npz(path, **{f"leaf_{i}": a for i, a in enumerate(leaves)})
            computed += 1
        chunks.append(leaves)
    stacked = [np.concatenate([ch[i] for ch in chunks], axis=0)[:n] for i in range(treedef.num_leaves)]
    outputs = jax.tree_util.tree_unflatten(treedef, stacked)
    div = diverged_mask(outputs)
    if div.any():
        warnings.warn(f"sweep: {int(div.sum())} of {n} seeds diverged (NaN/Inf) and are excluded from "
                      f"SweepResult.mean/std: seed indices {np.flatnonzero(div).tolist()}", RuntimeWarning,
                      stacklevel=2)
    return SweepResult(outputs, div, computed, loaded, n_dev)


def _to_host(x) -> np.ndarray:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
