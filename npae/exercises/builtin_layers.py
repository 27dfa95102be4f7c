"""Built-in exercises: the Dense layer and the element-wise activations."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from npae import layers
from npae.exercises.core import Case, Exercise, Gradient, LayerPart, register

HEADER = '''"""Exercise {name}: {title}.

Write the backward pass below (every ``raise NotImplementedError``), then check it:

    npae exercises check . --only {name}

Arrays are float64 NumPy arrays. Keep ``forward`` as it is: the grader compares its
output with npae's. Each gradient has the shape of the variable it belongs to. Return
new arrays: never write into an array you are given (in a network ``dy`` is shared).
"""

import numpy as np
'''


class Wrapped:
    """A reference layer with the stub's constructor, delegating to an npae layer."""

    layer: Any

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.layer.forward(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.layer.backward(dy)

    @property
    def params(self) -> dict[str, Any]:
        return self.layer.params

    @property
    def grads(self) -> dict[str, Any]:
        return self.layer.grads


class _Dense(Wrapped):
    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.layer = layers.Dense(W.shape[0], W.shape[1], dtype=np.float64)
        self.layer.params.update(W=W, b=b)


def _activation(cls: type) -> type:
    class Ref(Wrapped):
        def __init__(self) -> None:
            self.layer = cls()

    Ref.__name__ = cls.__name__
    return Ref


DENSE_STUB = HEADER.format(name="dense", title="the fully connected layer") + '''

class Dense:
    """Affine map ``y = x W + b``.

    Shapes: ``x (N, n_in)``, ``W (n_in, n_out)``, ``b (n_out,)``, ``y (N, n_out)``.

    Forward: ``y[n, j] = sum_i x[n, i] W[i, j] + b[j]``.
    """

    def __init__(self, W, b):
        self.params = {"W": W, "b": b}
        self.grads = {}

    def forward(self, x):
        self.x = x  # kept for backward
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        """Given ``dy = dL/dy`` (N, n_out), return ``dx = dL/dx`` (N, n_in) and set
        ``self.grads["W"]`` (n_in, n_out) and ``self.grads["b"]`` (n_out,).

        {hints}
        """
        raise NotImplementedError("Dense.backward")
'''

DENSE_HINTS = """Hints: write L = sum_{n,j} dy[n, j] y[n, j] and differentiate entry by entry.
  dL/dW = x^T dy           (a sum over the batch: (n_in, N) @ (N, n_out))
  dL/db = sum_n dy[n, :]   (the bias is added to every row)
  dL/dx = dy W^T           ((N, n_out) @ (n_out, n_in))
Check each result's shape against its variable's."""


def _dense_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for N, n_in, n_out in ((3, 5, 4), (1, 7, 2), (6, 2, 1)):
        out.append(Case(f"N={N}, n_in={n_in}, n_out={n_out}",
                        {"x": rng.standard_normal((N, n_in)),
                         "W": rng.standard_normal((n_in, n_out)),
                         "b": rng.standard_normal(n_out),
                         "dy": rng.standard_normal((N, n_out))},
                        dims={"N": N, "n_in": n_in, "n_out": n_out}))
    return out


register(Exercise(
    name="dense", title="Dense layer: y = x W + b", topic="layers", difficulty=1,
    stub=DENSE_STUB, hints=DENSE_HINTS, reference=SimpleNamespace(Dense=_Dense),
    cases=_dense_cases,
    parts=[LayerPart("Dense", ("W", "b"), (Gradient("dx", "x", ("N", "n_in")),
                                           Gradient("dW", "W", ("n_in", "n_out")),
                                           Gradient("db", "b", ("n_out",))),
                     params=("W", "b"))]))


ACTIVATION_STUB = HEADER + '''

class {cls}:
    """Element-wise ``y = f(x)`` with {formula}.

    Shapes: ``x (N, D)`` and ``y (N, D)``. No parameters: ``params`` and ``grads``
    stay empty.{note}
    """

    def __init__(self):
        self.params = {{}}
        self.grads = {{}}

    def forward(self, x):
        self.x = x  # kept for backward
{forward}

    def backward(self, dy):
        """Given ``dy = dL/dy`` (N, D), return ``dx = dL/dx`` (N, D).

        {{hints}}
        """
        raise NotImplementedError("{cls}.backward")
'''


def _activation_exercise(name: str, cls: type, formula: str, forward: str, hints: str,
                         note: str, difficulty: int, cases: Any) -> None:
    stub = ACTIVATION_STUB.format(name=name, title=f"the {cls.__name__} activation",
                                  cls=cls.__name__, formula=formula, forward=forward,
                                  note=note)
    register(Exercise(
        name=name, title=f"{cls.__name__} activation: y = {formula.strip('`')}",
        topic="activations", difficulty=difficulty, stub=stub, hints=hints,
        reference=SimpleNamespace(**{cls.__name__: _activation(cls)}), cases=cases,
        parts=[LayerPart(cls.__name__, (), (Gradient("dx", "x", ("N", "D")),))]))


def _elementwise_cases(scale: float, extreme: float):
    def cases(rng: np.random.Generator) -> list[Case]:
        out = []
        for N, D, s, big in ((4, 5, scale, False), (1, 3, scale, False), (3, 6, extreme, True)):
            label = f"N={N}, D={D}" + (f", inputs of size ~{s:g}" if big else "")
            x = rng.standard_normal((N, D)) * s
            out.append(Case(label, {"x": x, "dy": rng.standard_normal((N, D))},
                            dims={"N": N, "D": D}))
        return out

    return cases


def _relu_cases(rng: np.random.Generator) -> list[Case]:
    out = _elementwise_cases(2.0, 2.0)(rng)[:2]
    x = rng.standard_normal((3, 6))
    x[:, ::2] = 0.0  # exactly at the kink: the rule f'(0) = 0 decides
    out.append(Case("N=3, D=6, some inputs exactly 0 (f'(0) = 0)",
                    {"x": x, "dy": rng.standard_normal((3, 6))}, dims={"N": 3, "D": 6},
                    smooth=False))
    return out


_activation_exercise(
    "sigmoid", layers.Sigmoid, "``f(x) = 1 / (1 + exp(-x))``",
    "        self.y = 0.5 * (1 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), never overflows\n"
    "        return self.y",
    "Hints: f'(x) = f(x) (1 - f(x)), so dx = dy * y * (1 - y) with y the forward's output\n"
    "(kept in self.y): no second exponential, and no overflow for large |x|.",
    "", 1, _elementwise_cases(2.0, 30.0))
_activation_exercise(
    "relu", layers.ReLU, "``f(x) = max(x, 0)``",
    "        return np.maximum(x, 0)",
    "Hints: f'(x) = 1 where x > 0 and 0 where x <= 0, so dx = dy * (x > 0).",
    "\n\n    At the kink use ``f'(0) = 0`` (the gradient is 0 where ``x == 0``), as npae does:"
    "\n    the grader has a case with inputs exactly 0.", 1, _relu_cases)
_activation_exercise(
    "tanh", layers.Tanh, "``f(x) = tanh(x)``",
    "        self.y = np.tanh(x)\n        return self.y",
    "Hints: tanh'(x) = 1 - tanh(x)^2, so dx = dy * (1 - y^2) with y = self.y.",
    "", 1, _elementwise_cases(1.5, 20.0))
