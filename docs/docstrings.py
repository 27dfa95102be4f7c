"""Translate npae's reStructuredText docstring markup into the website's Markdown.

npae's docstrings are numpydoc, written to read well in ``help()`` and in an editor:
display math in ``.. math::`` directives, inline math in ``:math:`...``` and
cross-references in Sphinx roles (``:func:``, ``:class:``, ``:mod:``, ``:meth:``,
``:attr:``, ``:data:``, ...). The site renders Markdown (mkdocstrings) and typesets math
with MathJax through ``pymdownx.arithmatex``, so at build time, and only there:

- a ``.. math::`` directive becomes a ``$$ ... $$`` block (one per blank-line separated
  equation, as Sphinx renders them), ``:math:`x``` becomes ``\\(x\\)``;
- a role naming an object of npae that has an API page becomes a mkdocstrings
  cross-reference, ``[`name`][npae.module.name]`` (a link to its entry); a role naming
  anything else (NumPy, SciPy, the standard library, a private helper) becomes plain
  code, since the site must work offline.

The docstrings themselves are never rewritten. :func:`translate` is the pure text
function (tested on its own); :class:`RstToMarkdown` is the Griffe extension that
mkdocstrings loads (``docs/build.py`` names this file in the staged ``mkdocs.yml``) and
that applies it to every docstring of the package once Griffe has loaded it, resolving
each role against the loaded object tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

#: the roles the docstrings may use (Sphinx's Python domain, ``py:`` prefix optional)
ROLES = ("func", "meth", "class", "mod", "attr", "data", "obj", "exc", "const")
ROLE = re.compile(r":(?:py:)?(?P<kind>[a-z]+):`(?P<body>[^`]+)`")
MATH_ROLE = re.compile(r":math:`(?P<body>[^`]+)`")
DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)$")
#: a ``literal`` in reStructuredText (Markdown reads it as a code span too): no role
#: inside one is translated
LITERAL = re.compile(r"``.+?``", re.S)

#: resolve a role's target, as written (``~`` and ``!`` already removed), to the
#: identifier of its entry on the site, or None when it has none
Resolver = Callable[[str], "str | None"]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _math_blocks(lines: list[str]) -> Iterator[str]:
    """Every line, each ``.. math::`` directive replaced by ``$$`` blocks."""
    i = 0
    while i < len(lines):
        m = DIRECTIVE.match(lines[i])
        if not m:
            yield lines[i]
            i += 1
            continue
        indent, base = m["indent"], len(m["indent"])
        body = [m["first"].strip()] if m["first"].strip() else []
        i += 1
        # the directive's content: the lines indented deeper than it (blank lines included)
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
            body.append(lines[i].strip())
            i += 1
        while body and not body[-1]:
            body.pop()
        if not any(body):
            raise ValueError(f"a '.. math::' directive without content: {lines[i - 1]!r}")
        equations: list[list[str]] = [[]]
        for line in body:
            if line:
                equations[-1].append(line)
            elif equations[-1]:
                equations.append([])
        yield ""
        for eq in equations:
            # the blank line after each block keeps what follows a paragraph of its own
            yield from (f"{indent}$$", *(f"{indent}{e}" for e in eq), f"{indent}$$", "")


def _outside_literals(text: str, fn: Callable[[str], str]) -> str:
    """``fn`` applied to the text between ````literal```` spans, the spans kept as they are."""
    out, last = [], 0
    for m in LITERAL.finditer(text):
        out += [fn(text[last:m.start()]), m.group()]
        last = m.end()
    out.append(fn(text[last:]))
    return "".join(out)


def _role(m: re.Match, resolve: Resolver) -> str:
    kind, body = m["kind"], m["body"].strip()
    if kind not in ROLES:
        raise ValueError(f"unsupported role :{kind}: in {m.group()!r}")
    # Sphinx's forms: "title <target>", "~a.b.c" (shown as "c"), "!target" (no link)
    explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>", body)
    target = (explicit["target"] if explicit else body).strip()
    nolink = target.startswith("!")
    target = target.lstrip("!")
    short = target.startswith("~")
    target = target.lstrip("~")
    title = explicit["title"] if explicit else (target.split(".")[-1] if short else target)
    ident = None if nolink else resolve(target.lstrip("."))
    return f"[`{title}`][{ident}]" if ident else f"`{title}`"


def translate(text: str, resolve: Resolver = lambda target: None) -> str:
    """The Markdown for one docstring: math directives and roles translated (see the
    module's docstring); ``resolve`` maps a role's target to its site identifier."""
    lines = list(_math_blocks(text.splitlines()))
    out = "\n".join(lines)

    def inline(chunk: str) -> str:
        chunk = MATH_ROLE.sub(lambda m: rf"\({m['body']}\)", chunk)
        return ROLE.sub(lambda m: _role(m, resolve), chunk)

    return _outside_literals(out, inline)


def _public(path: str) -> bool:
    parts = path.split(".")
    # the exercises' built-in definitions are not API (docs/build.py gives them no page)
    return not any(p.startswith("_") or p.startswith("builtin_") for p in parts)


try:  # the extension needs Griffe (the docs extra); translate() does not
    import griffe
except ImportError:  # pragma: no cover - only the docs build loads the extension
    griffe = None  # type: ignore[assignment]

if griffe is not None:

    def _lookup(scope: griffe.Object, name: str) -> str | None:
        """The site identifier of ``name`` seen from ``scope``, or None."""
        try:
            member = scope[name]
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
        candidates = [member.path]
        if member.is_alias:
            try:
                candidates.insert(0, member.final_target.path)  # where it is defined
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                return None  # an import from outside npae (NumPy, SciPy, ...)
        return next((c for c in candidates if c.startswith("npae") and _public(c)), None)

    class RstToMarkdown(griffe.Extension):
        """Translate every docstring of the package once it is loaded (see the module)."""

        def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader,
                       **kwargs) -> None:
            if pkg.name != "npae":
                return
            for obj in _walk(pkg):
                if obj.docstring is None:
                    continue
                try:
                    obj.docstring.value = translate(obj.docstring.value,
                                                    _resolver(obj, pkg))
                except ValueError as err:  # left raw: tests/test_docstrings.py names it
                    griffe.logger.warning(f"{obj.path}: {err}")

    def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
        yield obj
        for member in obj.members.values():
            if not member.is_alias:
                yield from _walk(member)

    def _resolver(obj: griffe.Object, root: griffe.Module) -> Resolver:
        scopes: list[griffe.Object] = []
        scope: griffe.Object | None = obj
        while scope is not None:  # the object, its class, its module, its packages
            if scope.is_class or scope.is_module:
                scopes.append(scope)
            scope = scope.parent

        def resolve(target: str) -> str | None:
            if target == "npae":
                return "npae"
            if target.startswith("npae."):
                return _lookup(root, target[len("npae."):])
            return next(filter(None, (_lookup(s, target) for s in scopes)), None)

        return resolve
