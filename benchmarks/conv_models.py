"""The convolutional models of the suite, in npae and (layer for layer) in PyTorch.

- ``classic``: the conv autoencoder most courses and blogs teach first,
  ``Conv2D(1, 16, 3, p=1)`` + ReLU + ``MaxPool2D(2)``, ``Conv2D(16, 32, 3, p=1)`` + ReLU
  + ``MaxPool2D(2)``, ``Flatten`` + ``Dense(1568, 32)`` (the code), then ``Dense(32, 1568)``
  + ReLU, ``Reshape``, ``Upsample2D(2)`` + ``Conv2D(32, 16, 3, p=1)`` + ReLU,
  ``Upsample2D(2)`` + ``Conv2D(16, 1, 3, p=1)`` + Sigmoid; MSE.
- ``cnn``: the lecture's CNN autoencoder with a ``(32, 1, 1)`` convolutional code,
  ``conv_autoencoder((1, 28, 28), (16, 32), bottleneck=(32, 1, 1))``; MSE.
- ``vae``: ``conv_vae((1, 28, 28), (16, 32), 16)`` (4x4 stride-2 convolutions), Bernoulli.

The PyTorch model of each is made from the npae one by :func:`to_torch`, layer
by layer, so the two cannot drift apart. Every epoch is Adam (lr 1e-3) on
batches of 128, float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._harness import torch_epoch as torch_train_epoch
from benchmarks._harness import torch_vae_loss, try_torch
from npae.layers import (
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    ReLU,
    Reshape,
    Sigmoid,
    Upsample2D,
)
from npae.models import Autoencoder, conv_autoencoder, conv_vae
from npae.network import Sequential
from npae.optim import Adam

BATCH = 128


def classic(rng: Any = 0, dtype: Any = np.float32) -> Autoencoder:
    """Conv + ReLU + MaxPool twice, a 32-unit dense code, Upsample + Conv twice."""
    g = np.random.default_rng(rng)
    enc = Sequential(Conv2D(1, 16, 3, padding=1, rng=g, dtype=dtype), ReLU(), MaxPool2D(2),
                     Conv2D(16, 32, 3, padding=1, rng=g, dtype=dtype), ReLU(), MaxPool2D(2),
                     Flatten(), Dense(32 * 7 * 7, 32, rng=g, dtype=dtype))
    dec = Sequential(Dense(32, 32 * 7 * 7, rng=g, dtype=dtype, init="he"), ReLU(),
                     Reshape((32, 7, 7)),
                     Upsample2D(2), Conv2D(32, 16, 3, padding=1, rng=g, dtype=dtype), ReLU(),
                     Upsample2D(2), Conv2D(16, 1, 3, padding=1, rng=g, dtype=dtype), Sigmoid())
    return Autoencoder(enc, dec, rng=g)


def cnn(rng: Any = 0, dtype: Any = np.float32) -> Autoencoder:
    """The lecture's CNN autoencoder with a (32, 1, 1) code."""
    return conv_autoencoder((1, 28, 28), (16, 32), bottleneck=(32, 1, 1), rng=rng, dtype=dtype)


def vae(rng: Any = 0, dtype: Any = np.float32):
    """The convolutional VAE (4x4 stride-2 convolutions, 16-dimensional code)."""
    return conv_vae((1, 28, 28), (16, 32), 16, rng=rng, dtype=dtype)


#: name -> builder of the npae model.
MODELS: dict[str, Callable[..., Any]] = {"classic conv AE": classic,
                                         "CNN AE (32,1,1) code": cnn, "conv VAE": vae}


def torch_layer(layer: Any) -> Any:
    """The PyTorch module computing what the npae ``layer`` computes (None for none)."""
    nn = try_torch().nn
    c = layer.config()
    kind = type(layer).__name__
    if kind == "Conv2D":
        return nn.Conv2d(c["in_channels"], c["out_channels"], tuple(c["kernel_size"]),
                         tuple(c["stride"]), tuple(c["padding"]))
    if kind == "ConvTranspose2D":
        return nn.ConvTranspose2d(c["in_channels"], c["out_channels"], tuple(c["kernel_size"]),
                                  tuple(c["stride"]), tuple(c["padding"]),
                                  tuple(c["output_padding"]))
    if kind == "Dense":
        return nn.Linear(c["in_features"], c["out_features"])
    if kind == "MaxPool2D":
        return nn.MaxPool2d(tuple(c["kernel_size"]), tuple(c["stride"]))
    if kind == "Upsample2D":
        return nn.Upsample(scale_factor=tuple(float(s) for s in c["scale_factor"]),
                           mode="nearest")
    if kind == "Flatten":
        return nn.Flatten()
    if kind == "Reshape":
        return nn.Unflatten(1, tuple(c["shape"]))
    simple = {"ReLU": nn.ReLU, "Sigmoid": nn.Sigmoid, "Identity": nn.Identity}
    if kind in simple:
        return simple[kind]()
    raise ValueError(f"benchmarks: no PyTorch counterpart for {kind}")


def to_torch(seq: Sequential, device: str = "cpu") -> Any:
    """An ``nn.Sequential`` of the counterparts of ``seq``'s layers."""
    torch = try_torch()
    torch.manual_seed(0)
    return torch.nn.Sequential(*(torch_layer(layer) for layer in seq.layers)).to(device)


def npae_epoch(name: str) -> Callable[[np.ndarray], Callable[..., object]]:
    """Factory for the suite: given the data, a function training one epoch of a fresh
    ``name`` model (on its argument, by default the data)."""

    def make(X: np.ndarray) -> Callable[..., object]:
        model, opt = MODELS[name](), Adam(1e-3)
        return lambda data=X: model.fit(data, epochs=1, batch_size=BATCH, optimizer=opt,
                                        verbose=0)

    return make


def torch_epoch(name: str) -> Callable[..., Callable[..., None]]:
    """Factory for the suite: the same model, loss and optimizer in PyTorch."""

    def make(X: np.ndarray, device: str = "cpu") -> Callable[..., None]:
        torch = try_torch()
        F = torch.nn.functional
        ref = MODELS[name]()
        enc, dec = to_torch(ref.encoder, device), to_torch(ref.decoder, device)
        model = torch.nn.ModuleList([enc, dec])
        if name != "conv VAE":
            def loss_of(x):
                return F.mse_loss(dec(enc(x)), x)
        else:
            loss_of = torch_vae_loss(torch, enc, dec)
        return torch_train_epoch(model, X, loss_of, device, BATCH)

    return make
