"""Every quotation attributed to a lecture is verbatim, short, and from the deck it cites.

The convention (shared by the tutorials, the README and the library's docstrings): in a
sentence that attributes something to a lecture (it mentions "lecture", "deck", "slides"
or "the course says"), every text in double quotes must be a verbatim quotation from one
of the lecture decks, compared after lower-casing, Unicode compatibility folding (the
decks' "ﬁ" ligature) and collapsing whitespace; "..." inside a quotation marks an
omission, and each part must appear. A sentence that cites a deck by number ("deck 001",
or its file name ``001_....txt``) must quote that deck. A quotation holds at most
``MAX_WORDS`` words. Code and parameter values go in backticks, which this check ignores.

The decks live beside the repository (``../shared/lectures``); where they are absent the
checks against them skip. The checker itself is tested on made-up text either way.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = Path(__file__).resolve().parents[1].parent / "shared" / "lectures"

#: The longest quotation allowed ("a few words", at most about 20).
MAX_WORDS = 20
#: At least this many attributed quotations must be found in the tutorials, README and
#: docstrings: a parser that silently stopped finding them would make the check vacuous.
MIN_QUOTES = 30

ATTRIBUTION = re.compile(r"\b(lectures?|decks?|slides?|the course says)\b|"
                         r"\b\d{3}_[0-9a-f]{16}\.txt", re.I)
DECK_CITED = re.compile(r"\bdecks?\s+(\d{3})\b|\b(\d{3})_[0-9a-f]{16}\.txt", re.I)
# a second number in "decks 000 and 002", "decks 000, 001 and 002"
DECK_LIST = re.compile(r"\bdecks\s+(\d{3}(?:\s*(?:,|and|or)\s*\d{3})+)", re.I)
QUOTE = re.compile(r'"([^"\n]+)"|“([^”]+)”')
ELLIPSIS = re.compile(r"\.\.\.|…")


def normalize(text: str) -> str:
    """Lower case, compatibility-folded (ligatures, wide forms), typographic apostrophes
    and dashes made plain, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")
    return " ".join(text.lower().split())


def load_decks(folder: Path) -> dict[str, str]:
    """``{"000": normalized text, ...}`` for every ``NNN_*.txt`` in ``folder``."""
    return {p.name[:3]: normalize(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("[0-9][0-9][0-9]_*.txt"))}


# -- where the prose is -----------------------------------------------------------------
def _without_code(text: str) -> str:
    """Drop inline code spans: code and values in backticks are not quotations (a deck's
    file name in backticks is kept: it cites the deck)."""
    text = re.sub(r"`+(\d{3}_[0-9a-f]{16}\.txt)`+", r"\1", text)
    text = re.sub(r"``.*?``", "`code`", text)  # reStructuredText literals first
    text = re.sub(r"`[^`]*`", "`code`", text)
    # a numpydoc set of allowed values, {"mean", "sum"}: code, not quotations
    return re.sub(r'\{\s*"[^"]*"(?:\s*,\s*"[^"]*")*\s*\}', "{code}", text)


def tutorial_paragraphs(path: Path) -> list[str]:
    """The prose of a jupytext percent script: runs of full-line comments (markdown cells
    and code comments), split at blank comment lines, the jupytext header left out."""
    paragraphs, current, in_header = [], [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped == "# ---":
            in_header = not in_header
            continue
        if in_header or stripped.startswith("# %%"):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        if stripped.startswith("#") and not stripped.startswith("#!"):
            body = stripped.lstrip("#").strip()
            if body:
                current.append(body)
                continue
        if current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def markdown_paragraphs(text: str) -> list[str]:
    """Paragraphs of a markdown file, fenced code blocks left out; each table row is a
    paragraph of its own."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    text = re.sub(r"^(\s*\|.*)$", r"\n\1\n", text, flags=re.M)
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def docstring_paragraphs(path: Path) -> list[str]:
    """Paragraphs of every module, class and function docstring of a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                out.extend(markdown_paragraphs(doc))
    return out


# -- the check --------------------------------------------------------------------------
def _sentences(paragraph: str) -> list[str]:
    """Split at sentence ends that lie outside quotations (a quotation may hold a full
    stop)."""
    masked = list(paragraph)
    for m in QUOTE.finditer(paragraph):
        for i in range(m.start() + 1, m.end() - 1):
            masked[i] = "x"
    text = "".join(masked)
    cuts = [0] + [m.end() for m in re.finditer(r"(?<!\be\.g)(?<!\bi\.e)[.!?]\s+(?=[A-Z(*-])",
                                                text)] + [len(text)]
    return [paragraph[a:b].strip() for a, b in zip(cuts[:-1], cuts[1:]) if paragraph[a:b].strip()]


def cited_decks(sentence: str) -> set[str]:
    numbers = {a or b for a, b in DECK_CITED.findall(sentence)}
    for group in DECK_LIST.findall(sentence):
        numbers |= set(re.findall(r"\d{3}", group))
    return numbers


def attributed_quotes(paragraph: str) -> list[tuple[str, str]]:
    """``(quotation, sentence)`` for every double-quoted text in a sentence that
    attributes something to a lecture."""
    found = []
    for sentence in _sentences(_without_code(paragraph)):
        if not ATTRIBUTION.search(sentence):
            continue
        for m in QUOTE.finditer(sentence):
            found.append((m.group(1) or m.group(2), sentence))
    return found


def problems(quote: str, sentence: str, decks: dict[str, str]) -> list[str]:
    """Why ``quote`` (attributed in ``sentence``) breaks the convention; empty if it
    does not."""
    out = []
    words = len(ELLIPSIS.sub(" ", quote).split())
    if words > MAX_WORDS:
        out.append(f"{words} words (at most {MAX_WORDS})")
    parts = [normalize(p) for p in ELLIPSIS.split(quote)]
    parts = [p.strip(" ,;:") for p in parts if p.strip(" ,;:.")]
    if not parts:
        return out + ["empty quotation"]
    cited = cited_decks(sentence)
    unknown = cited - decks.keys()
    if unknown:
        out.append(f"cites deck(s) {sorted(unknown)}, which do not exist")
    pool = {k: v for k, v in decks.items() if k in cited} if cited - unknown else decks
    if not any(all(p in text for p in parts) for text in pool.values()):
        where = f"deck {', '.join(sorted(pool))}" if cited else "any deck"
        out.append(f"not verbatim in {where}")
    return out


# -- what is scanned --------------------------------------------------------------------
def sources() -> dict[str, list[str]]:
    """``{relative path: paragraphs}`` of the tutorials, the README and npae's docstrings."""
    out = {}
    for path in sorted((ROOT / "tutorials").glob("*.py")):
        out[str(path.relative_to(ROOT))] = tutorial_paragraphs(path)
    readme = ROOT / "README.md"
    if readme.is_file():
        out["README.md"] = markdown_paragraphs(readme.read_text(encoding="utf-8"))
    for path in sorted((ROOT / "npae").rglob("*.py")):
        out[str(path.relative_to(ROOT))] = docstring_paragraphs(path)
    return out


def all_quotes() -> list[tuple[str, str, str]]:
    return [(where, q, s) for where, paragraphs in sources().items()
            for paragraph in paragraphs for q, s in attributed_quotes(paragraph)]


@pytest.fixture(scope="module")
def decks() -> dict[str, str]:
    if not LECTURES.is_dir():
        pytest.skip(f"the lecture decks are not here ({LECTURES})")
    found = load_decks(LECTURES)
    if len(found) < 5:
        pytest.skip(f"expected the five lecture decks in {LECTURES}, found {sorted(found)}")
    return found


def test_every_attributed_quotation_is_verbatim(decks):
    quotes = all_quotes()
    bad = [f"{where}: \"{q}\": {'; '.join(why)}\n    in: {s[:300]}"
           for where, q, s in quotes if (why := problems(q, s, decks))]
    assert not bad, f"{len(bad)} of {len(quotes)} quotations break the convention:\n" + \
        "\n".join(bad)


def test_the_check_is_not_vacuous():
    quotes = all_quotes()
    assert len(quotes) >= MIN_QUOTES, (len(quotes), quotes)
    # the quotations come from more than one kind of file
    where = {w.split("/")[0] for w, _, _ in quotes}
    assert {"tutorials", "README.md"} <= where or {"tutorials", "npae"} <= where, where


# -- the checker on made-up text --------------------------------------------------------
FAKE_DECKS = {
    "000": normalize("If $\\dim(x) > \\dim(z)$ [Overcomplete system] (not popular since "
                     "no compression)"),
    "001": normalize("Denoising autoencoders make\nthe reconstruction function (ie.\n"
                     "decoder) resist small but ﬁnitesized perturbations of the input"),
}


def test_a_verbatim_quotation_passes():
    text = ("Deck 001 (`001_5eba56f0e89c2971.txt`) says denoising makes \"the "
            "reconstruction function (ie. decoder) resist small but finitesized "
            "perturbations\", which is what we measure.")
    found = attributed_quotes(text)
    assert [q for q, _ in found] == ["the reconstruction function (ie. decoder) resist "
                                     "small but finitesized perturbations"]
    assert problems(*found[0], FAKE_DECKS) == []
    # an omission marked with ... is allowed when each part appears
    assert problems("denoising autoencoders make ... resist small", "deck 001", FAKE_DECKS) == []


def test_a_made_up_quotation_is_rejected():
    text = ("The lecture says \"denoising autoencoders always beat contractive ones\". "
            "An unrelated \"quote\" in another sentence is not checked.")
    found = attributed_quotes(text)
    assert [q for q, _ in found] == ["denoising autoencoders always beat contractive ones"]
    assert problems(*found[0], FAKE_DECKS) == ["not verbatim in any deck"]
    # a paraphrase of a real sentence is not a quotation either
    assert problems("denoising makes the decoder resist finite perturbations", "the lecture",
                    FAKE_DECKS) == ["not verbatim in any deck"]


def test_the_cited_deck_must_hold_the_quotation():
    sentence = "Deck 000 says \"resist small but finitesized perturbations\"."
    (q, s), = attributed_quotes(sentence)
    assert problems(q, s, FAKE_DECKS) == ["not verbatim in deck 000"]
    assert problems(q, s.replace("000", "001"), FAKE_DECKS) == []
    assert problems(q, "deck 007", FAKE_DECKS)[0].startswith("cites deck(s) ['007']")


def test_a_deck_cited_by_its_file_name_only():
    sentence = 'As `000_8952a0c831114130.txt` puts it, "resist small but finitesized".'
    (q, s), = attributed_quotes(sentence)
    assert cited_decks(s) == {"000"}
    assert problems(q, s, FAKE_DECKS) == ["not verbatim in deck 000"]


def test_long_quotations_and_unquoted_code_are_handled():
    long = " ".join(["word"] * (MAX_WORDS + 1))
    assert f"{MAX_WORDS + 1} words" in problems(long, "the lecture", {"000": long})[0]
    # text in backticks is code, not a quotation; a sentence without a lecture
    # attribution is not checked
    assert attributed_quotes('The lecture uses `rho = "0.05"` here.') == []
    assert attributed_quotes('PCA is "optimal" for this loss.') == []
    # parts on both sides of an ellipsis must each appear
    assert problems("denoising autoencoders make ... resist huge", "deck 001",
                    FAKE_DECKS) == ["not verbatim in deck 001"]
