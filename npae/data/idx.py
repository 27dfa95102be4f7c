"""MNIST and Fashion-MNIST: the IDX file format, and finding, verifying and loading the
four standard files of each dataset.

The IDX header is a big-endian magic number ``0x0000TTDD`` (``TT`` the element type,
``DD`` the number of dimensions), then the sizes, then the elements
(:func:`parse_idx`). Where the files are looked for, downloaded and how they are verified:
the :mod:`npae.data` docstring and :mod:`npae.data.cache`.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from npae.data.cache import (
    MD5,
    MIRRORS,
    cache_dir,
    check_md5,
    fetch,
    known_elsewhere,
    md5_hex,
    memory_key,
    offline,
    recall,
    remember,
    search_folders,
)

__all__ = ["FILES", "SHAPES", "MAGIC_IMAGES", "MAGIC_LABELS", "parse_idx", "decode_idx",
           "read_idx", "find_file", "download_file", "load_idx_dataset"]

#: File stem (without ``.gz``) of the images and labels of each split.
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: Expected image-array shape of each split of the MNIST-family datasets.
SHAPES = {"train": (60000, 28, 28), "test": (10000, 28, 28)}


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAGIC_IMAGES = 2051
"""The magic number of an IDX image file (uint8, 3-D)."""
MAGIC_LABELS = 2049
"""The magic number of an IDX label file (uint8, 1-D)."""


def parse_idx(data: bytes, *, expect_magic: int | None = None, source: str = "IDX data"
              ) -> np.ndarray:
    """Parse the bytes of one IDX file (already decompressed) into an array.

    The IDX header is a big-endian magic number ``0x0000TTDD`` (``TT`` the element type,
    ``0x08`` for unsigned bytes; ``DD`` the number of dimensions), then ``DD`` big-endian
    uint32 sizes, then the elements. MNIST images have magic 2051 (``0x00000803``:
    uint8, 3-D) and labels 2049 (``0x00000801``: uint8, 1-D).

    Parameters
    ----------
    data : bytes
        The whole file.
    expect_magic : int, optional
        Refuse any other magic number (e.g. 2051 for images).
    source : str
        Name used in error messages (the file name).

    Returns
    -------
    numpy.ndarray
        A read-only array of the stored type and shape (native byte order for multi-byte
        types).

    Raises
    ------
    ValueError
        For a bad magic number, an unknown element type, or a length that is not exactly
        header + elements (truncated or trailing bytes).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"npae.data.parse_idx: data must be bytes, got {type(data).__name__}")
    data = memoryview(data).cast("B")
    if len(data) < 4:
        raise ValueError(f"npae.data: {source} is truncated: {len(data)} bytes, "
                         "shorter than the 4-byte IDX magic number")
    magic = int.from_bytes(data[:4], "big")
    if expect_magic is not None and magic != expect_magic:
        raise ValueError(
            f"npae.data: {source} has magic number {magic} (0x{magic:08x}), expected "
            f"{expect_magic} (0x{expect_magic:08x}); it is not the IDX file it should be "
            "(gzipped data read as raw, an HTML error page, or the wrong file)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise ValueError(f"npae.data: {source} has magic number {magic} (0x{magic:08x}), "
                         "which is not a valid IDX header")
    dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"npae.data: {source} is truncated: {len(data)} bytes, shorter than "
                         f"its {header}-byte header")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(
            f"npae.data: {source} is {kind}: {len(data)} bytes, expected exactly {expected} "
            f"({header}-byte header + shape {dims} of {dtype.itemsize}-byte elements)")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    if dtype.byteorder == ">":
        arr = arr.astype(dtype.newbyteorder("="))
    arr.flags.writeable = False
    return arr



def decode_idx(raw: bytes, filename: str, *, md5: str | None, expect_magic: int | None,
               source: str, digest: str | None = None) -> np.ndarray:
    """Check the MD5 of an IDX file's bytes (``digest``: already computed), gunzip them if
    needed, parse: all or nothing."""
    check_md5(raw, md5, source, digest)
    if filename.endswith(".gz") or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise ValueError(f"npae.data: {source} is not a complete gzip file ({err}); it is "
                             "truncated or corrupt. Delete it and download it again.") from None
    return parse_idx(raw, expect_magic=expect_magic, source=source)


def read_idx(path: str | os.PathLike, *, md5: str | None = None,
             expect_magic: int | None = None) -> np.ndarray:
    """Read an IDX file, gzipped (``.gz`` or gzip magic bytes) or raw, and parse it.

    Parameters
    ----------
    path : path-like
    md5 : str, optional
        Expected MD5 (hex) of the file's bytes as stored (of the ``.gz`` for a gzipped
        file); a mismatch raises ``ValueError`` before anything is parsed.
    expect_magic : int, optional
        See :func:`parse_idx`.
    """
    path = Path(path)
    return decode_idx(path.read_bytes(), path.name, md5=md5, expect_magic=expect_magic,
                   source=str(path))



def find_file(name: str, stem: str, *, checksums: Mapping[str, str] | None = None
              ) -> tuple[Path, np.ndarray] | None:
    """Find, verify and parse ``stem`` (``.gz`` first, then raw) for dataset ``name``.

    Returns ``(path, array)`` or None when no search folder holds it. A file that is
    exactly another dataset's file of the same name is passed over; any other failed
    check raises ``ValueError``.
    """
    table = MD5.get(name, {}) if checksums is None else checksums
    magic = MAGIC_IMAGES if "images" in stem else MAGIC_LABELS
    for folder in search_folders(name):
        for filename in (stem + ".gz", stem):
            path = folder / filename
            if not path.is_file():
                continue
            key = memory_key(path, name, table.get(filename))
            arr = recall(key)
            if arr is not None:
                return path, arr
            raw = path.read_bytes()
            digest = md5_hex(raw)
            if (known_elsewhere(digest, filename, name) is not None
                    and table.get(filename) != digest):
                continue  # e.g. an MNIST file met while looking for Fashion-MNIST
            arr = decode_idx(raw, filename, md5=table.get(filename), expect_magic=magic,
                          source=str(path), digest=digest)
            remember(key, arr)
            return path, arr
    return None



def download_file(filename: str, folder: str | os.PathLike, *, mirrors: Sequence[str],
                  md5: str | None = None, expect_magic: int | None = None,
                  timeout: float = 30.0, parse: Callable[[bytes, str], object] | None = None
                  ) -> tuple[Path, Any]:
    """Download ``filename`` into ``folder`` from the first mirror that serves a verified
    copy: :func:`npae.data.cache.fetch` with the IDX parser by default.

    Parameters
    ----------
    filename : str
        E.g. ``"train-images-idx3-ubyte.gz"``; appended to each mirror's base URL.
    folder : path-like
        Target folder, created if needed.
    mirrors : sequence of str
        Base URLs (ending in ``/``), tried in order.
    md5, expect_magic : optional
        As in :func:`read_idx`.
    timeout : float
        Seconds for connecting and for each read.
    parse : callable, optional
        ``parse(raw_bytes, source) -> result`` for a file that is not IDX (the CIFAR-10
        archive): run after the MD5 check, in place of the IDX parser; it raises
        ``ValueError`` for a bad file, and its result is returned in place of the array.

    Returns
    -------
    (path, array)

    Raises
    ------
    OSError
        When every mirror fails (unreachable, HTTP error, cut short or corrupt); the message
        lists each mirror's failure.
    """
    if parse is None:
        def parse(raw: bytes, source: str) -> np.ndarray:
            return decode_idx(raw, filename, md5=None, expect_magic=expect_magic,
                              source=source)
    return fetch(filename, folder, mirrors=mirrors, parse=parse, md5=md5, timeout=timeout)


def _missing_message(name: str, stem: str, reason: str) -> str:
    stems = [s for pair in FILES.values() for s in pair]
    where = []
    if os.environ.get("NPAE_DATA"):
        where.append(f"{Path(os.environ['NPAE_DATA']) / name}/ (from NPAE_DATA)")
    else:
        where.append(f"a folder named by the environment variable NPAE_DATA "
                     f"(as <NPAE_DATA>/{name}/ or directly in it)")
    where.append(f"{cache_dir() / name}/ (the cache; NPAE_CACHE moves it)")
    return (f"npae.data: {name} file {stem}(.gz) not found and not downloaded ({reason}). "
            f"Put the four files {', '.join(s + '.gz' for s in stems)} (gzipped or not) in "
            + " or ".join(where) + ".")


def _array(name: str, stem: str, *, download: bool, mirrors: Sequence[str] | None,
           checksums: Mapping[str, str] | None, timeout: float) -> np.ndarray:
    found = find_file(name, stem, checksums=checksums)
    if found is None:
        if not download or offline():
            raise FileNotFoundError(_missing_message(
                name, stem, "downloads are off: download=False or NPAE_OFFLINE is set"))
        table = MD5.get(name, {}) if checksums is None else checksums
        try:
            found = download_file(
                stem + ".gz", cache_dir() / name,
                mirrors=MIRRORS[name] if mirrors is None else mirrors,
                md5=table.get(stem + ".gz"),
                expect_magic=MAGIC_IMAGES if "images" in stem else MAGIC_LABELS,
                timeout=timeout)
        except OSError as err:
            raise FileNotFoundError(_missing_message(name, stem, str(err))) from None
        path, arr = found
        remember(memory_key(path, name, table.get(path.name)), arr)
    return found[1]



def load_idx_dataset(name: str, part: str, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 images ``(N, H, W)`` and labels ``(N,)`` of split ``part`` (``"train"`` or
    ``"test"``) of ``"mnist"`` or ``"fashion-mnist"``: found, or downloaded, and verified.
    ``kw``: ``download``, ``mirrors``, ``checksums``, ``timeout`` of :func:`npae.data.load`.
    """
    img_stem, lab_stem = FILES[part]
    images = _array(name, img_stem, **kw)
    labels = _array(name, lab_stem, **kw)
    # with the official checksum table the exact standard shapes are required; a custom
    # table (tests, private data in IDX form) only needs consistent files
    official = kw.get("checksums") is None
    if (images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels)
            or (official and images.shape != SHAPES[part])):
        expected = f"{SHAPES[part]} and {SHAPES[part][:1]}" if official else \
            "(N, H, W) and (N,)"
        raise ValueError(
            f"npae.data: {name} {part} files hold images {images.shape} and labels "
            f"{labels.shape}, expected {expected}")
    return images, labels

