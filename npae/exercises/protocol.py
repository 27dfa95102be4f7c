"""The messages between the grader and the process that runs a student's code.

A message is a *kind* (a short ASCII word), a *text* (UTF-8) and named arrays, each
array as the bytes of a ``.npy`` file. On a pipe it travels as one frame::

    b"NPAE" | u32 length | payload
    payload = u8 len | kind | u32 len | text | u16 count | count x (u8 len | name | u32 len | npy)

(little-endian). Nothing is pickled and nothing is evaluated: :func:`decode` checks
every length against the limits below, refuses object, string and structured dtypes,
checks that each array's header matches its byte count before NumPy reads it, and
reads it with ``allow_pickle=False``. What a student's process sends is therefore at
most some numbers and a line of text; the grader decides what they mean.

This module imports only the standard library and NumPy: the student's process loads
it by its path, without importing ``npae``.
"""

from __future__ import annotations

import io
import json
import os
import struct
from typing import Any

import numpy as np

__all__ = ["MAGIC", "MAX_FRAME", "MAX_TEXT", "MAX_ARRAYS", "ProtocolError", "Channel",
           "encode", "decode", "read_frame", "write_frame", "to_json", "from_json"]

MAGIC = b"NPAE"
#: The largest payload of one frame (the grader splits bigger requests).
MAX_FRAME = 64 * 2**20
#: The largest text of one message.
MAX_TEXT = 1 * 2**20
#: The most arrays in one message.
MAX_ARRAYS = 512
#: The most dimensions an array may have.
MAX_NDIM = 8
#: The dtype kinds that may travel: booleans, integers, floats, complex numbers.
KINDS = "biufc"


class ProtocolError(Exception):
    """A frame or a message that breaks the format (the other side wrote something else)."""


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def encode(kind: str, text: str = "", arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """The payload of a message (see the module docstring)."""
    arrays = arrays or {}
    k = kind.encode("ascii")
    t = text.encode("utf-8")
    parts = [struct.pack("<B", len(k)), k, struct.pack("<I", len(t)), t,
             struct.pack("<H", len(arrays))]
    for name, arr in arrays.items():
        n = name.encode("ascii")
        data = _npy(arr)
        parts += [struct.pack("<B", len(n)), n, struct.pack("<I", len(data)), data]
    return b"".join(parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = memoryview(data), 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.at + n > len(self.data):
            raise ProtocolError(f"message cut short in {what}")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def uint(self, fmt: str, what: str) -> int:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]


def _load_npy(data: memoryview, name: str) -> np.ndarray:
    """Read one ``.npy`` after checking its header against the limits and its size."""
    f = io.BytesIO(bytes(data))
    try:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
    except Exception as err:  # noqa: BLE001 - any malformed header is the same refusal
        raise ProtocolError(f"array {name!r}: not a .npy header ({err})") from None
    if dtype.hasobject or dtype.kind not in KINDS or dtype.fields is not None:
        raise ProtocolError(f"array {name!r}: dtype {dtype} is not a number type")
    if len(shape) > MAX_NDIM:
        raise ProtocolError(f"array {name!r}: {len(shape)} dimensions (at most {MAX_NDIM})")
    count = 1
    for s in shape:
        count *= int(s)
    if count * dtype.itemsize != len(data) - f.tell():
        raise ProtocolError(f"array {name!r}: shape {shape} does not match its bytes")
    f.seek(0)
    return np.lib.format.read_array(f, allow_pickle=False)


def decode(payload: bytes) -> tuple[str, str, dict[str, np.ndarray]]:
    """``(kind, text, arrays)`` from a payload; :class:`ProtocolError` if it is malformed."""
    r = _Reader(payload)
    try:
        kind = bytes(r.take(r.uint("<B", "the kind"), "the kind")).decode("ascii")
        n_text = r.uint("<I", "the text")
        if n_text > MAX_TEXT:
            raise ProtocolError(f"text of {n_text} bytes (at most {MAX_TEXT})")
        text = bytes(r.take(n_text, "the text")).decode("utf-8", errors="replace")
        count = r.uint("<H", "the array count")
        if count > MAX_ARRAYS:
            raise ProtocolError(f"{count} arrays (at most {MAX_ARRAYS})")
        arrays: dict[str, np.ndarray] = {}
        for _ in range(count):
            name = bytes(r.take(r.uint("<B", "a name"), "a name")).decode("ascii")
            if not name.isidentifier() or name in arrays:
                raise ProtocolError(f"bad or repeated array name {name!r}")
            arrays[name] = _load_npy(r.take(r.uint("<I", name), name), name)
    except UnicodeDecodeError:
        raise ProtocolError("a kind or a name that is not ASCII") from None
    if r.at != len(r.data):
        raise ProtocolError(f"{len(r.data) - r.at} bytes after the message")
    if not kind.isidentifier():
        raise ProtocolError(f"bad message kind {kind!r}")
    return kind, text, arrays


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes:
    """The next frame's payload from a file descriptor (``EOFError`` when it closed)."""
    head = _read_exactly(fd, 8)
    if head[:4] != MAGIC:
        raise ProtocolError(f"not a message (starts with {head[:4]!r})")
    (length,) = struct.unpack("<I", head[4:])
    if length > MAX_FRAME:
        raise ProtocolError(f"a message of {length} bytes (at most {MAX_FRAME})")
    return _read_exactly(fd, length)


def write_frame(fd: int, payload: bytes) -> None:
    """Write one frame (the whole of it, however the pipe splits it)."""
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"a message of {len(payload)} bytes (at most {MAX_FRAME})")
    data = memoryview(MAGIC + struct.pack("<I", len(payload)) + payload)
    while data:
        data = data[os.write(fd, data):]


class Channel:
    """Two file descriptors, messages in and out."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd

    def send(self, kind: str, text: str = "", arrays: dict[str, np.ndarray] | None = None) -> None:
        write_frame(self.write_fd, encode(kind, text, arrays))

    def receive(self) -> tuple[str, str, dict[str, np.ndarray]]:
        return decode(read_frame(self.read_fd))


def to_json(value: Any) -> Any:
    """A case's non-array data as JSON (tuples marked, so that they come back as tuples)."""
    if isinstance(value, tuple):
        return {"tuple": [to_json(v) for v in value]}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a case's data must be arrays, numbers, strings or tuples of them, "
                    f"got {type(value).__name__}")


def from_json(value: Any) -> Any:
    """The inverse of :func:`to_json`."""
    if isinstance(value, dict):
        return tuple(from_json(v) for v in value["tuple"])
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def dumps(obj: Any) -> str:
    """JSON text for a request (the grader's own data)."""
    return json.dumps(obj, separators=(",", ":"))
