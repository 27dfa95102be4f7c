"""Where an epoch's time goes: ``python -m benchmarks --profile``
(:func:`run`, :func:`markdown`).

Each model of the suite trains one epoch with the forward and backward pass of every
layer and the optimizer's step timed, and the time is split into parts: dense layers
(their matrix products and bias), convolutions, pooling / upsampling / reshape,
activations, the optimizer, and the rest (the loss and penalties, the VAE's sampling,
the batch copies, the copy of the parameters that :func:`npae.train.fit` keeps in
case the loss diverges, and Python), which is the epoch minus the timed parts.
PyTorch's epoch of the same model is timed in the same rounds (alternating, best
kept), and every part is also given as a fraction of it: a part that alone takes
more than a target ratio of PyTorch's epoch says that the target cannot be met
without making that part faster.

The timers are wrappers installed on the layer and optimizer classes for the run
and removed after (a layer whose forward calls another timed method counts once,
in its own part); each adds two clock reads to a call, a few microseconds an epoch.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from benchmarks._harness import PAUSE, limit_threads, mnist_like, try_torch
from benchmarks._harness import threads as n_threads

#: The parts, in table order, and the classes whose methods count in each.
PARTS: dict[str, tuple[str, ...]] = {
    "dense": ("Dense", "TiedEncoder", "TiedDecoder"),
    "conv": ("Conv2D", "ConvTranspose2D"),
    "pool/upsample/reshape": ("MaxPool2D", "Upsample2D", "Reshape"),
    "activations": ("Activation",),
    "optimizer": ("Optimizer",),
}


def _classes() -> dict[type, str]:
    """Every layer and optimizer class that defines a timed method, with its part."""
    import npae.models  # noqa: F401  (the tied layers register as Layer subclasses)
    from npae.layers.base import Layer
    from npae.optim import Optimizer

    def family(cls: type) -> Iterator[type]:
        yield cls
        for sub in cls.__subclasses__():
            yield from family(sub)

    part_of = {name: part for part, names in PARTS.items() for name in names}
    found: dict[type, str] = {}
    for root in (Layer, Optimizer):
        for cls in family(root):
            # a subclass belongs to the part of its nearest named ancestor
            part = next((part_of[c.__name__] for c in cls.__mro__ if c.__name__ in part_of),
                        None)
            if part is not None:
                found[cls] = part
    return found


class Timers:
    """Seconds spent in each part since :meth:`reset` (outermost timed calls only)."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self._depth = 0

    def reset(self) -> None:
        self.seconds = dict.fromkeys(PARTS, 0.0)

    def wrap(self, fn: Callable, part: str) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:  # inside another timed call: counted there
                return fn(*args, **kwargs)
            self._depth += 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - t
                self._depth -= 1

        return timed


@contextlib.contextmanager
def timed_parts() -> Iterator[Timers]:
    """Install the timers on every layer and optimizer class; remove them on exit."""
    timers = Timers()
    originals: list[tuple[type, str, Callable]] = []
    try:
        for cls, part in _classes().items():
            for method in ("forward", "backward", "step"):
                if method in cls.__dict__:
                    fn = cls.__dict__[method]
                    originals.append((cls, method, fn))
                    setattr(cls, method, timers.wrap(fn, part))
        yield timers
    finally:
        for cls, method, fn in originals:
            setattr(cls, method, fn)


def run(benchmarks: list[tuple], only: str | None = None, repeat: int = 3,
        samples: int | None = None) -> dict:
    """The parts of one npae epoch of every model of ``benchmarks`` (the suite's list;
    the entries that time an epoch, whose name contains ``only``), from the round with
    the fastest epoch, and PyTorch's best epoch."""
    torch = try_torch()
    n = samples or 10_000
    X784 = mnist_like(n)
    rows = []
    with limit_threads(n_threads()), timed_parts() as timers:
        for name, per_call, shape, make_npae, make_torch in benchmarks:
            if per_call is not None or (only and only.lower() not in name.lower()):
                continue  # a single layer's row, or not asked for
            X = np.ascontiguousarray(X784.reshape((n, *shape)))
            npae_epoch = make_npae(X)
            torch_epoch = make_torch(X, "cpu") if torch is not None else None
            npae_epoch()
            if torch_epoch is not None:
                torch_epoch()
            best: dict[str, Any] = {"npae_s": float("inf")}
            torch_s = float("inf")
            for _ in range(repeat):
                time.sleep(PAUSE)
                timers.reset()
                t = time.perf_counter()
                npae_epoch()
                elapsed = time.perf_counter() - t
                if elapsed < best["npae_s"]:
                    best = {"npae_s": elapsed, "parts": dict(timers.seconds)}
                if torch_epoch is not None:
                    time.sleep(PAUSE)
                    t = time.perf_counter()
                    torch_epoch()
                    torch_s = min(torch_s, time.perf_counter() - t)
            best["parts"]["rest"] = best["npae_s"] - sum(best["parts"].values())
            row = {"benchmark": name, "samples": n, **best}
            if torch_epoch is not None:
                row["torch_s"] = torch_s
                row["ratio"] = row["npae_s"] / torch_s
            rows.append(row)
            print(f"  {name}: npae {row['npae_s']:.3f} s"
                  + (f", PyTorch {torch_s:.3f} s" if torch_epoch is not None else ""), flush=True)
    return {"torch": getattr(torch, "__version__", None), "rows": rows}


def markdown(result: dict) -> str:
    """Two tables: each part's share of npae's epoch, and each part over PyTorch's epoch."""
    parts = [*PARTS, "rest"]
    head = "| model | npae s | PyTorch s | ratio | " + " | ".join(parts) + " |"
    rule = "|---" * (4 + len(parts)) + "|"
    shares = ["Share of npae's epoch (%):", "", head, rule]
    over = ["", "Each part's seconds over PyTorch's whole epoch:", "", head, rule]
    for r in result["rows"]:
        torch_s = r.get("torch_s")
        lead = (f"| {r['benchmark']} | {r['npae_s']:.3f} | "
                + (f"{torch_s:.3f} | {r['ratio']:.2f} | " if torch_s else "- | - | "))
        shares.append(lead + " | ".join(f"{100 * r['parts'][p] / r['npae_s']:.1f}"
                                        for p in parts) + " |")
        if torch_s:
            over.append(lead + " | ".join(f"{r['parts'][p] / torch_s:.2f}" for p in parts)
                        + " |")
    return "\n".join(shares + (over if len(over) > 5 else []))
