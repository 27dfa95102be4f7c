"""Shared pieces of the benchmarks: thread limits, timing, memory, PyTorch if present.

Every benchmark times npae and (when installed) PyTorch on the same machine, in
the same run, with the same number of threads, and reports ratios: absolute
seconds depend on the machine, ratios much less.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np


def threads() -> int:
    """Threads for both libraries: NPAE_BENCH_THREADS or every core."""
    return int(os.environ.get("NPAE_BENCH_THREADS", os.cpu_count() or 1))


@contextmanager
def limit_threads(n: int):
    """Cap BLAS (numpy) and PyTorch at ``n`` threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    torch = try_torch()
    if torch is not None:
        torch.set_num_threads(n)
    with threadpool_limits(limits=n):
        yield


def blas_info() -> str:
    """Which BLAS numpy calls, and its kernel (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return "unknown (threadpoolctl not installed)"
    rows = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
            f"{i.get('num_threads')} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(rows) or "none found"


def try_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


PAUSE = 0.3  # seconds before each timed call (see timed_rounds)


def timed_rounds(runs: list[tuple[Callable[[], object], Callable[[], None]]], repeat: int
                 ) -> list[float]:
    """Best wall time of each ``(fn, synchronize)`` over ``repeat`` rounds, after one
    warm-up each. The rounds alternate between the functions, so that a machine
    that speeds up or slows down during the run affects npae and PyTorch alike,
    with a pause before each timed call: OpenBLAS's and OpenMP's worker threads
    keep spinning for a while after a call and would slow down the other library."""
    for fn, sync in runs:
        fn()
        sync()
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for i, (fn, sync) in enumerate(runs):
            time.sleep(PAUSE)
            t = time.perf_counter()
            fn()
            sync()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def best_of(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Smallest wall time of ``repeat`` calls after ``warmup`` calls (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def gpu_pool_mb(fn: Callable[[], object]) -> float:
    """Device memory (MiB) that CuPy's pool had to add while ``fn`` ran.

    The pool keeps every block it hands out for reuse, so starting from a pool
    emptied of free blocks, its growth is the run's high-water mark above what
    was already in use (the data and the model, which the CPU column, traced
    from the same point, leaves out too). CuPy reports no peak itself.
    """
    import cupy  # type: ignore[import-not-found]

    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    before = pool.total_bytes()
    fn()
    cupy.cuda.Device().synchronize()
    return (pool.total_bytes() - before) / 2**20


def peak_memory_mb(fn: Callable[[], object]) -> float:
    """Peak traced allocation (MiB) while ``fn`` runs; NumPy reports its buffers to tracemalloc."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def with_kernels(name: str, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with ``npae.kernels.use(name)`` in force (the previous set restored after
    each call), so that rounds alternating with other steps time the kernels asked for."""
    from npae import kernels

    def run() -> object:
        was = kernels.active()
        kernels.use(name)
        try:
            return fn()
        finally:
            kernels.use(was)

    return run


def mnist_like(n: int, seed: int = 0) -> np.ndarray:
    """``n`` MNIST-shaped images (784 floats in [0, 1]); real MNIST when it is at hand."""
    try:
        from npae import data

        X, _ = data.load("mnist", split="train")[:2]
        return np.ascontiguousarray(X[:n].reshape(n, -1), dtype=np.float32)
    except Exception:
        rng = np.random.default_rng(seed)
        return (rng.random((n, 784)) ** 4).astype(np.float32)  # mostly dark, like digits


def torch_module_step(module: Any, x: np.ndarray, dy: np.ndarray, device: str = "cpu"
                      ) -> Callable[[], object]:
    """Forward of a PyTorch ``module`` on ``x``, then backward of ``dy``, input gradient
    included (what npae's ``layer.forward(x); layer.backward(dy)`` computes)."""
    torch = try_torch()
    xt = torch.from_numpy(x).to(device).requires_grad_(True)
    dyt = torch.from_numpy(dy).to(device)

    def step():
        xt.grad = None
        module.zero_grad(set_to_none=True)
        module(xt).backward(dyt)
        return xt.grad

    return step


def torch_epoch(model, X: np.ndarray, loss_of: Callable, device: str = "cpu",
                batch: int = 128, lr: float = 1e-3) -> Callable[..., None]:
    """One epoch of Adam on shuffled minibatches of ``X`` in PyTorch, as npae's ``fit`` does.

    ``loss_of(xb)`` returns the batch loss. The returned function trains one epoch
    on ``X`` (or on the array it is given); data go to ``device`` once per array,
    as ``fit`` moves its data once, and the loss is read once per batch, as in npae.
    """
    torch = try_torch()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    moved: dict = {}

    def epoch(data: np.ndarray = X) -> None:
        key = (data.__array_interface__["data"][0], data.shape)
        if key not in moved:
            moved.clear()
            moved[key] = torch.from_numpy(data).to(device)  # no copy on the CPU
        Xt = moved[key]
        for idx in torch.randperm(len(Xt), generator=g).to(device).split(batch):
            xb = Xt[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_of(xb)
            loss.backward()
            opt.step()
            loss.item()

    return epoch


def torch_vae_loss(torch, enc, dec) -> Callable:
    """The Bernoulli VAE's -ELBO per sample in PyTorch (logits decoder, Gaussian KL),
    the objective npae's VAE benchmarks race against."""
    F = torch.nn.functional

    def loss_of(x):
        mu, logvar = enc(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = F.binary_cross_entropy_with_logits(dec(z), x, reduction="sum")
        kl = 0.5 * (mu * mu + logvar.exp() - logvar - 1).sum()
        return (rec + kl) / len(x)

    return loss_of
