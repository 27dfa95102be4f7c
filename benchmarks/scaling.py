"""How the cost grows: epoch time and peak memory, npae against PyTorch, as the batch
and the image grow (``python -m benchmarks --scaling``, ``--plot`` for a figure).

Rows:

- the dense AE of :mod:`benchmarks.dense_ae` (784-256-64-32) at batch 32, 128 and 512;
- the conv autoencoder of :func:`npae.models.conv_autoencoder` (stride-2 3x3
  convolutions 16 -> 32 channels, a 16-unit code, its mirror) at batch 32, 128, 512
  on 28x28x1 images, and at batch 128 on 32x32x3 and 64x64x3 images.

Each row trains one epoch of ``samples`` images (default 2,048; random values in
[0, 1] beyond MNIST's shape) with Adam, npae and PyTorch alternating in one process
with the same threads (the suite's ``timed_rounds``), and reports microseconds per
sample and their ratio. Peak memory is measured the same way for both libraries, each
epoch in a fresh child process: the high-water resident set (``ru_maxrss``) during the
epoch minus the resident set just before it, the data and the model already made (so it
is what training adds: activations, gradients, workspace). The npae column also gives
tracemalloc's peak (NumPy's own buffers), as the suite does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._harness import limit_threads, mnist_like, peak_memory_mb, timed_rounds, try_torch
from benchmarks._harness import threads as n_threads
from benchmarks._harness import torch_epoch as torch_train_epoch
from benchmarks.conv_models import to_torch
from npae.models import conv_autoencoder, dense_autoencoder
from npae.optim import Adam

SAMPLES = 2048
BATCHES = (32, 128, 512)
IMAGES = ((1, 28, 28), (3, 32, 32), (3, 64, 64))

#: (model, input shape, batch) of every row.
CONFIGS: list[tuple[str, tuple[int, ...], int]] = [
    *(("dense AE", (784,), b) for b in BATCHES),
    *(("conv AE", IMAGES[0], b) for b in BATCHES),
    *(("conv AE", shape, 128) for shape in IMAGES[1:]),
]


def data(shape: tuple[int, ...], n: int) -> np.ndarray:
    """``n`` float32 samples of ``shape`` in [0, 1] (MNIST's digits for 784 or 1x28x28)."""
    size = int(np.prod(shape))
    if size == 784:
        return np.ascontiguousarray(mnist_like(n).reshape(n, *shape))
    return (np.random.default_rng(0).random((n, *shape)) ** 2).astype(np.float32)


def _npae_model(kind: str, shape: tuple[int, ...]):
    if kind == "dense AE":
        return dense_autoencoder(784, [256, 64], 32, rng=0)
    return conv_autoencoder(shape, (16, 32), 16, rng=0)


def npae_epoch(kind: str, shape: tuple[int, ...], batch: int, X: np.ndarray
               ) -> Callable[[], object]:
    model, opt = _npae_model(kind, shape), Adam(1e-3)
    return lambda: model.fit(X, epochs=1, batch_size=batch, optimizer=opt, verbose=0)


def torch_epoch(kind: str, shape: tuple[int, ...], batch: int, X: np.ndarray
                ) -> Callable[[], object]:
    """The same model (layer for layer, :func:`benchmarks.conv_models.to_torch`), MSE, Adam."""
    torch = try_torch()
    ref = _npae_model(kind, shape)
    enc, dec = to_torch(ref.encoder), to_torch(ref.decoder)
    model = torch.nn.ModuleList([enc, dec])
    F = torch.nn.functional
    return torch_train_epoch(model, X, lambda x: F.mse_loss(dec(enc(x)), x), "cpu", batch)


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status (Linux), MiB: ``VmRSS`` now, ``VmHWM`` its peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"benchmarks.scaling: no {field} in /proc/self/status")


def _child(lib: str, config: str, samples: int) -> dict[str, float]:
    """In a fresh process: one epoch, and the resident memory it added at its peak;
    ``config`` is the row's ``[model, shape, batch]`` as JSON."""
    kind, shape, batch = json.loads(config)
    shape = tuple(shape)
    X = data(shape, samples)
    with limit_threads(n_threads()):
        epoch = (npae_epoch if lib == "npae" else torch_epoch)(kind, shape, batch, X)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # the peak back to the resident set now (Linux 4.0+)
        before = _status_mb("VmRSS")
        epoch()
        peak = _status_mb("VmHWM")
    return {"rss_mb": max(peak - before, 0.0)}


def _peak_in_child(lib: str, config: tuple, samples: int) -> float | None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, "-m", "benchmarks.scaling", "--child", lib,
                          json.dumps(config), str(samples)], capture_output=True, text=True,
                         env=env, cwd=root, timeout=900)
    if out.returncode != 0:
        print(f"  scaling: the {lib} memory run failed: {out.stderr.strip()[-300:]}",
              file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])["rss_mb"]


def run(repeat: int = 3, samples: int = SAMPLES, memory: bool = True) -> dict[str, Any]:
    """Every row of :data:`CONFIGS`: seconds per epoch, microseconds per sample, ratio,
    peak memory of both libraries."""
    torch = try_torch()
    rows = []
    with limit_threads(n_threads()):
        for kind, shape, batch in CONFIGS:
            X = data(shape, samples)
            runs = [(npae_epoch(kind, shape, batch, X), lambda: None)]
            if torch is not None:
                runs.append((torch_epoch(kind, shape, batch, X), lambda: None))
            times = timed_rounds(runs, repeat)
            row: dict[str, Any] = {
                "model": kind, "input": "x".join(map(str, shape)), "batch": batch,
                "samples": samples, "npae_s": times[0], "npae_us": 1e6 * times[0] / samples,
                "npae_traced_mb": peak_memory_mb(npae_epoch(kind, shape, batch, X))}
            if torch is not None:
                row.update(torch_s=times[1], torch_us=1e6 * times[1] / samples,
                           ratio=times[0] / times[1])
            if memory:
                config = (kind, shape, batch)
                row["npae_rss_mb"] = _peak_in_child("npae", config, samples)
                if torch is not None:
                    row["torch_rss_mb"] = _peak_in_child("torch", config, samples)
            rows.append(row)
            print(f"  {kind} {row['input']} batch {batch}: npae {row['npae_s']:.3f} s"
                  + (f", PyTorch {row['torch_s']:.3f} s" if "torch_s" in row else ""),
                  flush=True)
    return {"rows": rows, "torch": getattr(torch, "__version__", None),
            "threads": n_threads(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": os.getloadavg()}


def markdown(result: dict[str, Any]) -> str:
    """The rows as a markdown table."""
    def cell(r: dict, key: str, fmt: str) -> str:
        return "-" if r.get(key) is None else format(r[key], fmt)

    lines = ["| model | input | batch | npae µs/sample | PyTorch µs/sample | ratio "
             "| npae peak RSS MiB | PyTorch peak RSS MiB | npae traced MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {r['input']} | {r['batch']} | {r['npae_us']:.0f} | "
                     f"{cell(r, 'torch_us', '.0f')} | {cell(r, 'ratio', '.2f')} | "
                     f"{cell(r, 'npae_rss_mb', '.0f')} | {cell(r, 'torch_rss_mb', '.0f')} | "
                     f"{r['npae_traced_mb']:.0f} |")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: str) -> str:
    """Ratio and peak memory against the batch (left) and the image size (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex="col")
    series = [("dense AE", lambda r: r["model"] == "dense AE"),
              ("conv AE 1x28x28", lambda r: r["model"] == "conv AE" and r["input"] == "1x28x28")]
    for label, keep in series:
        rs = [r for r in rows if keep(r)]
        xs = [r["batch"] for r in rs]
        axes[0, 0].plot(xs, [r.get("ratio", np.nan) for r in rs], "o-", label=label)
        for lib, style in (("npae", "o-"), ("torch", "s--")):
            axes[1, 0].plot(xs, [r.get(f"{lib}_rss_mb") or np.nan for r in rs], style,
                            label=f"{label}, {'PyTorch' if lib == 'torch' else 'npae'}")
    conv = [r for r in rows if r["model"] == "conv AE" and r["batch"] == 128]
    pixels = [int(np.prod([int(v) for v in r["input"].split("x")])) for r in conv]
    axes[0, 1].plot(pixels, [r.get("ratio", np.nan) for r in conv], "o-", label="conv AE")
    for lib, style in (("npae", "o-"), ("torch", "s--")):
        axes[1, 1].plot(pixels, [r.get(f"{lib}_rss_mb") or np.nan for r in conv], style,
                        label="PyTorch" if lib == "torch" else "npae")
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=8)
    for ax in axes[0]:
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_ylabel("npae / PyTorch epoch time")
    for ax in axes[1]:
        ax.set_ylabel("peak RSS added by an epoch (MiB)")
    axes[1, 0].set_xlabel("batch size")
    axes[1, 1].set_xlabel("input values per image (batch 128)")
    fig.suptitle(f"npae against PyTorch, {result['threads']} threads")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(repeat: int = 3, samples: int | None = None, plot_path: str | None = None
         ) -> dict[str, Any]:
    """What ``python -m benchmarks --scaling [--plot [PATH]]`` runs; prints the table."""
    result = run(repeat, samples or SAMPLES)
    print()
    print(markdown(result))
    if plot_path:
        print(f"\nfigure: {plot(result, plot_path)}")
    return result


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--child":
    print(json.dumps(_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
elif __name__ == "__main__":
    main()
