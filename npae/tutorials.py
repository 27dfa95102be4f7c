"""Find, list and run the course's tutorials (``npae tutorial list | run NAME``).

A tutorial is a file ``tutorials/NN_name.py`` of the source checkout (``NN``: two
digits, its place in the course), a jupytext percent-format script. Its one-line topic
is its first markdown heading, which by convention reads ``# NN · Topic``: the text
after the number and the middle dot is the topic. Nothing else is listed anywhere, so a
new tutorial appears in ``npae tutorial list``, in the documentation site and in the
tests that cover every tutorial as soon as its file exists.

The tutorials live beside the package in the repository (an editable install or a
checkout), not inside it: :func:`tutorials_dir` finds them there, or in the folder
named by ``$NPAE_TUTORIALS``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

__all__ = ["Tutorial", "tutorials_dir", "find_tutorials", "resolve", "run"]

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
    """The folder holding ``NN_*.py``: ``$NPAE_TUTORIALS``, else ``tutorials/`` beside the
    package's folder (a source checkout or an editable install).

    Raises
    ------
    FileNotFoundError
        When neither exists (npae installed from a wheel, without the course files).
    """
    env = os.environ.get("NPAE_TUTORIALS")
    folder = Path(env).expanduser() if env else Path(__file__).resolve().parents[1] / "tutorials"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no tutorials folder at {folder}; the tutorials ship with the "
            "source checkout (git clone, then pip install -e .), or set NPAE_TUTORIALS to "
            "the folder that holds them")
    return folder


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
