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
    assert c.chunks_computed == 3
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
    mean = res.mean()
    np.testing.assert_allclose(mean["final_loss"], np.mean(res.outputs["final_loss"][[0, 1, 3]]), rtol=1e-6)
    assert np.isfinite(mean["final_loss"])


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
    return subprocess.run([sys.executable, "-c", SCRIPT, *map(str, args)], env=e, cwd=ROOT,
                          capture_output=True, text=True, **kw)


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
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(ckpt), str(tmp_path / "x.npz"), str(steps), str(chunk)],
                            cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not (ckpt / "chunk_00000.npz").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "first chunk never written"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sorted(p.name for p in ckpt.glob("chunk_*.npz"))
    assert 1 <= len(done_before) < 4, done_before
    assert not list(ckpt.glob(".*.tmp")) or True  # a torn temp file may remain; it is never read
    mtimes = {n: (ckpt / n).stat().st_mtime_ns for n in done_before}
    res = _run([ckpt, tmp_path / "resumed.npz", steps, chunk])
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["loaded"] == len(done_before) and info["computed"] == 4 - len(done_before)
    assert {n: (ckpt / n).stat().st_mtime_ns for n in done_before} == mtimes  # not recomputed
    a, b = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "resumed.npz")
    np.testing.assert_array_equal(a["pred"], b["pred"])
    np.testing.assert_array_equal(a["loss"], b["loss"])
