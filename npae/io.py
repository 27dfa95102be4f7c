"""Save and load models: one ``.npz`` holding the architecture (JSON) and every parameter.

The file holds an entry ``__npae__`` (a JSON string: format version, model
class and its configuration, and each layer's class and constructor arguments)
and one array per parameter under its name (``"encoder.0.W"``). A model is its
networks: an autoencoder's ``encoder`` and ``decoder``, or those a model class
names in ``nets`` (a classifier's ``encoder`` and ``head``), rebuilt as
``cls(*networks, **config)``. Nothing is
pickled, so loading a file never runs code from it.

Classes are stored by their key in ``LAYERS`` / ``MODELS``: the bare class
name, or ``module.QualName`` for a user class whose name npae already uses (see
:func:`npae.registry.register`). Loading looks classes up there only, so a
user class must be defined or imported before :func:`load`. :func:`save`
refuses, before writing anything, a model that :func:`load` could not rebuild.

Writes are atomic: the archive goes to a temporary file in the same folder,
is flushed to disk, and only then renamed over the target, so a failed or
interrupted save leaves any earlier file intact and no half-written one. The
file gets the permissions of any newly created file (umask applied).
"""

from __future__ import annotations

import inspect
import json
import os
import secrets
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from npae.backend import asnumpy, to_device
from npae.layers.base import Layer
from npae.network import Sequential, map_layers
from npae.registry import LAYERS, MODELS, qualified_name, registered_name

__all__ = ["save", "load", "load_parameters", "architecture"]

FORMAT_VERSION = 1
_KEY = "__npae__"


def _layer_spec(net: Layer) -> dict[str, Any]:
    """The JSON description of a network: nested ``{"class": "Sequential", "layers":
    [...]}`` around ``{"class": key, "config": ...}`` for each layer."""
    return map_layers(_leaf_spec, net,
                      join=lambda *specs: {"class": "Sequential", "layers": list(specs)})


def _leaf_spec(layer: Layer) -> dict[str, Any]:
    cls = type(layer)
    key = registered_name(LAYERS, cls)
    if key is None:
        if isinstance(layer, Layer):
            raise ValueError(f"npae.save: layer {cls.__name__} ({qualified_name(cls)}) is not "
                             "the class registered under that name: it was defined again after "
                             "this model was built; build the model again from the current class")
        raise ValueError(f"npae.save: layer {cls.__name__} is not a registered npae layer class "
                         "(define it as a subclass of npae.layers.Layer)")
    return {"class": key, "config": layer.config()}


def _model_key(model: Any, strict: bool = True) -> str:
    """The key of ``model``'s class in ``MODELS``; unregistered: refused, or the bare name."""
    cls = type(model)
    key = registered_name(MODELS, cls)
    if key is None and not strict:
        return cls.__name__
    if key is None:
        raise ValueError(f"npae.save: model class {cls.__name__} ({qualified_name(cls)}) is not "
                         "registered: define it as a subclass of npae.models.Autoencoder (if it "
                         "was defined again after this model was built, build the model again)")
    return key


def _unknown(kind: str, key: Any) -> str:
    if isinstance(key, str) and "." in key:
        return (f"{kind} class {key!r} is not defined in this session: import the module "
                "that defines it (or run its definition) before npae.load")
    return (f"unknown {kind} class {key!r} (if it is a class of your own, define or import "
            "it before npae.load)")


def _build_layer(spec: dict[str, Any]) -> Layer:
    if spec["class"] == "Sequential":
        return Sequential(*[_build_layer(s) for s in spec["layers"]])
    cls = LAYERS.get(spec["class"])
    if cls is None:
        raise ValueError(_unknown("layer", spec["class"]))
    return cls(**spec["config"])


def _nets(model_or_class: Any) -> tuple[str, ...]:
    """The networks a model is built from, in constructor order: ``("encoder", "decoder")``
    for an autoencoder, a class's own ``nets`` otherwise (a classifier's encoder and head)."""
    return tuple(getattr(model_or_class, "nets", ("encoder", "decoder")))


def _parameters(model: Any) -> dict[str, Any]:
    """Every parameter of ``model`` by its saved name, frozen ones included."""
    every = getattr(model, "all_parameters", model.parameters)
    return {name: p for name, p, _ in every()}


def architecture(model: Any) -> dict[str, Any]:
    """The JSON-able description that :func:`load` rebuilds ``model`` from."""
    return {"format": "npae", "version": FORMAT_VERSION, "model": _model_key(model, False),
            "config": model.config(),
            **{net: _layer_spec(getattr(model, net)) for net in _nets(model)}}


# -- refusing at save time what load could not rebuild -----------------------------------------

def _as_json(config: Any, what: str, fix: str) -> Any:
    """``config`` as :func:`load` will read it back, or a ValueError naming ``what``."""
    try:
        return json.loads(json.dumps(config))
    except (TypeError, ValueError) as err:
        raise ValueError(f"npae.save: cannot save {what}: its configuration {config!r} is not "
                         f"plain JSON ({err}). {fix} with ints, floats, strings, booleans, None, "
                         "lists and dicts only") from None


def _check_rebuild(cls: type, config: Any, what: str, fix: str,
                   example: Callable[[list[str]], str], leading: tuple = ()) -> None:
    """Refuse ``what`` unless ``cls(*leading, **config)`` binds to the constructor.

    ``leading`` names the positional arguments load passes first (a model's
    encoder and decoder); ``example`` turns the names of the missing arguments
    into the line to write.
    """
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ValueError(f"npae.save: cannot save {what}: its configuration must be a dict "
                         f"with string keys, got {config!r}. {fix}")
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):  # no introspectable signature: nothing to check against
        return
    try:
        sig.bind(*leading, **config)
    except TypeError as err:
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        missing = [p.name for p in list(sig.parameters.values())[len(leading):]
                   if p.kind in kinds and p.default is p.empty and p.name not in config]
        hint = f", e.g. {example(missing)}" if missing else ""
        call = ", ".join([*leading, f"**{config!r}"])
        raise ValueError(f"npae.save: cannot save {what}: npae.load rebuilds it as "
                         f"{cls.__name__}({call}), which would fail: {err}. "
                         f"{fix}{hint}") from None


def _layer_example(names: list[str]) -> str:
    items = ", ".join(f"{n!r}: {n}" for n in names)
    return f"self._config = {{{items}}}"


def _model_example(names: list[str]) -> str:
    items = ", ".join(f"{n!r}: self.{n}" for n in names)
    return f"return {{**super().config(), {items}}}"


def _check_layers(spec: dict[str, Any], where: str) -> None:
    if spec["class"] == "Sequential":
        for i, sub in enumerate(spec["layers"]):
            _check_layers(sub, f"{where}.{i}")
        return
    cls = LAYERS[spec["class"]]
    name = cls.__name__
    fix = f"In {name}.__init__, set self._config to the constructor's keyword arguments"
    what = f"layer {where} ({name})"
    _check_rebuild(cls, _as_json(spec["config"], what, fix), what, fix, _layer_example)


def _check_rebuildable(arch: dict[str, Any]) -> None:
    """Refuse (ValueError) a model that :func:`load` could not rebuild from ``arch``."""
    cls = MODELS[arch["model"]]
    for net in _nets(cls):
        _check_layers(arch[net], net)
    name = cls.__name__
    fix = (f"Define {name}.config() to return the constructor's arguments besides "
           f"{', '.join(_nets(cls))} and rng")
    what = f"model {name}"
    _check_rebuild(cls, _as_json(arch["config"], what, fix), what, fix, _model_example,
                   leading=_nets(cls))


def save(model: Any, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (a ``.npz`` archive), atomically.

    Parameters are stored as host arrays whatever the backend, bit for bit.
    """
    path = Path(path)
    _model_key(model)
    arch = architecture(model)
    _check_rebuildable(arch)
    arrays = {name: asnumpy(p) for name, p in _parameters(model).items()}
    if _KEY in arrays:
        raise ValueError(f"npae.save: a parameter may not be named {_KEY!r}")
    arrays[_KEY] = np.array(json.dumps(arch))
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise FileNotFoundError(f"npae.save: cannot write {os.fspath(path)!r}: the folder "
                                f"{os.fspath(path.parent)!r} does not exist")
    fd, tmp = _create_beside(path)
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


def _create_beside(path: Path) -> tuple[int, str]:
    """A new, empty temporary file in ``path``'s folder: its descriptor and name.

    Created with mode 0o666, so the kernel applies the umask (and the folder's
    default ACL) exactly as for ``open(path, "w")``. ``tempfile.mkstemp`` asks
    for 0o600, which ``os.replace`` keeps: a model saved into a shared course
    folder would be readable by its owner alone. Asking the kernel avoids
    reading the umask, which can only be done by setting it (racy in threads).
    """
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
             | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    folder = path.parent
    for _ in range(100):
        tmp = os.fspath(folder / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"npae.save: no free temporary name beside {os.fspath(path)!r}")


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
    expected = _parameters(model)
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
    # npae's own model classes are in MODELS already: importing any npae module runs
    # npae/__init__.py, which imports npae.models
    arch, arrays = _read(path)
    key = arch.get("model")
    cls = MODELS.get(key) if isinstance(key, str) else None
    if cls is None:
        raise ValueError(f"npae.load: {_unknown('model', key)}; in {os.fspath(path)!r}; "
                         f"known: {sorted(MODELS)}")
    try:
        config = arch["config"]
        if isinstance(config, dict) and hasattr(cls, "saved_config"):
            config = cls.saved_config(config)  # a class may read its older files
        model = cls(*[_build_layer(arch[net]) for net in _nets(cls)], **config)
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
