"""Fully connected layer."""

from __future__ import annotations

import numpy as np

from npae.arguments import as_generator, check_float_dtype, is_int
from npae.backend import Array
from npae.layers.base import Layer, new_param


class Dense(Layer):
    r"""Affine map ``y = x W + b``.

    Shapes: ``x (N, n_in)``, ``W (n_in, n_out)``, ``b (n_out,)``, ``y (N, n_out)``.

    Backward, with ``dy = dL/dy``:

    .. math::
        \frac{\partial L}{\partial W} = x^\top dy, \qquad
        \frac{\partial L}{\partial b} = \sum_n dy_{n,:}, \qquad
        \frac{\partial L}{\partial x} = dy\, W^\top .

    Initialisation: ``init="xavier"`` (Glorot) draws ``W ~ U(-a, a)`` with
    ``a = sqrt(6 / (n_in + n_out))``, which keeps the variance of activations and
    gradients equal across tanh/sigmoid/linear layers; ``init="he"`` draws
    ``W ~ N(0, 2 / n_in)``, the right scale for ReLU. ``b = 0``.
    """

    skips_input_grad = True

    def __init__(self, in_features: int, out_features: int, *, rng=None,
                 dtype=np.float32, init: str = "xavier") -> None:
        super().__init__()
        sizes = (in_features, out_features)
        # int() would turn 4.7 into 4 and True into 1: only integer types are sizes
        if any(not is_int(v) for v in sizes):
            raise TypeError(
                f"Dense: in_features and out_features must be integers, "
                f"got {in_features!r} and {out_features!r}")
        if min(sizes) < 1:
            raise ValueError(
                f"Dense: in_features and out_features must be >= 1, "
                f"got {in_features} and {out_features}")
        if init not in ("xavier", "he"):
            raise ValueError(f"Dense: init must be 'xavier' or 'he', got {init!r}")
        dtype = check_float_dtype(dtype, "Dense")
        n_in, n_out = int(in_features), int(out_features)
        g = as_generator(rng)
        if init == "xavier":
            a = np.sqrt(6.0 / (n_in + n_out))
            W = g.uniform(-a, a, size=(n_in, n_out))
        else:
            W = g.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
        self.params = {"W": new_param(W, dtype), "b": new_param(np.zeros(n_out), dtype)}
        self.grads = {k: None for k in self.params}
        self.in_features, self.out_features = n_in, n_out
        self._config = {"in_features": n_in, "out_features": n_out,
                        "dtype": dtype.name, "init": init}

    def forward(self, x: Array, training: bool = True) -> Array:
        self._check_input(x, 2, 1, self.in_features)
        self._x = x
        y = x @ self.params["W"]
        y += self.params["b"]  # in place: one output array, not two
        return y

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        self.grads["W"] = self._x.T @ dy
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T if input_grad else None
