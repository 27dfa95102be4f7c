"""The rules of the house, read from the source with ``ast``: no import cycles between
npae's modules, no module importing another's private (``_name``) names, and no module
past about 450 lines without a one-line reason at its top.

Every import counts, those inside functions too: a lazy import still ties two modules
together, and a cycle of them is one a reader has to untangle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "npae"
MAX_LINES = 450
#: The reason line of a long module: a comment among its first lines, e.g.
#: ``# Long module: <why it is not split>``.
REASON = re.compile(r"^#\s*long module\s*:\s*\S", re.IGNORECASE)
REASON_WITHIN = 3


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports(module: str) -> list[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` for every import in ``module``,
    module level or not. ``from a import b`` where ``a.b`` is a module is an import of
    ``a.b``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = resolve(module, node)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append((sub, None, node.lineno) if sub in MODULES
                             else (source, alias.name, node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    """npae module -> the npae modules it imports (a package's ``__init__`` is the
    package's module)."""
    return {m: {target for target, _, _ in imports(m) if target in MODULES and target != m}
            for m in MODULES}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    # a submodule importing its package's __init__ would close a loop through it; the
    # edge from a package to its own submodules is kept, so such a loop is found
    edges = graph()
    assert "npae.data.idx" in edges["npae.data"]  # the graph does see the package's imports
    assert cycles(edges) == []


def test_no_private_names_imported_across_modules():
    offenders = [f"{module} line {line}: from {target} import {name}"
                 for module in MODULES for target, name, line in imports(module)
                 if name is not None and name.startswith("_") and not name.startswith("__")
                 and target.split(".")[0] == "npae" and target != module]
    assert offenders == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_long_modules_give_their_reason(module):
    path = MODULES[module]
    rel = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) <= MAX_LINES:
        return
    head = lines[:REASON_WITHIN]
    assert any(REASON.match(line) for line in head), (
        f"{rel} has {len(lines)} lines (more than {MAX_LINES}): split it where it has a "
        f"seam, or say why not in its first lines, as '# Long module: <reason>'")
