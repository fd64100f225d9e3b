"""fpjax.distributed: detection, the local launcher, and sweeps over two real JAX processes."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from fpjax import distributed

ROOT = Path(__file__).resolve().parents[1]
_ENV_VARS = (
    "JAX_COORDINATOR_ADDRESS",
    "JAX_NUM_PROCESSES",
    "JAX_PROCESS_ID",
    "SLURM_JOB_ID",
    "SLURM_STEP_NODELIST",
    "SLURM_NTASKS",
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "TPU_WORKER_HOSTNAMES",
    "TPU_PROCESS_ADDRESSES",
)


@pytest.fixture
def clean_env(monkeypatch):
    for v in _ENV_VARS:
        monkeypatch.delenv(v, raising=False)
    return monkeypatch


@pytest.fixture
def fake_init(clean_env):
    """Record the arguments jax.distributed.initialize would get, without starting anything."""
    import jax

    import fpjax._src.distributed as d

    calls = []
    clean_env.setattr(jax.distributed, "initialize", lambda *a, **k: calls.append((a, k)))
    clean_env.setattr(d, "_use_gloo", lambda: calls.append("gloo"))
    clean_env.setattr(d, "_wait_for_coordinator", lambda address, timeout_s: calls.append(("wait", address)))
    clean_env.delenv("FPJAX_COORDINATOR_TIMEOUT", raising=False)
    return calls


def test_initialize_single_process_is_a_no_op(fake_init):
    info = distributed.initialize()
    assert info == distributed.ProcessInfo(0, 1, None, "single process")
    assert fake_init == []
    assert distributed.is_main_process()


def test_initialize_reads_arguments_environment_and_slurm(fake_init, clean_env):
    distributed.initialize("localhost:1234", num_processes=2, process_id=1)
    # JAX's own start-up limit comes 30 s after fpjax's (default 120 s), whose watchdog ends first
    limit = {"initialization_timeout": 150}
    assert fake_init[-1] == (("localhost:1234",), {"num_processes": 2, "process_id": 1, **limit})
    assert ("wait", "localhost:1234") in fake_init and "gloo" in fake_init
    clean_env.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:999")
    clean_env.setenv("JAX_NUM_PROCESSES", "3")
    clean_env.setenv("JAX_PROCESS_ID", "2")
    assert distributed.initialize().source == "environment"
    assert fake_init[-1] == (("10.0.0.1:999",), {"num_processes": 3, "process_id": 2, **limit})
    for v in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        clean_env.delenv(v)
    for k, v in dict(
        SLURM_JOB_ID="77", SLURM_STEP_NODELIST="node[01-04]", SLURM_NTASKS="4", SLURM_PROCID="3", SLURM_LOCALID="0"
    ).items():
        clean_env.setenv(k, v)
    assert distributed.initialize().source == "slurm"
    assert fake_init[-1] == ((None,), {"num_processes": 4, "process_id": 3, **limit})


@pytest.mark.parametrize(
    "kwargs, env, match",
    [
        (dict(num_processes=2), {}, "needs a coordinator"),
        (dict(num_processes=0), {}, "num_processes must be an integer >= 1"),
        (dict(num_processes=2.5), {}, "num_processes must be an integer"),
        (dict(coordinator="h:1", num_processes=2, process_id=2), {}, r"process_id must be in 0\.\.1"),
        (dict(coordinator="h:1", num_processes=2), {}, "process_id is missing"),
        (dict(coordinator="nohostport", num_processes=2, process_id=0), {}, "host:port"),
        (
            {},
            {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "two", "JAX_PROCESS_ID": "0"},
            "JAX_NUM_PROCESSES must be an integer",
        ),
        (
            {},
            {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "-1"},
            "JAX_PROCESS_ID must be an integer >= 0",
        ),
    ],
)
def test_initialize_refuses_bad_settings(fake_init, clean_env, kwargs, env, match):
    for k, v in env.items():
        clean_env.setenv(k, v)
    with pytest.raises(ValueError, match=match):
        distributed.initialize(**kwargs)
    assert not any(c != "gloo" for c in fake_init)


def test_unreachable_coordinator_is_one_error_naming_it(clean_env):
    import fpjax._src.distributed as d

    port = distributed.free_port()  # free a moment ago: nothing listens there
    with pytest.raises(ConnectionError, match=f"coordinator 127.0.0.1:{port} did not answer within 0.5 s"):
        d._wait_for_coordinator(f"127.0.0.1:{port}", 0.5)
    clean_env.setenv("FPJAX_COORDINATOR_TIMEOUT", "7.5")
    assert d._timeout(None) == 7.5 and d._timeout(3) == 3.0
    for bad in ("soon", "0", "-1"):
        clean_env.setenv("FPJAX_COORDINATOR_TIMEOUT", bad)
        with pytest.raises(ValueError, match="FPJAX_COORDINATOR_TIMEOUT"):
            d._timeout(None)
    with pytest.raises(ValueError, match="timeout_s"):
        d._timeout(0)


@pytest.mark.slow
@pytest.mark.parametrize("process_id", ["1", "0"])
def test_cli_with_an_unreachable_coordinator_fails_within_the_timeout(tmp_path, process_id):
    """Process 1 cannot reach the coordinator; process 0 waits for a process 1 that never starts. Both
    end after FPJAX_COORDINATOR_TIMEOUT with one line naming the address and exit status 2 (JAX alone
    waits 5 minutes, then aborts with an absl check failure)."""
    port = distributed.free_port()
    env = _env(
        JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
        JAX_NUM_PROCESSES="2",
        JAX_PROCESS_ID=process_id,
        FPJAX_COORDINATOR_TIMEOUT="3",
        JAX_PLATFORMS="cpu",
    )
    argv = ["run", "fp-1d", "--distributed", "--out", str(tmp_path / "results")]
    done = subprocess.run(
        [sys.executable, "-m", "fpjax", *argv], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "within 3 s" in lines[0], done.stderr
    assert not (tmp_path / "results").exists()


def test_launch_local_sets_environment_and_returns_first_failure(tmp_path):
    py = [sys.executable]
    script = (
        "import os, sys, json, time; e = os.environ; i = int(e['JAX_PROCESS_ID']);"
        "open(os.path.join(sys.argv[1], str(i)), 'w').write(json.dumps([e['JAX_COORDINATOR_ADDRESS'], "
        "e['JAX_NUM_PROCESSES'], e['JAX_PLATFORMS']]));"
        "time.sleep(float(sys.argv[2 + i])); sys.exit(int(sys.argv[4 + i]))"
    )
    assert distributed.launch_local(2, ["-c", script, tmp_path, 0, 0, 0, 0], command=py) == 0
    a, b = (json.loads((tmp_path / str(i)).read_text()) for i in range(2))
    assert a[0] == b[0] and re.fullmatch(r"127\.0\.0\.1:\d+", a[0]) and a[1:] == ["2", "cpu"]
    # process 1 fails at once; process 0 would run for 60 s: it is terminated after the grace period
    t = time.monotonic()
    assert distributed.launch_local(2, ["-c", script, tmp_path, 60, 0, 0, 3], command=py, grace_s=0.5) == 3
    assert time.monotonic() - t < 30
    with pytest.raises(ValueError, match="n must be"):
        distributed.launch_local(0, [])
    with pytest.raises(TypeError, match="argv"):
        distributed.launch_local(2, "run fp-1d")


# --------------------------------------------------------------------------------------------
# two real processes (jax.distributed on localhost, gloo collectives)
# --------------------------------------------------------------------------------------------

WORKER = textwrap.dedent("""
    import json, os, sys, time
    from fpjax import distributed
    info = distributed.initialize()
    import jax, jax.numpy as jnp, numpy as np
    import fpjax._src.sweep as sw
    from fpjax.train import sweep
    out_dir, ckpt, chunk, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    modes = sys.argv[5].split(",")
    write = sw._write_chunk
    def logged_write(path, c, fp, leaves):  # record who writes which chunk; optionally dawdle
        write(path, c, fp, leaves)
        with open(os.path.join(out_dir, "writes.log"), "a") as f:
            f.write(f"{jax.process_index()} {c}\\n")
        time.sleep(pause)
    sw._write_chunk = logged_write
    X = jnp.linspace(-1.0, 1.0, 16)
    def fn(key):  # a random two-layer tanh network's outputs on X (cheap to compile)
        k1, k2 = jax.random.split(key)
        h = jnp.tanh(jax.random.normal(k1, (32, 1)) * X[None, :] + 0.1)
        pred = jax.random.normal(k2, (32,)) @ h / jnp.sqrt(32.0)
        return {"pred": pred, "loss": jnp.mean((pred - jnp.sin(3.0 * X)) ** 2)}
    keys = jax.random.split(jax.random.key(0), 8)
    for mode in modes:
        g, _, nockpt = mode.partition("-")
        r = sweep(fn, keys, chunk_size=chunk, checkpoint_dir=None if ckpt == "-" or nockpt else ckpt, gather=g)
        p = jax.process_index()
        np.savez(os.path.join(out_dir, f"{mode}_{p}.npz"), idx=r.seed_index, **r.outputs)
        with open(os.path.join(out_dir, f"{mode}_{p}.json"), "w") as f:
            json.dump({"computed": r.chunks_computed, "loaded": r.chunks_loaded, "n_devices": r.n_devices,
                       "n_processes": r.n_processes, "main": distributed.is_main_process()}, f)
""")


def _env(**extra):
    """This environment without cluster variables; one CPU device per process unless asked. The
    other XLA_FLAGS (the suite's compiler settings) stay: every process of a test compiles alike, as
    "bitwise the same result" and resuming another process's chunks need."""
    e = {k: v for k, v in os.environ.items() if k not in _ENV_VARS + ("FPJAX_HOST_DEVICES",)}
    e["XLA_FLAGS"] = re.sub(r"--xla_force_host_platform_device_count=\S+", "", os.environ.get("XLA_FLAGS", "")).strip()
    e["FPJAX_NO_HOST_DEVICES"] = "1"
    e.update(extra)
    return e


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    p = tmp_path_factory.mktemp("worker") / "worker.py"
    p.write_text(WORKER)
    return p


@pytest.fixture(scope="module")
def reference(worker, tmp_path_factory):
    """The same sweep in ONE process with two CPU devices (the same per-device programs)."""
    out = tmp_path_factory.mktemp("ref")
    r = subprocess.run(
        [sys.executable, str(worker), str(out), "-", "4", "0", "all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_env(
            XLA_FLAGS=f"{_env()['XLA_FLAGS']} --xla_force_host_platform_device_count=2".strip(), JAX_PLATFORMS="cpu"
        ),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return dict(np.load(out / "all_0.npz"))


def _launch(worker, out, ckpt, *, chunk=2, pause=0.0, modes="all"):
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        return distributed.launch_local(
            2, [worker, out, ckpt, chunk, pause, modes], command=[sys.executable], env=_env()
        )
    finally:
        os.chdir(old)


def _writes(out):
    p = out / "writes.log"
    return [tuple(map(int, line.split())) for line in p.read_text().splitlines()] if p.exists() else []


@pytest.mark.slow
def test_two_processes_give_the_single_process_result_and_write_each_chunk_once(worker, reference, tmp_path):
    ckpt = tmp_path / "ckpt"
    assert _launch(worker, tmp_path, ckpt, modes="all,process0,none,none-nockpt") == 0
    info = [json.loads((tmp_path / f"all_{p}.json").read_text()) for p in (0, 1)]
    assert [i["n_processes"] for i in info] == [2, 2] and [i["main"] for i in info] == [True, False]
    assert info[0]["n_devices"] == 2 and info[0]["computed"] == 4
    # each of the 4 chunks written exactly once, by process 0; the later sweeps only read them
    assert sorted(_writes(tmp_path)) == [(0, c) for c in range(4)]
    for p in (0, 1):  # gather="all": every process holds every seed, bitwise the single-process result
        got = np.load(tmp_path / f"all_{p}.npz")
        np.testing.assert_array_equal(got["idx"], np.arange(8))
        for k in ("pred", "loss"):
            np.testing.assert_array_equal(got[k], reference[k])
    p0, p1 = np.load(tmp_path / "process0_0.npz"), np.load(tmp_path / "process0_1.npz")
    np.testing.assert_array_equal(p0["pred"], reference["pred"])
    assert p1["idx"].size == 0 and p1["pred"].shape == (0, 16)
    assert json.loads((tmp_path / "none-nockpt_1.json").read_text())["computed"] == 4
    # gather="none": each process keeps its own devices' seeds; together exactly the whole sweep
    n0, n1 = np.load(tmp_path / "none_0.npz"), np.load(tmp_path / "none_1.npz")
    assert set(n0["idx"]).isdisjoint(n1["idx"]) and sorted([*n0["idx"], *n1["idx"]]) == list(range(8))
    for part in (n0, n1):
        np.testing.assert_array_equal(part["pred"], reference["pred"][part["idx"]])
    # gather="none" without a checkpoint directory: shards never leave their process
    m0, m1 = np.load(tmp_path / "none-nockpt_0.npz"), np.load(tmp_path / "none-nockpt_1.npz")
    np.testing.assert_array_equal(m0["idx"], n0["idx"])
    np.testing.assert_array_equal(m1["idx"], n1["idx"])
    for part in (m0, m1):
        np.testing.assert_array_equal(part["loss"], reference["loss"][part["idx"]])


@pytest.mark.slow
def test_killing_one_process_then_restarting_recomputes_only_unfinished_chunks(worker, reference, tmp_path):
    ckpt = tmp_path / "ckpt"
    port = distributed.free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), str(tmp_path), str(ckpt), "2", "3.0", "all"],
            cwd=ROOT,
            env=_env(
                JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                JAX_NUM_PROCESSES="2",
                JAX_PROCESS_ID=str(i),
                JAX_PLATFORMS="cpu",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    try:
        deadline = time.time() + 240
        while not (ckpt / "chunk_00001.npz").exists():
            assert all(p.poll() is None for p in procs), procs[0].stderr.read().decode()[-3000:]
            assert time.time() < deadline, "chunk 1 never written"
            time.sleep(0.05)
        procs[1].send_signal(signal.SIGKILL)  # a process dies mid-sweep (process 0 is pausing after chunk 1)
        procs[1].wait()
        try:
            procs[0].wait(timeout=15)  # it cannot finish without its peer
        except subprocess.TimeoutExpired:
            procs[0].kill()
            procs[0].wait()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    done = sorted(p.name for p in ckpt.glob("chunk_*.npz"))
    assert done[:2] == ["chunk_00000.npz", "chunk_00001.npz"] and len(done) < 4, done
    mtimes = {n: (ckpt / n).stat().st_mtime_ns for n in done}
    (tmp_path / "writes.log").unlink()
    assert _launch(worker, tmp_path, ckpt) == 0  # the job restarted
    info = json.loads((tmp_path / "all_0.json").read_text())
    assert (info["loaded"], info["computed"]) == (len(done), 4 - len(done))
    assert sorted(_writes(tmp_path)) == [(0, c) for c in range(len(done), 4)]
    assert {n: (ckpt / n).stat().st_mtime_ns for n in done} == mtimes
    for p in (0, 1):
        got = np.load(tmp_path / f"all_{p}.npz")
        np.testing.assert_array_equal(got["pred"], reference["pred"])


@pytest.mark.slow
def test_howto_local_example_runs(tmp_path):
    text = (ROOT / "docs" / "howto" / "distributed.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    script = next(b for b in blocks if "launch_local" in b and "sweep(" in b)
    (tmp_path / "two_processes.py").write_text(script)
    r = subprocess.run(
        [sys.executable, "two_processes.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_env(PYTHONPATH=str(ROOT)),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("process 0:")]
    assert lines == ["process 0: 8 seeds, mean of the final losses over 2 processes is finite: True"], r.stdout
    assert sorted(q.name for q in (tmp_path / "ckpt").glob("chunk_*.npz")) == ["chunk_00000.npz", "chunk_00001.npz"]
