r"""The two kernels of every convolution: patches in (im2col), patches out (col2im).

Notation (NCHW): ``x (N, C, H, W)``, weights ``W (O, C, kh, kw)``, stride
``(sh, sw)``, zero padding ``(ph, pw)``, ``xp`` the zero-padded input and

.. math::
    y_{n,o,i,j} = \sum_{c,a,b} W_{o,c,a,b}\; xp_{n,c,\,i s_h + a,\, j s_w + b},
    \qquad H_o = \lfloor (H + 2p_h - k_h) / s_h \rfloor + 1 .

**im2col** copies every window into one column of a single matrix
``X_col (C kh kw, N Ho Wo)``, ``X_col[(c,a,b), (n,i,j)] = xp[n, c, i sh + a, j sw + b]``.
The copy reads a strided *window view* of ``xp`` (``as_strided``: nothing moves
until the one copy the product needs) and writes the columns directly in the
order the product wants. The convolution is then **one** BLAS product

.. math:: Y = W_{mat} X_{col}, \qquad W_{mat} = W.\mathrm{reshape}(O, C k_h k_w),

with ``Y (O, N Ho Wo)``, the output in *channel rows*: ``channel_rows(y)``,
one row per channel. One large product (rather than one per sample) is also
what keeps a multithreaded BLAS efficient: its threads meet once per call.

**col2im** is the adjoint of im2col: every entry of a column matrix is added back
to the pixel it was copied from. It loops over the ``kh kw`` kernel offsets
``(a, b)``, each a single slice ``+=`` of a whole ``(C, N, Ho, Wo)`` block into a
strided slice of the image (never a loop over samples or pixels, never
``add.at``: within one offset the target pixels are distinct, so ``+=`` is exact).

With ``L`` a scalar, ``dy = dL/dy`` and ``dY = channel_rows(dy)``:

.. math::
    dW_{mat} = dY\, X_{col}^\top, \qquad
    dX_{col} = W_{mat}^\top dY, \qquad
    dx = \operatorname{col2im}(dX_{col}),

because ``Y`` is linear in ``W_mat`` and in ``X_col`` (``dL/dA = dY B^T`` and
``dL/dB = A^T dY`` for ``Y = A B``), and ``X_col = im2col(x)`` is linear in ``x``
with adjoint col2im. A transposed convolution is the map ``dy -> dx`` above; it
reuses these same functions (see :mod:`npae.layers.conv`).

All functions work on NumPy and CuPy arrays alike and keep the input dtype.
Each takes an optional :class:`Workspace`: large intermediates (the padded
image, the column matrices, channel rows) are then carved from buffers kept
from call to call instead of fresh allocations, whose page faults cost about as
much as the matrix products. Arrays a function *returns* as a result (``y``,
``dx``) are always fresh.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from npae.backend import get_array_module

Array = Any
Pair = tuple[int, int]

__all__ = ["Workspace", "conv_output_size", "conv_transpose_output_size", "window_view", "pad2d",
           "channel_rows", "from_channel_rows", "im2col", "col2im", "conv2d_forward",
           "conv2d_weight_grad", "conv2d_input_grad"]


class Workspace:
    """Named scratch arrays reused from call to call, each grown on demand.

    ``get(name, shape, dtype, xp)`` returns a C-contiguous view of the buffer
    ``name``; its contents are whatever the last user left there. A layer owns
    one workspace; an array fetched under a name stays valid until that name is
    fetched again.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, Array] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: Any, xp: Any) -> Array:
        size = math.prod(shape)
        buf = self._buffers.get(name)
        if (buf is None or buf.size < size or buf.dtype != dtype
                or get_array_module(buf) is not xp):
            buf = self._buffers[name] = xp.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)


def _empty(ws: Workspace | None, name: str, shape: tuple[int, ...], dtype: Any, xp: Any
           ) -> Array:
    return xp.empty(shape, dtype=dtype) if ws is None else ws.get(name, shape, dtype, xp)


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """``(size + 2 padding - kernel) // stride + 1`` (may be < 1: the caller refuses it)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_transpose_output_size(size: int, kernel: int, stride: int, padding: int,
                               output_padding: int = 0) -> int:
    """``(size - 1) stride - 2 padding + kernel + output_padding``.

    For ``0 <= output_padding < stride`` a convolution with the same kernel,
    stride and padding maps this size back to ``size``.
    """
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def window_view(xpad: Array, kernel: Pair, stride: Pair, out_hw: Pair) -> Array:
    """Read-only strided view ``(N, C, kh, kw, Ho, Wo)`` of the windows of ``xpad (N, C, ., .)``.

    ``view[n, c, a, b, i, j] = xpad[n, c, i sh + a, j sw + b]``. No data is copied;
    transpose the view to read it in another order.
    """
    xp = get_array_module(xpad)
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    s_n, s_c, s_h, s_w = xpad.strides
    shape = (xpad.shape[0], xpad.shape[1], kh, kw, ho, wo)
    strides = (s_n, s_c, s_h, s_w, s_h * sh, s_w * sw)
    as_strided = xp.lib.stride_tricks.as_strided
    if xp is np:  # NumPy can mark the view read-only; CuPy's as_strided has no such flag
        return as_strided(xpad, shape=shape, strides=strides, writeable=False)
    return as_strided(xpad, shape=shape, strides=strides)


def pad2d(x: Array, padding: Pair, ws: Workspace | None = None) -> Array:
    """``x (N, C, H, W)`` with ``padding`` zeros on each side of H and W (x itself if none)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = get_array_module(x)
    n, c, h, w = x.shape
    out = _empty(ws, "pad", (n, c, h + 2 * ph, w + 2 * pw), x.dtype, xp)
    # a reused buffer holds stale values: zero the frame, then copy the interior
    out[:, :, :ph] = 0
    out[:, :, ph + h:] = 0
    out[:, :, ph:ph + h, :pw] = 0
    out[:, :, ph:ph + h, pw + w:] = 0
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def channel_rows(a: Array, ws: Workspace | None = None, name: str = "rows") -> Array:
    """``(N, C, H, W) -> (C, N H W)``, one contiguous row per channel (one copy)."""
    xp = get_array_module(a)
    n, c, h, w = a.shape
    out = _empty(ws, name, (c, n, h, w), a.dtype, xp)
    out[...] = a.transpose(1, 0, 2, 3)
    return out.reshape(c, n * h * w)


def from_channel_rows(rows: Array, shape: tuple[int, int, int, int],
                      bias: Array | None = None) -> Array:
    """Inverse of :func:`channel_rows`: ``(C, N H W) -> (N, C, H, W)`` (a fresh array), plus
    ``bias (C,)`` if given (added during the same copy)."""
    xp = get_array_module(rows)
    n, c, h, w = shape
    nchw = rows.reshape(c, n, h, w).transpose(1, 0, 2, 3)
    out = xp.empty(shape, dtype=rows.dtype)
    if bias is None:
        out[...] = nchw
    else:
        xp.add(nchw, bias.reshape(1, c, 1, 1), out=out)
    return out


def im2col(x: Array, kernel: Pair, stride: Pair, padding: Pair, ws: Workspace | None = None
           ) -> Array:
    """Column matrix ``X_col (C kh kw, N Ho Wo)`` of ``x (N, C, H, W)``.

    Parameters
    ----------
    x : array (N, C, H, W)
    kernel, stride, padding : (h, w) pairs
    ws : Workspace, optional
        Where to keep the padded image (``"pad"``) and the result (``"cols"``).

    Returns
    -------
    array (C kh kw, N Ho Wo), C-contiguous; row index ``(c, a, b)``, column ``(n, i, j)``.
    """
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    out = _empty(ws, "cols", (c * kh * kw, n * ho * wo), x.dtype, xp)
    windows = window_view(pad2d(x, padding, ws), kernel, stride, (ho, wo))
    out.reshape(c, kh, kw, n, ho, wo)[...] = windows.transpose(1, 2, 3, 0, 4, 5)
    return out


def _covered(offset: int, size: int, stride: int, padding: int, out: int) -> tuple[int, int, int]:
    """Output indices ``[lo, hi)`` whose input index ``i stride + offset - padding`` lies in
    ``[0, size)``, and the first such input index."""
    lo = max(0, -((offset - padding) // stride))  # ceil((padding - offset) / stride)
    hi = min(out, (size - 1 - offset + padding) // stride + 1)
    return lo, max(lo, hi), lo * stride + offset - padding


def col2im(cols: Array, input_shape: tuple[int, int, int, int], kernel: Pair, stride: Pair,
           padding: Pair) -> Array:
    """Adjoint of :func:`im2col`: sum every column entry back onto its pixel.

    Parameters
    ----------
    cols : array (C kh kw, N Ho Wo)
    input_shape : (N, C, H, W) of the image the columns came from.

    Returns
    -------
    array (N, C, H, W), fresh and C-contiguous. Entries that fall in the padding
    are dropped (the padding is not a variable), so no padded buffer is needed.
    """
    xp = get_array_module(cols)
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    blocks = cols.reshape(c, kh, kw, n, ho, wo)
    dx = xp.zeros((n, c, h, w), dtype=cols.dtype)
    dx_cnhw = dx.transpose(1, 0, 2, 3)  # a view: writes land in dx
    for a in range(kh):
        i0, i1, r0 = _covered(a, h, sh, ph, ho)
        for b in range(kw):
            j0, j1, c0 = _covered(b, w, sw, pw, wo)
            if i1 > i0 and j1 > j0:
                dx_cnhw[:, :, r0:r0 + sh * (i1 - i0):sh, c0:c0 + sw * (j1 - j0):sw] += \
                    blocks[:, a, b, :, i0:i1, j0:j1]
    return dx


def conv2d_forward(x: Array, W: Array, stride: Pair, padding: Pair, bias: Array | None = None,
                   ws: Workspace | None = None) -> tuple[Array, Array]:
    """``y = conv(x, W) + bias`` and the column matrix it used.

    Parameters
    ----------
    x : array (N, C, H, W)
    W : array (O, C, kh, kw)
    bias : array (O,), optional
    ws : Workspace, optional (buffers ``"pad"``, ``"cols"``, ``"y_rows"``).

    Returns
    -------
    y : array (N, O, Ho, Wo), fresh, from ``Y = W_mat @ X_col`` (one BLAS product)
    cols : array (C kh kw, N Ho Wo), kept by layers for :func:`conv2d_weight_grad`.
    """
    xp = get_array_module(x, W)
    o, c, kh, kw = W.shape
    n, _, h, w = x.shape
    cols = im2col(x, (kh, kw), stride, padding, ws)
    ho = conv_output_size(h, kh, stride[0], padding[0])
    wo = conv_output_size(w, kw, stride[1], padding[1])
    rows = _empty(ws, "y_rows", (o, cols.shape[1]), xp.result_type(W.dtype, cols.dtype), xp)
    xp.matmul(W.reshape(o, c * kh * kw), cols, out=rows)
    return from_channel_rows(rows, (n, o, ho, wo), bias), cols


def conv2d_weight_grad(cols: Array, dy_rows: Array, weight_shape: tuple[int, int, int, int]
                       ) -> Array:
    """``dW = dY X_col^T`` reshaped to ``weight_shape (O, C, kh, kw)``.

    ``cols`` is the column matrix of the convolution's input (:func:`im2col`),
    ``dy_rows = channel_rows(dy)`` with ``dy (N, O, Ho, Wo)``. One BLAS product
    (the transpose is a stride flag for BLAS, not a copy).
    """
    xp = get_array_module(cols, dy_rows)
    return xp.matmul(dy_rows, cols.T).reshape(weight_shape)


def conv2d_input_grad(dy_rows: Array, W: Array, input_shape: tuple[int, int, int, int],
                      stride: Pair, padding: Pair, ws: Workspace | None = None) -> Array:
    """``dx = col2im(W_mat^T dY)``: the gradient of a convolution with respect to its input.

    This is also the forward pass of the transposed convolution.

    Parameters
    ----------
    dy_rows : array (O, N Ho Wo)
        ``channel_rows(dy)`` of the upstream gradient ``dy (N, O, Ho, Wo)``.
    W : array (O, C, kh, kw)
    input_shape : (N, C, H, W) of the convolution's input; ``Ho, Wo`` must be
        its convolution output size.
    ws : Workspace, optional (buffer ``"dcols"`` for ``dX_col``).

    Returns
    -------
    dx : array (N, C, H, W), fresh.
    """
    xp = get_array_module(dy_rows, W)
    o, c, kh, kw = W.shape
    dcols = _empty(ws, "dcols", (c * kh * kw, dy_rows.shape[1]),
                   xp.result_type(W.dtype, dy_rows.dtype), xp)
    xp.matmul(W.reshape(o, c * kh * kw).T, dy_rows, out=dcols)
    return col2im(dcols, input_shape, (kh, kw), stride, padding)
