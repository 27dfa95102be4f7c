"""Sparsity and contractive penalties: values against independent formulas, gradients
against central differences (float64, max relative error < 1e-7), and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from central_difference import assert_function_gradients, assert_within_resolution
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy.special import rel_entr

from npae.layers import (
    Dense,
    Flatten,
    Identity,
    Layer,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softplus,
    Tanh,
)
from npae.network import Sequential
from npae.penalties import KL_EPS, contractive, encoder_jacobian, kl_sparsity, l1_activity

SETTINGS = settings(max_examples=30, deadline=None)
# zero, or weights large enough for finite differences (a subnormal weight is all rounding)
WEIGHTS = st.one_of(st.just(0.0), st.floats(1e-3, 3.0))
ACTIVATIONS = {"relu": ReLU, "leaky_relu": lambda: LeakyReLU(0.1), "sigmoid": Sigmoid,
               "tanh": Tanh, "softplus": Softplus, "identity": Identity}
KINKED = (ReLU, LeakyReLU)


# -- L1 activity ------------------------------------------------------------------

def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Entries of either sign with |h| >= 0.1, so that sign(h) is constant under h +- 1e-6."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)


@SETTINGS
@given(n=st.integers(1, 8), units=st.integers(1, 7), lam=WEIGHTS,
       seed=st.integers(0, 2**16))
def test_l1_activity_value_and_gradient(n, units, lam, seed):
    h = away_from_zero(np.random.default_rng(seed), (n, units))
    value, dh = l1_activity(h, lam)
    per_sample = [lam * sum(abs(v) for v in row) for row in h.tolist()]
    assert value == pytest.approx(sum(per_sample) / n, rel=1e-12, abs=1e-15)
    assert_function_gradients(lambda h_: l1_activity(h_, lam), h)


def test_l1_activity_on_images_and_float32():
    h = away_from_zero(np.random.default_rng(1), (3, 2, 4, 4)).astype(np.float32)
    value, dh = l1_activity(h, 0.5)
    assert dh.dtype == np.float32 and dh.shape == h.shape
    assert value == pytest.approx(0.5 * np.abs(h.astype(np.float64)).sum() / 3, rel=1e-6)


@pytest.mark.parametrize("lam", [-0.1, float("nan"), float("inf")])
def test_l1_activity_refuses_bad_lambda(lam):
    with pytest.raises(ValueError, match="l1_activity: lam"):
        l1_activity(np.ones((2, 3)), lam)


def test_l1_activity_refuses_bad_arrays():
    with pytest.raises(ValueError, match="l1_activity: h must be a non-empty batch"):
        l1_activity(np.ones(3), 0.1)
    with pytest.raises(TypeError, match="l1_activity: h must be a floating-point"):
        l1_activity(np.ones((2, 3), dtype=int), 0.1)


# -- KL sparsity ------------------------------------------------------------------

@SETTINGS
@given(n=st.integers(1, 8), units=st.integers(1, 7), rho=st.floats(0.01, 0.99),
       beta=WEIGHTS, seed=st.integers(0, 2**16))
def test_kl_sparsity_value_and_gradient(n, units, rho, beta, seed):
    # rho_hat >= 0.05: at rho = 0.99, rho_hat = 0.02 the KL's third derivative (~2 rho /
    # rho_hat^3) makes the central difference's own truncation error ~8e-8, near the 1e-7 bar
    h = np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, units))
    value, dh = kl_sparsity(h, rho, beta)
    rho_hat = h.mean(axis=0)
    expected = beta * (rel_entr(rho, rho_hat) + rel_entr(1 - rho, 1 - rho_hat)).sum()
    assert value == pytest.approx(expected, rel=1e-10, abs=1e-13)
    assert_function_gradients(lambda h_: kl_sparsity(h_, rho, beta), h)


def test_kl_is_of_the_batch_mean_not_a_mean_of_per_sample_kls():
    # each unit is 2 rho in one sample and 0 in the other: mean exactly rho, KL zero,
    # although every single sample is far from rho
    rho = 0.05
    h = np.array([[2 * rho, 0.0, 2 * rho], [0.0, 2 * rho, 0.0]])
    value, dh = kl_sparsity(h, rho, 1.0)
    assert value == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(dh, 0.0, atol=1e-12)


def test_kl_gradient_points_towards_rho():
    rho = 0.1
    h = np.array([[0.3, 0.02], [0.5, 0.04]])  # unit 0 too active, unit 1 too quiet
    _, dh = kl_sparsity(h, rho, 1.0)
    assert (dh[:, 0] > 0).all() and (dh[:, 1] < 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kl_stays_finite_when_units_saturate(dtype):
    h = np.zeros((4, 3), dtype=dtype)
    h[:, 1] = 1.0  # unit 0 dead, unit 1 always on, unit 2 at rho
    h[:, 2] = 0.05
    value, dh = kl_sparsity(h, 0.05, 1.0)
    assert np.isfinite(value) and np.isfinite(dh).all() and dh.dtype == dtype
    # clipped at KL_EPS: the value of a dead unit is KL(rho || KL_EPS)
    dead = rel_entr(0.05, KL_EPS) + rel_entr(0.95, 1 - KL_EPS)
    on = rel_entr(0.05, 1 - KL_EPS) + rel_entr(0.95, KL_EPS)
    # (in float32 the clip point 1 - KL_EPS itself is rounded, by about 1 % of KL_EPS)
    assert value == pytest.approx(dead + on, rel=1e-6 if dtype == np.float64 else 2e-2)
    # gradient descent revives the dead unit and quiets the saturated one
    assert (dh[:, 0] < 0).all() and (dh[:, 1] > 0).all()


@pytest.mark.parametrize("rho", [0.0, 1.0, -0.2, 1.5, float("nan")])
def test_kl_refuses_rho_outside_open_interval(rho):
    with pytest.raises(ValueError,
                       match="kl_sparsity: rho must be a number strictly between 0 and 1"):
        kl_sparsity(np.full((2, 3), 0.5), rho, 1.0)


@pytest.mark.parametrize("beta", [-1.0, float("nan")])
def test_kl_refuses_negative_beta(beta):
    with pytest.raises(ValueError, match="kl_sparsity: beta"):
        kl_sparsity(np.full((2, 3), 0.5), 0.05, beta)


def test_kl_refuses_codes_outside_unit_interval():
    with pytest.raises(ValueError, match="rho_hat must lie in \\[0, 1\\].*Sigmoid"):
        kl_sparsity(np.array([[2.0, 0.5], [1.0, 0.5]]), 0.05, 1.0)
    with pytest.raises(ValueError, match="rho_hat must lie in"):
        kl_sparsity(np.array([[-0.5, 0.5]]), 0.05, 1.0)


# -- contractive ------------------------------------------------------------------

def numerical_jacobian(encoder: Layer, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """``J[n, i, j] = dh_j / dx_i`` by central differences of ``encoder.forward``."""
    cols = []
    for i in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[i] = h
        cols.append((encoder.forward(x + e) - encoder.forward(x - e)) / (2 * h))
    return np.stack(cols, axis=1)


def build(sizes: list[int], acts: list[str], rng: np.random.Generator,
          dtype=np.float64, last_act: bool = True) -> Sequential:
    """Dense layers ``sizes[0] -> ... -> sizes[-1]``, each followed by ``acts[k]``."""
    layers: list[Layer] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        dense = Dense(a, b, rng=rng, dtype=dtype)
        dense.params["b"][...] = rng.normal(0, 0.5, size=b)  # nonzero biases test db
        layers.append(dense)
        if last_act or k < len(sizes) - 2:
            layers.append(ACTIVATIONS[acts[k]]())
    return Sequential(*layers)


def pre_activations(encoder: Sequential, x: np.ndarray) -> list[np.ndarray]:
    """Inputs of every kinked activation, to keep finite differences off the kinks."""
    out, u = [], x
    for layer in encoder.layers:
        if isinstance(layer, KINKED):
            out.append(u)
        u = layer.forward(u)
    return out


def check_contractive(encoder: Sequential, x: np.ndarray, lam: float) -> None:
    J = numerical_jacobian(encoder, x)
    np.testing.assert_allclose(encoder_jacobian(x, encoder), J, rtol=1e-6, atol=1e-8)
    value, grads = contractive(x, encoder, lam)
    brute = lam * np.mean((J ** 2).sum(axis=(1, 2)))
    assert value == pytest.approx(brute, rel=1e-7, abs=1e-12)
    names = [name for name, _, _ in encoder.parameters()]
    assert list(grads) == names
    for name, p, _ in encoder.parameters():
        assert_within_resolution(name, grads[name],
                                 lambda: contractive(x, encoder, lam, grads=False)[0], p)


@SETTINGS
@given(act=st.sampled_from(sorted(ACTIVATIONS)), n=st.integers(1, 6), d=st.integers(1, 6),
       k=st.integers(1, 5), lam=st.floats(0.01, 3.0), seed=st.integers(0, 2**16))
@example(act="sigmoid", n=4, d=3, k=1, lam=1.0, seed=1)  # db cancels: tests/central_difference.py
def test_contractive_one_layer(act, n, d, k, lam, seed):
    rng = np.random.default_rng(seed)
    encoder = build([d, k], [act], rng)
    x = rng.normal(size=(n, d))
    assume(all(np.abs(a).min() > 1e-4 for a in pre_activations(encoder, x)))
    check_contractive(encoder, x, lam)


@SETTINGS
@given(depth=st.integers(2, 3), acts=st.lists(st.sampled_from(sorted(ACTIVATIONS)),
                                              min_size=3, max_size=3),
       widths=st.lists(st.integers(1, 5), min_size=4, max_size=4), n=st.integers(1, 5),
       last_act=st.booleans(), lam=st.floats(0.01, 3.0), seed=st.integers(0, 2**16))
def test_contractive_deep(depth, acts, widths, n, last_act, lam, seed):
    rng = np.random.default_rng(seed)
    encoder = build(widths[:depth + 1], acts, rng, last_act=last_act)
    x = rng.normal(size=(n, widths[0]))
    assume(all(np.abs(a).min() > 1e-4 for a in pre_activations(encoder, x)))
    check_contractive(encoder, x, lam)


def test_contractive_relu_where_the_kinks_are_controlled():
    # pre-activations kept at |a| >= 0.5 on both sides of the kink: both branches tested
    rng = np.random.default_rng(3)
    encoder = Sequential(Dense(3, 4, rng=rng, dtype=np.float64), ReLU(),
                         Dense(4, 2, rng=rng, dtype=np.float64), Sigmoid())
    encoder[0].params["b"][...] = 0.0
    x = rng.normal(size=(200, 3))
    x = x[np.all(np.abs(x @ encoder[0].params["W"]) > 0.5, axis=1)][:6]
    a = x @ encoder[0].params["W"]
    assert x.shape[0] == 6 and (a > 0).any() and (a < 0).any()
    check_contractive(encoder, x, 0.7)


def test_contractive_one_layer_sigmoid_matches_the_textbook_formula():
    # ||J||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ij^2, from the sigmoid's outputs
    rng = np.random.default_rng(0)
    encoder = build([5, 4], ["sigmoid"], rng)
    x = rng.normal(size=(7, 5))
    h = encoder.forward(x)
    W = encoder[0].params["W"]
    expected = 0.3 * np.mean(((h * (1 - h)) ** 2 * (W ** 2).sum(axis=0)).sum(axis=1))
    assert contractive(x, encoder, 0.3)[0] == pytest.approx(expected, rel=1e-12)


def test_contractive_linear_encoder_is_weight_decay():
    # J = W for every sample: lam ||W||_F^2, gradient 2 lam W, and the bias is free
    rng = np.random.default_rng(1)
    dense = Dense(4, 3, rng=rng, dtype=np.float64)
    value, grads = contractive(rng.normal(size=(5, 4)), dense, 0.5)
    W = dense.params["W"]
    assert value == pytest.approx(0.5 * (W ** 2).sum(), rel=1e-12)
    assert set(grads) == {"W", "b"}
    np.testing.assert_allclose(grads["W"], W, rtol=1e-12)
    assert (grads["b"] == 0).all()


def test_fast_path_agrees_with_the_forward_mode_path():
    # an Identity at the end changes nothing but routes the encoder through the deep code
    rng = np.random.default_rng(2)
    for act in ("sigmoid", "tanh", "softplus"):
        shallow = build([6, 4], [act], rng)
        deep = Sequential(*shallow.layers, Identity())
        x = rng.normal(size=(9, 6))
        v1, g1 = contractive(x, shallow, 0.4)
        v2, g2 = contractive(x, deep, 0.4)
        assert v1 == pytest.approx(v2, rel=1e-12)
        for k in g1:
            np.testing.assert_allclose(g1[k], g2[k], rtol=1e-10, atol=1e-14)


def test_unusual_encoders_nested_and_activation_first():
    rng = np.random.default_rng(4)
    inner = Sequential(Dense(3, 4, rng=rng, dtype=np.float64), Tanh())
    encoder = Sequential(Softplus(), inner, Dense(4, 2, rng=rng, dtype=np.float64), Sigmoid())
    x = rng.normal(size=(4, 3))
    check_contractive(encoder, x, 1.0)
    assert set(contractive(x, encoder, 1.0)[1]) == {"1.0.W", "1.0.b", "2.W", "2.b"}
    # dense -> dense with no activation between: J stays shared by all samples
    check_contractive(Sequential(Dense(3, 4, rng=rng, dtype=np.float64),
                                 Dense(4, 2, rng=rng, dtype=np.float64), Tanh()), x, 1.0)


@pytest.mark.parametrize("limit", [1, 50, 10**9])
def test_chunking_changes_nothing(limit):
    rng = np.random.default_rng(5)
    encoder = build([7, 6, 3], ["tanh", "sigmoid"], rng)
    x = rng.normal(size=(11, 7))
    v_ref, g_ref = contractive(x, encoder, 0.9)
    v, g = contractive(x, encoder, 0.9, max_jacobian_elements=limit)
    assert v == pytest.approx(v_ref, rel=1e-12)
    for k in g_ref:
        np.testing.assert_allclose(g[k], g_ref[k], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("sizes", [[6, 5], [6, 5, 3]])
def test_contractive_float32_stays_float32(sizes):
    rng = np.random.default_rng(6)
    enc64 = build(sizes, ["tanh", "sigmoid"], rng)
    enc32 = build(sizes, ["tanh", "sigmoid"], rng, dtype=np.float32)
    for (_, p32, _), (_, p64, _) in zip(enc32.parameters(), enc64.parameters()):
        p32[...] = p64
    x64 = rng.normal(size=(8, sizes[0]))
    v64, g64 = contractive(x64, enc64, 0.5)
    v32, g32 = contractive(x64.astype(np.float32), enc32, 0.5)
    assert v32 == pytest.approx(v64, rel=1e-4)
    for k in g64:
        assert g32[k].dtype == np.float32
        np.testing.assert_allclose(g32[k], g64[k], rtol=1e-3, atol=1e-5)


class Square(Layer):
    def forward(self, x, training=True):
        return x * x

    def backward(self, dy):
        return dy


def test_contractive_refuses_layers_it_cannot_differentiate():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3))
    with pytest.raises(TypeError, match=r"layer 1 \(Flatten\).*supports Dense layers"):
        contractive(x, Sequential(Dense(3, 3, rng=rng), Flatten(), Sigmoid()), 0.1)
    with pytest.raises(TypeError, match=r"layer 0.1 \(Square\)"):
        contractive(x, Sequential(Sequential(Dense(3, 3, rng=rng), Square())), 0.1)
    with pytest.raises(TypeError, match=r"the encoder \(Square\)"):
        contractive(x, Square(), 0.1)


def test_contractive_refuses_bad_arguments():
    rng = np.random.default_rng(8)
    encoder = build([3, 2], ["sigmoid"], rng)
    x = rng.normal(size=(4, 3))
    with pytest.raises(ValueError, match="contractive: lam"):
        contractive(x, encoder, -0.1)
    with pytest.raises(ValueError, match=r"layer 0 \(Dense\) expects 3 input features, got 5"):
        contractive(rng.normal(size=(4, 5)), encoder, 0.1)
    with pytest.raises(ValueError, match="non-empty"):
        contractive(np.zeros((0, 3)), encoder, 0.1)
    with pytest.raises(TypeError, match="dtype float32 but the encoder's parameters are float64"):
        contractive(x.astype(np.float32), encoder, 0.1)
    with pytest.raises(ValueError, match="max_jacobian_elements"):
        contractive(x, encoder, 0.1, max_jacobian_elements=0)
