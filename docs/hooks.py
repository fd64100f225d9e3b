"""MkDocs hook: pages generated from the package at build time (nothing generated is committed).

* ``api/<module>.md``: one API page per public module, found by walking ``fpjax/`` (every module or
  package whose dotted name has no part starting with ``_``, except the command-line entry point),
  each rendered by mkdocstrings from the docstrings;
* ``experiments.md``: the experiment catalogue, from the experiment registry (``fpjax.experiment``
  when it exists, else the runner's ``list_experiments``/``get_experiment``), with the verdicts and
  figures of the committed quick run under ``docs/quick-runs/<name>/`` where there is one;
* ``notebooks/*.ipynb``: the notebooks of ``notebooks/`` (stored with their outputs), rendered by
  mkdocs-jupyter, and ``notebooks/index.md`` listing them.

The nav of ``mkdocs.yml`` gets its "API reference" and "Notebooks" sections filled in here, and a nav
entry whose page neither exists nor is generated is dropped (pages written by others may come and go).
"""

from __future__ import annotations

import ast
import json
import logging
import re
import sys
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fpjax"
NOTEBOOKS = ROOT / "notebooks"
DOCS = ROOT / "docs"
RESULTS = DOCS / "quick-runs"
EXCLUDED_MODULES = {"fpjax.cli"}  # the `fpjax` command, documented on the home page

log = logging.getLogger("mkdocs.hooks.fpjax")


# ------------------------------------------------------------------------------------------------
# discovery (static: nothing is imported to list modules)
# ------------------------------------------------------------------------------------------------


def public_modules(package: Path = PACKAGE) -> list[str]:
    """Dotted names of the public modules of ``package``, sorted, the package itself first."""
    names = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts):
            continue
        name = ".".join(parts)
        if name not in EXCLUDED_MODULES:
            names.append(name)
    return sorted(names, key=lambda n: (n != package.name, n))


def module_all(name: str, package_root: Path = ROOT) -> list[str] | None:
    """The literal ``__all__`` of a module, read from its source (``None`` when it has none)."""
    path = package_root.joinpath(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else ([node.target] if isinstance(node, ast.AnnAssign) else [])
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return None
            return [str(v) for v in value]
    return None


def module_summary(name: str) -> str:
    path = ROOT.joinpath(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return clean(doc.strip().split("\n\n")[0].replace("\n", " "))


_INTERNAL_REF = re.compile(r"\s*\(?\bSPEC\s*§[\d.,\s§-]*\)?")


def clean(text: str) -> str:
    """Drop references to planning documents outside the repository from generated text."""
    return _INTERNAL_REF.sub("", text)


def _source_path(name: str) -> Path:
    path = ROOT.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _lazy(name: str) -> bool:
    """Whether the module resolves its public names in a module-level ``__getattr__`` (lazy imports)."""
    tree = ast.parse(_source_path(name).read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body)


def api_page(name: str) -> str:
    subpackage = (ROOT.joinpath(*name.split(".")) / "__init__.py").exists()
    options = ["      show_root_heading: false", "      show_submodules: false"]
    names = module_all(name) or []
    own = [n for n in names if f"{name}.{n}" not in public_modules()]
    if subpackage and not own:  # a package of submodules: list them; each has its own page
        options.append("      members: false")
    lazy = bool(own) and _lazy(name)
    if lazy:  # names imported on first access (module __getattr__): griffe cannot see
        options.append("      members: false")  # them, so each is rendered from where it is defined
    lines = [f"# `{name}`", "", f"::: {name}", "    options:", *options, ""]
    if lazy:
        import importlib

        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        mod = importlib.import_module(name)
        for n in own:
            obj = getattr(mod, n)
            where = getattr(obj, "__module__", None)
            if where is None or not hasattr(obj, "__qualname__"):
                continue
            # an autorefs anchor under the public path, then the object from its defining module
            lines += [
                f"[](){{#{name}.{n}}}",
                "",
                f"::: {where}.{obj.__qualname__}",
                "    options:",
                "      show_root_heading: true",
                "      show_root_full_path: false",
                "",
            ]
    if subpackage:
        subs = [m for m in public_modules() if m.startswith(name + ".") and m.count(".") == name.count(".") + 1]
        if subs:
            lines += ["## Submodules", ""] + [f"* [`{m}`]({m}.md): {module_summary(m)}" for m in subs] + [""]
    return "\n".join(lines)


def api_index(modules: list[str]) -> str:
    rows = "\n".join(f"| [`{m}`]({m}.md) | {module_summary(m)} |" for m in modules)
    return (
        "# API reference\n\nOne page per public module, generated from the docstrings. The private "
        "implementation lives in `fpjax._src` and is not part of the API.\n\n"
        "| module | summary |\n|---|---|\n" + rows + "\n"
    )


def notebook_titles() -> list[tuple[str, str]]:
    """``(file name, title)`` of every stored notebook, sorted by name."""
    out = []
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
        title = nb.stem
        try:
            cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
            for c in cells:
                if c["cell_type"] == "markdown":
                    src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                    m = re.search(r"^#\s+(.+)$", src, re.MULTILINE)
                    if m:
                        title = m.group(1).strip()
                        break
        except (OSError, ValueError, KeyError):
            pass
        out.append((nb.name, title))
    return out


def notebooks_index(items: list[tuple[str, str]]) -> str:
    lines = [
        "# Notebooks",
        "",
        "Each notebook is kept as a reviewable [jupytext](https://jupytext.readthedocs.io) percent-format",
        "script `notebooks/NAME.py` paired with `notebooks/NAME.ipynb`, which is stored with its outputs;",
        "the pages below render those stored outputs (nothing is executed when the site is built).",
        "Refresh the outputs of every notebook after editing a script with",
        "",
        "```bash",
        "uv run --frozen python notebooks/refresh.py            # or: notebooks/refresh.py NAME.py",
        "```",
        "",
        "and the tests (`tests/test_notebooks.py`) execute every notebook again.",
        "",
    ]
    lines += [f"* [{title}]({name})" for name, title in items]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# experiment catalogue
# ------------------------------------------------------------------------------------------------


def _registry():
    """``[(name, module-or-object)]`` from whichever experiment registry exists."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:  # the public framework, when present
        import fpjax.experiment as fe

        lister = getattr(fe, "list_experiments", None)
        getter = getattr(fe, "get_experiment", None)
        if lister is not None and getter is not None:
            return [(n, getter(n)) for n in lister()]
    except ImportError:
        pass
    from fpjax._src import runner

    return [(n, runner.get_experiment(n)) for n in runner.list_experiments()]


def _field(exp, *names, default=None):
    for n in names:
        for obj in (exp, getattr(exp, "EXPERIMENT", None), getattr(exp, "spec", None)):
            if obj is None:
                continue
            v = obj.get(n) if isinstance(obj, dict) else getattr(obj, n, None)
            if v is None:
                v = getattr(obj, n.upper(), None) if not isinstance(obj, dict) else obj.get(n.upper())
            if v is not None:
                return v
    return default


_ARXIV = re.compile(r"arXiv[:\s]*(\d{4}\.\d{4,5})", re.IGNORECASE)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s,;)]+)")


def _source(exp) -> str:
    src = _field(exp, "source", "sources", "paper", "papers", "reference", "references")
    if src:
        if isinstance(src, (list, tuple)):
            src = "; ".join(map(str, src))
        return clean(str(src))
    doc = getattr(exp, "__doc__", None) or ""
    ids = sorted(set(_ARXIV.findall(doc)))
    dois = sorted(set(_DOI.findall(doc)))
    if ids or dois:
        return ", ".join([f"arXiv:{i}" for i in ids] + [f"doi:{d}" for d in dois])
    first = doc.strip().split("\n")[0] if doc else ""
    return clean(first.split(":", 1)[1].strip()) if ":" in first else clean(first)


def _settings_table(quick: dict, full: dict) -> str:
    keys = list(dict.fromkeys([*quick, *full]))
    if not keys:
        return ""

    def fmt(v):
        s = json.dumps(v, default=str)
        return (s if len(s) <= 80 else s[:77] + "…").replace("|", "\\|")

    rows = [
        f"| `{k}` | `{fmt(quick.get(k, '—'))}` | `{fmt(full.get(k, '—'))}` |"
        if full.get(k, quick.get(k)) != quick.get(k)
        else f"| `{k}` | `{fmt(quick.get(k, '—'))}` | same |"
        for k in keys
    ]
    return "| setting | quick | full |\n|---|---|---|\n" + "\n".join(rows)


def _committed_run(name: str, captions: dict | None = None) -> str:
    d = RESULTS / name
    mfile = d / "metrics.json"
    if not mfile.exists():
        return (
            "*No committed quick run.* Run it with `uv run --frozen fpjax run "
            + name
            + " --quick` and open `results/index.html`."
        )
    metrics = json.loads(mfile.read_text(encoding="utf-8"))
    cfg = {}
    if (d / "config.json").exists():
        cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
    plat = cfg.get("platform", {})
    lines = [
        (
            f"Committed quick run (`docs/quick-runs/{name}/`): started {cfg.get('started', '?')}, "
            f"jax {plat.get('jax', '?')} on {plat.get('backend', '?')}, runtime {metrics.get('runtime_s', '?')} s."
        ),
        "",
        "| claim | verdict |",
        "|---|---|",
    ]
    for c in metrics.get("claims", []):
        held = c.get("held")
        verdict = "**held**" if held is True else ("**did not hold**" if held is False else str(held))
        lines.append(f"| {clean(str(c.get('claim', ''))).replace('|', '/')} | {verdict} |")
    lines.append("")
    for png in sorted(d.glob("*.png")):
        caption = clean(str((captions or {}).get(png.name) or png.stem))
        lines += [f"![{png.stem}](quick-runs/{name}/{png.name})", "", f"*{caption}*", ""]
    return "\n".join(lines)


def catalogue() -> str:
    head = [
        "# Experiment catalogue",
        "",
        "Every experiment of `experiments/`, generated from the experiment registry when the site is built:",
        "its claim, the source it reproduces, its quick (CPU minutes) and full (paper scale, GPU) settings,",
        "and the verdicts and figures of a committed quick run where there is one. Run one with",
        "`uv run --frozen fpjax run NAME --quick` (or `--full`); see "
        "[reproduce an experiment on a GPU](howto/gpu.md) and [read the results report](howto/results-report.md)."
        + (
            " To write one, see [add your own experiment](howto/add-experiment.md)."
            if (DOCS / "howto" / "add-experiment.md").exists()
            else ""
        ),
        "",
    ]
    try:
        entries = _registry()
    except Exception as exc:  # noqa: BLE001 - the catalogue must say why it is empty, not break the site
        log.warning("experiment registry could not be loaded: %r", exc)
        return "\n".join(head + [f"The registry could not be loaded: `{exc!r}`."])
    head += ["| experiment | description |", "|---|---|"]
    head += [
        f"| [`{n}`](#{n}) | {clean(str(_field(e, 'description', default=''))).replace('|', '/')} |" for n, e in entries
    ]
    body = []
    for name, exp in entries:
        quick = dict(_field(exp, "quick", default={}) or {})
        full = dict(_field(exp, "full", default={}) or {})
        body += [
            f"## `{name}` {{#{name}}}",
            "",
            clean(str(_field(exp, "description", default=""))),
            "",
            f"**Claim.** {clean(str(_field(exp, 'claim', default='—')))}",
            "",
            f"**Source.** {_source(exp)}",
            "",
            _settings_table(quick, full),
            "",
            _committed_run(name, dict(_field(exp, "figures", default={}) or {})),
            "",
        ]
    return "\n".join(head + [""] + body)


# ------------------------------------------------------------------------------------------------
# griffe: an "Attributes:" section documents the members once
# ------------------------------------------------------------------------------------------------

import griffe  # noqa: E402 - with mkdocstrings; used by the extension below only


def drop_section(text: str, title: str) -> str:
    """``text`` without its Google-style section ``title:`` (the header line and its indented block)."""
    lines, out, indent = text.splitlines(), [], None
    for line in lines:
        if indent is None and line.strip() == f"{title}:":
            indent = len(line) - len(line.lstrip())
            continue
        if indent is not None:
            if not line.strip() or len(line) - len(line.lstrip()) > indent:
                continue
            indent = None
        out.append(line)
    return "\n".join(out).rstrip()


class AttributesToMembers(griffe.Extension):
    """Move each item of a class's ``Attributes:`` section into the docstring of that member.

    A NamedTuple or dataclass documents its fields in ``Attributes:``; mkdocstrings renders that
    section and, again, every field as a member. Here each described field gets its description as
    its own docstring and the section is dropped, so each field appears once (with its anchor).
    """

    def on_class(self, *, cls, **kwargs) -> None:
        if cls.docstring is None or "Attributes:" not in cls.docstring.value:
            return
        sections = cls.docstring.parse("google", warn_unknown_params=False, warn_missing_types=False)
        items = []
        for a in (a for sec in sections if sec.kind.value == "attributes" for a in sec.value):
            if not a.name.endswith(","):
                items.append((a.name, a.description))
                continue
            # "a, b, c: the inputs." describes several fields at once (the parser keeps "a," only)
            m = re.search(rf"^\s*({re.escape(a.name)}[\w\s,]*?):\s*(.*)$", cls.docstring.value, re.MULTILINE)
            if m is None:
                return
            items += [(n.strip(), m.group(2)) for n in m.group(1).split(",")]
        if not items or any(n not in cls.members or cls.members[n].is_alias for n, _ in items):
            return  # something described is not a plain member: keep the section as written
        for name, description in items:
            member = cls.members[name]
            if member.docstring is None or not member.docstring.value.strip():
                member.docstring = griffe.Docstring(description, parent=member)
        cls.docstring = griffe.Docstring(drop_section(cls.docstring.value, "Attributes"), parent=cls)


# ------------------------------------------------------------------------------------------------
# mkdocs events
# ------------------------------------------------------------------------------------------------


def _generated_uris() -> set[str]:
    uris = {"api/index.md", "experiments.md", "notebooks/index.md"}
    uris |= {f"api/{m}.md" for m in public_modules()}
    uris |= {f"notebooks/{n}" for n, _ in notebook_titles()}
    return uris


def _filter_nav(nav, available: set[str]):
    out = []
    for item in nav:
        if isinstance(item, str):
            if item in available or "://" in item:
                out.append(item)
            continue
        ((title, value),) = item.items()
        if isinstance(value, list):
            value = _filter_nav(value, available)
            if value:
                out.append({title: value})
        elif value in available or "://" in str(value):
            out.append({title: value})
        else:
            log.info("nav entry %r dropped: %s does not exist", title, value)
    return out


# The site's own style sheet, generated (nothing generated is committed).
STYLESHEET = "stylesheets/fpjax.css"
CSS = """\
/* Display formulas ($$ blocks, Unicode): centred serif text that wraps instead of scrolling. */
.md-typeset div.arithmatex {
  font-family: "STIX Two Math", "Cambria Math", "Latin Modern Math", "DejaVu Serif", serif;
  font-size: 1.05em;
  text-align: center;
  white-space: pre-wrap;
  overflow-wrap: anywhere;
  margin: 1em 0;
}
"""


def on_config(config, **kwargs):
    if STYLESHEET not in config["extra_css"]:
        config["extra_css"].append(STYLESHEET)
    modules = public_modules()
    api = [{"Overview": "api/index.md"}] + [{m: f"api/{m}.md"} for m in modules]
    nbs = [{"Overview": "notebooks/index.md"}] + [{t: f"notebooks/{n}"} for n, t in notebook_titles()]
    nav = []
    for item in config["nav"] or []:
        ((title, value),) = item.items() if isinstance(item, dict) and len(item) == 1 else ((None, item),)
        if value == "api/index.md":
            nav.append({title: api})
        elif value == "notebooks/index.md":
            nav.append({title: nbs})
        else:
            nav.append(item)
    existing = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*") if p.is_file()}
    config["nav"] = _filter_nav(nav, existing | _generated_uris())
    return config


@event_priority(100)  # before mkdocs-jupyter wraps the notebook files
def on_files(files: Files, config, **kwargs):
    modules = public_modules()
    generated = {
        "api/index.md": api_index(modules),
        "experiments.md": catalogue(),
        "notebooks/index.md": notebooks_index(notebook_titles()),
        STYLESHEET: CSS,
    }
    generated.update({f"api/{m}.md": api_page(m) for m in modules})
    for uri, content in generated.items():
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, content=content))
    for name, _ in notebook_titles():
        files.append(
            File(
                f"notebooks/{name}",
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


# nbconvert's templates load MathJax and mermaid from a CDN; the site is offline and the notebooks'
# formulas are Unicode, so both loaders are removed from the rendered notebook pages. mkdocs-jupyter
# 0.27 (the lock's version on Python >= 3.12) instead appends its own MathJax loader, pointing at a
# CDN, to every page; its `mathjax_version` option does not exist in 0.26 (Python 3.11), so the
# loader is removed here too.
_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL)
_MATHJAX_LOADER = re.compile(r"<script data-mkdocs-jupyter-mathjax=.*?</script>\n?", re.DOTALL)
_MERMAID = re.compile(
    r"<script type=\"module\">\s*document\.addEventListener\(\"DOMContentLoaded\", async \(\) => \{"
    r"\s*const diagrams = document\.querySelectorAll\(\"\.jp-Mermaid.*?</script>",
    re.DOTALL,
)


# Docstrings name objects with Sphinx roles (:func:`name`), which Markdown renders as the text
# ":func:" before a code span. Each becomes an autorefs cross-reference (resolved, or left as code
# when nothing of that name is documented) before the search index reads the page.
_ROLE_HTML = re.compile(r":(?:func|class|mod|meth|attr|data|obj|exc):<code>~?([\w.]+)</code>")
_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|obj|exc):(<code>)")
# Module docstrings cite documentation pages by their path in the repository: ``docs/conventions.md``.
_DOC_PATH = re.compile(r"<code>docs/([\w./-]+\.md)</code>")


def _page_module(page) -> str | None:
    uri = page.file.src_uri
    return uri[len("api/") : -len(".md")] if uri.startswith("api/") and uri != "api/index.md" else None


def roles_to_crossrefs(html: str, module: str | None) -> str:
    """``:func:<code>name</code>`` → an optional autorefs link to ``name``, tried in ``module`` first."""

    def link(m: re.Match) -> str:
        name = m.group(1)
        shown = f"<code>{name}</code>"
        if name.startswith("fpjax.") or module is None:
            return f'<autoref identifier="{name}" optional>{shown}</autoref>'
        return f'<autoref identifier="{module}.{name}" slug="{name}" optional>{shown}</autoref>'

    return _ROLE_HTML.sub(link, html)


def doc_paths_to_links(html: str, page, files: Files) -> str:
    """``<code>docs/PAGE.md</code>`` → a link to that page of the site (where it exists)."""
    from mkdocs.utils import get_relative_url

    def link(m: re.Match) -> str:
        target = files.get_file_from_path(m.group(1))
        if target is None or not target.is_documentation_page():
            return m.group(0)
        return f'<a href="{get_relative_url(target.url, page.url)}">{m.group(0)}</a>'

    return _DOC_PATH.sub(link, html)


_FORMULA = re.compile(r'(<div class="arithmatex">)\s*(.*?)\s*(</div>)', re.DOTALL)


def on_page_content(html: str, page, config, files: Files, **kwargs):
    html = _FORMULA.sub(r"\1\2\3", html)  # the style keeps line breaks: none before or after a formula
    return doc_paths_to_links(roles_to_crossrefs(html, _page_module(page)), page, files)


def on_post_page(output: str, page, config, **kwargs):
    output = _MATHJAX_LOADER.sub("", output)
    if page.file.src_uri.endswith(".ipynb"):
        output = _MERMAID.sub("", _MATHJAX.sub("", output))
    if page.file.src_uri.startswith("api/"):
        output = _ROLE.sub(r"\1", output)  # a role around something other than a name
    return output
