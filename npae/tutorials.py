"""Find, list and run the course's tutorials (``npae tutorial list | run NAME``).

A tutorial is a file ``tutorials/NN_name.py`` of the source checkout (``NN``: two
digits, its place in the course), a jupytext percent-format script. Its one-line topic
is its first markdown heading, which by convention reads ``# NN · Topic``: the text
after the number and the middle dot is the topic. Nothing else is listed anywhere, so a
new tutorial appears in ``npae tutorial list``, in the documentation site and in the
tests that cover every tutorial as soon as its file exists.

In a source checkout (or an editable install) the tutorials are the top-level
``tutorials/`` folder beside the package. A wheel carries the same files inside the
package, as ``npae/_tutorials/``, copied from that folder when the wheel is built (see
``setup.py``): so ``npae tutorial list | run | copy`` work wherever npae is installed,
offline. :func:`tutorials_dir` finds them (``$NPAE_TUTORIALS`` first), and :func:`copy`
writes them into a folder of the student's own, as scripts or notebooks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

__all__ = ["Tutorial", "tutorials_dir", "find_tutorials", "resolve", "run", "copy"]

_FILE = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.py$")
# "# # 02 · The linear autoencoder": a markdown heading (level 1) in a percent script
_HEADING = re.compile(r"^#\s+#\s+(.+?)\s*$")
_NUMBERED = re.compile(r"^\d+\s*[·:.\-–—]?\s*(.*)$")


class Tutorial(NamedTuple):
    """One tutorial: ``number`` ("02"), ``name`` (the file's stem), ``path``, ``topic``."""

    number: str
    name: str
    path: Path
    topic: str


def tutorials_dir() -> Path:
    """The folder holding ``NN_*.py`` and ``_common.py``.

    In order: ``$NPAE_TUTORIALS``; ``npae/_tutorials`` inside the installed package (a
    wheel); ``tutorials/`` beside the package's folder (a source checkout or an editable
    install). The packaged copy goes first because only a wheel has it, while a folder
    named ``tutorials`` beside an installed package could belong to anything.

    Raises
    ------
    FileNotFoundError
        When none of them exists (or ``$NPAE_TUTORIALS`` names a missing folder).
    """
    env = os.environ.get("NPAE_TUTORIALS")
    if env:
        folder = Path(env).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"no tutorials folder at {folder} (named by "
                                    "$NPAE_TUTORIALS)")
        return folder
    package = Path(__file__).resolve().parent
    candidates = [package / "_tutorials", package.parent / "tutorials"]
    for folder in candidates:
        if (folder / "_common.py").is_file():
            return folder
    raise FileNotFoundError(
        f"no tutorials folder at {candidates[0]} or {candidates[1]}: this npae was "
        "installed without its course files; reinstall it from a wheel or a checkout "
        "(pip install npae, or git clone then pip install -e .), or set NPAE_TUTORIALS "
        "to the folder that holds them")


def topic_of(path: Path) -> str:
    """The one-line topic: the first level-1 markdown heading, without its number.

    ``# # 02 · The linear autoencoder, PCA and the SVD`` gives ``"The linear autoencoder,
    PCA and the SVD"``. A file without such a heading gets its name with spaces.
    """
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _HEADING.match(line)
        if match:
            numbered = _NUMBERED.match(match.group(1))
            return (numbered.group(1) if numbered else match.group(1)).strip()
    return path.stem.split("_", 1)[1].replace("_", " ")


def find_tutorials(folder: str | os.PathLike | None = None) -> list[Tutorial]:
    """Every ``NN_*.py`` in ``folder`` (default :func:`tutorials_dir`), in course order."""
    root = Path(folder) if folder is not None else tutorials_dir()
    found = [Tutorial(m.group(1), p.stem, p, topic_of(p))
             for p in sorted(root.iterdir()) if (m := _FILE.match(p.name)) and p.is_file()]
    return sorted(found, key=lambda t: (t.number, t.name))


def resolve(name: str, tutorials: list[Tutorial] | None = None) -> Tutorial:
    """The tutorial that ``name`` means: its number (``"1"``, ``"01"``), its file stem
    (``"01_vanilla_autoencoder"``, ``.py`` optional) or a unique part of it (``"vanilla"``).

    Raises
    ------
    ValueError
        When nothing or more than one tutorial matches (the message lists them).
    """
    tutorials = find_tutorials() if tutorials is None else tutorials
    key = str(name).strip().removesuffix(".py").lower()
    if key.isdigit():
        hits = [t for t in tutorials if int(t.number) == int(key)]
    else:
        hits = [t for t in tutorials if t.name.lower() == key] or \
               [t for t in tutorials if key and key in t.name.lower()]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(t.name for t in (hits or tutorials))
    what = "matches several tutorials" if hits else "matches no tutorial"
    raise ValueError(f"{name!r} {what}; choose one of: {known}")


def run(tutorial: Tutorial, *, fast: bool = False, cwd: str | os.PathLike | None = None,
        timeout: float | None = None) -> int:
    """Run a tutorial as a script with this Python (fast mode: ``NPAE_FAST=1``), its
    output going to this terminal; figures land in ``./figures`` or ``$NPAE_FIGURES``
    of ``cwd`` (default: the current folder). Returns the script's exit status."""
    env = dict(os.environ)
    if fast:
        env["NPAE_FAST"] = "1"
    return subprocess.run([sys.executable, str(tutorial.path)], cwd=cwd, env=env,
                          timeout=timeout).returncode


def copy(dest: str | os.PathLike, *, notebooks: bool = False, force: bool = False,
         folder: str | os.PathLike | None = None) -> list[Path]:
    """Write the tutorials into ``dest`` for a student to edit and run there.

    Every ``NN_*.py`` goes as a script, with ``_common.py`` (which they import from their
    own folder); with ``notebooks``, each tutorial also goes as ``NN_*.ipynb`` (converted
    by jupytext, outputs empty: run it to fill them), openable in Jupyter from ``dest``.

    Parameters
    ----------
    dest : path
        The folder to write to (created, with its parents, if missing).
    notebooks : bool
        Also write one ``.ipynb`` per tutorial. Needs the ``jupytext`` package.
    force : bool
        Overwrite files already in ``dest``; without it an existing file is an error,
        since it may hold the student's edits.
    folder : path, optional
        Where to copy from (default :func:`tutorials_dir`).

    Returns
    -------
    list of Path
        The files written, in course order (``_common.py`` first).

    Raises
    ------
    ModuleNotFoundError
        ``notebooks`` is true and jupytext is not installed (nothing is written).
    FileExistsError
        A file to write exists already and ``force`` is false (nothing is written).
    """
    source = Path(folder) if folder is not None else tutorials_dir()
    found = find_tutorials(source)
    if notebooks:
        try:
            import jupytext
        except ImportError:
            raise ModuleNotFoundError(
                "tutorial copy --notebooks needs jupytext, which is not installed: "
                "pip install jupytext, or copy without --notebooks for the .py scripts "
                "alone", name="jupytext") from None
    dest = Path(dest).expanduser()
    plan: list[tuple[Path, Path | Tutorial]] = [(dest / "_common.py", source / "_common.py")]
    for t in found:
        plan.append((dest / t.path.name, t.path))
        if notebooks:
            plan.append((dest / f"{t.name}.ipynb", t))
    existing = [str(target) for target, _ in plan if target.exists()]
    if existing and not force:
        raise FileExistsError(f"{len(existing)} file(s) exist already in "
                              f"{dest} (first: {existing[0]}); pass --force to overwrite them")
    dest.mkdir(parents=True, exist_ok=True)
    for target, what in plan:
        if isinstance(what, Tutorial):
            jupytext.write(jupytext.read(what.path), target)
        else:
            shutil.copyfile(what, target)
    return [target for target, _ in plan]
