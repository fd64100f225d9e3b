"""Execute the notebook scripts of ``notebooks/`` and store their outputs in the paired ``.ipynb``.

Each notebook is a jupytext percent-format script ``notebooks/NAME.py`` (the reviewable source) paired
with ``notebooks/NAME.ipynb`` (the same cells with their outputs, rendered on the documentation site).
After editing a script, refresh the stored outputs with::

    uv run --frozen python notebooks/refresh.py              # every notebook
    uv run --frozen python notebooks/refresh.py 02_*.py      # some of them
    uv run --frozen python notebooks/refresh.py --check      # only check the pairs are in sync

The kernel is this interpreter (the project's environment), whatever kernels Jupyter knows of. Cell
ids are fixed (``c00``, ``c01``, ...) so a refresh changes only what the outputs changed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def scripts(names: list[str] | None = None) -> list[Path]:
    """The notebook scripts: every ``*.py`` of ``notebooks/`` that is a jupytext percent notebook."""
    if names:
        paths = [p for n in names for p in sorted(HERE.glob(Path(n).name))]
    else:
        paths = sorted(HERE.glob("*.py"))
    return [p for p in paths if p.read_text(encoding="utf-8").startswith("# ---\n# jupyter:")]


def read_script(path: Path):
    """The notebook of a script, with fixed cell ids and the pairing metadata."""
    import jupytext
    import nbformat

    nb = jupytext.read(path, fmt="py:percent")
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i:02d}"
        cell.metadata = {}
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"},
                   "jupytext": {"formats": "ipynb,py:percent"}}
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nb


@contextlib.contextmanager
def venv_kernel():
    """A ``python3`` kernelspec that runs this interpreter, first on ``JUPYTER_PATH``."""
    with tempfile.TemporaryDirectory() as root:
        spec_dir = Path(root) / "kernels" / "python3"
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (fpjax venv)", "language": "python"}))
        old = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "MPLBACKEND")}
        os.environ["JUPYTER_PATH"] = root
        os.environ.pop("MPLBACKEND", None)   # the kernel's inline backend draws the figures
        try:
            yield "python3"
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def execute(nb, *, timeout: int = 600):
    """Run every cell of ``nb`` in place (working directory ``notebooks/``); errors raise."""
    from nbclient import NotebookClient

    with venv_kernel() as kernel:
        client = NotebookClient(nb, kernel_name=kernel, timeout=timeout, allow_errors=False,
                                resources={"metadata": {"path": str(HERE)}})
        client.execute()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.cells:   # nbclient adds timings; keep the stored files stable
        cell.metadata.pop("execution", None)
    return nb


def in_sync(py: Path) -> bool:
    """Whether ``NAME.ipynb`` holds exactly the cells of ``NAME.py``."""
    import nbformat

    ipynb = py.with_suffix(".ipynb")
    if not ipynb.exists():
        return False
    stored = nbformat.read(ipynb, as_version=4)
    source = read_script(py)
    return ([(c.cell_type, c.source) for c in stored.cells]
            == [(c.cell_type, c.source) for c in source.cells])


def refresh(py: Path) -> float:
    import nbformat

    nb = read_script(py)
    t0 = time.perf_counter()
    execute(nb)
    elapsed = time.perf_counter() - t0
    nbformat.write(nb, py.with_suffix(".ipynb"))
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="script names or globs (default: every notebook)")
    ap.add_argument("--check", action="store_true", help="only check each .ipynb matches its .py")
    args = ap.parse_args(argv)
    paths = scripts(args.names)
    if not paths:
        print("no notebook scripts matched", args.names, file=sys.stderr)
        return 2
    if args.check:
        stale = [p.name for p in paths if not in_sync(p)]
        for name in stale:
            print(f"{name}: the .ipynb does not match the script; run notebooks/refresh.py {name}")
        return 1 if stale else 0
    for p in paths:
        print(f"{p.name}: executed in {refresh(p):.1f} s, outputs stored in {p.with_suffix('.ipynb').name}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
