r"""The reference kernels: each layer's arithmetic written as its formula.

This module is the *definition* of what the convolution, transposed convolution,
max pooling, upsampling and reshape layers compute, forward and backward, and (at
its end) the plain formulas of the activations, losses and penalties that npae
computes with a numerics trick. Each
function is pure (arrays in, arrays out, nothing kept), short, and reads like the
derivation in its docstring: loops run over the kernel offsets ``(a, b)`` or the
window positions of a pooling window, never over samples or pixels, and each
loop body is one slice of every window at once. :mod:`npae.kernels.fast` computes
the same numbers by faster routes, and the tests hold every one of them to these
functions. ``npae.kernels.use("reference")`` makes the layers run this code.

Notation: images are NCHW, ``x (N, C, H, W)``; ``stride = (s_h, s_w)``, ``padding =
(p_h, p_w)``; ``xp`` is ``x`` with ``p_h`` rows and ``p_w`` columns of zeros on each
side; ``dy = dL/dy`` for a scalar loss ``L``. Every backward follows one rule: if
``y = sum_k A_k x_k`` then ``dL/dx_k = A_k^T dy`` summed over every ``k`` that used
``x_k``.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

from npae.backend import get_array_module

Array = Any
Pair = tuple[int, int]

__all__ = ["conv_output_size", "conv_transpose_output_size", "window_offset",
           "conv2d_forward", "conv2d_backward", "conv_transpose2d_forward",
           "conv_transpose2d_backward", "maxpool2d_forward", "maxpool2d_backward",
           "upsample2d_forward", "upsample2d_backward", "reshape_forward", "reshape_backward",
           "sigmoid", "softplus", "bce_with_logits", "softmax_cross_entropy", "gaussian_kl",
           "kl_sparsity"]


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


def _pair(v: int | Pair) -> Pair:
    return (int(v), int(v)) if isinstance(v, Integral) else (int(v[0]), int(v[1]))


def _pad(x: Array, padding: Pair) -> Array:
    """``xp``: ``x (N, C, H, W)`` with ``p_h`` rows and ``p_w`` columns of zeros on each side."""
    (ph, pw), (n, c, h, w) = padding, x.shape
    out = get_array_module(x).zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def window_offset(a: int, b: int, stride: Pair, out_hw: Pair) -> tuple[slice, ...]:
    """The index of offset ``(a, b)`` of every window: ``xp[index][n, c, i, j] =
    xp[n, c, i s_h + a, j s_w + b]`` for the ``out_hw = (Ho, Wo)`` window positions."""
    (sh, sw), (ho, wo) = stride, out_hw
    return (slice(None), slice(None), slice(a, a + sh * (ho - 1) + 1, sh),
            slice(b, b + sw * (wo - 1) + 1, sw))


def conv2d_forward(x: Array, W: Array, bias: Array, stride: int | Pair = 1,
                   padding: int | Pair = 0) -> tuple[Array, Array]:
    r"""2-D convolution (cross-correlation): ``y (N, O, Ho, Wo)`` and the cache for backward.

    .. math::
        y_{n,o,i,j} = \mathrm{bias}_o + \sum_{c,a,b} W_{o,c,a,b}\; xp_{n,c,\,i s_h + a,\,
        j s_w + b}, \qquad H_o = \lfloor (H + 2 p_h - k_h) / s_h \rfloor + 1.

    One term per kernel offset ``(a, b)``: the pixel at offset ``(a, b)`` of every
    window, ``(N, C, Ho, Wo)``, times the ``(O, C)`` matrix ``W[:, :, a, b]``.

    Parameters
    ----------
    x : array (N, C, H, W)
    W : array (O, C, kh, kw)
    bias : array (O,)
    stride, padding : int or (h, w) pair

    Returns
    -------
    y : array (N, O, Ho, Wo)
    cache : the input ``x``, which :func:`conv2d_backward` needs.
    """
    xp = get_array_module(x, W)
    stride, padding = _pair(stride), _pair(padding)
    o, _, kh, kw = W.shape
    out_hw = (conv_output_size(x.shape[2], kh, stride[0], padding[0]),
              conv_output_size(x.shape[3], kw, stride[1], padding[1]))
    xpad = _pad(x, padding)
    y = xp.zeros((x.shape[0], o) + out_hw, dtype=xp.result_type(x.dtype, W.dtype))
    for a in range(kh):
        for b in range(kw):
            y += xp.einsum("nchw,oc->nohw", xpad[window_offset(a, b, stride, out_hw)],
                           W[:, :, a, b])
    y += bias.reshape(1, o, 1, 1)
    return y, x


def conv2d_backward(dy: Array, x: Array, W: Array, stride: int | Pair = 1,
                    padding: int | Pair = 0) -> tuple[Array, Array, Array]:
    r"""Gradients of :func:`conv2d_forward`: ``(dx, dW, dbias)`` from ``dy (N, O, Ho, Wo)``.

    ``y`` is linear in ``W`` and in ``xp``, and offset ``(a, b)`` of the windows,
    ``X_ab = xp[:, :, a::s_h, b::s_w]`` (``Ho x Wo`` of them), meets ``W[:, :, a, b]``:

    .. math::
        \frac{\partial L}{\partial W_{o,c,a,b}} = \sum_{n,i,j} dy_{n,o,i,j}\,
            xp_{n,c,\,i s_h + a,\, j s_w + b}, \qquad
        \frac{\partial L}{\partial \mathrm{bias}_o} = \sum_{n,i,j} dy_{n,o,i,j},

    .. math::
        \frac{\partial L}{\partial xp_{n,c,\,i s_h + a,\, j s_w + b}} \mathrel{+}=
            \sum_o dy_{n,o,i,j}\, W_{o,c,a,b} \quad \text{for every } (a, b),

    a sum because a pixel lies in every window that covers it (windows overlap when
    the kernel is larger than the stride); ``dx`` is ``dxp`` without its padding
    (the padding is a constant, not a variable).

    Parameters
    ----------
    dy : array (N, O, Ho, Wo)
    x : array (N, C, H, W), the forward pass's cache (its input)
    W, stride, padding : as given to the forward pass

    Returns
    -------
    dx : array (N, C, H, W); dW : array (O, C, kh, kw); dbias : array (O,)
    """
    xp = get_array_module(dy, W)
    stride, padding = _pair(stride), _pair(padding)
    (ph, pw), (h, w), (kh, kw) = padding, x.shape[2:], W.shape[2:]
    xpad = _pad(x, padding)
    dxpad = xp.zeros_like(xpad)
    dW = xp.empty_like(W)
    for a in range(kh):
        for b in range(kw):
            window = window_offset(a, b, stride, dy.shape[2:])
            dW[:, :, a, b] = xp.einsum("nohw,nchw->oc", dy, xpad[window])
            dxpad[window] += xp.einsum("nohw,oc->nchw", dy, W[:, :, a, b])
    dx = dxpad[:, :, ph:ph + h, pw:pw + w]
    return dx, dW, dy.sum(axis=(0, 2, 3))


def conv_transpose2d_forward(x: Array, W: Array, bias: Array, stride: int | Pair = 1,
                             padding: int | Pair = 0, output_padding: int | Pair = 0
                             ) -> tuple[Array, Array]:
    r"""Transposed convolution, the adjoint of :func:`conv2d_forward`'s map ``x -> y``.

    ``x (N, C, H, W)``, ``W (C, O, kh, kw)``: each input pixel scatters a weighted
    kernel into a padded output ``yp``, whose padding is then cut off:

    .. math::
        yp_{n,o,\,i s_h + a,\, j s_w + b} \mathrel{+}= \sum_c x_{n,c,i,j}\, W_{c,o,a,b},
        \qquad y = yp[p_h : p_h + H_o,\ p_w : p_w + W_o] + \mathrm{bias},

    with ``Ho = (H - 1) s_h - 2 p_h + k_h + op_h``. This is :func:`conv2d_backward`'s
    input gradient with ``x`` in the place of ``dy``: the same sum, read as a forward
    pass. ``output_padding`` adds ``op`` rows (columns) at the bottom (right).

    Returns
    -------
    y : array (N, O, Ho, Wo)
    cache : the input ``x``, which :func:`conv_transpose2d_backward` needs.
    """
    xp = get_array_module(x, W)
    stride, padding, op = _pair(stride), _pair(padding), _pair(output_padding)
    (n, _, h, w), (_, o, kh, kw), (ph, pw) = x.shape, W.shape, padding
    ho = conv_transpose_output_size(h, kh, stride[0], ph, op[0])
    wo = conv_transpose_output_size(w, kw, stride[1], pw, op[1])
    ypad = xp.zeros((n, o, ho + 2 * ph, wo + 2 * pw), dtype=xp.result_type(x.dtype, W.dtype))
    for a in range(kh):
        for b in range(kw):
            ypad[window_offset(a, b, stride, (h, w))] += xp.einsum("nchw,co->nohw", x,
                                                                   W[:, :, a, b])
    y = ypad[:, :, ph:ph + ho, pw:pw + wo] + bias.reshape(1, o, 1, 1)
    return y, x


def conv_transpose2d_backward(dy: Array, x: Array, W: Array, stride: int | Pair = 1,
                              padding: int | Pair = 0) -> tuple[Array, Array, Array]:
    r"""Gradients of :func:`conv_transpose2d_forward`: ``(dx, dW, dbias)``.

    Entry ``yp[n, o, i s_h + a, j s_w + b]`` received ``x[n, c, i, j] W[c, o, a, b]``,
    so with ``dyp`` the zero-padded ``dy`` (the cut-off padding had no effect on ``L``)
    and its windows read at offset ``(a, b)``:

    .. math::
        \frac{\partial L}{\partial x_{n,c,i,j}} = \sum_{o,a,b} W_{c,o,a,b}\,
            dyp_{n,o,\,i s_h + a,\, j s_w + b}, \qquad
        \frac{\partial L}{\partial W_{c,o,a,b}} = \sum_{n,i,j} x_{n,c,i,j}\,
            dyp_{n,o,\,i s_h + a,\, j s_w + b},

    and ``dbias_o = sum_{n,i,j} dy[n, o, i, j]``. So ``dx`` is a convolution of ``dy``
    with ``W`` (read as ``(out = C, in = O, kh, kw)``): the transpose of a transpose.

    Parameters
    ----------
    dy : array (N, O, Ho, Wo)
    x : array (N, C, H, W), the forward pass's cache (its input)
    W, stride, padding : as given to the forward pass

    Returns
    -------
    dx : array (N, C, H, W); dW : array (C, O, kh, kw); dbias : array (O,)
    """
    xp = get_array_module(dy, W)
    stride, padding = _pair(stride), _pair(padding)
    (h, w), (kh, kw) = x.shape[2:], W.shape[2:]
    dypad = _pad(dy, padding)
    dx = xp.zeros_like(x)
    dW = xp.empty_like(W)
    for a in range(kh):
        for b in range(kw):
            window = dypad[window_offset(a, b, stride, (h, w))]  # (N, O, H, W)
            dx += xp.einsum("nohw,co->nchw", window, W[:, :, a, b])
            dW[:, :, a, b] = xp.einsum("nchw,nohw->co", x, window)
    return dx, dW, dy.sum(axis=(0, 2, 3))


def maxpool2d_forward(x: Array, kernel: int | Pair, stride: int | Pair | None = None
                      ) -> tuple[Array, tuple]:
    r"""Max pooling without padding: ``y (N, C, Ho, Wo)``, ``Ho = (H - k_h) // s_h + 1``.

    .. math:: y_{n,c,i,j} = \max_{a < k_h,\, b < k_w} x_{n,c,\,i s_h + a,\, j s_w + b}

    The windows' entries are stacked along a last axis in row-major order of
    ``(a, b)``, so ``argmax`` names each window's winner ``k = a k_w + b``: the
    *first* maximal entry, also under ties. ``stride`` defaults to ``kernel``.

    Returns
    -------
    y : array (N, C, Ho, Wo)
    cache : ``(x.shape, k)``, the winners :func:`maxpool2d_backward` routes ``dy`` to.
    """
    xp = get_array_module(x)
    kernel = _pair(kernel)
    stride = kernel if stride is None else _pair(stride)
    (kh, kw), (h, w) = kernel, x.shape[2:]
    out_hw = conv_output_size(h, kh, stride[0], 0), conv_output_size(w, kw, stride[1], 0)
    windows = xp.stack([x[window_offset(a, b, stride, out_hw)]
                        for a in range(kh) for b in range(kw)], axis=-1)
    return windows.max(axis=-1), (x.shape, windows.argmax(axis=-1))


def maxpool2d_backward(dy: Array, cache: tuple, kernel: int | Pair,
                       stride: int | Pair | None = None) -> Array:
    r"""Gradient of :func:`maxpool2d_forward`: ``dy`` goes to each window's winner.

    Locally the max *selects* one entry, ``y_{n,c,i,j} = x_{n,c,\,i s_h + a^*,\, j s_w +
    b^*}``, so its derivative is an indicator:

    .. math::
        \frac{\partial L}{\partial x_{n,c,h,w}} = \sum_{i,j} dy_{n,c,i,j}\,
            [\,h = i s_h + a^*_{n,c,i,j},\ w = j s_w + b^*_{n,c,i,j}\,],

    a sum because overlapping windows (stride < kernel) can pick the same pixel.
    """
    xp = get_array_module(dy)
    kernel = _pair(kernel)
    stride = kernel if stride is None else _pair(stride)
    (x_shape, winner), kw = cache, kernel[1]
    dx = xp.zeros(x_shape, dtype=dy.dtype)
    for a in range(kernel[0]):
        for b in range(kw):
            dx[window_offset(a, b, stride, dy.shape[2:])] += dy * (winner == a * kw + b)
    return dx


def upsample2d_forward(x: Array, scale: int | Pair) -> Array:
    r"""Nearest-neighbour upsampling: ``y_{n,c,h,w} = x_{n,c,\lfloor h/s_h \rfloor,
    \lfloor w/s_w \rfloor}``, ``y (N, C, s_h H, s_w W)``: every pixel becomes an
    ``s_h x s_w`` block."""
    sh, sw = _pair(scale)
    return x.repeat(sh, axis=2).repeat(sw, axis=3)


def upsample2d_backward(dy: Array, scale: int | Pair) -> Array:
    r"""Gradient of :func:`upsample2d_forward`: each pixel was copied into an ``s_h x s_w``
    block, so it collects the block's sum.

    .. math::
        \frac{\partial L}{\partial x_{n,c,i,j}}
            = \sum_{a < s_h,\, b < s_w} dy_{n,c,\,i s_h + a,\, j s_w + b}
    """
    (sh, sw), (n, c, h, w) = _pair(scale), dy.shape
    return dy.reshape(n, c, h // sh, sh, w // sw, sw).sum(axis=(3, 5))


def reshape_forward(x: Array, shape: tuple[int, ...]) -> tuple[Array, tuple]:
    """``y = reshape(x, (N,) + shape)`` (``shape`` without the batch axis; one entry may
    be -1), and the cache: ``x``'s shape."""
    return x.reshape((x.shape[0],) + tuple(shape)), tuple(x.shape)


def reshape_backward(dy: Array, cache: tuple) -> Array:
    """``dx = reshape(dy, x.shape)``: a reshape moves no number, so neither does its
    gradient."""
    return dy.reshape(cache)


# -- the plain formulas of the functions with a numerics trick ---------------------------------
# npae.layers.activations, npae.losses and npae.penalties compute these in forms that never
# overflow (or lose digits) for extreme inputs; in reference mode they call these instead.
# The formulas are exact in exact arithmetic; in floating point they overflow where the
# tricks do not (exp of more than about 88 in float32, 709 in float64). ``D`` is the
# divisor of the reduction (elements, batch size or 1).

#: The clips that are part of the penalties' definitions (npae.penalties uses the same).
LOGVAR_CLIP = 80.0
KL_EPS = 1e-6

def sigmoid(a: Array) -> Array:
    r"""``s(a) = 1 / (1 + e^{-a})``, whose derivative is ``s (1 - s)``."""
    return 1 / (1 + get_array_module(a).exp(-a))


def softplus(a: Array) -> Array:
    r"""``log(1 + e^a)``, whose derivative is ``sigmoid(a)``."""
    xp = get_array_module(a)
    return xp.log1p(xp.exp(a))


def bce_with_logits(z: Array, t: Array, D: int) -> tuple[Array, Array]:
    r"""Binary cross-entropy of ``s = sigmoid(z)``: ``(value, dL/dz)``.

    .. math::
        L = -\frac1D \sum_i \big[t_i \log s_i + (1 - t_i) \log(1 - s_i)\big],
        \qquad \frac{\partial L}{\partial z_i} = \frac{s_i - t_i}{D},

    since ``ds/dz = s (1 - s)``; the logs are written ``log s = -softplus(-z)`` and
    ``log(1 - s) = -softplus(z)`` (the same numbers, with no ``log 0`` when ``s`` rounds
    to 1).
    """
    value = (t * softplus(-z) + (1 - t) * softplus(z)).sum() / D
    return value, (sigmoid(z) - t) / D


def softmax_cross_entropy(z: Array, labels: Array, D: int) -> tuple[Array, Array]:
    r"""Cross-entropy of ``p = softmax(z)`` row by row: ``(value, dL/dz)``.

    ``labels`` are class indices ``(N,)`` (one-hot targets ``t``) or probabilities
    ``t (N, C)``. With ``log p_nc = z_nc - log sum_c' e^{z_nc'}``:

    .. math::
        L = -\frac1D \sum_{n,c} t_{nc} \log p_{nc}, \qquad
        \frac{\partial L}{\partial z_{nc}} = \frac{(\sum_{c'} t_{nc'})\, p_{nc} - t_{nc}}{D}.
    """
    xp = get_array_module(z)
    t = (xp.arange(z.shape[1]) == labels[:, None]).astype(z.dtype) if labels.ndim == 1 \
        else labels
    e = xp.exp(z)
    log_p = z - xp.log(e.sum(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return -(t * log_p).sum() / D, (t.sum(axis=1, keepdims=True) * p - t) / D


def gaussian_kl(mu: Array, logvar: Array) -> tuple[Array, Array, Array]:
    r"""``KL(N(mu, e^{logvar}) || N(0, I))``, summed over latent dims, mean over the batch
    ``N``: ``(value, dmu, dlogvar)``.

    .. math::
        KL = \frac{1}{2N} \sum_{n,j} \big(\mu_{nj}^2 + e^{\mathrm{logvar}_{nj}}
            - \mathrm{logvar}_{nj} - 1\big), \quad
        \frac{\partial KL}{\partial \mu} = \frac{\mu}{N}, \quad
        \frac{\partial KL}{\partial\, \mathrm{logvar}} = \frac{e^{\mathrm{logvar}} - 1}{2N},

    with ``logvar`` clipped to ``[-80, 80]`` first, as :func:`npae.penalties.gaussian_kl`
    defines it (the posterior the VAE samples from).
    """
    xp, N = get_array_module(mu), mu.shape[0]
    logvar = xp.clip(logvar, -LOGVAR_CLIP, LOGVAR_CLIP)  # as the VAE samples (its definition)
    var = xp.exp(logvar)
    return (0.5 * (mu * mu + var - logvar - 1).sum() / N, mu / N, (var - 1) / (2 * N))


def kl_sparsity(h: Array, rho: float, beta: float) -> tuple[Array, Array]:
    r"""``beta sum_j KL(rho || rho_hat_j)`` with ``rho_hat_j`` the batch mean of ``h_j``:
    ``(value, dh)``.

    .. math::
        \mathrm{KL} = \rho \log\frac{\rho}{\hat\rho_j} + (1-\rho)\log\frac{1-\rho}{1-\hat\rho_j},
        \qquad \frac{\partial}{\partial h_{ij}} = \frac{\beta}{N}
            \Big(\frac{1-\rho}{1-\hat\rho_j} - \frac{\rho}{\hat\rho_j}\Big),

    the same for every sample ``i`` (``d rho_hat_j / d h_ij = 1 / N``).
    """
    xp, N = get_array_module(h), h.shape[0]
    # rho_hat clipped to [1e-6, 1 - 1e-6], as npae.penalties.kl_sparsity defines it
    r = xp.clip(h.mean(axis=0), KL_EPS, 1 - KL_EPS)
    kl = rho * xp.log(rho / r) + (1 - rho) * xp.log((1 - rho) / (1 - r))
    dh = xp.broadcast_to((1 - rho) / (1 - r) - rho / r, h.shape) * (beta / N)
    return beta * kl.sum(), dh
