r"""The linear autoencoder with tied weights: one matrix encodes, its transpose decodes.

Deck 004 of the course writes it for column data as ``Y = W X``, ``X_hat = W^T Y``,
``E = ||X - W^T W X||^2``. npae's rows are samples, so with ``W`` of shape ``(d, k)``
(the deck's ``W`` transposed):

.. math::
    h = x W, \qquad \hat x = h W^\top = x W W^\top, \qquad
    L = \operatorname{mse}(\hat x, x).

There are no biases (the deck's model has none): train it on centred data, as
:func:`npae.linear.compare` does, and it fits a subspace through the mean like PCA.

``W`` is used twice, so its gradient has two terms. With ``R = dL/dx_hat`` (N, d):

.. math::
    \frac{\partial L}{\partial W} =
    \underbrace{x^\top (R W)}_{\text{encoder: } h = xW,\ \partial L/\partial h = R W}
    + \underbrace{R^\top h}_{\text{decoder: } \hat x = h W^\top} .

The decoder layer computes its term during its backward pass and hands it to the
encoder layer, which adds it to its own; the model's loss then needs no special code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from npae.arguments import as_generator
from npae.backend import Array
from npae.layers.base import Layer, new_param
from npae.models.autoencoder import Autoencoder

__all__ = ["TiedLinearAutoencoder", "TiedEncoder", "TiedDecoder"]


class TiedEncoder(Layer):
    r"""``h = x W`` with ``W`` (d, k), no bias; ``dL/dW = x^T dh`` plus the decoder's
    term (``R^T h``) when a :class:`TiedDecoder` sharing ``W`` has handed one over.

    Parameters
    ----------
    in_features, out_features : int
        ``d`` and ``k``.
    rng : Generator or int, optional
        Initial weights, normal with standard deviation ``1 / sqrt(d)``.
    dtype : float dtype
    """

    skips_input_grad = True

    def __init__(self, in_features: int, out_features: int, *, rng: Any = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"TiedEncoder: {name} must be a positive int, got {value!r}")
        self._config = {"in_features": int(in_features), "out_features": int(out_features)}
        W = as_generator(rng).standard_normal((in_features, out_features)) / np.sqrt(in_features)
        self.params = {"W": new_param(W, np.dtype(dtype))}
        self.grads = {"W": None}
        self._x: Array | None = None
        self._decoder_term: Array | None = None

    def forward(self, x: Array, training: bool = True) -> Array:
        self._check_input(x, 2, 1, self.params["W"].shape[0])
        if training:
            self._x = x
        return x @ self.params["W"]

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        if self._x is None:
            raise RuntimeError("TiedEncoder.backward: call forward(x, training=True) first")
        grad = self._x.T @ dy
        if self._decoder_term is not None:  # W's second use, in the decoder
            grad = grad + self._decoder_term
            self._decoder_term = None
        self.grads["W"] = grad
        return dy @ self.params["W"].T if input_grad else None


class TiedDecoder(Layer):
    r"""``x_hat = h W^T`` with the ``W`` of ``encoder``; no parameters of its own.

    Its backward returns ``dL/dh = R W`` and hands ``R^T h``, the gradient of ``W``
    through this use, to the encoder, whose backward (run next) adds it.
    """

    def __init__(self, encoder: TiedEncoder) -> None:
        super().__init__()
        if not isinstance(encoder, TiedEncoder):
            raise TypeError(f"TiedDecoder: encoder must be a TiedEncoder, got "
                            f"{type(encoder).__name__}")
        self.encoder = encoder
        self._h: Array | None = None

    def forward(self, h: Array, training: bool = True) -> Array:
        self._check_input(h, 2, 1, self.encoder.params["W"].shape[1], "code units")
        if training:
            self._h = h
        return h @ self.encoder.params["W"].T

    def backward(self, dy: Array) -> Array:
        if self._h is None:
            raise RuntimeError("TiedDecoder.backward: call forward(h, training=True) first")
        self.encoder._decoder_term = dy.T @ self._h
        return dy @ self.encoder.params["W"]


class TiedLinearAutoencoder(Autoencoder):
    r"""Linear autoencoder ``x_hat = x W W^T`` with tied weights (deck 004's model).

    Parameters
    ----------
    input_dim, latent : int
        ``d`` and ``k``.
    reduction : {"mean", "sum", "batchmean"}
        Of the squared error (``"mean"``: per pixel).
    rng : Generator or int, optional
        Initial weights and the model's randomness.
    dtype : float dtype

    Notes
    -----
    The minimisers of ``||X_c - X_c W W^T||^2`` are the ``W`` whose columns are an
    orthonormal basis of the top-``k`` principal subspace of the centred data ``X_c``,
    in any rotation: unlike the untied model (where any invertible mix ``A`` of the
    components is optimal), tying leaves only the freedom ``W -> W Q`` with ``Q``
    orthogonal, so the learned basis is orthonormal, though not ordered by variance.
    """

    def __init__(self, input_dim: int, latent: int, *, reduction: str = "mean",
                 rng: Any = None, dtype: Any = np.float32) -> None:
        g = as_generator(rng)
        enc = TiedEncoder(input_dim, latent, rng=g, dtype=dtype)
        super().__init__(enc, TiedDecoder(enc), "mse", reduction=reduction, rng=g)

    @property
    def W(self) -> Array:
        """The shared weight, ``(d, k)``."""
        return self.encoder.layers[0].params["W"]
