"""One epoch of a dense autoencoder, npae against PyTorch on the CPU.

Model: 784-256-64-32 with ReLU, mirrored decoder, sigmoid output, MSE, Adam,
batch 128, float32, 10,000 MNIST-shaped samples. Run: ``python -m benchmarks.dense_ae``.
"""

from __future__ import annotations

import numpy as np

from benchmarks._harness import (
    best_of,
    blas_info,
    limit_threads,
    mnist_like,
    peak_memory_mb,
    try_torch,
)
from benchmarks._harness import threads as n_threads
from benchmarks._harness import torch_epoch as torch_train_epoch
from npae.models import dense_autoencoder
from npae.optim import Adam

SIZES = (784, [256, 64], 32)
N, BATCH = 10_000, 128


def npae_epoch(X: np.ndarray):
    model = dense_autoencoder(*SIZES, rng=0)
    opt = Adam(1e-3)
    return lambda: model.fit(X, epochs=1, batch_size=BATCH, optimizer=opt, verbose=0)


def torch_epoch(X: np.ndarray, device: str = "cpu"):
    torch = try_torch()
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(),
                          nn.Linear(64, 32), nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 256),
                          nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid()).to(device)
    loss_fn = nn.MSELoss()
    return torch_train_epoch(model, X, lambda xb: loss_fn(model(xb), xb), device, BATCH)


def run() -> dict:
    X = mnist_like(N)
    n = n_threads()
    with limit_threads(n):
        result = {"benchmark": "dense AE epoch (784-256-64-32, batch 128, 10k samples)",
                  "threads": n, "blas": blas_info()}
        result["npae_s"] = best_of(npae_epoch(X))
        result["npae_peak_mb"] = peak_memory_mb(npae_epoch(X))
        if try_torch() is not None:
            result["torch_s"] = best_of(torch_epoch(X))
            result["ratio"] = result["npae_s"] / result["torch_s"]
    return result


if __name__ == "__main__":
    r = run()
    print(f"{r['benchmark']}, {r['threads']} threads; numpy BLAS: {r['blas']}")
    print(f"npae    {r['npae_s']:.3f} s/epoch  ({N / r['npae_s']:.0f} samples/s), "
          f"peak {r['npae_peak_mb']:.1f} MiB")
    if "torch_s" in r:
        print(f"PyTorch {r['torch_s']:.3f} s/epoch  ratio npae/PyTorch = {r['ratio']:.2f} "
              "(target <= 1.0)")
    else:
        print("PyTorch not installed: no ratio")
