r"""The element-wise layers' passes with fewer temporaries: each result is made once and
then finished in place (``out=``).

A NumPy expression such as ``dy * s * (1 - s)`` allocates an array for every operator
and walks the data once for each; here ``(1 - s)`` is made once, and ``s`` and ``dy``
are multiplied into it, so one array is allocated where three were. Every function
returns a *fresh* array (the next layer may keep it as its cache, so a buffer reused
from call to call could change under it) and computes the same numbers as the plain
formula in its docstring: the same operations, at most in another order of the
factors of one product (float64 to about 1e-16 relative, float32 to about 1e-7),
which ``tests/test_kernels_fast.py`` checks. Where ``dy``'s dtype would
widen the result (a float64 ``dy`` on a float32 activation), the temporary is widened
before ``dy`` is multiplied in, so the result has the plain formula's dtype.
"""

from __future__ import annotations

from typing import Any

from npae.backend import Array, get_array_module

__all__ = ["sigmoid", "softplus", "sigmoid_backward", "tanh_backward", "scaled_by",
           "leaky_relu", "leaky_relu_backward"]


def _in_place_ok(a: Any) -> bool:
    """Whether ``abs(a)`` is a fresh float array that the passes may overwrite: not for a
    scalar or 0-d array (ufuncs return scalars for those) nor an integer array."""
    return getattr(a, "ndim", 0) > 0 and a.dtype.kind == "f"


def sigmoid(a: Array) -> Array:
    r"""``s = 1 / (1 + e^{-a})`` as ``max(e, [a >= 0]) / (1 + e)`` with ``e = e^{-|a|}``
    (:func:`npae.layers.activations.sigmoid`'s overflow-free form), ``e`` made in place:
    two arrays allocated instead of five."""
    xp = get_array_module(a)
    if not _in_place_ok(a):  # a scalar or integers: the same formula, not in place
        e = xp.exp(-xp.abs(a))
        return xp.maximum(e, a >= 0) / (1 + e)
    e = xp.abs(a)
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    s = xp.maximum(e, a >= 0)
    e += 1
    s /= e
    return s


def softplus(a: Array) -> Array:
    r"""``log(1 + e^a) = max(a, 0) + log1p(e^{-|a|})``, the log term made in place."""
    xp = get_array_module(a)
    if not _in_place_ok(a):  # a scalar or integers: the same formula, not in place
        return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))
    t = xp.abs(a)
    xp.negative(t, out=t)
    xp.exp(t, out=t)
    xp.log1p(t, out=t)
    out = xp.maximum(a, 0)
    out += t
    return out


def _promoted(xp: Any, d: Array, dy: Array) -> Array:
    """``d`` (a fresh temporary) in the dtype of ``dy * d``, copied only if that is wider."""
    dtype = xp.result_type(dy, d)
    return d if d.dtype == dtype else d.astype(dtype)


def scaled_by(dy: Array, d: Array) -> Array:
    r"""``dy * d`` written into ``d`` when ``d`` is a fresh temporary (the caller's) of the
    result's shape and dtype, else a new array."""
    xp = get_array_module(dy, d)
    if d.dtype != xp.result_type(dy, d) or d.shape != dy.shape:
        return dy * d
    d *= dy
    return d


def sigmoid_backward(dy: Array, s: Array) -> Array:
    r"""``da = dy \, s (1 - s)`` from the forward output ``s``.

    .. math:: \frac{\partial L}{\partial a} = dy \odot s \odot (1 - s)

    ``1 - s`` is made once and multiplied in place by ``s`` and ``dy``.
    """
    xp = get_array_module(dy, s)
    out = _promoted(xp, 1 - s, dy)
    out *= s
    return scaled_by(dy, out)


def tanh_backward(dy: Array, t: Array) -> Array:
    r"""``da = dy (1 - t^2)`` from the forward output ``t = tanh(a)``.

    .. math:: \frac{\partial L}{\partial a} = dy \odot (1 - t \odot t)

    ``1 - t^2`` as ``(-t^2) + 1`` in place (the same number: IEEE addition of a negated
    operand is subtraction), then multiplied in place by ``dy``.
    """
    xp = get_array_module(dy, t)
    out = t * t
    xp.negative(out, out=out)
    out += 1
    return scaled_by(dy, _promoted(xp, out, dy))


def leaky_relu(a: Array, slope: float) -> Array:
    r"""``f(a) = a`` for ``a > 0``, else ``slope a``.

    For ``0 < slope <= 1`` this is ``max(a, slope a)`` (``a >= slope a`` exactly when
    ``a >= 0``): two passes and one array, where ``where(a > 0, a, slope a)`` makes
    three. Other slopes take the ``where`` form (for ``slope = 0``, ``0 a`` is NaN at
    ``a = inf``, which the maximum would pass on).
    """
    xp = get_array_module(a)
    if not 0 < slope <= 1:
        return xp.where(a > 0, a, slope * a)
    out = a * slope
    xp.maximum(a, out, out=out)
    return out


def leaky_relu_backward(dy: Array, a: Array, slope: float) -> Array:
    r"""``da = dy f'(a)`` with ``f'(a) = 1`` for ``a > 0``, else ``slope``.

    For ``0 <= slope <= 1``, ``f'(a) = max([a > 0], slope)`` (one pass, no ``where``),
    then multiplied in place by ``dy``.
    """
    xp = get_array_module(dy, a)
    if not 0 <= slope <= 1:
        return dy * xp.where(a > 0, 1, slope).astype(a.dtype)
    d = xp.maximum(a > 0, a.dtype.type(slope))
    return scaled_by(dy, d)
