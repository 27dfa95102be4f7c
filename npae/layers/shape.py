"""Layers that only change the shape of their input."""

from __future__ import annotations

from typing import Any

import numpy as np

from npae import kernels
from npae.arguments import is_int
from npae.backend import Array
from npae.layers.base import Layer


def _check_shape(shape: Any, owner: str) -> tuple[int, ...]:
    """A target shape (batch axis excluded): integers >= 1, at most one -1."""
    entries = (shape,) if isinstance(shape, (int, np.integer)) else shape
    expected = "a tuple of integers >= 1 (one may be -1)"
    try:
        entries = tuple(entries)
    except TypeError:
        raise TypeError(f"{owner}: shape must be {expected}, got {shape!r}") from None
    if any(not is_int(s) for s in entries):
        raise TypeError(f"{owner}: shape must be {expected}, got {shape!r}")
    if any(s < 1 and s != -1 for s in entries) or entries.count(-1) > 1:
        raise ValueError(f"{owner}: shape must be {expected}, got {shape!r}")
    return tuple(int(s) for s in entries)


class Reshape(Layer):
    r"""``y = reshape(x, (N,) + shape)``; backward ``dx = reshape(dy, x.shape)``.

    ``shape`` excludes the batch axis; one entry may be -1. The kernels
    (:func:`npae.kernels.reference.reshape_forward`, ``reshape_backward``) are these two
    reshapes; the fast ones also hand a channels-last image its gradient channels-last.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = _check_shape(shape, type(self).__name__)
        self._config = {"shape": list(self.shape)}

    def forward(self, x: Array, training: bool = True) -> Array:
        name = type(self).__name__
        shape = getattr(x, "shape", None)
        if shape is None or not hasattr(x, "reshape"):
            raise TypeError(f"{name}: input must be an array, got {type(x).__name__}")
        if len(shape) < 1 or shape[0] == 0:
            raise ValueError(f"{name}: empty batch (input shape {tuple(shape)})")
        try:
            y, self._cache = kernels.reshape_forward(x, self.shape)
        except ValueError:
            raise ValueError(
                f"{name}: cannot reshape an input of shape {tuple(shape)} "
                f"to (batch,) + {self.shape}") from None
        return y

    def backward(self, dy: Array) -> Array:
        return kernels.reshape_backward(dy, self._cache)


class Flatten(Reshape):
    r"""``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``; backward reshapes back."""

    def __init__(self) -> None:
        super().__init__((-1,))
        self._config = {}
