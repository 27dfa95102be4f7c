"""``npae exercises check-all SUBMISSIONS``: grade a whole class, a folder per student.

Each student's folder is graded by :func:`npae.exercises.check` with a relay process of
its own, so that one student's file cannot touch another's grade; ``jobs`` folders
are graded at once (threads here, each waiting on its own student processes). No file
of a submission is ever imported into the grader: an instructor's extra exercises
come with ``--register``, never from an ``exercises_extra.py`` a student could edit.

The CSV has one row per student (the folder's name, in sorted order), one column per
exercise (its score, 0 to 1, three decimals) and the total.
"""

from __future__ import annotations

import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from npae.exercises.core import select
from npae.exercises.grader import DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT, best_mode, check

__all__ = ["check_all", "grades_csv", "format_class"]


def _folders(submissions: Path) -> list[Path]:
    return sorted((p for p in submissions.iterdir()
                   if p.is_dir() and not p.name.startswith((".", "_"))), key=lambda p: p.name)


def check_all(submissions: str | Path, only: list[str] | None = None, *, seed: int = 0,
              time_limit: float = DEFAULT_TIME_LIMIT, allow_npae: bool = False,
              jobs: int = 1, mode: str | None = None,
              memory_limit: int = DEFAULT_MEMORY_LIMIT) -> dict[str, Any]:
    """Grade every student folder of ``submissions``; the class's grades as a dict.

    ``{"format": "npae-exercises-class", "exercises": [names], "mode": ...,
    "students": [{"student": folder name, "score", "passed", "started", "seconds",
    "grade": the folder's grade (see GRADE_SCHEMA)}]}``; the other parameters are
    :func:`npae.exercises.check`'s, ``jobs`` the number of folders graded at once.
    """
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise ValueError(f"check-all: {submissions} is not a folder")
    if jobs < 1:
        raise ValueError(f"check-all: jobs must be >= 1, got {jobs}")
    names = [ex.name for ex in select(only)]
    folders = _folders(submissions)
    mode = mode or best_mode()
    if mode == "inline" and jobs > 1:
        jobs = 1  # the inline mode's deadline is an alarm of the main thread

    def one(folder: Path) -> dict[str, Any]:
        started = time.time()
        grade = check(folder, names, seed=seed, time_limit=time_limit,
                      allow_npae=allow_npae, mode=mode, memory_limit=memory_limit)
        return {"student": folder.name, "score": grade["score"], "passed": grade["passed"],
                "started": started, "seconds": time.time() - started, "grade": grade}

    if jobs == 1:
        students = [one(f) for f in folders]
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            students = list(pool.map(one, folders))
    return {"format": "npae-exercises-class", "version": 1, "submissions": str(submissions),
            "exercises": names, "seed": seed, "time_limit": time_limit, "mode": mode,
            "allow_npae": allow_npae, "jobs": jobs, "students": students}


def grades_csv(result: dict[str, Any]) -> str:
    """The CSV: ``student,<exercise>...,total``, a row per student, scores to 3 decimals."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student", *result["exercises"], "total"])
    for s in result["students"]:
        scores = {r["name"]: r["score"] for r in s["grade"]["exercises"]}
        w.writerow([s["student"], *(f"{scores[n]:.3f}" for n in result["exercises"]),
                    f"{s['score']:.3f}"])
    return out.getvalue()


def format_class(result: dict[str, Any]) -> str:
    """The summary table: a line per student (score, passed, what failed and why, in
    short), then how many students passed each exercise."""
    names = result["exercises"]
    students = result["students"]
    w = max([7, *(len(s["student"]) for s in students)])
    lines = [f"{'student':<{w}}  {'score':>6}  passed  failed (first reason)"]
    for s in students:
        rows = s["grade"]["exercises"]
        failed = [r for r in rows if not r["passed"]]
        note = ""
        if failed:
            first = failed[0]["message"]
            first = first if len(first) <= 70 else first[:67] + "..."
            note = f"{', '.join(r['name'] for r in failed)} ({failed[0]['name']}: {first})"
        lines.append(f"{s['student']:<{w}}  {s['score']:6.2f}  {s['passed']:>3}/{len(rows):<2}  "
                     f"{note}")
    lines.append("")
    passed = {n: 0 for n in names}
    for s in students:
        for r in s["grade"]["exercises"]:
            passed[r["name"]] += r["passed"]
    lines.append("passed by exercise: " + ", ".join(f"{n} {k}/{len(students)}"
                                                    for n, k in passed.items()))
    flagged = sorted({s["student"] for s in students
                      for r in s["grade"]["exercises"] if r["flags"]})
    if flagged:
        lines.append(f"uses npae's own implementation: {', '.join(flagged)}"
                     + ("" if result["allow_npae"] else " (those exercises fail)"))
    lines.append(f"{len(students)} students, mode: {result['mode']}, {result['jobs']} at once")
    return "\n".join(lines)
