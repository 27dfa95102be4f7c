"""A CPU stand-in for CuPy that is as strict as CuPy about host and device.

CI has no GPU, so without this the ``cupy`` branch of npae's one code path
would run only on machines that have one. :func:`installed` puts a fake
``cupy`` module in ``sys.modules`` whose arrays keep their numbers in host
memory (NumPy computes them, so results must equal the numpy backend's
bit for bit) but obey the rule of CuPy's ndarray reference, "NumPy functions
cannot take cupy.ndarrays as inputs, and vice versa":

- a device array refuses implicit conversion to NumPy (``np.asarray(x)``, as
  CuPy does) and refuses NumPy functions and ufuncs (``np.exp(x)``). The second
  is stricter than CuPy, which dispatches many of them to itself, on purpose:
  npae's rule is that library code takes its array module from the data;
- the fake module's functions, operators and indexing refuse NumPy arrays:
  host data that was never moved to the device is an error, not a silent copy;
- explicit moves are counted: ``uploads`` (``cupy.asarray`` of host data, list
  indices) and ``reads`` (``float(x)``, ``bool(x)``, ``x.item()``, ``x.get()``,
  printing: each a device-to-host copy that waits for the GPU), so tests can
  bound them per batch;
- the arithmetic runs with NumPy's floating-point errors ignored, since a GPU
  raises none: divergence must show up as a NaN or inf, as it would on CuPy.

Reductions return 0-d device arrays, as CuPy's do. The module exposes only the
names npae uses (:data:`NAMES`); anything else raises ``AttributeError``. Array
methods are NumPy's, so the stand-in cannot tell whether CuPy has each method.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np

import npae.backend

#: Explicit host/device traffic since the counters were last reset.
COUNTS = {"uploads": 0, "reads": 0}


def _refuse(where: str) -> TypeError:
    return TypeError(f"strict device: {where} got a numpy.ndarray; move host data with "
                     "cupy.asarray (npae.backend.to_device) first")


def _unwrap(obj: Any, where: str) -> Any:
    """The NumPy array behind a device array; NumPy arrays are refused."""
    if isinstance(obj, ndarray):
        return obj._a
    if isinstance(obj, np.ndarray):
        raise _refuse(where)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(o, where) for o in obj)
    if isinstance(obj, dict):
        return {k: _unwrap(v, where) for k, v in obj.items()}
    return obj


def _wrap(obj: Any) -> Any:
    """Results onto the device: arrays and NumPy scalars become device arrays."""
    if isinstance(obj, (np.ndarray, np.generic)):
        return ndarray(np.asarray(obj))
    if isinstance(obj, tuple):
        return tuple(_wrap(o) for o in obj)
    if isinstance(obj, list):
        return [_wrap(o) for o in obj]
    return obj


def _index(key: Any) -> Any:
    """An index with device arrays unwrapped; a list inside it is an upload, as in CuPy."""
    parts = key if isinstance(key, tuple) else (key,)
    COUNTS["uploads"] += sum(isinstance(k, list) for k in parts)
    return _unwrap(key, "ndarray indexing")


def _read(a: ndarray) -> np.ndarray:
    COUNTS["reads"] += 1
    return a._a


class ndarray:  # noqa: N801 - the name CuPy gives it
    """A device array: NumPy numbers behind CuPy's rules."""

    __slots__ = ("_a",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    # -- what CuPy refuses -----------------------------------------------------
    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError("strict device: implicit conversion to a NumPy array is not allowed; "
                        "use npae.backend.asnumpy (x.get()) explicitly")

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        raise TypeError(f"strict device: numpy.{ufunc.__name__} was called on a device array; "
                        "take the array module from the data (npae.backend.get_array_module)")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        raise TypeError(f"strict device: numpy.{func.__name__} was called on a device array; "
                        "take the array module from the data (npae.backend.get_array_module)")

    # -- explicit reads (each one a device-to-host copy) -----------------------
    def get(self) -> np.ndarray:
        return _read(self).copy()

    def item(self) -> Any:
        return _read(self).item()

    def tolist(self) -> Any:
        return _read(self).tolist()

    def __float__(self) -> float:
        return float(_read(self))

    def __int__(self) -> int:
        return int(_read(self))

    def __index__(self) -> int:
        return _read(self).__index__()

    def __bool__(self) -> bool:
        return bool(_read(self))

    # -- metadata, indexing and methods: no traffic -----------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Iterator[ndarray]:
        return (ndarray(row) for row in self._a)

    def __repr__(self) -> str:
        return f"strict_device.ndarray({_read(self)!r})"

    __str__ = __repr__

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_index(key)] = _unwrap(value, "ndarray assignment")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # NumPy's own protocols (__array_interface__, ...) stay hidden
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args: Any, **kwargs: Any) -> Any:
            where = f"ndarray.{name}"
            with np.errstate(all="ignore"):
                return _wrap(attr(*_unwrap(args, where), **_unwrap(kwargs, where)))

        return method


def _operator(name: str, in_place: bool) -> Any:
    def op(self: ndarray, *other: Any) -> Any:
        with np.errstate(all="ignore"):
            result = getattr(self._a, name)(*_unwrap(other, f"ndarray.{name}"))
        if result is NotImplemented:
            return result
        return self if in_place else _wrap(result)

    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
              "and", "or", "xor"):
    for _form in (f"__{_name}__", f"__r{_name}__"):
        setattr(ndarray, _form, _operator(_form, False))
    setattr(ndarray, f"__i{_name}__", _operator(f"__i{_name}__", True))
for _form in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__",
              "__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(ndarray, _form, _operator(_form, False))


def _function(f: Any, where: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return _wrap(f(*_unwrap(args, where), **_unwrap(kwargs, where)))

    call.__name__ = getattr(f, "__name__", where)
    return call


class _Namespace(types.ModuleType):
    """``cupy``, ``cupy.linalg``, ...: NumPy's function of the same name, made strict."""

    def __init__(self, name: str, source: Any, **extra: Any) -> None:
        super().__init__(name)
        self._source = source
        self.__dict__.update(extra)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or (self.__name__ == "cupy" and name not in NAMES):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r} "
                                 "(strict_device.NAMES lists what the stand-in models)")
        obj = getattr(self._source, name)
        if isinstance(obj, type) or not callable(obj):
            return obj  # dtypes, finfo, constants
        return _function(obj, f"cupy.{name}")


#: The ``cupy.<name>`` functions, dtypes and constants npae uses (each in CuPy's API).
NAMES = frozenset("""
    abs add arange argmax broadcast_to clip concatenate count_nonzero diagonal divide einsum
    empty empty_like exp eye finfo float32 float64 full isfinite log log1p matmul maximum
    multiply negative ones ones_like result_type sign size sqrt stack take_along_axis tanh
    tensordot trace where zeros zeros_like
    argpartition argsort inf
""".split())


def asarray(a: Any, dtype: Any = None) -> ndarray:
    """Host data to the device (counted as an upload); device data stays."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    COUNTS["uploads"] += 1
    return ndarray(np.array(a, dtype=dtype))


def array(a: Any, dtype: Any = None) -> ndarray:
    """Like :func:`asarray`, but device data are copied, as ``cupy.array`` does."""
    if isinstance(a, ndarray):
        return ndarray(np.array(a._a, dtype=dtype))
    return asarray(a, dtype)


def asnumpy(a: Any) -> np.ndarray:
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def _as_strided(x: ndarray, shape: Any = None, strides: Any = None) -> ndarray:
    # CuPy's as_strided has no ``writeable`` argument, so neither has this one
    return ndarray(np.lib.stride_tricks.as_strided(_unwrap(x, "as_strided"), shape, strides))


class _MemoryPool:
    """CuPy's memory pool as the benchmarks use it; no memory is modelled (0 bytes)."""

    def free_all_blocks(self) -> None:
        pass

    def total_bytes(self) -> int:
        return 0


def _module() -> _Namespace:
    cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
                                 Device=lambda: types.SimpleNamespace(synchronize=lambda: None))
    stride_tricks = types.SimpleNamespace(as_strided=_as_strided)
    return _Namespace("cupy", np, ndarray=ndarray, asarray=asarray, array=array,
                      asnumpy=asnumpy, cuda=cuda, get_default_memory_pool=_MemoryPool,
                      lib=types.SimpleNamespace(stride_tricks=stride_tricks),
                      linalg=_Namespace("cupy.linalg", np.linalg))


# the class must look like CuPy's to npae.backend (it checks the type's module)
ndarray.__module__ = "cupy"


@contextlib.contextmanager
def installed() -> Iterator[dict[str, int]]:
    """Make the strict fake the ``cupy`` module and the active backend; yields
    :data:`COUNTS` (reset to zero). Everything is restored afterwards."""
    saved = sys.modules.get("cupy")
    sys.modules["cupy"] = _module()
    COUNTS.update(uploads=0, reads=0)
    try:
        npae.backend.use("cupy")
        yield COUNTS
    finally:
        npae.backend.use("numpy")
        if saved is None:
            del sys.modules["cupy"]
        else:
            sys.modules["cupy"] = saved
