"""One Conv2D layer, forward + backward, npae against PyTorch on the CPU.

Layer: ``Conv2D(16, 32, 3, stride=1, padding=1)`` on a float32 batch of shape
(128, 16, 28, 28) with a random upstream gradient; backward computes dx, dW and
db in both libraries. Both run with the same thread count (BLAS for numpy,
``torch.set_num_threads`` for PyTorch), in alternating blocks of rounds so that
load from other processes hits both alike; the best and the median round of
each are reported, and npae's layer once more on its reference kernels
(:mod:`npae.kernels.reference`, the formulas as written).

Run from the repository root: ``python -m benchmarks.conv_layer``
(``NPAE_BENCH_THREADS`` sets the thread count, default: every core).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from benchmarks._harness import (
    blas_info,
    limit_threads,
    torch_module_step,
    try_torch,
    with_kernels,
)
from benchmarks._harness import threads as n_threads
from npae.layers import Conv2D

N, C_IN, C_OUT, SIZE, K, STRIDE, PAD = 128, 16, 32, 28, 3, 1, 1
ROUNDS = 8
BLOCKS = 2


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C_IN, SIZE, SIZE), dtype=np.float32)
    out = (SIZE + 2 * PAD - K) // STRIDE + 1
    dy = rng.standard_normal((N, C_OUT, out, out), dtype=np.float32)
    return x, dy


def npae_step(x: np.ndarray, dy: np.ndarray) -> Callable[[], object]:
    layer = Conv2D(C_IN, C_OUT, K, stride=STRIDE, padding=PAD, rng=0, dtype=np.float32)

    def step():
        layer.forward(x)
        return layer.backward(dy)

    return step


def torch_step(x: np.ndarray, dy: np.ndarray, device: str = "cpu") -> Callable[[], object]:
    torch = try_torch()
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(C_IN, C_OUT, K, stride=STRIDE, padding=PAD).to(device)
    return torch_module_step(conv, x, dy, device)


def _time(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run(rounds: int = ROUNDS) -> dict:
    x, dy = _data()
    n = n_threads()
    with limit_threads(n):
        result = {"benchmark": f"Conv2D({C_IN}, {C_OUT}, {K}, stride={STRIDE}, padding={PAD}) "
                               f"forward+backward, float32 batch {(N, C_IN, SIZE, SIZE)}",
                  "threads": n, "blas": blas_info()}
        steps = {"npae": npae_step(x, dy),
                 "reference": with_kernels("reference", npae_step(x, dy))}
        if try_torch() is not None:
            steps["torch"] = torch_step(x, dy)
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(BLOCKS):
            for name, fn in steps.items():
                # Whole blocks, not step-by-step alternation: each library's idle worker
                # threads spin for a while after a call and would slow the other one down.
                time.sleep(0.5)
                fn()  # warm up: caches, buffers, thread pools
                times[name] += [_time(fn) for _ in range(rounds)]
        for name, ts in times.items():
            result[f"{name}_s"] = min(ts)
            result[f"{name}_median_s"] = float(np.median(ts))
        if "torch_s" in result:
            result["ratio"] = result["npae_s"] / result["torch_s"]
            result["ratio_median"] = result["npae_median_s"] / result["torch_median_s"]
    return result


if __name__ == "__main__":
    r = run()
    print(f"{r['benchmark']}, {r['threads']} threads; numpy BLAS: {r['blas']}")
    print(f"npae    best {r['npae_s'] * 1e3:7.1f} ms   median {r['npae_median_s'] * 1e3:7.1f} ms")
    print(f"npae on the reference kernels: best {r['reference_s'] * 1e3:7.1f} ms   median "
          f"{r['reference_median_s'] * 1e3:7.1f} ms ({r['reference_s'] / r['npae_s']:.1f}x)")
    if "torch_s" in r:
        print(f"PyTorch best {r['torch_s'] * 1e3:7.1f} ms   median "
              f"{r['torch_median_s'] * 1e3:7.1f} ms")
        print(f"ratio npae/PyTorch = {r['ratio']:.2f} (best), {r['ratio_median']:.2f} (median); "
              "target <= 2.0")
    else:
        print("PyTorch not installed: no ratio")
