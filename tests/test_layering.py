"""Layering rules checked on the source: the core names no benchmark family (each family's name appears only in
its package under longeval/benchmarks/, its YAML, the demo and help texts), and longeval/ has no import cycle
(every import counts, those inside functions included; `if TYPE_CHECKING:` imports are annotations only)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "longeval"
FAMILY = re.compile(r"passkey|longbench", re.IGNORECASE)
# The core: run stages, scoring entry point, report, backends, task registry, runner, grid.
CORE = sorted([*PACKAGE.glob("runs/*.py"), *PACKAGE.glob("report/*.py"), *PACKAGE.glob("backends/*.py"),
               *(PACKAGE / name for name in ("scoring.py", "runner.py", "tasks.py", "grid.py"))])


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def family_names(path: Path, root: Path = ROOT) -> list[str]:
    """Identifiers and string literals (docstrings and comments aside) that name a family."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstring_nodes(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        elif isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.alias):
            text = node.name
        elif isinstance(node, ast.ImportFrom):
            text = node.module or ""
        else:
            continue
        if FAMILY.search(text):
            hits.append(f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}: {text[:60]!r}")
    return hits


def test_no_core_module_names_a_family():
    assert CORE and all(path.is_file() for path in CORE)
    hits = [hit for path in CORE for hit in family_names(path)]
    assert not hits, "the core asks the task's unit (longeval.benchmarks) instead:\n" + "\n".join(hits)


def test_the_check_sees_a_family_name(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""About passkey (a docstring may name it)."""\n# longbench in a comment\n'
                      'TASKS = ("passkey",)\n\ndef is_longbench_e(task):\n    return task.is_e\n', encoding="utf-8")
    assert sorted(hit.split(": ", 1)[1] for hit in family_names(sample, tmp_path)) == ["'is_longbench_e'", "'passkey'"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


def import_graph() -> dict[str, set[str]]:
    """longeval module -> the longeval modules it imports (a package import counts as its __init__)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert not node.level, f"{path}: relative import (longeval imports absolutely)"
                base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in sorted(graph[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_longeval():
    graph = import_graph()
    assert "longeval.tasks" in graph and "longeval.benchmarks" in graph["longeval.tasks"]
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
