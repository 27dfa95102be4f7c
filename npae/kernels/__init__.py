r"""The array maths of the layers whose fast form is not their formula.

Two kernel sets compute the same numbers:

- :mod:`npae.kernels.reference`: each kernel written as its formula, the derivation
  in its docstring, a loop over kernel offsets at most. Read it to see how a
  gradient is computed; step through it in a debugger.
- :mod:`npae.kernels.fast` (the default): the same results by routes that move less
  memory (im2col and one BLAS product, scatters by phase, channels-last images),
  each tested against the reference.

The layers (:mod:`npae.layers.conv`, :mod:`~npae.layers.pooling`,
:mod:`~npae.layers.shape`) call the functions below, which run the active set::

    import npae.kernels
    npae.kernels.use("reference")   # every layer now runs the readable kernels
    npae.kernels.active()           # 'reference'
    npae.kernels.use("fast")

or set the environment variable ``NPAE_KERNELS=reference`` before starting Python
(read at the first kernel call, so a bad value never breaks ``import npae``). A layer
runs its backward with the set that ran its forward, whatever was chosen between.
Both sets give the same numbers: float64 to about 1e-12, float32 to about 1e-5.

The reference mode also swaps the numerics tricks of :func:`npae.layers.activations.sigmoid`,
``softplus``, :func:`npae.losses.bce_with_logits`, ``softmax_cross_entropy`` and
:func:`npae.penalties.gaussian_kl`, ``kl_sparsity`` for their plain formulas (the end of
:mod:`npae.kernels.reference`): the same numbers on ordinary inputs, but an overflow
where an exponent passes about 88 (float32) or 709 (float64), which the tricks avoid.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from npae.kernels import fast, reference
from npae.kernels.fast.layout import Workspace
from npae.kernels.reference import conv_output_size, conv_transpose_output_size

Array = Any
Pair = tuple[int, int]

__all__ = ["KERNELS", "use", "active", "current", "Workspace", "conv_output_size",
           "conv_transpose_output_size", "conv2d_forward", "conv2d_backward",
           "conv_transpose2d_forward", "conv_transpose2d_backward", "maxpool2d_forward",
           "maxpool2d_backward", "upsample2d_forward", "upsample2d_backward",
           "reshape_forward", "reshape_backward", "reference", "fast"]

#: The kernel sets by name.
KERNELS: dict[str, ModuleType] = {"fast": fast, "reference": reference}
_active = "fast"
#: ``NPAE_KERNELS``, until the first kernel call applies it (or :func:`use` overrides it).
_requested: str | None = os.environ.get("NPAE_KERNELS") or None


def use(name: str) -> None:
    """Make ``name`` (``"reference"`` or ``"fast"``) the kernel set the layers run.

    Raises
    ------
    ValueError
        For any other name; the active set then stays as it was.
    """
    global _active, _requested
    if name not in KERNELS:
        raise ValueError(f"npae.kernels.use: kernels must be one of {sorted(KERNELS)}, "
                         f"got {name!r}")
    _active, _requested = name, None


def active() -> str:
    """The name of the active kernel set: ``"fast"`` (the default) or ``"reference"``."""
    if _requested is not None:
        try:
            use(_requested)
        except ValueError as err:
            raise ValueError(f"{err} (asked for by the environment variable "
                             f"NPAE_KERNELS={_requested!r})") from None
    return _active


def current() -> ModuleType:
    """The active kernel module, :mod:`npae.kernels.fast` or :mod:`npae.kernels.reference`."""
    return KERNELS[active()]


# -- the kernels the layers call ------------------------------------------------------------
# Each forward returns (output, cache) with the cache tagged by the set that made it, and
# each backward runs that set: its cache means nothing to the other one. Only the fast
# convolutions take ``ws`` (scratch buffers) and skip an unneeded input gradient.

def conv2d_forward(x: Array, W: Array, bias: Array, stride: Pair, padding: Pair, *,
                   ws: Workspace | None = None) -> tuple[Array, tuple]:
    """``(y, cache)`` of :func:`npae.kernels.reference.conv2d_forward`, by the active set."""
    name = active()
    if name == "reference":
        return _tag(name, reference.conv2d_forward(x, W, bias, stride, padding))
    return _tag(name, fast.conv2d_forward(x, W, bias, stride, padding, ws))


def conv2d_backward(dy: Array, cache: tuple, W: Array, stride: Pair, padding: Pair, *,
                    ws: Workspace | None = None, input_grad: bool = True
                    ) -> tuple[Array | None, Array, Array]:
    """``(dx, dW, dbias)`` of :func:`npae.kernels.reference.conv2d_backward` (``dx`` is
    None when ``input_grad`` is False)."""
    name, kept = cache
    if name == "reference":
        dx, dW, db = reference.conv2d_backward(dy, kept, W, stride, padding)
        return (dx if input_grad else None), dW, db
    return fast.conv2d_backward(dy, kept, W, stride, padding, ws, input_grad)


def conv_transpose2d_forward(x: Array, W: Array, bias: Array, stride: Pair, padding: Pair,
                             output_padding: Pair, *, ws: Workspace | None = None
                             ) -> tuple[Array, tuple]:
    """``(y, cache)`` of :func:`npae.kernels.reference.conv_transpose2d_forward`."""
    name = active()
    if name == "reference":
        return _tag(name, reference.conv_transpose2d_forward(x, W, bias, stride, padding,
                                                             output_padding))
    return _tag(name, fast.conv_transpose2d_forward(x, W, bias, stride, padding,
                                                    output_padding, ws))


def conv_transpose2d_backward(dy: Array, cache: tuple, W: Array, stride: Pair, padding: Pair,
                              *, ws: Workspace | None = None, input_grad: bool = True
                              ) -> tuple[Array | None, Array, Array]:
    """``(dx, dW, dbias)`` of :func:`npae.kernels.reference.conv_transpose2d_backward`."""
    name, kept = cache
    if name == "reference":
        dx, dW, db = reference.conv_transpose2d_backward(dy, kept, W, stride, padding)
        return (dx if input_grad else None), dW, db
    return fast.conv_transpose2d_backward(dy, kept, W, stride, padding, ws, input_grad)


def maxpool2d_forward(x: Array, kernel: Pair, stride: Pair) -> tuple[Array, tuple]:
    """``(y, cache)`` of :func:`npae.kernels.reference.maxpool2d_forward`."""
    name = active()
    return _tag(name, KERNELS[name].maxpool2d_forward(x, kernel, stride))


def maxpool2d_backward(dy: Array, cache: tuple, kernel: Pair, stride: Pair) -> Array:
    """``dx`` of :func:`npae.kernels.reference.maxpool2d_backward`."""
    name, kept = cache
    return KERNELS[name].maxpool2d_backward(dy, kept, kernel, stride)


def upsample2d_forward(x: Array, scale: Pair) -> Array:
    """``y`` of :func:`npae.kernels.reference.upsample2d_forward` (no cache needed)."""
    return current().upsample2d_forward(x, scale)


def upsample2d_backward(dy: Array, scale: Pair) -> Array:
    """``dx`` of :func:`npae.kernels.reference.upsample2d_backward`."""
    return current().upsample2d_backward(dy, scale)


def reshape_forward(x: Array, shape: tuple[int, ...]) -> tuple[Array, tuple]:
    """``(y, cache)`` of :func:`npae.kernels.reference.reshape_forward`."""
    name = active()
    return _tag(name, KERNELS[name].reshape_forward(x, shape))


def reshape_backward(dy: Array, cache: tuple) -> Array:
    """``dx`` of :func:`npae.kernels.reference.reshape_backward`."""
    name, kept = cache
    return KERNELS[name].reshape_backward(dy, kept)


def _tag(name: str, result: tuple[Array, Any]) -> tuple[Array, tuple]:
    y, cache = result
    return y, (name, cache)
