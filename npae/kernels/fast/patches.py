r"""The fast convolution's two kernels: patches in (im2col), patches out (col2im).

The definition they compute is :mod:`npae.kernels.reference` (``conv2d_forward``,
``conv2d_backward``), which the tests hold them to.

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

"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from npae.backend import get_array_module
from npae.kernels.fast.layout import (
    Workspace,
    channels_last,
    from_pixel_rows,
    pad_nhwc,
    scratch,
    window_view,
)
from npae.kernels.reference import conv_output_size

Array = Any
Pair = tuple[int, int]

__all__ = ["SHALLOW", "cols_of", "im2col", "col2im", "col2im_of_product", "weight_rows",
           "gram", "offset_slices"]


def cols_of(xpad: Array, kernel: Pair, stride: Pair, out_hw: Pair, ws: Workspace | None,
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
        out_t = scratch(ws, name, (kh * kw * c, n * ho * wo), xpad.dtype, xp)
        out_t.reshape(kh, kw, c, n, ho, wo)[...] = windows.transpose(3, 4, 5, 0, 1, 2)
        return out_t.T
    out = scratch(ws, name, (n * ho * wo, kh * kw * c), xpad.dtype, xp)
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
    return cols_of(xpad, kernel, stride, out_hw, ws, "cols")


def _covered(offset: int, size: int, stride: int, padding: int, out: int) -> tuple[int, int, int]:
    """Output indices ``[lo, hi)`` whose input index ``i stride + offset - padding`` lies in
    ``[0, size)``, and the first such input index."""
    lo = max(0, -((offset - padding) // stride))  # ceil((padding - offset) / stride)
    hi = min(out, (size - 1 - offset + padding) // stride + 1)
    return lo, max(lo, hi), lo * stride + offset - padding


def offset_slices(input_shape: tuple[int, int, int, int], kernel: Pair, stride: Pair,
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
    for a, b, dst, src in offset_slices(input_shape, kernel, stride, padding):
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
    ``(N Ho Wo, C)`` array instead of ``(N Ho Wo, kh kw C)``. Same sums (the first term
    of each phase, below, comes first). ``bias (C,)``, if given, is added to the (fresh)
    result.

    A kernel as large as the (unpadded) image has one window: ``dY W_mat`` is then ``dx``
    itself, one product. Otherwise the sums are kept by *phase*,
    ``acc[h % sh, w % sw, n, h // sh, w // sw, :]``: an offset's pixels
    ``(i sh + a - ph, j sw + b - pw)`` all share one phase, so each ``+=`` is a plain
    rectangle of one phase image, whole rows of ``C`` channels side by side, where the
    strided slice of a pixel-ordered image moves runs of only ``C`` numbers. A phase
    image is one contiguous ``(N Hq Wq, C)`` matrix, so an offset whose pixels cover a
    whole phase (the centre of a 3x3 kernel at stride 1, one offset per phase for the
    usual stride-2 layers) writes its product straight into it (``matmul(out=)``):
    that phase needs no zero fill and one ``+=`` less.
    """
    xp = get_array_module(dy_rows, W)
    n, c, h, w = input_shape
    kh, kw = W.shape[2:]
    (sh, sw), (ph, pw) = stride, padding
    ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    dtype = xp.result_type(W.dtype, dy_rows.dtype)
    if (ho, wo, ph, pw) == (1, 1, 0, 0) and (kh, kw) == (h, w):
        # one window, the whole image: dY W_mat's row n is already sample n's pixels
        return from_pixel_rows(xp.matmul(dy_rows, weight_rows(W)).reshape(n * h * w, c),
                               input_shape, bias, fresh=True)
    if c <= SHALLOW:
        return _scatter_by_channel(dy_rows, W, input_shape, stride, padding, ws, bias)
    hq, wq = -(-h // sh), -(-w // sw)
    # phase-major: each phase image acc[a0, b0] is one contiguous (N Hq Wq, C) matrix
    acc = scratch(ws, "scatter_sum", (sh, sw, n, hq, wq, c), dtype, xp)
    block = scratch(ws, "scatter_block", (n * ho * wo, c), dtype, xp)
    grid = block.reshape(n, ho, wo, c)
    Wk = W.transpose(2, 3, 0, 1)  # Wk[a, b] = W[:, :, a, b], (O, C)
    moves, direct = _scatter_plan(tuple(input_shape), (kh, kw), tuple(stride), tuple(padding))
    for a0 in range(sh):
        for b0 in range(sw):
            if (a0, b0) in direct:
                a, b = moves[direct[a0, b0]][:2]
                xp.matmul(dy_rows, Wk[a, b], out=acc[a0, b0].reshape(n * hq * wq, c))
            else:
                acc[a0, b0] = 0
    for k, (a, b, src, a0, b0, u, v) in enumerate(moves):
        if direct.get((a0, b0)) != k:
            xp.matmul(dy_rows, Wk[a, b], out=block)
            acc[a0, b0, :, u, v] += grid[src]
    return _from_phases(acc.transpose(2, 0, 1, 3, 4, 5), input_shape, bias)


@functools.lru_cache(maxsize=256)
def _scatter_plan(input_shape: tuple[int, int, int, int], kernel: Pair, stride: Pair,
                  padding: Pair) -> tuple[list[tuple], dict[tuple[int, int], int]]:
    """The moves of :func:`col2im_of_product`, worked out once per shape (a layer meets
    the same shapes every batch): ``(a, b, src, a0, b0, u, v)`` for each kernel offset
    that touches the image, and for each phase that one offset writes whole, that
    offset's index. An offset that reaches a whole phase image from the whole output
    grid writes its product straight into it (no zero fill, no add); the others are
    added after."""
    _, _, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    hq, wq = -(-h // sh), -(-w // sw)
    moves = [(a, b, src, *_phase_rect(a, b, src, stride, padding))
             for a, b, _, src in offset_slices(input_shape, kernel, stride, padding)]
    direct: dict[tuple[int, int], int] = {}
    if (ho, wo) == (hq, wq):
        for k, (_, _, _, a0, b0, u, v) in enumerate(moves):
            if _whole(u, hq) and _whole(v, wq):
                direct.setdefault((a0, b0), k)
    return moves, direct


def _whole(s: slice, size: int) -> bool:
    """Whether the slice ``s`` (from :func:`_phase_rect`) spans ``range(size)`` entirely."""
    return s.start == 0 and s.stop == size


def _phase_rect(a: int, b: int, src: tuple, stride: Pair, padding: Pair
                ) -> tuple[int, int, slice, slice]:
    """Where offset ``(a, b)`` sends the output pixels ``src`` (from :func:`offset_slices`):
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
    planes = xp.matmul(weight_rows(W).T, dy_rows.T).reshape(kh, kw, c, n, ho, wo)
    acc = scratch(ws, "scatter_sum", (sh, sw, c, n, -(-h // sh), -(-w // sw)), planes.dtype,
                 xp)
    acc[...] = 0
    for a, b, _, src in offset_slices(input_shape, (kh, kw), stride, padding):
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


def weight_rows(W: Array) -> Array:
    """``W (O, C, kh, kw) -> W_mat (O, kh kw C)``, the row order of the patches."""
    o = W.shape[0]
    return W.transpose(0, 2, 3, 1).reshape(o, -1)




def gram(A: Array, B: Array) -> Array:
    """``A^T B`` for tall ``A (Q, m)`` and ``B (Q, k)``, by the faster operand order.

    OpenBLAS runs ``(wide)^T (narrow)`` 25-35% faster than the reverse, and a product
    whose left operand is already row-major (the transposed view of a column-built
    patch matrix, :func:`cols_of`) about twice as fast as one that must read it
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


