"""Exercises: students write the backward passes, npae grades them.

``npae exercises make DIR`` writes one stub per exercise (the signature, the docstring
with shapes and the forward formula, ``forward`` written, ``backward`` raising
``NotImplementedError``); ``npae exercises check DIR`` grades them against npae's own
implementations and central differences, and says which gradient is wrong and how;
``npae exercises check-all SUBMISSIONS`` grades a class (:func:`check_all`). The
student's code runs in a process of its own that answers with arrays only; the grade
is computed in the grader's (see :mod:`npae.exercises.grader`).

An instructor adds an exercise with :func:`register` (see :class:`Exercise`,
:class:`LayerPart`, :class:`FunctionPart`, :class:`Case`), from a file passed as
``--register FILE`` or an ``exercises_extra.py`` in the student folder.
"""

from npae.exercises.core import (  # noqa: I001 - the registry first, then the built-ins
    EXERCISES,
    Case,
    Exercise,
    FunctionPart,
    Gradient,
    LayerPart,
    register,
    select,
    unregister,
)
from npae.exercises import builtin_layers, builtin_losses, builtin_conv  # noqa: F401
from npae.exercises import builtin_penalties  # noqa: F401
from npae.exercises.grader import DEFAULT_TIME_LIMIT, check, format_table, grade_exercise
from npae.exercises.classroom import check_all, format_class, grades_csv
from npae.exercises.make import EXTRA_FILE, load_extra, make
from npae.exercises.schema import GRADE_SCHEMA, validate

__all__ = ["EXERCISES", "Case", "Exercise", "FunctionPart", "Gradient", "LayerPart",
           "register", "unregister", "select", "check", "grade_exercise", "format_table",
           "DEFAULT_TIME_LIMIT", "make", "load_extra", "EXTRA_FILE", "GRADE_SCHEMA",
           "validate", "check_all", "grades_csv", "format_class"]
