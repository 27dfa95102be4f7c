r"""The convolutional autoencoder: strided convolutions down, transposed convolutions up.

A dense autoencoder treats an image as a list of unrelated pixels. A
convolutional one builds in two facts about images: nearby pixels belong
together (*locality*: each unit sees a small ``k x k`` window) and a stroke
is a stroke wherever it appears (*weight sharing*: one kernel slides over the
whole image). The encoder halves the resolution at every stride-2
convolution while adding channels; the code is either a dense layer on the
flattened last map, or a convolution whose kernel covers the whole last map
(a code of shape ``(c, 1, 1)``); the decoder mirrors the encoder with
transposed convolutions.

The architecture for ``conv_autoencoder((1, 28, 28), (16, 32), 16)``
(``k = 3``, ``s = 2``, ``p = 1``, ReLU inside, sigmoid output):

=====================================================  ===========  ==========
layer                                                  output       parameters
=====================================================  ===========  ==========
input                                                  1 x 28 x 28
``Conv2D(1, 16, 3, stride=2, padding=1)`` + ReLU       16 x 14 x 14        160
``Conv2D(16, 32, 3, stride=2, padding=1)`` + ReLU      32 x 7 x 7        4,640
``Flatten`` + ``Dense(1568, 16)``  (the code)          16               25,104
``Dense(16, 1568)`` + ReLU + ``Reshape((32, 7, 7))``   32 x 7 x 7       26,656
``ConvTranspose2D(32, 16, 3, 2, 1, 1)`` + ReLU         16 x 14 x 14      4,624
``ConvTranspose2D(16, 1, 3, 2, 1, 1)`` + Sigmoid       1 x 28 x 28         145
=====================================================  ===========  ==========

With ``bottleneck=(c, 1, 1)`` the two dense layers become
``Conv2D(32, c, 7)`` (one output pixel per channel: the kernel covers the
whole 7 x 7 map) and ``ConvTranspose2D(c, 32, 7)`` (back to 7 x 7): for
``c = 2``, 3,138 and 3,168 parameters instead of 25,104 and 26,656.

Sizes follow the layers' arithmetic, never a hard-coded 28: a convolution
gives ``Ho = (H + 2p - k) // s + 1``, and the mirrored transposed convolution
gives ``(Ho - 1) s - 2p + k + op``; the ``output_padding`` ``op`` is the
remainder ``(H + 2p - k) mod s`` that the floor dropped, so the decoder lands
exactly on ``H`` (28 -> 14 -> 7 -> 14 -> 28 with ``op = 1``; 8 -> 4 -> 2; an
odd 7 -> 4 -> 7 with ``op = 0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npae.arguments import as_generator, is_int
from npae.kernels import conv_output_size, conv_transpose_output_size
from npae.layers.activations import get_activation
from npae.layers.base import Layer
from npae.layers.conv import Conv2D, ConvTranspose2D
from npae.layers.dense import Dense
from npae.layers.shape import Flatten, Reshape
from npae.models.autoencoder import Autoencoder
from npae.network import Sequential

__all__ = ["conv_layers", "conv_autoencoder", "summary"]

_OWNER = "conv_autoencoder"


def _positive_ints(value: Any, name: str, length: int | None = None) -> tuple[int, ...]:
    """``value`` as a tuple of ints >= 1 (of ``length`` entries if given), or a ValueError."""
    try:
        items = tuple(value)
        ok = all(is_int(v) and v >= 1
                 for v in items)
    except TypeError:
        items, ok = (), False
    if not ok or not items or (length is not None and len(items) != length):
        what = f"{length} ints >= 1" if length else "a non-empty sequence of ints >= 1"
        raise ValueError(f"{_OWNER}: {name} must be {what}, got {value!r}")
    return tuple(int(v) for v in items)


def _he_or_xavier(activation: Layer) -> str:
    return "he" if type(activation).__name__ in ("ReLU", "LeakyReLU") else "xavier"


def conv_layers(input_shape: tuple[int, int, int] = (1, 28, 28),
                channels: tuple[int, ...] | list[int] = (16, 32), latent: int | None = None, *,
                kernel_size: int = 3, code: str | None = None,
                bottleneck: tuple[int, int, int] | None = None, activation: str = "relu",
                output_activation: str = "sigmoid", code_activation: str = "identity",
                rng: Any = None, dtype: Any = np.float32) -> tuple[Sequential, Sequential]:
    """Encoder and mirrored decoder of a convolutional autoencoder.

    See :func:`conv_autoencoder` for the parameters; this returns the two
    :class:`~npae.network.Sequential` stacks without wrapping them in a model.
    """
    c_in, height, width = _positive_ints(input_shape, "input_shape (C, H, W)", 3)
    channels = _positive_ints(channels, "channels")
    k = int(kernel_size) if isinstance(kernel_size, (int, np.integer)) else 0
    if k < 1:
        raise ValueError(f"{_OWNER}: kernel_size must be an int >= 1, got {kernel_size!r}")
    if code is None:
        code = "dense" if bottleneck is None else "conv"
    if code not in ("dense", "conv"):
        raise ValueError(f"{_OWNER}: code must be 'dense' or 'conv', got {code!r}")
    if bottleneck is not None:
        if code != "conv":
            raise ValueError(f"{_OWNER}: bottleneck={bottleneck!r} makes a convolutional "
                             "code; it cannot be combined with code='dense'")
        bottleneck = _positive_ints(bottleneck, "bottleneck (c, h, w)", 3)
        if latent is not None and int(latent) != bottleneck[0]:
            raise ValueError(f"{_OWNER}: latent={latent} disagrees with bottleneck="
                             f"{bottleneck} (its first entry is the number of code channels)")
        latent = bottleneck[0]
    latent = 16 if latent is None else _positive_ints([latent], "latent")[0]

    # Forward arithmetic: the spatial size after every stride-2 convolution.
    stride, pad = 2, (k - 1) // 2
    sizes = [(height, width)]
    for _ in channels:
        h, w = sizes[-1]
        sizes.append((conv_output_size(h, k, stride, pad), conv_output_size(w, k, stride, pad)))
        if min(sizes[-1]) < 1:
            raise ValueError(f"{_OWNER}: input_shape {tuple(input_shape)} is too small for "
                             f"{len(channels)} stride-2 convolutions with kernel {k} "
                             f"(spatial sizes {sizes})")
    h_last, w_last = sizes[-1]
    if code == "conv":
        if bottleneck is None:
            bottleneck = (latent, 1, 1)
        if bottleneck[1] > h_last or bottleneck[2] > w_last:
            raise ValueError(f"{_OWNER}: bottleneck {bottleneck} is larger than the last "
                             f"feature map ({channels[-1]}, {h_last}, {w_last})")

    g = as_generator(rng)
    chans = [c_in, *channels]
    enc: list[Layer] = []
    for a, b in zip(chans[:-1], chans[1:]):
        enc += [Conv2D(a, b, k, stride, pad, rng=g, dtype=dtype), get_activation(activation)]
    dec: list[Layer] = []
    code_act = get_activation(code_activation)
    if code == "dense":
        flat = channels[-1] * h_last * w_last
        enc += [Flatten(), Dense(flat, latent, rng=g, dtype=dtype,
                                 init=_he_or_xavier(code_act)), code_act]
        act = get_activation(activation)
        dec += [Dense(latent, flat, rng=g, dtype=dtype, init=_he_or_xavier(act)), act,
                Reshape((channels[-1], h_last, w_last))]
    else:
        # A "valid" convolution whose kernel spans the map down to the bottleneck's size
        # (the whole map for a (c, 1, 1) code), and its transpose back up.
        kernel = (h_last - bottleneck[1] + 1, w_last - bottleneck[2] + 1)
        enc += [Conv2D(channels[-1], latent, kernel, rng=g, dtype=dtype), code_act]
        dec += [ConvTranspose2D(latent, channels[-1], kernel, rng=g, dtype=dtype),
                get_activation(activation)]
    # Mirror the encoder; output_padding restores what each convolution's floor dropped.
    for i in range(len(channels), 0, -1):
        (h, w), (ho, wo) = sizes[i - 1], sizes[i]
        op = (h - conv_transpose_output_size(ho, k, stride, pad),
              w - conv_transpose_output_size(wo, k, stride, pad))
        last = i == 1
        dec += [ConvTranspose2D(chans[i], chans[i - 1], k, stride, pad, op, rng=g, dtype=dtype),
                get_activation(output_activation if last else activation)]
    return Sequential(*enc), Sequential(*dec)


def conv_autoencoder(input_shape: tuple[int, int, int] = (1, 28, 28),
                     channels: tuple[int, ...] | list[int] = (16, 32), latent: int | None = None,
                     *, kernel_size: int = 3, code: str | None = None,
                     bottleneck: tuple[int, int, int] | None = None, activation: str = "relu",
                     output_activation: str = "sigmoid", code_activation: str = "identity",
                     loss: str = "mse", rng: Any = None, dtype: Any = np.float32,
                     model: type | None = None, **model_kwargs: Any) -> Autoencoder:
    """A convolutional autoencoder in one line (see the module docstring for the table).

    Parameters
    ----------
    input_shape : (C, H, W)
        Shape of one image; the model takes batches ``(N, C, H, W)``.
    channels : sequence of int
        Output channels of each stride-2 convolution of the encoder (each halves
        the resolution, rounding up for odd sizes); the decoder mirrors them.
    latent : int, optional
        Size of the code (default 16); with ``code="conv"``, its number of channels.
    kernel_size : int
        Kernel of every stride-2 convolution; padding is ``(kernel_size - 1) // 2``.
    code : {"dense", "conv"}, optional
        ``"dense"`` (the default): ``Flatten`` + ``Dense`` to a vector of ``latent``
        numbers, and ``Dense`` + ``Reshape`` back. ``"conv"``: a convolution down to
        a code of shape ``bottleneck`` (default ``(latent, 1, 1)``) and a transposed
        convolution back; no dense layer anywhere.
    bottleneck : (c, h, w), optional
        The shape of a convolutional code (implies ``code="conv"``): the lecture's
        ``(2, 1, 1)``, ``(4, 1, 1)``, ``(32, 1, 1)``. Reached by a convolution with
        kernel ``(H' - h + 1, W' - w + 1)``, no padding, on the last ``(C', H', W')``
        map: for ``(c, 1, 1)`` a kernel covering the whole map.
    activation, output_activation, code_activation : str
        Names for :func:`npae.layers.get_activation`: after every hidden layer, after
        the decoder's last layer, after the code (linear by default).
    loss : {"mse", "bce"}
    rng : Generator or int, optional
        Initial weights, and the model's own randomness (shuffling, noise).
    dtype : float dtype
        ``float32`` to train, ``float64`` for gradient checks.
    model : type, optional
        The model class (``Autoencoder`` by default), e.g.
        :class:`~npae.models.denoising.DenoisingAutoencoder` or
        :class:`~npae.models.sparse.SparseAutoencoder`; ``model_kwargs`` go to its
        constructor (``noise=...``, ``penalty=..., rho=...``). The contractive
        autoencoder refuses a convolutional encoder (its penalty differentiates
        Dense layers only).

    Returns
    -------
    Autoencoder (or ``model``)

    Raises
    ------
    ValueError
        For a malformed shape, channel list or kernel, an unknown ``code``, a
        ``bottleneck`` larger than the last map or contradicting ``latent``, or an
        input too small for the number of convolutions.

    Examples
    --------
    >>> ae = conv_autoencoder((1, 28, 28), (16, 32), 16, rng=0)
    >>> ae.encode(np.zeros((5, 1, 28, 28), np.float32)).shape
    (5, 16)
    >>> conv_autoencoder(bottleneck=(2, 1, 1), rng=0).encode(
    ...     np.zeros((5, 1, 28, 28), np.float32)).shape
    (5, 2, 1, 1)
    """
    g = as_generator(rng)
    enc, dec = conv_layers(input_shape, channels, latent, kernel_size=kernel_size, code=code,
                           bottleneck=bottleneck, activation=activation,
                           output_activation=output_activation,
                           code_activation=code_activation, rng=g, dtype=dtype)
    cls = model or Autoencoder
    return cls(enc, dec, loss=loss, rng=g, **model_kwargs)


def _n_params(layer: Layer) -> int:
    return sum(int(p.size) for _, p, _ in layer.parameters())


def describe(layer: Layer) -> str:
    """``Conv2D(1, 16, k=3, s=2, p=1)``: the layer's constructor arguments, compactly."""
    short = {"kernel_size": "k", "stride": "s", "padding": "p", "output_padding": "op",
             "scale_factor": "scale"}
    args = []
    for key, v in layer.config().items():
        if key in ("dtype", "init"):
            continue
        if isinstance(v, list) and len(v) == 2 and v[0] == v[1]:
            v = v[0]
        if isinstance(v, list):
            v = "x".join(map(str, v))
        args.append(f"{short[key]}={v}" if key in short else
                    (str(v) if key.endswith(("channels", "features")) else f"{key}={v}"))
    return f"{type(layer).__name__}({', '.join(args)})"


def summary(model: Any, input_shape: tuple[int, ...]) -> str:
    """A table of every layer of ``model``: output shape (of one sample) and parameter count.

    Works for any model with an ``encoder`` and a ``decoder`` (it runs one forward
    pass of a single zero input, in inference mode).

    Parameters
    ----------
    model : Autoencoder
    input_shape : tuple of int
        One sample's shape, without the batch axis: ``(1, 28, 28)`` or ``(784,)``.

    Returns
    -------
    str
        One line per layer, then the total.
    """
    from npae.backend import to_device

    x = to_device(np.zeros((1, *(int(s) for s in input_shape)), dtype=model.dtype))
    rows = [("input", "x".join(map(str, x.shape[1:])), "")]
    for part in ("encoder", "decoder"):
        for i, layer in enumerate(getattr(model, part).layers):
            x = layer.forward(x, training=False)
            n = _n_params(layer)
            rows.append((f"{part}.{i} {describe(layer)}", "x".join(map(str, x.shape[1:])),
                         f"{n:,}" if n else ""))
    total = _n_params(model.encoder) + _n_params(model.decoder)
    rows.append(("total", "", f"{total:,}"))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len("output"), *(len(r[1]) for r in rows))
    lines = [f"{'layer':<{w0}}  {'output':>{w1}}  {'parameters':>10}"]
    lines += [f"{a:<{w0}}  {b:>{w1}}  {c:>10}" for a, b, c in rows]
    return "\n".join(lines)
