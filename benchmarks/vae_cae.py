"""One epoch of the dense VAE and of the contractive autoencoder, npae against PyTorch.

- VAE: the lecture's FC-VAE 784-400-(20, 20), Bernoulli likelihood, Adam, batch 128.
- Contractive AE: 784-64 sigmoid encoder, 64-784 sigmoid decoder, MSE +
  0.01 * ||dh/dx||_F^2 (closed form ``sum_j (h_j (1 - h_j))^2 sum_i W_ij^2``;
  PyTorch differentiates that formula with autograd), Adam, batch 128.

On 10,000 MNIST-shaped samples, float32. Run: ``python -m benchmarks`` (the suite).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks._harness import torch_epoch as torch_train_epoch
from benchmarks._harness import torch_vae_loss, try_torch
from npae.models import ContractiveAutoencoder, dense_autoencoder, dense_vae
from npae.optim import Adam

BATCH, LAM = 128, 0.01


def npae_vae(X: np.ndarray) -> Callable[[], object]:
    model, opt = dense_vae(784, (400,), 20, rng=0), Adam(1e-3)
    return lambda: model.fit(X, epochs=1, batch_size=BATCH, optimizer=opt, verbose=0)


def torch_vae(X: np.ndarray, device: str = "cpu") -> Callable[[], None]:
    torch = try_torch()
    nn = torch.nn
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 40)).to(device)
    dec = nn.Sequential(nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784)).to(device)
    model = nn.ModuleList([enc, dec])
    return torch_train_epoch(model, X, torch_vae_loss(torch, enc, dec), device, BATCH)


def npae_cae(X: np.ndarray) -> Callable[[], object]:
    model = dense_autoencoder(784, [], 64, code_activation="sigmoid", model=ContractiveAutoencoder,
                              lam=LAM, rng=0)
    opt = Adam(1e-3)
    return lambda: model.fit(X, epochs=1, batch_size=BATCH, optimizer=opt, verbose=0)


def torch_cae(X: np.ndarray, device: str = "cpu") -> Callable[[], None]:
    torch = try_torch()
    nn, F = torch.nn, torch.nn.functional
    torch.manual_seed(0)
    enc, dec = nn.Linear(784, 64).to(device), nn.Linear(64, 784).to(device)
    model = nn.ModuleList([enc, dec])

    def loss_of(x):
        h = torch.sigmoid(enc(x))
        jac = ((h * (1 - h)) ** 2 * (enc.weight ** 2).sum(1)).sum(1).mean()
        return F.mse_loss(torch.sigmoid(dec(h)), x) + LAM * jac

    return torch_train_epoch(model, X, loss_of, device, BATCH)
