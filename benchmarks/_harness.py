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


def mnist_like(n: int, seed: int = 0) -> np.ndarray:
    """``n`` MNIST-shaped images (784 floats in [0, 1]); real MNIST when it is at hand."""
    try:
        from npae import data

        X, _ = data.load("mnist", split="train")[:2]
        return np.ascontiguousarray(X[:n].reshape(n, -1), dtype=np.float32)
    except Exception:
        rng = np.random.default_rng(seed)
        return (rng.random((n, 784)) ** 4).astype(np.float32)  # mostly dark, like digits
