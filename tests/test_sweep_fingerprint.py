"""Checkpoint fingerprints see every constant ``fn`` computes with, and malformed checkpoint records
are a CheckpointError.

Each case below changed one number that ``fn`` computes with, in a place the jaxpr text does not
show (a constant of a nested jitted function, of a custom-derivative rule, of a loop or branch body),
and reran the sweep into the same directory: the old numbers must never come back. Each is refused,
and ``on_mismatch="restart"`` recomputes it.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fpjax._src.sweep import CheckpointError
from fpjax.train import sweep

KEYS = jax.random.split(jax.random.key(0), 4)


def sweep1(fn, checkpoint_dir=None, **kw):
    """One device and two chunks, so that chunk counts do not depend on the machine."""
    return sweep(fn, KEYS, chunk_size=2, devices=jax.devices()[:1], checkpoint_dir=checkpoint_dir, **kw)


def _normal(k):
    return jax.random.normal(k, (4,))


def _jit_numpy_constant(c):
    inner = jax.jit(lambda k: _normal(k) * c)
    return lambda k: inner(k)


def _jit_apply_closing_over_weights(c):
    w = jnp.asarray(c.reshape(2, 2))
    apply = jax.jit(lambda x: jnp.tanh(x @ w))
    return lambda k: apply(jax.random.normal(k, (3, 2)))


def _three_jits_deep(c):
    a = jax.jit(lambda k: _normal(k) * c)
    b = jax.jit(lambda k: a(k) + 1.0)
    top = jax.jit(lambda k: b(k) * 2.0)
    return lambda k: top(k)


def _custom_jvp(c):
    @jax.custom_jvp
    def f(x):
        return x * c

    f.defjvp(lambda primals, tangents: (f(primals[0]), tangents[0] * c))
    inner = jax.jit(f)
    return lambda k: inner(_normal(k))


def _custom_vjp(c):
    @jax.custom_vjp
    def f(x):
        return x * c

    f.defvjp(lambda x: (x * c, None), lambda _, g: (g * c,))
    inner = jax.jit(f)
    return lambda k: inner(_normal(k))


def _grad_through_custom_vjp(c):
    @jax.custom_vjp
    def f(x):
        return jnp.sum(x)

    f.defvjp(lambda x: (jnp.sum(x), None), lambda _, g: (g * c,))  # only the backward rule uses c
    g = jax.jit(jax.grad(f))
    return lambda k: g(_normal(k))


def _scan_body(c):
    inner = jax.jit(lambda k: jax.lax.scan(lambda s, _: (s * c, None), _normal(k), None, length=3)[0])
    return lambda k: inner(k)


def _cond_branch(c):
    inner = jax.jit(lambda k: jax.lax.cond(True, lambda x: x * c, lambda x: x - 1.0, _normal(k)))
    return lambda k: inner(k)


def _while_body(c):
    def run(k):
        return jax.lax.while_loop(lambda s: s[0] < 3, lambda s: (s[0] + 1, s[1] * c), (0, _normal(k)))[1]

    inner = jax.jit(run)
    return lambda k: inner(k)


def _remat(c):
    inner = jax.jit(jax.checkpoint(lambda k: _normal(k) * c))
    return lambda k: inner(k)


def _vmap_inside(c):
    inner = jax.jit(jax.vmap(lambda x: x * c[0]))
    return lambda k: inner(_normal(k)) + c


CASES = {
    "jit_numpy_constant": _jit_numpy_constant,
    "jit_apply_closing_over_weights": _jit_apply_closing_over_weights,
    "three_jits_deep": _three_jits_deep,
    "custom_jvp": _custom_jvp,
    "custom_vjp": _custom_vjp,
    "grad_through_custom_vjp": _grad_through_custom_vjp,
    "scan_body": _scan_body,
    "cond_branch": _cond_branch,
    "while_body": _while_body,
    "remat": _remat,
    "vmap_inside": _vmap_inside,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_changed_nested_constant_is_refused_or_recomputed(tmp_path, case):
    make = CASES[case]
    c_old = np.ones(4, np.float32)
    c_new = c_old.copy()
    c_new[0] = 3.0
    old = sweep1(make(c_old), tmp_path)
    fresh = sweep1(make(c_new))  # no checkpoint: the numbers the changed fn computes
    assert not np.array_equal(old.outputs, fresh.outputs), "the change must matter for the test to mean anything"
    with pytest.raises(CheckpointError, match=r"fn \(its jaxpr or constants\) differs"):
        sweep1(make(c_new), tmp_path)
    redo = sweep1(make(c_new), tmp_path, on_mismatch="restart")
    assert (redo.chunks_computed, redo.chunks_loaded) == (2, 0)
    np.testing.assert_array_equal(redo.outputs, fresh.outputs)
    # the same function, rebuilt from equal values, is recognised: nothing is recomputed
    again = sweep1(make(c_new.copy()), tmp_path)
    assert (again.chunks_computed, again.chunks_loaded) == (0, 2)
    np.testing.assert_array_equal(again.outputs, fresh.outputs)


def test_host_callbacks_cannot_be_fingerprinted(tmp_path):
    scale = {"value": 1.0}

    def fn(k):
        x = _normal(k)
        return jax.pure_callback(lambda v: np.asarray(v * scale["value"], np.float32), x, x, vmap_method="sequential")

    with pytest.raises(CheckpointError, match="pure_callback.*invisible to the checkpoint fingerprint"):
        sweep1(fn, tmp_path)
    assert sweep1(fn).outputs.shape == (4, 4)  # without checkpoints nothing needs a fingerprint


# ---------------------------------------------------------------------------------------------
# malformed records
# ---------------------------------------------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000

BAD_RECORDS = {
    "deeply nested": DEEP,
    "deeply nested object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "not an object": b'"just text"',
    "a list": b"[1, 2, 3]",
    "format missing": b'{"fingerprint": {}}',
    "format a string": json.dumps({"format": "x" * 10_000, "fingerprint": {}}).encode(),
    "format a 5000-digit int": b'{"format": 1' + b"0" * 5000 + b"}",
    "fingerprint a list": b'{"format": 3, "fingerprint": []}',
    "fingerprint values not strings": b'{"format": 3, "fingerprint": {"keys": 1, "fn": [1]}}',
    "fingerprint deeply nested": b'{"format": 3, "fingerprint": {"keys": ' + DEEP + b"}}",
    "not utf-8": b"\xff\xfe\x00{",
    "empty": b"",
}


def _fn(k):
    return _normal(k) * 2.0


@pytest.mark.parametrize("name", sorted(BAD_RECORDS))
def test_malformed_manifest_is_a_checkpoint_error(tmp_path, name):
    good = sweep1(_fn, tmp_path)
    (tmp_path / "sweep.json").write_bytes(BAD_RECORDS[name])
    with pytest.raises(CheckpointError, match=r"sweep\.json (is corrupt|has fingerprint format)"):
        sweep1(_fn, tmp_path)
    redo = sweep1(_fn, tmp_path, on_mismatch="restart")
    assert redo.chunks_computed == 2
    np.testing.assert_array_equal(redo.outputs, good.outputs)


@pytest.mark.parametrize("name", sorted(BAD_RECORDS))
def test_malformed_chunk_record_is_a_checkpoint_error(tmp_path, name):
    good = sweep1(_fn, tmp_path)
    (tmp_path / "sweep.json").unlink()  # the chunk record alone is read
    p = tmp_path / "chunk_00001.npz"
    with np.load(p) as z:
        leaf = z["leaf_0"]
    np.savez(p, leaf_0=leaf, __sweep__=np.frombuffer(BAD_RECORDS[name], np.uint8))
    with pytest.raises(CheckpointError, match=r"chunk_00001\.npz (is corrupt|has fingerprint format)"):
        sweep1(_fn, tmp_path)
    redo = sweep1(_fn, tmp_path, on_mismatch="restart")
    assert redo.chunks_computed == 2
    np.testing.assert_array_equal(redo.outputs, good.outputs)


def test_manifest_that_is_a_folder_or_too_large(tmp_path):
    sweep1(_fn, tmp_path)
    (tmp_path / "sweep.json").unlink()
    (tmp_path / "sweep.json").mkdir()
    with pytest.raises(CheckpointError, match=r"sweep\.json cannot be read"):
        sweep1(_fn, tmp_path)
    with pytest.raises(ValueError, match=r"sweep\.json is a folder; remove it"):
        sweep1(_fn, tmp_path, on_mismatch="restart")
    (tmp_path / "sweep.json").rmdir()
    (tmp_path / "sweep.json").write_bytes(b" " * (2 << 20))
    with pytest.raises(CheckpointError, match=r"sweep\.json is larger than"):
        sweep1(_fn, tmp_path)
