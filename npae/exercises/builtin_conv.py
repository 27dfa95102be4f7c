"""Built-in exercises: Conv2D, MaxPool2D and Upsample2D (NCHW); their references are
:mod:`npae.kernels.reference`'s kernels."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from npae.exercises.builtin_layers import HEADER
from npae.exercises.core import Case, Exercise, Gradient, LayerPart, register
from npae.kernels import reference

PAIR = '''

def _pair(v):
    """3 -> (3, 3); (3, 2) -> (3, 2)."""
    return (v, v) if np.isscalar(v) else tuple(v)
'''


class _Conv2D:
    """The grader's reference: :func:`npae.kernels.reference.conv2d_forward` and
    ``conv2d_backward`` (the library's definition of the convolution), with the stub's
    constructor."""

    def __init__(self, W: np.ndarray, b: np.ndarray, stride=1, padding=0) -> None:
        self.params, self.grads = {"W": W, "b": b}, {}
        self.stride, self.padding = stride, padding

    def forward(self, x: np.ndarray) -> np.ndarray:
        y, self.cache = reference.conv2d_forward(x, self.params["W"], self.params["b"],
                                                 self.stride, self.padding)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx, self.grads["W"], self.grads["b"] = reference.conv2d_backward(
            dy, self.cache, self.params["W"], self.stride, self.padding)
        return dx


class _MaxPool2D:
    """The grader's reference: :func:`npae.kernels.reference.maxpool2d_forward` and
    ``maxpool2d_backward``."""

    def __init__(self, kernel_size, stride=None) -> None:
        self.params, self.grads = {}, {}
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: np.ndarray) -> np.ndarray:
        y, self.cache = reference.maxpool2d_forward(x, self.kernel_size, self.stride)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return reference.maxpool2d_backward(dy, self.cache, self.kernel_size, self.stride)


class _Upsample2D:
    """The grader's reference: :func:`npae.kernels.reference.upsample2d_forward` and
    ``upsample2d_backward``."""

    def __init__(self, scale_factor) -> None:
        self.params, self.grads = {}, {}
        self.scale_factor = scale_factor

    def forward(self, x: np.ndarray) -> np.ndarray:
        return reference.upsample2d_forward(x, self.scale_factor)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return reference.upsample2d_backward(dy, self.scale_factor)


CONV_STUB = HEADER.format(name="conv2d", title="the 2-D convolution") + PAIR + '''

class Conv2D:
    """2-D convolution (cross-correlation, as in every deep-learning library), NCHW.

    Shapes: ``x (N, C, H, W)``, ``W (O, C, kh, kw)``, ``b (O,)``, ``y (N, O, Ho, Wo)``
    with ``Ho = (H + 2 ph - kh) // sh + 1`` (the same for the width). ``stride`` and
    ``padding`` are ints or ``(h, w)`` pairs; ``xp`` is ``x`` with ``ph`` rows and
    ``pw`` columns of zeros added on each side.

    Forward: ``y[n, o, i, j] = b[o] + sum_{c, a, e} W[o, c, a, e] xp[n, c, i sh + a, j sw + e]``.

    Loops are fine here (the forward loops over the kernel offsets ``a, e``).
    """

    def __init__(self, W, b, stride=1, padding=0):
        self.params = {"W": W, "b": b}
        self.grads = {}
        self.stride, self.padding = _pair(stride), _pair(padding)

    def forward(self, x):
        W, b = self.params["W"], self.params["b"]
        (sh, sw), (ph, pw) = self.stride, self.padding
        O, C, kh, kw = W.shape
        N, _, H, Wd = x.shape
        Ho, Wo = (H + 2 * ph - kh) // sh + 1, (Wd + 2 * pw - kw) // sw + 1
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        y = np.zeros((N, O, Ho, Wo)) + b[None, :, None, None]
        for a in range(kh):
            for e in range(kw):
                window = xp[:, :, a:a + sh * (Ho - 1) + 1:sh, e:e + sw * (Wo - 1) + 1:sw]
                y += np.einsum("nchw,oc->nohw", window, W[:, :, a, e])
        self.x, self.xp = x, xp  # kept for backward
        return y

    def backward(self, dy):
        """Given ``dy = dL/dy`` (N, O, Ho, Wo), return ``dx = dL/dx`` (N, C, H, W) and set
        ``self.grads["W"]`` (O, C, kh, kw) and ``self.grads["b"]`` (O,).

        {hints}
        """
        raise NotImplementedError("Conv2D.backward")
'''

CONV_HINTS = """Hints: follow the forward's loop over the kernel offsets (a, e). For each one,
``window`` (N, C, Ho, Wo) met W[:, :, a, e] (O, C), so
  dW[:, :, a, e] = sum over n, i, j of dy[n, :, i, j] window[n, :, i, j]
                 = np.einsum("nohw,nchw->oc", dy, window)
  d(window) = np.einsum("nohw,oc->nchw", dy, W[:, :, a, e]), ADDED (+=) into the same
  strided slice of a zero array dxp shaped like xp: windows overlap when the kernel is
  larger than the stride, and every pixel collects the gradient of every output it fed.
  db[o] = sum over n, i, j of dy[n, o, i, j].
Finally cut the padding off: dx = dxp[:, :, ph:ph + H, pw:pw + W]."""


def _conv_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for N, C, O, H, W, k, s, p in ((2, 3, 4, 5, 6, (3, 3), (1, 1), (0, 0)),
                                   (1, 2, 3, 7, 6, (3, 2), (2, 2), (1, 1)),
                                   (2, 1, 2, 6, 5, (2, 2), (2, 3), (0, 1))):
        Ho, Wo = (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1
        overlap = ", overlapping windows" if s[0] < k[0] or s[1] < k[1] else ""
        label = (f"N={N}, C={C}, O={O}, {H}x{W} input, kernel {k[0]}x{k[1]}, stride "
                 f"{s[0] if s[0] == s[1] else s}, padding {p[0] if p[0] == p[1] else p}"
                 f"{overlap}")
        out.append(Case(label, {"x": rng.standard_normal((N, C, H, W)),
                                "W": rng.standard_normal((O, C) + k),
                                "b": rng.standard_normal(O),
                                "dy": rng.standard_normal((N, O, Ho, Wo))},
                        data={"stride": s, "padding": p},
                        dims={"N": N, "C": C, "O": O, "H": H, "W": W, "kh": k[0],
                              "kw": k[1]}))
    return out


register(Exercise(
    name="conv2d", title="Conv2D: 2-D convolution with stride and padding", topic="convolution",
    difficulty=3, stub=CONV_STUB, hints=CONV_HINTS, reference=SimpleNamespace(Conv2D=_Conv2D),
    cases=_conv_cases,
    parts=[LayerPart("Conv2D", ("W", "b", "stride", "padding"),
                     (Gradient("dx", "x", ("N", "C", "H", "W")),
                      Gradient("dW", "W", ("O", "C", "kh", "kw")),
                      Gradient("db", "b", ("O",))), params=("W", "b"))]))


POOL_STUB = HEADER.format(name="maxpool2d", title="max pooling") + PAIR + '''

class MaxPool2D:
    """Maximum over each ``kh x kw`` window, windows ``sh, sw`` apart, no padding (NCHW).

    Shapes: ``x (N, C, H, W)`` -> ``y (N, C, Ho, Wo)``, ``Ho = (H - kh) // sh + 1`` (the
    same for the width); ``stride`` defaults to ``kernel_size``. Windows overlap when
    the stride is smaller than the kernel.

    Forward: ``y[n, c, i, j] = max over a < kh, e < kw of x[n, c, i sh + a, j sw + e]``.

    Ties: when several entries of a window share the maximum, the gradient goes to the
    FIRST of them in row-major order (smallest ``a``, then smallest ``e``), which is
    what ``np.argmax`` of the flattened window returns. Exactly one entry per window
    receives ``dy[n, c, i, j]``. The grader has a case with ties.
    """

    def __init__(self, kernel_size, stride=None):
        self.params = {}
        self.grads = {}
        self.kernel_size = _pair(kernel_size)
        self.stride = self.kernel_size if stride is None else _pair(stride)

    def forward(self, x):
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        N, C, H, W = x.shape
        Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
        y = np.full((N, C, Ho, Wo), -np.inf)
        for a in range(kh):
            for e in range(kw):
                window = x[:, :, a:a + sh * (Ho - 1) + 1:sh, e:e + sw * (Wo - 1) + 1:sw]
                y = np.maximum(y, window)
        self.x = x  # kept for backward
        return y

    def backward(self, dy):
        """Given ``dy = dL/dy`` (N, C, Ho, Wo), return ``dx = dL/dx`` (N, C, H, W).

        {hints}
        """
        raise NotImplementedError("MaxPool2D.backward")
'''

POOL_HINTS = """Hints: the max picks one entry of each window, so its gradient is an indicator:
dx[n, c, i sh + a*, j sw + e*] += dy[n, c, i, j] with (a*, e*) the first maximal offset.
One way: gather the windows into patches (N, C, Ho, Wo, kh kw) with a loop over the
offsets, take k = patches.argmax(axis=-1) (first maximum), then loop over the offsets
again and add dy where k == a * kw + e into the strided slice of dx. Use +=: with
overlapping windows one pixel can win several windows."""


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values at least ~1/size apart: no two within the finite-difference step."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) + rng.uniform(0, 0.1, n)) / n * 4 - 2).reshape(shape)


def _pool_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for N, C, H, W, k, s, ties in ((2, 3, 6, 6, (2, 2), (2, 2), False),
                                   (1, 2, 7, 5, (3, 3), (2, 2), False),
                                   (2, 1, 5, 6, (2, 3), (1, 2), False),
                                   (2, 2, 5, 5, (3, 3), (1, 1), True)):
        Ho, Wo = (H - k[0]) // s[0] + 1, (W - k[1]) // s[1] + 1
        overlap = ", overlapping" if s[0] < k[0] or s[1] < k[1] else ""
        x = rng.integers(0, 3, (N, C, H, W)).astype(np.float64) if ties else \
            _distinct(rng, (N, C, H, W))
        label = (f"N={N}, C={C}, {H}x{W} input, window {k[0]}x{k[1]}, stride "
                 f"{s[0] if s[0] == s[1] else s}{overlap}"
                 + (", ties (integer inputs)" if ties else ""))
        out.append(Case(label, {"x": x, "dy": rng.standard_normal((N, C, Ho, Wo))},
                        data={"kernel_size": k, "stride": s},
                        dims={"N": N, "C": C, "H": H, "W": W}, smooth=not ties))
    return out


register(Exercise(
    name="maxpool2d", title="MaxPool2D: max pooling, overlapping windows and ties",
    topic="convolution", difficulty=2, stub=POOL_STUB, hints=POOL_HINTS,
    reference=SimpleNamespace(MaxPool2D=_MaxPool2D), cases=_pool_cases,
    parts=[LayerPart("MaxPool2D", ("kernel_size", "stride"),
                     (Gradient("dx", "x", ("N", "C", "H", "W")),))]))


UPSAMPLE_STUB = HEADER.format(name="upsample2d", title="nearest-neighbour upsampling") + PAIR + '''

class Upsample2D:
    """Nearest-neighbour upsampling by integer factors ``(sh, sw)`` (NCHW).

    Shapes: ``x (N, C, H, W)`` -> ``y (N, C, sh H, sw W)``.

    Forward: ``y[n, c, h, w] = x[n, c, h // sh, w // sw]``: every pixel becomes an
    ``sh x sw`` block.
    """

    def __init__(self, scale_factor):
        self.params = {}
        self.grads = {}
        self.scale_factor = _pair(scale_factor)

    def forward(self, x):
        sh, sw = self.scale_factor
        self.x_shape = x.shape  # kept for backward
        return np.repeat(np.repeat(x, sh, axis=2), sw, axis=3)

    def backward(self, dy):
        """Given ``dy = dL/dy`` (N, C, sh H, sw W), return ``dx = dL/dx`` (N, C, H, W).

        {hints}
        """
        raise NotImplementedError("Upsample2D.backward")
'''

UPSAMPLE_HINTS = """Hints: x[n, c, i, j] was copied to the block of rows i sh .. i sh + sh - 1 and
columns j sw .. j sw + sw - 1, so its gradient is the SUM of dy over that block (not
the mean). reshape dy to (N, C, H, sh, W, sw) and sum over axes 3 and 5."""


def _upsample_cases(rng: np.random.Generator) -> list[Case]:
    out = []
    for N, C, H, W, s in ((2, 3, 4, 5, (2, 2)), (1, 2, 2, 3, (3, 2)), (2, 1, 3, 2, (1, 3))):
        out.append(Case(f"N={N}, C={C}, {H}x{W} input, scale {s[0]}x{s[1]}",
                        {"x": rng.standard_normal((N, C, H, W)),
                         "dy": rng.standard_normal((N, C, H * s[0], W * s[1]))},
                        data={"scale_factor": s},
                        dims={"N": N, "C": C, "H": H, "W": W, "sh": s[0], "sw": s[1]},
                        factors={"sh*sw": s[0] * s[1], "sh": s[0], "sw": s[1], "N": N}))
    return out


register(Exercise(
    name="upsample2d", title="Upsample2D: nearest-neighbour upsampling", topic="convolution",
    difficulty=1, stub=UPSAMPLE_STUB, hints=UPSAMPLE_HINTS,
    reference=SimpleNamespace(Upsample2D=_Upsample2D), cases=_upsample_cases,
    parts=[LayerPart("Upsample2D", ("scale_factor",),
                     (Gradient("dx", "x", ("N", "C", "H", "W")),))]))
