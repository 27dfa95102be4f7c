"""The layer protocol: the :class:`Layer` base class.

A layer maps an input ``x`` to an output ``y`` and, given the upstream gradient
``dy = dL/dy``, returns ``dx = dL/dx`` and writes ``dL/dtheta`` for each of its
trainable arrays into ``grads``. It keeps what ``backward`` needs from the last
``forward`` (its cache). After ``y = layer.forward(x)`` and
``dx = layer.backward(dy)``, ``dx`` and ``layer.grads`` are the gradients of
``L = sum(dy * y)``. ``backward`` never writes into ``dy``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from npae import backend

# Kept importable from here, where npae 0.1 had them (tutorial 09 and users' own layers
# import them from this module); their homes are npae.arguments and npae.registry.
from npae.arguments import as_generator, as_pair, check_float_dtype, check_real  # noqa: F401
from npae.backend import Array
from npae.registry import (  # noqa: F401
    LAYERS,
    MODELS,
    qualified_name,
    register,
    registered_name,
)

__all__ = ["Array", "Layer", "new_param"]


class Layer:
    """Base class: ``params``/``grads`` dicts, ``forward``, ``backward``.

    Subclasses record their constructor arguments with ``self._config`` (JSON
    values only) so that :mod:`npae.io` can rebuild them as ``cls(**config)``;
    ``npae.save`` refuses a layer it could not rebuild. Each subclass is entered
    in ``LAYERS`` by :func:`npae.registry.register`.
    """

    params: dict[str, Array]
    grads: dict[str, Array]
    #: True for layers whose backward can skip computing dL/dx (first layer of a net).
    skips_input_grad: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register(LAYERS, cls)

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
        # getattr: a user layer whose __init__ skips super().__init__() has no _config;
        # npae.save then reports what it cannot rebuild rather than an AttributeError.
        return dict(getattr(self, "_config", {}))

    def parameters(self) -> Iterator[tuple[str, Array, Array | None]]:
        """Yield ``(name, param, grad)`` for each trainable array."""
        for k, p in self.params.items():
            yield k, p, self.grads.get(k)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
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
