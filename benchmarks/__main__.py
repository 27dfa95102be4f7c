"""The benchmark suite: ``python -m benchmarks`` (or ``npae bench``).

Runs every benchmark on numpy and, when present, PyTorch on the CPU with the
same thread count, and CuPy and PyTorch CUDA when a GPU is there, all in one
run; prints a markdown table of seconds, samples per second, the ratio to
PyTorch on the same device, the peak memory of the npae run (host memory
traced on the CPU, CuPy's memory pool on the GPU) and, on the GPU, the
speed-up over npae on the CPU; saves the results as JSON (``--json PATH``,
default ``benchmarks/results/latest.json``). On the GPU the data are moved to
the device once, before timing, for both libraries.

Options: ``--only TEXT`` runs the benchmarks whose name contains TEXT;
``--repeat R`` timed rounds per entry, alternating npae and PyTorch (best kept,
after one warm-up each); ``--samples N`` images per epoch (default 10,000);
``--layers`` times every layer of the convolutional models instead
(:mod:`benchmarks.layers`), forward + backward, one table row per layer;
``--scaling`` how time and memory grow with the batch and the image
(:mod:`benchmarks.scaling`), ``--plot [PATH]`` its figure; ``--profile`` where each
model's epoch spends its time, part by part (:mod:`benchmarks.breakdown`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from benchmarks import conv, conv_layer, conv_models, dense_ae, layers, vae_cae
from benchmarks._harness import (
    blas_info,
    gpu_pool_mb,
    limit_threads,
    mnist_like,
    peak_memory_mb,
    timed_rounds,
    try_torch,
)
from benchmarks._harness import threads as n_threads
from npae import backend

N = 10_000


def _conv_layer_npae(_X):
    x, dy = (backend.to_device(a) for a in conv_layer._data())
    return conv_layer.npae_step(x, dy)


def _conv_layer_torch(_X, device="cpu"):
    x, dy = conv_layer._data()
    return conv_layer.torch_step(x, dy, device)


#: name, samples per timed call (None: an epoch, N), data shape, npae factory, PyTorch factory.
BENCHMARKS: list[tuple[str, int | None, tuple[int, ...], Callable, Callable]] = [
    ("dense AE epoch", None, (784,), dense_ae.npae_epoch, dense_ae.torch_epoch),
    ("conv layer fwd+bwd", conv_layer.N, (784,), _conv_layer_npae, _conv_layer_torch),
    ("conv AE epoch", None, (1, 28, 28), conv.npae_epoch, conv.torch_epoch),
    *((f"{name} epoch", None, (1, 28, 28), conv_models.npae_epoch(name),
       conv_models.torch_epoch(name)) for name in conv_models.MODELS),
    ("dense VAE epoch", None, (784,), vae_cae.npae_vae, vae_cae.torch_vae),
    ("contractive AE epoch", None, (784,), vae_cae.npae_cae, vae_cae.torch_cae),
]


def _devices() -> list[tuple[str, str, Callable[[], None], Callable]]:
    """(label, torch device, synchronize, peak memory) for the CPU and, when present,
    the GPU."""
    devices = [("cpu", "cpu", lambda: None, peak_memory_mb)]
    if backend.cupy_available():
        import cupy  # type: ignore[import-not-found]

        devices.append(("gpu", "cuda", cupy.cuda.Device().synchronize, gpu_pool_mb))
    return devices


@contextlib.contextmanager
def _restoring(name: str) -> Iterator[None]:
    """The caller's backend back afterwards, even when a GPU row fails."""
    try:
        yield
    finally:
        backend.use(name)


def run(only: str | None = None, repeat: int = 3, samples: int | None = None) -> dict:
    """Every benchmark (whose name contains ``only``) on every device; epochs of
    ``samples`` images (default :data:`N`)."""
    torch = try_torch()
    threads = n_threads()
    n = samples or N
    X784 = mnist_like(n)
    rows = []
    previous = backend.current()
    with limit_threads(threads), _restoring(previous):
        for label, tdev, sync, peak_mb in _devices():
            backend.use("cupy" if label == "gpu" else "numpy")
            torch_ok = torch is not None and (tdev == "cpu" or torch.cuda.is_available())
            tsync = torch.cuda.synchronize if torch_ok and tdev == "cuda" else (lambda: None)
            for name, samples_per_call, shape, make_npae, make_torch in BENCHMARKS:
                if only and only.lower() not in name.lower():
                    continue
                X = np.ascontiguousarray(X784.reshape((n, *shape)))
                Xd = backend.to_device(X)  # once, as PyTorch's epoch keeps its copy
                runs = [(make_npae(Xd), sync)]
                if torch_ok:
                    runs.append((make_torch(X, tdev), tsync))
                times = timed_rounds(runs, repeat)
                row = {"benchmark": name, "device": label, "samples": samples_per_call or n,
                       "npae_s": times[0], "npae_peak_mb": peak_mb(make_npae(Xd))}
                cpu = next((r for r in rows if r["benchmark"] == name), None)
                if label == "gpu" and cpu is not None:
                    row["speedup_vs_npae_cpu"] = cpu["npae_s"] / row["npae_s"]
                if torch_ok:
                    row["torch_s"] = times[1]
                    row["ratio"] = row["npae_s"] / row["torch_s"]
                rows.append(row)
                print(f"  {label} {name}: npae {row['npae_s']:.3f} s"
                      + (f", PyTorch {row['torch_s']:.3f} s" if "torch_s" in row else ""),
                      flush=True)
    return {**_machine(getattr(torch, "__version__", None)), "rows": rows}


def _machine(torch_version: str | None) -> dict:
    """What the numbers were measured on."""
    return {"machine": f"{platform.processor() or platform.machine()}, "
                       f"{platform.system()} {platform.release()}",
            "threads": n_threads(), "blas": blas_info(), "numpy": np.__version__,
            "torch": torch_version}


def machine_line(result: dict) -> str:
    """One line: machine, threads, numpy and its BLAS, PyTorch."""
    return (f"Machine: {result['machine']}; {result['threads']} threads; numpy "
            f"{result['numpy']} ({result['blas']}); PyTorch {result['torch']}.")


def markdown(result: dict) -> str:
    """The results as a markdown table (ratio = npae seconds / PyTorch seconds)."""
    lines = [machine_line(result), "",
             "| benchmark | device | npae s | samples/s | PyTorch s | ratio | npae peak MiB "
             "| speed-up vs npae CPU |",
             "|---|---|---|---|---|---|---|---|"]

    def cell(r: dict, key: str, fmt: str) -> str:
        return format(r[key], fmt) if key in r else "-"

    for r in result["rows"]:
        lines.append(f"| {r['benchmark']} | {r['device']} | {r['npae_s']:.3f} | "
                     f"{r['samples'] / r['npae_s']:,.0f} | {cell(r, 'torch_s', '.3f')} | "
                     f"{cell(r, 'ratio', '.2f')} | {cell(r, 'npae_peak_mb', '.0f')} | "
                     f"{cell(r, 'speedup_vs_npae_cpu', '.1f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--only", default=None)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--samples", type=int, default=None,
                   help=f"images per epoch (default {N:,}): fewer for a quick look")
    p.add_argument("--layers", action="store_true",
                   help="time every layer of the conv models instead (forward + backward)")
    p.add_argument("--json", default=None,
                   help="where to save the results (default benchmarks/results/latest.json, "
                        "or layers.json with --layers)")
    p.add_argument("--scaling", action="store_true",
                   help="epoch time and peak memory against batch and image size instead")
    p.add_argument("--plot", nargs="?", const="benchmarks/results/scaling.png", default=None,
                   help="with --scaling, write the figure (default %(const)s)")
    p.add_argument("--profile", action="store_true",
                   help="split each model's epoch into parts (layers by kind, optimizer, rest)")
    args = p.parse_args(argv)
    if args.profile:
        from benchmarks import breakdown

        with _restoring(backend.current()):
            backend.use("numpy")
            result = breakdown.run(BENCHMARKS, args.only, args.repeat, args.samples)
        result.update(_machine(result["torch"]))
        print()
        print(machine_line(result) + "\n\n" + breakdown.markdown(result))
        out = Path(args.json or Path(__file__).parent / "results" / "profile.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        print(f"\nsaved {out}")
        return 0
    if args.scaling:  # benchmarks.scaling: its own table, figure and JSON
        from benchmarks import scaling

        result = scaling.main(args.repeat, args.samples, args.plot)
        out = Path(args.json or Path(__file__).parent / "results" / "scaling.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        return 0
    if args.layers:
        with limit_threads(n_threads()), _restoring(backend.current()):
            backend.use("numpy")
            result = layers.run(args.only, args.repeat)
        result.update(_machine(result.get("torch")))
        table = machine_line(result) + "\n" + layers.markdown(result)
    else:
        result = run(args.only, args.repeat, args.samples)
        table = markdown(result)
    print()
    print(table)
    default = "layers.json" if args.layers else "latest.json"
    out = Path(args.json or Path(__file__).parent / "results" / default)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nsaved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
