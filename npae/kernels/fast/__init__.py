r"""The fast kernels: the reference kernels' numbers by routes that move less memory.

Same functions, same arguments and same results as :mod:`npae.kernels.reference`
(the tests hold each one to it), plus ``ws``, a :class:`~npae.kernels.fast.layout.Workspace`
of scratch buffers a layer keeps from batch to batch, and ``input_grad=False``, which
skips a convolution's input gradient (returned as ``None``) where nothing needs it.
The caches are these functions' own: pass a cache only to the backward of the
kernel set that made it. Kernel sizes, strides, paddings and scales are ``(h, w)``
pairs here (the layers pass them so; the reference also takes plain ints).

- Convolutions (:mod:`~npae.kernels.fast.patches`, :mod:`~npae.kernels.fast.routes`): one
  large BLAS product per pass on *pixel rows* (``(N H W, C)``), the route of each pass
  picked from the shapes; results are *channels-last*
  (:func:`~npae.kernels.fast.layout.channels_last`), which the next convolution reads
  back without a copy.
- Pooling, upsampling and reshape keep whichever memory layout they are given, so a
  channels-last image stays one between two convolutions.
- The element-wise layers' passes (:mod:`~npae.kernels.fast.elementwise`) make each
  result once and finish it in place; :mod:`npae.layers.activations` calls them when
  the fast kernels are active.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npae.backend import get_array_module
from npae.kernels.fast import routes
from npae.kernels.fast.layout import (
    Workspace,
    channels_last,
    empty_image,
    is_channels_last,
    pixel_rows,
    sum_rows,
)
from npae.kernels.fast.patches import im2col
from npae.kernels.reference import conv_output_size, conv_transpose_output_size

Array = Any
Pair = tuple[int, int]

__all__ = ["Workspace", "conv2d_forward", "conv2d_backward", "conv_transpose2d_forward",
           "conv_transpose2d_backward", "maxpool2d_forward", "maxpool2d_backward",
           "upsample2d_forward", "upsample2d_backward", "reshape_forward", "reshape_backward"]


def conv2d_forward(x: Array, W: Array, bias: Array, stride: Pair, padding: Pair,
                   ws: Workspace | None = None) -> tuple[Array, tuple]:
    """``y = conv(x, W) + bias`` by gathering ``x``'s patches (im2col, one product) or, for
    stride 1 with fewer outputs than inputs, by scattering ``kh kw`` products
    (:func:`~npae.kernels.fast.routes.forward_route`)."""
    if routes.forward_route(x.shape, W.shape, stride, padding) == "gather":
        y, cols = routes.conv2d_forward_gather(x, W, stride, padding, bias, ws)
        return y, ("gather", cols, tuple(x.shape))
    # x's pixel rows serve this product and, in backward, dW's
    x_rows = pixel_rows(x, ws, "x_rows")
    y = routes.conv2d_forward_scatter(x_rows, W, x.shape, padding, bias, ws)
    return y, ("scatter", x_rows, tuple(x.shape))


def conv2d_backward(dy: Array, cache: tuple, W: Array, stride: Pair, padding: Pair,
                    ws: Workspace | None = None, input_grad: bool = True
                    ) -> tuple[Array | None, Array, Array]:
    """``(dx, dW, dbias)``: ``dW = dY^T X_col`` and ``dx = col2im(dY W_mat)`` after a
    gathered forward; after a scattered one ``dy``'s patches serve both gradients."""
    route, kept, x_shape = cache
    dy_rows = pixel_rows(dy, ws, "dy_rows")
    db = sum_rows(dy_rows)
    if route == "gather":
        dW = routes.conv2d_weight_grad(kept, dy_rows, W.shape)
        if not input_grad:
            return None, dW, db
        return routes.conv2d_input_grad(dy_rows, W, x_shape, stride, padding, ws), dW, db
    dcols = routes.dy_patches(dy_rows, x_shape, W.shape, padding, ws)
    dW = routes.conv2d_weight_grad_from_dy(kept, dcols, W.shape)
    if not input_grad:
        return None, dW, db
    if routes.input_grad_route(x_shape, W.shape, stride, padding) == "col2im":
        return routes.conv2d_input_grad(dy_rows, W, x_shape, stride, padding, ws,
                                        route="col2im"), dW, db
    return routes.input_grad_from_dy(dcols, W, x_shape, ws), dW, db


def conv_transpose2d_forward(x: Array, W: Array, bias: Array, stride: Pair, padding: Pair,
                             output_padding: Pair = (0, 0), ws: Workspace | None = None
                             ) -> tuple[Array, Array]:
    """``y = K_W^T x + bias``: the input gradient of the convolution with weights ``W``
    read as ``(out = C, in = O, kh, kw)``, by the cheaper of its routes."""
    n, _, h, w = x.shape
    _, o, kh, kw = W.shape
    y_shape = (n, o, conv_transpose_output_size(h, kh, stride[0], padding[0], output_padding[0]),
               conv_transpose_output_size(w, kw, stride[1], padding[1], output_padding[1]))
    # x in pixel rows is both this product's operand and, in backward, dW's
    x_rows = pixel_rows(x, ws, "x_rows")
    y = routes.conv2d_input_grad(x_rows, W, y_shape, stride, padding, ws)
    y += bias.reshape(1, -1, 1, 1)
    return y, x_rows


def conv_transpose2d_backward(dy: Array, cache: Array, W: Array, stride: Pair, padding: Pair,
                              ws: Workspace | None = None, input_grad: bool = True
                              ) -> tuple[Array | None, Array, Array]:
    """``dx = K_W dy`` (a convolution, gathered) and ``dW_mat = X^T DY_col``: the weight
    gradient of ``K_W`` with the roles of input (``dy``) and output gradient (``x``)
    exchanged."""
    if input_grad:
        dx, cols = routes.conv2d_forward_gather(dy, W, stride, padding, ws=ws)
    else:
        dx, cols = None, im2col(dy, W.shape[2:], stride, padding, ws)
    dW = routes.conv2d_weight_grad(cols, cache, W.shape)
    return dx, dW, sum_rows(pixel_rows(dy, ws, "dy_rows"))


def _offset(a: int, b: int, stride: Pair, out_hw: Pair) -> tuple[slice, ...]:
    (sh, sw), (ho, wo) = stride, out_hw
    return (slice(None), slice(None), slice(a, a + sh * (ho - 1) + 1, sh),
            slice(b, b + sw * (wo - 1) + 1, sw))


def maxpool2d_forward(x: Array, kernel: Pair, stride: Pair) -> tuple[Array, tuple]:
    """Max pooling as a running maximum over the ``kh kw`` offsets (no window is copied).

    The winner's offset index ``k = a kw + b`` is replaced only where a later offset is
    *strictly* larger, so the first maximum wins, as in the reference's ``argmax``.
    ``y`` keeps ``x``'s memory layout.
    """
    xp = get_array_module(x)
    (kh, kw), (h, w) = kernel, x.shape[2:]
    out_hw = conv_output_size(h, kh, stride[0], 0), conv_output_size(w, kw, stride[1], 0)
    y = x[_offset(0, 0, stride, out_hw)].copy(order="K")  # keeps a channels-last layout
    # the winner's offset index; uint8 holds it for windows up to 16x16
    arg = xp.zeros_like(y, dtype=np.uint8 if kh * kw <= 256 else np.int32)
    for k in range(1, kh * kw):
        v = x[_offset(k // kw, k % kw, stride, out_hw)]
        later = v > y  # strictly: on a tie the earlier offset keeps the window
        xp.maximum(y, v, out=y)
        # k exceeds every index stored so far, so a max writes k exactly where `later`
        xp.maximum(arg, later * arg.dtype.type(k), out=arg)
    return y, (tuple(x.shape), arg)


def maxpool2d_backward(dy: Array, cache: tuple, kernel: Pair, stride: Pair) -> Array:
    """``dy`` written where offset ``k`` won into slice ``k`` of ``dx``: a plain write when
    windows do not overlap (``stride >= kernel``), an add when they do; ``dx`` in ``dy``'s
    memory layout."""
    xp = get_array_module(dy)
    (kh, kw), (sh, sw), (x_shape, arg) = kernel, stride, cache
    out_hw = dy.shape[2:]
    disjoint = sh >= kh and sw >= kw  # each pixel in at most one window
    tiled = (sh, sw) == (kh, kw) and x_shape[2:] == (out_hw[0] * kh, out_hw[1] * kw)
    # where windows tile x every pixel is written below; elsewhere some are never hit
    dx = empty_image(x_shape, dy.dtype, xp, like=dy, zeros=not tiled)
    for k in range(kh * kw):
        target = dx[_offset(k // kw, k % kw, stride, out_hw)]
        if disjoint:
            xp.multiply(dy, arg == k, out=target)
        else:
            target += dy * (arg == k)
    return dx


def upsample2d_forward(x: Array, scale: Pair) -> Array:
    """Seen as ``(N, C, H, sh, W, sw)``, ``y[:, :, :, a, :, b] = x`` for every offset:
    ``sw`` strided copies, each broadcast over ``a``; a channels-last ``x`` gives a
    channels-last ``y`` (the same copies on ``(N, H, sh, W, sw, C)``)."""
    xp = get_array_module(x)
    (n, c, h, w), (sh, sw) = x.shape, scale
    if is_channels_last(x):
        y = xp.empty((n, h, sh, w, sw, c), dtype=x.dtype)
        for b in range(sw):
            y[:, :, :, :, b] = x.transpose(0, 2, 3, 1)[:, :, None]
        return channels_last(y.reshape(n, h * sh, w * sw, c))
    y = xp.empty((n, c, h, sh, w, sw), dtype=x.dtype)
    for b in range(sw):
        y[..., b] = x[:, :, :, None, :]
    return y.reshape(n, c, h * sh, w * sw)


def _sum_of(views: list[Array]) -> Array:
    """A fresh array holding the sum of equally shaped arrays."""
    out = views[0].copy() if len(views) == 1 else views[0] + views[1]
    for v in views[2:]:
        out += v
    return out


def upsample2d_backward(dy: Array, scale: Pair) -> Array:
    """The block sums as ``sh`` slice additions, then ``sw``, rather than one reduction
    over two strided axes (NumPy's slowest reduction layout)."""
    (n, c, h2, w2), (sh, sw) = dy.shape, scale
    blocks = dy.reshape(n, c, h2 // sh, sh, w2 // sw, sw)
    rows = _sum_of([blocks[:, :, :, a] for a in range(sh)])  # (n, c, h, w, sw)
    return _sum_of([rows[..., b] for b in range(sw)])


def reshape_forward(x: Array, shape: tuple[int, ...]) -> tuple[Array, tuple]:
    """``x.reshape((N,) + shape)``; the cache also says whether ``x`` was channels-last."""
    return x.reshape((x.shape[0],) + tuple(shape)), (tuple(x.shape), is_channels_last(x))


def reshape_backward(dy: Array, cache: tuple) -> Array:
    """``dy.reshape(x.shape)``, copied back to channels-last if ``x`` was: one copy here
    rather than slow mixed-layout arithmetic in every layer before."""
    x_shape, was_channels_last = cache
    dx = dy.reshape(x_shape)
    if not was_channels_last:
        return dx
    n, c, h, w = x_shape
    out = channels_last(get_array_module(dx).empty((n, h, w, c), dtype=dx.dtype))
    out[...] = dx
    return out
