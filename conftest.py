"""The code of ``README.md`` and ``docs/**/*.md`` runs as tests (sybil).

Every fenced code block of those pages is an example that pytest collects (``testpaths`` include
``README.md`` and ``docs``; run them alone with ``pytest README.md docs``):

* ```` ```python ```` blocks run in the order of their page, the page's earlier blocks as context
  (one namespace per page), in a fresh temporary working directory per page (checkpoints and
  results land there). A block starting with ``>>>`` is a doctest: what it shows is compared with
  what it prints (``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``).
* ```` ```bash ```` blocks: every command ``fpjax ...``, ``uv run [--frozen] fpjax ...`` or
  ``python -m fpjax ...`` runs (the ``fpjax`` of this interpreter, in the page's directory) and must
  exit with 0; every other command must be marked as not run, with the reason.
* A ```` ```text ```` block marked ``output`` is compared with what the block or command just before
  it printed (doctest rules: ``...`` matches anything, whitespace is normalised).

Directives are HTML comments (invisible on the site) directly above a block, several allowed:

``<!-- docs-test: skip REASON -->``
    the block is not run; pytest reports it as skipped with REASON (too slow, needs a GPU or a cluster).
``<!-- docs-test: skip-command GLOB | REASON -->``
    in a shell block, the commands matching GLOB (``fnmatch``, ``uv run [--frozen]`` removed) are
    reported as skipped with REASON; the others run.
``<!-- docs-test: illustrative REASON -->``
    the block is an illustration, not meant to run; at most ``MAX_ILLUSTRATIVE`` on all pages
    (``tests/test_markdown_docs.py`` holds the count).
``<!-- docs-test: small OLD => NEW -->``
    the small setting: with ``FPJAX_DOCS_SMALL=1`` (the default under pytest) the text OLD, which
    must occur exactly once in the block, is replaced by NEW before the block runs, so the page can
    show realistic sizes (``steps=2000``, 64 seeds) and the suite stays fast. ``FPJAX_DOCS_SMALL=0``
    runs every block exactly as written.
``<!-- docs-test: script NAME -->``
    the Python block is a script: written to NAME in the page's directory and run with this
    interpreter as ``python NAME`` (exit status 0 required), not in the page's namespace.
``<!-- docs-test: output -->``
    (above a ``text`` block) the expected output of the block or command before it.
``<!-- docs-test: prints TEXT -->``
    a line of what the block below prints matches TEXT (doctest rules; other lines, e.g. a
    library's log, are ignored), for a page that does not show the output.

At the end of a run that executed Markdown examples, the terminal summary lists per page how many
blocks ran, passed and were skipped.
"""

from __future__ import annotations

import contextlib
import doctest
import fnmatch
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sybil import Document, Region, Sybil
from sybil.evaluators.doctest import DocTestEvaluator
from sybil.parsers.abstract.doctest import DocTestStringParser
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer
from xdist.scheduler import LoadGroupScheduling

ROOT = Path(__file__).resolve().parent
# As in tests/conftest.py: headless figures, one OpenBLAS thread per process (set before numpy loads).
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

CLASSIC_EMITTERS = "--xla_cpu_use_fusion_emitters=false"


def _xla_flags_default() -> str:
    """XLA_FLAGS for the test processes: XLA:CPU's classic LLVM IR emitters where this XLA has them.

    The fusion emitters (the MLIR code generator, XLA:CPU's default since 2025) took about a third
    longer to compile, and the tests compile thousands of small programs: two unit modules ran in
    33 s instead of 50 without them, the fast subset in 412 instead of 670 CPU-s. Both generate the
    same operations; every tolerance comes from the mathematics and holds with either. jaxlib 0.12
    no longer has the flag, and an unknown flag aborts the process, so a child process tries it
    first (about a second, once per run: the xdist workers inherit the result).
    """
    probe = [sys.executable, "-c", "import jax; jax.devices()"]
    ok = subprocess.run(probe, env={**os.environ, "XLA_FLAGS": CLASSIC_EMITTERS}, capture_output=True, timeout=300)
    return CLASSIC_EMITTERS if ok.returncode == 0 else ""


# Set before any backend starts (XLA reads the flags once per process); the `fpjax` processes the
# tests start inherit it. A user's own XLA_FLAGS are kept as they are.
if "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = _xla_flags_default()

SMALL = os.environ.get("FPJAX_DOCS_SMALL", "1") != "0"
MAX_ILLUSTRATIVE = 5
COMMAND_TIMEOUT_S = 300
PYTHON_LANGUAGES = {"python", "py"}
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

collect_ignore = ["docs/hooks.py", "site"]


def is_doc_page(path: Path) -> bool:
    """``README.md`` and the Markdown under ``docs/`` of this checkout (no other Markdown file)."""
    path = Path(path).resolve()
    if path.suffix != ".md":
        return False
    return path == ROOT / "README.md" or (ROOT / "docs") in path.parents


# ------------------------------------------------------------------------------------------------
# directives
# ------------------------------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<body>.*?)\s*-->", re.DOTALL)
_TRAILING_DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<body>(?:(?!-->).)*?)\s*-->\s*\Z", re.DOTALL)
_KINDS = ("skip-command", "skip", "illustrative", "small", "script", "output", "prints")


@dataclass
class Directives:
    skip: str | None = None
    illustrative: str | None = None
    script: str | None = None
    output: bool = False
    prints: str | None = None
    small: list[tuple[str, str]] = field(default_factory=list)
    skip_commands: list[tuple[str, str]] = field(default_factory=list)


def parse_directive(body: str, where: str) -> tuple[str, str]:
    body = " ".join(body.split())
    for kind in _KINDS:
        if body == kind or body.startswith(kind + " "):
            return kind, body[len(kind) :].strip()
    raise ValueError(f"{where}: unknown docs-test directive {body!r} (known: {', '.join(_KINDS)})")


def directives_before(text: str, start: int, where: str) -> Directives:
    """The ``docs-test`` comments directly above position ``start`` (only whitespace between)."""
    found = []
    head = text[:start]
    while m := _TRAILING_DIRECTIVE.search(head):
        found.append(parse_directive(m.group("body"), where))
        head = head[: m.start()]
    d = Directives()
    for kind, arg in reversed(found):
        if kind in ("skip", "illustrative") and not arg:
            raise ValueError(f"{where}: `docs-test: {kind}` needs a reason")
        if kind == "skip":
            d.skip = arg
        elif kind == "illustrative":
            d.illustrative = arg
        elif kind == "script":
            if not re.fullmatch(r"[\w.-]+\.py", arg):
                raise ValueError(f"{where}: `docs-test: script` needs a file name NAME.py, got {arg!r}")
            d.script = arg
        elif kind == "output":
            d.output = True
        elif kind == "prints":
            if not arg:
                raise ValueError(f"{where}: `docs-test: prints` needs the text printed")
            d.prints = arg
        elif kind == "small":
            old, sep, new = arg.partition(" => ")
            if not sep or not old:
                raise ValueError(f"{where}: `docs-test: small` reads `OLD => NEW`, got {arg!r}")
            d.small.append((old, new))
        elif kind == "skip-command":
            pattern, sep, reason = (s.strip() for s in arg.partition("|"))
            if not sep or not pattern or not reason:
                raise ValueError(f"{where}: `docs-test: skip-command` reads `GLOB | REASON`, got {arg!r}")
            d.skip_commands.append((pattern, reason))
    return d


# ------------------------------------------------------------------------------------------------
# what a block is
# ------------------------------------------------------------------------------------------------


@dataclass
class Block:
    """One example: a Python block, a doctest part, one shell command, or an expected output."""

    kind: str  # "python", "doctest", "command", "output", "not-run"
    page: str
    line: int
    source: str = ""
    directives: Directives = field(default_factory=Directives)
    reason: str | None = None  # why it does not run ("not-run")
    label: str = ""  # "skip" or "illustrative" for "not-run"
    run: str = ""  # a command as it runs (the small setting applied)


def page_name(path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.name


_FPJAX_PREFIXES = (["fpjax"], ["python", "-m", "fpjax"], ["python3", "-m", "fpjax"])


def fpjax_argv(command: str) -> list[str] | None:
    """The arguments of an ``fpjax`` command line (``uv run [--frozen]`` removed), else ``None``."""
    try:
        argv = shlex.split(command, comments=True)
    except ValueError:
        return None
    if argv[:2] == ["uv", "run"]:
        argv = argv[2:]
        while argv and argv[0] in ("--frozen", "--locked", "--no-sync"):
            argv = argv[1:]
    for prefix in _FPJAX_PREFIXES:
        if argv[: len(prefix)] == prefix:
            rest = argv[len(prefix) :]
            if any(tok in ("&&", "||", "|", ";", ">", "<") for tok in rest):
                return None
            return rest
    return None


def normalise_command(command: str) -> str:
    """The command with comments dropped and a leading ``uv run [--frozen]`` removed (for globs)."""
    text = command.split(" #", 1)[0].strip()
    text = re.sub(r"^uv run(?: --(?:frozen|locked|no-sync))*\s+", "", text)
    return " ".join(text.split())


def shell_commands(source: str) -> list[tuple[int, str]]:
    """``(line offset, command)`` of a shell block: comment lines dropped, ``\\`` continuations joined."""
    out, pending, first = [], "", 0
    for i, line in enumerate(source.splitlines()):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("$ "):
            stripped = stripped[2:]
        if not pending:
            first = i
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        out.append((first, pending + stripped))
        pending = ""
    if pending:
        out.append((first, pending))
    return out


# ------------------------------------------------------------------------------------------------
# the parser
# ------------------------------------------------------------------------------------------------


class MarkdownBlocksParser:
    """Every fenced block of a page as sybil regions (see the module docstring)."""

    def __init__(self):
        self.lexer = FencedCodeBlockLexer(language=r"[^\n]*", mapping={"language": "info", "source": "source"})
        self.doctests = DocTestStringParser(DocTestEvaluator(DOCTEST_FLAGS))

    def __call__(self, document: Document):
        page = page_name(document.path)
        for region in self.lexer(document):
            info = region.lexemes["info"].strip()
            language = info.split()[0].lower() if info else ""
            source = region.lexemes["source"]
            line = document.text.count("\n", 0, region.start) + 1
            where = f"{page}:{line}"
            d = directives_before(document.text, region.start, where)
            if language in PYTHON_LANGUAGES:
                yield from self._python(document, region, source, d, page, line)
            elif language in SHELL_LANGUAGES:
                yield from self._shell(region, source, d, page, line)
            elif d.output:
                if d.skip or d.illustrative:
                    raise ValueError(f"{where}: an output block is checked or not there")
                region.parsed = Block("output", page, line, source, d)
                region.evaluator = evaluate
                yield region
            elif d.skip or d.illustrative or d.small or d.script or d.skip_commands:
                raise ValueError(f"{where}: docs-test directive above a {language or 'plain'} block, which never runs")

    def _not_run(self, region, d, page, line, source=""):
        label = "illustrative" if d.illustrative else "skip"
        region.parsed = Block("not-run", page, line, source, d, reason=d.illustrative or d.skip, label=label)
        region.evaluator = evaluate
        return region

    def _python(self, document, region, source, d, page, line):
        where = f"{page}:{line}"
        if d.skip_commands:
            raise ValueError(f"{where}: `skip-command` is for shell blocks")
        if d.skip or d.illustrative:
            yield self._not_run(region, d, page, line, source)
        elif source.lstrip().startswith(">>>"):
            if d.small or d.script or d.prints:
                raise ValueError(f"{where}: `small`, `script` and `prints` are for plain Python blocks, not doctests")
            for r in self.doctests(source, document.path):
                r.adjust(region, source)
                yield r
        else:
            region.parsed = Block("python", page, line, source, d)
            region.evaluator = evaluate
            yield region

    def _shell(self, region, source, d, page, line):
        where = f"{page}:{line}"
        if d.script:
            raise ValueError(f"{where}: `script` is for Python blocks")
        if d.skip or d.illustrative:
            yield self._not_run(region, d, page, line, source)
            return
        lines = source.splitlines(keepends=True)
        if d.prints and len(shell_commands(source)) != 1:
            raise ValueError(f"{where}: `docs-test: prints` above a shell block of more than one command")
        offset0 = region.lexemes["source"].offset
        small = apply_small(Block("command", page, line, source, d)).splitlines()
        for i, command in shell_commands(source):
            start = region.start + offset0 + sum(len(s) for s in lines[:i])
            run = shell_commands("\n".join(small[i:]))[0][1]  # the same command, in the small setting
            block = Block("command", page, line + 1 + i, command, d, run=run)
            yield Region(start, start + len(lines[i]), block, evaluate)


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------

_LAST_OUTPUT = "__docs_test_last_output__"


def apply_small(block: Block) -> str:
    source = block.source
    if not block.directives.small:
        return source
    for old, new in block.directives.small:
        n = source.count(old)
        if n != 1:
            raise ValueError(
                f"{block.page}:{block.line}: `docs-test: small {old} => {new}`: {old!r} occurs {n} times in "
                "the block below (it must occur exactly once); update the directive with the block"
            )
        if SMALL:
            source = source.replace(old, new)
    return source


def _fpjax_executable() -> list[str]:
    exe = Path(sys.executable).with_name("fpjax")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "fpjax"]


def _run(argv: list[str], block: Block) -> str:
    res = subprocess.run(
        argv,
        cwd=os.getcwd(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
        env=os.environ | {"MPLBACKEND": "Agg"},
    )
    if res.returncode != 0:
        raise AssertionError(
            f"{block.page}:{block.line}: `{block.run or block.source}` exited with {res.returncode}\n"
            f"--- stdout ---\n{res.stdout[-3000:]}\n--- stderr ---\n{res.stderr[-3000:]}"
        )
    return res.stdout


def check_output(block: Block, want: str, got: str) -> None:
    """``got`` matches ``want`` under doctest's rules (``...`` matches anything, whitespace normalised)."""
    __tracebackhide__ = True
    want = want if want.endswith("\n") else want + "\n"
    checker = doctest.OutputChecker()
    if not checker.check_output(want, got, DOCTEST_FLAGS):
        raise AssertionError(
            f"{block.page}:{block.line}: the output shown differs from what ran:\n"
            + checker.output_difference(doctest.Example("", want), got, DOCTEST_FLAGS)
        )


def check_prints(block: Block, got: str) -> None:
    """Some line of ``got`` matches the block's ``prints`` text (doctest rules)."""
    __tracebackhide__ = True
    want = block.directives.prints
    if want is None:
        return
    checker = doctest.OutputChecker()
    if not any(checker.check_output(want + "\n", line + "\n", DOCTEST_FLAGS) for line in got.splitlines()):
        raise AssertionError(f"{block.page}:{block.line}: no line printed matches {want!r}; printed:\n{got[-3000:]}")


def _skip(reason: str):
    raise pytest.skip.Exception(reason)


def evaluate(example) -> None:
    __tracebackhide__ = True
    block: Block = example.parsed
    ns = example.namespace
    if block.kind == "not-run":
        _skip(f"{block.label}: {block.reason}")
    if block.kind == "output":
        got = ns.get(_LAST_OUTPUT)
        if got is None:
            raise AssertionError(f"{block.page}:{block.line}: an output block with no run block or command before it")
        check_output(block, block.source, got)
        return
    if block.kind == "command":
        for pattern, reason in block.directives.skip_commands:
            if fnmatch.fnmatchcase(normalise_command(block.source), pattern):
                _skip(f"skip-command: {reason}")
        argv = fpjax_argv(block.run or block.source)
        if argv is None:
            raise AssertionError(
                f"{block.page}:{block.line}: `{block.source}` is not an `fpjax` command; run it by hand and mark it "
                "with `<!-- docs-test: skip-command GLOB | REASON -->` (or the block with `docs-test: skip REASON`)"
            )
        ns[_LAST_OUTPUT] = _run(_fpjax_executable() + argv, block)
        check_prints(block, ns[_LAST_OUTPUT])
        return
    source = apply_small(block)
    if block.directives.script:
        path = Path(os.getcwd()) / block.directives.script
        path.write_text(source, encoding="utf-8")
        ns[_LAST_OUTPUT] = _run([sys.executable, path.name], block)
        check_prints(block, ns[_LAST_OUTPUT])
        return
    code = compile("\n" * block.line + source, example.path, "exec", dont_inherit=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, ns)
    ns.pop("__builtins__", None)
    ns[_LAST_OUTPUT] = out.getvalue()
    sys.stdout.write(out.getvalue())
    check_prints(block, out.getvalue())


# ------------------------------------------------------------------------------------------------
# pytest integration: a fresh working directory per page
# ------------------------------------------------------------------------------------------------

_CWD = "__docs_test_cwd__"


def _setup(namespace: dict) -> None:
    tmp = tempfile.mkdtemp(prefix="fpjax-docs-")
    namespace[_CWD] = (os.getcwd(), tmp)
    os.chdir(tmp)


def _teardown(namespace: dict) -> None:
    old, tmp = namespace.pop(_CWD)
    os.chdir(old)
    shutil.rmtree(tmp, ignore_errors=True)


SYBIL = Sybil(parsers=[MarkdownBlocksParser()], patterns=["*.md"], setup=_setup, teardown=_teardown)
_collect = SYBIL.pytest()


def pytest_collect_file(file_path, parent):
    if is_doc_page(file_path):
        return _collect(file_path, parent)
    return None


def pytest_collection_modifyitems(config, items):
    # Commands and scripts start a Python process that imports JAX (seconds to a minute each): `slow`,
    # like the other subprocess tests, and so is an output block checked against one of them.
    last_slow = {}
    for item in items:
        if not (is_doc_page(item.path) and hasattr(item, "example")):
            continue
        page = page_name(item.path)
        block = item.example.parsed
        if not isinstance(block, Block) or block.kind == "not-run":
            continue
        slow = block.kind == "command" or bool(block.directives.script)
        if block.kind == "output":
            slow = last_slow.get(page, False)
        last_slow[page] = slow
        if slow:
            item.add_marker(pytest.mark.slow)


class PageScheduling(LoadGroupScheduling):
    """xdist's ``loadgroup`` distribution in which every docs page is one group.

    A page's examples share a namespace, and a worker given a later example alone first reruns the
    earlier ones (``pytest_runtest_call`` below): on the neural-tangents page, 10 s for a block that
    takes 0.2 s. xdist's own ``loadgroup`` groups the items it renamed ``nodeid@group`` from their
    ``xdist_group`` markers; pytest 9.2 no longer reads the attribute xdist 3.8 renames, so no group
    formed. Here a page's items are grouped by their path; every other item is its own unit (or its
    ``@group``, should xdist's renaming work again), as under ``loadgroup``.
    """

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return path if path.endswith(".md") else super()._split_scope(nodeid)


@pytest.hookimpl(tryfirst=True)  # before xdist's own choice of scheduler
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` (pyproject.toml) schedules with :class:`PageScheduling`."""
    return PageScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None


_RAN = "__docs_test_ran__"


def _runs_in_namespace(example) -> bool:
    """Python blocks and doctests build the page's namespace; commands, scripts, output checks and
    blocks not run do not."""
    block = example.parsed
    if not isinstance(block, Block):
        return True  # a doctest example
    return block.kind == "python" and not block.directives.script


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Run a page's examples as if in page order, whichever worker runs them.

    One page's examples share a namespace. Under ``pytest -n N`` the suite's distribution
    (``loadgroup``, each page one group) keeps a page on one worker; with another distribution the
    examples of a page can be split between worker processes, so before an example runs, the earlier Python
    blocks and doctests of its page that this process has not run yet are run first (their own
    outcome is reported by their own test, wherever it runs).
    """
    example = getattr(item, "example", None)
    if example is None or not is_doc_page(item.path):
        yield
        return
    ran = example.namespace.setdefault(_RAN, set())
    for prior in example.document.examples():
        if prior.region.start >= example.region.start:
            break
        if prior.region.start not in ran and _runs_in_namespace(prior):
            ran.add(prior.region.start)
            with contextlib.suppress(Exception, pytest.skip.Exception):
                prior.evaluate()
    ran.add(example.region.start)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    example = getattr(item, "example", None)
    if example is not None and report.skipped and isinstance(report.longrepr, tuple):
        # `pytest -rs` shows the skip at the line of the block (or command) on its page
        report.longrepr = (str(item.path), example.line, report.longrepr[2])


_RESULTS: dict[str, Counter] = defaultdict(Counter)


def pytest_runtest_logreport(report):
    if ".md::" not in report.nodeid:
        return
    page = report.nodeid.split("::", 1)[0]
    if report.when == "call":
        _RESULTS[page][report.outcome] += 1
    elif report.when == "setup" and report.outcome != "passed":
        _RESULTS[page][report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("Markdown code blocks run (README.md, docs/)")
    tr.write_line(f"{'page':<40} {'passed':>6} {'failed':>6} {'skipped':>7}")
    for page in sorted(_RESULTS):
        c = _RESULTS[page]
        tr.write_line(f"{page:<40} {c['passed']:>6} {c['failed']:>6} {c['skipped']:>7}")
    tr.write_line(f"small setting (FPJAX_DOCS_SMALL): {'on' if SMALL else 'off'}")


# ------------------------------------------------------------------------------------------------
# compiler optimizations per test (every item: tests, doctests of fpjax/, examples of the pages)
# ------------------------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Tests compile without XLA's backend optimizations, except those marked ``xla_optimized``.

    Most tests run each of their programs once or twice on small inputs, so compiling dominates: in
    a profile of two unit modules, XLA compilation took 55 of 82 s. XLA's switch for that trade,
    ``jax_disable_most_optimizations`` (LLVM optimization level 0, no expensive passes), took the
    fast subset from 903 to 663 CPU seconds and the compile-bound slow tests (forward passes of
    real CNNs, dense curvature matrices) from 298 to 198, every test passing. Tests whose programs
    run thousands of steps (the quick experiments, trained networks) got up to 3x slower without
    the optimizations; they carry the ``xla_optimized`` marker and compile as users' programs do.
    The flag is read when a program is compiled; tolerances come from the mathematics and hold at
    either level. Programs the tests start in subprocesses (the command line) keep JAX's default.
    """
    import jax

    jax.config.update("jax_disable_most_optimizations", item.get_closest_marker("xla_optimized") is None)


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session):
    """Collection compiles unoptimized too: test modules build their small inputs and models at import
    (a CNN's variables, tables of good arguments), once per worker, and those programs run once."""
    import jax

    jax.config.update("jax_disable_most_optimizations", True)
