"""npae's docstrings keep one convention: numpydoc with reStructuredText markup.

Math goes in ``.. math::`` directives and ``:math:`...``` roles, references in Sphinx
roles (``:func:``, ``:class:``, ``:mod:``, ``:meth:``, ``:attr:``, ``:data:``, ...): they
read well in ``help()`` and in an editor, and the website's build translates them into
typeset math and links (``docs/docstrings.py``). These tests walk every public docstring
(importing every public module) and reject the other conventions (``$...$``, ``\\(``,
``\\[``, Markdown references) and malformed markup; they check the translation itself on
small examples.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import pydoc
import re
import sys
from pathlib import Path

import pytest

import npae

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "docs"))
from docstrings import LITERAL, MATH_ROLE, ROLE, ROLES, translate  # noqa: E402

DIRECTIVE_LIKE = re.compile(r"^[ \t]*\.\.[ \t]*[A-Za-z][\w-]*[ \t]*::?", re.M)
MATH_BLOCK = re.compile(r"^(?P<i>[ \t]*)\.\. math::.*(?:\n(?:[ \t]*\n)*(?P=i)[ \t]+\S.*)*",
                        re.M)
ANY_ROLE = re.compile(r":(?:py:)?[a-z]+:`")
#: the other conventions: dollar math, LaTeX delimiters, Markdown links and references
FOREIGN = {"dollar math": re.compile(r"\$"), "\\( or \\[": re.compile(r"\\[(\[)\]]"),
           "Markdown reference": re.compile(r"\]\[|\]\(")}
EXTERNAL = ("numpy.", "np.", "scipy.", "sklearn.", "matplotlib.", "os.", "cupy.")


def _modules() -> list[str]:
    names = ["npae"] + [m.name for m in pkgutil.walk_packages(npae.__path__, "npae.")]
    return sorted(n for n in names if not any(p.startswith("_") for p in n.split(".")))


def _docstrings() -> list[tuple[str, str, object, object]]:
    """(where, docstring, its module, its class or None) for every public docstring."""
    found = []
    for name in _modules():
        module = importlib.import_module(name)
        found.append((name, module.__doc__ or "", module, None))
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found.append((f"{name}.{attr}", obj.__doc__ or "", module,
                              obj if inspect.isclass(obj) else None))
            if inspect.isclass(obj):
                for key, member in vars(obj).items():
                    if key.startswith("_") and key not in ("__init__", "__call__"):
                        continue
                    fn = member.fget if isinstance(member, property) else member
                    fn = getattr(fn, "__func__", fn)  # classmethod, staticmethod
                    # written here (matplotlib generates some methods of a Figure subclass)
                    if inspect.isfunction(fn) and fn.__doc__ and fn.__module__ == name:
                        found.append((f"{name}.{attr}.{key}", fn.__doc__, module, obj))
    return [(w, inspect.cleandoc(d), m, c) for w, d, m, c in found if d]


DOCSTRINGS = _docstrings()


def _prose(doc: str) -> str:
    """The docstring without its literals and its math (directives and roles)."""
    doc = LITERAL.sub(" ", doc)
    return MATH_ROLE.sub(" ", MATH_BLOCK.sub(" ", doc))


def _resolves(target: str, module, cls) -> bool:
    """Whether a role's target names something that exists, as Sphinx would look it up:
    an absolute dotted path, or a name in the class, the module, or the package."""
    target = target.lstrip("~!.")
    if not target.startswith("npae"):
        scopes = [cls, module] if cls is not None else [module]
        for scope in scopes:
            obj = scope
            try:
                for part in target.split("."):
                    # an instance attribute a class declares (a dataclass field)
                    declared = inspect.isclass(obj) and any(
                        part in vars(c).get("__annotations__", {}) for c in obj.__mro__)
                    obj = None if declared else getattr(obj, part)
                return True
            except AttributeError:
                pass
        if target.startswith(EXTERNAL):
            return pydoc.locate(target.replace("np.", "numpy.", 1)) is not None
        target = f"npae.{target}"
    return pydoc.locate(target) is not None


def test_the_walk_covers_the_package():
    where = {w for w, *_ in DOCSTRINGS}
    assert {"npae.layers.conv.Conv2D", "npae.penalties.kl_sparsity", "npae.penalties.contractive",
            "npae.penalties.gaussian_kl", "npae.train.fit"} <= where
    assert len(DOCSTRINGS) > 200


def convention_errors(doc: str) -> list[tuple[str, str]]:
    """(kind, text) for each piece of markup the site's build cannot translate: another
    math or reference convention, a directive other than ``.. math::`` (or a misspelt
    one), an unsupported or unclosed role, an empty math directive."""
    bad = [(kind, m.group()) for kind, rx in FOREIGN.items() for m in rx.finditer(_prose(doc))]
    text = LITERAL.sub(" ", doc)
    for m in DIRECTIVE_LIKE.finditer(text):
        if not re.match(r"[ \t]*\.\. math::(?:[ \t]|$)", m.group() + " "):
            bad.append(("directive", m.group().strip()))
    for m in ANY_ROLE.finditer(text):
        kind = m.group().strip(":`").removeprefix("py:")
        closed = ROLE.match(text, m.start()) or MATH_ROLE.match(text, m.start())
        if kind not in (*ROLES, "math") or not closed:
            bad.append(("role", text[m.start():m.start() + 40]))
    try:
        translate(doc)
    except ValueError as err:
        bad.append(("translation", str(err)))
    return bad


@pytest.mark.parametrize("doc, kind", [
    ("The loss $L = x^2$.", "dollar math"),
    ("The loss \\(L = x^2\\).", "\\( or \\["),
    ("See [fit][npae.train.fit].", "Markdown reference"),
    ("See [fit](train.md).", "Markdown reference"),
    ("Forward:\n\n.. note:: careful", "directive"),
    ("Forward:\n\n..math:: y = x", "directive"),
    ("Forward:\n\n.. math: y = x", "directive"),
    ("Forward:\n\n.. math::\n\nNothing indented.", "translation"),
    ("See :ref:`fit`.", "role"),
    ("See :func:`fit.", "role"),
])
def test_the_checks_catch_each_bad_form(doc, kind):
    assert kind in [k for k, _ in convention_errors(doc)]


def test_the_checks_accept_the_convention():
    doc = ("Sum ``$HOME`` and :math:`\\sum_i x_i`:\n\n.. math::\n    \\frac{a}{b} [0, 1]\n\n"
           "See :func:`npae.train.fit` and :class:`~npae.network.Sequential`.")
    assert convention_errors(doc) == []


def test_every_public_docstring_keeps_the_convention():
    bad = [(where, *e) for where, doc, *_ in DOCSTRINGS for e in convention_errors(doc)]
    assert not bad, bad


def test_every_role_names_something_that_exists():
    missing = [(where, m["body"]) for where, doc, module, cls in DOCSTRINGS
               for m in ROLE.finditer(LITERAL.sub(" ", doc))
               if m["kind"] != "math"  # math is typeset, it names nothing
               and not _resolves(re.sub(r".*<(.+)>", r"\1", m["body"]), module, cls)]
    assert not missing, missing


def test_translation_of_math():
    doc = ("Forward:\n\n.. math:: y = W x\n          + b\n\nBackward:\n\n.. math::\n\n"
           "    a = 1\n\n    b = 2\n\nthen :math:`\\sigma^2` done.")
    assert translate(doc) == ("Forward:\n\n\n$$\ny = W x\n+ b\n$$\n\nBackward:\n\n\n"
                              "$$\na = 1\n$$\n\n$$\nb = 2\n$$\n\nthen \\(\\sigma^2\\) done.")
    # inside a numpy section the block keeps its indentation
    assert translate("x : int\n    Its value:\n\n    .. math:: x^2\n") == (
        "x : int\n    Its value:\n\n\n    $$\n    x^2\n    $$\n")
    with pytest.raises(ValueError, match="without content"):
        translate("Text.\n\n.. math::\n\nMore.")


def test_translation_of_roles():
    known = {"npae.train.fit": "npae.train.fit", "Sequential": "npae.network.Sequential"}
    doc = ("See :func:`npae.train.fit`, :class:`Sequential`, :func:`~npae.train.fit`, "
           ":meth:`the fit <npae.train.fit>`, :func:`!npae.train.fit`, "
           ":func:`numpy.einsum` and ``:func:`literal```.")
    assert translate(doc, known.get) == (
        "See [`npae.train.fit`][npae.train.fit], [`Sequential`][npae.network.Sequential], "
        "[`fit`][npae.train.fit], [`the fit`][npae.train.fit], `npae.train.fit`, "
        "`numpy.einsum` and ``:func:`literal```.")
    with pytest.raises(ValueError, match="unsupported role"):
        translate(":ref:`somewhere`")


def test_help_still_reads_as_plain_text():
    from npae.layers import Conv2D
    from npae.penalties import kl_sparsity

    for obj in (Conv2D, kl_sparsity):
        text = pydoc.render_doc(obj, renderer=pydoc.plaintext)
        assert ".. math::" in text and "$$" not in text and "][" not in text
        assert "\\frac" in text or "\\sum" in text  # the formula, as LaTeX source


def test_the_site_parses_every_docstring_as_numpydoc_without_a_warning(caplog):
    """What the API pages render: Griffe's numpy parser on the translated docstrings. A
    warning means a section it misreads (a paragraph after "Parameters" shown as a
    parameter named after its first word, say)."""
    griffe = pytest.importorskip("griffe")
    from docstrings import RstToMarkdown

    package = griffe.load("npae", search_paths=[str(REPO)], docstring_parser="numpy",
                          extensions=griffe.load_extensions(RstToMarkdown))

    def walk(obj):
        yield obj
        for member in obj.members.values():
            if not member.is_alias:
                yield from walk(member)

    with caplog.at_level("WARNING"):
        for obj in walk(package):
            if obj.docstring is not None and not any(
                    p.startswith(("_", "builtin_")) for p in obj.path.split(".")):
                obj.docstring.parse("numpy")
    # Griffe's own records only: a kernel client of an earlier test, collected meanwhile,
    # may log through jupyter_client, and that says nothing about a docstring
    warned = [r.getMessage() for r in caplog.records
              if r.levelname == "WARNING" and r.name.split(".")[0] == "griffe"]
    assert not warned, warned
