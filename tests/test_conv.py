"""Conv2D and ConvTranspose2D: gradients, references, shapes, refusals."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from scipy.signal import correlate2d
from test_layers import assert_gradients_pass

from npae.gradcheck import check_layer
from npae.im2col import Workspace, col2im, im2col
from npae.layers import LAYERS, Conv2D, ConvTranspose2D
from npae.network import Sequential


@st.composite
def conv_cases(draw, transpose: bool = False):
    """Random hyperparameters in the ranges the layers must handle (possible or not)."""
    case = {
        "n": draw(st.integers(1, 3)), "c_in": draw(st.integers(1, 4)),
        "c_out": draw(st.integers(1, 4)), "h": draw(st.integers(1, 12)),
        "w": draw(st.integers(1, 12)),
        "kernel": (draw(st.integers(1, 5)), draw(st.integers(1, 5))),
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "padding": (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
        "seed": draw(st.integers(0, 2**16)),
    }
    if transpose:
        case["output_padding"] = tuple(draw(st.integers(0, s - 1)) for s in case["stride"])
    return case


def conv_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def convT_size(size, k, s, p, op):
    return (size - 1) * s - 2 * p + k + op


def conv_possible(c):
    return all(size + 2 * p >= k for size, k, p in
               zip((c["h"], c["w"]), c["kernel"], c["padding"]))


def convT_possible(c):
    return all(convT_size(size, k, s, p, op) >= 1 for size, k, s, p, op in
               zip((c["h"], c["w"]), c["kernel"], c["stride"], c["padding"],
                   c["output_padding"]))


def make_conv(c, dtype=np.float64):
    return Conv2D(c["c_in"], c["c_out"], c["kernel"], c["stride"], c["padding"],
                  rng=c["seed"], dtype=dtype)


def make_convT(c, dtype=np.float64):
    return ConvTranspose2D(c["c_in"], c["c_out"], c["kernel"], c["stride"], c["padding"],
                           c["output_padding"], rng=c["seed"], dtype=dtype)


def random_input(c, dtype=np.float64):
    rng = np.random.default_rng(c["seed"] + 1)
    return rng.standard_normal((c["n"], c["c_in"], c["h"], c["w"])).astype(dtype)


def randomize_bias(layer, seed):
    layer.params["b"][...] = np.random.default_rng(seed).standard_normal(layer.params["b"].shape)


# -- gradients ---------------------------------------------------------------------------

@given(conv_cases())
@example({"n": 1, "c_in": 1, "c_out": 1, "h": 6, "w": 7, "kernel": (2, 2), "stride": (3, 3),
          "padding": (1, 1), "seed": 1371})
def test_conv2d_gradients(c):
    """Each array within 1e-7 relative, or within the central difference's resolution
    (``tests/test_layers.py::assert_gradients_pass`` derives it): the explore profile found
    the example above, whose bias gradient (a sum of 4 values of ``dy`` for one channel)
    nearly cancels, at 1.13e-7 relative, all of it rounding of ``L``."""
    assume(conv_possible(c))
    assert_gradients_pass(make_conv(c), random_input(c), c["seed"])


@given(conv_cases(transpose=True))
def test_conv_transpose2d_gradients(c):
    assume(convT_possible(c))
    assert_gradients_pass(make_convT(c), random_input(c), c["seed"])  # as for Conv2D


# -- shapes and refusals -----------------------------------------------------------------

@given(conv_cases())
def test_conv2d_output_shape_or_clear_refusal(c):
    layer = make_conv(c)
    x = random_input(c)
    if conv_possible(c):
        expected = (c["n"], c["c_out"]) + tuple(
            conv_size(size, k, s, p) for size, k, s, p in
            zip((c["h"], c["w"]), c["kernel"], c["stride"], c["padding"]))
        assert layer.forward(x).shape == expected
        assert layer.backward(np.ones(expected)).shape == x.shape
    else:
        with pytest.raises(ValueError, match=r"Conv2D: input of shape .* smaller than the "
                                             r"kernel"):
            layer.forward(x)


@given(conv_cases(transpose=True))
def test_conv_transpose2d_output_shape_or_clear_refusal(c):
    layer = make_convT(c)
    x = random_input(c)
    if convT_possible(c):
        expected = (c["n"], c["c_out"]) + tuple(
            convT_size(size, k, s, p, op) for size, k, s, p, op in
            zip((c["h"], c["w"]), c["kernel"], c["stride"], c["padding"], c["output_padding"]))
        assert layer.forward(x).shape == expected
        assert layer.backward(np.ones(expected)).shape == x.shape
    else:
        with pytest.raises(ValueError, match=r"ConvTranspose2D: input of shape .* empty "
                                             r"output"):
            layer.forward(x)


# -- forward against independent references ----------------------------------------------

def scipy_conv2d(x, W, b, stride, padding):
    """Cross-correlation from scipy's correlate2d: all positions, then every stride-th."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, o = x.shape[0], W.shape[0]
    out = []
    for i in range(n):
        maps = [sum(correlate2d(xp[i, c], W[j, c], mode="valid") for c in range(x.shape[1]))
                for j in range(o)]
        out.append(np.stack(maps)[:, ::sh, ::sw] + b[:, None, None])
    return np.stack(out)


def naive_conv_transpose2d(x, W, b, stride, padding, out_hw):
    """Scatter every input pixel's weighted kernel, then drop the padding."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x.shape
    _, o, kh, kw = W.shape
    big = np.zeros((n, o, out_hw[0] + 2 * ph + kh, out_hw[1] + 2 * pw + kw))
    for i in range(h):
        for j in range(w):
            big[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum(
                "nc,coab->noab", x[:, :, i, j], W)
    return big[:, :, ph:ph + out_hw[0], pw:pw + out_hw[1]] + b[:, None, None]


@given(conv_cases())
def test_conv2d_forward_matches_scipy(c):
    assume(conv_possible(c))
    layer = make_conv(c)
    randomize_bias(layer, c["seed"])
    x = random_input(c)
    expected = scipy_conv2d(x, layer.params["W"], layer.params["b"], c["stride"], c["padding"])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-10, atol=1e-12)


@given(conv_cases(transpose=True))
def test_conv_transpose2d_forward_matches_scatter(c):
    assume(convT_possible(c))
    layer = make_convT(c)
    randomize_bias(layer, c["seed"])
    x = random_input(c)
    y = layer.forward(x)
    expected = naive_conv_transpose2d(x, layer.params["W"], layer.params["b"], c["stride"],
                                      c["padding"], y.shape[2:])
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


@given(conv_cases())
def test_conv_transpose_is_the_adjoint_of_conv(c):
    """<conv(x), y> == <x, convT(y)> with shared weights and no bias."""
    assume(conv_possible(c))
    conv = make_conv(c)
    op = tuple((size + 2 * p - k) % s for size, k, s, p in
               zip((c["h"], c["w"]), c["kernel"], c["stride"], c["padding"]))
    convT = ConvTranspose2D(c["c_out"], c["c_in"], c["kernel"], c["stride"], c["padding"], op,
                            rng=c["seed"] + 7, dtype=np.float64)
    convT.params["W"][...] = conv.params["W"]
    x = random_input(c)
    y = np.random.default_rng(c["seed"] + 2).standard_normal(conv.output_shape(x.shape))
    lhs = np.sum(conv.forward(x) * y)
    convT_y = convT.forward(y)
    assert convT_y.shape == x.shape
    np.testing.assert_allclose(lhs, np.sum(x * convT_y), rtol=1e-10, atol=1e-10)


@given(conv_cases())
def test_col2im_is_the_adjoint_of_im2col(c):
    """<im2col(x), Z> == <x, col2im(Z)>, and im2col's entries are the window pixels."""
    assume(conv_possible(c))
    x = random_input(c)
    args = (c["kernel"], c["stride"], c["padding"])
    ws = Workspace()
    cols = im2col(x, *args, ws=ws)
    (kh, kw), (sh, sw), (ph, pw) = args
    n, ch = c["n"], c["c_in"]
    ho, wo = (conv_size(size, k, s, p) for size, k, s, p in
              zip((c["h"], c["w"]), c["kernel"], c["stride"], c["padding"]))
    assert cols.shape == (n * ho * wo, kh * kw * ch)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    blocks = cols.reshape(n, ho, wo, kh, kw, ch)
    for a, b in [(0, 0), (kh - 1, kw - 1), (kh // 2, kw // 2)]:
        expected = xp[:, :, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw]
        np.testing.assert_array_equal(blocks[:, :, :, a, b], expected.transpose(0, 2, 3, 1))
    Z = np.random.default_rng(c["seed"] + 3).standard_normal(cols.shape)
    back = col2im(Z, x.shape, *args)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(cols * Z), np.sum(x * back), rtol=1e-10, atol=1e-10)
    # a second call through the same workspace (stale buffers) gives the same columns
    x2 = x[:, :, ::-1].copy()
    np.testing.assert_array_equal(im2col(x2, *args, ws=ws), im2col(x2, *args))


def test_conv2d_small_example_by_hand():
    """A 1-channel 3x3 image, 2x2 kernel of ones, stride 1: window sums."""
    layer = Conv2D(1, 1, 2, dtype=np.float64)
    layer.params["W"][...] = 1.0
    layer.params["b"][...] = 0.5
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(layer.forward(x)[0, 0], [[8.5, 12.5], [20.5, 24.5]])


# -- protocol details --------------------------------------------------------------------

@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
def test_backward_leaves_dy_alone_and_can_skip_input_grad(cls, rng):
    layer = cls(3, 2, (3, 2), stride=2, padding=1, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 3, 6, 5))
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dy_copy = dy.copy()
    dx = layer.backward(dy)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    np.testing.assert_array_equal(dy, dy_copy)
    assert cls.skips_input_grad
    assert layer.backward(dy, input_grad=False) is None
    for k, g in grads.items():
        np.testing.assert_array_equal(layer.grads[k], g)
    np.testing.assert_array_equal(dy, dy_copy)
    assert dx.shape == x.shape
    model = Sequential(layer)
    assert model.backward(dy, input_grad=False) is None


@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
def test_float32_stays_float32(cls, rng):
    layer = cls(3, 4, 3, stride=2, padding=1, rng=0)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())


@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
def test_reused_buffers_never_change_returned_arrays(cls, rng):
    """Scratch space is reused between batches: earlier outputs must stay intact,
    and a smaller batch after a larger one must give the same result as a fresh layer."""
    layer = cls(2, 3, 3, stride=1, padding=1, rng=0, dtype=np.float64)
    fresh = cls(2, 3, 3, stride=1, padding=1, rng=0, dtype=np.float64)
    x1, x2 = rng.standard_normal((4, 2, 5, 5)), rng.standard_normal((2, 2, 5, 5))
    y1 = layer.forward(x1)
    dx1 = layer.backward(np.ones_like(y1))
    y1_copy, dx1_copy = y1.copy(), dx1.copy()
    y2 = layer.forward(x2)
    dy2 = rng.standard_normal(y2.shape)
    dx2 = layer.backward(dy2)
    np.testing.assert_array_equal(y1, y1_copy)
    np.testing.assert_array_equal(dx1, dx1_copy)
    np.testing.assert_array_equal(y2, fresh.forward(x2))
    np.testing.assert_array_equal(dx2, fresh.backward(dy2))
    np.testing.assert_array_equal(layer.grads["W"], fresh.grads["W"])


@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
def test_reused_buffers_across_image_shapes(cls, rng):
    """Same element count, other geometry: the padded buffer's stale interior must not
    leak into the new zero frame."""
    layer = cls(2, 3, 3, stride=2, padding=2, rng=0, dtype=np.float64)
    for shape in [(2, 2, 9, 5), (2, 2, 5, 9), (3, 2, 6, 5), (1, 2, 4, 4)]:
        x = rng.standard_normal(shape) + 5.0  # nonzero everywhere: stale values would show
        fresh = cls(2, 3, 3, stride=2, padding=2, rng=0, dtype=np.float64)
        y = layer.forward(x)
        np.testing.assert_array_equal(y, fresh.forward(x))
        dy = rng.standard_normal(y.shape)
        np.testing.assert_array_equal(layer.backward(dy), fresh.backward(dy))
        np.testing.assert_array_equal(layer.grads["W"], fresh.grads["W"])


def test_non_contiguous_input(rng):
    layer = Conv2D(3, 2, 3, padding=1, rng=0, dtype=np.float64)
    x = rng.standard_normal((2, 7, 7, 3)).transpose(0, 3, 1, 2)  # NHWC memory, NCHW view
    np.testing.assert_allclose(layer.forward(x), layer.forward(np.ascontiguousarray(x)),
                               rtol=1e-12)
    assert check_layer(layer, x).passed


@pytest.mark.parametrize("cls, kwargs", [
    (Conv2D, {"stride": (2, 1), "padding": (0, 2)}),
    (ConvTranspose2D, {"stride": (3, 2), "padding": 1, "output_padding": (2, 1)}),
])
def test_config_rebuilds_the_layer(cls, kwargs):
    layer = cls(3, 5, (3, 2), rng=0, **kwargs)
    rebuilt = LAYERS[cls.__name__](**layer.config())
    assert rebuilt.config() == layer.config()
    assert rebuilt.params["W"].shape == layer.params["W"].shape
    assert rebuilt.params["W"].dtype == np.float32


def test_weight_shapes_and_init_scale():
    conv = Conv2D(16, 32, 3, rng=0)
    assert conv.params["W"].shape == (32, 16, 3, 3) and conv.params["b"].shape == (32,)
    bound = np.sqrt(6 / (16 * 9))
    assert np.abs(conv.params["W"]).max() <= bound
    assert np.abs(conv.params["W"]).max() > 0.9 * bound  # uniform over the whole interval
    assert not conv.params["b"].any()
    convT = ConvTranspose2D(16, 8, 4, stride=2, rng=0)
    assert convT.params["W"].shape == (16, 8, 4, 4) and convT.params["b"].shape == (8,)
    assert np.abs(convT.params["W"]).max() <= np.sqrt(6 / (16 * 16 / 4))


# -- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
@pytest.mark.parametrize("shape, message", [
    ((2, 3, 8), r"expected a 4-D input .*got shape \(2, 3, 8\)"),
    ((2, 3, 8, 8, 1), r"expected a 4-D input .*got shape \(2, 3, 8, 8, 1\)"),
    ((2, 4, 8, 8), r"expected 3 input channels, got 4 \(input shape \(2, 4, 8, 8\)\)"),
    ((0, 3, 8, 8), r"empty batch \(input shape \(0, 3, 8, 8\)\)"),
])
def test_bad_input_shapes(cls, shape, message):
    layer = cls(3, 2, 3, rng=0)
    with pytest.raises(ValueError, match=rf"^{cls.__name__}: {message}"):
        layer.forward(np.zeros(shape, dtype=np.float32))


def test_input_smaller_than_kernel_after_padding():
    layer = Conv2D(1, 1, (5, 3), padding=(1, 0))
    with pytest.raises(ValueError, match=r"Conv2D: input of shape \(1, 1, 2, 9\) is smaller "
                                         r"than the kernel 5x3 even after padding \(1, 0\)"):
        layer.forward(np.zeros((1, 1, 2, 9), dtype=np.float32))
    layer.forward(np.zeros((1, 1, 3, 9), dtype=np.float32))  # 3 + 2 = 5 fits exactly


def test_transpose_empty_output_refused():
    layer = ConvTranspose2D(1, 1, 1, stride=1, padding=1)  # (1-1)*1 - 2 + 1 = -1
    with pytest.raises(ValueError, match=r"ConvTranspose2D: input of shape \(1, 1, 1, 1\) "
                                         r"gives an empty output"):
        layer.forward(np.zeros((1, 1, 1, 1), dtype=np.float32))


@pytest.mark.parametrize("stride, output_padding", [(1, 1), (2, 2), ((2, 3), (0, 3)), (2, -1)])
def test_output_padding_must_be_smaller_than_stride(stride, output_padding):
    with pytest.raises(ValueError, match=r"ConvTranspose2D: output_padding must satisfy "
                                         r"0 <= output_padding < stride .*got output_padding"):
        ConvTranspose2D(2, 2, 3, stride=stride, output_padding=output_padding)


@pytest.mark.parametrize("kwargs, message", [
    ({"kernel_size": 0}, r"kernel_size must be >= 1"),
    ({"kernel_size": (3, 0)}, r"kernel_size must be >= 1"),
    ({"kernel_size": 3, "stride": 0}, r"stride must be >= 1"),
    ({"kernel_size": 3, "padding": -1}, r"padding must be >= 0"),
    ({"kernel_size": (1, 2, 3)}, r"kernel_size must be an int or an \(h, w\) pair"),
])
@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
def test_bad_hyperparameters(cls, kwargs, message):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: {message}"):
        cls(2, 2, **kwargs)


@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
def test_bad_channel_counts_and_dtype(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: in_channels must be an int >= 1"):
        cls(0, 2, 3)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: out_channels must be an int >= 1"):
        cls(2, 2.5, 3)
    with pytest.raises(TypeError, match=rf"{cls.__name__}: dtype must be a floating type"):
        cls(2, 2, 3, dtype=np.int32)


@pytest.mark.parametrize("cls", [Conv2D, ConvTranspose2D])
def test_backward_refuses_wrong_dy_shape(cls):
    layer = cls(2, 3, 3, rng=0)
    y = layer.forward(np.zeros((2, 2, 6, 6), dtype=np.float32))
    message = f"{cls.__name__}.backward: dy must have the output shape {tuple(y.shape)}"
    with pytest.raises(ValueError, match=re.escape(message)):
        layer.backward(np.zeros(y.shape[:3] + (1,), dtype=np.float32))
