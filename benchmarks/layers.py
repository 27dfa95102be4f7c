"""Every layer of the convolutional models, forward + backward, npae against PyTorch.

``python -m benchmarks --layers`` walks the models of :mod:`benchmarks.conv_models`
with a float32 batch of 128, and times each distinct layer (type, arguments,
input shape) on its own: ``forward`` of a random input, then ``backward`` of a
random upstream gradient, input gradient included, in both libraries. npae's
arrays come in the memory layout they have inside the model (channels-last after
a convolution), PyTorch's as its models have them (NCHW). Shape
layers (Flatten, Reshape: views in both) are left out. The table shows where an
epoch's time goes, so the next bottleneck is visible at a glance. For each
convolution it also times the three matrix products of its im2col form alone
(:func:`products_step`), in the same rounds: where they alone take longer than
PyTorch's whole layer, no route built on BLAS products of those shapes can
meet a target. The last column times the same step on npae's reference kernels
(:mod:`npae.kernels.reference`, the formulas as written; layers with kernels only),
also in the same rounds, and says how many times the fast kernels' time it takes:
what readability costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import conv_models
from benchmarks._harness import (
    peak_memory_mb,
    timed_rounds,
    torch_module_step,
    try_torch,
    with_kernels,
)
from npae import backend
from npae.kernels.fast import layout
from npae.kernels.fast.layout import is_channels_last
from npae.kernels.fast.patches import gram
from npae.models.convolutional import describe

BATCH = 128
#: Short names of the models, for the table's "in" column.
SHORT = {"classic conv AE": "classic", "CNN AE (32,1,1) code": "cnn", "conv VAE": "vae"}
#: Targets of the issue (npae / PyTorch, forward + backward) by layer type.
TARGETS = {"Conv2D": 1.5, "ConvTranspose2D": 1.5, "MaxPool2D": 1.0, "Upsample2D": 1.0}
SKIP = ("Flatten", "Reshape")
#: Layers whose arithmetic is in npae.kernels: timed on the reference kernels too.
KERNEL_LAYERS = ("Conv2D", "ConvTranspose2D", "MaxPool2D", "Upsample2D")
CALL_S = 0.05  # each timed call repeats the step to last about this long


def model_layers(batch: int) -> list[dict]:
    """One entry per distinct layer of the models: the layer, its input shape, the models."""
    entries: dict[tuple, dict] = {}
    for name, build in conv_models.MODELS.items():
        model = build()
        x = np.zeros((batch, 1, 28, 28), np.float32)
        z = model.encode(x)
        for seq, inp in ((model.encoder, x), (model.decoder, z)):
            for layer in seq.layers:
                key = (type(layer).__name__, describe(layer), tuple(inp.shape[1:]))
                if key[0] not in SKIP:
                    entry = entries.setdefault(key, {"layer": layer, "label": key[1],
                                                     "kind": key[0], "shape": inp.shape,
                                                     "models": [],
                                                     "channels_last": is_channels_last(inp)})
                    if SHORT[name] not in entry["models"]:
                        entry["models"].append(SHORT[name])
                inp = layer.forward(inp, training=False)
                if key[0] not in SKIP:  # dy comes back in the layout of y
                    entry["dy_channels_last"] = is_channels_last(inp)
    return list(entries.values())


def _inputs(layer: Any, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32)
    y = layer.forward(x)
    return x, rng.standard_normal(y.shape, dtype=np.float32)


def _as_in_the_model(a: np.ndarray, channels_last: bool) -> np.ndarray:
    """``a`` in the memory layout the layer meets inside its model: npae's convolutions
    return channels-last arrays, and the layers after them keep that layout (PyTorch's
    models are NCHW throughout and get ``a`` as it is)."""
    if not channels_last or a.ndim != 4:
        return a
    return layout.channels_last(np.ascontiguousarray(a.transpose(0, 2, 3, 1)))


def npae_step(layer: Any, x: np.ndarray, dy: np.ndarray) -> Callable[[], object]:
    x, dy = backend.to_device(x), backend.to_device(dy)

    def step():
        layer.forward(x)
        return layer.backward(dy)

    return step


def torch_step(layer: Any, x: np.ndarray, dy: np.ndarray) -> Callable[[], object]:
    return torch_module_step(conv_models.torch_layer(layer), x, dy)


def products_step(layer: Any, x_shape: tuple[int, ...]) -> Callable[[], object] | None:
    """The three matrix products of a convolution's im2col form alone, for ``Conv2D``
    and ``ConvTranspose2D`` (else ``None``): ``X_col W_mat^T``, ``dY^T X_col`` and
    ``dY W_mat`` with ``X_col (Q, kh kw C)``, ``Q`` output pixels, ``O`` outputs (a
    transposed convolution's are those of the convolution it is the adjoint of). No
    copy, no transpose, no add: the arithmetic at BLAS's speed for these shapes. With
    one output channel they are matrix-vector products over the whole patch matrix,
    which npae's scattered route avoids (so it can beat them)."""
    kind = type(layer).__name__
    if kind not in ("Conv2D", "ConvTranspose2D"):
        return None
    W = backend.asnumpy(layer.params["W"])
    n, (kh, kw) = x_shape[0], W.shape[2:]
    if kind == "Conv2D":
        (_, c, _, _), (_, o, ho, wo) = W.shape, layer.output_shape(x_shape)
        q = n * ho * wo
    else:  # the convolution whose adjoint it is maps its output back to x
        c, o, q = W.shape[1], W.shape[0], n * x_shape[2] * x_shape[3]
    rng = np.random.default_rng(0)
    X_col = backend.to_device(rng.standard_normal((q, kh * kw * c), dtype=np.float32))
    W_mat = backend.to_device(rng.standard_normal((o, kh * kw * c), dtype=np.float32))
    dY = backend.to_device(rng.standard_normal((q, o), dtype=np.float32))

    def step():
        X_col @ W_mat.T
        gram(dY, X_col)
        return dY @ W_mat

    return step


def _reps(fn: Callable[[], object]) -> int:
    """How many calls of ``fn`` (after a warm-up) last about :data:`CALL_S`."""
    fn()
    t = time.perf_counter()
    fn()
    return max(1, min(200, round(CALL_S / max(time.perf_counter() - t, 1e-6))))


def _repeated(fn: Callable[[], object], reps: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(reps):
            fn()

    return run


def run(only: str | None = None, repeat: int = 3, batch: int | None = None) -> dict:
    """Seconds per forward + backward of each layer in each library, ratio and peak memory
    (``batch`` samples, by default :data:`BATCH`)."""
    torch = try_torch()
    batch = batch or BATCH
    rows = []
    for entry in model_layers(batch):
        if only and only.lower() not in entry["label"].lower():
            continue
        layer = entry["layer"]
        x, dy = _inputs(layer, entry["shape"])
        x_npae = _as_in_the_model(x, entry["channels_last"])
        dy_npae = _as_in_the_model(dy, entry["dy_channels_last"])
        steps = {"npae": npae_step(layer, x_npae, dy_npae)}
        if torch is not None:
            steps["torch"] = torch_step(layer, x, dy)
        products = products_step(layer, entry["shape"])
        if products is not None:
            steps["products"] = products
        if entry["kind"] in KERNEL_LAYERS:
            steps["reference"] = with_kernels("reference", npae_step(layer, x_npae, dy_npae))
        # each call repeats a step to last about CALL_S: npae's count for the steps it
        # races, the reference's own (it may be far slower)
        reps = dict.fromkeys(steps, _reps(steps["npae"]))
        if "reference" in steps:
            reps["reference"] = _reps(steps["reference"])
        times = timed_rounds([(_repeated(step, reps[name]), lambda: None)
                              for name, step in steps.items()], repeat)
        secs = {name: t / reps[name] for name, t in zip(steps, times)}
        row = {"layer": entry["label"], "input": "x".join(map(str, entry["shape"][1:])),
               "batch": batch, "models": entry["models"], "npae_s": secs["npae"],
               "npae_peak_mb": peak_memory_mb(npae_step(type(layer)(**layer.config()), x_npae,
                                                         dy_npae)),
               "target": TARGETS.get(entry["kind"])}
        if torch is not None:
            row["torch_s"] = secs["torch"]
            row["ratio"] = row["npae_s"] / row["torch_s"]
        if products is not None:
            row["products_s"] = secs["products"]
        if "reference" in secs:
            row["reference_s"] = secs["reference"]
        rows.append(row)
        print(f"  {row['layer']} on {row['input']}: npae {row['npae_s'] * 1e3:.2f} ms"
              + (f", PyTorch {row['torch_s'] * 1e3:.2f} ms" if "torch_s" in row else "")
              + (f", reference kernels {row['reference_s'] * 1e3:.2f} ms"
                 if "reference_s" in row else ""), flush=True)
    return {"rows": rows, "batch": batch, "torch": getattr(torch, "__version__", None)}


def markdown(result: dict) -> str:
    """The per-layer table (ratio = npae seconds / PyTorch seconds)."""
    lines = [f"Forward + backward of one float32 batch of {result['batch']} per layer.", "",
             "| layer | input | in | npae ms | PyTorch ms | ratio | target | im2col products ms "
             "| npae peak MiB | reference kernels ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        torch_ms = f"{r['torch_s'] * 1e3:.2f}" if "torch_s" in r else "-"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "-"
        target = f"≤ {r['target']}" if r["target"] else "-"
        products = f"{r['products_s'] * 1e3:.2f}" if "products_s" in r else "-"
        reference = (f"{r['reference_s'] * 1e3:.2f} ({r['reference_s'] / r['npae_s']:.1f}x)"
                     if "reference_s" in r else "-")
        lines.append(f"| {r['layer']} | {r['input']} | {', '.join(r['models'])} | "
                     f"{r['npae_s'] * 1e3:.2f} | {torch_ms} | {ratio} | {target} | "
                     f"{products} | {r['npae_peak_mb']:.1f} | {reference} |")
    return "\n".join(lines)
