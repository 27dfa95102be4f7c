"""Softmax cross-entropy: the value against scipy's ``log_softmax``, the gradient
against central differences and the closed form ``(softmax - onehot) / N``, stability
for logits of any size, and clear errors for bad labels.
"""

from __future__ import annotations

import numpy as np
import pytest
from central_difference import assert_function_gradients
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import log_softmax, softmax

from npae import backend
from npae.losses import softmax_cross_entropy

seeds = st.integers(0, 2**32 - 1)


def _case(seed: int, n: int, c: int, scale: float):
    r = np.random.default_rng(seed)
    return r.uniform(-scale, scale, (n, c)), r.integers(0, c, n), r.dirichlet(np.ones(c), n)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@given(n=st.integers(1, 8), c=st.integers(2, 12), seed=seeds, scale=st.floats(0.1, 20.0))
def test_gradient_matches_finite_differences(reduction, n, c, seed, scale):
    z, y, t = _case(seed, n, c, scale)
    for labels in (y, t):
        assert_function_gradients(lambda z, lab: softmax_cross_entropy(z, lab, reduction),
                                  z, labels, wrt=(0,), h=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@given(n=st.integers(1, 8), c=st.integers(2, 12), seed=seeds, scale=st.floats(0.1, 50.0))
def test_value_and_gradient_against_scipy(reduction, n, c, seed, scale):
    z, y, t = _case(seed, n, c, scale)
    D = n if reduction == "mean" else 1
    value, dz = softmax_cross_entropy(z, y, reduction)
    onehot = np.eye(c)[y]
    np.testing.assert_allclose(value, -(log_softmax(z, axis=1) * onehot).sum() / D,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dz, (softmax(z, axis=1) - onehot) / D, rtol=1e-10, atol=1e-15)
    value, dz = softmax_cross_entropy(z, t, reduction)
    np.testing.assert_allclose(value, -(log_softmax(z, axis=1) * t).sum() / D,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dz, (softmax(z, axis=1) - t) / D, rtol=1e-9, atol=1e-14)


def test_integer_labels_equal_their_one_hot_rows():
    z, y, _ = _case(0, 6, 5, 3.0)
    a, da = softmax_cross_entropy(z, y)
    b, db = softmax_cross_entropy(z, np.eye(5)[y])
    assert a == pytest.approx(b, rel=1e-14)
    np.testing.assert_allclose(da, db, atol=1e-16)


def test_hand_example():
    # two equal logits: p = (1/2, 1/2), loss log 2, gradient (1/2 - 1, 1/2) per sample
    value, dz = softmax_cross_entropy(np.zeros((1, 2)), np.array([0]))
    assert value == pytest.approx(np.log(2))
    np.testing.assert_allclose(dz, [[-0.5, 0.5]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_are_finite_and_exact(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([1, 1, 0])
    value, dz = softmax_cross_entropy(z, y, "sum")
    # row 1: log-sum-exp is 1e4, minus z_y = -1e4; row 2: confident and right (0 up to
    # e^-9997); row 3: two equal maxima, so log 2
    assert value == pytest.approx(2e4 + np.log(2), rel=1e-6)
    assert np.isfinite(dz).all() and dz.dtype == dtype
    np.testing.assert_allclose(dz, [[1, -1, 0], [0, 0, 0], [-0.5, 0.5, 0]], atol=1e-6)


def test_float32_in_float32_out():
    z, y, t = _case(1, 4, 3, 2.0)
    for labels in (y, t.astype(np.float32)):
        _, dz = softmax_cross_entropy(z.astype(np.float32), labels)
        assert dz.dtype == np.float32


def test_does_not_write_into_its_inputs():
    z, y, t = _case(2, 4, 3, 2.0)
    z0, t0 = z.copy(), t.copy()
    softmax_cross_entropy(z, y)
    softmax_cross_entropy(z, t)
    assert np.array_equal(z, z0) and np.array_equal(t, t0)


def test_runs_on_the_device(xp_backend):
    z, y, t = _case(3, 5, 4, 3.0)
    for labels in (y, t):
        v_host, d_host = softmax_cross_entropy(z, labels)
        v, d = softmax_cross_entropy(backend.to_device(z), backend.to_device(labels))
        assert v == pytest.approx(v_host, rel=1e-12)
        np.testing.assert_allclose(backend.asnumpy(d), d_host, atol=1e-15)


z3 = np.zeros((3, 4))


@pytest.mark.parametrize("logits, labels, error, words", [
    (z3, np.array([0, 1, 4]), ValueError, r"class indices in \[0, 4\).*\[0, 4\]"),
    (z3, np.array([0, -1, 2]), ValueError, r"in \[0, 4\).*\[-1, 2\]"),
    (z3, np.array([0.0, 1.0, 2.0]), TypeError, "integer class indices.*float64"),
    (z3, np.full((3, 4), 0.3), ValueError, "sum to 1"),
    (z3, np.array([[1.5, -0.5, 0, 0]] * 3), ValueError, "smallest entry -0.5"),
    (z3, np.eye(4, dtype=int)[[0, 1, 2]], TypeError, r"\(N, C\) must be probabilities"),
    (z3, np.array([0, 1]), ValueError, r"shape \(3,\).*\(3, 4\).*got shape \(2,\)"),
    (z3, np.zeros((3, 5)), ValueError, r"got shape \(3, 5\)"),
    (np.zeros(4), np.array([0]), ValueError, r"logits must be \(N, C\)"),
    (np.zeros((0, 4)), np.zeros(0, dtype=int), ValueError, "empty batch"),
    (np.zeros((3, 4), dtype=int), np.array([0, 1, 2]), TypeError, "floating-point"),
    (z3, np.array([[np.nan, 1, 0, 0]] * 3), ValueError, "sum to 1"),
])
def test_bad_input_is_refused_by_name(logits, labels, error, words):
    with pytest.raises(error, match="softmax_cross_entropy: .*" + words):
        softmax_cross_entropy(logits, labels)


def test_bad_reduction():
    with pytest.raises(ValueError, match="softmax_cross_entropy: reduction must be"):
        softmax_cross_entropy(z3, np.array([0, 1, 2]), "batchmean")
