"""The notebooks of ``notebooks/``: reviewable jupytext scripts paired with ``.ipynb`` files stored with
their outputs, and every one of them executes.

``notebooks/NAME.py`` (jupytext percent format) is the source; ``notebooks/NAME.ipynb`` holds the same
cells and the outputs of the last ``uv run --frozen python notebooks/refresh.py``. The slow test runs
each script in a kernel that is this test's own interpreter (the project venv) and checks it with an
injected first cell.
"""

import importlib.util
import sys
import time
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def _refresh_module():
    spec = importlib.util.spec_from_file_location("nb_refresh", NB_DIR / "refresh.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


refresh = _refresh_module()
SCRIPTS = refresh.scripts()


def test_every_notebook_is_a_script_paired_with_an_ipynb():
    assert len(SCRIPTS) >= 6, [p.name for p in SCRIPTS]
    ipynbs = {p.stem for p in NB_DIR.glob("*.ipynb")}
    assert ipynbs == {p.stem for p in SCRIPTS}, "every .ipynb needs its .py script and vice versa"
    assert not (NB_DIR / "make_notebooks.py").exists()
    stale = [p.name for p in SCRIPTS if not refresh.in_sync(p)]
    assert not stale, f"stored notebooks differ from their scripts; run notebooks/refresh.py {' '.join(stale)}"


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_notebook_is_stored_with_outputs_and_no_errors(path):
    import nbformat

    nb = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), f"{path.name}: stored without outputs"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: cells not executed in order: {counts}"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: stored outputs contain errors"
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name}: no figure in the stored outputs"


def test_notebooks_use_the_library_plot_helpers():
    for path in SCRIPTS:
        assert "plot_" in path.read_text(encoding="utf-8"), f"{path.name} uses no fpjax plot helper"


def test_refresh_check_reports_a_stale_pair(tmp_path, monkeypatch):
    # --check must fail when a script changed after its outputs were stored
    src = SCRIPTS[0]
    (tmp_path / src.name).write_text(src.read_text(encoding="utf-8") + "\n# %%\nprint('new cell')\n", encoding="utf-8")
    (tmp_path / src.with_suffix(".ipynb").name).write_bytes(src.with_suffix(".ipynb").read_bytes())
    monkeypatch.setattr(refresh, "HERE", tmp_path)
    assert refresh.main(["--check"]) == 1
    (tmp_path / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    assert refresh.main(["--check"]) == 0


def test_nbconvert_runs_from_the_environment():
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--version"], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip()[:1].isdigit(), out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_notebook_executes(path, monkeypatch):
    import nbformat

    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = refresh.read_script(path)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    t0 = time.perf_counter()
    refresh.execute(nb)  # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - t0
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    assert Path(printed).resolve() == Path(sys.executable).resolve()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: {elapsed:.1f} s")


@pytest.mark.slow
def test_jupyter_lab_command_starts(tmp_path):
    """The documented ``uv run --group notebooks jupyter lab notebooks/`` starts a server that serves
    JupyterLab (first use installs the group: several minutes allowed), then is shut down."""
    import json
    import os
    import re
    import shutil
    import signal
    import socket
    import subprocess
    import threading
    import time
    import urllib.error
    import urllib.request

    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv not on PATH")
    # A port chosen here and the IPv4 loopback named explicitly: the server then listens exactly where
    # the test connects, whatever "localhost" resolves to on the machine.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [uv, "run", "--frozen", "--group", "notebooks", "jupyter", "lab", "notebooks/", "--no-browser"]
    cmd += ["--ip", "127.0.0.1", "--port", str(port), "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root; Jupyter refuses that without the flag
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    proc = subprocess.Popen(
        cmd,
        cwd=NB_DIR.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # one process group: uv and the server it starts stop together
    )
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            match = re.search(r"(http://127\.0\.0\.1:\d+)/lab\?token=(\w+)", line)
            if match and not url:
                url.extend(match.groups())
                found.set()

    def log():
        return f"server exit code {proc.poll()}; its last output:\n" + "".join(lines[-40:])

    def get(path):
        """GET with retries: under load the event loop may start seconds after the URL is printed."""
        deadline = time.monotonic() + 120
        while True:
            try:
                return urllib.request.urlopen(f"{base}{path}", timeout=60)
            except urllib.error.URLError as err:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"GET {path}: {err}\n{log()}") from err
                time.sleep(1.0)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        found.wait(timeout=900)
        assert url, "no 'is running at' URL: " + log()
        base, token = url
        assert base.endswith(f":{port}"), log()
        with get("/api") as response:
            assert "version" in json.load(response)
        with get(f"/lab?token={token}") as response:
            assert response.status == 200 and "JupyterLab" in response.read().decode()
        with get(f"/api/contents?token={token}") as response:
            listing = {item["name"] for item in json.load(response)["content"]}
        assert {p.with_suffix(".ipynb").name for p in SCRIPTS} <= listing  # the server's root is notebooks/
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
