"""The documentation site: built with ``mkdocs build --strict`` (warnings, e.g. a broken cross-reference,
are errors), offline, with an API page for every public module that documents every name of its
``__all__``, the experiment catalogue and the notebooks with their outputs.

The full build is slow (about 25 s of CPU) and runs once per test session; the broken
cross-reference is shown on a tiny separate site.
"""

import atexit
import functools
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _hooks():
    spec = importlib.util.spec_from_file_location("fpjax_docs_hooks", ROOT / "docs" / "hooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def mkdocs_build(config: Path, site_dir: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of ``config`` into ``site_dir`` (a subprocess of this interpreter)."""
    # not -q: quiet mode drops the warnings before strict mode counts them
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site_dir)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**_env(), "NO_MKDOCS_2_WARNING": "1"},
    )


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k != "MPLBACKEND"} | {
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1",
    }


@functools.lru_cache(maxsize=1)
def built_site() -> Path:
    """The real site, built once per test process (``tests/test_browser.py`` reuses it)."""
    tmp = tempfile.mkdtemp(prefix="fpjax-site-")
    atexit.register(shutil.rmtree, tmp, True)
    out = Path(tmp) / "site"
    t0 = time.perf_counter()
    res = mkdocs_build(ROOT / "mkdocs.yml", out)
    assert res.returncode == 0, f"mkdocs build --strict failed:\n{res.stdout[-4000:]}\n{res.stderr[-8000:]}"
    print(f"site built in {time.perf_counter() - t0:.1f} s")
    return out


@pytest.fixture(scope="module")
def site():
    return built_site()


# ------------------------------------------------------------------------------------------------
# fast: the hook's discovery, and strict mode on a tiny site
# ------------------------------------------------------------------------------------------------


def test_public_modules_are_discovered_from_the_package():
    hooks = _hooks()
    mods = hooks.public_modules()
    assert mods[0] == "fpjax"
    for name in (
        "fpjax.models",
        "fpjax.train",
        "fpjax.spectrum",
        "fpjax.ntk",
        "fpjax.hessian",
        "fpjax.cnn",
        "fpjax.data",
        "fpjax.theory.lfp",
        "fpjax.theory.fpnorm",
        "fpjax.theory.init_bias",
        "fpjax.theory.tangent_fourier",
    ):
        assert name in mods
    assert not any("._" in m or m.startswith("_") for m in mods)
    assert "fpjax.cli" not in mods
    # every public module file is covered (a new one needs no edit of the site)
    files = {
        p
        for p in (ROOT / "fpjax").rglob("*.py")
        if not any(s.startswith("_") and s != "__init__.py" for s in p.relative_to(ROOT).parts)
    }
    assert len(mods) == len(files) - 1  # minus fpjax/cli.py


def _tiny_site(tmp_path: Path, page: str) -> Path:
    tmp_path.mkdir(parents=True)
    (tmp_path / "tinymod.py").write_text(
        textwrap.dedent('''
        """A tiny module."""

        def f(x: int) -> int:
            """Return ``x``.

            Args:
              x: anything.
            """
            return x
        ''')
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Tiny\n\n::: tinymod\n")
    (docs / "page.md").write_text(page)
    cfg = tmp_path / "mkdocs.yml"
    cfg.write_text(
        textwrap.dedent("""
        site_name: tiny
        theme: mkdocs
        plugins:
          - autorefs
          - mkdocstrings:
              handlers:
                python:
                  paths: [.]
        """)
    )
    return cfg


def test_strict_build_fails_on_a_broken_cross_reference(tmp_path):
    ok = _tiny_site(tmp_path / "ok", "# Page\n\nSee [f][tinymod.f].\n")
    res = mkdocs_build(ok, tmp_path / "ok" / "site")
    assert res.returncode == 0, res.stderr
    assert 'href="../#tinymod.f"' in (tmp_path / "ok" / "site" / "page" / "index.html").read_text()

    broken = _tiny_site(tmp_path / "broken", "# Page\n\nSee [g][tinymod.g].\n")
    res = mkdocs_build(broken, tmp_path / "broken" / "site")
    assert res.returncode != 0
    assert "tinymod.g" in res.stderr and "strict" in res.stderr


# ------------------------------------------------------------------------------------------------
# slow: the real site
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_public_name_is_in_the_api_reference(site):
    hooks = _hooks()
    missing = []
    for mod in hooks.public_modules():
        page = site / "api" / f"{mod}.html"
        assert page.exists(), f"no API page for {mod}"
        html = page.read_text(encoding="utf-8")
        assert ":func:<code>" not in html and ":class:<code>" not in html, f"{mod}: Sphinx roles shown as text"
        names = hooks.module_all(mod)
        if names is None:
            continue
        for name in names:
            if f"{mod}.{name}" in hooks.public_modules():  # a submodule: its own page
                continue
            if f'id="{mod}.{name}"' not in html:
                missing.append(f"{mod}.{name}")
    assert not missing, f"public names without an entry in the API reference: {missing}"


@pytest.mark.slow
def test_site_is_offline(site):
    external = re.compile(
        r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*\b(?:src|href)=[\"'](?:https?:)?//", re.IGNORECASE
    )
    remote_import = re.compile(r"import\(\s*[\"']https?://|@import\s+url\([\"']?https?://", re.IGNORECASE)
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not external.search(text), f"{page.relative_to(site)} loads a resource from another host"
        assert not remote_import.search(text), f"{page.relative_to(site)} imports code from another host"
        assert 'src=""' not in text, f"{page.relative_to(site)} has an empty script source"
    for css in site.rglob("*.css"):
        assert not re.search(r"url\([\"']?(?:https?:)?//", css.read_text(encoding="utf-8")), css.name


@pytest.mark.slow
def test_catalogue_lists_every_experiment(site):
    hooks = _hooks()
    html = (site / "experiments.html").read_text(encoding="utf-8")
    entries = hooks._registry()
    assert len(entries) >= 10
    for name, _ in entries:
        assert f'id="{name}"' in html, f"experiment {name} missing from the catalogue"
    for word in ("Claim.", "Source.", "quick", "full"):
        assert word in html


@pytest.mark.slow
def test_notebooks_rendered_with_outputs(site):
    pages = sorted((site / "notebooks").glob("*.html"))
    stored = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert {p.stem for p in pages} - {"index"} == {p.stem for p in stored}
    for p in pages:
        if p.stem == "index":
            continue
        text = p.read_text(encoding="utf-8")
        assert "data:image/png;base64," in text, f"{p.name}: no rendered figure"
        assert "jp-OutputArea" in text


@pytest.mark.slow
def test_theory_guide_and_howtos_are_in_the_site(site):
    theory = (site / "theory.html").read_text(encoding="utf-8")
    for mod in ("lfp", "fpnorm", "init_bias", "tangent_fourier"):
        assert f"fpjax.theory.{mod}" in theory
    assert theory.count("arXiv:") >= 6
    for page in ("seed-sweep", "gpu", "neural-tangents", "results-report"):
        assert (site / "howto" / f"{page}.html").exists()


@pytest.mark.slow
def test_site_cites_papers_not_planning_documents(site):
    offenders = [
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if re.search(r"SPEC\s*§", p.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"pages citing a document outside the repository: {offenders}"


@pytest.mark.slow
def test_api_pages_document_fields_once_and_link_roles_and_pages(site):
    import json

    spectrum = (site / "api" / "fpjax.spectrum.html").read_text(encoding="utf-8")
    # a NamedTuple field described under "Attributes:" is one member entry carrying that description
    member = spectrum.index('id="fpjax.spectrum.GridSpectrum.freqs"')
    assert "such arrays for a d-D grid" in spectrum[member : member + 3000]  # the description, at the member
    assert spectrum.count("such arrays for a d-D grid") == 1
    assert 'doc-section-title">Attributes:' not in spectrum  # no second listing of the fields
    fpnorm = (site / "api" / "fpjax.theory.fpnorm.html").read_text(encoding="utf-8")
    assert 'doc-section-title">Attributes:' not in fpnorm
    assert 'id="fpjax.theory.fpnorm.AprioriBound.f_sup"' in fpnorm  # "f_sup, f_gamma_norm, ...: the inputs."
    # Sphinx roles are cross-links ("Result of :func:`grid_fft`."), and no raw role reaches the search index
    assert re.search(
        r'<a class="autorefs[^"]*"[^>]* href="#fpjax\.spectrum\.grid_fft"><code>grid_fft</code></a>', spectrum
    )
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    raw = [d["location"] for d in index["docs"] if re.search(r":(?:func|class|mod|meth|attr|data|obj|exc):", d["text"])]
    assert not raw, f"Sphinx roles in the search index: {raw[:10]}"
    # a docstring citing docs/conventions.md links to that page
    assert re.search(r'<a href="\.\./conventions\.html"><code>docs/conventions\.md</code></a>', spectrum)


@pytest.mark.slow
def test_display_formulas_are_wrapping_blocks(site):
    theory = (site / "theory.html").read_text(encoding="utf-8")
    formulas = re.findall(r'<div class="arithmatex">(.*?)</div>', theory, flags=re.DOTALL)
    assert len(formulas) >= 3 and all(f == f.strip() and "∂" in theory for f in formulas)
    assert "<pre><code>∂_t" not in theory  # no longer a code block with a scrollbar
    css = (site / "stylesheets" / "fpjax.css").read_text(encoding="utf-8")
    assert "white-space: pre-wrap" in css and "overflow-wrap: anywhere" in css
    assert "stylesheets/fpjax.css" in theory
