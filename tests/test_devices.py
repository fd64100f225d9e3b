"""``import fpjax`` changes nothing; ``fpjax.set_host_device_count`` gives one CPU device per core (subprocesses)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = r"""
import json, os, sys
import fpjax
if os.environ.get("CALL"):
    fpjax.set_host_device_count(None if os.environ["CALL"] == "default" else int(os.environ["CALL"]))
import jax, jax.numpy as jnp, optax
from fpjax.models import mlp
from fpjax.train import fit, sweep
x = jnp.linspace(-1, 1, 16)[:, None]
y = jnp.sin(3 * x)
m = mlp((16, 16, 1), "tanh")
def fn(key):
    r = fit(m.apply, m.init(key, x), x, y, optimizer=optax.adam(1e-2), steps=30,
            record=lambda p: m.apply(p, x)[:, 0], record_every=10)
    return {"losses": r.losses, "records": r.records}
res = sweep(fn, jax.random.split(jax.random.key(0), 6))
print(json.dumps({"devices": len(jax.devices()), "n_devices": res.n_devices,
                  "losses": res.outputs["losses"].tolist(), "records": res.outputs["records"].tolist()}))
"""


def _run(code, **env_changes):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FPJAX_NO_HOST_DEVICES", "FPJAX_HOST_DEVICES", "XLA_FLAGS", "JAX_PLATFORMS")
    }
    env.update({"JAX_PLATFORMS": "cpu", **env_changes})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def test_import_changes_no_jax_setting():
    code = (
        "import os, sys, json\nbefore = dict(os.environ)\nimport fpjax\n"
        "loaded = [m for m in ('jax', 'jaxlib', 'numpy') if m in sys.modules]\n"
        "same = dict(os.environ) == before\nimport jax\n"
        "print(json.dumps({'loaded': loaded, 'env_same': same, "
        "'devices': len(jax.devices()), 'option': jax.config.jax_num_cpu_devices}))"
    )
    out = json.loads(_run(code, FPJAX_HOST_DEVICES="2").stdout.splitlines()[-1])
    assert out == {"loaded": [], "env_same": True, "devices": 1, "option": -1}


@pytest.mark.slow
def test_explicit_call_gives_one_device_per_core_and_the_numbers_of_one_device():
    # FPJAX_HOST_DEVICES=2 exercises the same code path as the default on a 1-core machine too.
    many = json.loads(_run(SCRIPT, CALL="default", FPJAX_HOST_DEVICES="2").stdout.splitlines()[-1])
    explicit = json.loads(_run(SCRIPT, CALL="2").stdout.splitlines()[-1])
    default = json.loads(_run(SCRIPT, CALL="default").stdout.splitlines()[-1])
    one = json.loads(_run(SCRIPT).stdout.splitlines()[-1])  # no call: JAX's default, one CPU device
    cores = len(os.sched_getaffinity(0))
    assert many["devices"] == 2 and many["n_devices"] == 2
    assert explicit["devices"] == 2 and explicit["n_devices"] == 2
    assert default["devices"] == cores and default["n_devices"] == cores  # one device per core
    assert one["devices"] == 1
    # Same numbers up to float32 rounding: each device runs a smaller batch of seeds (3 instead of 6),
    # and XLA's batched matmuls may round the last bit differently for another batch size (measured
    # max relative difference 4e-7 after 30 Adam steps); the tolerances of tests/test_sweep.py.
    for r in (many, explicit, default):
        np.testing.assert_allclose(np.array(r["losses"]), np.array(one["losses"]), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(np.array(r["records"]), np.array(one["records"]), rtol=1e-4, atol=1e-6)


def test_warns_when_jax_has_started_and_respects_xla_flags():
    code = (
        "import warnings, jax, fpjax; jax.devices()\nwith warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always'); n = fpjax.set_host_device_count(2)\n"
        "print(n, len(jax.devices()), [str(x.message) for x in w])"
    )
    out = _run(code).stdout
    assert out.startswith("1 1 ") and "JAX has started its backends with 1 CPU device(s)" in out
    code = "import fpjax, jax; n = fpjax.set_host_device_count(); print(n, len(jax.devices()))"
    assert _run(code, XLA_FLAGS="--xla_force_host_platform_device_count=3").stdout.split() == ["3", "3"]
    code = "import fpjax; print(fpjax.set_host_device_count(2))"
    assert _run(code, JAX_PLATFORMS="gpu").stdout.split() == ["None"]  # no CPU backend in use: nothing set
    code = "import fpjax, jax; n = fpjax.set_host_device_count(); print(n, len(jax.devices()))"
    assert _run(code, FPJAX_NO_HOST_DEVICES="1").stdout.split() == ["None", "1"]  # the opt-out


def test_bad_arguments_are_refused():
    import fpjax

    for bad in (0, -1, 2.0, True, "2"):
        with pytest.raises(ValueError, match="n must be a positive int or None"):
            fpjax.set_host_device_count(bad)


def test_bad_device_count_is_refused():
    from fpjax._src import devices

    old = os.environ.get("FPJAX_HOST_DEVICES")
    try:
        for bad in ("zero", "0", "-3"):
            os.environ["FPJAX_HOST_DEVICES"] = bad
            with pytest.raises(ValueError, match="FPJAX_HOST_DEVICES"):
                devices.host_device_count()
        os.environ["FPJAX_HOST_DEVICES"] = "3"
        assert devices.host_device_count() == 3
    finally:
        if old is None:
            os.environ.pop("FPJAX_HOST_DEVICES", None)
        else:
            os.environ["FPJAX_HOST_DEVICES"] = old


LAPACK_SCRIPT = r"""
import json, os
import fpjax
if os.environ.get("CALL"):
    fpjax.set_host_device_count(int(os.environ["CALL"]))
import jax, jax.numpy as jnp
from fpjax.train import sweep
from fpjax._src.devices import batched_lapack_deadlocks
def fn(key):  # a batched symmetric eigensolver of moderate size: LAPACK (syevd) on CPU
    a = jax.random.normal(key, (100, 100))
    return jnp.linalg.eigh(a @ a.T + jnp.eye(100))[0]
res = sweep(fn, jax.random.split(jax.random.key(0), 8))
plain = sweep(lambda key: jax.random.normal(key, (3,)), jax.random.split(jax.random.key(0), 8))
print(json.dumps({"lapack": res.n_devices, "plain": plain.n_devices, "affected": batched_lapack_deadlocks(jax.devices()),
                  "eig": res.outputs.tolist()}))
"""


@pytest.mark.slow
def test_batched_lapack_sweep_does_not_deadlock_on_host_devices():
    # jaxlib 0.10.2 with two host devices deadlocked on this sweep (vmap of a 100x100 eigh on both
    # devices at once); fpjax runs such a function on one device there. The timeout of _run turns a
    # deadlock into a failure instead of a hung test run.
    many = json.loads(_run(LAPACK_SCRIPT, CALL="2").stdout.splitlines()[-1])
    one = json.loads(_run(LAPACK_SCRIPT).stdout.splitlines()[-1])
    assert many["plain"] == 2 and one["plain"] == 1  # functions without LAPACK use every device
    assert many["lapack"] == (1 if many["affected"] else 2)
    # eigenvalues of the same matrices: float32 rounding of a 100x100 eigensolver (relative to the
    # largest eigenvalue, ~ n * eps * ||A||)
    a, b = np.array(many["eig"]), np.array(one["eig"])
    np.testing.assert_allclose(a, b, rtol=0, atol=100 * 1.2e-7 * np.abs(b).max())


def test_uses_lapack_finds_nested_primitives():
    import jax
    import jax.numpy as jnp

    from fpjax._src.sweep import _uses_lapack

    def nested(a):
        return jax.lax.scan(lambda c, _: (c, jnp.linalg.solve(a, c)), jnp.ones(3), None, length=2)[1]

    assert _uses_lapack(jax.make_jaxpr(nested)(jnp.eye(3)).jaxpr)
    assert _uses_lapack(jax.make_jaxpr(jax.jit(jnp.linalg.eigh))(jnp.eye(3)).jaxpr)
    assert not _uses_lapack(jax.make_jaxpr(lambda a: jnp.tanh(a @ a))(jnp.eye(3)).jaxpr)
