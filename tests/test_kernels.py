"""npae.kernels: the reference kernels against independent oracles and finite differences,
every fast kernel against the reference, and the switch between them."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy.signal import correlate2d

from npae import backend, kernels
from npae.gradcheck import check_function
from npae.kernels import fast, reference
from npae.kernels.fast.layout import channels_last, is_channels_last
from npae.layers import (
    Conv2D,
    ConvTranspose2D,
    Dense,
    Flatten,
    MaxPool2D,
    ReLU,
    Reshape,
    Sigmoid,
    Upsample2D,
)
from npae.models import Autoencoder
from npae.network import Sequential
from npae.optim import Adam

import strict_device
from rounding import assert_close, layer_sums


@pytest.fixture
def restore_kernels():
    was = kernels.active()
    yield
    kernels.use(was)


def as_channels_last(a: np.ndarray) -> np.ndarray:
    """The same NCHW values, laid out as the fast convolutions return them."""
    out = channels_last(np.ascontiguousarray(a.transpose(0, 2, 3, 1)))
    # one channel (or one pixel) is C-contiguous as well; otherwise the layouts differ
    assert is_channels_last(out) or out.flags.c_contiguous
    return out


@st.composite
def conv_cases(draw, transpose: bool = False):
    """Convolutions the layers accept: odd sizes, strides 1-3, paddings 0-2, any kernel
    that fits the padded input."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    c = {"n": draw(st.integers(1, 3)), "c": draw(st.integers(1, 6)), "o": draw(st.integers(1, 6)),
         "h": draw(st.integers(1, 9)), "w": draw(st.integers(1, 9)), "kernel": (kh, kw),
         "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
         "padding": (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
         "seed": draw(st.integers(0, 2**16)), "channels_last": draw(st.booleans())}
    c["output_padding"] = tuple(draw(st.integers(0, s - 1)) for s in c["stride"])
    if transpose:
        assume(all(reference.conv_transpose_output_size(size, k, s, p, op) >= 1
                   for size, k, s, p, op in zip((c["h"], c["w"]), c["kernel"], c["stride"],
                                                c["padding"], c["output_padding"])))
    else:
        assume(all(size + 2 * p >= k for size, k, p in
                   zip((c["h"], c["w"]), c["kernel"], c["padding"])))
    return c


# -- the reference against independent oracles ----------------------------------------------

def scipy_conv2d(x, W, b, stride, padding):
    """SciPy's correlate2d at every position, then every stride-th output."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return np.stack([np.stack([sum(correlate2d(xp[n, c], W[o, c], mode="valid")
                                   for c in range(x.shape[1]))[::sh, ::sw] + b[o]
                               for o in range(W.shape[0])]) for n in range(x.shape[0])])


def loop_conv2d_backward(dy, x, W, stride, padding):
    """dx, dW, db by the chain rule one product at a time (loops over every index)."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for n, o, i, j in np.ndindex(*dy.shape):
        patch = xp[n, :, i * sh:i * sh + W.shape[2], j * sw:j * sw + W.shape[3]]
        dW[o] += dy[n, o, i, j] * patch
        dxp[n, :, i * sh:i * sh + W.shape[2], j * sw:j * sw + W.shape[3]] += dy[n, o, i, j] * W[o]
    return dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]], dW, dy.sum(axis=(0, 2, 3))


def loop_conv_transpose2d(x, W, b, stride, padding, output_padding):
    """Every input pixel scatters its weighted kernel; then the padding is cut off."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = x.shape
    _, o, kh, kw = W.shape
    ho = reference.conv_transpose_output_size(h, kh, sh, ph, output_padding[0])
    wo = reference.conv_transpose_output_size(w, kw, sw, pw, output_padding[1])
    big = np.zeros((n, o, ho + 2 * ph + kh, wo + 2 * pw + kw))
    for i, j in np.ndindex(h, w):
        big[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum("nc,coab->noab",
                                                                       x[:, :, i, j], W)
    return big[:, :, ph:ph + ho, pw:pw + wo] + b[:, None, None]


def _conv_arrays(c, transpose=False):
    r = np.random.default_rng(c["seed"])
    x = r.standard_normal((c["n"], c["c"], c["h"], c["w"]))
    W = r.standard_normal((c["c"], c["o"], *c["kernel"]) if transpose
                          else (c["o"], c["c"], *c["kernel"]))
    return x, W, r.standard_normal(c["o"]), r


@given(conv_cases())
def test_reference_conv2d_matches_scipy_and_the_chain_rule_by_loops(c):
    x, W, b, r = _conv_arrays(c)
    y, cache = reference.conv2d_forward(x, W, b, c["stride"], c["padding"])
    np.testing.assert_allclose(y, scipy_conv2d(x, W, b, c["stride"], c["padding"]),
                               rtol=1e-12, atol=1e-12)
    dy = r.standard_normal(y.shape)
    got = reference.conv2d_backward(dy, cache, W, c["stride"], c["padding"])
    for g, e in zip(got, loop_conv2d_backward(dy, x, W, c["stride"], c["padding"]), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@given(conv_cases(transpose=True))
def test_reference_conv_transpose2d_matches_the_scatter_by_loops(c):
    x, W, b, _ = _conv_arrays(c, transpose=True)
    args = c["stride"], c["padding"], c["output_padding"]
    y, _ = reference.conv_transpose2d_forward(x, W, b, *args)
    np.testing.assert_allclose(y, loop_conv_transpose2d(x, W, b, *args), rtol=1e-12,
                               atol=1e-12)


def loop_maxpool(x, kernel, stride, dy):
    """y and dx window by window, the winner by argmax of the copied window (first max)."""
    (kh, kw), (sh, sw) = kernel, stride
    y, dx = np.empty(dy.shape), np.zeros(x.shape)
    for n, c, i, j in np.ndindex(*dy.shape):
        win = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
        a, b = divmod(int(win.argmax()), kw)
        y[n, c, i, j] = win[a, b]
        dx[n, c, i * sh + a, j * sw + b] += dy[n, c, i, j]
    return y, dx


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return {"kernel": (kh, kw), "stride": (draw(st.integers(1, 4)), draw(st.integers(1, 4))),
            "h": draw(st.integers(kh, 9)), "w": draw(st.integers(kw, 9)),
            "levels": draw(st.integers(0, 3)), "seed": draw(st.integers(0, 2**16)),
            "channels_last": draw(st.booleans())}


def _pool_arrays(c):
    """Integer values in {0, ..., levels}: ties in most windows (levels 0: all equal)."""
    r = np.random.default_rng(c["seed"])
    return r.integers(0, c["levels"] + 1, (2, 3, c["h"], c["w"])).astype(np.float64), r


@given(pool_cases())
def test_reference_maxpool_matches_the_windows_one_by_one(c):
    x, r = _pool_arrays(c)
    y, cache = reference.maxpool2d_forward(x, c["kernel"], c["stride"])
    dy = r.standard_normal(y.shape)
    y_loop, dx_loop = loop_maxpool(x, c["kernel"], c["stride"], dy)
    np.testing.assert_array_equal(y, y_loop)
    np.testing.assert_allclose(reference.maxpool2d_backward(dy, cache, c["kernel"], c["stride"]),
                               dx_loop, rtol=1e-12, atol=1e-12)


def test_reference_upsample_is_a_kronecker_product_and_its_adjoint():
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 3, 4, 5))
    y = reference.upsample2d_forward(x, (2, 3))
    np.testing.assert_array_equal(y, np.kron(x, np.ones((2, 3))))
    dy = r.standard_normal(y.shape)
    dx = reference.upsample2d_backward(dy, (2, 3))
    np.testing.assert_allclose(np.sum(y * dy), np.sum(x * dx), rtol=1e-12)  # <Ux, dy> = <x, U^T dy>


def test_reference_conv_by_hand():
    """A 3x3 image, a 2x2 kernel of ones: the window sums, and each pixel's dx counts the
    windows that cover it."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    y, cache = reference.conv2d_forward(x, np.ones((1, 1, 2, 2)), np.array([0.5]))
    np.testing.assert_array_equal(y[0, 0], [[8.5, 12.5], [20.5, 24.5]])
    dx, dW, db = reference.conv2d_backward(np.ones_like(y), cache, np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(dW[0, 0], [[8, 12], [20, 24]])
    assert db.tolist() == [4.0]


# -- gradient checks of the reference kernels (float64, central differences) ------------------

GRAD_CASES = [((2, 3, 5, 6), (4, 3, 3, 2), (1, 1), (1, 0)),
              ((1, 2, 7, 5), (3, 2, 3, 3), (2, 2), (1, 1)),
              ((2, 1, 4, 4), (2, 1, 2, 3), (3, 1), (2, 2))]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", GRAD_CASES)
def test_reference_convolution_gradients(x_shape, w_shape, stride, padding):
    r = np.random.default_rng(1)
    x, W, b = r.standard_normal(x_shape), r.standard_normal(w_shape), r.standard_normal(w_shape[0])
    dy = r.standard_normal(reference.conv2d_forward(x, W, b, stride, padding)[0].shape)

    def conv(x, W, b):
        y, cache = reference.conv2d_forward(x, W, b, stride, padding)
        return (np.sum(y * dy), *reference.conv2d_backward(dy, cache, W, stride, padding))

    report = check_function(conv, x, W, b)
    assert report.passed and report.max_error < 1e-7, report

    op = tuple(s - 1 for s in stride)
    Wt = r.standard_normal((w_shape[1], w_shape[0], *w_shape[2:]))
    xt = r.standard_normal((x_shape[0], w_shape[1], 3, 2))
    dyt = r.standard_normal(reference.conv_transpose2d_forward(xt, Wt, b, stride, padding,
                                                               op)[0].shape)

    def conv_t(x, W, b):
        y, cache = reference.conv_transpose2d_forward(x, W, b, stride, padding, op)
        return (np.sum(y * dyt),
                *reference.conv_transpose2d_backward(dyt, cache, W, stride, padding))

    report = check_function(conv_t, xt, Wt, b)
    assert report.passed and report.max_error < 1e-7, report


@pytest.mark.parametrize("kernel, stride", [((2, 2), (2, 2)), ((3, 3), (1, 2)), ((2, 3), (3, 1))])
def test_reference_pool_upsample_reshape_gradients(kernel, stride):
    r = np.random.default_rng(2)
    x = r.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) * 0.01  # distinct: no tie within h
    dy = r.standard_normal(reference.maxpool2d_forward(x, kernel, stride)[0].shape)

    def pool(x):
        y, cache = reference.maxpool2d_forward(x, kernel, stride)
        return np.sum(y * dy), reference.maxpool2d_backward(dy, cache, kernel, stride)

    dyu = r.standard_normal((2, 3, 7 * kernel[0], 8 * kernel[1]))

    def upsample(x):
        y = reference.upsample2d_forward(x, kernel)
        return np.sum(y * dyu), reference.upsample2d_backward(dyu, kernel)

    dyr = r.standard_normal((2, 3 * 7 * 8))

    def reshape(x):
        y, cache = reference.reshape_forward(x, (-1,))
        return np.sum(y * dyr), reference.reshape_backward(dyr, cache)

    for f in (pool, upsample, reshape):
        report = check_function(f, x)
        assert report.passed and report.max_error < 1e-7, report


# -- every fast kernel against the reference (hypothesis; both memory layouts) ----------------

def _close(got, expected, tol=1e-12, sums=None):
    assert_close(got, expected, tol, sums)


@given(conv_cases())
def test_fast_conv2d_is_the_reference(c):
    x, W, b, r = _conv_arrays(c)
    pair = c["stride"], c["padding"]
    y_ref, cache_ref = reference.conv2d_forward(x, W, b, *pair)
    dy = r.standard_normal(y_ref.shape)
    sums = layer_sums(lambda x, W, b: reference.conv2d_forward(x, W, b, *pair),
                      lambda dy, cache, W: reference.conv2d_backward(dy, cache, W, *pair),
                      x, W, b, dy)
    expected = (y_ref, *reference.conv2d_backward(dy, cache_ref, W, *pair))
    if c["channels_last"]:
        x, dy = as_channels_last(x), as_channels_last(dy)
    y, cache = fast.conv2d_forward(x, W, b, *pair, ws=fast.Workspace())
    got = (y, *fast.conv2d_backward(dy, cache, W, *pair))
    for k, (g, e) in enumerate(zip(got, expected, strict=True)):
        _close(g, e, sums=lambda k=k: sums()[k])


@given(conv_cases(transpose=True))
def test_fast_conv_transpose2d_is_the_reference(c):
    x, W, b, r = _conv_arrays(c, transpose=True)
    pair, op = (c["stride"], c["padding"]), c["output_padding"]
    y_ref, cache_ref = reference.conv_transpose2d_forward(x, W, b, *pair, op)
    dy = r.standard_normal(y_ref.shape)
    sums = layer_sums(
        lambda x, W, b: reference.conv_transpose2d_forward(x, W, b, *pair, op),
        lambda dy, cache, W: reference.conv_transpose2d_backward(dy, cache, W, *pair),
        x, W, b, dy)
    expected = (y_ref, *reference.conv_transpose2d_backward(dy, cache_ref, W, *pair))
    if c["channels_last"]:
        x, dy = as_channels_last(x), as_channels_last(dy)
    y, cache = fast.conv_transpose2d_forward(x, W, b, *pair, op)
    got = (y, *fast.conv_transpose2d_backward(dy, cache, W, *pair))
    for k, (g, e) in enumerate(zip(got, expected, strict=True)):
        _close(g, e, sums=lambda k=k: sums()[k])


@given(pool_cases())
def test_fast_maxpool_is_the_reference_under_ties_and_overlaps(c):
    x, r = _pool_arrays(c)
    y_ref, cache_ref = reference.maxpool2d_forward(x, c["kernel"], c["stride"])
    dy = r.standard_normal(y_ref.shape)
    if c["channels_last"]:
        x, dy = as_channels_last(x), as_channels_last(dy)
    y, cache = fast.maxpool2d_forward(x, c["kernel"], c["stride"])
    np.testing.assert_array_equal(y, y_ref)
    # the same winner in every window: dx equal up to the order of overlapping additions
    _close(fast.maxpool2d_backward(dy, cache, c["kernel"], c["stride"]),
           reference.maxpool2d_backward(dy, cache_ref, c["kernel"], c["stride"]))


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5),
       st.integers(1, 3), st.integers(1, 3), st.booleans())
def test_fast_upsample_and_reshape_are_the_reference(n, c, h, w, sh, sw, last):
    r = np.random.default_rng(n * 100 + c * 10 + h)
    x = r.standard_normal((n, c, h, w))
    dy = r.standard_normal((n, c, h * sh, w * sw))
    dz = r.standard_normal((n, c * h * w))
    if last:
        x, dy = as_channels_last(x), as_channels_last(dy)
    np.testing.assert_array_equal(fast.upsample2d_forward(x, (sh, sw)),
                                  reference.upsample2d_forward(x, (sh, sw)))
    _close(fast.upsample2d_backward(dy, (sh, sw)), reference.upsample2d_backward(dy, (sh, sw)))
    z, cache = fast.reshape_forward(x, (-1,))
    z_ref, cache_ref = reference.reshape_forward(x, (-1,))
    np.testing.assert_array_equal(z, z_ref)
    dx = fast.reshape_backward(dz, cache)
    np.testing.assert_array_equal(dx, reference.reshape_backward(dz, cache_ref))
    assert is_channels_last(dx) == is_channels_last(x)  # the fast kernel hands the layout back


# -- the switch ----------------------------------------------------------------------------

def test_use_active_and_a_bad_name(restore_kernels):
    kernels.use("reference")
    assert kernels.active() == "reference" and kernels.current() is reference
    kernels.use("fast")
    assert kernels.active() == "fast" and kernels.current() is fast
    with pytest.raises(ValueError, match=r"npae.kernels.use: kernels must be one of "
                                         r"\['fast', 'reference'\], got 'slow'"):
        kernels.use("slow")
    assert kernels.active() == "fast"


@pytest.mark.parametrize("value, expected", [("", "fast"), ("reference", "reference"),
                                             ("fast", "fast")])
def test_the_environment_variable(value, expected):
    env = {**os.environ, "NPAE_KERNELS": value}
    code = "import npae.kernels as k; print(k.active())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_a_bad_environment_variable_fails_at_the_first_kernel_call_not_at_import():
    env = {**os.environ, "NPAE_KERNELS": "naive"}
    code = ("import npae, npae.layers\n"
            "try:\n    npae.kernels.active()\nexcept ValueError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "got 'naive' (asked for by the environment variable NPAE_KERNELS='naive')" in out.stdout


def test_a_layer_runs_backward_with_the_kernels_of_its_forward(restore_kernels):
    layer = Conv2D(2, 3, 3, stride=2, padding=1, rng=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    kernels.use("reference")
    y = layer.forward(x)
    kernels.use("fast")  # switched between the passes: the reference's cache still works
    dx = layer.backward(np.ones_like(y))
    assert layer._cache[0] == "reference"
    fresh = Conv2D(2, 3, 3, stride=2, padding=1, rng=0, dtype=np.float64)
    fresh.forward(x)
    _close(dx, fresh.backward(np.ones_like(y)))
    _close(layer.grads["W"], fresh.grads["W"])


# -- a whole model: the same training step in both modes --------------------------------------

def small_model(dtype):
    """Every layer with kernels: convolutions (stride 1 and 2), pools, a transposed
    convolution, upsampling, reshapes."""
    g = np.random.default_rng(0)
    enc = Sequential(Conv2D(1, 4, 3, padding=1, rng=g, dtype=dtype), ReLU(), MaxPool2D(2),
                     Conv2D(4, 6, 3, stride=2, padding=1, rng=g, dtype=dtype), ReLU(),
                     MaxPool2D(2, 1), Flatten(), Dense(24, 5, rng=g, dtype=dtype))
    dec = Sequential(Dense(5, 54, rng=g, dtype=dtype), ReLU(), Reshape((6, 3, 3)),
                     ConvTranspose2D(6, 4, 3, 2, 1, 1, rng=g, dtype=dtype), ReLU(),
                     Upsample2D(2), Conv2D(4, 1, 3, padding=1, rng=g, dtype=dtype), Sigmoid())
    return Autoencoder(enc, dec, rng=g)


def _train_step(mode, dtype):
    kernels.use(mode)
    model = small_model(dtype)
    x = np.random.default_rng(1).random((5, 1, 12, 12)).astype(dtype)
    opt = Adam(1e-2)
    losses = []
    for _ in range(2):
        losses.append(model.loss(x)[0])
        grads = {name: g.copy() for name, _, g in model.parameters()}
        opt.step(model.parameters())
    params = {name: p.copy() for name, p, _ in model.parameters()}
    return np.array(losses), grads, params, model.reconstruct(x)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_a_training_step_gives_the_same_numbers_in_both_modes(dtype, tol, restore_kernels):
    fast_run, ref_run = _train_step("fast", dtype), _train_step("reference", dtype)
    np.testing.assert_allclose(ref_run[0], fast_run[0], rtol=tol)
    for fast_arrays, ref_arrays in zip(fast_run[1:3], ref_run[1:3], strict=True):
        assert fast_arrays.keys() == ref_arrays.keys()
        for name in fast_arrays:
            scale = np.abs(fast_arrays[name]).max()
            assert np.abs(ref_arrays[name] - fast_arrays[name]).max() <= tol * scale, name
    np.testing.assert_allclose(ref_run[3], fast_run[3], rtol=tol, atol=tol)


# -- the reference on the (stand-in) device ----------------------------------------------------

def test_the_reference_kernels_run_on_the_device_with_the_numpy_numbers(restore_kernels):
    kernels.use("reference")

    def run():
        model = small_model(np.float32)
        x = backend.to_device(np.random.default_rng(1).random((3, 1, 12, 12), np.float32))
        model.loss(x)
        return [backend.asnumpy(g) for _, _, g in model.parameters()]

    host = run()
    with strict_device.installed():
        device = run()
    for a, b in zip(device, host, strict=True):
        np.testing.assert_array_equal(a, b)



def test_the_old_im2col_names_still_import():
    """npae.im2col moved to npae.kernels; its public names stay importable, as the same
    objects (conv2d_forward is the gathered route's old name)."""
    import npae.im2col as old
    from npae.kernels.fast import layout, patches, routes

    homes = (layout, patches, routes, reference)
    for name in old.__all__:
        obj = getattr(old, name)
        new_name = "conv2d_forward_gather" if name == "conv2d_forward" else name
        assert any(getattr(home, new_name, None) is obj for home in homes), name
