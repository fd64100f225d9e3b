"""Execute every notebook of ``notebooks/`` with nbclient; any cell error fails the test.

The kernel is this test's own interpreter (the project venv): a ``python3`` kernelspec whose argv is
``sys.executable`` is written to a temporary directory that ``JUPYTER_PATH`` puts first, and an
injected first cell checks ``sys.executable`` inside the kernel.
"""

import json
import sys
import time
from pathlib import Path

import pytest

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))


def test_notebooks_exist_and_are_stored_without_outputs():
    import nbformat

    assert len(NOTEBOOKS) >= 3
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code, path.name
        for c in code:
            assert c.outputs == [] and c.execution_count is None, f"{path.name} is stored with outputs"


def test_notebooks_match_their_generator():
    # notebooks/make_notebooks.py is the source of the notebooks; the stored files must be its output.
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("make_notebooks", NB_DIR / "make_notebooks.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert set(gen.NOTEBOOKS) == {p.name for p in NOTEBOOKS}
    for name, cells in gen.NOTEBOOKS.items():
        stored = nbformat.read(NB_DIR / name, as_version=4)
        assert [c.source for c in stored.cells] == [c.source for c in cells], f"regenerate {name}"


@pytest.fixture(scope="module")
def venv_kernel(tmp_path_factory):
    """A ``python3`` kernelspec running ``sys.executable``, first on ``JUPYTER_PATH``."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (fpjax venv)", "language": "python"}))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(root))
    mp.setenv("MPLBACKEND", "Agg")
    yield "python3"
    mp.undo()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, venv_kernel):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    check = nbformat.v4.new_code_cell("import sys; print(sys.executable)")
    nb.cells.insert(0, check)
    client = NotebookClient(nb, kernel_name=venv_kernel, timeout=300, allow_errors=False,
                            resources={"metadata": {"path": str(NB_DIR)}})
    t0 = time.perf_counter()
    client.execute()   # raises CellExecutionError on the first failing cell
    elapsed = time.perf_counter() - t0
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    assert Path(printed).resolve() == Path(sys.executable).resolve()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: {elapsed:.1f} s")
