r"""What a central difference can resolve: the gradient tests' shared criterion.

``npae.gradcheck`` compares an analytic gradient with ``g_h = (L(p + h) - L(p - h)) / 2h``
at a relative ``THRESHOLD`` (1e-7). That is the right test almost everywhere, but not for
an array whose gradient nearly cancels: the bias of one unit is a sum over the batch of
backpropagated terms, and a tied weight of 4e-5 next to a loss of 0.3 has a gradient of
the same size; there the central difference's own error is a visible fraction of the
gradient, and a correct backward fails (issue #24's hunt found three such draws).

With step ``h`` an entry is ``g_h = g + C h^2 + r_h``:

* the rounding of ``L``'s two evaluations, ``|r_h| <= R = LOSS_ROUNDING u S / h``, with
  ``u = eps / 2`` and ``S`` the sum of the sizes of ``L``'s terms (``|L|`` itself for a
  loss that is a sum of non-negative terms: squared errors, cross-entropies, KLs,
  penalties);
* the truncation ``C h^2``, measured rather than assumed: the step ``2h`` gives
  ``g_2h = g + 4 C h^2 + r_2h`` with ``|r_2h| <= R / 2``, so ``|C h^2| <= (|g_2h - g_h| +
  1.5 R) / 3`` and

  .. math::  |g_h - g| \le |g_{2h} - g_h| / 3 + 1.5 R.

An array passes when its report is below ``THRESHOLD`` or, entry by entry,
``|g_h - g| <= THRESHOLD max|g| + |g_2h - g_h| / 3 + 1.5 R``. A wrong backward term is off
by a sizable fraction of the gradient (1e-3 of it or more), far above both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from npae.gradcheck import (
    CHECK_STEP,
    THRESHOLD,
    GradcheckReport,
    check_function,
    check_model,
    numerical_gradient,
    rel_error,
)

#: Rounding of one float64 evaluation of a loss ``L``, in units of ``u S`` (``S`` the
#: sum of the sizes of its terms): the sum's own rounding plus that of the layers feeding
#: it. Measured: at most 8.8 (truncation included) over the 2,000 arrays of 400 random
#: nested networks of ``test_layers.test_nested_sequential_with_shape_layers_gradients``,
#: at most 1.4 over 3,200 parameter arrays of random small VAEs; 32 leaves margin.
LOSS_ROUNDING = 32


def rounding_resolution(terms_abs_sum: float, h: float = CHECK_STEP) -> float:
    """``R = LOSS_ROUNDING u S / h``: the most the rounding of a float64 loss's two
    evaluations moves one central-difference entry of step ``h``."""
    return LOSS_ROUNDING * np.finfo(np.float64).eps / 2 * terms_abs_sum / h


def assert_within_resolution(name: str, analytic: np.ndarray, L: Callable[[], Any],
                             p: np.ndarray, terms_abs_sum: float | None = None,
                             h: float = CHECK_STEP) -> None:
    """``analytic`` (the gradient of ``L()`` in ``p``) within ``THRESHOLD`` relative of the
    central difference, or within the central difference's own error (module docstring).
    ``terms_abs_sum`` defaults to ``|L()|``, right for a sum of non-negative terms."""
    analytic = np.asarray(analytic, dtype=np.float64)
    num = numerical_gradient(L, p, h)
    if rel_error(analytic, num) < THRESHOLD:
        return
    num_2h = numerical_gradient(L, p, 2 * h)
    S = abs(float(L())) if terms_abs_sum is None else terms_abs_sum
    R = rounding_resolution(S, h)
    err = np.abs(num - analytic)
    bound = THRESHOLD * np.abs(analytic).max() + np.abs(num_2h - num) / 3 + 1.5 * R
    assert (err <= bound).all(), (
        f"{name}: rel error {rel_error(analytic, num):.2e}, abs {err.max():.2e} above "
        f"the central difference's resolution {bound.min():.2e} (R = {R:.2e})")


def _recheck_failures(report: GradcheckReport, analytic: dict[str, np.ndarray],
                      arrays: dict[str, np.ndarray], L: Callable[[], Any],
                      terms_abs_sum: float | None, h: float) -> None:
    assert not report.notes, str(report)
    for name, rel in report.errors.items():
        if rel >= report.threshold:
            assert_within_resolution(name, analytic[name], L, arrays[name], terms_abs_sum, h)


def assert_model_gradients(model: Any, x: np.ndarray, rng: int = 0,
                           terms_abs_sum: float | None = None,
                           h: float = CHECK_STEP) -> GradcheckReport:
    """``check_model(model, x, rng=rng)`` passes, or each array it fails is within the
    central difference's resolution. Returns the report."""
    report = check_model(model, x, rng=rng, h=h)
    if not report.passed:
        model.loss(x, rng=rng)
        analytic = {n: np.array(g) for n, _, g in model.parameters()}
        arrays = {n: p for n, p, _ in model.parameters()}
        _recheck_failures(report, analytic, arrays, lambda: model.loss(x, rng=rng)[0],
                          terms_abs_sum, h)
    return report


def assert_function_gradients(f: Callable[..., tuple], *inputs: np.ndarray,
                              wrt: tuple[int, ...] | None = None,
                              terms_abs_sum: float | None = None,
                              h: float = CHECK_STEP, name: str | None = None) -> GradcheckReport:
    """``check_function(f, *inputs, wrt=wrt)`` passes, or each array it fails is within the
    central difference's resolution. Returns the report."""
    report = check_function(f, *inputs, wrt=wrt, h=h, name=name)
    if not report.passed:
        grads = f(*inputs)[1:]
        wrt = tuple(range(len(grads))) if wrt is None else tuple(wrt)
        # the report's names follow wrt's order
        analytic = {name: np.array(g) for name, g in zip(report.errors, grads, strict=True)}
        arrays = {name: inputs[i] for name, i in zip(report.errors, wrt, strict=True)}
        _recheck_failures(report, analytic, arrays, lambda: f(*inputs)[0], terms_abs_sum, h)
    return report
