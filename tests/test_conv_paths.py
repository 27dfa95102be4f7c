"""The fast kernels' routes of convolution and pooling agree with each other, with finite
differences, with plain references, and on the (stand-in) device, bit for bit.

These tests are about :mod:`npae.kernels.fast`: they run it whatever ``NPAE_KERNELS`` says
(tests/test_kernels.py holds every fast kernel to the reference)."""

from __future__ import annotations

import numpy as np
import pytest
from central_difference import assert_function_gradients
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from npae import backend, kernels
from npae.gradcheck import check_layer
from npae.kernels.fast import layout, patches, routes
from npae.kernels.fast.layout import pixel_rows
from npae.kernels.fast.routes import conv2d_forward_gather as conv2d_forward
from npae.kernels.fast.routes import conv2d_input_grad, input_grad_route
from npae.layers import Conv2D, ConvTranspose2D, MaxPool2D, Upsample2D

import strict_device

ROUTES = ("col2im", "correlate")


@pytest.fixture(autouse=True)
def fast_kernels():
    """The layers run the fast kernels here, as they do by default."""
    was = kernels.active()
    kernels.use("fast")
    yield
    kernels.use(was)


@st.composite
def stride1_cases(draw):
    """Stride-1 convolutions with ``p <= k - 1``: the shapes where both routes apply."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return {"n": draw(st.integers(1, 2)), "c": draw(st.integers(1, 4)),
            "o": draw(st.integers(1, 4)), "h": draw(st.integers(1, 7)),
            "w": draw(st.integers(1, 7)), "kernel": (kh, kw),
            "padding": (draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))),
            "seed": draw(st.integers(0, 2**16))}


def _arrays(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["n"], c["c"], c["h"], c["w"]))
    W = rng.standard_normal((c["o"], c["c"], *c["kernel"]))
    return x, W, rng


@settings(max_examples=40, deadline=None)
@given(stride1_cases())
def test_both_input_gradient_routes_match_finite_differences(c):
    """dx of L = sum(conv(x, W) * dy) by col2im and by correlation with the flipped kernel."""
    x, W, rng = _arrays(c)
    assume(all(s + 2 * p >= k for s, k, p in zip(x.shape[2:], c["kernel"], c["padding"])))
    stride, pad = (1, 1), c["padding"]
    dy = rng.standard_normal(conv2d_forward(x, W, stride, pad)[0].shape)
    dx = {}
    for route in ROUTES:
        def f(x, route=route):
            return (np.sum(conv2d_forward(x, W, stride, pad)[0] * dy),
                    conv2d_input_grad(pixel_rows(dy), W, x.shape, stride, pad, route=route))

        # L = sum(conv(x, W) * dy) has terms of either sign: rounding scales with their sizes
        assert_function_gradients(f, x, name=route, terms_abs_sum=np.abs(
            conv2d_forward(x, W, stride, pad)[0] * dy).sum())
        dx[route] = f(x)[1]
    np.testing.assert_allclose(dx["col2im"], dx["correlate"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("make, shape", [
    (lambda: Conv2D(3, 2, (3, 2), padding=(1, 0), dtype=np.float64, rng=0), (2, 3, 5, 4)),
    (lambda: Conv2D(2, 3, 3, padding=2, dtype=np.float64, rng=1), (1, 2, 4, 5)),
    (lambda: ConvTranspose2D(2, 3, (2, 3), padding=(1, 1), dtype=np.float64, rng=2),
     (2, 2, 4, 3)),
    (lambda: ConvTranspose2D(3, 1, 3, dtype=np.float64, rng=3), (1, 3, 1, 1)),
], ids=["conv", "conv-p2", "convT", "convT-1x1"])
def test_layers_pass_the_gradient_check_on_either_route(route, make, shape, monkeypatch):
    monkeypatch.setattr(routes, "input_grad_route", lambda *args: route)
    x = np.random.default_rng(5).standard_normal(shape)
    report = check_layer(make(), x)
    assert report.passed, report


def test_the_route_follows_the_shapes():
    """Correlation where it copies fewer numbers (few output channels, stride 1), col2im
    where it must (stride 2, padding >= kernel), where dy is much smaller than x, or
    where correlation's patches would be larger than col2im's (more outputs than inputs)."""
    assert input_grad_route((128, 16, 28, 28), (1, 16, 3, 3), (1, 1), (1, 1)) == "correlate"
    assert input_grad_route((128, 32, 14, 14), (16, 32, 3, 3), (1, 1), (1, 1)) == "correlate"
    assert input_grad_route((128, 16, 14, 14), (32, 16, 4, 4), (2, 2), (1, 1)) == "col2im"
    assert input_grad_route((128, 16, 28, 28), (32, 16, 3, 3), (1, 1), (1, 1)) == "col2im"
    assert input_grad_route((2, 3, 5, 5), (3, 3, 3, 3), (1, 1), (3, 3)) == "col2im"
    # the transposed convolution of a 1x1 code up to 7x7: its dy is 49 times smaller
    assert input_grad_route((128, 32, 7, 7), (32, 32, 7, 7), (1, 1), (0, 0)) == "col2im"


# -- the forward pass: gathered (im2col) or scattered (flipped kernel) ------------------

FORWARD_ROUTES = ("gather", "scatter")


@settings(max_examples=40, deadline=None)
@given(stride1_cases())
def test_both_forward_routes_give_scipys_convolution_and_the_same_gradients(c):
    """y by gathering x's patches and by scattering products with the flipped kernel,
    against SciPy's correlation; dW from x's patches and from dy's patches."""
    from scipy.signal import correlate

    x, W, rng = _arrays(c)
    assume(all(s + 2 * p >= k for s, k, p in zip(x.shape[2:], c["kernel"], c["padding"])))
    (ph, pw), b = c["padding"], rng.standard_normal(c["o"])
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    expected = np.stack([[sum(correlate(xpad[n, ch], W[o, ch], mode="valid")
                              for ch in range(c["c"])) + b[o] for o in range(c["o"])]
                         for n in range(c["n"])])
    gathered, cols = conv2d_forward(x, W, (1, 1), (ph, pw), b)
    x_rows = pixel_rows(x)
    scattered = routes.conv2d_forward_scatter(x_rows, W, x.shape, (ph, pw), b)
    np.testing.assert_allclose(gathered, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scattered, expected, rtol=1e-12, atol=1e-12)
    dy_rows = rng.standard_normal((cols.shape[0], c["o"]))
    dcols = routes.dy_patches(dy_rows, x.shape, W.shape, (ph, pw))
    np.testing.assert_allclose(
        routes.conv2d_weight_grad_from_dy(x_rows, dcols, W.shape),
        routes.conv2d_weight_grad(cols, dy_rows, W.shape), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("forward", FORWARD_ROUTES)
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("make, shape", [
    (lambda: Conv2D(3, 2, (3, 2), padding=(1, 0), dtype=np.float64, rng=0), (2, 3, 5, 4)),
    (lambda: Conv2D(4, 1, 3, padding=1, dtype=np.float64, rng=1), (2, 4, 5, 6)),
    (lambda: Conv2D(1, 3, (2, 3), padding=(0, 2), dtype=np.float64, rng=2), (1, 1, 4, 5)),
], ids=["conv", "conv-to-1", "conv-from-1"])
def test_conv_passes_the_gradient_check_on_every_route(forward, route, make, shape,
                                                       monkeypatch):
    monkeypatch.setattr(routes, "forward_route", lambda *args: forward)
    monkeypatch.setattr(routes, "input_grad_route", lambda *args: route)
    x = np.random.default_rng(5).standard_normal(shape)
    layer = make()
    report = check_layer(layer, x)
    assert report.passed, report
    assert layer._cache[0] == "fast" and layer._cache[1][0] == forward  # the route it took


def test_the_forward_route_follows_the_shapes():
    """Scatter where the convolution has fewer outputs than inputs (stride 1), gather
    otherwise and wherever scattering does not apply (stride 2, padding >= kernel)."""
    route = routes.forward_route
    assert route((128, 16, 28, 28), (1, 16, 3, 3), (1, 1), (1, 1)) == "scatter"
    assert route((128, 32, 14, 14), (16, 32, 3, 3), (1, 1), (1, 1)) == "scatter"
    assert route((128, 16, 14, 14), (32, 16, 3, 3), (1, 1), (1, 1)) == "gather"
    assert route((128, 1, 28, 28), (16, 1, 3, 3), (1, 1), (1, 1)) == "gather"
    assert route((128, 32, 14, 14), (16, 32, 4, 4), (2, 2), (1, 1)) == "gather"
    assert route((2, 3, 5, 5), (1, 3, 3, 3), (1, 1), (3, 3)) == "gather"


# -- MaxPool2D against the windows copied out, with argmax (first maximum) ---------------

def reference_maxpool(x, kernel, stride, dy):
    """y and dx by copying every window (a Python loop over windows) and taking argmax,
    which returns the first maximum in row-major order."""
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    y, dx = np.empty(dy.shape), np.zeros(x.shape)
    for i in range(ho):
        for j in range(wo):
            win = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(*x.shape[:2], -1)
            k = win.argmax(axis=-1)
            y[:, :, i, j] = np.take_along_axis(win, k[..., None], -1)[..., 0]
            for n, c in np.ndindex(*x.shape[:2]):
                a, b = divmod(k[n, c], kw)
                dx[n, c, i * sh + a, j * sw + b] += dy[n, c, i, j]
    return y, dx


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 9), st.integers(1, 9), st.integers(0, 3), st.integers(0, 2**16))
def test_maxpool_matches_the_copied_windows_under_ties(kh, kw, sh, sw, h, w, levels, seed):
    """Overlapping (stride < kernel), disjoint and tiling windows, odd sizes, heavy ties
    (values from {0, ..., levels}): the same outputs and the same first-maximum winners."""
    assume(h >= kh and w >= kw)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels + 1, (2, 3, h, w)).astype(np.float64)
    layer = MaxPool2D((kh, kw), (sh, sw))
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    y_ref, dx_ref = reference_maxpool(x, (kh, kw), (sh, sw), dy)
    np.testing.assert_array_equal(y, y_ref)
    # overlapping windows add their dy in another order: equal up to rounding
    np.testing.assert_allclose(layer.backward(dy), dx_ref, rtol=1e-12, atol=1e-12)


def test_pooling_gradients_on_disjoint_and_overlapping_windows():
    x = np.random.default_rng(0).permutation(2 * 2 * 7 * 9).reshape(2, 2, 7, 9) * 0.1
    for layer in (MaxPool2D(2), MaxPool2D(3, 2), MaxPool2D((2, 3), (3, 1)), Upsample2D((2, 3))):
        report = check_layer(layer, x)
        assert report.passed, (layer, report)


# -- the device (strict CuPy stand-in) computes the same numbers ---------------------------

LAYERS = {
    "conv-correlate": (lambda: Conv2D(4, 2, 3, padding=1, rng=0), (2, 4, 6, 5)),
    "conv-scatter": (lambda: Conv2D(8, 1, 3, padding=1, rng=0), (2, 8, 6, 5)),
    "conv-col2im": (lambda: Conv2D(2, 4, (3, 2), stride=2, padding=1, rng=0), (2, 2, 7, 6)),
    "convT-s2": (lambda: ConvTranspose2D(4, 2, 3, 2, 1, 1, rng=0), (2, 4, 3, 4)),
    "convT-s1": (lambda: ConvTranspose2D(2, 4, 3, padding=1, rng=0), (2, 2, 5, 5)),
    "pool-tiled": (lambda: MaxPool2D(2), (2, 3, 6, 4)),
    "pool-odd": (lambda: MaxPool2D(2), (2, 3, 7, 5)),
    "pool-overlap": (lambda: MaxPool2D(3, 1), (2, 3, 6, 5)),
    "upsample": (lambda: Upsample2D((2, 3)), (2, 3, 4, 5)),
}


def _run(make, shape):
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, shape).astype(np.float32)  # ties for the pools
    layer = make()
    y = layer.forward(backend.to_device(x))
    dy = backend.to_device(rng.standard_normal(y.shape, dtype=np.float32))
    dx = layer.backward(dy)
    return [backend.asnumpy(a) for a in (y, dx, *layer.grads.values())]


@pytest.mark.parametrize("name", LAYERS)
def test_fast_paths_run_on_the_device_with_the_numpy_numbers(name):
    host = _run(*LAYERS[name])
    with strict_device.installed():
        device = _run(*LAYERS[name])
    for a, b in zip(device, host, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", LAYERS)
def test_either_memory_layout_gives_the_same_numbers(name):
    """An NCHW input laid out channels-last (as convolutions return) and the same values
    C-contiguous: the same y, dx and gradients, bit for bit."""
    make, shape = LAYERS[name]
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, shape).astype(np.float64)
    x_last = layout.channels_last(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    assert layout.is_channels_last(x_last) and not np.shares_memory(x, x_last)
    results = []
    for inp in (x, x_last):
        layer = make()
        y = layer.forward(inp)
        dy = np.random.default_rng(4).standard_normal(y.shape)
        results.append([y, layer.backward(dy), *layer.grads.values()])
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_convolution_hands_the_next_one_its_pixel_rows_without_a_copy():
    conv1, conv2 = Conv2D(3, 4, 3, padding=1, rng=0), Conv2D(4, 2, 3, padding=1, rng=1)
    y = conv1.forward(np.random.default_rng(0).standard_normal((2, 3, 6, 5), np.float32))
    assert y.shape == (2, 4, 6, 5) and layout.is_channels_last(y)
    assert np.shares_memory(pixel_rows(y), y)  # a view: the layout is already rows
    conv2.forward(y)
    dy = conv2.backward(np.ones((2, 2, 6, 5), np.float32))
    assert layout.is_channels_last(dy) and np.shares_memory(pixel_rows(dy), dy)
    assert conv1.backward(dy).shape == (2, 3, 6, 5)


@settings(max_examples=60)
@given(st.integers(1, 3), st.integers(1, 8), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(0, 2),
       st.integers(3, 9), st.integers(3, 9), st.integers(0, 2**32 - 1))
def test_col2im_of_product_is_col2im_of_the_product(n, c, o, kh, sh, sw, ph, pw, h, w, seed):
    # the per-offset products (C > SHALLOW) and the channel planes (C <= SHALLOW) gather
    # exactly what col2im scatters from dY W_mat (any stride, padding and kernel); the
    # finite-difference checks above cover the maths
    assume(h + 2 * ph >= kh and w + 2 * pw >= kh)
    r = np.random.default_rng(seed)
    kw = max(1, kh - 1)
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    W = r.standard_normal((o, c, kh, kw))
    dy_rows = r.standard_normal((n * ho * wo, o))
    W_mat = W.transpose(0, 2, 3, 1).reshape(o, -1)
    expected = patches.col2im(dy_rows @ W_mat, (n, c, h, w), (kh, kw), (sh, sw),
                                    (ph, pw))
    got = patches.col2im_of_product(dy_rows, W, (n, c, h, w), (sh, sw), (ph, pw))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_a_kernel_as_large_as_the_image_is_one_product(stride):
    """One window covers the whole image (the CNN autoencoder's 7x7 kernel over a 7x7
    code map, and its transposed convolution back from 1x1): col2im of dY W_mat."""
    r = np.random.default_rng(0)
    n, c, o, k = 3, 4, 5, (4, 3)
    W, dy_rows = r.standard_normal((o, c, *k)), r.standard_normal((n, o))
    W_mat = W.transpose(0, 2, 3, 1).reshape(o, -1)
    shape = (n, c, *k)
    expected = patches.col2im(dy_rows @ W_mat, shape, k, (stride, stride), (0, 0))
    got = patches.col2im_of_product(dy_rows, W, shape, (stride, stride), (0, 0))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    for layer, x_shape in ((Conv2D(c, o, k, stride=stride, dtype=np.float64, rng=1), shape),
                           (ConvTranspose2D(o, c, k, stride=stride, dtype=np.float64, rng=2),
                            (n, o, 1, 1))):
        report = check_layer(layer, r.standard_normal(x_shape))
        assert report.passed, report
