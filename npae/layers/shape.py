"""Layers that only change the shape of their input."""

from __future__ import annotations

from npae.layers.base import Array, Layer


class Reshape(Layer):
    r"""``y = reshape(x, (N,) + shape)``; backward ``dx = reshape(dy, x.shape)``.

    ``shape`` excludes the batch axis; one entry may be -1.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self._config = {"shape": list(self.shape)}

    def forward(self, x: Array, training: bool = True) -> Array:
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}: empty batch (input shape {x.shape})")
        self._in_shape = x.shape
        try:
            return x.reshape((x.shape[0],) + self.shape)
        except ValueError:
            raise ValueError(
                f"{type(self).__name__}: cannot reshape an input of shape {tuple(x.shape)} "
                f"to (batch,) + {self.shape}") from None

    def backward(self, dy: Array) -> Array:
        return dy.reshape(self._in_shape)


class Flatten(Reshape):
    r"""``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``; backward reshapes back."""

    def __init__(self) -> None:
        super().__init__((-1,))
        self._config = {}
