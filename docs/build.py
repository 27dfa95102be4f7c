"""Build the course website into a static folder: ``python docs/build.py [--out site]``.

Needs the ``docs`` extra (``pip install -e '.[docs]'``). Steps:

1. stage the pages in ``--stage`` (default ``build/docs``): the README as the home
   page, one page per tutorial, one API page per public module of ``npae``;
2. execute every tutorial once, in fast mode (``NPAE_FAST=1``, the 8x8 digits), into a
   notebook with its outputs: printed numbers, figures inline, math in the markdown
   cells. A cell that raises stops the build with the tutorial's name. The files each
   tutorial saves go to ``tutorials/figures/NN_name/`` of the site, and what it printed
   to ``runs/NN_name.txt`` of the stage;
3. copy MathJax from the ``jupyter-server-mathjax`` package into the site, so the math
   renders offline (no CDN);
4. ``mkdocs build`` (mkdocs-material, mkdocs-jupyter for the notebooks, mkdocstrings for
   the API reference from the numpy-style docstrings).

The tutorials and modules are discovered, never listed here: a new ``tutorials/NN_*.py``
(topic: its first ``# NN · Topic`` heading, see :mod:`npae.tutorials`) or a new public
module gets its page on the next build.
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))  # this checkout's npae, whether or not it is installed

from npae.tutorials import Tutorial, find_tutorials  # noqa: E402


def public_modules() -> list[str]:
    """Every module of the npae package whose dotted name has no ``_``-prefixed part."""
    import npae

    names = ["npae"] + [m.name for m in pkgutil.walk_packages(npae.__path__, "npae.")]
    return sorted(n for n in names if not any(p.startswith("_") for p in n.split(".")))


def execute(tutorial: Tutorial, notebook: Path, figures: Path, transcript: Path) -> float:
    """Run one tutorial in a Jupyter kernel (fast mode); write the executed notebook and
    what its cells printed. Returns the seconds it took; raises on a failing cell."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    figures.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(tutorial.path)
    saved = dict(os.environ)
    os.environ.update({"NPAE_FAST": "1", "NPAE_FIGURES": str(figures), "NPAE_OFFLINE": "1",
                       # small matrices: one BLAS thread avoids oversubscribing 2 cores
                       "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                       # a static page shows no progress bar; and tqdm.auto, without
                       # ipywidgets, would print a warning into the page
                       "TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore:IProgress not found",
                       "PYTHONPATH": os.pathsep.join(filter(None, [
                           str(ROOT), os.environ.get("PYTHONPATH")]))})
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend shows pyplot figures
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=False,
                       resources={"metadata": {"path": str(tutorial.path.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    seconds = time.perf_counter() - start
    notebook.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, notebook)
    transcript.parent.mkdir(parents=True, exist_ok=True)
    transcript.write_text("".join(out.get("text", "") for cell in nb.cells
                                  if cell.cell_type == "code" for out in cell.get("outputs", [])
                                  if out.get("output_type") == "stream"
                                  and out.get("name") == "stdout"), encoding="utf-8")
    return seconds


def home_page() -> str:
    """The README, its links to tutorial scripts pointed at the tutorial pages."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.sub(r"\]\(tutorials/(\d\d_[A-Za-z0-9_]+)\.py\)", r"](tutorials/\1.ipynb)", text)


def mathjax_folder() -> Path:
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).parent / "static"


def stage(stage_dir: Path, only: set[str] | None = None) -> dict:
    """Write every page and the mkdocs configuration into ``stage_dir``; returns the
    build record (tutorials, their seconds and figures; modules)."""
    import yaml

    pages = stage_dir / "pages"
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    (pages / "api").mkdir(parents=True)
    (pages / "index.md").write_text(home_page(), encoding="utf-8")
    shutil.copytree(DOCS / "javascripts", pages / "javascripts")
    shutil.copytree(mathjax_folder(), pages / "assets" / "mathjax")

    record: dict = {"tutorials": [], "modules": public_modules()}
    nav_tutorials = []
    for t in find_tutorials(ROOT / "tutorials"):
        if only and t.number not in only:
            continue
        figures = pages / "tutorials" / "figures" / t.name
        seconds = execute(t, pages / "tutorials" / f"{t.name}.ipynb", figures,
                          stage_dir / "runs" / f"{t.name}.txt")
        saved = sorted(p.name for p in figures.iterdir())
        print(f"executed {t.name} in {seconds:.0f} s ({len(saved)} files saved)", flush=True)
        record["tutorials"].append({"number": t.number, "name": t.name, "topic": t.topic,
                                    "seconds": round(seconds, 1), "figures": saved})
        nav_tutorials.append({f"{t.number} · {t.topic}": f"tutorials/{t.name}.ipynb"})
    nav_api = []
    for module in record["modules"]:
        (pages / "api" / f"{module}.md").write_text(f"# `{module}`\n\n::: {module}\n",
                                                   encoding="utf-8")
        nav_api.append({module: f"api/{module}.md"})

    config = yaml.safe_load((DOCS / "mkdocs.yml").read_text(encoding="utf-8"))
    for plugin in config["plugins"]:
        if isinstance(plugin, dict) and "mkdocs-jupyter" in plugin:
            plugin["mkdocs-jupyter"]["cache"] = False
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(ROOT)]
    config.update({"docs_dir": str(pages),
                   "nav": [{"Home": "index.md"}, {"Tutorials": nav_tutorials},
                           {"API reference": nav_api}]})
    (stage_dir / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False,
                                                         allow_unicode=True), encoding="utf-8")
    (stage_dir / "build.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "site"), help="the static site folder")
    p.add_argument("--stage", default=str(ROOT / "build" / "docs"),
                   help="where the pages, executed notebooks and transcripts are staged")
    p.add_argument("--only", nargs="*", help="tutorial numbers to include (default: all)")
    args = p.parse_args(argv)
    start = time.perf_counter()
    stage_dir, out = Path(args.stage).resolve(), Path(args.out).resolve()
    record = stage(stage_dir, set(args.only) if args.only else None)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--quiet", "-f",
                           str(stage_dir / "mkdocs.yml"), "-d", str(out)], cwd=stage_dir,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    if proc.returncode:
        print("docs/build.py: mkdocs build failed", file=sys.stderr)
        return proc.returncode
    shutil.copy(stage_dir / "build.json", out / "build.json")
    print(f"built {out} in {time.perf_counter() - start:.0f} s: {len(record['tutorials'])} "
          f"tutorials, {len(record['modules'])} API pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
