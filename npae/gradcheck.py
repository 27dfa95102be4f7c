"""Gradient checking: compare a hand-written gradient with central differences.

The numerical gradient of a scalar function ``f`` at ``x`` is, entry by entry,

.. math::  \\frac{\\partial f}{\\partial x_i} \\approx \\frac{f(x + h e_i) - f(x - h e_i)}{2h},

whose truncation error is about ``h^2 |f'''| / 6`` and whose rounding error is
about ``eps |f| / h``. The checks use ``h = 1e-5`` (``CHECK_STEP``), where in
float64 the two balance near 1e-11 relative to ``|f|``, far below the 1e-7
threshold used here, while a wrong term in a backward pass typically shows up
at 1e-3 or more. (With ``h = 1e-6`` the rounding term is ten times larger and
can reach 1e-7 for a gradient entry that nearly cancels, such as the bias
gradient ``sum_n dy_n`` of a single output.) In float32 the rounding error
alone is about 1e-2, which is why every check insists on float64.

For a layer, the scalar is ``L = sum(dy * layer.forward(x))`` with a *random*
``dy``: an all-ones ``dy`` would hide any error in a term that sums to zero.

Public and meant for students: point :func:`check_layer` at a layer you wrote.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from npae.backend import asnumpy, get_array_module

__all__ = ["numerical_gradient", "rel_error", "check_layer", "check_function", "check_model",
           "GradcheckReport", "THRESHOLD"]

#: Largest relative error that passes.
THRESHOLD = 1e-7
#: Finite-difference step of the check functions (see the module docstring).
CHECK_STEP = 1e-5


def numerical_gradient(f: Callable[[], Any], x: Any, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` with respect to ``x``.

    Parameters
    ----------
    f : callable
        Takes no arguments and returns a scalar; it must read ``x`` (the very
        array object), which is perturbed in place, one entry at a time, and
        restored afterwards.
    x : array
        The float64 array to differentiate with respect to (numpy or cupy).
    h : float
        Step size.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``, on the host.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(*x.shape):
        old = x[idx].item()
        x[idx] = old + h
        f_plus = float(f())
        x[idx] = old - h
        f_minus = float(f())
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(a: Any, b: Any, floor: float = 1e-8) -> float:
    """Largest absolute difference, relative to the largest entry of either array.

    ``max_i |a_i - b_i| / max(max_i |a_i|, max_i |b_i|, floor)``. Measuring against
    the array's scale, not entry by entry, keeps rounding noise on entries that are
    exactly zero (a dead ReLU, a bias the loss ignores) from counting as an error,
    while a missing or wrong term still shows at its own size. ``floor`` does the
    same for a gradient that is zero everywhere: the central difference of a
    function that does not depend on the array is rounding noise of about 1e-11,
    which must not read as a relative error of 1.
    """
    a = np.asarray(asnumpy(a), dtype=np.float64)
    b = np.asarray(asnumpy(b), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), floor)
    return float(np.max(np.abs(a - b)) / scale)


@dataclass
class GradcheckReport:
    """Result of a check: the max relative error for each array, and pass or fail."""

    title: str
    errors: dict[str, float] = field(default_factory=dict)
    threshold: float = THRESHOLD
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.notes and all(e < self.threshold for e in self.errors.values())

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def __getitem__(self, name: str) -> float:
        return self.errors[name]

    def __bool__(self) -> bool:
        return self.passed

    def rows(self) -> list[tuple[str, str, float, bool]]:
        return [(self.title, k, e, e < self.threshold) for k, e in self.errors.items()]

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        lines = [f"{self.title}: {verdict} (threshold {self.threshold:g})"]
        w = max([12, *map(len, self.errors)])
        lines += [f"  {k:<{w}} {e:10.2e}  {'ok' if e < self.threshold else 'FAIL'}"
                  for k, e in self.errors.items()]
        lines += [f"  ! {n}" for n in self.notes]
        return "\n".join(lines)


def _require_float64(arrays: dict[str, Any], owner: str) -> None:
    for name, a in arrays.items():
        if getattr(a, "dtype", None) != np.float64:
            raise TypeError(
                f"{owner}: '{name}' has dtype {getattr(a, 'dtype', type(a).__name__)}; "
                "gradient checks need float64 (build the layer or model with dtype=np.float64)")


def check_layer(layer: Any, x: Any, dy: Any = None, *, rng: int = 0, h: float = CHECK_STEP,
                threshold: float = THRESHOLD) -> GradcheckReport:
    """Check a layer's ``backward`` against central differences.

    Parameters
    ----------
    layer : Layer
        Anything with ``forward(x)``, ``backward(dy)``, ``params`` and ``grads``.
    x : array
        A float64 input.
    dy : array, optional
        Upstream gradient; random normal (seeded by ``rng``) when omitted.

    Returns
    -------
    GradcheckReport
        Errors for ``"x"`` and for every parameter; it also fails when
        ``backward`` modified ``dy`` in place.
    """
    name = type(layer).__name__
    _require_float64({"x": x, **dict(layer.params)}, f"check_layer({name})")
    xp = get_array_module(x)
    y = layer.forward(x)
    if dy is None:
        dy = xp.asarray(np.random.default_rng(rng).standard_normal(y.shape))
    dy_before = dy.copy()
    dx = layer.backward(dy)
    report = GradcheckReport(name, threshold=threshold)
    if not bool((dy == dy_before).all()):
        report.notes.append("backward modified dy in place")
    analytic = {"x": asnumpy(dx).copy()}
    analytic.update({k: asnumpy(g).copy() for k, g in layer.grads.items()})

    def L():
        return (dy * layer.forward(x)).sum()

    report.errors["x"] = rel_error(analytic["x"], numerical_gradient(L, x, h))
    for k, p in layer.params.items():
        report.errors[k] = rel_error(analytic[k], numerical_gradient(L, p, h))
    return report


def check_function(f: Callable[..., tuple], *inputs: Any, wrt: tuple[int, ...] | None = None,
                   h: float = CHECK_STEP, threshold: float = THRESHOLD,
                   name: str | None = None) -> GradcheckReport:
    """Check a pure function that returns ``(value, grad_1, grad_2, ...)``.

    The returned gradients belong, in order, to the inputs listed in ``wrt``
    (by position; the first ``len(grads)`` inputs by default), as for
    ``losses.mse(pred, target) -> (value, dpred)`` and
    ``penalties.gaussian_kl(mu, logvar) -> (value, dmu, dlogvar)``.
    """
    title = name or getattr(f, "__name__", "function")
    out = f(*inputs)
    grads = out[1:]
    wrt = tuple(range(len(grads))) if wrt is None else tuple(wrt)
    if len(wrt) != len(grads):
        raise ValueError(f"check_function({title}): {len(grads)} gradients returned "
                         f"but wrt names {len(wrt)} inputs")
    _require_float64({f"input {i}": inputs[i] for i in wrt}, f"check_function({title})")
    try:
        arg_names = list(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        arg_names = []
    report = GradcheckReport(title, threshold=threshold)
    analytic = [asnumpy(g).copy() for g in grads]
    for g, i in zip(analytic, wrt):
        label = arg_names[i] if i < len(arg_names) else f"arg{i}"
        num = numerical_gradient(lambda: f(*inputs)[0], inputs[i], h)
        report.errors[label] = rel_error(g, num)
    return report


def check_model(model: Any, x: Any, *, rng: int = 0, h: float = CHECK_STEP,
                threshold: float = THRESHOLD, name: str | None = None) -> GradcheckReport:
    """Check ``model.loss(x, rng=rng)``'s parameter gradients against central differences.

    ``rng`` is passed as the same seed on every call, so noise, corruption and
    the VAE's ``eps`` are identical in every evaluation.
    """
    title = name or type(model).__name__
    params = {n: p for n, p, _ in model.parameters()}
    _require_float64({"x": x, **params}, f"check_model({title})")
    model.loss(x, rng=rng)
    analytic = {n: asnumpy(g).copy() for n, _, g in model.parameters()}
    report = GradcheckReport(title, threshold=threshold)

    def L():
        return model.loss(x, rng=rng)[0]

    for n, p in params.items():
        report.errors[n] = rel_error(analytic[n], numerical_gradient(L, p, h))
    return report
