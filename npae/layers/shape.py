"""Layers that only change the shape of their input."""

from __future__ import annotations

from typing import Any

import numpy as np

from npae.arguments import is_int
from npae.backend import Array, get_array_module
from npae.im2col import channels_last, is_channels_last
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

    ``shape`` excludes the batch axis; one entry may be -1.
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
        self._in_shape = shape
        # a channels-last image gets its gradient back channels-last (one copy here
        # rather than slow mixed-layout arithmetic in every layer before)
        self._in_channels_last = is_channels_last(x)
        try:
            return x.reshape((shape[0],) + self.shape)
        except ValueError:
            raise ValueError(
                f"{name}: cannot reshape an input of shape {tuple(shape)} "
                f"to (batch,) + {self.shape}") from None

    def backward(self, dy: Array) -> Array:
        dx = dy.reshape(self._in_shape)
        if self._in_channels_last:
            n, c, h, w = dx.shape
            out = channels_last(get_array_module(dx).empty((n, h, w, c), dtype=dx.dtype))
            out[...] = dx
            return out
        return dx


class Flatten(Reshape):
    r"""``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``; backward reshapes back."""

    def __init__(self) -> None:
        super().__init__((-1,))
        self._config = {}
