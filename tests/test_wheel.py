"""Packaging: the license, the typing marker, and the wheel ``uv build`` makes (contents, metadata)."""

import email.parser
import hashlib
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_license_is_the_apache_2_text_and_the_package_is_typed():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) == 202
    # the canonical text, byte for byte (the same file as the Apache Software Foundation's LICENSE-2.0.txt)
    assert hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest() == "3b83ef96387f14655fc854ddc3c6bd57"
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "fpjax" / "py.typed").exists()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv not on PATH: needed to build the wheel")
    out_dir = tmp_path_factory.mktemp("dist")
    out = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(out_dir)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    (path,) = out_dir.glob("fpjax-*.whl")
    return zipfile.ZipFile(path)


@pytest.mark.slow
def test_wheel_contents(wheel):
    names = set(wheel.namelist())
    version = PYPROJECT["project"]["version"]
    info = f"fpjax-{version}.dist-info"
    assert all(n.startswith(("fpjax/", f"{info}/")) for n in names), sorted(n for n in names if "/" not in n)
    assert "fpjax/py.typed" in names and "fpjax/nt.py" in names and "fpjax/cli.py" in names
    assert wheel.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    # the experiments ship inside the package, every module of the repository's experiments/ folder
    shipped = {n.removeprefix("fpjax/_experiments/") for n in names if n.startswith("fpjax/_experiments/")}
    expected = {p.relative_to(ROOT / "experiments").as_posix() for p in (ROOT / "experiments").rglob("*.py")}
    assert expected and expected <= shipped
    assert not any(n.startswith(("tests/", "experiments/", "fpjax/tests/")) or "/test_" in n for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    # every source module of the checkout is in the wheel
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "fpjax").rglob("*.py")}
    assert sources <= names, sorted(sources - names)


@pytest.mark.slow
def test_wheel_metadata(wheel):
    version = PYPROJECT["project"]["version"]
    info = f"fpjax-{version}.dist-info"
    meta = email.parser.Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
    assert meta["Name"] == "fpjax" and meta["Version"] == version
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    classifiers = meta.get_all("Classifier")
    assert classifiers == PYPROJECT["project"]["classifiers"]
    assert {
        "Typing :: Typed",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
    } <= set(classifiers)
    assert not any(c.startswith("License ::") for c in classifiers), "the license expression replaces them"
    # the declared dependencies are pyproject's, unchanged
    requires = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert sorted(r.replace(" ", "") for r in requires) == sorted(
        d.replace(" ", "") for d in PYPROJECT["project"]["dependencies"]
    )
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "fpjax = fpjax._console:run" in entry_points and "[pytest11]" in entry_points
    assert meta.get_payload().lstrip().startswith("# fpjax")  # the README is the long description
