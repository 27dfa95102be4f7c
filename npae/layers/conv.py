"""2-D convolution and transposed convolution (NCHW), built on :mod:`npae.im2col`."""

from __future__ import annotations

import math

import numpy as np

from npae.arguments import as_generator, as_pair, check_float_dtype
from npae.backend import Array
from npae.im2col import (
    Workspace,
    conv2d_forward,
    conv2d_forward_scatter,
    conv2d_input_grad,
    conv2d_weight_grad,
    conv2d_weight_grad_from_dy,
    conv_output_size,
    conv_transpose_output_size,
    dy_patches,
    forward_route,
    im2col,
    input_grad_from_dy,
    input_grad_route,
    pixel_rows,
    sum_rows,
)
from npae.layers.base import Layer, new_param


class _ConvBase(Layer):
    """Argument checks, parameters and input checks shared by both convolutions."""

    skips_input_grad = True

    def _setup(self, in_channels: int, out_channels: int, kernel_size, stride, padding,
               dtype) -> None:
        name = type(self).__name__
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: {arg} must be an int >= 1, got {v!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = as_pair(kernel_size, "kernel_size", name)
        self.stride = as_pair(stride, "stride", name)
        self.padding = as_pair(padding, "padding", name)
        for arg, pair, low in (("kernel_size", self.kernel_size, 1), ("stride", self.stride, 1),
                               ("padding", self.padding, 0)):
            if min(pair) < low:
                raise ValueError(f"{name}: {arg} must be >= {low} on both axes, got {pair}")
        self.dtype = check_float_dtype(dtype, name)
        # Scratch for the column matrices (kh kw times the image) and channel rows:
        # reused from batch to batch, never handed to the caller.
        self._ws = Workspace()
        self._config = {"in_channels": self.in_channels, "out_channels": self.out_channels,
                        "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                        "padding": list(self.padding), "dtype": self.dtype.name}

    def _init_params(self, w_shape: tuple[int, ...], fan_in: float, rng) -> None:
        bound = math.sqrt(6.0 / fan_in)
        W = as_generator(rng).uniform(-bound, bound, size=w_shape)
        self.params = {"W": new_param(W, self.dtype),
                       "b": new_param(np.zeros(self.out_channels), self.dtype)}
        self.grads = {k: None for k in self.params}

    def _check_x(self, x: Array) -> None:
        self._check_input(x, 4, 1, self.in_channels, what="channels")

    def _check_dy(self, dy: Array) -> None:
        if tuple(getattr(dy, "shape", ())) != self._y_shape:
            raise ValueError(f"{type(self).__name__}.backward: dy must have the output shape "
                             f"{self._y_shape}, got {tuple(getattr(dy, 'shape', ()))}")


class Conv2D(_ConvBase):
    r"""2-D convolution (cross-correlation, as in every deep-learning library).

    Shapes: ``x (N, C, H, W)``, ``W (O, C, kh, kw)``, ``b (O,)``, ``y (N, O, Ho, Wo)``
    with ``Ho = (H + 2 ph - kh) // sh + 1`` (same for width); ``xp`` is ``x`` padded
    with ``ph, pw`` zeros.

    .. math:: y_{n,o,i,j} = b_o + \sum_{c,a,b} W_{o,c,a,b}\, xp_{n,c,\,i s_h + a,\, j s_w + b}

    As matrices (:mod:`npae.im2col`): ``Y = X_col W_mat^T + b``, with ``X_col = im2col(x)``
    ``(N Ho Wo, kh kw C)`` (one window per row), ``W_mat (O, kh kw C)`` (``W`` with its
    entries in the same order) and ``Y = pixel_rows(y)`` ``(N Ho Wo, O)``. Backward, with
    ``dy = dL/dy`` and ``dY = pixel_rows(dy)``:

    .. math::
        \frac{\partial L}{\partial W_{mat}} = dY^\top X_{col}, \qquad
        \frac{\partial L}{\partial b_o} = \sum_{n,i,j} dy_{n,o,i,j}, \qquad
        \frac{\partial L}{\partial x} = \operatorname{col2im}\big(dY\, W_{mat}\big),

    i.e. ``dx[n,c,h,w] = sum over (o, a, b, i, j) with i sh + a - ph = h and
    j sw + b - pw = w of W[o,c,a,b] dy[n,o,i,j]`` (each input pixel collects the
    gradient of every output whose window covered it). For stride 1 the same ``dx`` is
    the correlation of ``dy`` (padded by ``k - 1 - p``) with the flipped kernel,
    ``dx[n,c,h,w] = sum over (o, a, b) of W[o,c,kh-1-a,kw-1-b] dyp[n,o,h+a,w+b]``,
    computed instead when it moves less memory, as judged from the shapes by
    :func:`npae.im2col.input_grad_route` (both routes give the same ``dx``).

    Read the other way, that identity gives the forward pass a second route too
    (:func:`npae.im2col.forward_route`): for stride 1 ``y`` is the input gradient of
    the convolution with the flipped kernel and padding ``k - 1 - p``, taken by
    scattering ``kh kw`` products ``X W~_ab`` into shifted slices of ``y`` when there
    are fewer outputs than inputs. The backward pass then uses ``dy``'s patches
    ``DY_col`` (``dyp``'s windows, one row per input pixel) for both gradients:
    ``dx`` as above and ``dW[o,c,kh-1-a,kw-1-b] = (X^T DY_col)[c,(a,b,o)]``, the same
    sum over pairs of ``x`` and ``dy`` pixels as ``dY^T X_col``.

    ``y`` and ``dx`` are *channels-last*: NCHW arrays whose memory is the pixel rows
    they were computed as (:func:`npae.im2col.channels_last`), read back without a copy.

    Initialisation: ``W ~ U(-a, a)``, ``a = sqrt(6 / fan_in)``, ``fan_in = C kh kw``
    (He uniform: variance ``2 / fan_in``, which keeps activations' scale through
    ReLU layers); ``b = 0``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, *, rng=None, dtype=np.float32) -> None:
        super().__init__()
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dtype)
        kh, kw = self.kernel_size
        self._init_params((self.out_channels, self.in_channels, kh, kw),
                          self.in_channels * kh * kw, rng)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """``(N, O, Ho, Wo)`` for an input of shape ``(N, C, H, W)``."""
        n, _, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (n, self.out_channels, conv_output_size(h, kh, sh, ph),
                conv_output_size(w, kw, sw, pw))

    def forward(self, x: Array, training: bool = True) -> Array:
        self._check_x(x)
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
            raise ValueError(
                f"Conv2D: input of shape {tuple(x.shape)} is smaller than the kernel "
                f"{kh}x{kw} even after padding {self.padding} (needs H + 2*ph >= kh and "
                f"W + 2*pw >= kw)")
        W, b = self.params["W"], self.params["b"]
        self._route = forward_route(x.shape, W.shape, self.stride, self.padding)
        if self._route == "gather":
            y, self._cols = conv2d_forward(x, W, self.stride, self.padding, b, self._ws)
        else:
            # x's pixel rows serve this product and, in backward, dW's
            self._cols = pixel_rows(x, self._ws, "x_rows")
            y = conv2d_forward_scatter(self._cols, W, x.shape, self.padding, b, self._ws)
        self._x_shape, self._y_shape = tuple(x.shape), tuple(y.shape)
        return y

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        self._check_dy(dy)
        W, dy_rows = self.params["W"], pixel_rows(dy, self._ws, "dy_rows")
        self.grads["b"] = sum_rows(dy_rows)
        if self._route == "gather":
            self.grads["W"] = conv2d_weight_grad(self._cols, dy_rows, W.shape)
            if not input_grad:
                return None
            return conv2d_input_grad(dy_rows, W, self._x_shape, self.stride, self.padding,
                                     self._ws)
        # scattered forward (stride 1): dy's patches serve both gradients
        dcols = dy_patches(dy_rows, self._x_shape, W.shape, self.padding, self._ws)
        self.grads["W"] = conv2d_weight_grad_from_dy(self._cols, dcols, W.shape)
        if not input_grad:
            return None
        if input_grad_route(self._x_shape, W.shape, self.stride, self.padding) == "col2im":
            return conv2d_input_grad(dy_rows, W, self._x_shape, self.stride, self.padding,
                                     self._ws, route="col2im")
        return input_grad_from_dy(dcols, W, self._x_shape, self._ws)


class ConvTranspose2D(_ConvBase):
    r"""Transposed convolution: the adjoint (input gradient) of :class:`Conv2D`.

    Shapes: ``x (N, C, H, W)`` with ``C = in_channels``, ``W (C, O, kh, kw)``,
    ``b (O,)``, ``y (N, O, Ho, Wo)``, ``Ho = (H - 1) sh - 2 ph + kh + oph``.
    Let ``K_W`` be the convolution ``(N, O, Ho, Wo) -> (N, C, H, W)`` with weights
    ``W`` read as ``(out = C, in = O, kh, kw)`` and the same stride and padding.
    Then ``y = K_W^T x + b``; element-wise each input pixel scatters a weighted kernel:

    .. math::
        y_{n,o,\,i s_h + a - p_h,\, j s_w + b - p_w} \mathrel{+}= \sum_c x_{n,c,i,j} W_{c,o,a,b}

    (entries that land in the padding are dropped). ``output_padding`` makes the
    output ``oph`` rows taller (``opw`` columns wider), at the bottom (right): a
    strided ``Conv2D`` maps several input sizes to the same ``H``, and ``op``
    picks which one, so it must satisfy ``0 <= op < stride``. The matching
    convolution's windows stop ``oph`` rows short of the end of its padded input:
    with ``ph >= oph`` (``k=3, s=2, p=1, op=1``, say) what they miss is padding;
    with ``ph < oph`` the last output rows receive nothing from ``x``, only ``b``.

    Backward, with ``dy = dL/dy`` and ``DY_col = im2col(dy)`` (the patches
    ``K_W`` builds from ``dy``), using ``L = <dy, K_W^T x> = <K_W dy, x>``:

    .. math::
        \frac{\partial L}{\partial x} = K_W\, dy \;(\text{a convolution}),\qquad
        \frac{\partial L}{\partial W_{mat}} = X^\top DY_{col},\qquad
        \frac{\partial L}{\partial b_o} = \sum_{n,i,j} dy_{n,o,i,j},

    with ``X = pixel_rows(x)`` ``(N H W, C)``, ``DY_col (N H W, kh kw O)`` and ``W_mat (C, kh kw
    O)`` (``W`` in the patches' order): since ``K_W dy`` is ``DY_col W_mat^T`` in pixel rows,
    ``L = <DY_col W_mat^T, X> = tr(W_mat DY_col^T X)``, whose gradient in ``W_mat`` is
    ``X^T DY_col``. The forward pass is the convolution's input gradient, by the
    cheaper of its two routes (:func:`npae.im2col.conv2d_input_grad`).

    Initialisation: ``W ~ U(-a, a)``, ``a = sqrt(6 / fan_in)`` with
    ``fan_in = C kh kw / (sh sw)``, the average number of inputs that reach one
    output pixel (He uniform, as in :class:`Conv2D`); ``b = 0``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, output_padding=0, *, rng=None, dtype=np.float32) -> None:
        super().__init__()
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dtype)
        self.output_padding = as_pair(output_padding, "output_padding", "ConvTranspose2D")
        if not all(0 <= op < s for op, s in zip(self.output_padding, self.stride)):
            raise ValueError(
                f"ConvTranspose2D: output_padding must satisfy 0 <= output_padding < stride "
                f"on each axis, got output_padding {self.output_padding} with stride "
                f"{self.stride}")
        self._config["output_padding"] = list(self.output_padding)
        kh, kw = self.kernel_size
        self._init_params((self.in_channels, self.out_channels, kh, kw),
                          self.in_channels * kh * kw / (self.stride[0] * self.stride[1]), rng)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """``(N, O, Ho, Wo)`` for an input of shape ``(N, C, H, W)``."""
        n, _, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oph, opw = self.output_padding
        return (n, self.out_channels, conv_transpose_output_size(h, kh, sh, ph, oph),
                conv_transpose_output_size(w, kw, sw, pw, opw))

    def forward(self, x: Array, training: bool = True) -> Array:
        self._check_x(x)
        y_shape = self.output_shape(x.shape)
        if y_shape[2] < 1 or y_shape[3] < 1:
            raise ValueError(
                f"ConvTranspose2D: input of shape {tuple(x.shape)} gives an empty output "
                f"{y_shape} with kernel {self.kernel_size}, stride {self.stride}, padding "
                f"{self.padding}, output_padding {self.output_padding}")
        # x in pixel rows is both this product's operand and, in backward, dW's
        self._x_rows, self._y_shape = pixel_rows(x, self._ws, "x_rows"), y_shape
        y = conv2d_input_grad(self._x_rows, self.params["W"], y_shape, self.stride,
                              self.padding, self._ws)
        y += self.params["b"].reshape(1, -1, 1, 1)
        return y

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        self._check_dy(dy)
        W, x_rows = self.params["W"], self._x_rows
        if input_grad:
            dx, cols = conv2d_forward(dy, W, self.stride, self.padding, ws=self._ws)
        else:
            dx, cols = None, im2col(dy, self.kernel_size, self.stride, self.padding, self._ws)
        # dL/dW_mat = X^T DY_col: the weight gradient of K_W with the roles of "input"
        # (dy) and "output gradient" (x) exchanged.
        self.grads["W"] = conv2d_weight_grad(cols, x_rows, W.shape)
        self.grads["b"] = sum_rows(pixel_rows(dy, self._ws, "dy_rows"))
        return dx
