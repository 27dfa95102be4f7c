"""Max pooling and nearest-neighbour upsampling (NCHW), parameter-free; the arithmetic is in
:mod:`npae.kernels`."""

from __future__ import annotations

from npae import kernels
from npae.arguments import as_pair
from npae.backend import Array
from npae.kernels import conv_output_size
from npae.layers.base import Layer


def _check_scale(pair: tuple[int, int], name: str, owner: str) -> tuple[int, int]:
    if min(pair) < 1:
        raise ValueError(f"{owner}: {name} must be >= 1 on both axes, got {pair}")
    return pair


class MaxPool2D(Layer):
    r"""Maximum over each ``kh x kw`` window, windows ``sh, sw`` apart, no padding.

    Shapes: ``x (N, C, H, W)`` -> ``y (N, C, Ho, Wo)``, ``Ho = (H - kh) // sh + 1``;
    ``stride`` defaults to ``kernel_size``.

    .. math:: y_{n,c,i,j} = \max_{a,b}\; x_{n,c,\,i s_h + a,\, j s_w + b}

    Backward: the max is locally the selection of one entry, so its gradient is
    an indicator. With ``(a^*, b^*)_{n,c,i,j}`` the *first* maximal offset of
    window ``(i, j)`` in row-major order (exactly one per window, also under ties:
    a window of equal values sends its gradient to its top-left entry),

    .. math::
        \frac{\partial L}{\partial x_{n,c,h,w}} = \sum_{i,j} dy_{n,c,i,j}\,
        [\,h = i s_h + a^*,\ w = j s_w + b^*\,],

    a sum because overlapping windows (``stride < kernel``) may pick the same
    pixel.

    :func:`npae.kernels.reference.maxpool2d_forward` and
    :func:`~npae.kernels.reference.maxpool2d_backward` compute exactly this (the
    windows stacked, ``argmax``, ``dy`` added back offset by offset); the fast kernels
    keep a running maximum instead of stacking the windows.
    """

    def __init__(self, kernel_size, stride=None) -> None:
        super().__init__()
        self.kernel_size = _check_scale(as_pair(kernel_size, "kernel_size", "MaxPool2D"),
                                        "kernel_size", "MaxPool2D")
        self.stride = self.kernel_size if stride is None else _check_scale(
            as_pair(stride, "stride", "MaxPool2D"), "stride", "MaxPool2D")
        self._config = {"kernel_size": list(self.kernel_size), "stride": list(self.stride)}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        n, c, h, w = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return n, c, conv_output_size(h, kh, sh, 0), conv_output_size(w, kw, sw, 0)

    def forward(self, x: Array, training: bool = True) -> Array:
        self._check_input(x, 4)
        (kh, kw) = self.kernel_size
        if x.shape[2] < kh or x.shape[3] < kw:
            raise ValueError(f"MaxPool2D: input of shape {tuple(x.shape)} is smaller than "
                             f"the {kh}x{kw} window (MaxPool2D has no padding)")
        y, self._cache = kernels.maxpool2d_forward(x, self.kernel_size, self.stride)
        self._y_shape = tuple(y.shape)
        return y

    def backward(self, dy: Array) -> Array:
        if tuple(dy.shape) != self._y_shape:
            raise ValueError(f"MaxPool2D.backward: dy must have the output shape "
                             f"{self._y_shape}, got {tuple(dy.shape)}")
        return kernels.maxpool2d_backward(dy, self._cache, self.kernel_size, self.stride)


class Upsample2D(Layer):
    r"""Nearest-neighbour upsampling by integer factors ``(sh, sw)``.

    Shapes: ``x (N, C, H, W)`` -> ``y (N, C, sh H, sw W)``, ``y_{n,c,h,w} =
    x_{n,c,\lfloor h/s_h \rfloor,\lfloor w/s_w \rfloor}``.

    Backward: each input pixel was copied to an ``sh x sw`` block, so its
    gradient is the sum of that block:

    .. math::
        \frac{\partial L}{\partial x_{n,c,i,j}}
        = \sum_{a<s_h,\,b<s_w} dy_{n,c,\,i s_h + a,\, j s_w + b}

    :func:`npae.kernels.reference.upsample2d_forward` and
    :func:`~npae.kernels.reference.upsample2d_backward` compute exactly this (a repeat,
    a block sum); the fast kernels keep a channels-last image channels-last.
    """

    def __init__(self, scale_factor) -> None:
        super().__init__()
        self.scale_factor = _check_scale(as_pair(scale_factor, "scale_factor", "Upsample2D"),
                                         "scale_factor", "Upsample2D")
        self._config = {"scale_factor": list(self.scale_factor)}

    def forward(self, x: Array, training: bool = True) -> Array:
        self._check_input(x, 4)
        self._x_shape = tuple(x.shape)
        return kernels.upsample2d_forward(x, self.scale_factor)

    def backward(self, dy: Array) -> Array:
        n, c, h, w = self._x_shape
        sh, sw = self.scale_factor
        if tuple(dy.shape) != (n, c, h * sh, w * sw):
            raise ValueError(f"Upsample2D.backward: dy must have the output shape "
                             f"{(n, c, h * sh, w * sw)}, got {tuple(dy.shape)}")
        return kernels.upsample2d_backward(dy, self.scale_factor)
