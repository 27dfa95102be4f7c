"""Element-wise activations ``y = f(a)``.

Every activation has the same backward, ``da = dy * f'(a)``, and exposes
``derivative(a) = f'(a)`` and ``second_derivative(a) = f''(a)`` as functions of
the pre-activation ``a``. The contractive penalty needs both: the Jacobian of a
layer is ``diag(f'(a)) W^T``, and its gradient brings in ``f''(a)``.

With the fast kernels (the default) the forward and backward passes of ``Sigmoid``,
``Tanh``, ``LeakyReLU`` and ``Softplus`` make each result once and finish it in place
(:mod:`npae.kernels.fast.elementwise`: the same numbers with fewer temporaries); with
``npae.kernels.use("reference")`` they run the plain formulas written below.
"""

from __future__ import annotations

from npae import kernels
from npae.backend import Array, get_array_module
from npae.kernels.fast import elementwise
from npae.layers.base import Layer


def _fast() -> bool:
    """Whether the fast kernels are active (else the layers run the plain formulas)."""
    return kernels.active() == "fast"


def sigmoid(a: Array, e: Array | None = None) -> Array:
    r"""Logistic function ``1 / (1 + e^{-a})`` that never overflows.

    ``e = e^{-|a|}`` lies in (0, 1] for every ``a``, so neither branch can overflow:
    ``1 / (1 + e)`` for ``a >= 0`` and ``e / (1 + e)`` for ``a < 0``. A caller that
    already has ``e`` (the BCE with logits) passes it in.

    The numerator, 1 or ``e``, is ``max(e, [a >= 0])``: exact, and several times
    faster than ``where`` on random signs (this runs on every pixel of every batch).
    """
    if e is None and kernels.active() == "reference":  # the plain formula
        return kernels.reference.sigmoid(a)
    xp = get_array_module(a)
    if e is None:
        return elementwise.sigmoid(a)  # the same operations, e made in place
    s = xp.maximum(e, a >= 0)
    s /= e + 1
    return s


def softplus(a: Array) -> Array:
    r"""``log(1 + e^a) = max(a, 0) + log1p(e^{-|a|})``, exact and overflow-free."""
    if kernels.active() == "reference":  # the plain formula
        return kernels.reference.softplus(a)
    return elementwise.softplus(a)  # max(a, 0) + log1p(exp(-|a|)), the log term in place


class Activation(Layer):
    """Base for element-wise activations: caches ``a``, returns ``dy * f'(a)``."""

    def function(self, a: Array) -> Array:
        raise NotImplementedError

    def derivative(self, a: Array) -> Array:
        raise NotImplementedError

    def second_derivative(self, a: Array) -> Array:
        raise NotImplementedError

    def forward(self, x: Array, training: bool = True) -> Array:
        self._a = x
        return self.function(x)

    def backward(self, dy: Array) -> Array:
        return dy * self.derivative(self._a)


class Identity(Activation):
    r"""``f(a) = a``; ``f'(a) = 1``; ``f''(a) = 0``."""

    def function(self, a: Array) -> Array:
        return a

    def derivative(self, a: Array) -> Array:
        return get_array_module(a).ones_like(a)

    def second_derivative(self, a: Array) -> Array:
        return get_array_module(a).zeros_like(a)

    def backward(self, dy: Array) -> Array:
        return dy  # gradients are never written in place, so passing dy on is safe


class ReLU(Activation):
    r"""``f(a) = max(a, 0)``; ``f'(a) = [a > 0]`` (0 at the kink); ``f''(a) = 0``."""

    def function(self, a: Array) -> Array:
        return get_array_module(a).maximum(a, 0)

    def derivative(self, a: Array) -> Array:
        return (a > 0).astype(a.dtype)

    def second_derivative(self, a: Array) -> Array:
        return get_array_module(a).zeros_like(a)

    def backward(self, dy: Array) -> Array:
        return dy * (self._a > 0)


class LeakyReLU(Activation):
    r"""``f(a) = a`` for ``a > 0`` else ``slope * a``; ``f'(a) = 1`` or ``slope``; ``f'' = 0``."""

    def __init__(self, slope: float = 0.01) -> None:
        super().__init__()
        if not slope >= 0:
            raise ValueError(f"LeakyReLU: slope must be >= 0, got {slope}")
        self.slope = float(slope)
        self._config = {"slope": self.slope}

    def function(self, a: Array) -> Array:
        if _fast():
            return elementwise.leaky_relu(a, self.slope)
        return get_array_module(a).where(a > 0, a, self.slope * a)

    def derivative(self, a: Array) -> Array:
        return get_array_module(a).where(a > 0, 1, self.slope).astype(a.dtype)

    def backward(self, dy: Array) -> Array:
        if _fast():
            return elementwise.leaky_relu_backward(dy, self._a, self.slope)
        return dy * self.derivative(self._a)

    def second_derivative(self, a: Array) -> Array:
        return get_array_module(a).zeros_like(a)


class Sigmoid(Activation):
    r"""``s = f(a) = 1 / (1 + e^{-a})``; ``f'(a) = s (1 - s)``; ``f''(a) = s (1 - s)(1 - 2 s)``."""

    def function(self, a: Array) -> Array:
        return sigmoid(a)

    def derivative(self, a: Array) -> Array:
        s = sigmoid(a)
        return s * (1 - s)

    def second_derivative(self, a: Array) -> Array:
        s = sigmoid(a)
        return s * (1 - s) * (1 - 2 * s)

    def forward(self, x: Array, training: bool = True) -> Array:
        self._a = x
        self._y = sigmoid(x)
        return self._y

    def backward(self, dy: Array) -> Array:
        s = self._y  # reuse the output: f'(a) = s (1 - s) needs no second exp
        if _fast():
            return elementwise.sigmoid_backward(dy, s)
        return dy * s * (1 - s)


class Tanh(Activation):
    r"""``t = tanh(a)``; ``f'(a) = 1 - t^2``; ``f''(a) = -2 t (1 - t^2)``."""

    def function(self, a: Array) -> Array:
        return get_array_module(a).tanh(a)

    def derivative(self, a: Array) -> Array:
        t = get_array_module(a).tanh(a)
        return 1 - t * t

    def second_derivative(self, a: Array) -> Array:
        t = get_array_module(a).tanh(a)
        return -2 * t * (1 - t * t)

    def forward(self, x: Array, training: bool = True) -> Array:
        self._a = x
        self._y = get_array_module(x).tanh(x)
        return self._y

    def backward(self, dy: Array) -> Array:
        t = self._y
        if _fast():
            return elementwise.tanh_backward(dy, t)
        return dy * (1 - t * t)


class Softplus(Activation):
    r"""``f(a) = log(1 + e^a)``; ``f'(a) = sigmoid(a) = s``; ``f''(a) = s (1 - s)``."""

    def function(self, a: Array) -> Array:
        return softplus(a)

    def derivative(self, a: Array) -> Array:
        return sigmoid(a)

    def second_derivative(self, a: Array) -> Array:
        s = sigmoid(a)
        return s * (1 - s)

    def backward(self, dy: Array) -> Array:
        if _fast():  # sigmoid(a) is a fresh array: dy is multiplied into it
            return elementwise.scaled_by(dy, sigmoid(self._a))
        return dy * self.derivative(self._a)


ACTIVATIONS = {"identity": Identity, "linear": Identity, "relu": ReLU,
               "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh,
               "softplus": Softplus}


def get_activation(name: str | Activation) -> Activation:
    """An activation layer from its name (``"relu"``, ``"sigmoid"``, ...) or as given."""
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[str(name).lower()]()
    except KeyError:
        raise ValueError(
            f"npae: unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None
