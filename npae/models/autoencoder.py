"""The plain (undercomplete) autoencoder, and the shape every model shares.

An autoencoder is an encoder ``h = f(x)`` and a decoder ``x_hat = g(h)`` trained
to minimise a reconstruction loss ``L(x, g(f(x)))``. The regularized variants
(denoising, sparse, contractive) change one step of :meth:`Autoencoder.loss`
through three hooks, each the identity here:

- ``corrupt(x, rng)``: what the encoder sees (denoising);
- ``code_penalty(h)``: a penalty on the code and its gradient ``dh`` (sparse);
- ``encoder_penalty(x)``: a penalty on the encoder's parameters (contractive).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from npae import backend
from npae.arguments import as_generator, is_int
from npae.backend import Array
from npae.io import load_parameters, save
from npae.layers.activations import Sigmoid, get_activation
from npae.layers.base import Layer
from npae.layers.dense import Dense
from npae.losses import bce, bce_with_logits, mse
from npae.network import Sequential
from npae.registry import MODELS, register

__all__ = ["MODELS", "Autoencoder", "dense_layers", "dense_autoencoder", "check_data",
           "read_parts"]



def check_data(x: Any, owner: str, name: str = "x", dtype: Any = None,
               unit_range: str | None = None) -> Array:
    """Validate data at a model's entry point (one whole-array scan) and place it.

    Refuses non-float arrays (``TypeError``, with the hint to scale uint8 images),
    empty batches, NaN or Inf, and, when ``unit_range`` gives a reason (``"for a
    Bernoulli/BCE reconstruction loss"``), values outside [0, 1] (``ValueError``).
    Returns the array on the active backend, in ``dtype``.
    """
    if not hasattr(x, "dtype"):
        x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(
            f"{owner}: {name} must be a floating-point array, got dtype {x.dtype}; "
            "scale uint8 images to [0, 1] first, e.g. X.astype(np.float32) / 255")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{owner}: {name} must be a non-empty batch (N, ...) with N >= 1, "
                         f"got shape {tuple(x.shape)}")
    x = backend.to_device(x) if backend.current() != "numpy" else x
    if dtype is not None and x.dtype != dtype:
        x = x.astype(dtype)
    xp = backend.get_array_module(x)
    if not bool(xp.isfinite(x).all()):
        bad = int(xp.size(x) - xp.count_nonzero(xp.isfinite(x)))
        raise ValueError(f"{owner}: {name} contains NaN or Inf ({bad} of {x.size} values)")
    if unit_range:
        lo, hi = backend.to_floats(x.min(), x.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"{owner}: {name} must lie in [0, 1] {unit_range}, got values "
                             f"in [{lo}, {hi}]")
    return x


def read_parts(total: Any, parts: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """``(total, parts)`` as Python floats, read from the device in one copy: the
    one host read of a training step, made after its backward pass is queued."""
    values = backend.to_floats(total, *parts.values())
    return values[0], dict(zip(parts, values[1:]))


class Autoencoder:
    r"""Encoder and decoder trained to reconstruct their input.

    .. math:: \min_\theta \; L\big(x,\; g_\theta(f_\theta(x))\big)

    Parameters
    ----------
    encoder, decoder : Layer or Sequential
    loss : {"mse", "bce"}
        Reconstruction loss. With ``"bce"`` and a decoder that ends in
        ``Sigmoid``, the loss is computed from the sigmoid's input with
        :func:`npae.losses.bce_with_logits`: exact for any logit, and the
        gradient ``(x_hat - x) / D`` skips the sigmoid's backward.
    reduction : {"mean", "sum", "batchmean"}
        ``"mean"`` is the per-pixel error the lectures report.
    rng : Generator or int, optional
        Source of all randomness of the model (noise, shuffling, sampling).
    """

    #: :class:`npae.train.Trainable`: learns without labels, and shows no metric besides
    #: the loss in the progress bar.
    supervised = False
    metrics: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register(MODELS, cls)  # a user's class never displaces npae's

    def __init__(self, encoder: Layer, decoder: Layer, loss: str = "mse", *,
                 reduction: str = "mean", rng: Any = None) -> None:
        if loss not in ("mse", "bce"):
            raise ValueError(f"{type(self).__name__}: loss must be 'mse' or 'bce', got {loss!r}")
        if reduction not in ("mean", "sum", "batchmean"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or "
                             f"'batchmean', got {reduction!r}")
        self.encoder = encoder if isinstance(encoder, Sequential) else Sequential(encoder)
        self.decoder = decoder if isinstance(decoder, Sequential) else Sequential(decoder)
        self.loss_name, self.reduction = loss, reduction
        self.rng = as_generator(rng)

    # -- description ---------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Constructor arguments besides encoder, decoder and rng (JSON values)."""
        return {"loss": self.loss_name, "reduction": self.reduction}

    @property
    def dtype(self) -> np.dtype:
        for _, p, _ in self.parameters():
            return p.dtype
        return np.dtype(np.float32)

    def parameters(self) -> Iterator[tuple[str, Array, Array | None]]:
        """Yield ``(name, param, grad)``: ``"encoder.0.W"``, ..., ``"decoder.2.b"``."""
        for prefix, net in (("encoder", self.encoder), ("decoder", self.decoder)):
            for name, p, g in net.parameters():
                yield f"{prefix}.{name}", p, g

    def __repr__(self) -> str:
        return f"{type(self).__name__}(\n encoder={self.encoder!r},\n decoder={self.decoder!r})"

    # -- inference -----------------------------------------------------------
    def check_data(self, x: Any, owner: str | None = None, name: str = "x", *,
                   training: bool = False) -> Array:
        """:func:`check_data` with this model's dtype and range requirement;
        ``training`` marks data that ``loss``, ``evaluate`` or ``fit`` will use."""
        return check_data(x, owner or f"{type(self).__name__}", name, self.dtype,
                          unit_range=self.unit_range(training))

    def unit_range(self, training: bool = False) -> str | None:
        """Why the data must lie in [0, 1], or None when any range will do."""
        return "for a Bernoulli/BCE reconstruction loss" if self.loss_name == "bce" else None

    def encode(self, x: Array) -> Array:
        """The code ``h = f(x)`` (no noise, no training-time behaviour)."""
        x = self.check_data(x, f"{type(self).__name__}.encode")
        return self.encoder.forward(x, training=False)

    def decode(self, z: Array) -> Array:
        """The reconstruction ``g(z)`` of a code."""
        z = check_data(z, f"{type(self).__name__}.decode", "z", self.dtype)
        return self.decoder.forward(z, training=False)

    def reconstruct(self, x: Array) -> Array:
        """``g(f(x))``."""
        x = self.check_data(x, f"{type(self).__name__}.reconstruct")
        return self.decoder.forward(self.encoder.forward(x, training=False), training=False)

    # -- the objective -------------------------------------------------------
    def loss(self, x: Array, rng: Any = None, *, backward: bool = True
             ) -> tuple[float, dict[str, float]]:
        """Forward (and backward) pass on a batch.

        Returns ``(total, parts)``; with ``backward=True`` every parameter's
        gradient of ``total`` is written into the layers' ``grads``. ``rng``
        (a seed or Generator) fixes the randomness of this call; by default the
        model's own generator is used.
        """
        x = self.check_data(x, f"{type(self).__name__}.loss", training=True)
        return self.batch_loss(x, self.rng if rng is None else as_generator(rng), backward)

    def batch_loss(self, x: Array, rng: np.random.Generator, backward: bool
                   ) -> tuple[float, dict[str, float]]:
        """:meth:`loss` on data already validated (the training loop's path)."""
        x_in = self.corrupt(x, rng)
        h = self.encoder.forward(x_in, training=backward)
        x_hat, logits = self.decoder.forward_to_last(h, training=backward)
        parts = {}
        parts["reconstruction"], d_out, fused = self.reconstruction_loss(x_hat, x, logits)
        code_parts, dh_penalty = self.code_penalty(h, backward)
        parts.update(code_parts)
        enc_parts, enc_grads = self.encoder_penalty(x_in, backward)
        parts.update(enc_parts)
        if backward:
            layers = self.decoder.layers[:-1] if fused else self.decoder.layers
            for layer in reversed(layers):
                d_out = layer.backward(d_out)
            if dh_penalty is not None:
                d_out = d_out + dh_penalty  # out of place: d_out may be a layer's cache
            self.encoder.backward(d_out, input_grad=False)
            if enc_grads:
                self.encoder.add_to_grads(enc_grads)
        return read_parts(sum(parts.values()), parts)

    def reconstruction_loss(self, x_hat: Array, x: Array, logits: Array | None = None
                            ) -> tuple[Array, Array, bool]:
        """``(value, gradient, fused)``, the value unread (a 0-d array); ``logits`` is the
        input of the decoder's last layer. ``fused`` means the gradient is with respect to
        the input of the decoder's final Sigmoid (see the class docstring)."""
        if self.loss_name == "mse":
            return (*mse.on_device(x_hat, x, self.reduction), False)
        if logits is not None and self.decoder.layers and isinstance(self.decoder.layers[-1],
                                                                       Sigmoid):
            return (*bce_with_logits.on_device(logits, x, self.reduction, check=False), True)
        return (*bce.on_device(x_hat, x, self.reduction, check=False), False)

    # -- hooks for the regularized variants ----------------------------------
    def corrupt(self, x: Array, rng: np.random.Generator) -> Array:
        """What the encoder sees; the plain autoencoder sees ``x`` itself."""
        return x

    def code_penalty(self, h: Array, backward: bool) -> tuple[dict[str, Any], Array | None]:
        """A penalty on the code: ``({name: value}, dh)``; none here. Values may be 0-d
        arrays: ``batch_loss`` reads all of a batch's values in one copy."""
        return {}, None

    def encoder_penalty(self, x: Array, backward: bool
                        ) -> tuple[dict[str, Any], dict[str, Array] | None]:
        """A penalty on the encoder's parameters: ``({name: value}, {param name: grad})``."""
        return {}, None

    # -- training and evaluation ---------------------------------------------
    def evaluate(self, X: Array, batch_size: int = 512, rng: Any = 0) -> dict[str, float]:
        """Mean loss parts over ``X`` without updating anything.

        ``rng`` defaults to a fixed seed, so a denoising model's validation loss
        uses the same corruption every time it is measured.
        """
        name = f"{type(self).__name__}.evaluate"
        if not is_int(batch_size) \
                or batch_size < 1:
            raise ValueError(f"{name}: batch_size must be a positive int, got {batch_size!r}")
        return self.evaluate_batches(self.check_data(X, name, "X", training=True), batch_size, rng)

    def evaluate_batches(self, X: Array, batch_size: int, rng: Any) -> dict[str, float]:
        """:meth:`evaluate` on data already validated (``fit``'s validation set)."""
        g = as_generator(rng)
        sums: dict[str, float] = {}
        n = X.shape[0]
        for start in range(0, n, batch_size):
            xb = X[start:start + batch_size]
            total, parts = self.batch_loss(xb, g, backward=False)
            for k, v in self.sample_weighted(total, parts, xb.shape[0]).items():
                sums[k] = sums.get(k, 0.0) + v
        return {k: v / n for k, v in sums.items()}

    def sample_weighted(self, total: float, parts: dict[str, float], w: int
                        ) -> dict[str, float]:
        """A batch's share of the per-sample means over many batches (``evaluate``,
        the epoch logs of ``fit``): ``w`` times each batch mean, for a batch of ``w``.

        With ``reduction="sum"`` the reconstruction of a batch is already a sum over
        its ``w`` samples and counts once, so the means do not depend on the batch
        size (a validation set evaluated in batches of 1024 and training batches of
        128 give comparable numbers).
        """
        if self.reduction != "sum":
            return {"loss": total * w, **{k: v * w for k, v in parts.items()}}
        shares = {k: v if k == "reconstruction" else v * w for k, v in parts.items()}
        return {"loss": sum(shares.values()), **shares}

    def fit(self, X: Array, epochs: int = 10, batch_size: int = 128, optimizer: Any = None,
            validation: Array | None = None, **kwargs: Any):
        """Train with minibatches; see :func:`npae.train.fit` for every option."""
        from npae.train import fit

        return fit(self, X, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   validation=validation, **kwargs)

    def save(self, path: str) -> None:
        """Write the architecture and every parameter to one ``.npz`` (atomically)."""
        save(self, path)

    def load_weights(self, path: str) -> None:
        """Load parameters saved from a model of exactly this architecture."""
        load_parameters(self, path)


def dense_layers(input_dim: int, hidden: list[int] | tuple[int, ...], latent: int, *,
                 activation: str = "relu", output_activation: str = "sigmoid",
                 code_activation: str = "identity", rng: Any = None,
                 dtype: Any = np.float32) -> tuple[Sequential, Sequential]:
    """Encoder ``input -> hidden... -> latent`` and the mirrored decoder.

    ReLU-family layers get He initialisation, the others Xavier/Glorot.
    """
    if isinstance(hidden, (int, np.integer)) or not isinstance(hidden, (list, tuple)):
        raise TypeError(f"dense_layers: hidden must be a list of layer widths (e.g. [256, 64], "
                        f"or [] for none), got {hidden!r}")
    g = as_generator(rng)
    sizes = [input_dim, *hidden, latent]  # Dense refuses a width that is not an int

    def stack(dims: list[int], inner: str, last: str) -> Sequential:
        layers: list[Layer] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            act = get_activation(last if i == len(dims) - 2 else inner)
            init = "he" if type(act).__name__ in ("ReLU", "LeakyReLU") else "xavier"
            layers += [Dense(a, b, rng=g, dtype=dtype, init=init), act]
        return Sequential(*layers)

    return (stack(sizes, activation, code_activation),
            stack(sizes[::-1], activation, output_activation))


def dense_autoencoder(input_dim: int, hidden: list[int] | tuple[int, ...], latent: int, *,
                      activation: str = "relu", output_activation: str = "sigmoid",
                      code_activation: str = "identity", loss: str = "mse", rng: Any = None,
                      dtype: Any = np.float32, model: type | None = None,
                      **model_kwargs: Any) -> Autoencoder:
    """A dense autoencoder in one line; the decoder mirrors ``hidden``.

    ``hidden=[]`` gives a single-layer encoder. ``model`` picks the class
    (``Autoencoder`` by default; e.g. ``SparseAutoencoder`` with its keyword
    arguments in ``model_kwargs``). The linear autoencoder is
    ``activation="identity", output_activation="identity"``.

    Examples
    --------
    >>> ae = dense_autoencoder(64, [32], 8, rng=0)
    """
    g = as_generator(rng)
    enc, dec = dense_layers(input_dim, hidden, latent, activation=activation,
                            output_activation=output_activation,
                            code_activation=code_activation, rng=g, dtype=dtype)
    cls = model or Autoencoder
    return cls(enc, dec, loss=loss, rng=g, **model_kwargs)


MODELS["Autoencoder"] = Autoencoder
