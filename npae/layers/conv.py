"""2-D convolution and transposed convolution (NCHW); the arithmetic is in :mod:`npae.kernels`."""

from __future__ import annotations

import math

import numpy as np

from npae import kernels
from npae.arguments import as_generator, as_pair, check_float_dtype
from npae.backend import Array
from npae.kernels import Workspace, conv_output_size, conv_transpose_output_size
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

    Backward, with ``dy = dL/dy``: ``y`` is linear in ``W`` and in ``xp``, and each
    input pixel collects the gradient of every output whose window covered it,

    .. math::
        \frac{\partial L}{\partial W_{o,c,a,b}} = \sum_{n,i,j} dy_{n,o,i,j}\,
            xp_{n,c,\,i s_h + a,\, j s_w + b}, \qquad
        \frac{\partial L}{\partial b_o} = \sum_{n,i,j} dy_{n,o,i,j}, \qquad
        \frac{\partial L}{\partial xp_{n,c,\,i s_h + a,\, j s_w + b}} \mathrel{+}=
            \sum_o dy_{n,o,i,j}\, W_{o,c,a,b},

    and ``dx`` is ``dxp`` without its padding. :func:`npae.kernels.reference.conv2d_forward`
    and :func:`~npae.kernels.reference.conv2d_backward` compute exactly this, a loop
    over the kernel offsets ``(a, b)``; the fast kernels (the default, see
    :mod:`npae.kernels`) compute the same numbers with one matrix product per pass
    (im2col) and return channels-last arrays.

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
        y, self._cache = kernels.conv2d_forward(x, W, b, self.stride, self.padding, ws=self._ws)
        self._y_shape = tuple(y.shape)
        return y

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        self._check_dy(dy)
        dx, self.grads["W"], self.grads["b"] = kernels.conv2d_backward(
            dy, self._cache, self.params["W"], self.stride, self.padding, ws=self._ws,
            input_grad=input_grad)
        return dx


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

    Backward, with ``dy = dL/dy``: ``yp[n, o, i sh + a, j sw + b]`` received
    ``x[n, c, i, j] W[c, o, a, b]``, so with ``dyp`` the zero-padded ``dy``,

    .. math::
        \frac{\partial L}{\partial x_{n,c,i,j}} = \sum_{o,a,b} W_{c,o,a,b}\,
            dyp_{n,o,\,i s_h + a,\, j s_w + b}, \qquad
        \frac{\partial L}{\partial W_{c,o,a,b}} = \sum_{n,i,j} x_{n,c,i,j}\,
            dyp_{n,o,\,i s_h + a,\, j s_w + b}, \qquad
        \frac{\partial L}{\partial b_o} = \sum_{n,i,j} dy_{n,o,i,j}:

    ``dx = K_W dy`` is a convolution (``L = <dy, K_W^T x> = <K_W dy, x>``).
    :func:`npae.kernels.reference.conv_transpose2d_forward` and
    :func:`~npae.kernels.reference.conv_transpose2d_backward` compute exactly this; the
    fast kernels reuse the convolution's routes (the forward pass is its input
    gradient, the backward its forward pass).

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
        y, self._cache = kernels.conv_transpose2d_forward(
            x, self.params["W"], self.params["b"], self.stride, self.padding,
            self.output_padding, ws=self._ws)
        self._y_shape = tuple(y.shape)
        return y

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        self._check_dy(dy)
        dx, self.grads["W"], self.grads["b"] = kernels.conv_transpose2d_backward(
            dy, self._cache, self.params["W"], self.stride, self.padding, ws=self._ws,
            input_grad=input_grad)
        return dx
