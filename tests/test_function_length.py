"""No function in fpjax/ is longer than 80 lines of code (docstring, comments and blank lines not
counted) unless a comment ``# long: <reason>`` on the line above its ``def`` (or its first decorator)
says why, e.g. a single dispatch loop.

Run as a script to list the long functions: ``python tests/test_function_length.py``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fpjax"
LIMIT = 80


def code_lines(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of ``node`` (nested functions included) that are neither blank, comments nor its docstring."""
    skip: set[int] = set()
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        skip.update(range(first.lineno, first.end_lineno + 1))
    count = 0
    for i in range(node.lineno, node.end_lineno + 1):
        text = lines[i - 1].strip()
        if i not in skip and text and not text.startswith("#"):
            count += 1
    return count


def _reason(lines: list[str], node) -> str | None:
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    above = lines[start - 2].strip() if start >= 2 else ""
    return above[len("# long:") :].strip() or None if above.startswith("# long:") else None


def long_functions(package: Path = PACKAGE, limit: int = LIMIT) -> list[tuple[str, int, str, int, str | None]]:
    """``(path, line, name, code lines, reason)`` of every function over ``limit`` code lines."""
    out = []
    for path in sorted(package.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = code_lines(lines, node)
                if n > limit:
                    out.append((str(path.relative_to(package.parent)), node.lineno, node.name, n, _reason(lines, node)))
    return out


def test_functions_are_short_or_say_why():
    bad = [f"{p}:{line} {name}: {n} lines of code" for p, line, name, n, why in long_functions() if not why]
    assert not bad, f"functions over {LIMIT} lines of code without a '# long: <reason>' comment:\n" + "\n".join(bad)


def test_the_length_check_can_fail(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT + 1))
    doc = '    """A docstring.\n\n    It does not count.\n    """\n'
    (tmp_path / "m.py").write_text(
        f"def short():\n{doc}    # a comment\n\n    return 1\n\n\ndef long():\n{doc}{body}\n"
    )
    (tmp_path / "n.py").write_text(f"# long: one dispatch loop\n@staticmethod\ndef excused():\n{body}\n")
    found = {name: (n, why) for _, _, name, n, why in long_functions(tmp_path)}
    assert found == {"long": (LIMIT + 2, None), "excused": (LIMIT + 2, "one dispatch loop")}  # body + def


if __name__ == "__main__":
    rows = long_functions(limit=int(sys.argv[1]) if len(sys.argv) > 1 else LIMIT)
    for p, line, name, n, why in rows:
        print(f"{p}:{line} {name} {n}" + (f"  (# long: {why})" if why else ""))
    sys.exit(1 if any(why is None for *_, why in rows) else 0)
