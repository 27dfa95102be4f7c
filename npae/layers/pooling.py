"""Max pooling and nearest-neighbour upsampling (NCHW), parameter-free."""

from __future__ import annotations

import numpy as np

from npae.arguments import as_pair
from npae.backend import Array, get_array_module
from npae.im2col import channels_last, conv_output_size, empty_image, is_channels_last
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

    Both passes loop over the ``kh kw`` offsets ``(a, b)``, never over windows:
    offset ``(a, b)`` of every window at once is one strided slice of ``x``
    (no window is copied). Forward keeps a running maximum and, as the index
    ``k = a kw + b`` of the winner, replaces it only where a later offset is
    *strictly* larger (so the first maximum wins). Backward writes ``dy`` where
    ``k`` won into slice ``(a, b)`` of ``dx``: a plain write when windows do not
    overlap (``stride >= kernel``, the common ``MaxPool2D(2)``), an add when
    they do.
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

    def _slice(self, a: int, b: int, out_hw: tuple[int, int]) -> tuple[slice, ...]:
        """Index of offset ``(a, b)`` of every window: ``x[index][n, c, i, j] =
        x[n, c, i sh + a, j sw + b]``."""
        (sh, sw), (ho, wo) = self.stride, out_hw
        return (slice(None), slice(None), slice(a, a + sh * (ho - 1) + 1, sh),
                slice(b, b + sw * (wo - 1) + 1, sw))

    def forward(self, x: Array, training: bool = True) -> Array:
        self._check_input(x, 4)
        (kh, kw) = self.kernel_size
        if x.shape[2] < kh or x.shape[3] < kw:
            raise ValueError(f"MaxPool2D: input of shape {tuple(x.shape)} is smaller than "
                             f"the {kh}x{kw} window (MaxPool2D has no padding)")
        xp = get_array_module(x)
        out_hw = self.output_shape(x.shape)[2:]
        y = x[self._slice(0, 0, out_hw)].copy(order="K")  # keeps a channels-last layout
        # the winner's offset index k = a kw + b; uint8 holds it for windows up to 16x16
        arg = xp.zeros_like(y, dtype=np.uint8 if kh * kw <= 256 else np.int32)
        for k in range(1, kh * kw):
            v = x[self._slice(k // kw, k % kw, out_hw)]
            later = v > y  # strictly: on a tie the earlier offset keeps the window
            xp.maximum(y, v, out=y)
            # k exceeds every index stored so far, so a max writes k exactly where `later`
            xp.maximum(arg, later * arg.dtype.type(k), out=arg)
        self._arg, self._x_shape = arg, tuple(x.shape)
        return y

    def backward(self, dy: Array) -> Array:
        xp = get_array_module(dy)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if tuple(dy.shape) != self._arg.shape:
            raise ValueError(f"MaxPool2D.backward: dy must have the output shape "
                             f"{self._arg.shape}, got {tuple(dy.shape)}")
        n, c, h, w = self._x_shape
        out_hw = dy.shape[2:]
        disjoint = sh >= kh and sw >= kw  # each pixel in at most one window
        tiled = (sh, sw) == (kh, kw) and (h, w) == (out_hw[0] * kh, out_hw[1] * kw)
        # where windows tile x every pixel is written below; elsewhere some are never hit
        dx = empty_image(self._x_shape, dy.dtype, xp, like=dy, zeros=not tiled)
        for k in range(kh * kw):
            target = dx[self._slice(k // kw, k % kw, out_hw)]
            if disjoint:
                xp.multiply(dy, self._arg == k, out=target)
            else:
                target += dy * (self._arg == k)
        return dx


def _sum_of(views: list[Array]) -> Array:
    """A fresh array holding the sum of equally shaped arrays."""
    out = views[0].copy() if len(views) == 1 else views[0] + views[1]
    for v in views[2:]:
        out += v
    return out


class Upsample2D(Layer):
    r"""Nearest-neighbour upsampling by integer factors ``(sh, sw)``.

    Shapes: ``x (N, C, H, W)`` -> ``y (N, C, sh H, sw W)``, ``y_{n,c,h,w} =
    x_{n,c,\lfloor h/s_h \rfloor,\lfloor w/s_w \rfloor}``.

    Backward: each input pixel was copied to an ``sh x sw`` block, so its
    gradient is the sum of that block:

    .. math::
        \frac{\partial L}{\partial x_{n,c,i,j}}
        = \sum_{a<s_h,\,b<s_w} dy_{n,c,\,i s_h + a,\, j s_w + b}

    Seen as ``(N, C, H, sh, W, sw)``, ``y[:, :, :, a, :, b] = x`` for every
    offset: forward writes ``sw`` strided copies (each broadcast over ``a``) and
    backward adds ``sh`` slices, then ``sw``, rather than reducing over two
    strided axes at once (NumPy's slowest reduction layout).
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
        if is_channels_last(x):  # the same copies on (N, H, sh, W, sw, C), kept channels-last
            y = xp.empty((n, h, sh, w, sw, c), dtype=x.dtype)
            for b in range(sw):
                y[:, :, :, :, b] = x.transpose(0, 2, 3, 1)[:, :, None]
            return channels_last(y.reshape(n, h * sh, w * sw, c))
        y = xp.empty((n, c, h, sh, w, sw), dtype=x.dtype)
        for b in range(sw):
            y[..., b] = x[:, :, :, None, :]
        return y.reshape(n, c, h * sh, w * sw)

    def backward(self, dy: Array) -> Array:
        n, c, h, w = self._x_shape
        sh, sw = self.scale_factor
        if tuple(dy.shape) != (n, c, h * sh, w * sw):
            raise ValueError(f"Upsample2D.backward: dy must have the output shape "
                             f"{(n, c, h * sh, w * sw)}, got {tuple(dy.shape)}")
        blocks = dy.reshape(n, c, h, sh, w, sw)
        rows = _sum_of([blocks[:, :, :, a] for a in range(sh)])  # (n, c, h, w, sw)
        return _sum_of([rows[..., b] for b in range(sw)])
