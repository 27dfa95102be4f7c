"""The layer protocol, and the small helpers every layer shares.

A layer maps an input ``x`` to an output ``y`` and, given the upstream gradient
``dy = dL/dy``, returns ``dx = dL/dx`` and writes ``dL/dtheta`` for each of its
trainable arrays into ``grads``. It keeps what ``backward`` needs from the last
``forward`` (its cache). After ``y = layer.forward(x)`` and
``dx = layer.backward(dy)``, ``dx`` and ``layer.grads`` are the gradients of
``L = sum(dy * y)``. ``backward`` never writes into ``dy``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from npae import backend

Array = Any  # numpy.ndarray or cupy.ndarray

#: Every layer class by name, so a saved architecture can be rebuilt.
LAYERS: dict[str, type[Layer]] = {}


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a generator, a seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"npae: rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}"
    )


def as_pair(value: int | tuple[int, int], name: str, owner: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(3, 2) -> (3, 2)``; anything else is refused."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        a, b = value
        return int(a), int(b)
    except (TypeError, ValueError):
        raise ValueError(
            f"{owner}: {name} must be an int or an (h, w) pair, got {value!r}") from None


def check_float_dtype(dtype: Any, owner: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{owner}: dtype must be a floating type, got {dt}")
    return dt


class Layer:
    """Base class: ``params``/``grads`` dicts, ``forward``, ``backward``.

    Subclasses record their constructor arguments with ``self._config`` (JSON
    values only) so that :mod:`npae.io` can rebuild them.
    """

    params: dict[str, Array]
    grads: dict[str, Array]
    #: True for layers whose backward can skip computing dL/dx (first layer of a net).
    skips_input_grad: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        LAYERS[cls.__name__] = cls

    def __init__(self) -> None:
        self.params = {}
        self.grads = {}
        self._config: dict[str, Any] = {}

    def forward(self, x: Array, training: bool = True) -> Array:
        raise NotImplementedError

    def backward(self, dy: Array) -> Array:
        raise NotImplementedError

    def __call__(self, x: Array, training: bool = True) -> Array:
        return self.forward(x, training=training)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON values) that rebuild this layer."""
        return dict(self._config)

    def parameters(self):
        """Yield ``(name, param, grad)`` for each trainable array."""
        for k, p in self.params.items():
            yield k, p, self.grads.get(k)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"

    # -- shared checks (cheap: shapes only, never whole-array scans) --------
    def _check_input(self, x: Array, ndim: int, axis: int | None = None,
                     size: int | None = None, what: str = "features") -> None:
        name = type(self).__name__
        shape = getattr(x, "shape", None)
        if shape is None:
            raise TypeError(f"{name}: input must be an array, got {type(x).__name__}")
        if len(shape) != ndim:
            layout = {2: "(batch, features)", 4: "(batch, channels, height, width)"}.get(
                ndim, f"{ndim} dimensions")
            raise ValueError(
                f"{name}: expected a {ndim}-D input {layout}, got shape {tuple(shape)}")
        if shape[0] == 0:
            raise ValueError(f"{name}: empty batch (input shape {tuple(shape)})")
        if axis is not None and size is not None and shape[axis] != size:
            raise ValueError(
                f"{name}: expected {size} input {what}, got {shape[axis]} "
                f"(input shape {tuple(shape)})")


def new_param(values: np.ndarray, dtype: np.dtype) -> Array:
    """Host values -> a parameter array of ``dtype`` on the active backend."""
    return backend.to_device(np.asarray(values, dtype=dtype))
