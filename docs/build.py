"""Build the course website into a static folder: ``python docs/build.py [--out site]``.

Needs the ``docs`` extra (``pip install -e '.[docs]'``). Steps:

1. stage the pages in ``--stage`` (default ``build/docs``): the README as the home
   page, one page per tutorial, one API page per public module of ``npae`` and an API
   index (``api/``) listing them with their one-line summaries;
2. execute every tutorial once into a notebook with its outputs: printed numbers,
   figures inline, math in the markdown cells. In fast mode (the default, what CI
   builds: ``NPAE_FAST=1``, the 8x8 digits, few epochs) or, with ``--full``, in full
   mode (MNIST where ``$NPAE_DATA`` or the download cache holds it, full training: for
   publishing; it takes long). Each page says under its title which mode its outputs
   come from. A cell that raises stops the build with the tutorial's name. The files
   each tutorial saves go to ``tutorials/figures/NN_name/`` of the site, and what it
   printed to ``runs/NN_name.txt`` of the stage. ``--reuse-runs`` takes the executed
   tutorials from the last build's stage instead (same mode), to rebuild the rest of
   the site without running them again;
3. copy MathJax from the ``jupyter-server-mathjax`` package into the site, so the math
   renders offline (no CDN);
4. ``mkdocs build`` (mkdocs-material, mkdocs-jupyter for the notebooks, mkdocstrings for
   the API reference from the numpy-style docstrings, whose ``.. math::`` directives and
   Sphinx roles ``docs/docstrings.py`` translates into typeset math and links).

The tutorials and modules are discovered, never listed here: a new ``tutorials/NN_*.py``
(topic: its first ``# NN · Topic`` heading, see ``npae.tutorials``) or a new public
module gets its page on the next build. Public: no ``_``-prefixed part in the dotted
name; the exercises' built-in definitions (``builtin_*`` modules) are data, not API.
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

MODES = {
    "fast": "fast mode (`NPAE_FAST=1`: scikit-learn's 8x8 digits, short training), as the "
            "course's CI builds the site; run the tutorial without `--fast` for MNIST and "
            "the full training",
    "full": "full mode (MNIST where `$NPAE_DATA` or the download cache holds it, else the "
            "8x8 digits; full training), built with `python docs/build.py --full`",
}


def public_modules() -> list[str]:
    """Every module of the npae package whose dotted name has no ``_``-prefixed part,
    except the exercises' built-in definitions (``builtin_*``: data, not API)."""
    import npae

    names = ["npae"] + [m.name for m in pkgutil.walk_packages(npae.__path__, "npae.")]
    return sorted(n for n in names if not any(p.startswith(("_", "builtin_"))
                                              for p in n.split(".")))


def mode_note(mode: str, transcript: str) -> str:
    """The line under a tutorial's title saying where its outputs come from."""
    data = next((line for line in transcript.splitlines() if line.startswith("data: ")), "")
    return (f"> **Outputs and figures on this page:** {MODES[mode]}."
            + (f" This run's {data}." if data else ""))


def execute(tutorial: Tutorial, notebook: Path, figures: Path, transcript: Path,
            mode: str = "fast") -> float:
    """Run one tutorial in a Jupyter kernel (``mode``: "fast" or "full"); write the
    executed notebook, a note under its title saying which mode it ran in, and what its
    cells printed. Returns the seconds it took; raises on a failing cell."""
    import tempfile

    import jupytext
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    figures.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(tutorial.path)
    saved = dict(os.environ)
    os.environ.pop("NPAE_FAST", None)
    if mode == "fast":
        os.environ["NPAE_FAST"] = "1"
    os.environ.update({"NPAE_FIGURES": str(figures), "NPAE_OFFLINE": "1",
                       # small matrices: one BLAS thread avoids oversubscribing 2 cores
                       "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                       # a static page shows no progress bar; and tqdm.auto, without
                       # ipywidgets, would print a warning into the page
                       "TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore:IProgress not found",
                       "PYTHONPATH": os.pathsep.join(filter(None, [
                           str(ROOT), os.environ.get("PYTHONPATH")]))})
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend shows pyplot figures
    start = time.perf_counter()
    # the kernel talks over local sockets in a private folder (IPC): over TCP without
    # keys, ipykernel warns that anyone on the machine could listen, once per tutorial
    with tempfile.TemporaryDirectory(prefix="npae-kernel-") as sockets:
        km = KernelManager(kernel_name="python3", transport="ipc",
                           ip=str(Path(sockets) / "kernel"))
        try:
            NotebookClient(nb, km=km, timeout=None if mode == "full" else 900,
                           allow_errors=False,
                           resources={"metadata": {"path": str(tutorial.path.parent)}}
                           ).execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
            if km.has_kernel:  # nbclient shuts down only the kernels it started itself
                km.shutdown_kernel(now=True)
    seconds = time.perf_counter() - start
    printed = "".join(out.get("text", "") for cell in nb.cells
                      if cell.cell_type == "code" for out in cell.get("outputs", [])
                      if out.get("output_type") == "stream" and out.get("name") == "stdout")
    first = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0  # under the title
    nb.cells.insert(first, nbformat.v4.new_markdown_cell(mode_note(mode, printed)))
    notebook.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, notebook)
    transcript.parent.mkdir(parents=True, exist_ok=True)
    transcript.write_text(printed, encoding="utf-8")
    return seconds


def home_page() -> str:
    """The README, its links to tutorial scripts pointed at the tutorial pages."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.sub(r"\]\(tutorials/(\d\d_[A-Za-z0-9_]+)\.py\)", r"](tutorials/\1.ipynb)", text)


def mathjax_folder() -> Path:
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).parent / "static"


def module_summary(module: str) -> str:
    """The first line of a module's docstring, its roles turned into links (as on its page)."""
    import importlib

    sys.path.insert(0, str(DOCS))
    try:
        from docstrings import translate
    finally:
        sys.path.remove(str(DOCS))
    doc = (importlib.import_module(module).__doc__ or "").strip()
    # numpydoc's summary: the first paragraph (usually a line)
    first = " ".join(doc.split("\n\n")[0].split()) if doc else "(no docstring)"
    public = set(public_modules())

    def resolve(target: str) -> str | None:
        """An identifier mkdocstrings knows: a public module or one of its members."""
        parts = target.split(".")
        for cut in range(len(parts), 0, -1):
            if ".".join(parts[:cut]) in public:
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                    for name in parts[cut:]:
                        obj = getattr(obj, name)
                except (ImportError, AttributeError):
                    return None
                return target if cut == len(parts) or not parts[-1].startswith("_") else None
        return None

    return translate(first, resolve)


def api_index(modules: list[str]) -> str:
    """The API reference's first page: every public module with its one-line summary."""
    # a list, not a table: a summary may hold a "|" (in code), which would end a cell
    rows = [f"- [`{m}`]({m}.md): {module_summary(m)}" for m in modules]
    return ("# API reference\n\n"
            "One page per public module of npae, generated from its docstrings (formulas "
            "typeset, references linked). The exercises' built-in definitions are not API: "
            "they are the exercises that `npae exercises list` shows.\n\n" + "\n".join(rows) + "\n")


def stage(stage_dir: Path, only: set[str] | None = None, mode: str = "fast",
          reuse_runs: bool = False) -> dict:
    """Write every page and the mkdocs configuration into ``stage_dir``; returns the
    build record (mode; tutorials, their seconds and figures; modules). With
    ``reuse_runs``, the executed tutorials of the last build in ``stage_dir`` (which must
    have run in ``mode``) are kept instead of being executed again."""
    import yaml

    pages = stage_dir / "pages"
    runs: dict = {}
    if reuse_runs:
        last = stage_dir / "build.json"
        if not last.is_file():
            raise SystemExit(f"docs/build.py: --reuse-runs: no earlier build in {stage_dir}")
        previous = json.loads(last.read_text(encoding="utf-8"))
        if previous.get("mode", "fast") != mode:
            raise SystemExit(f"docs/build.py: --reuse-runs: the build in {stage_dir} ran in "
                             f"{previous.get('mode', 'fast')} mode, not {mode}")
        runs = {t["name"]: t for t in previous["tutorials"]}
        keep = stage_dir.with_name(stage_dir.name + ".runs")
        if keep.exists():
            shutil.rmtree(keep)
        keep.mkdir()
        for part in ("runs", "pages/tutorials"):
            if (stage_dir / part).exists():
                shutil.move(stage_dir / part, keep / part.split("/")[-1])
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    (pages / "api").mkdir(parents=True)
    if reuse_runs:
        for part, there in (("runs", stage_dir / "runs"), ("tutorials", pages / "tutorials")):
            if (keep / part).exists():
                shutil.move(keep / part, there)
        shutil.rmtree(keep)
    (pages / "index.md").write_text(home_page(), encoding="utf-8")
    shutil.copytree(DOCS / "javascripts", pages / "javascripts")
    shutil.copytree(DOCS / "stylesheets", pages / "stylesheets")
    shutil.copytree(mathjax_folder(), pages / "assets" / "mathjax")

    record: dict = {"mode": mode, "tutorials": [], "modules": public_modules()}
    nav_tutorials = []
    for t in find_tutorials(ROOT / "tutorials"):
        if only and t.number not in only:
            continue
        figures = pages / "tutorials" / "figures" / t.name
        notebook = pages / "tutorials" / f"{t.name}.ipynb"
        if reuse_runs and t.name in runs and notebook.is_file():
            seconds = runs[t.name]["seconds"]
            print(f"reused {t.name} (executed in {seconds:.0f} s, {mode} mode)", flush=True)
        else:
            seconds = execute(t, notebook, figures, stage_dir / "runs" / f"{t.name}.txt", mode)
            print(f"executed {t.name} in {seconds:.0f} s, {mode} mode "
                  f"({len(list(figures.iterdir()))} files saved)", flush=True)
        saved = sorted(p.name for p in figures.iterdir())
        record["tutorials"].append({"number": t.number, "name": t.name, "topic": t.topic,
                                    "seconds": round(seconds, 1), "figures": saved})
        nav_tutorials.append({f"{t.number} · {t.topic}": f"tutorials/{t.name}.ipynb"})
    # tutorials staged by the reused build but not by this one (--only) leave no page
    for old in (pages / "tutorials").glob("*.ipynb") if reuse_runs else ():
        if old.stem not in {t["name"] for t in record["tutorials"]}:
            old.unlink()
            shutil.rmtree(pages / "tutorials" / "figures" / old.stem, ignore_errors=True)
    (pages / "api" / "index.md").write_text(api_index(record["modules"]), encoding="utf-8")
    nav_api = [{"Overview": "api/index.md"}]
    for module in record["modules"]:
        (pages / "api" / f"{module}.md").write_text(f"# `{module}`\n\n::: {module}\n",
                                                   encoding="utf-8")
        nav_api.append({module: f"api/{module}.md"})

    config = yaml.safe_load((DOCS / "mkdocs.yml").read_text(encoding="utf-8"))
    for plugin in config["plugins"]:
        if isinstance(plugin, dict) and "mkdocs-jupyter" in plugin:
            plugin["mkdocs-jupyter"]["cache"] = False
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            python = plugin["mkdocstrings"]["handlers"]["python"]
            python["paths"] = [str(ROOT)]
            # reStructuredText math and roles -> typeset math and links, at build time
            python["options"]["extensions"] = [f"{DOCS / 'docstrings.py'}:RstToMarkdown"]
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
    p.add_argument("--full", action="store_true",
                   help="run the tutorials in full mode (MNIST where present; long), for "
                        "publishing; the default is fast mode, as CI builds it")
    p.add_argument("--reuse-runs", action="store_true",
                   help="keep the executed tutorials of the last build in --stage (same "
                        "mode) instead of running them again")
    args = p.parse_args(argv)
    start = time.perf_counter()
    stage_dir, out = Path(args.stage).resolve(), Path(args.out).resolve()
    record = stage(stage_dir, set(args.only) if args.only else None,
                   "full" if args.full else "fast", args.reuse_runs)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--quiet", "-f",
                           str(stage_dir / "mkdocs.yml"), "-d", str(out)], cwd=stage_dir,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    if proc.returncode:
        print("docs/build.py: mkdocs build failed", file=sys.stderr)
        return proc.returncode
    shutil.copy(stage_dir / "build.json", out / "build.json")
    print(f"built {out} in {time.perf_counter() - start:.0f} s ({record['mode']} mode): "
          f"{len(record['tutorials'])} tutorials, {len(record['modules'])} API pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
