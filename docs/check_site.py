"""Find reStructuredText markup left raw on the built site: ``python docs/check_site.py [site]``.

A page fails when its visible text, outside what MathJax typesets, still shows a
``.. math::`` directive, a ``\\frac``, ``\\partial`` or ``\\sum``, or a Sphinx role
(``:func:`...```, ``:mod:``, ...). What MathJax typesets: the ``arithmatex`` elements of
the API pages and the tutorials' ``$...$``, ``$$...$$``, ``\\(...\\)`` and ``\\[...\\]``.
Prints one line per page with a finding and the totals; exits 1 when there is any.
``tests/test_docs.py`` runs :func:`findings` on every page of the site it checks.
"""

from __future__ import annotations

import re
import sys
from html import unescape
from pathlib import Path

HIDDEN = re.compile(r"<(script|style)\b.*?</\1>", re.S | re.I)
# generic arithmatex wraps each formula in an element of class "arithmatex"
ARITHMATEX = re.compile(r'<(span|div)\s+class="arithmatex">.*?</\1>', re.S)
TEX = re.compile(r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^$\n]+?\$", re.S)
ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|obj|exc|const|math):"
                  r"(?=[`~!.\w])")
RAW = {"directive": re.compile(r"\.\.\s*math::"),
       "tex": re.compile(r"\\(?:frac|partial|sum)(?![A-Za-z])"),
       "role": ROLE}


def visible_text(html: str) -> str:
    """The page's text outside scripts, styles and typeset math, tags removed."""
    html = ARITHMATEX.sub(" ", HIDDEN.sub(" ", html))
    return TEX.sub(" ", unescape(re.sub(r"<[^>]+>", "", html)))


def findings(html: str) -> dict[str, list[str]]:
    """Each kind of raw markup ("directive", "tex", "role") -> its occurrences, with a
    few characters of context."""
    text = visible_text(html)
    return {kind: [text[max(0, m.start() - 30):m.end() + 30].replace("\n", " ")
                   for m in rx.finditer(text)] for kind, rx in RAW.items()}


def main(argv: list[str]) -> int:
    site = Path(argv[0] if argv else "site")
    pages = totals = 0
    counts = dict.fromkeys(RAW, 0)
    for page in sorted(site.rglob("*.html")):
        found = findings(page.read_text(encoding="utf-8"))
        n = {k: len(v) for k, v in found.items()}
        if any(n.values()):
            pages += 1
            print(f"{page.relative_to(site)}: " + ", ".join(f"{v} {k}" for k, v in n.items()))
        for k in counts:
            counts[k] += n[k]
        totals += sum(n.values())
    print(f"{pages} pages with raw markup: {counts['directive']} '.. math::', "
          f"{counts['tex']} raw \\frac/\\partial/\\sum, {counts['role']} literal roles")
    return 1 if totals else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
