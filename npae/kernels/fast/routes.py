r"""The fast convolution's routes: which products and copies compute each pass.

Every route computes what :mod:`npae.kernels.reference` defines; :mod:`npae.kernels.fast`
picks one from the shapes. Notation as in :mod:`npae.kernels.fast.patches`.

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
:func:`npae.kernels.fast.conv_transpose2d_forward`).

The same identity read the other way gives the *forward* pass two routes
(:func:`forward_route`): for stride 1, ``conv(x, W)`` with padding ``p`` is the input
gradient of the convolution with kernel ``W~`` and padding ``k - 1 - p``, so it can
scatter ``kh kw`` products of ``x`` into ``y`` (:func:`conv2d_forward_scatter`) instead
of gathering ``x``'s patches; with fewer outputs than inputs that moves less. Its
backward pass then needs no patches of ``x``: ``dy``'s (:func:`dy_patches`) give both
``dx`` and ``dW`` (:func:`conv2d_weight_grad_from_dy`).

"""

from __future__ import annotations

from typing import Any

from npae.backend import get_array_module
from npae.kernels.fast.layout import Workspace, from_pixel_rows, pad_nhwc
from npae.kernels.fast.patches import col2im_of_product, cols_of, gram, im2col, weight_rows
from npae.kernels.reference import conv_output_size

Array = Any
Pair = tuple[int, int]

__all__ = ["conv2d_forward_gather", "forward_route", "conv2d_forward_scatter",
           "conv2d_weight_grad", "dy_patches", "conv2d_weight_grad_from_dy",
           "input_grad_route", "conv2d_input_grad", "input_grad_from_dy"]


def conv2d_forward_gather(x: Array, W: Array, stride: Pair, padding: Pair,
                          bias: Array | None = None, ws: Workspace | None = None
                          ) -> tuple[Array, Array]:
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
    rows = xp.matmul(cols, weight_rows(W).T)  # fresh: it becomes y
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




def conv2d_weight_grad(cols: Array, dy_rows: Array, weight_shape: tuple[int, int, int, int]
                       ) -> Array:
    """``dW_mat = dY^T X_col`` reshaped to ``weight_shape (O, C, kh, kw)`` (a fresh array).

    ``cols`` is the patch matrix of the convolution's input (:func:`im2col`),
    ``dy_rows = pixel_rows(dy)`` with ``dy (N, O, Ho, Wo)``. One BLAS product
    (the transposes are stride flags for BLAS, not copies).
    """
    o, c, kh, kw = weight_shape
    return gram(dy_rows, cols).reshape(o, kh, kw, c).transpose(0, 3, 1, 2).copy()


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
    return cols_of(dy_pad, (kh, kw), (1, 1), (h, w), ws, "dcols")


def conv2d_weight_grad_from_dy(x_rows: Array, dcols: Array,
                               weight_shape: tuple[int, int, int, int]) -> Array:
    """``dW (O, C, kh, kw)`` (fresh) from ``X = pixel_rows(x)`` and ``DY_col`` (:func:`dy_patches`).

    ``dW[o, c, kh-1-a, kw-1-b] = (X^T DY_col)[c, (a, b, o)]``: both sum
    ``x[n, c, h, w] dy[n, o, i, j]`` over the pairs with ``h = i + a' - p`` (``a' = kh-1-a``),
    since ``DY_col`` holds ``dy[i]`` at ``h + a - (kh - 1 - p)``. One BLAS product.
    """
    o, c, kh, kw = weight_shape
    dW = gram(x_rows, dcols).reshape(c, kh, kw, o)
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
    ws : Workspace, optional (buffers ``"dcols"``, ``"dy_pad"``, ``"scatter_sum"``,
        ``"scatter_block"``).
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
    the flipped kernel ``W~``), one BLAS product."""
    xp = get_array_module(dcols, W)
    n, c, h, w = input_shape
    rows = xp.matmul(dcols, weight_rows(_flipped(W)).T)  # fresh: it becomes dx
    return from_pixel_rows(rows, input_shape, fresh=True)
