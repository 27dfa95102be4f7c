"""The grade of one exercise, computed from the arrays the student's code answered.

Everything that decides a grade happens here, in the grading process: the reference's
outputs and gradients (:attr:`Exercise.reference`, run here), the perturbed points of
the central differences and their arithmetic, every comparison, the diagnosis
(:mod:`npae.exercises.diagnose`) and the row. The student's code only answers two
requests through a *student* object (a process, :mod:`npae.exercises.session`, or
this process in the ``inline`` mode):

- ``run(part, case)``: the forward's outputs and the gradients of one case;
- ``outputs(part, case, wrt, stack)``: the forward's output at each of the points
  ``stack`` (the input ``wrt`` moved by ``+h`` and ``-h`` along one entry at a time).

A reply is ``(kind, text, arrays)``; :func:`parse_reply` checks it before anything is
read from it. The numerical gradient of ``L = sum(dy * forward(x))`` (or of the scalar
value) is then ``(L(x + h e_i) - L(x - h e_i)) / 2h`` with ``h = CHECK_STEP``, computed
here from the outputs the student's forward gave, entry by entry as
:func:`npae.gradcheck.numerical_gradient` does.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from npae.exercises.core import Case, Exercise, Gradient
from npae.exercises.diagnose import as_gradient, explain_shape, explain_values
from npae.gradcheck import CHECK_STEP, THRESHOLD, rel_error

__all__ = ["Failure", "parse_reply", "verdict", "grade", "failed_row", "CHUNK_BYTES"]

#: Perturbed points are sent in requests of at most this many bytes.
CHUNK_BYTES = 8 * 2**20


class Failure(Exception):
    """The student's process stopped answering (ended, timed out, broke the protocol):
    the exercise fails with this message and grading goes on with the next."""


_NPAE_NAME = re.compile(r"npae(\.[A-Za-z_]\w*){0,8}")
_KEY = re.compile(r"[yg]\d{1,3}")
_TYPE = re.compile(r"[\w. ]{1,60}")


def parse_reply(kind: str, text: str, arrays: dict[str, np.ndarray],
                expected: set[str]) -> tuple[str, list[str], dict[str, str]]:
    """``(message, npae modules imported, types of the non-arrays)`` of a reply.

    Raises :class:`Failure` unless it is exactly three lines of the expected form,
    its kind ``ok`` or ``error``, and its arrays named among ``expected``.
    """
    lines = text.split("\n")
    if kind not in ("ok", "error") or len(lines) != 3 or not lines[1].startswith("npae ") \
            or not lines[2].startswith("types "):
        raise Failure("the student's process sent a malformed reply")
    message = lines[0][:600]
    npae = [n for n in lines[1][5:].split(",") if n][:50]
    types: dict[str, str] = {}
    for item in [t for t in lines[2][6:].split(",") if t][:50]:
        key, _, value = item.partition("=")
        if not _KEY.fullmatch(key) or not _TYPE.fullmatch(value):
            raise Failure("the student's process sent a malformed reply")
        types[key] = value
    if not all(_NPAE_NAME.fullmatch(n) for n in npae) or not set(arrays) <= expected:
        raise Failure("the student's process sent a malformed reply")
    if kind == "error" and not message:
        message = "failed without a message"
    return (message if kind == "error" else ""), npae, types


def verdict(arr: np.ndarray | None, why: str | None, expected: np.ndarray,
            numeric: np.ndarray | None, case: Case, grad: Gradient) -> tuple[bool, float, str]:
    """``(passed, max relative error or nan, diagnosis)`` for one gradient on one case."""
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


def _value(arrays: dict[str, np.ndarray], types: dict[str, str], key: str
           ) -> tuple[np.ndarray | None, str | None]:
    if key in arrays:
        return as_gradient(arrays[key])
    kind = types.get(key, "NoneType")
    return None, "missing (got None)" if kind == "NoneType" else f"not an array (got {kind})"


def _perturbed(x: np.ndarray, h: float) -> np.ndarray:
    """``2 x.size`` copies of ``x``: copy ``2i`` has entry ``i`` moved by ``+h``, copy
    ``2i+1`` by ``-h`` (the values :func:`~npae.gradcheck.numerical_gradient` uses)."""
    n = x.size
    stack = np.repeat(x.reshape(1, n), 2 * n, axis=0)
    i = np.arange(n)
    flat = x.reshape(n)
    stack[2 * i, i] = flat + h
    stack[2 * i + 1, i] = flat - h
    return stack.reshape((2 * n, *x.shape))


def numeric_gradient(student: Any, part: Any, case: Case, grad: Gradient,
                     learn: Any) -> np.ndarray | str:
    """Central differences of the student's forward: the array, or why it failed."""
    x = case.arrays[grad.wrt]
    stack = _perturbed(x, CHECK_STEP)
    per = max(1, CHUNK_BYTES // max(1, x.nbytes))
    outs = []
    for start in range(0, len(stack), per):
        chunk = stack[start:start + per]
        reply = student.outputs(part, case, grad.wrt, chunk)
        message, npae, _ = parse_reply(*reply, expected={"out"})
        learn(npae)
        if message:
            return message
        out = reply[2].get("out")
        if out is None or out.dtype.kind not in "fiu" or out.shape[:1] != (len(chunk),):
            raise Failure("the student's process sent a malformed reply")
        outs.append(out)
    outs = np.concatenate(outs).astype(np.float64, copy=False)
    upstream = case.get(part.upstream) if part.upstream else None
    if upstream is not None and outs.shape[1:] != np.shape(upstream):
        return (f"forward failed under central differences: output shape {outs.shape[1:]}, "
                f"expected {np.shape(upstream)}")
    if upstream is None and outs[0].size != 1:
        return "forward failed under central differences: the value is not a scalar"
    f = [float(np.sum(upstream * o)) if upstream is not None else float(o.reshape(-1)[0])
         for o in outs]
    f = np.asarray(f)
    return ((f[0::2] - f[1::2]) / (2 * CHECK_STEP)).reshape(x.shape)


def _grade_case(ex: Exercise, student: Any, case: Case, learn: Any) -> dict[str, Any]:
    """One case: ``{"error": str}`` if it could not run, else per-gradient verdicts."""
    verdicts: dict[str, tuple[bool, float, str]] = {}
    for part in ex.parts:
        ref_out, ref_grads = part.run(ex.reference, case)
        expected = {f"y{i}" for i in range(len(ref_out))} | \
            {f"g{i}" for i in range(len(part.gradients))}
        kind, text, arrays = student.run(part, case)
        message, npae, types = parse_reply(kind, text, arrays, expected)
        learn(npae)
        if message:
            return {"error": message}
        for i, (key, want) in enumerate(ref_out.items()):
            have, why = _value(arrays, types, f"y{i}")
            want = np.asarray(want, dtype=np.float64)
            if have is None or have.shape != want.shape or not rel_error(have, want) < THRESHOLD:
                what = why or (f"shape {have.shape}, expected {want.shape}"
                               if have.shape != want.shape else
                               f"relative error {rel_error(have, want):.2g}")
                return {"error": f"the forward output {key} differs from the reference "
                                 f"({what}): leave forward as given"}
        for i, g in enumerate(part.gradients):
            numeric = None
            if case.smooth:
                numeric = numeric_gradient(student, part, case, g, learn)
                if isinstance(numeric, str):
                    return {"error": numeric}
            arr, why = _value(arrays, types, f"g{i}")
            verdicts[g.name] = verdict(arr, why, np.asarray(ref_grads[g.name]), numeric, case, g)
    return {"verdicts": verdicts}


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def failed_row(ex: Exercise, message: str, seconds: float) -> dict[str, Any]:
    """The row of an exercise that could not be graded at all."""
    return {"name": ex.name, "title": ex.title, "passed": False, "score": 0.0,
            "max_error": None, "message": message, "case": None,
            "gradients": {n: {"passed": False, "max_error": None, "diagnosis": message}
                          for n in ex.gradients},
            "flags": [], "seconds": seconds}


def grade(ex: Exercise, student: Any, seed: int = 0) -> dict[str, Any]:
    """Grade one exercise through ``student``; the row (see ``schema.GRADE_SCHEMA``).

    ``student.start()`` imports the file (it returns the import error, or None); the
    modules of ``npae`` the student's code imported are collected in ``row["npae"]``
    (the caller turns them into flags). A :class:`Failure` ends the exercise.
    """
    start = time.perf_counter()
    seen: list[str] = []

    def learn(names: list[str]) -> None:
        seen.extend(n for n in names if n not in seen)

    try:
        row = _grade(ex, student, seed, learn)
    except Failure as err:
        row = failed_row(ex, str(err), 0.0)
    row["npae"] = seen
    row["seconds"] = time.perf_counter() - start
    return row


def _grade(ex: Exercise, student: Any, seed: int, learn: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"name": ex.name, "title": ex.title, "passed": False, "score": 0.0,
                           "max_error": None, "message": "", "case": None, "gradients": {},
                           "flags": []}
    names = ex.gradients
    cases = ex.cases(np.random.default_rng([seed, *map(ord, ex.name)]))
    error, npae = student.start()
    learn(npae)
    if error:
        row["message"] = error
        return row
    per_grad = {n: {"passed": True, "max_error": 0.0, "diagnosis": "right"} for n in names}
    n_ok, first_fail, failing = 0, None, []
    for case in cases:
        result = _grade_case(ex, student, case, learn)
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
    return row
