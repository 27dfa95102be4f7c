"""Grade a student's folder: run each file apart, compute the grade here, say what is wrong.

For every exercise:

1. the student's file runs in a process of its own (:mod:`npae.exercises.runner`),
   under limits (:mod:`npae.exercises.sandbox`), which can only answer requests
   with arrays (:mod:`npae.exercises.protocol`): the forward's outputs and the
   gradients on a case, the forward's outputs at perturbed inputs;
2. for each case of the exercise (several random shapes in float64, edge cases
   included) this process runs the reference, compares the outputs, then every
   gradient with the reference's and, where the function is smooth at the case's
   inputs, with central differences of the student's own forward, computed here
   from its outputs (``h = 1e-5``), and diagnoses each wrong gradient
   (:mod:`npae.exercises.grading`, :mod:`npae.exercises.diagnose`);
3. a file that uses npae's own implementation is flagged
   (:mod:`npae.exercises.provenance`) and fails, unless ``allow_npae``.

A gradient passes when both relative errors are below
:data:`npae.gradcheck.THRESHOLD` (1e-7). An exercise's score is the fraction of its
(case, gradient) checks that pass; it passes when all do.

Whatever the student's code does (rebind the grader's functions, patch NumPy, write
on every descriptor, kill its parent, loop, allocate 100 GB), it does it in a
process that holds neither the reference nor the comparison: the worst it can do is
fail its own exercise. Three modes, the first available is used and the grade says
which ran:

- ``fork``: a relay process (a fresh interpreter with NumPy, no npae) forks one
  student process per exercise: milliseconds each;
- ``spawn`` (no ``fork``, e.g. Windows): the relay starts a new interpreter per
  exercise; the same protocol and limits where the platform has them;
- ``inline`` (no processes, e.g. Pyodide in a browser): in this process, under a
  deadline where ``SIGALRM`` exists; the flags still come from the file. This mode
  is *not* tamper-proof (the student's code runs beside the grader).

Everything here runs on the host, in NumPy, whatever npae's backend.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from npae.exercises import protocol, provenance
from npae.exercises.core import Exercise, select
from npae.exercises.grading import Failure, failed_row, grade
from npae.exercises.runner import (
    StudentError,
    answer,
    case_request,
    exception_text,
    import_file,
    load_student,
)
from npae.exercises.sandbox import Limits
from npae.exercises.session import ProcessStudent, Relay, borrow, give_back
from npae.gradcheck import THRESHOLD

__all__ = ["check", "grade_exercise", "load_student", "format_table", "exception_text",
           "import_file", "StudentError", "DEFAULT_TIME_LIMIT", "DEFAULT_MEMORY_LIMIT",
           "MODES", "best_mode"]

#: Seconds an exercise may take (all its cases) before it fails as "timed out".
DEFAULT_TIME_LIMIT = 30.0
#: MiB of memory the student's process may allocate (on top of NumPy's own).
DEFAULT_MEMORY_LIMIT = 2048
#: The ways to run the student's code, most isolated first.
MODES = ("fork", "spawn", "inline")

_MODE_TEXT = {
    "fork": "each exercise in a process of its own (forked), the grade computed outside it",
    "spawn": "each exercise in a process of its own (spawned), the grade computed outside it",
    "inline": "in the grader's own process (no subprocesses here): not tamper-proof",
}


def best_mode() -> str:
    """``fork`` where there is ``os.fork`` (POSIX), else ``spawn`` where processes can be
    started, else ``inline``."""
    if sys.platform in ("emscripten", "wasi"):
        return "inline"
    if os.name == "posix" and hasattr(os, "fork"):
        return "fork"
    return "spawn"


class InlineStudent:
    """The student's file imported into this process (the ``inline`` mode)."""

    def __init__(self, path: Path) -> None:
        self.path, self.module = Path(path), None

    def start(self) -> tuple[str | None, list[str]]:
        try:
            self.module = load_student(self.path)
        except StudentError as err:
            return str(err), []
        return None, []

    def _ask(self, kind: str, req: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return answer(self.module, self.path, kind, protocol.dumps(req), arrays)

    def run(self, part: Any, case: Any) -> tuple:
        req, arrays = case_request(part, case)
        return self._ask("run", req, {k: np.array(a) for k, a in arrays.items()})

    def outputs(self, part: Any, case: Any, wrt: str, stack: np.ndarray) -> tuple:
        req, arrays = case_request(part, case)
        req["wrt"] = wrt
        return self._ask("outputs", req, {**{k: np.array(a) for k, a in arrays.items()},
                                          "stack": stack})

    def stop(self) -> None:
        self.module = None


class _TimeLimit(BaseException):
    """Raised by the alarm in the inline mode (a BaseException: ``except Exception`` in
    the student's loop does not swallow it)."""


def _run_inline(ex: Exercise, directory: Path, seed: int, limit: float) -> dict[str, Any]:
    """Grade in this process, under SIGALRM when it exists (main thread)."""
    alarm = hasattr(signal, "setitimer") and threading.current_thread() is \
        threading.main_thread()
    start = time.perf_counter()

    def ring(signum: int, frame: Any) -> None:
        raise _TimeLimit

    old = signal.signal(signal.SIGALRM, ring) if alarm else None
    try:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, limit)
        return grade(ex, InlineStudent(Path(directory) / f"{ex.name}.py"), seed)
    except _TimeLimit:
        row = failed_row(ex, f"no result within the time limit of {limit:g} s "
                             "(an infinite loop?)", time.perf_counter() - start)
        row["npae"] = []
        return row
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def _run_process(ex: Exercise, directory: Path, seed: int, limit: float, relay: Relay,
                 memory: int) -> dict[str, Any]:
    student = ProcessStudent(relay, Path(directory) / f"{ex.name}.py", limit,
                             Limits(memory=memory, cpu=limit),
                             provenance.stub_imports(ex.source()))
    row = None
    try:
        row = grade(ex, student, seed)
    finally:
        ended = student.stop()
    left = re.search(r"left (\d+) process", ended)
    if left:  # a gradient needs no other process: starting one fails the exercise
        row.update(passed=False, score=0.0,
                   message=f"the student's code left {left.group(1)} process(es) running "
                           "after it ended (killed; a gradient needs no other process)")
    return row


def _flag(ex: Exercise, row: dict[str, Any], path: Path, allow_npae: bool) -> dict[str, Any]:
    """Add the row's ``flags``; a flagged exercise fails unless ``allow_npae``."""
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        source = ""
    row["flags"] = provenance.flags(source, ex.source(), row.pop("npae", []))
    if row["flags"] and not allow_npae:
        row.update(passed=False, score=0.0, message=row["flags"][0])
    return row


def grade_exercise(ex: Exercise, directory: Path, seed: int = 0, *,
                   allow_npae: bool = False) -> dict[str, Any]:
    """Grade one exercise in this process (the ``inline`` mode, no time limit); its row."""
    row = grade(ex, InlineStudent(Path(directory) / f"{ex.name}.py"), seed)
    return _flag(ex, row, Path(directory) / f"{ex.name}.py", allow_npae)


def check(directory: str | Path, only: list[str] | None = None, *, seed: int = 0,
          time_limit: float = DEFAULT_TIME_LIMIT, allow_npae: bool = False,
          mode: str | None = None, memory_limit: int = DEFAULT_MEMORY_LIMIT
          ) -> dict[str, Any]:
    """Grade the student files in ``directory``; the grade as a dict (``GRADE_SCHEMA``).

    Parameters
    ----------
    directory : path
        The folder ``npae exercises make`` wrote (``<name>.py`` per exercise).
    only : list of str, optional
        Exercise names (all registered exercises when None).
    seed : int
        Seeds the random cases (the same seed, the same cases).
    time_limit : float
        Seconds per exercise (wall clock, and CPU time); beyond it the exercise fails.
    allow_npae : bool
        Grade a file that uses npae's own implementation instead of failing it (the
        ``flags`` still say so).
    mode : {"fork", "spawn", "inline"}, optional
        How to run the student's code (see the module docstring); the best available
        by default.
    memory_limit : int
        MiB the student's process may allocate (``RLIMIT_AS``, where it exists).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"check: {directory} is not a folder")
    if not time_limit > 0:
        raise ValueError(f"check: time_limit must be > 0, got {time_limit}")
    mode = mode or best_mode()
    if mode not in MODES:
        raise ValueError(f"check: mode must be one of {', '.join(MODES)}, got {mode!r}")
    exercises = select(only)
    rows = []
    relay = borrow(mode) if mode != "inline" else None
    try:
        for ex in exercises:
            start = time.perf_counter()
            try:
                if relay is None:
                    row = _run_inline(ex, directory, seed, time_limit)
                else:
                    row = _run_process(ex, directory, seed, time_limit, relay, memory_limit)
            except Failure as err:
                row = failed_row(ex, str(err), time.perf_counter() - start)
            except Exception as err:  # noqa: BLE001 - one exercise's bug must not stop a class
                row = failed_row(ex, f"the grader failed on this exercise: {err!r}",
                                 time.perf_counter() - start)
            rows.append(_flag(ex, row, directory / f"{ex.name}.py", allow_npae))
    finally:
        if relay is not None:
            give_back(relay)
    n_pass = sum(r["passed"] for r in rows)
    return {"format": "npae-exercises-grade", "version": 2, "directory": str(directory),
            "seed": seed, "time_limit": time_limit, "mode": mode, "allow_npae": allow_npae,
            "score": sum(r["score"] for r in rows), "max_score": len(rows),
            "passed": n_pass, "failed": len(rows) - n_pass, "exercises": rows}


def format_table(grade: dict[str, Any]) -> str:
    """The grade as a table: exercise, result, worst relative error, diagnosis."""
    rows = grade["exercises"]
    w = max([8, *(len(r["name"]) for r in rows)])
    lines = [f"{'exercise':<{w}}  result  score  {'max rel err':>11}  diagnosis"]
    for r in rows:
        err = "-" if r["max_error"] is None else f"{r['max_error']:.1e}"
        lines.append(f"{r['name']:<{w}}  {'pass' if r['passed'] else 'FAIL':<6}  "
                     f"{r['score']:5.2f}  {err:>11}  {r['message']}")
    lines.append(f"\n{grade['passed']} of {grade['max_score']} exercises passed "
                 f"(score {grade['score']:.2f} of {grade['max_score']}; float64, threshold "
                 f"{THRESHOLD:g} against npae's reference and central differences)")
    mode = grade.get("mode", "fork")
    lines.append(f"mode: {mode} ({_MODE_TEXT.get(mode, mode)})")
    return "\n".join(lines)
