"""The README's pip route: a working fpjax without TensorFlow, keras or tf2jax.

neural-tangents 0.6.5 declares TensorFlow and tf2jax, which fpjax never imports; pip cannot drop a
declared dependency (uv's ``override-dependencies`` has no pip equivalent) and its resolver installs
the dependencies of an already installed neural-tangents again. So the route is ``--no-deps`` with
``requirements-pip.txt``: every runtime dependency pinned at its ``uv.lock`` version, minus those.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements-pip.txt"
COMMAND = "pip install --no-deps -r requirements-pip.txt ."
HEAVY = {"tensorflow", "keras", "tf2jax", "tensorflow-cpu", "tf-keras"}


def _requirement_lines(text: str) -> list[str]:
    return sorted({line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")})


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Install with pip\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, "README.md has no '## Install with pip' section"
    return match.group(1)


def test_readme_documents_the_pip_route():
    section = _readme_section()
    assert COMMAND in section
    assert "requirements-pip.txt" in section and re.search(r"\d+ MB", section), "state the venv size"


def test_requirements_pin_the_lock_without_tensorflow():
    lines = _requirement_lines(REQUIREMENTS.read_text(encoding="utf-8"))
    names = {re.split(r"[=;\s]", line, maxsplit=1)[0].lower() for line in lines}
    assert not names & HEAVY
    assert {"jax", "jaxlib", "neural-tangents", "frozendict", "flax", "optax", "diffrax"} <= names
    assert all("==" in line for line in lines), "every requirement pinned"
    if shutil.which("uv") is None:
        pytest.skip("uv not on PATH: cannot compare with uv.lock")
    out = subprocess.run(
        ["uv", "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--no-annotate", "--no-header"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    # uv keeps the overridden packages with a never-true marker; pip would skip them anyway.
    expected = [line for line in _requirement_lines(out.stdout) if "sys_platform == 'never'" not in line]
    assert lines == expected, "requirements-pip.txt differs from uv.lock; regenerate it (command in its header)"


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "UV_", "CONDA"))}
    env.update(extra)
    return env


@pytest.mark.slow
def test_pip_route_in_a_fresh_venv(tmp_path):
    """Build the wheel, install it into a fresh venv exactly as the README says (the wheel in place
    of the checkout's ``.``), then run an experiment and neural-tangents from outside the checkout."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv not on PATH: needed to build the wheel")
    dist = tmp_path / "dist"
    out = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(dist)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = dist.glob("fpjax-*.whl")

    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300, env=_clean_env())
    bin_dir = venv / "bin"
    args = COMMAND.split()[1:-1]  # install --no-deps -r requirements-pip.txt
    args[args.index("requirements-pip.txt")] = str(REQUIREMENTS)
    # pip's own cache is reused between runs (no --no-cache-dir).
    out = subprocess.run(
        [str(bin_dir / "pip"), *args, str(wheel)],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,
        env=_clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    python = str(bin_dir / "python")
    listing = subprocess.run(
        [
            python,
            "-c",
            "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
    )
    installed = {name.strip().lower().replace("_", "-") for name in listing.stdout.split()}
    assert {"fpjax", "neural-tangents", "jax"} <= installed
    assert not installed & HEAVY, installed & HEAVY

    work = tmp_path / "work"  # outside the checkout: nothing can come from the repository
    work.mkdir()
    run = subprocess.run(
        [str(bin_dir / "fpjax"), "run", "fp-1d", "--quick", "--out", "results"],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=work,
        env=_clean_env(),
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "1 of 1 claims held" in run.stdout, run.stdout[-3000:]
    assert (work / "results" / "fp-1d" / "metrics.json").exists()

    code = (
        "import fpjax, jax.numpy as jnp\n"
        "from fpjax import nt\n"
        "_, _, kernel_fn = nt.stax.serial(nt.stax.Dense(1), nt.stax.Relu(), nt.stax.Dense(1))\n"
        "print(fpjax.__file__)\n"
        "print(float(kernel_fn(jnp.eye(2), None, 'ntk')[0, 1]))\n"
    )
    check = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, timeout=600, cwd=work, env=_clean_env()
    )
    assert check.returncode == 0, check.stderr[-3000:]
    where, value = check.stdout.strip().splitlines()[-2:]
    assert Path(where).resolve().is_relative_to(venv.resolve())
    # orthogonal unit inputs in d = 2, ReLU, NTK parameterization, no bias: NTK = 1/(4π)
    assert abs(float(value) - 1 / (4 * 3.141592653589793)) < 1e-6
