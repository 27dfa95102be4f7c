"""Comparing two computations of the same sums of products to their rounding bound:
the tests of the fast kernels against the reference kernels use it."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np


def assert_close(got: np.ndarray, expected: np.ndarray, tol: float,
                 sums: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    """``got`` equals ``expected`` to ``tol`` (relative and absolute), or, where an element
    is a sum of products, to the rounding bound of two such sums.

    ``sums()`` gives, per element, ``S`` (the sum of the terms' sizes, ``|x_i| |w_i|``) and
    ``n`` (their count). Each of the two computations of a sum of ``n`` products in
    floating point is within ``gamma_n S`` of the exact sum, ``gamma_n = n u / (1 - n u)``
    with ``u`` the dtype's unit roundoff (Higham, *Accuracy and Stability of Numerical
    Algorithms*, 2nd ed., eq. 3.5; any order of summation, with or without FMA), so
    ``|got - expected| <= 2 gamma_n S``. Where terms cancel, ``S`` is much larger than the
    result and this bound, not ``tol``, is the resolution (an explore run found a float32
    transposed convolution's bias gradient, -1.427 summed from 1,292 terms of about 0.8,
    2.5e-5 apart). The bound is computed only where ``tol`` fails.
    """
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    err = np.abs(got.astype(np.float64) - expected)
    ok = err <= tol * (1 + np.abs(expected))
    if not ok.all() and sums is not None:
        S, n = sums()
        u = np.finfo(got.dtype).eps / 2
        ok |= err <= 2 * n * u / (1 - n * u) * S
    if not ok.all():
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def sums_of_products(fn: Callable[..., tuple], *arrays: np.ndarray) -> list[tuple]:
    """``fn``'s outputs (each element a sum of products of ``arrays``) as ``assert_close``
    needs them: per element ``S = fn(|a|, ...)`` and ``n = fn(1, ...)``, in float64, one
    ``(S, n)`` pair per output of ``fn`` (which returns a tuple)."""
    S = fn(*(np.abs(a.astype(np.float64)) for a in arrays))
    n = fn(*(np.ones(a.shape) for a in arrays))
    return list(zip(S, n, strict=True))


def layer_sums(forward: Callable, backward: Callable, x: np.ndarray, W: np.ndarray,
               b: np.ndarray, dy: np.ndarray) -> Callable[[], list[tuple]]:
    """The ``(S, n)`` pairs of a layer's ``y, dx, dW, db``, every element a sum of products:
    ``forward(x, W, b) -> (y, cache)`` and ``backward(dy, cache, W) -> (dx, dW, db)``, the
    reference kernels with their other arguments bound. Computed once, on first need."""
    def outputs(x, W, b, dy):
        y, cache = forward(x, W, b)
        return (y, *backward(dy, cache, W))
    return functools.cache(functools.partial(sums_of_products, outputs, x, W, b, dy))
