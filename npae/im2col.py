r"""The two kernels of every convolution: patches in (im2col), patches out (col2im).

Notation (NCHW): ``x (N, C, H, W)``, weights ``W (O, C, kh, kw)``, stride
``(sh, sw)``, zero padding ``(ph, pw)``, ``xp`` the zero-padded input and

.. math::
    y_{n,o,i,j} = \sum_{c,a,b} W_{o,c,a,b}\; xp_{n,c,\,i s_h + a,\, j s_w + b},
    \qquad H_o = \lfloor (H + 2p_h - k_h) / s_h \rfloor + 1 .

Internally the pixels are *rows*: ``pixel_rows(x)`` is ``(N H W, C)``, one row per
pixel holding its ``C`` channels (NHWC order). **im2col** copies every window into
one row of ``X_col (N Ho Wo, kh kw C)``, ``X_col[(n,i,j), (a,b,c)] = xp[n, c, i sh + a,
j sw + b]``: it pads ``x`` once into an NHWC buffer and copies a strided *window
view* of it (``as_strided``: nothing moves until that one copy), in which a
window's ``kw C`` values of one kernel row lie side by side, so the copy moves
long contiguous runs. The convolution is then **one** BLAS product

.. math:: Y = X_{col} W_{mat}^\top, \qquad W_{mat} = W.\mathrm{transpose}(0,2,3,1)
          .\mathrm{reshape}(O, k_h k_w C),

with ``Y (N Ho Wo, O) = pixel_rows(y)``. Patches as rows (not columns) is the
operand order BLAS runs fastest when ``O`` is small, as it is in autoencoders
(about twice as fast as ``W_mat X_col^T`` for ``O = 16``, measured), and one large
product (rather than one per sample) keeps a multithreaded BLAS efficient.

**col2im** is the adjoint of im2col: every entry of a patch matrix is added back
to the pixel it was copied from. It loops over the ``kh kw`` kernel offsets
``(a, b)``, each a single slice ``+=`` of a whole ``(N, Ho, Wo, C)`` block into a
strided slice of the image (never a loop over samples or pixels, never
``add.at``: within one offset the target pixels are distinct, so ``+=`` is exact).

With ``L`` a scalar, ``dy = dL/dy`` and ``dY = pixel_rows(dy)``:

.. math::
    dW_{mat} = dY^\top X_{col}, \qquad
    dX_{col} = dY\, W_{mat}, \qquad
    dx = \operatorname{col2im}(dX_{col}),

because ``Y`` is linear in ``W_mat`` and in ``X_col`` (``dL/dA = dY B`` and
``dL/dB = dY^T A`` for ``Y = B A^T``), and ``X_col = im2col(x)`` is linear in ``x``
with adjoint col2im.

The input gradient has a second route for stride 1 (and ``p <= k - 1``): ``dx`` is
the convolution of ``dy``, padded by ``k - 1 - p``, with the kernel flipped and its
two channel axes exchanged,

.. math::
    dx_{n,c,h,w} = \sum_{o,a,b} \tilde W_{c,o,a,b}\, dyp_{n,o,h+a,w+b},\qquad
    \tilde W_{c,o,a,b} = W_{o,c,k_h-1-a,k_w-1-b}

(substitute ``a -> k_h - 1 - a`` in ``dx[h] = sum_a W[a] dy[h + p - a]``). It copies
``dy``'s patches (``O kh kw`` numbers per input pixel) instead of scattering
``C kh kw`` numbers per output pixel (and copies them, where col2im adds them in
place), so it moves about ``C / O`` times less memory when the convolution has
fewer outputs than inputs. :func:`conv2d_input_grad` takes whichever moves less,
from the shapes alone, as long as that needs no more scratch memory. A
transposed convolution is the map ``dy -> dx``; it reuses the same functions (see
:mod:`npae.layers.conv`).

The same identity read the other way gives the *forward* pass two routes
(:func:`forward_route`): for stride 1, ``conv(x, W)`` with padding ``p`` is the input
gradient of the convolution with kernel ``W~`` and padding ``k - 1 - p``, so it can
scatter ``kh kw`` products of ``x`` into ``y`` (:func:`conv2d_forward_scatter`) instead
of gathering ``x``'s patches; with fewer outputs than inputs that moves less. Its
backward pass then needs no patches of ``x``: ``dy``'s (:func:`dy_patches`) give both
``dx`` and ``dW`` (:func:`conv2d_weight_grad_from_dy`).

All functions work on NumPy and CuPy arrays alike and keep the input dtype.
Each takes an optional :class:`Workspace`: large intermediates (the padded
image, the patch matrices, pixel rows) are then carved from buffers kept
from call to call instead of fresh allocations, whose page faults cost about as
much as the matrix products. Arrays a function *returns* as a result (``y``,
``dx``) are always fresh, and *channels-last*: ``(N, C, H, W)`` arrays whose memory
holds the pixel rows they were computed as (:func:`channels_last`). Every reader
sees NCHW; the next convolution reads them back as rows without a copy, and the
layers between (activations, pooling, upsampling) keep the layout.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from npae.backend import get_array_module

Array = Any
Pair = tuple[int, int]

__all__ = ["Workspace", "conv_output_size", "conv_transpose_output_size", "window_view",
           "pad_nhwc", "pixel_rows", "sum_rows", "channels_last", "is_channels_last", "empty_image",
           "from_pixel_rows", "im2col", "col2im", "conv2d_forward",
           "conv2d_weight_grad", "conv2d_input_grad", "input_grad_route",
           "col2im_of_product", "forward_route", "conv2d_forward_scatter", "dy_patches",
           "conv2d_weight_grad_from_dy", "input_grad_from_dy"]


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
    """Read-only strided view ``(N, Ho, Wo, kh, kw, C)`` of the windows of an NHWC
    ``xpad (N, ., ., C)``: ``view[n, i, j, a, b, c] = xpad[n, i sh + a, j sw + b, c]``.

    No data is copied.
    """
    xp = get_array_module(xpad)
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    s_n, s_h, s_w, s_c = xpad.strides
    shape = (xpad.shape[0], ho, wo, kh, kw, xpad.shape[3])
    strides = (s_n, s_h * sh, s_w * sw, s_h, s_w, s_c)
    as_strided = xp.lib.stride_tricks.as_strided
    if xp is np:  # NumPy can mark the view read-only; CuPy's as_strided has no such flag
        return as_strided(xpad, shape=shape, strides=strides, writeable=False)
    return as_strided(xpad, shape=shape, strides=strides)


def pad_nhwc(a: Array, padding: Pair, ws: Workspace | None = None, name: str = "pad") -> Array:
    """A C-contiguous ``(N, H + 2 ph, W + 2 pw, C)`` copy of ``a`` with a zero frame.

    ``a`` is any 4-D array whose axes are in NHWC order, e.g. ``x.transpose(0, 2, 3, 1)``
    of an NCHW ``x`` (the copy does the transposition).
    """
    xp = get_array_module(a)
    (ph, pw), (n, h, w, c) = padding, a.shape
    out = _empty(ws, name, (n, h + 2 * ph, w + 2 * pw, c), a.dtype, xp)
    # a reused buffer holds stale values: zero the frame, then copy the interior
    if ph:
        out[:, :ph] = 0
        out[:, ph + h:] = 0
    if pw:
        out[:, ph:ph + h, :pw] = 0
        out[:, ph:ph + h, pw + w:] = 0
    out[:, ph:ph + h, pw:pw + w] = a
    return out


def pixel_rows(a: Array, ws: Workspace | None = None, name: str = "rows") -> Array:
    """``(N, C, H, W) -> (N H W, C)``, one contiguous row per pixel: a view of ``a`` when its
    memory is already channels-last (as every convolution's result is, see
    :func:`from_pixel_rows`), else one copy."""
    n, c, h, w = a.shape
    nhwc = a.transpose(0, 2, 3, 1)
    if nhwc.flags.c_contiguous:
        return nhwc.reshape(n * h * w, c)
    return pad_nhwc(nhwc, (0, 0), ws, name).reshape(n * h * w, c)


def channels_last(nhwc: Array) -> Array:
    """The ``(N, C, H, W)`` view of an ``(N, H, W, C)`` array: NCHW to every reader, with
    the memory of the rows it was computed in (no copy; PyTorch calls this memory format
    *channels last*). A convolution that reads it back as pixel rows copies nothing, and
    element-wise layers keep the layout."""
    return nhwc.transpose(0, 3, 1, 2)


def is_channels_last(a: Array) -> bool:
    """Whether the 4-D ``a`` is a :func:`channels_last` view (and not also C-contiguous)."""
    return (getattr(a, "ndim", 0) == 4 and not a.flags.c_contiguous
            and a.transpose(0, 2, 3, 1).flags.c_contiguous)


def empty_image(shape: tuple[int, int, int, int], dtype: Any, xp: Any, like: Array,
                zeros: bool = False) -> Array:
    """A fresh ``(N, C, H, W)`` array in ``like``'s memory layout (channels-last or not),
    so a layer between two convolutions hands on the layout it was given."""
    alloc = xp.zeros if zeros else xp.empty
    if is_channels_last(like):
        n, c, h, w = shape
        return channels_last(alloc((n, h, w, c), dtype=dtype))
    return alloc(shape, dtype=dtype)


def from_pixel_rows(rows: Array, shape: tuple[int, int, int, int],
                    bias: Array | None = None, fresh: bool = False) -> Array:
    """Inverse of :func:`pixel_rows`: ``(N H W, C) -> (N, C, H, W)``, plus ``bias (C,)`` if
    given, as a :func:`channels_last` view of a fresh array: a plain copy of ``rows`` (the
    bias added during it), or ``rows`` itself when the caller passes ``fresh=True``
    (a result it will not touch again; the bias is then added in place)."""
    xp = get_array_module(rows)
    n, c, h, w = shape
    if fresh:
        out = rows
        if bias is not None:
            out += bias
    else:
        out = xp.empty((n * h * w, c), dtype=rows.dtype)
        if bias is None:
            out[...] = rows
        else:
            xp.add(rows, bias, out=out)
    return channels_last(out.reshape(n, h, w, c))


def sum_rows(rows: Array) -> Array:
    """``sum_r rows[r, :]`` of ``rows (R, C)`` (a bias gradient) as one matrix-vector product
    ``1^T rows``: BLAS does it about ten times faster than NumPy's reduction over the first
    axis of narrow rows (0.3 ms against 3.5 for 100,352 rows of 16, measured), and no
    less accurately."""
    xp = get_array_module(rows)
    return xp.matmul(xp.ones(rows.shape[0], dtype=rows.dtype), rows)


def _cols_of(xpad: Array, kernel: Pair, stride: Pair, out_hw: Pair, ws: Workspace | None,
             name: str) -> Array:
    """Patch matrix ``(N Ho Wo, kh kw C)`` of an already padded NHWC ``xpad``.

    With few channels (``C <= SHALLOW``) a patch row is ``kh`` runs of only ``kw C``
    numbers, and copying them one short run at a time is slow (4 ms for a 1-channel
    28x28 batch, measured): the matrix is then filled column by column instead, a
    window offset's whole image at a time (runs of ``Wo`` numbers; 4-8x faster), and
    returned as the transposed view of that ``(kh kw C, N Ho Wo)`` array. BLAS reads
    either layout.
    """
    xp = get_array_module(xpad)
    (kh, kw), (ho, wo), n, c = kernel, out_hw, xpad.shape[0], xpad.shape[3]
    windows = window_view(xpad, kernel, stride, out_hw)
    if c <= SHALLOW:
        out_t = _empty(ws, name, (kh * kw * c, n * ho * wo), xpad.dtype, xp)
        out_t.reshape(kh, kw, c, n, ho, wo)[...] = windows.transpose(3, 4, 5, 0, 1, 2)
        return out_t.T
    out = _empty(ws, name, (n * ho * wo, kh * kw * c), xpad.dtype, xp)
    out.reshape(n, ho, wo, kh, kw, c)[...] = windows
    return out


#: Images with at most this many channels get their patch matrix column by column.
SHALLOW = 4


def im2col(x: Array, kernel: Pair, stride: Pair, padding: Pair, ws: Workspace | None = None
           ) -> Array:
    """Patch matrix ``X_col (N Ho Wo, kh kw C)`` of ``x (N, C, H, W)``.

    Parameters
    ----------
    x : array (N, C, H, W)
    kernel, stride, padding : (h, w) pairs
    ws : Workspace, optional
        Where to keep the padded NHWC image (``"pad"``) and the result (``"cols"``).

    Returns
    -------
    array (N Ho Wo, kh kw C), C-contiguous; row index ``(n, i, j)``, column ``(a, b, c)``.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    out_hw = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    xpad = pad_nhwc(x.transpose(0, 2, 3, 1), padding, ws)
    return _cols_of(xpad, kernel, stride, out_hw, ws, "cols")


def _covered(offset: int, size: int, stride: int, padding: int, out: int) -> tuple[int, int, int]:
    """Output indices ``[lo, hi)`` whose input index ``i stride + offset - padding`` lies in
    ``[0, size)``, and the first such input index."""
    lo = max(0, -((offset - padding) // stride))  # ceil((padding - offset) / stride)
    hi = min(out, (size - 1 - offset + padding) // stride + 1)
    return lo, max(lo, hi), lo * stride + offset - padding


def _offset_slices(input_shape: tuple[int, int, int, int], kernel: Pair, stride: Pair,
                   padding: Pair) -> Iterator[tuple[int, int, tuple, tuple]]:
    """For each kernel offset ``(a, b)`` that touches the image: the NHWC slice of the
    input it reads (``dst``) and the slice of the output grid that reads it (``src``).

    Output pixel ``(i, j)`` reads input pixel ``(i s_h + a - p_h, j s_w + b - p_w)``;
    pairs that fall in the padding are left out.
    """
    _, _, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    for a in range(kh):
        i0, i1, r0 = _covered(a, h, sh, ph, ho)
        for b in range(kw):
            j0, j1, c0 = _covered(b, w, sw, pw, wo)
            if i1 > i0 and j1 > j0:
                dst = (slice(None), slice(r0, r0 + sh * (i1 - i0), sh),
                       slice(c0, c0 + sw * (j1 - j0), sw))
                yield a, b, dst, (slice(None), slice(i0, i1), slice(j0, j1))


def col2im(cols: Array, input_shape: tuple[int, int, int, int], kernel: Pair, stride: Pair,
           padding: Pair) -> Array:
    """Adjoint of :func:`im2col`: sum every patch entry back onto its pixel.

    Parameters
    ----------
    cols : array (N Ho Wo, kh kw C)
    input_shape : (N, C, H, W) of the image the patches came from.

    Returns
    -------
    array (N, C, H, W), fresh and C-contiguous. Entries that fall in the padding
    are dropped (the padding is not a variable), so no padded buffer is needed.
    """
    xp = get_array_module(cols)
    n, c, h, w = input_shape
    (kh, kw) = kernel
    ho, wo = (conv_output_size(h, kh, stride[0], padding[0]),
              conv_output_size(w, kw, stride[1], padding[1]))
    blocks = cols.reshape(n, ho, wo, kh, kw, c)
    dx = xp.zeros((n, h, w, c), dtype=cols.dtype)  # NHWC: each block adds rows of C values
    for a, b, dst, src in _offset_slices(input_shape, kernel, stride, padding):
        dx[dst] += blocks[(*src, a, b)]
    return from_pixel_rows(dx.reshape(n * h * w, c), input_shape, fresh=True)


def col2im_of_product(dy_rows: Array, W: Array, input_shape: tuple[int, int, int, int],
                      stride: Pair, padding: Pair, ws: Workspace | None = None,
                      bias: Array | None = None) -> Array:
    """``col2im(dY W_mat)`` without forming ``dY W_mat``: one product per kernel offset.

    Column block ``(a, b)`` of ``dY W_mat`` is ``dY W_ab`` with ``W_ab = W[:, :, a, b]``
    ``(O, C)``, so ``dx`` gathers ``sum_{a,b} shift_{ab}(dY W_ab)``. Each product is
    contiguous (its rows are the C channels of one output pixel), where col2im would
    read every block out of a ``kh kw`` times wider matrix; the scratch is one
    ``(N Ho Wo, C)`` array instead of ``(N Ho Wo, kh kw C)``. Same sums, same order.
    ``bias (C,)``, if given, is added to the (fresh) result.

    A kernel as large as the (unpadded) image has one window: ``dY W_mat`` is then ``dx``
    itself, one product. Otherwise the sums are kept by *phase*,
    ``acc[n, h % sh, w % sw, h // sh, w // sw, :]``: an offset's pixels
    ``(i sh + a - ph, j sw + b - pw)`` all share one phase, so each ``+=`` is a plain
    rectangle of one phase image, whole rows of ``C`` channels side by side, where the
    strided slice of a pixel-ordered image moves runs of only ``C`` numbers.
    """
    xp = get_array_module(dy_rows, W)
    n, c, h, w = input_shape
    kh, kw = W.shape[2:]
    (sh, sw), (ph, pw) = stride, padding
    ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    dtype = xp.result_type(W.dtype, dy_rows.dtype)
    if (ho, wo, ph, pw) == (1, 1, 0, 0) and (kh, kw) == (h, w):
        # one window, the whole image: dY W_mat's row n is already sample n's pixels
        return from_pixel_rows(xp.matmul(dy_rows, _weight_rows(W)).reshape(n * h * w, c),
                               input_shape, bias, fresh=True)
    if c <= SHALLOW:
        return _scatter_by_channel(dy_rows, W, input_shape, stride, padding, ws, bias)
    acc = _empty(ws, "scatter_sum", (n, sh, sw, -(-h // sh), -(-w // sw), c), dtype, xp)
    acc[...] = 0
    block = _empty(ws, "scatter_block", (n * ho * wo, c), dtype, xp)
    grid = block.reshape(n, ho, wo, c)
    for a, b, _, src in _offset_slices(input_shape, (kh, kw), stride, padding):
        a0, b0, u, v = _phase_rect(a, b, src, stride, padding)
        xp.matmul(dy_rows, W[:, :, a, b], out=block)
        acc[:, a0, b0, u, v] += grid[src]
    return _from_phases(acc, input_shape, bias)


def _phase_rect(a: int, b: int, src: tuple, stride: Pair, padding: Pair
                ) -> tuple[int, int, slice, slice]:
    """Where offset ``(a, b)`` sends the output pixels ``src`` (from :func:`_offset_slices`):
    phase ``(a0, b0)`` and the rectangle ``(u, v)`` of that phase image. Output ``i``
    reaches input ``i sh + a - ph``, whose phase and index are its remainder and quotient
    by ``sh``; consecutive outputs reach consecutive indices of one phase."""
    (sh, sw), (ph, pw) = stride, padding
    (i0, i1), (j0, j1) = (src[1].start, src[1].stop), (src[2].start, src[2].stop)
    r0, c0 = i0 * sh + a - ph, j0 * sw + b - pw  # the first input pixel it reaches
    return (r0 % sh, c0 % sw, slice(r0 // sh, r0 // sh + i1 - i0),
            slice(c0 // sw, c0 // sw + j1 - j0))


def _scatter_by_channel(dy_rows: Array, W: Array, input_shape: tuple[int, int, int, int],
                        stride: Pair, padding: Pair, ws: Workspace | None,
                        bias: Array | None) -> Array:
    """:func:`col2im_of_product` for few channels (``C <= SHALLOW``, a decoder's last
    layer): ``(dY W_mat)^T = W_mat^T dY^T``, one product of ``kh kw C`` rows each holding a
    whole image plane, so every offset's ``+=`` moves runs of ``Wo`` numbers (not of
    ``C``); the sums are kept by phase and channel, ``acc[h % sh, w % sw, c, n, h // sh,
    w // sw]``. The result is NCHW (for one channel, channels-last too)."""
    xp = get_array_module(dy_rows, W)
    n, c, h, w = input_shape
    kh, kw = W.shape[2:]
    (sh, sw), (ph, pw) = stride, padding
    ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    planes = xp.matmul(_weight_rows(W).T, dy_rows.T).reshape(kh, kw, c, n, ho, wo)
    acc = _empty(ws, "scatter_sum", (sh, sw, c, n, -(-h // sh), -(-w // sw)), planes.dtype,
                 xp)
    acc[...] = 0
    for a, b, _, src in _offset_slices(input_shape, (kh, kw), stride, padding):
        a0, b0, u, v = _phase_rect(a, b, src, stride, padding)
        acc[a0, b0, :, :, u, v] += planes[a, b, :, :, src[1], src[2]]
    return _from_phases(acc.transpose(3, 0, 1, 4, 5, 2), input_shape, bias,
                        channels_first=True)


def _from_phases(acc: Array, shape: tuple[int, int, int, int], bias: Array | None,
                 channels_first: bool = False) -> Array:
    """``x (N, C, H, W)`` (fresh) from its phase images ``acc (N, sh, sw, Hq, Wq, C)`` (any
    strides), ``x[n, c, u sh + a0, v sw + b0] = acc[n, a0, b0, u, v, c]``, plus ``bias
    (C,)``: :func:`channels_last`, or C-contiguous NCHW with ``channels_first``."""
    xp = get_array_module(acc)
    n, c, h, w = shape
    sh, sw = acc.shape[1:3]
    out = xp.empty(shape if channels_first else (n, h, w, c), dtype=acc.dtype)
    pixels = out.transpose(0, 2, 3, 1) if channels_first else out  # (N, H, W, C) either way
    for a0 in range(min(sh, h)):
        for b0 in range(min(sw, w)):
            src = acc[:, a0, b0, :len(range(a0, h, sh)), :len(range(b0, w, sw))]
            dst = pixels[:, a0::sh, b0::sw]
            if bias is None:
                dst[...] = src
            else:
                xp.add(src, bias, out=dst)
    return out if channels_first else channels_last(out)


def _weight_rows(W: Array) -> Array:
    """``W (O, C, kh, kw) -> W_mat (O, kh kw C)``, the row order of the patches."""
    o = W.shape[0]
    return W.transpose(0, 2, 3, 1).reshape(o, -1)


def conv2d_forward(x: Array, W: Array, stride: Pair, padding: Pair, bias: Array | None = None,
                   ws: Workspace | None = None) -> tuple[Array, Array]:
    """``y = conv(x, W) + bias`` and the patch matrix it used.

    Parameters
    ----------
    x : array (N, C, H, W)
    W : array (O, C, kh, kw)
    bias : array (O,), optional
    ws : Workspace, optional (buffers ``"pad"``, ``"cols"``, ``"y_rows"``).

    Returns
    -------
    y : array (N, O, Ho, Wo), fresh, from ``Y = X_col W_mat^T`` (one BLAS product)
    cols : array (N Ho Wo, kh kw C), kept by layers for :func:`conv2d_weight_grad`.
    """
    xp = get_array_module(x, W)
    o, _, kh, kw = W.shape
    n, _, h, w = x.shape
    cols = im2col(x, (kh, kw), stride, padding, ws)
    ho = conv_output_size(h, kh, stride[0], padding[0])
    wo = conv_output_size(w, kw, stride[1], padding[1])
    rows = xp.matmul(cols, _weight_rows(W).T)  # fresh: it becomes y
    return from_pixel_rows(rows, (n, o, ho, wo), bias, fresh=True), cols


def _flipped(W: Array) -> Array:
    """``W~ (C, O, kh, kw)``, ``W~[c, o, a, b] = W[o, c, kh-1-a, kw-1-b]`` (a view)."""
    return W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)


def _complement(kernel: Pair, padding: Pair) -> Pair:
    """``k - 1 - p`` on both axes: the padding of the flipped-kernel correlation."""
    return kernel[0] - 1 - padding[0], kernel[1] - 1 - padding[1]


def forward_route(input_shape: tuple[int, int, int, int], weight_shape: tuple[int, ...],
                  stride: Pair, padding: Pair) -> str:
    """``"gather"`` (im2col, one product) or ``"scatter"``: the route of a convolution's
    forward pass that moves less memory.

    For stride 1 (and ``p <= k - 1``) ``conv(x, W)`` with padding ``p`` equals the input
    gradient of the convolution with the flipped kernel ``W~`` and padding ``k - 1 - p``
    (the module docstring's identity, read the other way), so it has that gradient's
    two routes: gathering ``x``'s patches (im2col: ``kh kw C`` numbers an output pixel)
    or scattering ``kh kw`` products of ``x`` into shifted slices of ``y``
    (:func:`col2im_of_product`: ``O`` numbers an output pixel, ``kh kw`` times). Few
    output channels make scattering cheaper; :func:`input_grad_route`'s measured costs
    decide.
    """
    n, c, h, w = input_shape
    o, _, kh, kw = weight_shape
    if tuple(stride) != (1, 1) or padding[0] > kh - 1 or padding[1] > kw - 1:
        return "gather"
    y_shape = (n, o, conv_output_size(h, kh, 1, padding[0]),
               conv_output_size(w, kw, 1, padding[1]))
    route = input_grad_route(y_shape, (c, o, kh, kw), (1, 1), _complement((kh, kw), padding))
    return "scatter" if route == "col2im" else "gather"


def conv2d_forward_scatter(x_rows: Array, W: Array, input_shape: tuple[int, int, int, int],
                           padding: Pair, bias: Array | None = None,
                           ws: Workspace | None = None) -> Array:
    """``y = conv(x, W) + bias`` for stride 1 by scattering: ``kh kw`` products
    ``X W~_ab`` added into shifted slices of ``y`` (:func:`forward_route`).

    Parameters
    ----------
    x_rows : array (N H W, C)
        ``pixel_rows(x)`` of the input ``x (N, C, H, W)``.
    W : array (O, C, kh, kw)
    input_shape : (N, C, H, W); padding ``p <= k - 1`` on both axes.

    Returns
    -------
    y : array (N, O, Ho, Wo), fresh.
    """
    n, _, h, w = input_shape
    o, _, kh, kw = W.shape
    y_shape = (n, o, conv_output_size(h, kh, 1, padding[0]),
               conv_output_size(w, kw, 1, padding[1]))
    return col2im_of_product(x_rows, _flipped(W), y_shape, (1, 1),
                             _complement((kh, kw), padding), ws, bias)


def _gram(A: Array, B: Array) -> Array:
    """``A^T B`` for tall ``A (Q, m)`` and ``B (Q, k)``, by the faster operand order.

    OpenBLAS runs ``(wide)^T (narrow)`` 25-35% faster than the reverse, and a product
    whose left operand is already row-major (the transposed view of a column-built
    patch matrix, :func:`_cols_of`) about twice as fast as one that must read it
    transposed (measured for the weight gradients here, ``Q`` = 6,000 to 100,000 rows);
    the other order is computed as ``(B^T A)^T`` (a transposed view).
    """
    xp = get_array_module(A, B)

    def row_major_transpose(a: Array) -> bool:
        return a.T.flags.c_contiguous and not a.flags.c_contiguous

    if row_major_transpose(B) and not row_major_transpose(A):
        return xp.matmul(B.T, A).T
    if row_major_transpose(A) or A.shape[1] >= B.shape[1]:
        return xp.matmul(A.T, B)
    return xp.matmul(B.T, A).T


def conv2d_weight_grad(cols: Array, dy_rows: Array, weight_shape: tuple[int, int, int, int]
                       ) -> Array:
    """``dW_mat = dY^T X_col`` reshaped to ``weight_shape (O, C, kh, kw)`` (a fresh array).

    ``cols`` is the patch matrix of the convolution's input (:func:`im2col`),
    ``dy_rows = pixel_rows(dy)`` with ``dy (N, O, Ho, Wo)``. One BLAS product
    (the transposes are stride flags for BLAS, not copies).
    """
    o, c, kh, kw = weight_shape
    return _gram(dy_rows, cols).reshape(o, kh, kw, c).transpose(0, 3, 1, 2).copy()


def dy_patches(dy_rows: Array, input_shape: tuple[int, int, int, int],
               weight_shape: tuple[int, ...], padding: Pair, ws: Workspace | None = None
               ) -> Array:
    """``DY_col (N H W, kh kw O)``: the patches of ``dy``, padded by ``k - 1 - p``, one row
    per *input* pixel (stride 1): the operand of the correlation route of both gradients.

    ``DY_col[(n, h, w), (a, b, o)] = dyp[n, h + a, w + b, o]`` (``ws`` buffers
    ``"dy_pad"``, ``"dcols"``).
    """
    n, _, h, w = input_shape
    o, _, kh, kw = weight_shape
    ho, wo = conv_output_size(h, kh, 1, padding[0]), conv_output_size(w, kw, 1, padding[1])
    dy_pad = pad_nhwc(dy_rows.reshape(n, ho, wo, o), _complement((kh, kw), padding), ws,
                      "dy_pad")
    return _cols_of(dy_pad, (kh, kw), (1, 1), (h, w), ws, "dcols")


def conv2d_weight_grad_from_dy(x_rows: Array, dcols: Array,
                               weight_shape: tuple[int, int, int, int]) -> Array:
    """``dW (O, C, kh, kw)`` (fresh) from ``X = pixel_rows(x)`` and ``DY_col`` (:func:`dy_patches`).

    ``dW[o, c, kh-1-a, kw-1-b] = (X^T DY_col)[c, (a, b, o)]``: both sum
    ``x[n, c, h, w] dy[n, o, i, j]`` over the pairs with ``h = i + a' - p`` (``a' = kh-1-a``),
    since ``DY_col`` holds ``dy[i]`` at ``h + a - (kh - 1 - p)``. One BLAS product.
    """
    o, c, kh, kw = weight_shape
    dW = _gram(x_rows, dcols).reshape(c, kh, kw, o)
    return dW.transpose(3, 0, 1, 2)[:, :, ::-1, ::-1].copy()


def input_grad_route(input_shape: tuple[int, int, int, int], weight_shape: tuple[int, ...],
                     stride: Pair, padding: Pair) -> str:
    """``"col2im"`` or ``"correlate"``: the route of :func:`conv2d_input_grad` that moves
    less memory for these shapes.

    With ``K = kh kw``, ``P = N H W`` input and ``Q = N Ho Wo`` output pixels:
    col2im writes ``dX_col`` (``K C Q`` numbers) and adds it into ``dx`` with ``K``
    strided ``+=`` (each reads and writes ``C Q``, in short runs of ``C``); correlation
    copies ``dy`` into a padded buffer (``O`` per padded pixel) and its patches
    (``K O P``, in runs of ``kw O``), and writes ``C P``. The weights below are time
    per number moved, measured with NumPy for these three passes (a strided ``+=``
    costs about three times a copy); the arithmetic (``2 K O C`` per pixel, ``Q`` or
    ``P`` pixels) is counted at a sixteenth. Correlation needs stride 1 and
    ``p <= k - 1``, and is taken only when its patch matrix (``K O P`` numbers) is no
    larger than col2im's (``K C Q``), so the choice never costs memory: with twice
    as many outputs as inputs it would be about 10% faster at 28x28 for 45% more
    peak memory (measured), and col2im is kept.
    """
    n, c, h, w = input_shape
    o, _, kh, kw = weight_shape
    (sh, sw), (ph, pw) = stride, padding
    if (sh, sw) != (1, 1) or ph > kh - 1 or pw > kw - 1:
        return "col2im"
    k = kh * kw
    q = n * conv_output_size(h, kh, 1, ph) * conv_output_size(w, kw, 1, pw)
    p = n * h * w
    padded = n * (h + kh - 1) * (w + kw - 1)
    col2im_cost = 8 * k * c * q + 2 * c * p + 2 * k * o * c * q / 16
    correlate_cost = 2 * o * padded + 3 * k * o * p + 2 * c * p + 2 * k * o * c * p / 16
    return "correlate" if correlate_cost < col2im_cost and o * p <= c * q else "col2im"


def conv2d_input_grad(dy_rows: Array, W: Array, input_shape: tuple[int, int, int, int],
                      stride: Pair, padding: Pair, ws: Workspace | None = None,
                      route: str | None = None) -> Array:
    """``dx``, the gradient of a convolution with respect to its input.

    ``dx = col2im(dY W_mat)``, or for stride 1 the correlation of the padded ``dy``
    with the flipped kernel (see the module docstring), whichever
    :func:`input_grad_route` picks. This is also the forward pass of the transposed
    convolution.

    Parameters
    ----------
    dy_rows : array (N Ho Wo, O)
        ``pixel_rows(dy)`` of the upstream gradient ``dy (N, O, Ho, Wo)``.
    W : array (O, C, kh, kw)
    input_shape : (N, C, H, W) of the convolution's input; ``Ho, Wo`` must be
        its convolution output size.
    ws : Workspace, optional (buffers ``"dcols"``, ``"dy_pad"``, ``"x_rows_back"``).
    route : {"col2im", "correlate"}, optional
        Force a route (tests compare them); by default the cheaper one.

    Returns
    -------
    dx : array (N, C, H, W), fresh.
    """
    route = route or input_grad_route(input_shape, W.shape, stride, padding)
    if route == "col2im":
        return col2im_of_product(dy_rows, W, input_shape, stride, padding, ws)
    return input_grad_from_dy(dy_patches(dy_rows, input_shape, W.shape, padding, ws), W,
                              input_shape, ws)


def input_grad_from_dy(dcols: Array, W: Array, input_shape: tuple[int, int, int, int],
                       ws: Workspace | None = None) -> Array:
    """``dx (N, C, H, W)`` (fresh) by correlation: ``DY_col W~_mat^T`` (:func:`dy_patches`,
    the flipped kernel ``W~``), one BLAS product (``ws`` buffer ``"x_rows_back"``)."""
    xp = get_array_module(dcols, W)
    n, c, h, w = input_shape
    rows = xp.matmul(dcols, _weight_rows(_flipped(W)).T)  # fresh: it becomes dx
    return from_pixel_rows(rows, input_shape, fresh=True)
