"""Is it the student's own work? Find the parts of ``npae`` a student's file uses.

Read from the file's syntax tree, in the grading process (the student's code cannot
change what this finds): ``import npae.layers``, ``from npae.layers import ReLU``,
the dotted names used through them (``npae.layers.ReLU``), ``__import__`` /
``importlib.import_module`` / ``sys.modules[...]`` with a literal name, and any other
string literal naming ``npae``. A name is flagged unless the stub the student was
given imports it (or a module above it) itself.

What the syntax tree cannot see (a name built at run time) is seen by the audit hook
of the student's process (:class:`npae.exercises.sandbox.Watch`), which reports
every ``npae`` module imported there.
"""

from __future__ import annotations

import ast

__all__ = ["npae_names", "flags", "stub_imports", "FLAG"]

#: The flag of a use of npae (``{}`` is the name).
FLAG = "uses {}: not graded as the student's own work"


def _is_npae(name: str) -> bool:
    return name == "npae" or name.startswith("npae.")


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def _to_class(name: str) -> str:
    """``npae.layers.ReLU.backward`` -> ``npae.layers.ReLU``: name what was used, a class
    rather than its method."""
    parts = name.split(".")
    for i, p in enumerate(parts):
        if p[:1].isupper():
            return ".".join(parts[:i + 1])
    return name


def npae_names(source: str) -> list[str]:
    """The ``npae`` names ``source`` uses, most specific first found, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    bound: dict[str, str] = {}  # local name -> the npae name it stands for
    found: list[str] = []

    def add(name: str) -> None:
        if name not in found:
            found.append(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if _is_npae(a.name):
                    bound[a.asname or a.name.split(".")[0]] = a.name if a.asname else "npae"
                    add(a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level \
                and _is_npae(node.module):
            for a in node.names:
                full = f"{node.module}.{a.name}" if a.name != "*" else node.module
                bound[a.asname or a.name] = full
                add(_to_class(full))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and _is_npae(node.value.strip()):
            add(node.value.strip())  # __import__("npae.x"), sys.modules["npae.x"], ...
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)):
            chain = _dotted(node)
            if chain and chain[0] in bound and len(chain) > 1:
                add(_to_class(".".join([bound[chain[0]], *chain[1:]])))
    # keep the most specific: drop a name another one extends
    return [n for n in found if not any(m != n and m.startswith(n + ".") for m in found)]


def stub_imports(stub: str) -> list[str]:
    """The npae modules/names the stub itself imports (allowed to the student)."""
    try:
        tree = ast.parse(stub)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if _is_npae(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level \
                and _is_npae(node.module):
            out += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return out


def _allowed(name: str, allowed: list[str]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


def flags(source: str, stub: str, imported: list[str] = ()) -> list[str]:
    """The flags of a student's file: one per npae name it uses beyond the stub's, then
    the modules imported at run time that the file does not name."""
    allowed = stub_imports(stub)
    names = [n for n in npae_names(source) if not _allowed(n, allowed)]
    out = [FLAG.format(n) for n in names]
    late = [m for m in imported if not _allowed(m, allowed)
            and not any(n == m or n.startswith(m + ".") for n in names)]
    if late and not names:
        out.append(FLAG.format(f"{late[0]} (imported at run time)"))
    return out
