"""MaxPool2D and Upsample2D: gradients, references, ties, shapes, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from test_layers import assert_gradients_pass

from npae.layers import LAYERS, MaxPool2D, Upsample2D


@st.composite
def pool_cases(draw):
    return {
        "n": draw(st.integers(1, 3)), "c": draw(st.integers(1, 4)),
        "h": draw(st.integers(1, 12)), "w": draw(st.integers(1, 12)),
        "kernel": (draw(st.integers(1, 5)), draw(st.integers(1, 5))),
        "stride": draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3)))),
        "seed": draw(st.integers(0, 2**16)),
    }


def distinct_input(c):
    """A shuffled ramp: entries at least 0.1 apart, so no window has a near-tie and
    central differences with the checks' step (h = 1e-5) never cross a change of winner."""
    rng = np.random.default_rng(c["seed"])
    shape = (c["n"], c["c"], c["h"], c["w"])
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1


def fits(c):
    return c["h"] >= c["kernel"][0] and c["w"] >= c["kernel"][1]


def naive_maxpool(x, kernel, stride):
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    y = np.empty(x.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            y[:, :, i, j] = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].max(axis=(2, 3))
    return y


# -- MaxPool2D ---------------------------------------------------------------------------

@given(pool_cases())
def test_maxpool_gradient(c):
    assume(fits(c))
    assert_gradients_pass(MaxPool2D(c["kernel"], c["stride"]), distinct_input(c), c["seed"])


@given(pool_cases())
def test_maxpool_matches_naive_loop_and_shape(c):
    layer = MaxPool2D(c["kernel"], c["stride"])
    x = np.random.default_rng(c["seed"]).standard_normal((c["n"], c["c"], c["h"], c["w"]))
    if not fits(c):
        with pytest.raises(ValueError, match=r"MaxPool2D: input of shape .* smaller than the"):
            layer.forward(x)
        return
    stride = c["kernel"] if c["stride"] is None else c["stride"]
    y = layer.forward(x)
    expected_shape = (c["n"], c["c"]) + tuple(
        (size - k) // s + 1 for size, k, s in zip((c["h"], c["w"]), c["kernel"], stride))
    assert y.shape == expected_shape
    np.testing.assert_array_equal(y, naive_maxpool(x, c["kernel"], stride))


@given(pool_cases(), st.integers(0, 2))
def test_maxpool_ties_one_winner_per_window(c, levels):
    """With heavy ties (values from {0, .., levels}), every window sends its gradient to
    exactly one pixel holding the window's maximum; overlapping windows add up."""
    assume(fits(c))
    layer = MaxPool2D(c["kernel"], c["stride"])
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    rng = np.random.default_rng(c["seed"])
    x = rng.integers(0, levels + 1, (c["n"], c["c"], c["h"], c["w"])).astype(np.float64)
    y = layer.forward(x)
    # One window at a time: a one-hot dy must give a one-hot dx on a maximal pixel.
    for idx in np.ndindex(*y.shape):
        dy = np.zeros(y.shape)
        dy[idx] = 1.0
        dx = layer.backward(dy)
        n, ch, i, j = idx
        assert dx.sum() == 1.0 and np.count_nonzero(dx) == 1
        (hit,) = np.argwhere(dx == 1.0)
        assert hit[0] == n and hit[1] == ch
        assert i * sh <= hit[2] < i * sh + kh and j * sw <= hit[3] < j * sw + kw
        assert x[tuple(hit)] == y[idx]
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(dy).sum(), dy.sum())


def test_maxpool_small_example_by_hand():
    x = np.array([[1.0, 2, 5, 0], [3, 4, 1, 1], [0, 0, 2, 2], [9, 0, 2, 2]])[None, None]
    layer = MaxPool2D(2)
    np.testing.assert_array_equal(layer.forward(x)[0, 0], [[4, 5], [9, 2]])
    dx = layer.backward(np.array([[[[10.0, 20], [30, 40]]]]))
    # the tie of four 2s in the last window goes to its first (top-left) entry
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 20, 0], [0, 10, 0, 0], [0, 0, 40, 0],
                                             [30, 0, 0, 0]])


def test_maxpool_overlapping_windows_accumulate():
    x = np.array([[0.0, 9, 0]])[None, None]  # 1x3, windows of 1x2 with stride 1 share the 9
    layer = MaxPool2D((1, 2), stride=1)
    np.testing.assert_array_equal(layer.forward(x), [[[[9, 9]]]])
    np.testing.assert_array_equal(layer.backward(np.array([[[[1.0, 2.0]]]])), [[[[0, 3, 0]]]])


def test_maxpool_stride_defaults_to_kernel_and_config():
    layer = MaxPool2D((2, 3))
    assert layer.stride == (2, 3)
    assert layer.forward(np.zeros((1, 1, 4, 9))).shape == (1, 1, 2, 3)
    rebuilt = LAYERS["MaxPool2D"](**layer.config())
    assert rebuilt.config() == layer.config() == {"kernel_size": [2, 3], "stride": [2, 3]}


# -- Upsample2D --------------------------------------------------------------------------

@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 8), st.integers(1, 8),
       st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),
       st.integers(0, 2**16))
def test_upsample_matches_repeat_and_gradient(n, c, h, w, scale, seed):
    layer = Upsample2D(scale)
    sh, sw = (scale, scale) if isinstance(scale, int) else scale
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    y = layer.forward(x)
    np.testing.assert_array_equal(y, np.repeat(np.repeat(x, sh, axis=2), sw, axis=3))
    dy = np.random.default_rng(seed + 1).standard_normal(y.shape)
    block_sums = np.zeros_like(x)
    for a in range(sh):
        for b in range(sw):
            block_sums += dy[:, :, a::sh, b::sw]
    # the layer adds rows first, then columns: equal up to rounding near zero
    np.testing.assert_allclose(layer.backward(dy), block_sums, rtol=1e-12, atol=1e-13)
    assert_gradients_pass(layer, x, seed)


def test_upsample_config_and_float32():
    layer = Upsample2D((2, 3))
    assert LAYERS["Upsample2D"](**layer.config()).config() == {"scale_factor": [2, 3]}
    y = layer.forward(np.ones((1, 2, 3, 3), dtype=np.float32))
    assert y.dtype == np.float32 and y.shape == (1, 2, 6, 9)
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), 6.0)


# -- protocol and bad input --------------------------------------------------------------

@pytest.mark.parametrize("layer", [MaxPool2D(2, 1), Upsample2D(2)], ids=["maxpool", "upsample"])
def test_backward_leaves_dy_alone(layer, rng):
    x = rng.standard_normal((2, 3, 5, 4))
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dy_copy = dy.copy()
    layer.backward(dy)
    np.testing.assert_array_equal(dy, dy_copy)


@pytest.mark.parametrize("layer", [MaxPool2D(2), Upsample2D(2)], ids=["maxpool", "upsample"])
@pytest.mark.parametrize("shape, message", [
    ((2, 3, 8), r"expected a 4-D input .*got shape \(2, 3, 8\)"),
    ((2, 3, 8, 8, 1), r"expected a 4-D input .*got shape \(2, 3, 8, 8, 1\)"),
    ((0, 3, 8, 8), r"empty batch \(input shape \(0, 3, 8, 8\)\)"),
])
def test_bad_input_shapes(layer, shape, message):
    with pytest.raises(ValueError, match=rf"^{type(layer).__name__}: {message}"):
        layer.forward(np.zeros(shape))


def test_maxpool_input_smaller_than_window():
    with pytest.raises(ValueError, match=r"MaxPool2D: input of shape \(1, 2, 3, 8\) is smaller "
                                         r"than the 4x2 window"):
        MaxPool2D((4, 2)).forward(np.zeros((1, 2, 3, 8)))


@pytest.mark.parametrize("make, message", [
    (lambda: MaxPool2D(0), r"MaxPool2D: kernel_size must be >= 1"),
    (lambda: MaxPool2D(2, stride=(1, 0)), r"MaxPool2D: stride must be >= 1"),
    (lambda: MaxPool2D("big"), r"MaxPool2D: kernel_size must be an int or an \(h, w\) pair"),
    (lambda: Upsample2D(0), r"Upsample2D: scale_factor must be >= 1"),
    (lambda: Upsample2D((2, 2, 2)), r"Upsample2D: scale_factor must be an int or an"),
])
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("layer", [MaxPool2D(2), Upsample2D(2)], ids=["maxpool", "upsample"])
def test_backward_refuses_wrong_dy_shape(layer):
    y = layer.forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=rf"{type(layer).__name__}.backward: dy must have the "
                                         r"output shape"):
        layer.backward(np.zeros(y.shape[:3] + (y.shape[3] + 1,)))
