"""The layer protocol, and the small helpers every layer shares.

A layer maps an input ``x`` to an output ``y`` and, given the upstream gradient
``dy = dL/dy``, returns ``dx = dL/dx`` and writes ``dL/dtheta`` for each of its
trainable arrays into ``grads``. It keeps what ``backward`` needs from the last
``forward`` (its cache). After ``y = layer.forward(x)`` and
``dx = layer.backward(dy)``, ``dx`` and ``layer.grads`` are the gradients of
``L = sum(dy * y)``. ``backward`` never writes into ``dy``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from numbers import Real
from typing import Any, ClassVar

import numpy as np

from npae import backend

Array = Any  # numpy.ndarray or cupy.ndarray

#: Every layer class by name, so a saved architecture can be rebuilt (see :func:`register`).
LAYERS: dict[str, type[Layer]] = {}
#: Every model class by name (filled by ``npae.models.Autoencoder``'s subclass hook). It
#: lives here, beside ``LAYERS``, so that :mod:`npae.io` and :mod:`npae.models` both reach
#: it without importing each other.
MODELS: dict[str, type] = {}


def qualified_name(cls: type) -> str:
    """``"module.QualName"`` of a class, e.g. ``"npae.layers.dense.Dense"``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_npae(cls: type) -> bool:
    return cls.__module__ == "npae" or cls.__module__.startswith("npae.")


def register(registry: dict[str, type], cls: type) -> str:
    """Enter ``cls`` in ``registry`` (``LAYERS`` or ``MODELS``) and return its key.

    A class takes its bare name when that name is free, or held by an earlier
    definition of the same ``module.QualName`` (a notebook cell run again, a
    module reloaded). Otherwise it is entered under its qualified name, so a
    user's ``class Dense(Layer)`` never displaces npae's ``Dense``: the bare
    name goes on meaning what saved files mean by it. npae's own classes always
    take their bare name; a user class that held it first (possible only when a
    npae module is imported late) moves to its qualified name.

    Parameters
    ----------
    registry : dict
        Name -> class.
    cls : type
        The class to enter.

    Returns
    -------
    str
        The key ``cls`` is now found under (what :mod:`npae.io` saves).
    """
    name, qualified = cls.__name__, qualified_name(cls)
    holder = registry.get(name)
    if holder is None or holder is cls or qualified_name(holder) == qualified:
        registry[name] = cls
        return name
    if _is_npae(cls) and not _is_npae(holder):
        registry[qualified_name(holder)] = holder
        registry[name] = cls
        return name
    registry[qualified] = cls
    return qualified


def registered_name(registry: dict[str, type], cls: type) -> str | None:
    """The key under which ``registry`` holds ``cls``, or None if it does not."""
    for key in (cls.__name__, qualified_name(cls)):
        if registry.get(key) is cls:
            return key
    return None


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


def check_real(value: Any, owner: str, name: str, expected: str, low: float,
               high: float = math.inf, *, low_open: bool = False, high_open: bool = True
               ) -> float:
    """``value`` as a Python float after checking it is a real number in the given interval.

    Any real number type is accepted (``int``, ``float``, NumPy scalars such as
    ``np.float32``); ``bool``, strings, ``None`` and arrays are refused with a
    ``TypeError``, NaN, infinities and values outside ``[low, high)`` (ends open or
    closed as given) with a ``ValueError``. Both messages read
    ``"{owner}: {name} must be {expected}, got {value!r}"``.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{owner}: {name} must be {expected}, got {value!r}")
    v = float(value)
    above = v > low if low_open else v >= low
    below = v < high if high_open else v <= high
    if not (math.isfinite(v) and above and below):
        raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")
    return v


def check_float_dtype(dtype: Any, owner: str) -> np.dtype:
    """``np.dtype(dtype)`` if it is a floating type; ``TypeError`` naming ``owner`` if not."""
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{owner}: dtype must be a floating type, got {dt}")
    return dt


class Layer:
    """Base class: ``params``/``grads`` dicts, ``forward``, ``backward``.

    Subclasses record their constructor arguments with ``self._config`` (JSON
    values only) so that :mod:`npae.io` can rebuild them as ``cls(**config)``;
    ``npae.save`` refuses a layer it could not rebuild. Each subclass is entered
    in ``LAYERS`` by :func:`register`.
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
