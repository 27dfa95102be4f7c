"""Max pooling and nearest-neighbour upsampling (NCHW), parameter-free."""

from __future__ import annotations

from npae.backend import get_array_module
from npae.im2col import conv_output_size, window_view
from npae.layers.base import Array, Layer, as_pair


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
    window ``(i, j)`` (row-major; exactly one per window, also under ties),

    .. math::
        \frac{\partial L}{\partial x_{n,c,h,w}} = \sum_{i,j} dy_{n,c,i,j}\,
        [\,h = i s_h + a^*,\ w = j s_w + b^*\,],

    a sum because overlapping windows (``stride < kernel``) may pick the same
    pixel. The scatter loops over the ``kh kw`` offsets, one slice ``+=`` each.
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
        xp = get_array_module(x)
        n, c, ho, wo = self.output_shape(x.shape)
        windows = window_view(x, self.kernel_size, self.stride, (ho, wo))
        patches = windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c, ho, wo, kh * kw)  # a copy
        self._arg = patches.argmax(axis=-1)  # first maximum: one winner per window
        self._x_shape = tuple(x.shape)
        return xp.take_along_axis(patches, self._arg[..., None], axis=-1)[..., 0]

    def backward(self, dy: Array) -> Array:
        xp = get_array_module(dy)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if tuple(dy.shape) != self._arg.shape:
            raise ValueError(f"MaxPool2D.backward: dy must have the output shape "
                             f"{self._arg.shape}, got {tuple(dy.shape)}")
        _, _, ho, wo = dy.shape
        dx = xp.zeros(self._x_shape, dtype=dy.dtype)
        for a in range(kh):
            for b in range(kw):
                won = self._arg == a * kw + b
                dx[:, :, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw] += \
                    xp.where(won, dy, 0)
        return dx


class Upsample2D(Layer):
    r"""Nearest-neighbour upsampling by integer factors ``(sh, sw)``.

    Shapes: ``x (N, C, H, W)`` -> ``y (N, C, sh H, sw W)``, ``y_{n,c,h,w} =
    x_{n,c,\lfloor h/s_h \rfloor,\lfloor w/s_w \rfloor}``.

    Backward: each input pixel was copied to an ``sh x sw`` block, so its
    gradient is the sum of that block:

    .. math::
        \frac{\partial L}{\partial x_{n,c,i,j}}
        = \sum_{a<s_h,\,b<s_w} dy_{n,c,\,i s_h + a,\, j s_w + b}
    """

    def __init__(self, scale_factor) -> None:
        super().__init__()
        self.scale_factor = _check_scale(as_pair(scale_factor, "scale_factor", "Upsample2D"),
                                         "scale_factor", "Upsample2D")
        self._config = {"scale_factor": list(self.scale_factor)}

    def forward(self, x: Array, training: bool = True) -> Array:
        self._check_input(x, 4)
        xp = get_array_module(x)
        n, c, h, w = x.shape
        sh, sw = self.scale_factor
        self._x_shape = tuple(x.shape)
        blocks = xp.broadcast_to(x[:, :, :, None, :, None], (n, c, h, sh, w, sw))
        return blocks.reshape(n, c, h * sh, w * sw)  # one copy

    def backward(self, dy: Array) -> Array:
        n, c, h, w = self._x_shape
        sh, sw = self.scale_factor
        if tuple(dy.shape) != (n, c, h * sh, w * sw):
            raise ValueError(f"Upsample2D.backward: dy must have the output shape "
                             f"{(n, c, h * sh, w * sw)}, got {tuple(dy.shape)}")
        return dy.reshape(n, c, h, sh, w, sw).sum(axis=(3, 5))
