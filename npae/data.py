"""Datasets: scikit-learn's 8x8 digits (bundled, offline), MNIST and Fashion-MNIST (IDX files),
colour patches of scikit-learn's sample photographs, CIFAR-10 (binary files).

Every loader returns a :class:`Dataset` ``(images, labels)``: ``images`` is a float32
array ``(N, 1, H, W)`` scaled to [0, 1] and ``labels`` an int64 array ``(N,)``. It unpacks
like a pair, ``X, y = load("digits")``, and :func:`flatten` (or ``.flat``) gives the
``(N, H*W)`` view that dense autoencoders take. ``"sample-images"`` is the colour exception:
patches ``(N, 3, H, W)`` cut from scikit-learn's two bundled photographs, labelled 0 or 1
by the photograph they come from. Arrays are NumPy (host) arrays; move
them with :func:`npae.backend.to_device`.

Splits
------
``split="train"``, ``"test"`` or ``"val"``.

- ``"digits"`` (1797 images, 8x8, pixel values 0..16 divided by 16): the first 80 %
  (1438 images, in scikit-learn's order) is the training set and the last 20 % (359 =
  round(0.2 * 1797) images) the test set. The digits are interleaved by class in that order, so both
  parts hold every class in about equal numbers.
- ``"mnist"`` / ``"fashion-mnist"``: the standard 60000 / 10000 split (28x28, values
  0..255 divided by 255).
- Validation is carved out of the training set, deterministically: ``validation`` is a
  fraction in (0, 1) or a count, and ``seed`` picks which training images (a permutation
  of the training indices drawn from ``numpy.random.default_rng(seed)``; its first
  ``n_val`` entries are the validation images). ``split="val"`` returns them and
  ``split="train"`` with the same ``validation`` and ``seed`` returns the rest, so the two
  are disjoint; ``split="train"`` with ``validation=None`` is the whole training set.
  ``split="val"`` with ``validation=None`` uses ``validation=0.1``. Both parts keep the
  original order of the images.
- ``limit`` keeps the first ``limit`` images of the chosen split.

Where the MNIST-family files come from
--------------------------------------
The four standard files per dataset (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
gzipped (``.gz``) or raw) are looked up, in order, in

1. ``$NPAE_DATA/<name>/`` and then ``$NPAE_DATA/`` itself (``NPAE_DATA`` is a folder),
2. the cache folder ``$NPAE_CACHE/<name>/`` (default ``~/.cache/npae/<name>/``).

A file found in a folder is verified before use (see below); a file that is exactly a
*different* known dataset's file (Fashion-MNIST's files share MNIST's names) is skipped, any
other mismatch is an error: a truncated or corrupt file is refused, never half-used.
When no folder holds a file, it is downloaded from the official mirrors (:data:`MIRRORS`)
into the cache folder: into a temporary file there, verified, then renamed with
:func:`os.replace`, so a failed or cut-short download leaves nothing behind. Set
``NPAE_OFFLINE=1`` (or pass ``download=False``) to never touch the network; when offline
and absent, the error says which files to put where.

Verification
------------
Every file is parsed as IDX (magic number 2051 for images and 2049 for labels, dimensions,
exact length). In addition its MD5 is checked against :data:`MD5`: the published sums of
the four MNIST ``.gz`` files and of the raw MNIST image files; for the raw MNIST label
files the sums are those of the decompressed published ``.gz`` files (derived, not
published); the four Fashion-MNIST ``.gz`` sums are those published by Zalando Research.
Raw (uncompressed) Fashion-MNIST files have no sum here and are verified by IDX structure
and the expected shape only.

Parsed files are kept in memory (as uint8, about 55 MB for MNIST) per process, so a second
``load("mnist")`` skips the ~1 s of decompression; :func:`clear_cache` empties it.

CIFAR-10
--------
``"cifar10"`` (60000 colour images ``(N, 3, 32, 32)``, 50000 for training and 10000 for
testing, values 0..255 divided by 255, labels 0..9) is read from the official *binary*
distribution, ``cifar-10-binary.tar.gz``, whose five ``data_batch_<i>.bin`` files and
``test_batch.bin`` are runs of 3073-byte records (a label byte, then the red, green and
blue 32x32 planes): parsed as bytes (:func:`parse_cifar_batch`), never unpickled. The same
folders are searched as for MNIST (with ``cifar10`` for ``<name>``); each may hold the
archive, verified against its published MD5 (:data:`MD5`) and read in memory, or the
extracted ``cifar-10-batches-bin/`` folder (or its files directly), whose files have no
published sums and are verified by structure (whole records, labels 0..9, 10000 images a
file). When absent, the archive (about 162 MB) is downloaded to the cache as above.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import io
import os
import tarfile
import tempfile
import threading
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from npae.arguments import is_int

__all__ = [
    "Dataset", "load", "flatten", "parse_idx", "read_idx", "download_file", "find_file",
    "cache_dir", "clear_cache", "DATASETS", "FILES", "MD5", "MIRRORS", "SHAPES",
    "parse_cifar_batch", "CIFAR10_FILES",
]

DATASETS = ("digits", "mnist", "fashion-mnist", "sample-images", "cifar10")

#: File stem (without ``.gz``) of the images and labels of each split.
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: Expected image-array shape of each split of the MNIST-family datasets.
SHAPES = {"train": (60000, 28, 28), "test": (10000, 28, 28)}

#: Known MD5 sums by dataset and file name (see the module docstring for their origin).
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        # derived: MD5 of the decompressed published .gz label files
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

#: Base URLs tried in order; each serves the four ``.gz`` files.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MAGIC_IMAGES, _MAGIC_LABELS = 2051, 2049
_DIGITS_TEST_FRACTION = 0.2

#: Parsed arrays by (file, size, mtime, dataset, expected MD5): a replaced file is re-read.
_memory: dict[tuple, np.ndarray] = {}
_memory_lock = threading.Lock()


class Dataset(NamedTuple):
    """``(images, labels)``: float32 ``(N, 1, H, W)`` in [0, 1] and int64 ``(N,)``."""

    images: np.ndarray
    labels: np.ndarray

    @property
    def flat(self) -> np.ndarray:
        """The images as ``(N, H*W)`` rows (a view, no copy)."""
        return flatten(self.images)


def flatten(images) -> np.ndarray:
    """``(N, ...)`` images -> ``(N, prod(...))`` rows, for dense models (a view when possible)."""
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) < 2:
        raise ValueError(
            f"npae.data.flatten: expected an array of shape (N, ...) with at least 2 "
            f"dimensions, got {shape if shape is not None else type(images).__name__}")
    return images.reshape(shape[0], -1)


# --------------------------------------------------------------------------- IDX format
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


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _known_elsewhere(digest: str, filename: str, dataset: str | None) -> str | None:
    """The other dataset whose ``filename`` has this MD5, if any."""
    for other, table in MD5.items():
        if other != dataset and table.get(filename) == digest:
            return other
    return None


def _check_md5(raw: bytes, md5: str | None, source: str, digest: str | None = None) -> None:
    """Refuse ``raw`` unless its MD5 is ``md5`` (nothing to check when ``md5`` is None)."""
    if md5 is not None:
        digest = digest or _md5(raw)
        if digest != md5.lower():
            raise ValueError(
                f"npae.data: checksum mismatch for {source}: MD5 {digest}, expected {md5}; "
                "the file is corrupt, truncated or not the published one. Delete it and "
                "download it again.")


def _decode(raw: bytes, filename: str, *, md5: str | None, expect_magic: int | None,
            source: str, digest: str | None = None) -> np.ndarray:
    """Check the MD5 of the file's bytes, gunzip if needed, parse: all or nothing."""
    _check_md5(raw, md5, source, digest)
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
    return _decode(path.read_bytes(), path.name, md5=md5, expect_magic=expect_magic,
                   source=str(path))


# --------------------------------------------------------------------------- finding files
def cache_dir() -> Path:
    """The download cache: ``$NPAE_CACHE`` or ``~/.cache/npae``."""
    env = os.environ.get("NPAE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "npae"


def _search_folders(name: str) -> list[Path]:
    folders = []
    env = os.environ.get("NPAE_DATA")
    if env:
        folders += [Path(env).expanduser() / name, Path(env).expanduser()]
    folders.append(cache_dir() / name)
    return folders


def find_file(name: str, stem: str, *, checksums: Mapping[str, str] | None = None
              ) -> tuple[Path, np.ndarray] | None:
    """Find, verify and parse ``stem`` (``.gz`` first, then raw) for dataset ``name``.

    Returns ``(path, array)`` or None when no search folder holds it. A file that is
    exactly another dataset's file of the same name is passed over; any other failed
    check raises ``ValueError``.
    """
    table = MD5.get(name, {}) if checksums is None else checksums
    magic = _MAGIC_IMAGES if "images" in stem else _MAGIC_LABELS
    for folder in _search_folders(name):
        for filename in (stem + ".gz", stem):
            path = folder / filename
            if not path.is_file():
                continue
            key = _memory_key(path, name, table.get(filename))
            with _memory_lock:
                if key in _memory:
                    return path, _memory[key]
            raw = path.read_bytes()
            digest = _md5(raw)
            if (_known_elsewhere(digest, filename, name) is not None
                    and table.get(filename) != digest):
                continue  # e.g. an MNIST file met while looking for Fashion-MNIST
            arr = _decode(raw, filename, md5=table.get(filename), expect_magic=magic,
                          source=str(path), digest=digest)
            with _memory_lock:
                _memory[key] = arr
            return path, arr
    return None


def _memory_key(path: Path, name: str, md5: str | None) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, name, md5)


def download_file(filename: str, folder: str | os.PathLike, *, mirrors: Sequence[str],
                  md5: str | None = None, expect_magic: int | None = None,
                  timeout: float = 30.0, parse: Callable[[bytes, str], object] | None = None
                  ) -> tuple[Path, np.ndarray]:
    """Download ``filename`` from the first mirror that serves a verified copy.

    Each attempt streams into a temporary file in ``folder``; the copy is checked (the
    advertised length, ``md5`` when given, and the IDX structure) and only then renamed
    to ``folder/filename`` with :func:`os.replace`. A failed attempt removes its temporary
    file, so ``folder`` never holds a half-written file.

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
    parse : callable, optional
        ``parse(raw_bytes, source) -> result`` for a file that is not IDX (the CIFAR-10
        archive): run after the MD5 check, in place of the IDX parser; it raises
        ``ValueError`` for a bad file, and its result is returned in place of the array.
    timeout : float
        Seconds for connecting and for each read.

    Returns
    -------
    (path, array)

    Raises
    ------
    OSError
        When every mirror fails (unreachable, HTTP error, cut short or corrupt); the message
        lists each mirror's failure.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for base in mirrors:
        url = base if base.endswith(filename) else base.rstrip("/") + "/" + filename
        fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
                length = r.headers.get("Content-Length")
                size = 0
                while chunk := r.read(1 << 20):
                    out.write(chunk)
                    size += len(chunk)
            if length is not None and size != int(length):
                raise ValueError(f"received {size} of {length} bytes (download cut short)")
            raw = Path(tmp).read_bytes()
            if parse is None:
                arr = _decode(raw, filename, md5=md5, expect_magic=expect_magic, source=url)
            else:
                _check_md5(raw, md5, url)
                arr = parse(raw, url)
            os.replace(tmp, folder / filename)
            return folder / filename, arr
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append(f"{url}: {err}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise OSError(f"npae.data: could not download {filename} into {folder}:\n  "
                  + "\n  ".join(failures or ["no mirrors given"]))


def _offline() -> bool:
    return os.environ.get("NPAE_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


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
        if not download or _offline():
            raise FileNotFoundError(_missing_message(
                name, stem, "downloads are off: download=False or NPAE_OFFLINE is set"))
        table = MD5.get(name, {}) if checksums is None else checksums
        try:
            found = download_file(
                stem + ".gz", cache_dir() / name,
                mirrors=MIRRORS[name] if mirrors is None else mirrors,
                md5=table.get(stem + ".gz"),
                expect_magic=_MAGIC_IMAGES if "images" in stem else _MAGIC_LABELS,
                timeout=timeout)
        except OSError as err:
            raise FileNotFoundError(_missing_message(name, stem, str(err))) from None
        path, arr = found
        with _memory_lock:
            _memory[_memory_key(path, name, table.get(path.name))] = arr
    return found[1]


def clear_cache() -> None:
    """Forget the arrays parsed so far in this process."""
    with _memory_lock:
        _memory.clear()



# --------------------------------------------------------------------------- CIFAR-10
#: The official binary distribution (``cifar-10-binary.tar.gz``) and the batch files it holds.
CIFAR10_ARCHIVE, CIFAR10_FOLDER = "cifar-10-binary.tar.gz", "cifar-10-batches-bin"
CIFAR10_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
                 "test": ("test_batch.bin",)}
#: The published MD5 of the binary archive (on the CIFAR-10 page).
MD5["cifar10"] = {CIFAR10_ARCHIVE: "c32a1d4ab5d03f1284b67883e8d87530"}
MIRRORS["cifar10"] = ["https://www.cs.toronto.edu/~kriz/"]
_CIFAR_SIDE, _CIFAR_CLASSES, _CIFAR_PER_FILE = 32, 10, 10000
_CIFAR_RECORD = 1 + 3 * _CIFAR_SIDE * _CIFAR_SIDE   # a label byte, then 1024 R, G, B bytes


def parse_cifar_batch(data: bytes, *, source: str = "CIFAR-10 batch"
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Parse one file of CIFAR-10's binary distribution (e.g. ``data_batch_1.bin``).

    The file is a run of 3073-byte records: a label byte (0..9), then the 32x32 red
    channel, the green and the blue, each row by row. Bytes only: nothing is unpickled.

    Returns
    -------
    (images, labels)
        Read-only ``uint8`` arrays ``(N, 3, 32, 32)`` and ``(N,)``.

    Raises
    ------
    ValueError
        An empty file, a length that is not a whole number of records (a truncated file),
        or a label outside 0..9 (not a CIFAR-10 file).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"npae.data.parse_cifar_batch: data must be bytes, got "
                        f"{type(data).__name__}")
    n, rest = divmod(len(data), _CIFAR_RECORD)
    if n == 0 or rest:
        raise ValueError(
            f"npae.data: {source} is truncated or not a CIFAR-10 batch: {len(data)} bytes is "
            f"not a whole number of {_CIFAR_RECORD}-byte records (1 label byte + 3072 pixel "
            f"bytes; a full batch is {_CIFAR_PER_FILE * _CIFAR_RECORD} bytes). Delete it and "
            "download it again.")
    records = np.frombuffer(data, dtype=np.uint8).reshape(n, _CIFAR_RECORD)
    labels = records[:, 0]
    if labels.max() >= _CIFAR_CLASSES:
        bad = int(np.argmax(labels >= _CIFAR_CLASSES))
        raise ValueError(f"npae.data: {source} is not a CIFAR-10 batch: record {bad} has label "
                         f"{labels[bad]}, expected 0..9")
    images = records[:, 1:].reshape(n, 3, _CIFAR_SIDE, _CIFAR_SIDE)
    return images, labels


def _cifar_archive(raw: bytes, source: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every batch of the binary archive, parsed, by file name (all or nothing)."""
    wanted = {f"{CIFAR10_FOLDER}/{f}": f for files in CIFAR10_FILES.values() for f in files}
    batches = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.name in wanted and member.isfile():
                    batches[wanted[member.name]] = parse_cifar_batch(
                        tar.extractfile(member).read(), source=f"{source}:{member.name}")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise ValueError(f"npae.data: {source} is not a complete tar archive ({err}); it is "
                         "truncated or corrupt. Delete it and download it again.") from None
    if not batches:
        raise ValueError(f"npae.data: {source} holds none of the CIFAR-10 batch files "
                         f"({CIFAR10_FOLDER}/data_batch_1.bin, ...)")
    return batches


def _cifar_batches(table: Mapping[str, str], files: Sequence[str]
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """The split's batches from the first search folder that holds them, or None.

    A folder holds them as the archive (verified by its MD5 and parsed in memory) or
    as the extracted files, in ``cifar-10-batches-bin/`` or directly (each verified by
    ``table`` when it names the file, and by its record structure).
    """
    for folder in _search_folders("cifar10"):
        archive = folder / CIFAR10_ARCHIVE
        for where in (folder / CIFAR10_FOLDER, folder):
            if all((where / f).is_file() for f in files):
                found = {}
                for f in files:
                    raw = (where / f).read_bytes()
                    _check_md5(raw, table.get(f), str(where / f))
                    found[f] = parse_cifar_batch(raw, source=str(where / f))
                return found
        if archive.is_file():
            key = _memory_key(archive, "cifar10", table.get(CIFAR10_ARCHIVE))
            with _memory_lock:
                batches = _memory.get(key)
            if batches is None:
                raw = archive.read_bytes()
                _check_md5(raw, table.get(CIFAR10_ARCHIVE), str(archive))
                batches = _cifar_archive(raw, str(archive))
                with _memory_lock:
                    _memory[key] = batches
            return batches
    return None


def _cifar10(part: str, *, download: bool, mirrors: Sequence[str] | None,
             checksums: Mapping[str, str] | None, timeout: float
             ) -> tuple[np.ndarray, np.ndarray]:
    table = MD5["cifar10"] if checksums is None else checksums
    files = CIFAR10_FILES[part]
    batches = _cifar_batches(table, files)
    if batches is None:
        where = (f"{Path(os.environ['NPAE_DATA']) / 'cifar10'}/ (from NPAE_DATA)"
                 if os.environ.get("NPAE_DATA") else
                 "<NPAE_DATA>/cifar10/ (NPAE_DATA names a folder)")
        hint = (f"Put {CIFAR10_ARCHIVE} (or its {CIFAR10_FOLDER}/ folder) in {where} or in "
                f"{cache_dir() / 'cifar10'}/ (the cache).")
        if not download or _offline():
            raise FileNotFoundError(f"npae.data: CIFAR-10 not found and not downloaded "
                                    f"(download=False or NPAE_OFFLINE is set). {hint}")
        try:
            _, batches = download_file(
                CIFAR10_ARCHIVE, cache_dir() / "cifar10",
                mirrors=MIRRORS["cifar10"] if mirrors is None else mirrors,
                md5=table.get(CIFAR10_ARCHIVE), timeout=timeout, parse=_cifar_archive)
        except OSError as err:
            raise FileNotFoundError(f"npae.data: CIFAR-10 not found, and the download failed "
                                    f"({err}). {hint}") from None
    missing = [f for f in files if f not in batches]
    if missing:
        raise ValueError(f"npae.data: the CIFAR-10 archive lacks {missing}")
    official = checksums is None
    short = [f for f in files if official and len(batches[f][1]) != _CIFAR_PER_FILE]
    if short:
        raise ValueError(f"npae.data: CIFAR-10 files {short} do not hold {_CIFAR_PER_FILE} "
                         "images each; they are not the published ones")
    return (np.concatenate([batches[f][0] for f in files]),
            np.concatenate([batches[f][1] for f in files]))

# --------------------------------------------------------------------------- loading
def _mnist_like(name: str, part: str, **kw) -> tuple[np.ndarray, np.ndarray]:
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


def _digits(part: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images, labels = bunch.images, bunch.target
    n_train = len(images) - int(round(_DIGITS_TEST_FRACTION * len(images)))
    sl = slice(0, n_train) if part == "train" else slice(n_train, None)
    return images[sl], labels[sl]


# --------------------------------------------------------------------------- sample images
#: Share of each photograph's columns, on the right, that the test patches come from.
_SAMPLE_TEST_FRACTION = 0.2
#: Patches cut per split when ``n_patches`` is not given (the UFLDL exercise's count).
SAMPLE_PATCHES = 10000


@functools.lru_cache(maxsize=1)
def _sample_photographs() -> tuple[np.ndarray, ...]:
    """scikit-learn's two bundled photographs (china.jpg, flower.jpg), (427, 640, 3) uint8,
    decoded once per process (read-only)."""
    from sklearn.datasets import load_sample_images

    photos = tuple(np.asarray(im, dtype=np.uint8) for im in load_sample_images().images)
    for im in photos:
        im.flags.writeable = False
    return photos


def _sample_images(part: str, patch_size: int, n_patches: int, seed: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``n_patches`` colour patches ``(N, 3, p, p)`` uint8 and the index of their photograph.

    Each patch's photograph is drawn uniformly from the two, and its top-left corner
    uniformly among the positions where the whole patch lies in the split's region: the
    left 80 % of the columns for training, the right 20 % for testing, so no pixel is in
    both. All draws come from ``numpy.random.default_rng(seed)``, first the photographs
    and then the corners, so the same arguments always give the same patches.
    """
    photos = _sample_photographs()
    h, w = photos[0].shape[:2]
    split_col = w - int(round(_SAMPLE_TEST_FRACTION * w))
    c0, c1 = (0, split_col) if part == "train" else (split_col, w)
    if patch_size > min(h, c1 - c0):
        raise ValueError(f"npae.data.load: patch_size must be at most {min(h, c1 - c0)} for "
                         f"'sample-images' (the {part} region is {h}x{c1 - c0} pixels), "
                         f"got {patch_size}")
    g = np.random.default_rng(seed)
    labels = g.integers(0, len(photos), n_patches)
    rows = g.integers(0, h - patch_size + 1, n_patches)
    cols = g.integers(c0, c1 - patch_size + 1, n_patches)
    stack = np.stack(photos)                              # (2, H, W, 3)
    offs = np.arange(patch_size)
    # one gather for every patch: index (n, p, p) -> (n, p, p, 3), then channels first
    patches = stack[labels[:, None, None], (rows[:, None] + offs)[:, :, None],
                    (cols[:, None] + offs)[:, None, :]]
    return patches.transpose(0, 3, 1, 2), labels


def _check_count(value, owner: str, name: str) -> int:
    if not is_int(value) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


def _validation_count(validation: float | int, n: int) -> int:
    if isinstance(validation, bool) or not isinstance(validation, (int, float, np.integer,
                                                                   np.floating)):
        raise TypeError(f"npae.data.load: validation must be a fraction in (0, 1) or a count, "
                        f"got {validation!r}")
    if isinstance(validation, (int, np.integer)):
        n_val = int(validation)
    elif 0.0 < float(validation) < 1.0:
        n_val = int(round(float(validation) * n))
    else:
        raise ValueError(f"npae.data.load: a fractional validation must lie in (0, 1), "
                         f"got {validation}")
    if not 1 <= n_val < n:
        raise ValueError(f"npae.data.load: validation must leave 1..{n - 1} of the {n} "
                         f"training images for validation, got {validation!r} ({n_val})")
    return n_val


def load(name: str = "digits", split: str = "train", *,
         validation: float | int | None = None, seed: int = 0, limit: int | None = None,
         download: bool = True, mirrors: Sequence[str] | None = None,
         checksums: Mapping[str, str] | None = None, timeout: float = 30.0,
         patch_size: int | None = None, n_patches: int | None = None) -> Dataset:
    """Load a dataset as float32 images ``(N, 1, H, W)`` in [0, 1] and int64 labels.

    ``"sample-images"`` gives colour patches ``(N, 3, p, p)`` instead, labelled by the
    index of their photograph (0 china.jpg, 1 flower.jpg).

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist", "sample-images", "cifar10"}
        ``"digits"`` (8x8, bundled with scikit-learn) works offline everywhere, and so
        does ``"sample-images"``: square colour patches cut from the two photographs
        scikit-learn bundles (:func:`sklearn.datasets.load_sample_images`, 427x640).
        Training patches lie in the left 80 % of each photograph's columns and test
        patches in the right 20 %, so the splits share no pixel. ``"cifar10"`` gives
        colour images ``(N, 3, 32, 32)`` from the binary distribution (module docstring).
    split : {"train", "test", "val"}
        See the module docstring: digits' test set is its last 20 %; ``"val"`` is a
        deterministic part of the training set.
    validation : float or int, optional
        Fraction (0 < v < 1) or number of training images set aside for validation;
        ``split="train"`` then returns the rest. Ignored for ``split="test"``.
    seed : int
        Chooses which training images form the validation set; for ``"sample-images"``
        it also draws the patches (their photograph, then their top-left corner, from
        ``numpy.random.default_rng(seed)``).
    limit : int, optional
        Keep only the first ``limit`` images of the split.
    download : bool
        Allow downloading missing MNIST-family or CIFAR-10 files (also off when
        ``NPAE_OFFLINE=1``).
    mirrors, checksums, timeout
        Override the base URLs, the MD5 table (file name -> hex digest; files it does not
        name are checked by their structure only, IDX or CIFAR-10 records, and any
        consistent shape or number of images is accepted) and the network timeout; for
        tests and private mirrors.
    patch_size : int, optional
        ``"sample-images"`` only: the side of the square patches (default 8; at most 128,
        the width of the test region).
    n_patches : int, optional
        ``"sample-images"`` only: how many patches the split's region gives (default
        :data:`SAMPLE_PATCHES`, 10000) before ``validation`` and ``limit`` apply.

    Returns
    -------
    Dataset
        ``(images, labels)``; fresh arrays the caller may modify.
    """
    if name not in DATASETS:
        raise ValueError(f"npae.data.load: name must be one of {DATASETS}, got {name!r}")
    if split not in ("train", "test", "val"):
        raise ValueError(f"npae.data.load: split must be 'train', 'test' or 'val', "
                         f"got {split!r}")
    if limit is not None and (not is_int(limit)
                              or limit < 1):
        raise ValueError(f"npae.data.load: limit must be a positive int or None, got {limit!r}")
    part = "test" if split == "test" else "train"
    if name != "sample-images" and (patch_size, n_patches) != (None, None):
        raise ValueError(f"npae.data.load: patch_size and n_patches apply to "
                         f"'sample-images' only, not to {name!r}")
    if name == "sample-images":
        images, labels = _sample_images(
            part, _check_count(8 if patch_size is None else patch_size, "npae.data.load",
                               "patch_size"),
            _check_count(SAMPLE_PATCHES if n_patches is None else n_patches,
                         "npae.data.load", "n_patches"), seed)
        scale = 255.0
    elif name == "digits":
        images, labels = _digits(part)
        scale = 16.0
    elif name == "cifar10":
        images, labels = _cifar10(part, download=download, mirrors=mirrors,
                                  checksums=checksums, timeout=timeout)
        scale = 255.0
    else:
        images, labels = _mnist_like(name, part, download=download, mirrors=mirrors,
                                     checksums=checksums, timeout=timeout)
        scale = 255.0
    if split == "val" and validation is None:
        validation = 0.1
    if part == "train" and validation is not None:
        n = len(images)
        n_val = _validation_count(validation, n)
        perm = np.random.default_rng(seed).permutation(n)
        idx = np.sort(perm[:n_val] if split == "val" else perm[n_val:])
        images, labels = images[idx], labels[idx]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    X = np.asarray(images, dtype=np.float32) / np.float32(scale)
    X = X[:, None, :, :] if X.ndim == 3 else X  # grey images get their channel axis
    return Dataset(np.ascontiguousarray(X), np.asarray(labels, dtype=np.int64).copy())
