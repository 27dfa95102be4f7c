"""Argument checks shared by every layer, model and function of npae.

Each check names its owner (the layer or function), the argument, what was expected and
what came, so that a wrong call is fixed from the message alone. They look at Python
values and shapes only, never scan arrays (that happens once, at a model's entry points:
:func:`npae.models.check_data`).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

__all__ = ["is_int", "check_int", "check_count", "as_pair", "check_real", "check_hyper",
           "check_float_dtype", "as_generator"]


def is_int(value: Any) -> bool:
    """True for a Python or NumPy integer, False for everything else, ``bool`` included.

    ``True`` is an ``int`` to Python, but ``Dense(True, 3)`` or ``epochs=False`` is a
    mistake, never a width or a count.
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_int(value: Any, owner: str, name: str, low: int) -> int:
    """``value`` as an int ``>= low`` (NumPy integers accepted): ``TypeError`` for a value
    that is not an integer, ``ValueError`` for one below ``low``."""
    if not is_int(value):
        raise TypeError(f"{owner}: {name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{owner}: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def check_count(value: Any, owner: str, name: str) -> int:
    """``value`` as an int after checking it is a positive integer (``ValueError`` if not)."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


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


def check_hyper(value: Any, owner: str, name: str, *, open_interval: bool = False) -> float:
    """A penalty's weight or target: a finite real ``>= 0``, or with ``open_interval`` one
    strictly inside (0, 1) (a sparsity target ``rho``); see :func:`check_real`."""
    if open_interval:
        return check_real(value, owner, name, "a number strictly between 0 and 1", 0.0, 1.0,
                          low_open=True)
    return check_real(value, owner, name, "a finite number >= 0", 0.0)


def check_float_dtype(dtype: Any, owner: str) -> np.dtype:
    """``np.dtype(dtype)`` if it is a floating type; ``TypeError`` naming ``owner`` if not."""
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{owner}: dtype must be a floating type, got {dt}")
    return dt


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a generator, a seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"npae: rng must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}"
    )
