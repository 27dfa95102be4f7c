"""Convolutions, npae against PyTorch on the CPU: one layer, then one epoch of a model.

(a) ``Conv2D(16, 32, 3, stride=1, padding=1)`` forward + backward on a float32
    batch (128, 16, 28, 28): :func:`benchmarks.conv_layer.run`, reused as is.
(b) One epoch of the convolutional autoencoder of :func:`npae.models.convolutional.
    conv_autoencoder` with its defaults: 1 -> 16 -> 32 channels by stride-2 3x3
    convolutions (28 -> 14 -> 7), a 16-unit dense code, the mirrored transposed
    convolutions, sigmoid output, MSE, Adam (lr 1e-3), batch 128, on 10,000
    MNIST-shaped images (real MNIST when it is at hand), float32.

Both libraries run in the same process with the same thread count (BLAS through
threadpoolctl, ``torch.set_num_threads``). For (b) the epochs alternate between
the libraries, so that load from other processes hits both alike; the best
epoch of each is reported, with the median. The peak memory of the npae epoch
is measured with tracemalloc (NumPy reports its buffers there).

Run from the repository root: ``python -m benchmarks.conv`` (``NPAE_BENCH_THREADS``
sets the thread count, default every core; ``--rounds R`` the epochs per library).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import numpy as np

from benchmarks import conv_layer
from benchmarks._harness import blas_info, limit_threads, mnist_like, peak_memory_mb, try_torch
from benchmarks._harness import threads as n_threads
from benchmarks._harness import torch_epoch as torch_train_epoch
from npae.models.convolutional import conv_autoencoder
from npae.optim import Adam

N, BATCH, CHANNELS, LATENT = 10_000, 128, (16, 32), 16
ROUNDS = 3


def images(n: int = N) -> np.ndarray:
    return np.ascontiguousarray(mnist_like(n).reshape(n, 1, 28, 28))


def npae_epoch(X: np.ndarray) -> Callable[[np.ndarray], object]:
    """A fresh model and optimizer; the returned function trains one epoch on its argument."""
    model = conv_autoencoder((1, 28, 28), CHANNELS, LATENT, rng=0)
    opt = Adam(1e-3)
    return lambda data=X: model.fit(data, epochs=1, batch_size=BATCH, optimizer=opt, verbose=0)


def torch_epoch(X: np.ndarray, device: str = "cpu") -> Callable[[np.ndarray], object]:
    """The same model, loss, optimizer and batches in PyTorch on ``device`` (its own
    initial weights: the work of an epoch does not depend on their values)."""
    torch = try_torch()
    nn = torch.nn
    torch.manual_seed(0)
    c1, c2 = CHANNELS
    model = nn.Sequential(
        nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(c2 * 49, LATENT),
        nn.Linear(LATENT, c2 * 49), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
        nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid()
    ).to(device)
    loss_fn = nn.MSELoss()
    return torch_train_epoch(model, X, lambda xb: loss_fn(model(xb), xb), device, BATCH)


def _time(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def model_epoch(rounds: int = ROUNDS) -> dict:
    """Part (b): seconds per epoch of each library, their ratio, npae's peak memory."""
    X = images()
    result = {"benchmark": f"conv AE epoch (1-{CHANNELS[0]}-{CHANNELS[1]} stride-2 convs, "
                           f"{LATENT}-unit code, batch {BATCH}, {N} samples)"}
    epochs = {"npae": npae_epoch(X)}
    if try_torch() is not None:
        epochs["torch"] = torch_epoch(X)
    for fn in epochs.values():  # warm up (scratch buffers, thread pools) on a few batches
        fn(X[:4 * BATCH])
    times: dict[str, list[float]] = {name: [] for name in epochs}
    for _ in range(rounds):
        for name, fn in epochs.items():
            times[name].append(_time(fn))
    for name, ts in times.items():
        result[f"{name}_s"] = min(ts)
        result[f"{name}_median_s"] = float(np.median(ts))
    # Memory allocated on top of the data (which exists before the epoch) by a fresh model's
    # first epoch, scratch buffers included. The peak is reached within the first batches
    # (measured: the same for 2,000 and 10,000 samples), so a fifth of the data suffices.
    result["npae_peak_mb"] = peak_memory_mb(lambda: npae_epoch(X)(X[:N // 5]))
    result["data_mb"] = X.nbytes / 2**20
    if "torch_s" in result:
        result["ratio"] = result["npae_s"] / result["torch_s"]
        result["ratio_median"] = result["npae_median_s"] / result["torch_median_s"]
    return result


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "unknown"


def run(rounds: int = ROUNDS) -> dict:
    """Both parts, as ``{"layer": {...}, "model": {...}}`` plus the threads, BLAS and load."""
    n = n_threads()
    load_before = _load()
    layer = conv_layer.run()
    with limit_threads(n):
        model = model_epoch(rounds)
        info = blas_info()
    return {"benchmark": "convolutions: Conv2D layer and conv AE epoch", "threads": n,
            "blas": info, "load_average": f"{load_before} (before) / {_load()} (after)",
            "layer": layer, "model": model}


def _report(r: dict) -> None:
    print(f"{r['benchmark']}, {r['threads']} threads; numpy BLAS: {r['blas']}")
    print(f"load average (1, 5, 15 min): {r['load_average']}")
    a, b = r["layer"], r["model"]
    print(f"(a) {a['benchmark']}")
    print(f"    npae    best {a['npae_s'] * 1e3:7.1f} ms   median "
          f"{a['npae_median_s'] * 1e3:7.1f} ms")
    if "torch_s" in a:
        print(f"    PyTorch best {a['torch_s'] * 1e3:7.1f} ms   median "
              f"{a['torch_median_s'] * 1e3:7.1f} ms")
        print(f"    ratio npae/PyTorch = {a['ratio']:.2f} (best), {a['ratio_median']:.2f} "
              "(median); target <= 2.0")
    print(f"(b) {b['benchmark']}")
    print(f"    npae    best {b['npae_s']:6.2f} s   median {b['npae_median_s']:6.2f} s   "
          f"({N / b['npae_s']:.0f} samples/s)")
    print(f"    npae    peak memory {b['npae_peak_mb']:.1f} MiB allocated by a fresh model's "
          f"first epoch on top of the data ({b['data_mb']:.1f} MiB)")
    if "torch_s" in b:
        print(f"    PyTorch best {b['torch_s']:6.2f} s   median {b['torch_median_s']:6.2f} s")
        print(f"    ratio npae/PyTorch = {b['ratio']:.2f} (best), {b['ratio_median']:.2f} "
              "(median); target <= 2.0")
    else:
        print("PyTorch not installed: no ratios")


if __name__ == "__main__":
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else ROUNDS
    _report(run(rounds))
