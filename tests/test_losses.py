"""Losses: values against independent formulas, gradients against finite differences,
stability for extreme inputs, and float32 kept float32.

Independent references: ``scipy.special.expit`` and ``np.logaddexp`` for the
logistic function and softplus, ``scipy.special.xlogy``/``xlog1py`` for the
cross-entropy, ``sklearn.metrics.mean_squared_error`` for the MSE.
"""

from __future__ import annotations

import numpy as np
import pytest
from central_difference import assert_function_gradients
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import expit, xlog1py, xlogy
from sklearn.metrics import mean_squared_error

from npae import losses
from npae.gradcheck import check_function
from npae.layers.activations import sigmoid, softplus

REDUCTIONS = ["mean", "sum", "batchmean"]
batch = st.integers(1, 8)
features = st.integers(1, 20)
seeds = st.integers(0, 2**32 - 1)


def _divisor(shape: tuple[int, int], reduction: str) -> int:
    return {"mean": shape[0] * shape[1], "sum": 1, "batchmean": shape[0]}[reduction]


def _targets(r: np.random.Generator, shape) -> np.ndarray:
    """Targets in [0, 1], with exact 0s and 1s mixed in (binary images have them)."""
    t = r.uniform(0, 1, size=shape)
    t[r.uniform(size=shape) < 0.3] = 0.0
    t[r.uniform(size=shape) < 0.3] = 1.0
    return t


# -- gradients ------------------------------------------------------------------------------
# Step sizes: h = 1e-5 where inputs reach 30 in size (the sum of squares reaches 1e5, so
# rounding eps |L| / h calls for a larger h); h = 1e-6 for bce, whose log has a third
# derivative 2 / p^3 that makes the truncation error h^2 |f'''| / 6 large at p = 0.01.

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=batch, d=features, seed=seeds, scale=st.floats(0.1, 30.0))
def test_mse_gradient(reduction, n, d, seed, scale):
    r = np.random.default_rng(seed)
    pred, target = r.uniform(-scale, scale, (n, d)), r.uniform(-scale, scale, (n, d))
    assert_function_gradients(lambda p, t: losses.mse(p, t, reduction), pred, target, h=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=batch, d=features, seed=seeds)
def test_bce_gradient(reduction, n, d, seed):
    r = np.random.default_rng(seed)
    prob, target = r.uniform(0.01, 0.99, (n, d)), _targets(r, (n, d))
    assert_function_gradients(lambda p, t: losses.bce(p, t, reduction), prob, target, h=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=batch, d=features, seed=seeds, scale=st.floats(0.1, 30.0))
def test_bce_with_logits_gradient(reduction, n, d, seed, scale):
    r = np.random.default_rng(seed)
    logits, target = r.uniform(-scale, scale, (n, d)), _targets(r, (n, d))
    assert_function_gradients(lambda z, t: losses.bce_with_logits(z, t, reduction),
                              logits, target, h=1e-5)


# -- values and gradients against independent formulas ---------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=batch, d=features, seed=seeds)
def test_mse_value_matches_sklearn(reduction, n, d, seed):
    r = np.random.default_rng(seed)
    pred, target = r.normal(size=(n, d)), r.normal(size=(n, d))
    value, grad = losses.mse(pred, target, reduction)
    total = mean_squared_error(target.ravel(), pred.ravel()) * n * d
    np.testing.assert_allclose(value, total / _divisor((n, d), reduction), rtol=1e-12)
    np.testing.assert_allclose(grad, 2 * (pred - target) / _divisor((n, d), reduction),
                               rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=batch, d=features, seed=seeds)
def test_bce_value_matches_cross_entropy_formula(reduction, n, d, seed):
    r = np.random.default_rng(seed)
    prob, target = r.uniform(1e-3, 1 - 1e-3, (n, d)), _targets(r, (n, d))
    value, grad = losses.bce(prob, target, reduction)
    D = _divisor((n, d), reduction)
    expected = -(xlogy(target, prob) + xlog1py(1 - target, -prob)).sum() / D
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    # d/dp [-t log p - (1 - t) log(1 - p)] = -t / p + (1 - t) / (1 - p)
    np.testing.assert_allclose(grad, (-target / prob + (1 - target) / (1 - prob)) / D,
                               rtol=1e-10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=batch, d=features, seed=seeds, scale=st.floats(0.1, 30.0))
def test_bce_with_logits_matches_logaddexp(reduction, n, d, seed, scale):
    r = np.random.default_rng(seed)
    z, t = r.uniform(-scale, scale, (n, d)), _targets(r, (n, d))
    value, grad = losses.bce_with_logits(z, t, reduction)
    D = _divisor((n, d), reduction)
    # -t log s(z) - (1 - t) log(1 - s(z)) = log(1 + e^z) - t z
    expected = (np.logaddexp(0, z) - t * z).sum() / D
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, (expit(z) - t) / D, rtol=1e-12, atol=1e-15)


@given(n=batch, d=features, seed=seeds)
def test_bce_with_logits_agrees_with_bce_of_sigmoid(n, d, seed):
    r = np.random.default_rng(seed)
    z, t = r.uniform(-8, 8, (n, d)), _targets(r, (n, d))
    value, dz = losses.bce_with_logits(z, t)
    s = expit(z)
    v2, dp = losses.bce(s, t)
    np.testing.assert_allclose(value, v2, rtol=1e-9)
    np.testing.assert_allclose(dz, dp * s * (1 - s), rtol=1e-7, atol=1e-15)  # chain rule


@pytest.mark.parametrize("n", [1, 127, 128, 129, 5000])
def test_sum_of_log1p_matches_a_correctly_rounded_sum(n):
    """The BCE's ``sum log(1 + e)``; math.fsum of math.log1p is the reference.

    float64 (log1p itself) agrees to a few ulps, relative, tiny e included, so a
    gradient check of confident logits is exact; float32 (grouped products, with
    what rounding dropped from 1 + e added back) to 1e-9, relative, tiny e included
    (a float32 sum of float32 log1p is good to about 1e-7)."""
    import math

    r = np.random.default_rng(n)
    e = r.uniform(0, 1, n)
    if n >= 4:
        e[:4] = 0.0, 1.0, 1e-30, 6e-6  # both ends, and terms that 1 + e would round away
    reference = math.fsum(math.log1p(v) for v in e)
    got = float(losses._sum_log1p(e))
    assert abs(got - reference) <= 4e-16 * reference
    tiny = 10.0 ** -r.uniform(5, 25, n)  # all confident: 1 + e loses most of e
    ref_tiny = math.fsum(math.log1p(v) for v in tiny)
    assert abs(float(losses._sum_log1p(tiny)) - ref_tiny) <= 4e-16 * ref_tiny
    for values in (e, tiny):  # float32: the grouped products, tiny terms added back
        e32 = values.astype(np.float32)
        ref32 = math.fsum(math.log1p(float(v)) for v in e32)
        assert abs(float(losses._sum_log1p(e32)) - ref32) <= 1e-9 * ref32


def test_bce_with_logits_gradient_of_confident_logits():
    """z around 12 with t = 1: every term is ~6e-6, so the value must keep log1p's
    relative precision for the finite differences to see the slope."""
    r = np.random.default_rng(0)
    z, t = 12 + r.uniform(0, 1, (3, 4)), np.ones((3, 4))
    assert check_function(lambda z: losses.bce_with_logits(z, t), z).passed


def test_mse_small_example_by_hand():
    pred = np.array([[1.0, 2.0], [3.0, 5.0]])
    target = np.array([[1.0, 0.0], [0.0, 1.0]])
    # squared errors 0, 4, 9, 16: sum 29
    assert losses.mse(pred, target, "sum")[0] == 29.0
    assert losses.mse(pred, target, "mean")[0] == 29.0 / 4
    assert losses.mse(pred, target, "batchmean")[0] == 29.0 / 2
    np.testing.assert_array_equal(losses.mse(pred, target, "sum")[1], [[0, 4], [6, 8]])


def test_bce_of_one_half_is_log_two():
    p = np.full((3, 4), 0.5)
    t = np.random.default_rng(0).uniform(size=(3, 4))
    np.testing.assert_allclose(losses.bce(p, t)[0], np.log(2), rtol=1e-15)
    np.testing.assert_allclose(losses.bce_with_logits(np.zeros((3, 4)), t)[0], np.log(2),
                               rtol=1e-15)


# -- stability -------------------------------------------------------------------------------
# np.errstate raises on overflow, division by zero and invalid operations (inf - inf, 0/0).
# Underflow is left alone: exp(-1e4) = 0 is the correctly rounded answer, and no formula can
# represent sigmoid(-1e4) ~ e^{-10000} in floating point.

STRICT = {"over": "raise", "divide": "raise", "invalid": "raise", "under": "ignore"}
EXTREME = [-1e4, -800.0, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 800.0, 1e4]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softplus_extreme_inputs(dtype):
    a = np.array(EXTREME, dtype=dtype)
    with np.errstate(**STRICT):
        s, sp = sigmoid(a), softplus(a)
    assert s.dtype == dtype and sp.dtype == dtype
    assert np.isfinite(s).all() and np.isfinite(sp).all()
    assert ((s >= 0) & (s <= 1)).all()
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    ref = a.astype(np.float64)
    tiny = np.finfo(dtype).tiny  # below it, subnormals carry fewer significant bits
    np.testing.assert_allclose(s, expit(ref), rtol=rtol, atol=tiny)
    np.testing.assert_allclose(sp, np.logaddexp(0, ref), rtol=rtol, atol=tiny)
    assert s[0] == 0 and s[-1] == 1 and sp[0] == 0 and sp[-1] == 1e4
    # symmetry s(-a) = 1 - s(a), and softplus(a) - softplus(-a) = a
    np.testing.assert_allclose(s[::-1], 1 - s, atol=np.finfo(dtype).eps)
    np.testing.assert_allclose(sp - sp[::-1], a, rtol=rtol, atol=np.finfo(dtype).eps)


def test_sigmoid_matches_expit_across_the_range():
    a = np.linspace(-700, 700, 20001)
    np.testing.assert_allclose(sigmoid(a), expit(a), rtol=4e-16, atol=0)
    np.testing.assert_allclose(softplus(a), np.logaddexp(0, a), rtol=4e-16, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_extreme_logits(dtype, reduction):
    z = np.array([[-1e4, -1e4, 1e4, 1e4, -800.0, 800.0]], dtype=dtype)
    t = np.array([[0.0, 1.0, 0.0, 1.0, 0.5, 0.5]], dtype=dtype)
    with np.errstate(**STRICT):
        value, grad = losses.bce_with_logits(z, t, reduction)
    D = _divisor(z.shape, reduction)
    # log(1 + e^z) - t z: 0, 1e4, 1e4, 0, 400, 400 (e^{-800} and e^{-1e4} vanish)
    np.testing.assert_allclose(value, (2e4 + 800) / D, rtol=1e-7)
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, np.array([[0, -1, 1, 0, -0.5, 0.5]]) / D, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_saturated_probabilities_are_finite(dtype):
    """prob exactly 0 or 1 (a saturated sigmoid): bce clips it to [eps, 1 - eps]."""
    eps = np.finfo(dtype).eps
    p = sigmoid(np.array([[-1e4, 1e4, -1e4, 1e4]], dtype=dtype))
    np.testing.assert_array_equal(p, [[0, 1, 0, 1]])
    with np.errstate(**STRICT):
        right, g_right = losses.bce(p[:, :2], np.array([[0, 1]], dtype=dtype), "sum")
        wrong, g_wrong = losses.bce(p[:, 2:], np.array([[1, 0]], dtype=dtype), "sum")
    assert 0 <= right < 1e-6  # -log(1 - eps) ~ eps per entry
    # each entry is -log(eps) at the clip point: 36.04 in float64, 15.94 in float32
    np.testing.assert_allclose(wrong, -2 * np.log(float(eps)), rtol=1e-6)
    for g in (g_right, g_wrong):
        assert np.isfinite(g).all() and g.dtype == dtype
    # the gradient at a clipped wrong answer pushes the right way (not zero)
    assert g_wrong[0, 0] < 0 < g_wrong[0, 1]


# -- dtype ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [losses.mse, losses.bce, losses.bce_with_logits])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_float32_in_float32_out(fn, reduction):
    r = np.random.default_rng(0)
    a = r.uniform(0.05, 0.95, (4, 6)).astype(np.float32)
    t = r.uniform(0, 1, (4, 6)).astype(np.float32)
    value, grad = fn(a, t, reduction)
    assert type(value) is float
    assert grad.dtype == np.float32 and grad.shape == a.shape


# -- bad arguments --------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [losses.mse, losses.bce, losses.bce_with_logits])
def test_bad_reduction_shape_and_empty(fn):
    name = fn.__name__
    a = np.full((2, 3), 0.5)
    with pytest.raises(ValueError, match=rf"{name}: reduction must be one of .*'median'"):
        fn(a, a, "median")
    with pytest.raises(ValueError, match=rf"{name}: .* same shape, got \(2, 3\) and \(3, 2\)"):
        fn(a, np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=rf"{name}: empty batch"):
        fn(np.empty((0, 3)), np.empty((0, 3)))


@pytest.mark.parametrize("fn", [losses.bce, losses.bce_with_logits])
@pytest.mark.parametrize("bad, shown", [(1.5, r"\[0\.0, 1\.5\]"), (-0.25, r"\[-0\.25, 1\.0\]"),
                                        (np.nan, r"nan")])
def test_bce_targets_outside_unit_interval(fn, bad, shown):
    target = np.array([[0.0, 1.0, 0.5, bad]])
    with pytest.raises(ValueError, match=rf"{fn.__name__}: targets must lie in \[0, 1\], "
                                         rf"got values in .*{shown}"):
        fn(np.full((1, 4), 0.5), target)


@pytest.mark.parametrize("fn, arg", [(losses.mse, "pred"), (losses.bce, "prob"),
                                     (losses.bce_with_logits, "logits")])
def test_integer_predictions_are_refused(fn, arg):
    with pytest.raises(TypeError, match=rf"{fn.__name__}: {arg} must be a floating-point array, "
                                        r"got dtype int64"):
        fn(np.array([[3, -2]], dtype=np.int64), np.array([[1.0, 0.0]]))
