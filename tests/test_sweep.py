import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fpjax.models import mlp
from fpjax.train import fit, sweep

X = jnp.linspace(-1.0, 1.0, 24)[:, None]
Y = jnp.sin(3.0 * X)
MODEL = mlp((32, 32, 1), "tanh")
ROOT = Path(__file__).resolve().parents[1]


def run_one(key):
    r = fit(MODEL.apply, MODEL.init(key, X), X, Y, optimizer=optax.sgd(0.05), steps=50)
    return {"loss": r.losses, "pred": MODEL.apply(r.params, X)[:, 0], "diverged": r.diverged}


def test_sweep_equals_separate_fits_and_is_bitwise_repeatable():
    keys = jax.random.split(jax.random.key(0), 8)
    a = sweep(run_one, keys)
    assert a.n_seeds == 8 and a.n_diverged == 0
    for i in range(8):
        single = run_one(keys[i])
        np.testing.assert_allclose(a.outputs["loss"][i], single["loss"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(a.outputs["pred"][i], single["pred"], rtol=1e-4, atol=1e-6)
    b = sweep(run_one, keys)
    for k in ("loss", "pred"):
        np.testing.assert_array_equal(a.outputs[k], b.outputs[k])
    # Chunking with padding (3 chunks of 3 for 8 seeds) computes the same seeds.
    c = sweep(run_one, keys, chunk_size=3)
    per_chunk = -(-3 // c.n_devices) * c.n_devices  # rounded up to a multiple of the device count
    assert c.chunks_computed == -(-8 // per_chunk)
    np.testing.assert_allclose(c.outputs["pred"], a.outputs["pred"], rtol=1e-5, atol=1e-7)


def test_raw_uint32_keys_work():
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    res = sweep(lambda k: jax.random.normal(k, (3,)), keys)
    np.testing.assert_array_equal(res.outputs[2], jax.random.normal(keys[2], (3,)))


def test_diverged_seed_is_reported_and_others_untouched():
    keys = jax.random.split(jax.random.key(0), 4)
    lrs = np.array([0.05, 0.05, 1e4, 0.05], np.float32)

    def fn(key, lr):
        r = fit(MODEL.apply, MODEL.init(key, X), X, Y, optimizer=optax.sgd(lr), steps=30)
        return {"final_loss": r.losses[-1], "pred": MODEL.apply(r.params, X)[:, 0], "diverged": r.diverged}

    with pytest.warns(RuntimeWarning, match=r"1 of 4 seeds diverged.*\[2\]"):
        res = sweep(fn, keys, lrs)
    np.testing.assert_array_equal(res.diverged, [False, False, True, False])
    # The other seeds are untouched: bitwise equal to a sweep in which no seed diverges.
    healthy = sweep(fn, keys, np.full(4, 0.05, np.float32))
    assert healthy.n_diverged == 0
    for i in (0, 1, 3):
        np.testing.assert_array_equal(res.outputs["pred"][i], healthy.outputs["pred"][i])
        np.testing.assert_array_equal(res.outputs["final_loss"][i], healthy.outputs["final_loss"][i])
    stats = res.mean()
    assert stats.n == 3
    np.testing.assert_allclose(stats.mean["final_loss"], np.mean(res.outputs["final_loss"][[0, 1, 3]]), rtol=1e-6)
    np.testing.assert_allclose(stats.std["final_loss"], np.std(res.outputs["final_loss"][[0, 1, 3]], ddof=1), rtol=1e-5)
    assert np.isfinite(stats.mean["final_loss"])


def test_sweep_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="keys"):
        sweep(run_one, np.arange(4))
    with pytest.raises(ValueError, match="at least one"):
        sweep(run_one, jax.random.split(jax.random.key(0), 0))
    with pytest.raises(ValueError, match="leading axis"):
        sweep(lambda k, a: a, jax.random.split(jax.random.key(0), 4), np.ones(3))
    with pytest.raises(TypeError, match="fn"):
        sweep(3, jax.random.split(jax.random.key(0), 4))
    keys = jax.random.split(jax.random.key(0), 4)
    sweep(lambda k: jax.random.normal(k, (2,)), keys, checkpoint_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="different sweep"):
        sweep(lambda k: jax.random.normal(k, (2,)), keys[:3], checkpoint_dir=tmp_path / "c")


SCRIPT = textwrap.dedent("""
    import sys, json, time
    import jax, jax.numpy as jnp, numpy as np, optax
    from fpjax.models import mlp
    from fpjax.train import fit, sweep
    X = jnp.linspace(-1.0, 1.0, 24)[:, None]; Y = jnp.sin(3.0 * X)
    M = mlp((32, 32, 1), "tanh")
    steps = int(sys.argv[3])
    def fn(key):
        r = fit(M.apply, M.init(key, X), X, Y, optimizer=optax.sgd(0.05), steps=steps)
        return {"pred": M.apply(r.params, X)[:, 0], "loss": r.losses[-1]}
    keys = jax.random.split(jax.random.key(0), 8)
    ckpt = None if sys.argv[1] == "-" else sys.argv[1]
    res = sweep(fn, keys, chunk_size=int(sys.argv[4]), checkpoint_dir=ckpt)
    np.savez(sys.argv[2], pred=res.outputs["pred"], loss=res.outputs["loss"])
    print(json.dumps({"computed": res.chunks_computed, "loaded": res.chunks_loaded,
                      "n_devices": res.n_devices, "devices": len(jax.devices())}))
""")


def _run(args, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *map(str, args)], env=e, cwd=ROOT, capture_output=True, text=True, **kw
    )


@pytest.mark.slow
def test_sweep_shards_over_four_host_devices(tmp_path):
    one = _run(["-", tmp_path / "one.npz", 50, 8], env={"XLA_FLAGS": "--xla_force_host_platform_device_count=1"})
    four = _run(["-", tmp_path / "four.npz", 50, 8], env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert one.returncode == 0, one.stderr
    assert four.returncode == 0, four.stderr
    info = json.loads(four.stdout.strip().splitlines()[-1])
    assert info["n_devices"] == 4 and info["devices"] == 4
    a, b = np.load(tmp_path / "one.npz"), np.load(tmp_path / "four.npz")
    np.testing.assert_allclose(a["pred"], b["pred"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5, atol=1e-8)


@pytest.mark.slow
def test_sweep_survives_sigkill_and_resumes(tmp_path):
    ckpt = tmp_path / "ckpt"
    steps, chunk = 3000, 2  # 4 chunks; each takes long enough for the kill to land mid-sweep
    ref = _run(["-", tmp_path / "ref.npz", steps, chunk])
    assert ref.returncode == 0, ref.stderr
    e = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(ckpt), str(tmp_path / "x.npz"), str(steps), str(chunk)],
        cwd=ROOT,
        env=e,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 240
    while not (ckpt / "chunk_00000.npz").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "first chunk never written"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sorted(p.name for p in ckpt.glob("chunk_*.npz"))
    assert 1 <= len(done_before) < 4, done_before
    (ckpt / ".chunk_00003.npz.killed.tmp").write_bytes(b"torn")  # as a write killed mid-way leaves
    mtimes = {n: (ckpt / n).stat().st_mtime_ns for n in done_before}
    res = _run([ckpt, tmp_path / "resumed.npz", steps, chunk])
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["loaded"] == len(done_before) and info["computed"] == 4 - len(done_before)
    assert {n: (ckpt / n).stat().st_mtime_ns for n in done_before} == mtimes  # not recomputed
    assert not list(ckpt.glob(".*.tmp"))  # stale temp files removed on resume
    a, b = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "resumed.npz")
    np.testing.assert_array_equal(a["pred"], b["pred"])
    np.testing.assert_array_equal(a["loss"], b["loss"])


# --------------------------------------------------------------------------------------------
# checkpoints that prove they belong (cheap functions: one jax.random call per seed)
# --------------------------------------------------------------------------------------------


def _noise(scale=1.0, size=3):
    return lambda k: scale * jax.random.normal(k, (size,))


KEYS8 = jax.random.split(jax.random.key(0), 8)


def sweep1(*args, **kw):
    """sweep on one device, so that chunk counts do not depend on the machine's device count."""
    return sweep(*args, devices=jax.devices()[:1], **kw)


def test_checkpoint_resume_reads_back_exactly(tmp_path):
    d = tmp_path / "c"
    a = sweep1(_noise(), KEYS8, chunk_size=2, checkpoint_dir=d, tag="t")
    assert (a.chunks_computed, a.chunks_loaded) == (4, 0)
    b = sweep1(_noise(), KEYS8, chunk_size=2, checkpoint_dir=d, tag="t")
    assert (b.chunks_computed, b.chunks_loaded) == (0, 4)
    np.testing.assert_array_equal(a.outputs, b.outputs)
    np.testing.assert_array_equal(b.seed_index, np.arange(8))
    # a chunk deleted: only that one is recomputed
    (d / "chunk_00002.npz").unlink()
    c = sweep1(_noise(), KEYS8, chunk_size=2, checkpoint_dir=d, tag="t")
    assert (c.chunks_computed, c.chunks_loaded) == (1, 3)
    np.testing.assert_array_equal(a.outputs, c.outputs)


def test_checkpoint_refuses_foreign_chunks(tmp_path):
    import shutil

    from fpjax._src.sweep import CheckpointError

    mine, other = tmp_path / "mine", tmp_path / "other"
    sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=mine)
    sweep1(_noise(), jax.random.split(jax.random.key(1), 8), chunk_size=4, checkpoint_dir=other)
    # (1) a chunk copied in from another sweep's directory
    shutil.copy(other / "chunk_00001.npz", mine / "chunk_00001.npz")
    with pytest.raises(CheckpointError, match=r"chunk_00001\.npz belongs to a different sweep: the keys differ"):
        sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=mine)
    # (2) sweep.json deleted and the sweep rerun with other keys
    (other / "sweep.json").unlink()
    with pytest.raises(CheckpointError, match=r"chunk_00000\.npz belongs to a different sweep: the keys"):
        sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=other)
    # (3) a chunk renamed to another index of the same sweep
    d = tmp_path / "renamed"
    sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=d)
    (d / "chunk_00000.npz").unlink()
    (d / "chunk_00001.npz").rename(d / "chunk_00000.npz")
    with pytest.raises(CheckpointError, match=r"chunk_00000\.npz holds chunk 1, not chunk 0"):
        sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=d)


def test_checkpoint_detects_changed_fn_with_same_tag(tmp_path):
    from fpjax._src.sweep import CheckpointError

    d = tmp_path / "c"
    sweep1(_noise(1.0, 3), KEYS8, checkpoint_dir=d, tag="cfg")
    (d / "sweep.json").unlink()  # the chunk alone must prove it belongs
    with pytest.raises(CheckpointError, match=r"chunk_00000\.npz.*the output structure .*float32\[3\].*float32\[5\]"):
        sweep1(_noise(1.0, 5), KEYS8, checkpoint_dir=d, tag="cfg")
    with pytest.raises(CheckpointError, match=r"chunk_00000\.npz.*fn \(its jaxpr or constants\) differs"):
        sweep1(_noise(2.0, 3), KEYS8, checkpoint_dir=d, tag="cfg")
    with pytest.raises(CheckpointError, match=r"tag \('cfg' there, 'other' now\)"):
        sweep1(_noise(1.0, 3), KEYS8, checkpoint_dir=d, tag="other")
    with pytest.raises(CheckpointError, match=r"different sweep: xs, fn"):
        sweep1(lambda k, s: s * jax.random.normal(k, (3,)), KEYS8, np.ones(8, np.float32), checkpoint_dir=d, tag="cfg")
    with pytest.raises(CheckpointError, match=r"the chunking"):
        sweep1(_noise(1.0, 3), KEYS8, chunk_size=4, checkpoint_dir=d, tag="cfg")
    # a closed-over array is a constant of the jaxpr: changing its values changes the fingerprint
    w = np.ones(3, np.float32)
    e = tmp_path / "e"
    sweep1(lambda k: w * jax.random.normal(k, (3,)), KEYS8, checkpoint_dir=e)
    w2 = w.copy()
    w2[1] = 2.0
    with pytest.raises(CheckpointError, match="fn"):
        sweep1(lambda k: w2 * jax.random.normal(k, (3,)), KEYS8, checkpoint_dir=e)
    # the explicit option starts afresh, never mixing old chunks in
    r = sweep1(_noise(2.0, 3), KEYS8, checkpoint_dir=d, tag="cfg", on_mismatch="restart")
    assert (r.chunks_computed, r.chunks_loaded) == (1, 0)
    np.testing.assert_array_equal(r.outputs, sweep1(_noise(2.0, 3), KEYS8).outputs)
    again = sweep1(_noise(2.0, 3), KEYS8, checkpoint_dir=d, tag="cfg")
    assert again.chunks_loaded == 1


def test_checkpoint_corrupt_files_are_named_and_temp_files_removed(tmp_path):
    from fpjax._src.sweep import CheckpointError

    d = tmp_path / "c"
    sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=d)
    p = d / "chunk_00001.npz"
    good = p.read_bytes()
    p.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(CheckpointError, match=r"chunk_00001\.npz is corrupt or truncated"):
        sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=d)
    bad = bytearray(good)
    i = good.index(b"leaf_0.npy") + 200  # inside the stored array data: CRC error on read
    bad[i] ^= 0xFF
    p.write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match=r"chunk_00001\.npz is corrupt"):
        sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=d)
    (d / "sweep.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"sweep\.json is corrupt"):
        sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=d)
    # a temp file left by a killed write is removed on resume; a missing chunk is recomputed
    (d / "sweep.json").unlink()
    p.unlink()
    (d / ".chunk_00001.npz.abc123.tmp").write_bytes(b"torn")
    r = sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=d)
    assert (r.chunks_computed, r.chunks_loaded) == (1, 1)
    assert not list(d.glob(".*.tmp")) and (d / "sweep.json").exists()


def test_finished_sweep_in_read_only_directory_can_be_read(tmp_path, monkeypatch):
    import fpjax._src.sweep as sw

    d = tmp_path / "c"
    a = sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=d)
    real_access = os.access
    monkeypatch.setattr(sw.os, "access", lambda p, mode, *a, **k: False if Path(p) == d else real_access(p, mode))
    os.chmod(d, 0o555)
    try:
        before = sorted((q.name, q.stat().st_mtime_ns) for q in d.iterdir())
        b = sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=d)
        assert (b.chunks_computed, b.chunks_loaded) == (0, 2)
        np.testing.assert_array_equal(a.outputs, b.outputs)
        assert sorted((q.name, q.stat().st_mtime_ns) for q in d.iterdir()) == before
        with pytest.raises(ValueError, match="not writable; cannot restart there"):
            sweep1(_noise(), KEYS8, chunk_size=2, checkpoint_dir=d, on_mismatch="restart")
        os.chmod(d, 0o755)
        (d / "chunk_00001.npz").unlink()
        with pytest.raises(ValueError, match="not writable and 1 of 2 chunks are missing"):
            sweep1(_noise(), KEYS8, chunk_size=4, checkpoint_dir=d)
    finally:
        os.chmod(d, 0o755)


def test_sweep_result_is_a_frozen_result_type():
    import dataclasses

    from fpjax._src.sweep import SeedStats

    r = sweep(_noise(), KEYS8[:4])
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.n_seeds = 3
    s = r.mean()
    assert isinstance(s, SeedStats) and s.n == 4
    np.testing.assert_allclose(s.mean, r.outputs.mean(0), rtol=1e-6)
    np.testing.assert_allclose(s.std, r.outputs.std(0, ddof=1), rtol=1e-5)
    assert r.complete and r.n_processes == 1
    # one process: gather="none" keeps everything
    np.testing.assert_array_equal(sweep(_noise(), KEYS8[:4], gather="none").outputs, r.outputs)
    with pytest.raises(ValueError, match="gather"):
        sweep(_noise(), KEYS8, gather="some")
    with pytest.raises(ValueError, match="on_mismatch"):
        sweep(_noise(), KEYS8, on_mismatch="ignore")


def test_chunk_size_above_the_number_of_keys_is_all_at_once():
    # (a chunk is never padded beyond the keys there are: 10**12 would otherwise be allocated)
    keys = KEYS8[:3]
    res = sweep1(_noise(), keys, chunk_size=10**12)
    assert res.chunks_computed == 1
    np.testing.assert_array_equal(res.outputs, sweep1(_noise(), keys).outputs)
