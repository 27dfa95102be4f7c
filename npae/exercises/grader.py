"""Grade a student's folder: import each file alone, run it on random cases, say what is wrong.

For every exercise, in a process of its own (forked, so it starts in milliseconds and
an infinite loop or a crash is killed without touching the grader):

1. import ``DIR/<name>.py`` under a fresh module name (a syntax error, a failing
   import or a missing file is a report row, never a traceback);
2. for each case of the exercise (several random shapes in float64, edge cases
   included): run the reference and the student's code; compare the outputs, then
   every gradient with the reference's and, where the function is smooth at the
   case's inputs, with central differences of the student's own forward
   (:func:`npae.gradcheck.numerical_gradient`, ``h = 1e-5``);
3. diagnose each wrong gradient (:mod:`npae.exercises.diagnose`).

A gradient passes when both relative errors are below
:data:`npae.gradcheck.THRESHOLD` (1e-7). An exercise's score is the fraction of its
(case, gradient) checks that pass; it passes when all do.

Everything here runs on the host, in NumPy, whatever npae's backend: the students
write NumPy, and the references are given NumPy arrays.

The grader is not a sandbox: the student's code runs with the grader's rights.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from npae.exercises.core import Case, Exercise, Gradient, InPlaceError, select
from npae.exercises.diagnose import as_gradient, explain_shape, explain_values
from npae.gradcheck import CHECK_STEP, THRESHOLD, numerical_gradient, rel_error

__all__ = ["check", "grade_exercise", "load_student", "format_table", "exception_text",
           "DEFAULT_TIME_LIMIT"]

#: Seconds an exercise may take (all its cases) before it fails as "timed out".
DEFAULT_TIME_LIMIT = 30.0


class StudentError(Exception):
    """The student's file could not be imported; the message says why, in one line."""


def _where(tb: Any, path: Path) -> str:
    """``" (line 12 of dense.py)"`` for the deepest frame in the student's file."""
    frames = [f for f in traceback.extract_tb(tb) if Path(f.filename) == path]
    return f" (line {frames[-1].lineno} of {path.name})" if frames else ""


def exception_text(err: BaseException, path: Path) -> str:
    """``"ValueError: boom (line 12 of dense.py)"``: the error in one line, located."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}{': ' + text if text else ''}{_where(err.__traceback__, path)}"


def import_file(path: Path, name: str) -> Any:
    """Run the Python file ``path`` as a new module called ``name`` and return it.

    The module is in ``sys.modules`` while it runs (dataclasses and pickling look
    modules up by name), and is taken out again if running it raises.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_student(path: Path) -> Any:
    """Import ``path`` as a new module (a fresh name each time, nothing cached)."""
    path = Path(path)
    if not path.is_file():
        raise StudentError(f"{path.name} not found in {path.parent}")
    try:
        return import_file(path, f"npae_student_{path.stem}_{uuid.uuid4().hex[:8]}")
    except SyntaxError as err:
        raise StudentError(f"syntax error in {path.name}, line {err.lineno}: {err.msg}") from None
    except Exception as err:  # noqa: BLE001 - any error of the student's file is a report
        raise StudentError(f"importing {path.name} failed: {exception_text(err, path)}") \
            from None


def _verdict(got: Any, expected: np.ndarray, numeric: np.ndarray | None, case: Case,
             grad: Gradient) -> tuple[bool, float, str]:
    """``(passed, max relative error or nan, diagnosis)`` for one gradient on one case."""
    arr, why = as_gradient(got)
    if arr is None:
        return False, np.nan, why
    if arr.dtype != np.float64:
        return False, np.nan, f"dtype {arr.dtype}, expected float64"
    if arr.shape != expected.shape:
        return False, np.nan, explain_shape(arr, expected, case.dims, grad.axes)
    if not np.isfinite(arr).all():
        kind = "NaN" if np.isnan(arr).any() else "Inf"
        return False, np.nan, f"contains {kind} ({int((~np.isfinite(arr)).sum())} entries)"
    err = rel_error(arr, expected)
    if numeric is not None:
        err = max(err, rel_error(arr, numeric))
    if err < THRESHOLD:
        return True, err, "right"
    return False, err, explain_values(arr, expected, case.dims, case.factors)


def _grade_case(ex: Exercise, module: Any, path: Path, case: Case) -> dict[str, Any]:
    """One case: ``{"error": str}`` if it could not run, else per-gradient verdicts."""
    verdicts: dict[str, tuple[bool, float, str]] = {}
    for part in ex.parts:
        ref_out, ref_grads = part.run(ex.reference, case)
        try:
            with np.errstate(all="ignore"):
                out, grads = part.run(module, case)
        except NotImplementedError:
            return {"error": f"{part.functions[0]} is not written yet (NotImplementedError)"}
        except InPlaceError as err:
            return {"error": str(err)}
        except Exception as err:  # noqa: BLE001
            return {"error": f"{part.functions[0]}: {exception_text(err, path)}"}
        for key, want in ref_out.items():
            have, why = as_gradient(out.get(key))
            want = np.asarray(want, dtype=np.float64)
            if have is None or have.shape != want.shape or not rel_error(have, want) < THRESHOLD:
                what = why or (f"shape {have.shape}, expected {want.shape}"
                               if have.shape != want.shape else
                               f"relative error {rel_error(have, want):.2g}")
                return {"error": f"the forward output {key} differs from the reference "
                                 f"({what}): leave forward as given"}
        for g in part.gradients:
            numeric = None
            if case.smooth:
                try:
                    with np.errstate(all="ignore"):
                        numeric = numerical_gradient(
                            lambda p=part, g=g: p.objective(module, case, g),
                            case.arrays[g.wrt], CHECK_STEP)
                except Exception as err:  # noqa: BLE001
                    return {"error": f"forward failed under central differences: "
                                     f"{exception_text(err, path)}"}
            verdicts[g.name] = _verdict(grads.get(g.name), np.asarray(ref_grads[g.name]),
                                        numeric, case, g)
    return {"verdicts": verdicts}


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def grade_exercise(ex: Exercise, directory: Path, seed: int = 0) -> dict[str, Any]:
    """Grade one exercise in this process; the row of the grade (see ``schema.GRADE_SCHEMA``)."""
    start = time.perf_counter()
    path = Path(directory) / f"{ex.name}.py"
    row: dict[str, Any] = {"name": ex.name, "title": ex.title, "passed": False, "score": 0.0,
                           "max_error": None, "message": "", "case": None, "gradients": {}}
    names = ex.gradients
    try:
        module = load_student(path)
        cases = ex.cases(np.random.default_rng([seed, *map(ord, ex.name)]))
    except StudentError as err:
        row["message"] = str(err)
        row["seconds"] = time.perf_counter() - start
        return row
    per_grad = {n: {"passed": True, "max_error": 0.0, "diagnosis": "right"} for n in names}
    n_ok, first_fail, failing = 0, None, []
    for case in cases:
        result = _grade_case(ex, module, path, case)
        if "error" in result:
            failing.append(case.label)
            for n in names:  # the first failure of each gradient is the one reported
                entry = per_grad[n]
                if entry["passed"]:
                    entry["diagnosis"] = f"{result['error']} (case: {case.label})"
                entry.update(passed=False, max_error=None)
            if first_fail is None:
                first_fail = (case, result["error"])
            continue
        verdicts = result["verdicts"]
        for n, (ok, err, why) in verdicts.items():
            entry = per_grad[n]
            n_ok += ok
            if entry["max_error"] is not None:
                entry["max_error"] = None if np.isnan(err) else max(entry["max_error"], err)
            if not ok and entry["passed"]:
                entry.update(passed=False, diagnosis=f"{why} (case: {case.label})")
        wrong = [n for n in names if not verdicts[n][0]]
        if wrong:
            failing.append(case.label)
            if first_fail is None:
                right = [n for n in names if verdicts[n][0]]
                text = "; ".join(f"{n} wrong: {verdicts[n][2]}" for n in wrong)
                if right:
                    text += f"; {_and(right)} right"
                first_fail = (case, text)
    total = len(cases) * len(names)
    row["score"] = n_ok / total if total else 0.0
    errors = [g["max_error"] for g in per_grad.values()]
    row["max_error"] = None if any(e is None for e in errors) else max(errors, default=0.0)
    row["gradients"] = per_grad
    if first_fail is None:
        row["passed"] = True
        row["message"] = f"{_and(names)} right on all {len(cases)} cases"
    else:
        case, text = first_fail
        row["case"] = case.label
        if len(failing) == len(cases) and "NotImplementedError" in text:
            row["message"] = text  # the same on every case: no case to point at
        else:
            row["message"] = f"{text} (case: {case.label})"
            if len(failing) < len(cases):
                row["message"] += f"; fails on {len(failing)} of {len(cases)} cases"
    row["seconds"] = time.perf_counter() - start
    return row


def _failed_row(ex: Exercise, message: str, seconds: float) -> dict[str, Any]:
    return {"name": ex.name, "title": ex.title, "passed": False, "score": 0.0,
            "max_error": None, "message": message, "case": None,
            "gradients": {n: {"passed": False, "max_error": None, "diagnosis": message}
                          for n in ex.gradients},
            "seconds": seconds}


def _child(name: str, directory: str, seed: int, conn: Any) -> None:
    """Run in the forked process: grade quietly, send the row."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # what the student prints (even from C) goes nowhere
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = io.StringIO()
    warnings.simplefilter("ignore")
    from npae.exercises.core import EXERCISES

    try:
        row = grade_exercise(EXERCISES[name], Path(directory), seed)
    except BaseException as err:  # noqa: BLE001 - a grader bug must still give a row
        row = _failed_row(EXERCISES[name], f"the grader failed: {err!r}", 0.0)
    conn.send(row)
    conn.close()


def _run_forked(ex: Exercise, directory: Path, seed: int, limit: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    start = time.perf_counter()
    proc = ctx.Process(target=_child, args=(ex.name, str(directory), seed, send), daemon=True)
    proc.start()
    send.close()
    try:
        if receive.poll(limit):
            try:
                return receive.recv()
            except EOFError:
                proc.join(5)
                return _failed_row(ex, f"the student's code ended the process (exit code "
                                       f"{proc.exitcode}) before a result",
                                   time.perf_counter() - start)
        return _failed_row(ex, f"no result within the time limit of {limit:g} s "
                               "(an infinite loop?)", time.perf_counter() - start)
    finally:
        receive.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)


class _TimeLimit(BaseException):
    """Raised by the alarm in the fallback path (a BaseException: ``except Exception`` in
    the student's loop does not swallow it)."""


def _run_inline(ex: Exercise, directory: Path, seed: int, limit: float) -> dict[str, Any]:
    """Where fork is missing: in this process, under SIGALRM when it exists (main thread)."""
    alarm = hasattr(signal, "setitimer") and threading.current_thread() is \
        threading.main_thread()
    start = time.perf_counter()

    def ring(signum: int, frame: Any) -> None:
        raise _TimeLimit

    old = signal.signal(signal.SIGALRM, ring) if alarm else None
    try:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, limit)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return grade_exercise(ex, directory, seed)
    except _TimeLimit:
        return _failed_row(ex, f"no result within the time limit of {limit:g} s "
                               "(an infinite loop?)", time.perf_counter() - start)
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def check(directory: str | Path, only: list[str] | None = None, *, seed: int = 0,
          time_limit: float = DEFAULT_TIME_LIMIT) -> dict[str, Any]:
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
        Seconds per exercise; beyond it the exercise fails as timed out.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"check: {directory} is not a folder")
    if not time_limit > 0:
        raise ValueError(f"check: time_limit must be > 0, got {time_limit}")
    forked = "fork" in multiprocessing.get_all_start_methods()
    rows = []
    for ex in select(only):
        run = _run_forked if forked else _run_inline
        rows.append(run(ex, directory, seed, time_limit))
    n_pass = sum(r["passed"] for r in rows)
    return {"format": "npae-exercises-grade", "version": 1, "directory": str(directory),
            "seed": seed, "time_limit": time_limit, "score": sum(r["score"] for r in rows),
            "max_score": len(rows), "passed": n_pass, "failed": len(rows) - n_pass,
            "exercises": rows}


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
    return "\n".join(lines)
