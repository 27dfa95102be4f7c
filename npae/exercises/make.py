"""Write a student folder, and load an instructor's extra exercises."""

from __future__ import annotations

import importlib
from pathlib import Path

from npae.exercises.core import EXERCISES, LOADING, Exercise, select
from npae.exercises.grader import exception_text, import_file

__all__ = ["make", "load_extra", "EXTRA_FILE", "student_readme"]

#: A file of this name in the student folder is imported by ``check`` (and ``list``,
#: ``make``) before grading: its ``register(...)`` calls add exercises.
EXTRA_FILE = "exercises_extra.py"

_README = """# Backprop exercises (npae)

Each file here is one exercise: a layer or a function whose forward pass is written
and whose backward pass is yours to write. In each file:

1. read the docstrings: shapes, the forward formula, the rules at kinks and ties;
2. derive the gradient on paper (every gradient has the shape of its variable);
3. replace each `raise NotImplementedError(...)` with your code (loops are fine in
   `conv2d.py`; elsewhere a few NumPy lines do);
4. check it:

       npae exercises check .                  # every exercise
       npae exercises check . --only dense     # one

The grader runs your code on several random shapes in float64 (strides, padding,
odd sizes, overlapping windows and ties where they apply), compares every output
and gradient with npae's reference and with central differences of your forward,
and tells you which gradient is wrong and how (`dW wrong: off by a factor 2; dx and
db right`, `transposed`, `shape (C, O, kh, kw), expected (O, C, kh, kw)`) and on
which case. A gradient passes below a relative error of 1e-7. Leave `forward` as
it is, keep the file names, and do not rename the functions or classes.

Your code runs in a process of its own, with a time and a memory limit, and only
its arrays reach the grader. Write each gradient yourself: a file that uses npae's
own implementation (`import npae...`) is flagged and does not pass.

The exercises:

{table}
"""


def student_readme(exercises: list[Exercise], hints: bool) -> str:
    """The README of a student folder: how to work, how to check, the exercises."""
    rows = ["| file | exercise | topic | difficulty |", "|---|---|---|---|"]
    rows += [f"| `{ex.name}.py` | {ex.title} | {ex.topic} | {'*' * ex.difficulty} |"
             for ex in exercises]
    text = _README.format(table="\n".join(rows))
    if hints:
        text += "\nThis copy has hints: each backward's docstring gives its formula.\n"
    return text


def make(directory: str | Path, only: list[str] | None = None, *, hints: bool = False,
         overwrite: bool = False) -> list[Path]:
    """Write one stub file per exercise and a ``README.md`` into ``directory``.

    Existing exercise files are kept (a student's work is never overwritten) unless
    ``overwrite``; the README is always rewritten. Returns the paths written.
    """
    directory = Path(directory)
    exercises = select(only)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for ex in exercises:
        path = directory / f"{ex.name}.py"
        if path.exists() and not overwrite:
            continue
        path.write_text(ex.source(hints=hints), encoding="utf-8")
        written.append(path)
    readme = directory / "README.md"
    readme.write_text(student_readme(exercises, hints), encoding="utf-8")
    written.append(readme)
    return written


def load_extra(spec: str | Path) -> list[str]:
    """Import an instructor's file (a path ending in ``.py``) or module (a dotted name),
    which calls :func:`npae.exercises.register`; returns the names it added.

    A file is imported under a fresh name each time; a module through the normal
    import system (once per process, as usual).
    """
    before = set(EXERCISES)
    text = str(spec)
    if text.endswith(".py") or Path(text).is_file():
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"load_extra: no file {path} to register exercises from")
        LOADING.append(str(path.resolve()))
        try:
            import_file(path, f"npae_exercises_extra_{abs(hash(str(path.resolve())))}")
        except Exception as err:  # an instructor's file: one line, not a traceback
            raise ValueError(f"load_extra: importing {path} failed: "
                             f"{exception_text(err, path)}") from err
        finally:
            LOADING.pop()
    else:
        try:
            importlib.import_module(text)
        except ImportError as err:
            raise ValueError(f"load_extra: cannot import {text!r} to register "
                             f"exercises from: {err}") from None
    return [n for n in EXERCISES if n not in before]
