"""The built course website (``python docs/build.py``): one page per tutorial with its
outputs and figures, no failed cell and a note saying which mode they come from; one API
page per public module and an index of them; math served from the site itself, every
formula left to MathJax and every reference a working link (no raw reStructuredText).

The site is built once, by CI before the tests (``.ci/run``), into ``$NPAE_DOCS_SITE``;
without that variable the tests look at ``site/`` in the checkout and skip when it was
never built (building it takes minutes and the ``docs`` extra).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pkgutil
import re
import sys
from html import unescape
from pathlib import Path

import pytest

import npae
from npae.tutorials import find_tutorials

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
sys.path.insert(0, str(REPO / "docs"))
from check_site import findings  # noqa: E402


@pytest.fixture(scope="module")
def site() -> Path:
    env = os.environ.get("NPAE_DOCS_SITE")
    folder = Path(env) if env else REPO / "site"
    if not (folder / "index.html").is_file():
        if env:
            pytest.fail(f"NPAE_DOCS_SITE={env} holds no built site (run docs/build.py)")
        pytest.skip("the documentation site is not built (python docs/build.py)")
    return folder


def _all_modules() -> list[str]:
    return ["npae"] + [m.name for m in pkgutil.walk_packages(npae.__path__, "npae.")]


def _public_modules() -> list[str]:
    # the exercises' built-in definitions (builtin_*) are data, not API
    return sorted(n for n in _all_modules()
                  if not any(p.startswith(("_", "builtin_")) for p in n.split(".")))


def _words(text: str) -> list[str]:
    text = re.sub(r":[a-z]+:`~?", "`", text)  # a role shows as its target's name
    return re.sub(r"[^A-Za-z0-9]+", " ", text).split()


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_one_page_per_tutorial_with_outputs_and_figures(site):
    record = json.loads((site / "build.json").read_text())
    tutorials = find_tutorials(REPO / "tutorials")
    assert [t["name"] for t in record["tutorials"]] == [t.name for t in tutorials]
    for t, built in zip(tutorials, record["tutorials"]):
        page = (site / "tutorials" / t.name / "index.html").read_text(encoding="utf-8")
        assert t.topic in _text(page), t.name
        assert "Traceback (most recent call last)" not in page, t.name
        # figures inline, as the notebook showed them
        assert page.count('src="data:image/png;base64,') >= 1, t.name
        # the executed notebook: every code cell ran, none raised
        nb = json.loads((site / "tutorials" / t.name / f"{t.name}.ipynb").read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code and all(c["execution_count"] for c in code), t.name
        assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
        assert any(o.get("name") == "stdout" for c in code for o in c["outputs"]), t.name
        # the files it saved are on the site; every figure its source names is among them
        folder = site / "tutorials" / "figures" / t.name
        assert built["figures"] and sorted(p.name for p in folder.iterdir()) == built["figures"]
        for name in built["figures"]:
            if name.endswith(".png"):
                data = (folder / name).read_bytes()
                assert data[:8] == PNG and len(data) > 1000, (t.name, name)
        named = set(re.findall(r"[\"'](\d\d_[A-Za-z0-9_]+\.png)[\"']", t.path.read_text()))
        assert named <= set(built["figures"]), (t.name, named - set(built["figures"]))


def test_every_public_module_has_an_api_page(site):
    modules = _public_modules()
    assert json.loads((site / "build.json").read_text())["modules"] == modules
    for name in modules:
        page = site / "api" / name / "index.html"
        assert page.is_file(), name
        text = _text(page.read_text(encoding="utf-8"))
        module = importlib.import_module(name)
        first = (module.__doc__ or "").strip().splitlines()
        if first:  # the docstring is rendered (its first words, markup and punctuation aside)
            words = _words(first[0])[:4]
            assert " ".join(words) in " ".join(_words(text)), (name, words)
        for public in [n for n in getattr(module, "__all__", []) if not n.startswith("_")]:
            assert public in text, (name, public)


def test_home_page_is_the_readme_with_links_to_the_tutorial_pages(site):
    page = (site / "index.html").read_text(encoding="utf-8")
    title = (REPO / "README.md").read_text().splitlines()[0].lstrip("# ").strip()
    assert title.split()[0] in _text(page)
    for t in find_tutorials(REPO / "tutorials"):
        if f"tutorials/{t.name}.py" in (REPO / "README.md").read_text():
            assert f'href="tutorials/{t.name}/"' in page, t.name


def test_math_is_served_by_the_site_itself(site):
    assert (site / "assets" / "mathjax" / "MathJax.js").is_file()
    page = (site / "tutorials" / "02_linear_autoencoder_vs_pca_svd" / "index.html").read_text()
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    assert any(s.endswith("assets/mathjax/MathJax.js") for s in scripts)
    assert not [s for s in scripts if s.startswith(("http:", "https:", "//"))], scripts
    assert "$$" in page  # display math, left for MathJax to typeset in the browser


def test_each_tutorial_page_says_which_mode_its_outputs_come_from(site):
    record = json.loads((site / "build.json").read_text())
    assert record["mode"] in ("fast", "full")
    for t in record["tutorials"]:
        text = _text((site / "tutorials" / t["name"] / "index.html").read_text(encoding="utf-8"))
        note = text[text.index("Outputs and figures on this page:"):][:400]
        assert f"{record['mode']} mode" in note, (t["name"], note)
        assert ("data: " in note) == ("data: " in _text(text)), t["name"]


def test_code_cells_stay_inside_the_column(site):
    css = (site / "stylesheets" / "extra.css").read_text()
    assert re.search(r"jp-OutputArea-output pre\s*\{[^}]*white-space:\s*pre-wrap", css)
    assert re.search(r"jp-InputArea-editor pre\s*\{[^}]*overflow-x:\s*auto", css)
    page = (site / "tutorials" / "01_vanilla_autoencoder" / "index.html").read_text()
    assert 'stylesheets/extra.css"' in page


def test_no_api_pages_for_the_exercises_builtin_definitions(site):
    builtin = [n for n in _all_modules() if ".builtin_" in n]
    assert builtin  # the rule below is exercised
    for name in builtin:
        assert not (site / "api" / name).exists(), name


def test_the_api_index_lists_every_public_module_with_its_summary(site):
    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    text = " ".join(_words(_text(page)))
    for name in _public_modules():
        assert f'href="../api/{name}/"' in page or f'href="{name}/"' in page, name
        first = (importlib.import_module(name).__doc__ or "").strip().splitlines()
        if first:
            assert " ".join(_words(first[0])[:4]) in text, name
    assert "builtin_" not in _text(page)


def test_no_page_shows_raw_math_or_literal_roles(site):
    pages = sorted(site.rglob("*.html"))
    raw = {str(p.relative_to(site)): {k: v for k, v in findings(p.read_text(encoding="utf-8"))
                                      .items() if v} for p in pages}
    raw = {page: found for page, found in raw.items() if found}
    assert len(pages) > 40 and not raw, raw


def test_the_formulas_are_left_for_mathjax_and_the_roles_are_links(site):
    conv = (site / "api" / "npae.layers.conv" / "index.html").read_text(encoding="utf-8")
    math = re.findall(r'<div class="arithmatex">(.*?)</div>', conv, re.S)
    assert any("\\frac{\\partial L}{\\partial W_{o,c,a,b}}" in m for m in math)
    assert all(m.strip().startswith("\\[") and m.strip().endswith("\\]") for m in math)
    # Conv2D's role naming the reference kernel links to that function's entry
    link = (r'autorefs-internal"[^>]*href="\.\./npae\.kernels\.reference/'
            r'#npae\.kernels\.reference\.conv2d_backward"')
    assert re.search(link, conv)
    for where, name in (("npae.penalties", "kl_sparsity"), ("npae.penalties", "contractive"),
                        ("npae.penalties", "gaussian_kl")):
        page = (site / "api" / where / "index.html").read_text(encoding="utf-8")
        start = page.index(f'id="{where}.{name}"')
        entry = page[start:page.find('<div class="doc doc-object', start)]
        assert 'class="arithmatex"' in entry, name


def test_every_cross_reference_lands_on_an_entry(site):
    links = 0
    for page in sorted((site / "api").rglob("index.html")):
        html = page.read_text(encoding="utf-8")
        for href in re.findall(r'<a class="autorefs autorefs-internal"[^>]*href="([^"]+)"', html):
            path, _, anchor = href.partition("#")
            target = (page.parent / path / "index.html") if path else page
            assert target.resolve().is_file(), (page, href)
            assert f'id="{anchor}"' in target.read_text(encoding="utf-8"), (page, href)
            links += 1
    assert links > 100


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_the_build_runs_a_tutorial_in_the_mode_asked_and_says_so(mode, tmp_path, capfd):
    """The plumbing of ``--full`` on a two-cell stand-in for a tutorial (no site needed)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("jupytext")
    import nbformat

    from npae.tutorials import Tutorial

    # by its path: "build" is also the name of a packaging tool that may be installed
    spec = importlib.util.spec_from_file_location("npae_docs_build", REPO / "docs" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    script = tmp_path / "99_stand_in.py"
    script.write_text('# %% [markdown]\n# # 99 · Stand-in\n\n# %%\nimport os\n'
                      'print("data: none, NPAE_FAST =", os.environ.get("NPAE_FAST"))\n')
    notebook, transcript = tmp_path / "nb.ipynb", tmp_path / "run.txt"
    build.execute(Tutorial("99", "99_stand_in", script, "Stand-in"), notebook,
                  tmp_path / "figures", transcript, mode)
    printed = transcript.read_text()
    assert printed == f"data: none, NPAE_FAST = {'1' if mode == 'fast' else None}\n"
    cells = nbformat.read(notebook, as_version=4).cells
    assert cells[0].source.startswith("# 99") and f"{mode} mode" in cells[1].source
    assert "This run's data: none" in cells[1].source
    assert "WARNING" not in capfd.readouterr().err  # no kernel warning in the build's log
