"""The Markdown pages' code runs in the suite: every block is collected, the markers are few and explained.

The root ``conftest.py`` makes every fenced block of ``README.md`` and ``docs/**/*.md`` a pytest item
(sybil). These tests read the same pages with the same parser and check, without running the blocks:

* every ```` ```python ```` block of every page is executed (a plain block, or the examples of a
  doctest block), counted independently of the parser by a plain scan of the fences; the ones that
  are not carry a marker with a reason, and there are at most ``MAX_ILLUSTRATIVE`` of those;
* every command of a shell block is an ``fpjax`` command that runs, or is marked as not run with a reason;

and, on small pages written here, that the harness fails where it must (a broken block, an output that
differs, a stale ``small`` substitution, an unmarked shell command) and applies the small setting.
Run with ``-s`` to see the table of blocks per page.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _harness():
    """The root ``conftest.py`` as a module of its own (pytest's copy is not importable by name)."""
    name = "fpjax_markdown_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "conftest.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)


def fenced_blocks(text: str) -> list[tuple[str, int]]:
    """``(language, line)`` of every fenced block, by a plain scan (independent of sybil's lexer)."""
    return [(m.group(2).lower(), text.count("\n", 0, m.start()) + 1) for m in _FENCE.finditer(text)]


def page_examples(path: Path):
    h = _harness()
    doc = h.SYBIL.parse(path)
    return h, doc, list(doc.examples())


def test_every_python_block_of_every_page_is_executed():
    h = _harness()
    rows, not_run, illustrative, pages_with_python = [], [], [], 0
    for path in doc_pages():
        text = path.read_text(encoding="utf-8")
        python_lines = [line for lang, line in fenced_blocks(text) if lang in h.PYTHON_LANGUAGES]
        _, _, examples = page_examples(path)
        counts = Counter()
        covered = set()  # fence lines of python blocks with at least one example that runs
        for ex in examples:
            block = ex.parsed
            if isinstance(block, h.Block):
                if block.kind == "not-run":
                    counts[f"not run ({block.label})"] += 1
                    (illustrative if block.label == "illustrative" else not_run).append(
                        f"{h.page_name(path)}:{block.line}: {block.reason}"
                    )
                    if block.line in python_lines:
                        not_run.append(f"{h.page_name(path)}:{block.line}: python block not run")
                    continue
                counts[block.kind] += 1
                if block.kind == "python":
                    covered.add(block.line)
            else:  # a doctest example: belongs to the python fence that encloses it
                counts["doctest"] += 1
                covered.add(max(line for line in python_lines if line <= ex.line))
        missing = [line for line in python_lines if line not in covered]
        rows.append((h.page_name(path), len(python_lines), counts))
        pages_with_python += bool(python_lines)
        unmarked = [
            line for line in missing if not any(f"{h.page_name(path)}:{line}:" in s for s in not_run + illustrative)
        ]
        assert not unmarked, f"{h.page_name(path)}: python blocks at lines {unmarked} are not executed"

    print("\nMarkdown code blocks per page (python fences; examples the suite runs):")
    for page, n_python, counts in rows:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no code"
        print(f"  {page:<34} python blocks {n_python:>2}   {detail}")
    assert pages_with_python >= 7, "fewer pages with Python examples than the docs have"
    python_not_run = [s for s in not_run + illustrative if "python" in s]
    assert len(illustrative) <= h.MAX_ILLUSTRATIVE, f"too many illustrative blocks: {illustrative}"
    assert len(python_not_run) <= h.MAX_ILLUSTRATIVE, f"too many python blocks not run: {python_not_run}"


def test_every_shell_command_runs_or_says_why_not():
    h = _harness()
    ran, skipped = [], []
    for path in doc_pages():
        _, _, examples = page_examples(path)
        for ex in examples:
            block = ex.parsed
            if not isinstance(block, h.Block):
                continue
            if block.kind == "not-run":
                assert block.reason and len(block.reason) > 10, f"{block.page}:{block.line}: no reason given"
                continue
            if block.kind != "command":
                continue
            reasons = [
                r
                for pat, r in block.directives.skip_commands
                if fnmatch.fnmatchcase(h.normalise_command(block.source), pat)
            ]
            if reasons:
                skipped.append(f"{block.page}:{block.line}")
                assert len(reasons[0]) > 10, f"{block.page}:{block.line}: no reason given"
            else:
                assert h.fpjax_argv(block.run) is not None, (
                    f"{block.page}:{block.line}: `{block.source}` is neither an fpjax command nor marked as not run"
                )
                ran.append(f"{block.page}:{block.line}")
    print(f"\nshell commands run: {len(ran)} ({', '.join(ran)}); skipped with a reason: {len(skipped)}")
    assert len(ran) >= 3


def test_unused_skip_command_patterns_are_refused():
    # a skip-command whose glob matches none of its block's commands is a stale marker
    h = _harness()
    for path in doc_pages():
        _, _, examples = page_examples(path)
        by_block = {}
        for ex in examples:
            block = ex.parsed
            if isinstance(block, h.Block) and block.kind == "command":
                key = id(block.directives)
                by_block.setdefault(key, (block.directives, []))[1].append(h.normalise_command(block.source))
        for directives, commands in by_block.values():
            for pat, _ in directives.skip_commands:
                assert any(fnmatch.fnmatchcase(c, pat) for c in commands), (
                    f"{h.page_name(path)}: {pat!r} matches nothing"
                )


# ------------------------------------------------------------------------------------------------
# the harness on pages written here
# ------------------------------------------------------------------------------------------------


def _run_page(tmp_path: Path, text: str):
    """Parse and evaluate a page in order, as the pytest items do; returns the per-example outcomes."""
    h = _harness()
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    doc = h.SYBIL.parse(page)
    outcomes = []
    h._setup(doc.namespace)
    try:
        for ex in doc.examples():
            try:
                ex.evaluate()
                outcomes.append(("passed", ""))
            except pytest.skip.Exception as e:
                outcomes.append(("skipped", str(e)))
            except Exception as e:  # noqa: BLE001 - the outcome is what the test checks
                outcomes.append(("failed", f"{type(e).__name__}: {e}"))
    finally:
        h._teardown(doc.namespace)
    return outcomes, doc.namespace


def _kinds(tmp_path: Path, text: str) -> list[str]:
    return [kind for kind, _ in _run_page(tmp_path, text)[0]]


def test_blocks_share_the_page_namespace_and_a_broken_block_fails(tmp_path):
    page = "# P\n\n```python\nimport math\nr = math.sqrt(16)\n```\n\ntext\n\n```python\nassert r == 4\n```\n"
    assert _kinds(tmp_path, page) == ["passed", "passed"]
    assert _kinds(tmp_path, page.replace("math.sqrt(16)", "math.sqrt(15)")) == ["passed", "failed"]
    outcomes, _ = _run_page(tmp_path, page.replace("import math", "import maths"))
    assert outcomes[0][0] == "failed" and "maths" in outcomes[0][1]


def test_doctest_and_output_blocks_compare_what_was_printed(tmp_path):
    ok = (
        "```python\n>>> 6 * 7\n42\n```\n\n```python\nprint([1, 2, 3])\n```\n\n"
        "<!-- docs-test: output -->\n```text\n[1, 2, 3]\n```\n"
    )
    assert _kinds(tmp_path, ok) == ["passed", "passed", "passed"]
    outcomes, _ = _run_page(tmp_path, ok.replace("42", "43").replace("[1, 2, 3]\n```\n", "[1, 2, 4]\n```\n"))
    assert [o for o, _ in outcomes] == ["failed", "passed", "failed"]
    assert "differs" in outcomes[2][1]


def test_prints_marker_checks_a_line_of_the_output(tmp_path):
    page = '<!-- docs-test: prints total: ... items -->\n```python\nprint("log line")\nprint("total: 3 items")\n```\n'
    outcomes, _ = _run_page(tmp_path, page)
    assert outcomes == [("passed", "")]
    outcomes, _ = _run_page(tmp_path, page.replace("total: 3", "sum: 3"))
    assert outcomes[0][0] == "failed" and "no line printed matches" in outcomes[0][1]


def test_small_setting_is_applied_and_checked(tmp_path):
    h = _harness()
    page = "<!-- docs-test: small steps = 2000 => steps = 20 -->\n```python\nsteps = 2000\nprint(steps)\n```\n"
    _, ns = _run_page(tmp_path, page)
    assert ns["steps"] == (20 if h.SMALL else 2000)
    stale = page.replace("steps = 2000\nprint", "steps = 3000\nprint")
    outcomes, _ = _run_page(tmp_path, stale)
    assert outcomes[0][0] == "failed" and "occurs 0 times" in outcomes[0][1]


def test_markers_skip_with_their_reason_and_commands_need_one(tmp_path):
    page = (
        "<!-- docs-test: skip needs a cluster of GPUs -->\n```python\nraise RuntimeError\n```\n\n"
        "<!-- docs-test: skip-command pip * | installs packages -->\n```bash\npip install fpjax\nls -l\n```\n"
    )
    outcomes, _ = _run_page(tmp_path, page)
    assert outcomes[0] == ("skipped", "skip: needs a cluster of GPUs")
    assert outcomes[1] == ("skipped", "skip-command: installs packages")
    assert outcomes[2][0] == "failed" and "not an `fpjax` command" in outcomes[2][1]


def test_directive_errors_are_reported(tmp_path):
    h = _harness()
    for text, message in [
        ("<!-- docs-test: skipp x -->\n```python\npass\n```\n", "unknown docs-test directive"),
        ("<!-- docs-test: skip -->\n```python\npass\n```\n", "needs a reason"),
        ("<!-- docs-test: small a -> b -->\n```python\npass\n```\n", "OLD => NEW"),
        ("<!-- docs-test: skip x y z -->\n```text\nhello\n```\n", "never runs"),
    ]:
        page = tmp_path / "bad.md"
        page.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            h.SYBIL.parse(page)


def test_fpjax_commands_are_recognised():
    h = _harness()
    assert h.fpjax_argv("uv run --frozen fpjax run fp-1d --quick  # a comment") == ["run", "fp-1d", "--quick"]
    assert h.fpjax_argv("fpjax list") == ["list"]
    assert h.fpjax_argv("python -m fpjax report --out r") == ["report", "--out", "r"]
    assert h.fpjax_argv("uv run pytest -n 2") is None
    assert h.fpjax_argv("python3 -m pip install -q uv && uv run --frozen fpjax demo") is None
    assert h.fpjax_argv("fpjax list && rm -rf x") is None
    assert h.shell_commands("# c\nfpjax a \\\n  --b\n\nfpjax c\n") == [(1, "fpjax a --b"), (4, "fpjax c")]


def test_a_page_is_one_unit_of_xdist_work_and_a_test_its_own():
    """Under ``--dist loadgroup`` a page's blocks go to one worker (they share a namespace); tests and
    doctests of modules stay one unit each, and an explicit ``@group`` keeps its meaning."""
    split = object.__new__(_harness().PageScheduling)._split_scope
    page = "docs/howto/neural-tangents.md"
    assert split(f"{page}::line:47,column:1") == split(f"{page}::line:91,column:1") == page
    assert split("README.md::line:98,column:1") == "README.md"
    assert split("tests/test_ntk.py::test_a") == "tests/test_ntk.py::test_a"
    assert split("tests/test_ntk.py::test_a[x@y]") == "tests/test_ntk.py::test_a[x@y]"
    assert split("tests/test_ntk.py::test_a@net") == "net"
