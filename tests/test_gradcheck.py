"""The gradient checker itself: it must pass correct gradients and catch wrong ones.

The deliberately broken layers below are plain classes following the layer
protocol (not ``npae.layers.Layer`` subclasses, which would register them in
the save/load registry).
"""

from __future__ import annotations

import numpy as np
import pytest
from central_difference import assert_model_gradients, assert_within_resolution
from hypothesis import example, given
from hypothesis import strategies as st
from test_layers import assert_gradients_pass, central_difference_resolution

from npae import losses
from npae.gradcheck import (
    THRESHOLD,
    GradcheckReport,
    check_function,
    check_layer,
    check_model,
    numerical_gradient,
    rel_error,
)
from npae.layers import Dense
from npae.models import TiedLinearAutoencoder, dense_autoencoder


class Square:
    """``y = x^2``; ``dx = 2 x dy``, or ``x dy`` when ``forget_two`` (a classic slip)."""

    def __init__(self, forget_two: bool = False) -> None:
        self.params, self.grads, self.forget_two = {}, {}, forget_two

    def forward(self, x, training=True):
        self._x = x
        return x * x

    def backward(self, dy):
        return dy * self._x * (1 if self.forget_two else 2)


class Affine:
    """``y = x W + b`` with optional bugs: ``transpose_W`` uses ``W`` instead of ``W^T``
    for dx; ``no_bias_grad`` leaves ``db`` at zero; ``in_place`` scales ``dy`` in place
    (right gradients, but the caller's array is destroyed)."""

    def __init__(self, n: int, seed: int = 0, *, transpose_W=False, no_bias_grad=False,
                 in_place=False) -> None:
        r = np.random.default_rng(seed)
        self.params = {"W": r.normal(size=(n, n)), "b": r.normal(size=n)}
        self.grads = {}
        self.transpose_W, self.no_bias_grad, self.in_place = transpose_W, no_bias_grad, in_place

    def forward(self, x, training=True):
        self._x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        W = self.params["W"]
        self.grads["W"] = self._x.T @ dy
        self.grads["b"] = np.zeros_like(self.params["b"]) if self.no_bias_grad else dy.sum(0)
        dx = dy @ (W if self.transpose_W else W.T)
        if self.in_place:
            dy *= 2.0
            dy /= 2.0
            dy += 1.0
            dy -= 1.0
            dy[...] = 0.0  # a layer that reuses dy as scratch space
        return dx


def test_numerical_gradient_of_known_function_and_restores_x(rng):
    x = rng.normal(size=(3, 4))
    x_copy = x.copy()
    g = numerical_gradient(lambda: np.sin(x).sum(), x)
    np.testing.assert_allclose(g, np.cos(x), atol=1e-9)
    np.testing.assert_array_equal(x, x_copy)  # every perturbation was undone exactly
    assert g.dtype == np.float64 and g.shape == x.shape


def test_rel_error_definition():
    a = np.array([1.0, 2.0, -4.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    # max |a - b| / max(max|a|, max|b|) = 0.5 / 4
    assert rel_error(a, a + [0.0, 0.5, 0.0]) == pytest.approx(0.125)
    assert rel_error(np.zeros(2), np.ones(2)) == 1.0
    with pytest.raises(ValueError, match=r"rel_error: shapes differ, \(3,\) vs \(2,\)"):
        rel_error(a, a[:2])


@given(n=st.integers(1, 6), d=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
@example(n=3, d=1, seed=117)  # an explore run: W = -3.8e-5, so dx ~ 4e-5 next to |L| ~ 1
def test_correct_layers_pass(n, d, seed):
    """Correct layers pass: relative ``THRESHOLD``, or where a gradient is tiny next to the
    loss, the central difference's rounding resolution (``assert_gradients_pass`` derives
    it: ``(n, d, seed) = (3, 1, 117)`` has an ``x`` gradient 1.5e-7 off, all rounding)."""
    x = np.random.default_rng(seed).normal(size=(n, d))
    for layer in (Square(), Affine(d, seed), Dense(d, d, rng=seed, dtype=np.float64)):
        report = check_layer(layer, x, rng=seed)
        assert bool(report) == report.passed
        assert_gradients_pass(layer, x, seed=seed)


@given(n=st.integers(1, 6), d=st.integers(2, 8), seed=st.integers(0, 2**32 - 1))
def test_missing_factor_two_is_caught(n, d, seed):
    x = np.random.default_rng(seed).normal(size=(n, d))
    report = check_layer(Square(forget_two=True), x, rng=seed)
    assert not report.passed and not bool(report)
    # analytic x dy against numeric 2 x dy: the difference is half the largest entry
    assert report["x"] == pytest.approx(0.5, rel=1e-6)
    assert "FAIL" in str(report)


@given(n=st.integers(1, 6), d=st.integers(2, 8), seed=st.integers(0, 2**32 - 1))
@example(n=1, d=2, seed=54441)  # an explore run: W nearly symmetric, the slip's size 1.2e-4
def test_transposed_weight_in_backward_is_caught(n, d, seed):
    """The checker reports the slip's own size. Using ``W`` for ``W^T`` turns ``dx = dy W^T``
    into ``dy W``, a relative change ``rel_error(dy W, dy W^T)`` that is as small as ``W``
    is close to symmetric (``(n, d, seed) = (1, 2, 54441)``: 1.2e-4, where this test
    once asked for more than 1e-3). Since ``L = sum(dy * (x W + b))`` is linear in ``x``,
    the central difference is ``dy W^T`` up to its rounding resolution ``r`` (derived in
    ``test_layers.assert_gradients_pass``), which moves ``rel_error``'s numerator and
    denominator by at most ``r`` each: the report's ``x`` error is the slip's size within
    ``3 r / max|dy W^T|``, and the check fails wherever the slip is larger than the
    threshold by more than that. ``dW`` and ``db`` stay right (they pass, within the same
    resolution)."""
    x = np.random.default_rng(seed).normal(size=(n, d))
    layer = Affine(d, seed, transpose_W=True)
    report = check_layer(layer, x, rng=seed)
    W = layer.params["W"]
    dy = np.random.default_rng(seed).standard_normal((n, d))  # check_layer's own dy
    slip = rel_error(dy @ W, dy @ W.T)
    tol = 3 * central_difference_resolution(layer, x, dy) / np.abs(dy @ W.T).max()
    assert abs(report["x"] - slip) <= tol, (report["x"], slip, tol)
    if slip > THRESHOLD + tol:
        assert not report.passed
    assert_gradients_pass(layer, x, seed=seed, arrays=("W", "b"))  # only dx is wrong


def test_missing_bias_gradient_is_caught(rng):
    report = check_layer(Affine(4, 1, no_bias_grad=True), rng.normal(size=(3, 4)))
    assert not report.passed
    assert report["b"] == 1.0 and report["W"] < THRESHOLD


def test_backward_that_writes_into_dy_is_flagged(rng):
    report = check_layer(Affine(4, 2, in_place=True), rng.normal(size=(3, 4)))
    assert not report.passed
    assert any("modified dy in place" in note for note in report.notes)
    assert "modified dy in place" in str(report)


def test_gradcheck_refuses_float32(rng):
    with pytest.raises(TypeError, match=r"check_layer\(Dense\): 'W' has dtype float32; "
                                        r"gradient checks need float64"):
        check_layer(Dense(3, 2, rng=0), rng.normal(size=(2, 3)))
    with pytest.raises(TypeError, match=r"'x' has dtype float32"):
        check_layer(Square(), rng.normal(size=(2, 3)).astype(np.float32))
    model = dense_autoencoder(4, [3], 2, rng=0)
    with pytest.raises(TypeError, match=r"check_model\(Autoencoder\).*float64"):
        check_model(model, rng.uniform(size=(2, 4)))


def test_check_function_passes_and_fails(rng):
    x = rng.normal(size=(3, 2))

    y = rng.normal(size=(3, 2))

    def cube(x, y):
        """sum(x^3 y): d/dx = 3 x^2 y, d/dy = x^3."""
        return float((x**3 * y).sum()), 3 * x**2 * y, x**3

    def cube_wrong(x, y):
        return float((x**3 * y).sum()), 3 * x * y, x**3  # lost a power of x

    report = check_function(cube, x, y)
    assert report.passed and set(report.errors) == {"x", "y"}
    bad = check_function(cube_wrong, x, y)
    assert not bad.passed and bad.errors["x"] > 0.01 and bad.errors["y"] < THRESHOLD
    # gradients may come in another order than the inputs; wrt says which is which
    def cube_y_first(x, y):
        value, dx, dy = cube(x, y)
        return value, dy, dx

    assert check_function(cube_y_first, x, y, wrt=(1, 0)).passed
    assert not check_function(cube_y_first, x, y).passed
    assert check_function(lambda x, y: (cube(x, y)[0], cube(x, y)[2]), x, y, wrt=(1,)).passed
    with pytest.raises(ValueError, match=r"check_function\(cube\): 2 gradients returned "
                                         r"but wrt names 1 inputs"):
        check_function(cube, x, y, wrt=(0,))
    # the second input (the target) is not differentiated unless asked for
    t = rng.uniform(size=(3, 2))
    report = check_function(losses.mse, x, t)
    assert report.passed and list(report.errors) == ["pred"]


@pytest.mark.parametrize("loss, output", [("mse", "sigmoid"), ("bce", "sigmoid"),
                                          ("mse", "identity"), ("bce", "softplus")])
@pytest.mark.parametrize("reduction", ["mean", "sum", "batchmean"])
def test_check_model_on_dense_autoencoders(loss, output, reduction):
    """``bce`` + sigmoid takes the fused bce_with_logits path, ``bce`` + softplus the plain
    ``bce`` of probabilities (its output stays in (0, 1) while the pre-activation is below
    log(e - 1) ~ 0.54, which a bias of -2 ensures here, so no clipping happens)."""
    model = dense_autoencoder(5, [4], 3, activation="tanh", output_activation=output,
                              loss=loss, rng=1, dtype=np.float64,
                              reduction=reduction)
    x = np.random.default_rng(2).uniform(0.05, 0.95, size=(6, 5))
    if output == "softplus":
        model.decoder.layers[-2].params["b"][...] = -2.0
        assert 0 < model.reconstruct(x).min() and model.reconstruct(x).max() < 1
    report = check_model(model, x)
    assert report.passed, str(report)
    assert set(report.errors) == {name for name, _, _ in model.parameters()}


def test_check_model_catches_a_broken_layer(monkeypatch):
    model = dense_autoencoder(5, [4], 3, rng=1, dtype=np.float64, activation="tanh")
    x = np.random.default_rng(2).uniform(size=(6, 5))
    dense = model.decoder.layers[0]
    original = dense.backward

    def halves_bias_grad_and_dx(dy, input_grad=True):
        dx = original(dy, input_grad)
        dense.grads["b"] = dense.grads["b"] * 0.5
        return dx * 0.5

    monkeypatch.setattr(dense, "backward", halves_bias_grad_and_dx)
    report = check_model(model, x)
    assert not report.passed
    assert report["decoder.0.b"] == pytest.approx(0.5, rel=1e-5)
    assert report["decoder.0.W"] < THRESHOLD  # its own weight gradient is still right
    assert report["decoder.2.W"] < THRESHOLD  # so are the layers above the bug
    for name in ("encoder.0.W", "encoder.0.b", "encoder.2.W", "encoder.2.b"):
        assert report[name] == pytest.approx(0.5, rel=1e-5)  # the halved dx travels down


def test_report_helpers():
    report = GradcheckReport("demo", {"x": 1e-9, "W": 1e-3})
    assert not report.passed and report.max_error == 1e-3
    assert report.rows() == [("demo", "x", 1e-9, True), ("demo", "W", 1e-3, False)]
    assert str(report).startswith("demo: FAIL")
    assert GradcheckReport("empty").passed and GradcheckReport("empty").max_error == 0.0


def test_the_tests_resolution_passes_rounding_and_catches_a_slip():
    """The suite's fallback for gradients that nearly cancel (tests/central_difference.py)
    passes a correct gradient the relative check cannot resolve, and still fails one that
    is off by 1e-5 of itself. A lone tied weight of -3.8e-5 has a gradient of 4.4e-5 next
    to a loss of 0.28: the rounding bound ``R = 32 u L / h`` is 1.0e-10, 2.3e-6 of the
    gradient, so the check's 1.09e-7 is rounding, and a 1e-5 slip (4.4e-10) is above
    ``1.5 R`` plus the threshold's 4.4e-15."""
    model = TiedLinearAutoencoder(1, 1, reduction="mean", rng=117, dtype=np.float64)
    x = np.random.default_rng(118).standard_normal((1, 1))
    assert not check_model(model, x).passed  # a correct backward, failed by rounding alone
    assert_model_gradients(model, x)
    model.loss(x)
    [(name, W, dW)] = list(model.parameters())
    with pytest.raises(AssertionError, match="encoder.0.W: rel error 1.0.e-05"):
        assert_within_resolution(name, dW * (1 + 1e-5), lambda: model.loss(x)[0], W)
