"""Say *how* a gradient is wrong, from the student's array and the right one.

Each test is an exact statement about the two arrays, tried in order:

- missing, not an array, not float64, NaN or Inf;
- a shape that is a permutation of the right one with the right values once
  permuted back (``transposed``; ``shape (C, O, kh, kw), expected (O, C, kh, kw)``);
- one axis too many that sums to the right array (a sum over the batch forgotten);
- the right shape and a constant factor: ``k = <g, e> / <e, e>``, the least-squares
  ratio, leaves a residual ``g - k e`` at rounding level; ``k = -1`` is a sign flip, and
  a ``k`` (or ``1/k``) equal to a product of the case's sizes is named (``= N``, the
  batch size: a ``1/N`` missing or extra);
- a square gradient equal to the transpose of the right one;
- otherwise: how many entries are wrong.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from npae.gradcheck import THRESHOLD, rel_error

__all__ = ["as_gradient", "shape_text", "explain_shape", "explain_values", "factor_text"]

#: A residual below this (relative) makes a factor, a transpose or a sum exact.
EXACT = 1e-6


def as_gradient(value: Any) -> tuple[np.ndarray | None, str | None]:
    """``(array, None)``, or ``(None, why it is not one)``."""
    if value is None:
        return None, "missing (got None)"
    if not isinstance(value, (np.ndarray, np.generic, float, int)) or isinstance(value, bool):
        return None, f"not an array (got {type(value).__name__})"
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        return None, f"not a float array (dtype {arr.dtype})"
    return arr, None


def _names_by_size(dims: dict[str, int]) -> dict[int, str]:
    """Size -> name for the sizes that only one name has."""
    seen: dict[int, list[str]] = {}
    for k, v in dims.items():
        seen.setdefault(int(v), []).append(k)
    return {v: ks[0] for v, ks in seen.items() if len(ks) == 1}


def shape_text(shape: tuple[int, ...], dims: dict[str, int],
               axes: tuple[str, ...] = ()) -> str:
    """``(3, 5)`` as ``(N, n_in)`` where each size names one dimension, else the numbers."""
    by_size = _names_by_size(dims)
    if axes and len(axes) == len(shape) and all(dims.get(a) == s for a, s in zip(axes, shape)):
        names = list(axes)
    else:
        names = [by_size.get(int(s)) for s in shape]
    if shape and all(names):
        return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"
    return str(tuple(int(s) for s in shape))


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and rel_error(a, b) < EXACT


def explain_shape(got: np.ndarray, expected: np.ndarray, dims: dict[str, int],
                  axes: tuple[str, ...] = ()) -> str:
    """Why ``got``'s shape differs from ``expected``'s, and what was probably done."""
    g_txt = shape_text(got.shape, dims)
    e_txt = shape_text(expected.shape, dims, axes)
    where = f"shape {g_txt}, expected {e_txt}"
    if g_txt == e_txt:  # names collide: give the numbers too
        where = f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    if got.ndim == expected.ndim and sorted(got.shape) == sorted(expected.shape):
        for perm in itertools.permutations(range(expected.ndim)):
            moved = expected.transpose(perm)
            if moved.shape == got.shape and _close(got, moved):
                what = "transposed" if got.ndim == 2 else "axes in the wrong order"
                if len(axes) == expected.ndim and e_txt.startswith("(" + axes[0]):
                    # the permutation names the student's axes, whatever their sizes
                    moved_names = [axes[p] for p in perm]
                    g_txt = "(" + ", ".join(moved_names) + ("," if got.ndim == 1 else "") + ")"
                    where = f"shape {g_txt}, expected {e_txt}"
                return f"{what}: {where}"
    if got.ndim == expected.ndim + 1:
        for axis in range(got.ndim):
            if got.shape[:axis] + got.shape[axis + 1:] == expected.shape and \
                    _close(got.sum(axis=axis), expected):
                name = shape_text((got.shape[axis],), dims)[1:-2]
                return f"not summed over axis {axis} ({name}): {where}"
    if got.size == expected.size and _close(got.reshape(expected.shape), expected):
        return f"right values, wrong shape: {where}"
    return f"wrong shape: {where}"


def _plain(k: float) -> str:
    """2, -1/4, 0.37: an integer or a reciprocal when it is one."""
    sign = "-" if k < 0 else ""
    a = abs(k)
    if abs(a - round(a)) < 1e-6 * max(1.0, a) and round(a) > 0:
        return f"{sign}{round(a)}"
    if a > 0 and abs(1 / a - round(1 / a)) < 1e-6 / a and round(1 / a) > 0:
        return f"{sign}1/{round(1 / a)}"
    return f"{k:.4g}"


def _product_name(value: float, dims: dict[str, int]) -> str | None:
    """A product of at most three of the named sizes equal to ``value`` (``"N"``, ``"N*D"``);
    the first found, trying single sizes first, in the order of ``dims``."""
    items = [(k, v) for k, v in dims.items() if v > 1]
    for r in (1, 2, 3):
        for combo in itertools.combinations(items, r):
            if abs(math.prod(v for _, v in combo) - value) < 1e-6 * value:
                return "*".join(k for k, _ in combo)
    return None


def factor_text(k: float, dims: dict[str, int]) -> str:
    """``off by a factor 2``, ``sign flipped (factor -1)``, ``off by a factor 1/3 = 1/N``."""
    if abs(k + 1) < 1e-6:
        return "sign flipped (factor -1)"
    text = f"off by a factor {_plain(k)}"
    a = abs(k)
    for value, form in ((a, "{}"), (1 / a if a else 0.0, "1/{}")):
        name = _product_name(value, dims) if value > 1.5 else None
        if name:
            shown = name if "*" not in name or form == "{}" else f"({name})"
            text += f" = {'-' if k < 0 else ''}{form.format(shown)}"
            if name == "N":
                text += " (the batch size: a 1/N missing or extra?)"
            break
    return text


def explain_values(got: np.ndarray, expected: np.ndarray, dims: dict[str, int],
                   factors: dict[str, int] | None = None) -> str:
    """Why a finite ``got`` of the right shape differs from ``expected``; a constant factor
    is named from ``factors`` (or, when None, from products of ``dims``)."""
    e = expected.astype(np.float64).ravel()
    g = got.astype(np.float64).ravel()
    scale = max(np.abs(e).max(initial=0.0), np.abs(g).max(initial=0.0), 1e-300)
    if np.abs(e).max(initial=0.0) <= 1e-12 * scale:
        return f"should be zero everywhere, has entries up to {np.abs(g).max():.3g}"
    if np.abs(g).max(initial=0.0) <= 1e-12 * scale:
        return "is zero everywhere"
    k = float(g @ e / (e @ e))
    if rel_error(g, k * e) < EXACT:
        return factor_text(k, dims if factors is None else factors)
    if got.ndim == 2 and got.shape[0] == got.shape[1] and _close(got, expected.T):
        return "transposed"
    bad = np.abs(g - e) > THRESHOLD * scale
    return f"wrong in {int(bad.sum())} of {bad.size} entries"
