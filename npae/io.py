"""Save and load models: one ``.npz`` holding the architecture (JSON) and every parameter.

The file holds an entry ``__npae__`` (a JSON string: format version, model
class and its configuration, and each layer's class and constructor arguments)
and one array per parameter under its name (``"encoder.0.W"``). Nothing is
pickled, so loading a file never runs code from it.

Writes are atomic: the archive goes to a temporary file in the same folder,
is flushed to disk, and only then renamed over the target, so a failed or
interrupted save leaves any earlier file intact and no half-written one.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from npae.backend import asnumpy, to_device
from npae.layers.base import LAYERS, Layer
from npae.network import Sequential

__all__ = ["save", "load", "load_parameters", "architecture"]

FORMAT_VERSION = 1
_KEY = "__npae__"


def _layer_spec(layer: Layer) -> dict[str, Any]:
    if isinstance(layer, Sequential):
        return {"class": "Sequential", "layers": [_layer_spec(lay) for lay in layer.layers]}
    name = type(layer).__name__
    if LAYERS.get(name) is not type(layer):
        raise ValueError(f"npae.save: layer {name} is not a registered npae layer class "
                         "(define it as a subclass of npae.layers.Layer)")
    return {"class": name, "config": layer.config()}


def _build_layer(spec: dict[str, Any]) -> Layer:
    if spec["class"] == "Sequential":
        return Sequential(*[_build_layer(s) for s in spec["layers"]])
    cls = LAYERS.get(spec["class"])
    if cls is None:
        raise ValueError(f"unknown layer class {spec['class']!r}")
    return cls(**spec["config"])


def architecture(model: Any) -> dict[str, Any]:
    """The JSON-able description that :func:`load` rebuilds ``model`` from."""
    return {"format": "npae", "version": FORMAT_VERSION, "model": type(model).__name__,
            "config": model.config(), "encoder": _layer_spec(model.encoder),
            "decoder": _layer_spec(model.decoder)}


def save(model: Any, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (a ``.npz`` archive), atomically.

    Parameters are stored as host arrays whatever the backend, bit for bit.
    """
    path = Path(path)
    arrays = {name: asnumpy(p) for name, p, _ in model.parameters()}
    if _KEY in arrays:
        raise ValueError(f"npae.save: a parameter may not be named {_KEY!r}")
    arrays[_KEY] = np.array(json.dumps(architecture(model)))
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise FileNotFoundError(f"npae.save: cannot write {os.fspath(path)!r}: the folder "
                                f"{os.fspath(path.parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The architecture and the arrays of a file, or a ValueError saying why not."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with loaded as f:
            if _KEY not in f.files:
                raise ValueError(f"no {_KEY!r} entry: not a file written by npae.save")
            arch = json.loads(str(f[_KEY]))
            arrays = {k: f[k] for k in f.files if k != _KEY}
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, KeyError) as err:
        raise ValueError(f"npae.load: {os.fspath(path)!r} is not a readable npae model file "
                         f"(truncated, corrupt or foreign): {err}") from None
    if not isinstance(arch, dict) or arch.get("format") != "npae":
        raise ValueError(f"npae.load: {os.fspath(path)!r} is not an npae model file")
    if arch.get("version") != FORMAT_VERSION:
        raise ValueError(f"npae.load: {os.fspath(path)!r} has format version "
                         f"{arch.get('version')}, this npae reads version {FORMAT_VERSION}")
    return arch, arrays


def _assign(model: Any, arrays: dict[str, np.ndarray], path: Any) -> None:
    expected = {name: p for name, p, _ in model.parameters()}
    if set(expected) != set(arrays):
        missing = sorted(set(expected) - set(arrays))
        extra = sorted(set(arrays) - set(expected))
        raise ValueError(f"npae.load: {os.fspath(path)!r} does not match the architecture: "
                         f"missing parameters {missing}, unexpected {extra}")
    for name, p in expected.items():
        a = arrays[name]
        if a.shape != p.shape or a.dtype != p.dtype:
            raise ValueError(f"npae.load: parameter {name!r} in {os.fspath(path)!r} has shape "
                             f"{a.shape} and dtype {a.dtype}; the architecture expects "
                             f"{tuple(p.shape)} and {p.dtype}")
    for name, p in expected.items():
        p[...] = to_device(arrays[name])


def load(path: str | os.PathLike) -> Any:
    """Rebuild the model saved at ``path`` on the active backend.

    Refuses (``ValueError``) a truncated, corrupt or foreign file, an unknown
    model or layer class, and parameters whose names, shapes or dtypes do not
    match the stored architecture.
    """
    import npae.models  # noqa: F401  (registers every model class)
    from npae.models.autoencoder import MODELS

    arch, arrays = _read(path)
    cls = MODELS.get(arch.get("model"))
    if cls is None:
        raise ValueError(f"npae.load: unknown model class {arch.get('model')!r} in "
                         f"{os.fspath(path)!r}; known: {sorted(MODELS)}")
    try:
        model = cls(_build_layer(arch["encoder"]), _build_layer(arch["decoder"]),
                    **arch["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"npae.load: cannot rebuild the model stored in "
                         f"{os.fspath(path)!r}: {err}") from None
    _assign(model, arrays, path)
    return model


def load_parameters(model: Any, path: str | os.PathLike) -> None:
    """Load the parameters stored at ``path`` into an existing ``model``.

    The file must describe exactly the same architecture; otherwise it is
    refused with a ``ValueError`` and ``model`` is left unchanged.
    """
    arch, arrays = _read(path)
    mine = json.loads(json.dumps(architecture(model)))
    if arch != mine:
        raise ValueError(f"npae.load_parameters: {os.fspath(path)!r} holds a "
                         f"{arch.get('model')} of another architecture than this "
                         f"{type(model).__name__}")
    _assign(model, arrays, path)
