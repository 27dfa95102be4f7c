"""NumPy or CuPy: one code path for CPU and GPU.

Library code never hard-codes the array module. It asks
:func:`get_array_module` for the module that owns the array it was handed, so
the same forward and backward run on the host (NumPy) and on a GPU (CuPy).
New parameters are created on the *active* backend, chosen with :func:`use` or
the environment variable ``NPAE_BACKEND`` (``numpy`` or ``cupy``). The variable
is acted on at the first use of the backend, not at import, so ``import npae``
never fails; a backend that cannot run then raises its clear error there.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

#: The type of a data array in annotations: a ``numpy.ndarray`` or a ``cupy.ndarray``.
Array = Any

__all__ = ["Array", "use", "current", "xp", "get_array_module", "asnumpy", "to_device", "to_floats",
           "host_value", "cupy_available"]

_BACKENDS = ("numpy", "cupy")
_active: str = "numpy"
#: ``NPAE_BACKEND``, until the first use of the backend applies it (or ``use`` overrides it).
_requested: str | None = os.environ.get("NPAE_BACKEND") or None


def _apply_requested() -> None:
    global _requested
    if _requested is None:
        return
    try:
        use(_requested)  # clears _requested on success
    except (ValueError, RuntimeError) as err:
        raise type(err)(f"{err} (asked for by the environment variable "
                        f"NPAE_BACKEND={_requested!r})") from None


def _import_cupy() -> ModuleType:
    """Import CuPy and make sure a device answers, or explain what is missing."""
    try:
        import cupy  # type: ignore[import-not-found]
    except ImportError as err:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "npae.backend: the 'cupy' backend needs CuPy, which is not installed; "
            "install it with `pip install npae[gpu]` (cupy-cuda12x) or use the 'numpy' backend"
        ) from err
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            f"npae.backend: CuPy is installed but found no usable GPU ({err}); "
            "use the 'numpy' backend"
        ) from err
    if n < 1:  # pragma: no cover - depends on the machine
        raise RuntimeError("npae.backend: CuPy is installed but found no GPU; use 'numpy'")
    return cupy


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
    except RuntimeError:
        return False
    return True


def use(name: str) -> None:
    """Choose the backend on which new parameters and data are created.

    Parameters
    ----------
    name : {"numpy", "cupy"}
        ``"cupy"`` fails with a clear ``RuntimeError`` when CuPy or a GPU is
        missing, and the backend then stays as it was.
    """
    global _active, _requested
    name = str(name).lower()
    if name not in _BACKENDS:
        raise ValueError(f"npae.backend.use: name must be one of {_BACKENDS}, got {name!r}")
    if name == "cupy":
        _import_cupy()
    _active, _requested = name, None


def current() -> str:
    """Name of the active backend."""
    _apply_requested()
    return _active


def xp() -> ModuleType:
    """The active array module (numpy or cupy)."""
    _apply_requested()
    if _active == "cupy":
        return _import_cupy()
    return np


def get_array_module(*arrays: Any) -> ModuleType:
    """The module (numpy or cupy) that owns the given arrays."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            import cupy  # type: ignore[import-not-found]

            return cupy
    return np


def asnumpy(a: Any) -> np.ndarray:
    """Bring any array (numpy, cupy or array-like) to the host as a NumPy array."""
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def to_floats(*scalars: Any) -> tuple[float, ...]:
    """Several 0-d arrays (or numbers) as Python floats, in one device-to-host copy.

    On a GPU each ``float(x)`` waits for the device and copies on its own; a
    function that needs a value and, say, a range check reads them together.
    Host numbers are converted where they are and never make the trip.
    """
    values = list(scalars)
    on_device = [i for i, s in enumerate(scalars) if get_array_module(s) is not np]
    if on_device:
        mod = get_array_module(*scalars)
        read = asnumpy(mod.stack([scalars[i] for i in on_device])).tolist()
        for i, v in zip(on_device, read):
            values[i] = v
    return tuple(float(v) for v in values)


def host_value(f: Callable[..., tuple]) -> Callable[..., tuple]:
    """Decorator for a loss or penalty ``f -> (value, gradients...)`` whose value is
    a 0-d array (or a number, where ``f`` had to read it anyway): the public function
    returns ``float(value)``, and ``f`` itself stays available as ``.on_device``.
    Models call ``.on_device`` and read all the values of a batch together
    (:func:`to_floats`): one device-to-host copy per batch.
    """
    @functools.wraps(f)
    def public(*args: Any, **kwargs: Any) -> tuple:
        value, *rest = f(*args, **kwargs)
        return (float(value), *rest)

    public.on_device = f  # type: ignore[attr-defined]
    return public


def to_device(a: Any) -> Any:
    """Put an array on the active backend (no copy when it is already there)."""
    _apply_requested()
    if _active == "cupy":
        return xp().asarray(a)
    return asnumpy(a)
