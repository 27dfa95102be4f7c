"""What an exercise is: the registry, and the two kinds of exercise parts.

An :class:`Exercise` is a student file (its stub source), a reference with the same
names as the stub (a module or any namespace), a case generator, and one or more
*parts*. A part says how to call one forward/backward pair and which gradients it
returns:

- :class:`LayerPart`: a class with ``forward(x)`` and ``backward(dy) -> dx`` that
  writes ``grads[name]`` for each of its ``params``, the npae layer protocol;
- :class:`FunctionPart`: a function computing a value and a ``*_backward`` function
  returning the gradients; when the value is an array (``upstream`` is set) the
  backward takes the upstream gradient as its first argument.

Both kinds are graded the same way: the gradient of the scalar
``L = sum(upstream * output)`` (or the value itself) with respect to each input is
compared with the reference's and with central differences of the student's own
forward (see :mod:`npae.exercises.grader`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Case", "Gradient", "LayerPart", "FunctionPart", "Exercise", "EXERCISES",
           "register", "unregister", "select", "InPlaceError"]


@dataclass
class Case:
    """One random instance of an exercise.

    Parameters
    ----------
    label : str
        What the case is, in words (``"N=3, C=2, 7x6, kernel 3, stride 2, padding 1"``):
        reports name the case a gradient fails on with it.
    arrays : dict of float64 arrays
        The inputs gradients are taken with respect to (``x``, ``W``, ``mu``...) and the
        upstream gradients (``dy``, ``dz``); central differences perturb them in place.
    data : dict
        Everything else the calls need: integer labels, targets, strides, ``rho``...
    dims : dict of int
        Named sizes (``{"N": 3, "n_in": 5}``), so that a report can write a shape as
        ``(n_in, n_out)`` and recognise a factor as the batch size.
    smooth : bool
        False where the function has a kink at the inputs (ties of a max, ReLU at 0):
        central differences are then skipped and only the reference counts.
    factors : dict of int, optional
        The factors worth naming when a gradient is off by a constant (``{"N": 3}``);
        by default any product of up to three ``dims``.
    """

    label: str
    arrays: dict[str, np.ndarray]
    data: dict[str, Any] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)
    smooth: bool = True
    factors: dict[str, int] | None = None

    def get(self, name: str) -> Any:
        """The array or the datum called ``name`` (not a copy)."""
        return self.arrays[name] if name in self.arrays else self.data[name]

    def values(self) -> dict[str, Any]:
        """Fresh copies of the arrays, and the data, by name (what one call sees)."""
        out = {k: np.array(v, copy=True) for k, v in self.arrays.items()}
        for k, v in self.data.items():
            out[k] = np.array(v, copy=True) if isinstance(v, np.ndarray) else v
        return out


@dataclass(frozen=True)
class Gradient:
    """One gradient a part returns: its name in reports, the input it belongs to, and the
    names of that input's axes (for messages such as ``shape (C, O, kh, kw), expected
    (O, C, kh, kw)``)."""

    name: str
    wrt: str
    axes: tuple[str, ...] = ()


class InPlaceError(Exception):
    """The student's code wrote into an array it was given."""


def _untouched(case: Case, given: Mapping[str, Any], who: str) -> None:
    """Refuse a call that wrote into its inputs: the caller may still need them (``dy`` is
    shared with other layers in a network), and npae's own code never does it."""
    arrays = {**case.arrays, **{k: a for k, a in case.data.items() if isinstance(a, np.ndarray)}}
    for k, original in arrays.items():
        seen = given[k]
        if isinstance(seen, np.ndarray) and (seen.shape != original.shape or
                                             not np.array_equal(seen, original)):
            raise InPlaceError(f"{who} wrote into its input {k!r}; compute a new array "
                               "instead (e.g. dx = dy * mask, not dy *= mask)")


@dataclass
class LayerPart:
    """A layer class of the student's file.

    ``cls(**{a: case value for a in init})`` builds it; its ``params`` dict must hold
    the arrays named in ``params`` (taken from ``case.arrays`` under the same names);
    ``forward(case[input])``, then ``backward(case[upstream])`` returns ``dx`` and fills
    ``grads``. ``gradients`` lists ``dx`` (``wrt`` = ``input``) and one entry per
    parameter (``wrt`` = the parameter's name).
    """

    cls: str
    init: tuple[str, ...]
    gradients: tuple[Gradient, ...]
    input: str = "x"
    upstream: str = "dy"
    output: str = "y"
    params: tuple[str, ...] = ()

    def _build(self, impl: Any, v: Mapping[str, Any]) -> Any:
        return getattr(impl, self.cls)(**{a: v[a] for a in self.init})

    def run(self, impl: Any, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
        """Outputs and gradients of ``impl``'s class on ``case`` (missing ones are None)."""
        v = case.values()
        layer = self._build(impl, v)
        y = layer.forward(v[self.input])
        dx = layer.backward(v[self.upstream])
        _untouched(case, v, f"{self.cls}.backward")
        grads = getattr(layer, "grads", None)
        out: dict[str, Any] = {}
        for g in self.gradients:
            if g.wrt == self.input:
                out[g.name] = dx
            else:
                out[g.name] = grads.get(g.wrt) if isinstance(grads, Mapping) else None
        return {self.output: y}, out

    def evaluate(self, impl: Any, case: Case) -> Any:
        """``forward(x)`` of a fresh layer on the case's current arrays."""
        v = case.values()
        return self._build(impl, v).forward(v[self.input])

    def objective(self, impl: Any, case: Case, gradient: Gradient) -> float:
        """``L = sum(dy * forward(x))`` on the case's current arrays, a fresh layer each call."""
        return float(np.sum(case.get(self.upstream) * self.evaluate(impl, case)))

    @property
    def functions(self) -> tuple[str, ...]:
        """What the student writes, for messages."""
        return (f"{self.cls}.backward",)


@dataclass
class FunctionPart:
    """A ``forward`` function of ``args`` and its ``backward`` of the same ``args``.

    The backward returns the gradients in the order of ``gradients`` (a tuple, or one
    array when there is one). With ``upstream`` set, the forward returns an array
    ``out``, the backward is called as ``backward(case[upstream], *args)``, and the
    gradients are those of ``L = sum(upstream * out)``; otherwise the forward returns a
    scalar and the gradients are its own.
    """

    forward: str
    backward: str
    args: tuple[str, ...]
    gradients: tuple[Gradient, ...]
    upstream: str | None = None
    output: str | None = None

    def _out_name(self) -> str:
        return self.output or self.forward

    def run(self, impl: Any, case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
        """Output and gradients of ``impl``'s functions on ``case``."""
        v = case.values()
        value = getattr(impl, self.forward)(*[v[a] for a in self.args])
        v = case.values()  # fresh copies: a forward that wrote into its inputs changes nothing
        args = [v[a] for a in self.args]
        back = getattr(impl, self.backward)
        res = back(v[self.upstream], *args) if self.upstream else back(*args)
        _untouched(case, v, self.backward)
        if not isinstance(res, (tuple, list)):
            res = (res,)
        if len(res) != len(self.gradients):
            raise TypeError(f"{self.backward} returned {len(res)} value(s), expected "
                            f"{len(self.gradients)}: "
                            f"({', '.join(g.name for g in self.gradients)})")
        return {self._out_name(): value}, {g.name: r for g, r in zip(self.gradients, res)}

    def evaluate(self, impl: Any, case: Case) -> Any:
        """The forward's value on the case's current arrays."""
        v = case.values()
        return getattr(impl, self.forward)(*[v[a] for a in self.args])

    def objective(self, impl: Any, case: Case, gradient: Gradient) -> float:
        """The value, or ``sum(upstream * output)``, on the case's current arrays."""
        out = self.evaluate(impl, case)
        return float(np.sum(case.get(self.upstream) * out)) if self.upstream else float(out)

    @property
    def functions(self) -> tuple[str, ...]:
        """What the student writes, for messages."""
        return (self.backward,)


Part = LayerPart | FunctionPart


@dataclass
class Exercise:
    """A backward pass for students to write, and everything needed to grade it.

    Parameters
    ----------
    name : str
        Short unique name (``"dense"``); the student's file is ``<name>.py``.
    title : str
        What the exercise is (``"Dense layer: y = x W + b"``).
    topic : str
        The course topic (``"layers"``, ``"losses"``, ``"regularizers"``...).
    difficulty : int
        1 (a line), 2 (a few lines, a sum over the right axis), 3 (indices or a chain).
    stub : str
        The student's file, as written by ``npae exercises make``: signatures,
        docstrings with shapes and the forward formula, the forward code, and each
        backward raising ``NotImplementedError``. The token ``{hints}`` (on a line of
        its own, indented as the docstring) is replaced by ``hints`` under ``--hints``
        and by a short note otherwise; nothing else in the text is touched. With
        several backward functions, ``{hints:KEY}`` takes ``hints[KEY]``.
    hints : str or dict of str
        The backward formula, or steps towards it (by key for ``{hints:KEY}``).
    reference : object
        A module or namespace with the same names as the stub, computing the right
        gradients (npae's own code for the built-in exercises).
    cases : callable
        ``cases(rng: numpy.random.Generator) -> list[Case]``: several random shapes in
        float64, the edge cases of the exercise included.
    parts : list of LayerPart or FunctionPart
        The classes/functions of the file and the gradients each returns.
    """

    name: str
    title: str
    topic: str
    difficulty: int
    stub: str
    hints: str | dict[str, str]
    reference: Any
    cases: Callable[[np.random.Generator], list[Case]]
    parts: list[Any]

    def source(self, hints: bool = False) -> str:
        """The student's file, with or without the hints."""
        note = ("Derive it on paper first. (No hints in this copy: they come with\n"
                "`npae exercises make DIR --hints`.)")
        out = []
        for line in self.stub.splitlines():
            token = line.strip()
            if token == "{hints}" or (token.startswith("{hints:") and token.endswith("}")):
                key = token[len("{hints:"):-1] if ":" in token else None
                text = self.hint(key).strip() if hints else note
                indent = line[: len(line) - len(line.lstrip())]
                out += [(indent + t) if t.strip() else "" for t in text.splitlines()]
            else:
                out.append(line)
        return "\n".join(out).rstrip() + "\n"

    def hint(self, key: str | None = None) -> str:
        """The hints for ``{hints:key}`` (all of them, joined, when ``key`` is None)."""
        if isinstance(self.hints, str):
            return self.hints
        if key is None:
            return "\n".join(self.hints.values())
        return self.hints[key]

    @property
    def gradients(self) -> list[str]:
        """The names of every gradient the exercise grades, in order."""
        return [g.name for p in self.parts for g in p.gradients]


#: Every exercise by name, built-ins first (see :func:`register`).
EXERCISES: dict[str, Exercise] = {}
#: The instructor's file each exercise came from, and the file being imported now: the
#: same file imported again (``check`` run twice in one process) replaces its own.
_ORIGIN: dict[str, str] = {}
LOADING: list[str] = []


def register(exercise: Exercise, *, replace: bool = False) -> Exercise:
    """Add an exercise to :data:`EXERCISES`, so that ``list``, ``make`` and ``check`` see it.

    A name already taken is refused with a ``ValueError`` unless ``replace=True``.
    Returns the exercise (usable as a decorator-free one-liner in an instructor's file).
    """
    if not isinstance(exercise, Exercise):
        raise TypeError(f"npae.exercises.register: expected an Exercise, got "
                        f"{type(exercise).__name__}")
    owner = "npae.exercises.register"
    if not exercise.name.isidentifier():
        raise ValueError(f"{owner}: the name must be a Python identifier "
                         f"(it names the student's file), got {exercise.name!r}")
    if exercise.difficulty not in (1, 2, 3):
        raise ValueError(f"{owner}: difficulty must be 1, 2 or 3, got {exercise.difficulty!r}")
    if not exercise.parts or not all(isinstance(p, (LayerPart, FunctionPart))
                                     for p in exercise.parts):
        raise TypeError(f"{owner}: parts must be a non-empty list of LayerPart or "
                        f"FunctionPart, got {exercise.parts!r}")
    if not callable(exercise.cases):
        raise TypeError(f"{owner}: cases must be a function rng -> list of Case, got "
                        f"{type(exercise.cases).__name__}")
    if "{hints" not in exercise.stub:
        raise ValueError(f"{owner}: the stub of {exercise.name!r} has no {{hints}} line "
                         "(in the backward's docstring, where --hints puts the formula)")
    origin = LOADING[-1] if LOADING else None
    same_file = origin is not None and _ORIGIN.get(exercise.name) == origin
    if exercise.name in EXERCISES and not (replace or same_file) and \
            EXERCISES[exercise.name] is not exercise:
        raise ValueError(f"npae.exercises.register: an exercise named {exercise.name!r} "
                         "exists already (pass replace=True to replace it)")
    EXERCISES[exercise.name] = exercise
    if origin is not None:
        _ORIGIN[exercise.name] = origin
    return exercise


def unregister(name: str) -> None:
    """Remove an exercise from :data:`EXERCISES` (a no-op if it is not there)."""
    EXERCISES.pop(name, None)
    _ORIGIN.pop(name, None)


def select(only: list[str] | None = None) -> list[Exercise]:
    """The exercises named in ``only`` (all when None), in registry order."""
    if not only:
        return list(EXERCISES.values())
    unknown = [n for n in only if n not in EXERCISES]
    if unknown:
        raise ValueError(f"unknown exercise {', '.join(map(repr, unknown))}; "
                         f"choose from {', '.join(EXERCISES)}")
    return [EXERCISES[n] for n in dict.fromkeys(only)]
