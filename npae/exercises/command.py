"""``npae exercises list | make DIR | check DIR | check-all SUBMISSIONS | schema``: what
the subcommand does (the parser lines live in :mod:`npae.cli`).

``check-all`` exits 0 once every folder is graded (its grades are in the CSV / JSON,
not in the status).

Exit status of ``check``: the number of exercises that failed (0 when all passed),
capped at 255, the largest status a process can return. A usage error (no such
folder, an unknown exercise name, a ``--register`` file that cannot be imported) prints
one line on stderr, no table, and exits 2 like every npae command: an autograder
should read ``--json`` rather than the status alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from npae.exercises.classroom import check_all, format_class, grades_csv
from npae.exercises.core import select
from npae.exercises.grader import check, format_table
from npae.exercises.make import EXTRA_FILE, load_extra, make
from npae.exercises.schema import GRADE_SCHEMA

__all__ = ["run"]

_STARS = {1: "*", 2: "**", 3: "***"}


def _register(args: argparse.Namespace) -> None:
    """``--register`` files/modules, then ``DIR/exercises_extra.py`` if there is one
    (never for ``check-all``: a submission's files are not imported into the grader)."""
    for spec in getattr(args, "register", None) or []:
        load_extra(spec)
    folder = getattr(args, "dir", None)
    if folder and args.action != "check-all" and (Path(folder) / EXTRA_FILE).is_file():
        load_extra(Path(folder) / EXTRA_FILE)


def _list() -> int:
    exercises = select()
    w = max(len(ex.name) for ex in exercises)
    t = max(len(ex.topic) for ex in exercises)
    print(f"{'exercise':<{w}}  {'topic':<{t}}  level  what")
    for ex in exercises:
        print(f"{ex.name:<{w}}  {ex.topic:<{t}}  {_STARS.get(ex.difficulty, ex.difficulty)!s:<5}  "
              f"{ex.title}")
    return 0


def _check_all(args: argparse.Namespace) -> int:
    result = check_all(args.dir, args.only, seed=args.seed, time_limit=args.time_limit,
                       allow_npae=args.allow_npae, jobs=args.jobs)
    if args.csv:
        Path(args.csv).write_text(grades_csv(result), encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_class(result))
        if args.csv:
            print(f"wrote {args.csv}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Carry out ``npae exercises <action>``; the exit status."""
    if args.action == "schema":
        print(json.dumps(GRADE_SCHEMA, indent=2))
        return 0
    _register(args)
    if args.action == "list":
        return _list()
    if args.action == "make":
        written = make(args.dir, args.only, hints=args.hints, overwrite=args.force)
        kept = [ex.name for ex in select(args.only)
                if Path(args.dir, f"{ex.name}.py") not in written]
        for path in written:
            print(f"wrote {path}")
        if kept:
            print(f"kept the existing {', '.join(n + '.py' for n in kept)} (--force rewrites)")
        return 0
    if args.action == "check-all":
        return _check_all(args)
    grade = check(args.dir, args.only, seed=args.seed, time_limit=args.time_limit,
                  allow_npae=args.allow_npae)
    if args.json:
        print(json.dumps(grade, indent=2))
    else:
        print(format_table(grade))
    return min(grade["failed"], 255)
